//! The gateway's own channels, `ws` and `http`, as outbox sinks. Their clients are handed
//! an answer on the run's event stream (a WebSocket `chat`/`agent` final event, or the HTTP
//! response), which the dispatcher publishes as soon as the turn's outcome is committed and
//! before the delivery worker runs; a client that was gone reads it back with `agent.wait`
//! or `chat.history`. So delivering such a row only confirms it: the receipt names the run
//! whose outcome carried the text.

use crate::core::{Delivery, Outbound, SendFuture};

/// The sink of one of the gateway's own channels.
pub struct GatewaySink {
    channel: &'static str,
}

impl GatewaySink {
    /// The sinks of `ws`, `http`, `hooks` (webhook runs whose caller asked for no
    /// delivery: their outcome is read with `agent.wait` or the session's history) and
    /// `cron` (scheduled turns: the scheduler delivers what it should itself).
    pub fn all() -> [GatewaySink; 4] {
        [
            GatewaySink { channel: "ws" },
            GatewaySink { channel: "http" },
            GatewaySink { channel: "hooks" },
            GatewaySink { channel: "cron" },
        ]
    }
}

impl Outbound for GatewaySink {
    fn channel(&self) -> &str {
        self.channel
    }

    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        Box::pin(async move { Ok(format!("run:{}", d.run_id)) })
    }
}
