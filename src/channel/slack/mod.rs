//! Slack (<https://api.slack.com>): Socket Mode in (`socket.rs`: envelopes acknowledged
//! only after the commit), the Web API out.
//!
//! Out: [`SlackSink`] splits an answer at 8000 characters, converts markdown to Slack's
//! mrkdwn, posts it with `chat.postMessage` (in the thread it answers), and maps failures:
//! HTTP 429 with `Retry-After`, or `ratelimited`, is transient with that wait;
//! `channel_not_found`, `not_in_channel`, `is_archived`, `msg_too_long`… are permanent.

mod socket;

pub use socket::{SocketOptions, spawn_socket};

use super::markup::slack_mrkdwn;
use super::send::{SentParts, blocking};
use super::split::{Limits, split};
use crate::core::{Capabilities, Delivery, Markup, Outbound, SendError, SendFuture};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The channel name.
pub const CHANNEL: &str = "slack";

/// What Slack can do (no typing indicator for apps outside the legacy RTM API).
pub const CAPABILITIES: Capabilities = Capabilities {
    max_text_len: 8000,
    max_lines: None,
    edit: true,
    typing: false,
    threads: true,
    media: true,
    markup: Markup::SlackMrkdwn,
};

/// A Web API failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Slack {method}: {error}")]
pub struct WebError {
    /// The method.
    pub method: String,
    /// Slack's `error` code (`channel_not_found`…), or the transport error.
    pub error: String,
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// `Retry-After`, ms.
    pub retry_after_ms: Option<u64>,
}

/// A Web API client with one token.
#[derive(Clone)]
pub struct Web {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Web {
    /// A client of `base` (`https://slack.com/api`) with `token` (`xoxb-…` or `xapp-…`).
    pub fn new(base: &str, token: &str) -> Self {
        let agent = super::send::http_agent(super::send::USER_AGENT, Some(Duration::from_secs(30)));
        Self {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// Calls `method` with a JSON body; returns the answer when `ok` is true.
    ///
    /// # Errors
    /// [`WebError`] with Slack's error code, the status and `Retry-After`.
    pub fn call(&self, method: &str, body: &Value) -> Result<Value, WebError> {
        let err = |status, error: String, retry_after_ms| WebError {
            method: method.to_string(),
            error,
            status,
            retry_after_ms,
        };
        let resp = self
            .agent
            .post(&format!("{}/{method}", self.base))
            .header("authorization", &format!("Bearer {}", self.token))
            .header("content-type", "application/json; charset=utf-8")
            .send(body.to_string())
            .map_err(|e| err(0, e.to_string(), None))?;
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s * 1000);
        let text = resp
            .into_body()
            .with_config()
            .limit(8 << 20)
            .read_to_string()
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 && v["ok"] == true {
            return Ok(v);
        }
        let code = v["error"].as_str().map(str::to_string).unwrap_or_else(|| {
            format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            )
        });
        Err(err(status, code, retry))
    }
}

/// The outbound half: delivers outbox rows whose channel is `slack`.
pub struct SlackSink {
    inner: Arc<SinkInner>,
}

struct SinkInner {
    web: Web,
    sent: SentParts,
}

impl SlackSink {
    /// A sink posting with the bot token's client `web`.
    pub fn new(web: Web) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(SinkInner {
                web,
                sent: SentParts::default(),
            }),
        })
    }
}

impl SinkInner {
    fn send_blocking(&self, d: &Delivery) -> Result<String, SendError> {
        let t = &d.message.target;
        let channel = t
            .chat
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(&t.peer);
        let parts = split(&d.message.text, Limits::SLACK);
        self.sent.deliver(d, &parts, |_, part| {
            let mut body =
                json!({"channel": channel, "text": slack_mrkdwn(part), "unfurl_links": false});
            if let Some(th) = d.message.thread.as_deref().or(t.thread.as_deref()) {
                body["thread_ts"] = json!(th);
            }
            let v = self
                .web
                .call("chat.postMessage", &body)
                .map_err(send_error)?;
            Ok(v["ts"].as_str().unwrap_or_default().to_string())
        })
    }
}

impl Outbound for SlackSink {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        blocking(&self.inner, d, SinkInner::send_blocking)
    }
}

/// The delivery worker's view of a Web API failure.
fn send_error(e: WebError) -> SendError {
    const PERMANENT: [&str; 8] = [
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "restricted_action",
        "cannot_reply_to_message",
        "invalid_arguments",
    ];
    if e.status == 429 || e.error == "ratelimited" {
        return SendError::Transient {
            retry_after_ms: e.retry_after_ms.or(Some(1000)),
            message: e.to_string(),
        };
    }
    if PERMANENT.contains(&e.error.as_str()) {
        return SendError::Permanent {
            message: e.to_string(),
        };
    }
    SendError::Transient {
        retry_after_ms: e.retry_after_ms,
        message: e.to_string(),
    }
}
