//! Slack Socket Mode (<https://api.slack.com/apis/socket-mode>) for one app, on its own OS
//! thread: `apps.connections.open` with the app token gives a WebSocket URL; Slack sends
//! `hello`, then `events_api` envelopes, and `disconnect` when the connection is to be
//! replaced. An envelope is acknowledged (`{"envelope_id"}`) only after the gate admitted
//! its event, so one lost to a crash is sent again (`retry_attempt`), and the gate's dedupe
//! record (`<channel>:<ts>`) runs it once — which also folds the `message` and
//! `app_mention` events of one mention into one run.

use super::{CHANNEL, Web};
use crate::channel::tls::{Socket, connect, timed_out};
use crate::core::{
    Admission, ChannelInbound, HealthEvent, InboundMessage, InboundSink, Origin, PeerKind,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Settings of one Socket Mode connection.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// The channel account (`default`).
    pub account: String,
}

/// Starts the connection on its own thread; `app` holds the app-level token (`xapp-…`),
/// `bot` the bot token (for `auth.test`: the bot's user id). Runs until `shutdown`.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_socket(
    app: Web,
    bot: Web,
    sink: Arc<dyn InboundSink>,
    opts: SocketOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::channel::worker::spawn(format!("slack-{}", opts.account), move || {
        Conn {
            app,
            bot,
            sink,
            opts,
            rt,
            shutdown,
            me: String::new(),
        }
        .run()
    })
}

struct Conn {
    app: Web,
    bot: Web,
    sink: Arc<dyn InboundSink>,
    opts: SocketOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
    me: String,
}

impl Conn {
    fn report(&self, ev: HealthEvent) {
        self.sink.report(CHANNEL, &self.opts.account, ev);
    }

    fn run(mut self) {
        let mut wait = crate::channel::worker::Backoff::default();
        while !self.shutdown.is_cancelled() {
            let pause = match self.connection() {
                Ok(()) => {
                    wait.reset();
                    Duration::from_millis(200)
                }
                Err(e) => {
                    tracing::warn!("Slack: {e}; reconnecting in {}s", wait.current().as_secs());
                    self.report(HealthEvent::Error(e));
                    wait.after_failure()
                }
            };
            crate::channel::worker::nap(&self.shutdown, pause);
        }
        tracing::info!("Slack: socket stopped");
    }

    /// One connection, until Slack asks for a new one or it drops.
    fn connection(&mut self) -> Result<(), String> {
        if self.me.is_empty() {
            let v = self
                .bot
                .call("auth.test", &json!({}))
                .map_err(|e| e.to_string())?;
            self.me = v["user_id"].as_str().unwrap_or_default().to_string();
        }
        let v = self
            .app
            .call("apps.connections.open", &json!({}))
            .map_err(|e| e.to_string())?;
        let url = v["url"]
            .as_str()
            .ok_or("apps.connections.open gave no url")?;
        let mut ws = connect(url, Duration::from_secs(15))?;
        let _ = ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)));
        while !self.shutdown.is_cancelled() {
            let text = match ws.read() {
                Ok(tungstenite::Message::Text(t)) => t.to_string(),
                Ok(tungstenite::Message::Close(_)) => return Ok(()),
                Ok(_) => continue,
                Err(e) if timed_out(&e) => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("Slack: a frame that is not JSON ({e})");
                    continue;
                }
            };
            match v["type"].as_str() {
                Some("hello") => {
                    self.report(HealthEvent::Ok);
                    tracing::info!("Slack: connected (Socket Mode)");
                }
                Some("disconnect") => {
                    let _ = ws.close(None);
                    return Ok(());
                }
                Some("events_api") => self.envelope(&mut ws, &v)?,
                _ => {
                    // slash_commands and interactive envelopes: acknowledged, not handled.
                    if let Some(id) = v["envelope_id"].as_str() {
                        ack(&mut ws, id)?;
                    }
                }
            }
        }
        let _ = ws.close(None);
        Ok(())
    }

    /// Admits an `events_api` envelope, then acknowledges it.
    fn envelope(&self, ws: &mut Socket, v: &Value) -> Result<(), String> {
        let id = v["envelope_id"].as_str().unwrap_or_default().to_string();
        if let Some(mut m) = self.inbound(&v["payload"]["event"]) {
            m.message.origin.team = v["payload"]["team_id"].as_str().map(str::to_string);
            self.report(HealthEvent::Message);
            match self.rt.block_on(self.sink.accept(m)) {
                Ok(Admission::Ignored { reason }) => {
                    tracing::info!("Slack: message not run: {reason}");
                }
                Ok(_) => {}
                // Not acknowledged: Slack sends it again.
                Err(e) => return Err(format!("cannot admit an event: {e}")),
            }
        }
        ack(ws, &id)
    }

    /// The normalised message, or `None` for edits, joins, bot messages and the bot's own.
    fn inbound(&self, e: &Value) -> Option<ChannelInbound> {
        let kind = e["type"].as_str()?;
        if !matches!(kind, "message" | "app_mention")
            || e.get("subtype").is_some_and(|s| !s.is_null())
            || e.get("bot_id").is_some_and(|b| !b.is_null())
        {
            return None;
        }
        let user = e["user"].as_str()?;
        if user == self.me {
            return None;
        }
        let channel = e["channel"].as_str()?.to_string();
        let ts = e["ts"].as_str()?.to_string();
        let text = e["text"].as_str().unwrap_or("").to_string();
        let peer_kind = match e["channel_type"].as_str() {
            Some("im") => PeerKind::Direct,
            Some("mpim" | "group") => PeerKind::Group,
            _ if channel.starts_with('D') => PeerKind::Direct,
            _ => PeerKind::Channel,
        };
        let mentioned = peer_kind == PeerKind::Direct
            || kind == "app_mention"
            || (!self.me.is_empty() && text.contains(&format!("<@{}>", self.me)));
        Some(ChannelInbound {
            message: InboundMessage {
                origin: Origin {
                    channel: CHANNEL.into(),
                    account: self.opts.account.clone(),
                    peer: user.to_string(),
                    chat: Some(channel.clone()),
                    thread: e["thread_ts"].as_str().map(str::to_string),
                    message_id: Some(ts.clone()),
                    sender_name: None,
                    team: None,
                },
                text,
                attachments: Vec::new(),
                ts_ms: ts
                    .split('.')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
                    .map_or_else(crate::core::now_ms, |s| s * 1000),
            },
            kind: peer_kind,
            mentioned,
            dedupe_id: format!("{channel}:{ts}"),
            redelivered: None,
            cursor: None,
        })
    }
}

fn ack(ws: &mut Socket, id: &str) -> Result<(), String> {
    ws.send(tungstenite::Message::Text(
        json!({"envelope_id": id}).to_string().into(),
    ))
    .map_err(|e| format!("ack: {e}"))
}
