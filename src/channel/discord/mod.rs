//! Discord (<https://discord.com/developers/docs>): the Gateway WebSocket in (`gateway.rs`:
//! identify, heartbeats, resume, `MESSAGE_CREATE`), REST out.
//!
//! Out: [`DiscordSink`] splits an answer at 2000 characters and 17 lines (markdown is
//! Discord's own format, sent as is, with mentions disabled), replies to the message it
//! answers, and honours rate limits: a 429's `retry_after` becomes the delivery worker's
//! wait, and a bucket left empty (`X-RateLimit-Remaining: 0`) is waited out
//! (`X-RateLimit-Reset-After`) before the next part.

mod gateway;

pub use gateway::{GatewayOptions, spawn_gateway};

use super::send::{SentParts, blocking};
use super::split::{Limits, split};
use crate::core::{Capabilities, Delivery, Markup, Outbound, SendError, SendFuture};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The channel name.
pub const CHANNEL: &str = "discord";

/// What Discord can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_text_len: 2000,
    max_lines: Some(17),
    edit: true,
    typing: true,
    threads: true,
    media: true,
    markup: Markup::Markdown,
};

/// A REST failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Discord {what}: HTTP {status}: {message}")]
pub struct RestError {
    /// What was being done.
    pub what: String,
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// Discord's `message`, or the transport error.
    pub message: String,
    /// A 429's `retry_after`, ms.
    pub retry_after_ms: Option<u64>,
}

/// The REST client of one bot (`Authorization: Bot <token>`).
#[derive(Clone)]
pub struct Rest {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Rest {
    /// A client of `base` (`https://discord.com/api/v10`).
    pub fn new(base: &str, token: &str) -> Self {
        let agent = super::send::http_agent(
            concat!(
                "DiscordBot (https://github.com/hearth, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ),
            Some(Duration::from_secs(30)),
        );
        Self {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// Calls `method` `path` with an optional JSON body; returns the JSON answer and the
    /// seconds to wait before the bucket has room again (when it is empty).
    ///
    /// # Errors
    /// [`RestError`] for non-2xx answers and transport failures.
    pub fn call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Option<Duration>), RestError> {
        let err = |status, message: String, retry_after_ms| RestError {
            what: what.to_string(),
            status,
            message,
            retry_after_ms,
        };
        let url = format!("{}{path}", self.base);
        let auth = format!("Bot {}", self.token);
        let r = if method == "GET" {
            self.agent.get(&url).header("authorization", &auth).call()
        } else {
            self.agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(body.map(Value::to_string).unwrap_or_else(|| "{}".into()))
        };
        let resp = r.map_err(|e| err(0, e.to_string(), None))?;
        let status = resp.status().as_u16();
        let h = |k: &str| {
            resp.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let empty = h("x-ratelimit-remaining").as_deref() == Some("0");
        let reset = h("x-ratelimit-reset-after").and_then(|v| v.parse::<f64>().ok());
        let wait = empty
            .then_some(reset)
            .flatten()
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
        let text = resp
            .into_body()
            .with_config()
            .limit(8 << 20)
            .read_to_string()
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok((v, wait));
        }
        let retry = v
            .get("retry_after")
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0) as u64);
        let msg = v
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(err(status, msg, retry))
    }
}

/// The outbound half: delivers outbox rows whose channel is `discord`.
pub struct DiscordSink {
    inner: Arc<SinkInner>,
}

struct SinkInner {
    rest: Rest,
    sent: SentParts,
}

impl DiscordSink {
    /// A sink sending through `rest`.
    pub fn new(rest: Rest) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(SinkInner {
                rest,
                sent: SentParts::default(),
            }),
        })
    }
}

impl SinkInner {
    fn send_blocking(&self, d: &Delivery) -> Result<String, SendError> {
        let t = &d.message.target;
        let channel = match t.chat.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => c.to_string(),
            // A user id alone (`hearth message send --to <user>`): open the DM channel.
            None => {
                let (v, _) = self
                    .rest
                    .call(
                        "open DM",
                        "POST",
                        "/users/@me/channels",
                        Some(&json!({"recipient_id": t.peer})),
                    )
                    .map_err(send_error)?;
                v.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            }
        };
        let parts = split(&d.message.text, Limits::DISCORD);
        let last = parts.len().saturating_sub(1);
        self.sent.deliver(d, &parts, |i, part| {
            let mut body = json!({"content": part, "allowed_mentions": {"parse": []}});
            if i == 0
                && let Some(r) = &d.message.reply_to
            {
                body["message_reference"] = json!({"message_id": r, "fail_if_not_exists": false});
            }
            let path = format!("/channels/{channel}/messages");
            let (v, wait) = self
                .rest
                .call("create message", "POST", &path, Some(&body))
                .map_err(send_error)?;
            // The bucket is empty: wait it out before the next part.
            if let Some(w) = wait.filter(|_| i < last) {
                std::thread::sleep(w);
            }
            Ok(v.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string())
        })
    }
}

impl Outbound for DiscordSink {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        blocking(&self.inner, d, SinkInner::send_blocking)
    }
}

/// The delivery worker's view of a REST failure.
fn send_error(e: RestError) -> SendError {
    match e.status {
        400 | 403 | 404 => SendError::Permanent {
            message: e.to_string(),
        },
        _ => SendError::Transient {
            retry_after_ms: e.retry_after_ms,
            message: e.to_string(),
        },
    }
}
