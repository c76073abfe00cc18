//! Telegram (Bot API, <https://core.telegram.org/bots/api>): long polling in, `sendMessage`
//! out.
//!
//! In: one OS thread per bot account long-polls `getUpdates` (`poll.rs`) and hands each
//! message to the [`InboundSink`](crate::core::InboundSink) with `offset = update_id + 1` as its cursor, so the offset
//! only moves past an update once that update is committed; the next poll starts from the
//! committed offset, which is also what confirms the updates to Telegram. Out: the outbox
//! hands [`TelegramSink`] one row at a time; it splits the markdown at 4000 UTF-16 units,
//! converts each part to Telegram HTML (falling back to plain text if Telegram cannot parse
//! it), replies in the origin's chat and forum topic, and maps Telegram's errors to the
//! delivery worker's: 429 with `retry_after`, 5xx and network errors are transient; 400,
//! 403 and 404 (chat gone, bot blocked) are permanent.

mod api;
mod draft;
mod poll;
mod translate;
mod webhook;

pub use crate::channel::draft::Drafts;
pub use api::{Api, ApiError};
pub use draft::DraftTarget;
pub use poll::{PollOptions, spawn_poller};
pub use translate::Translator;
pub use webhook::{TelegramWebhook, WebhookOptions};

use super::markup::telegram_html;
use super::send::{SentParts, blocking};
use super::split::{Limits, split};
use crate::core::{Capabilities, Delivery, Markup, Outbound, SendError, SendFuture};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The channel name.
pub const CHANNEL: &str = "telegram";

/// What Telegram can do; text is limited to 4096 characters, Hearth cuts at 4000.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_text_len: 4000,
    max_lines: None,
    edit: true,
    typing: true,
    threads: true,
    media: true,
    markup: Markup::TelegramHtml,
};

/// How long one Bot API send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The outbound half: delivers outbox rows whose channel is `telegram`.
pub struct TelegramSink {
    inner: Arc<SinkInner>,
}

struct SinkInner {
    api: Api,
    sent: SentParts,
    drafts: Arc<Drafts>,
}

impl TelegramSink {
    /// A sink sending through `api`, turning the progress drafts in `drafts` into answers.
    pub fn new(api: Api, drafts: Arc<Drafts>) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(SinkInner {
                api,
                sent: SentParts::default(),
                drafts,
            }),
        })
    }
}

impl SinkInner {
    fn send_blocking(&self, d: &Delivery) -> Result<String, SendError> {
        let t = &d.message.target;
        let chat = t.chat.as_deref().unwrap_or(&t.peer);
        if chat.is_empty() {
            return Err(SendError::Permanent {
                message: "the target has no chat id".into(),
            });
        }
        let parts = split(&d.message.text, Limits::TELEGRAM);
        // A progress draft of this run becomes the answer's first part. Its lock is held
        // through the delivery, so no progress edit lands after the answer.
        let claimed = self.drafts.take(&d.run_id);
        let (_held, draft_id) = claimed.hold();
        self.sent.deliver(d, &parts, |i, part| {
            if i == 0
                && let Some(mid) = &draft_id
            {
                let p = json!({"chat_id": id_value(chat), "message_id": id_value(mid), "text": telegram_html(part), "parse_mode": "HTML"});
                match self.api.call("editMessageText", &p, SEND_TIMEOUT) {
                    Ok(_) => return Ok(mid.clone()),
                    Err(ApiError::Api { description, .. }) if description.contains("not modified") => {
                        return Ok(mid.clone());
                    }
                    Err(e) => tracing::warn!("{e}; sending the answer as a new message"),
                }
            }
            let mut p = json!({"chat_id": id_value(chat), "text": telegram_html(part), "parse_mode": "HTML"});
            if let Some(th) = d.message.thread.as_deref().or(t.thread.as_deref()) {
                p["message_thread_id"] = id_value(th);
            }
            if i == 0
                && let Some(r) = &d.message.reply_to
            {
                p["reply_parameters"] =
                    json!({"message_id": id_value(r), "allow_sending_without_reply": true});
            }
            let sent = match self.api.call("sendMessage", &p, SEND_TIMEOUT) {
                Err(ApiError::Api {
                    code: 400,
                    description,
                    ..
                }) if description.contains("parse entities") => {
                    tracing::warn!(
                        "Telegram could not parse the HTML of a reply ({description}); sending it as plain text"
                    );
                    p["text"] = Value::String(part.to_string());
                    if let Some(o) = p.as_object_mut() {
                        o.remove("parse_mode");
                    }
                    self.api.call("sendMessage", &p, SEND_TIMEOUT)
                }
                r => r,
            };
            let m = sent.map_err(send_error)?;
            Ok(m.get("message_id").map(|v| v.to_string()).unwrap_or_default())
        })
    }
}

impl Outbound for TelegramSink {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        blocking(&self.inner, d, SinkInner::send_blocking)
    }
}

/// A platform id as JSON: an integer when it is one (chat and message ids), else text
/// (`@channelname`).
pub(crate) fn id_value(s: &str) -> Value {
    s.parse::<i64>()
        .map_or_else(|_| Value::String(s.to_string()), Value::from)
}

/// The delivery worker's view of a Bot API failure.
fn send_error(e: ApiError) -> SendError {
    match e {
        ApiError::Api {
            code: 429,
            retry_after,
            ref description,
            ..
        } => SendError::Transient {
            message: format!("Telegram flood control: {description}"),
            retry_after_ms: retry_after.map(|s| s * 1000),
        },
        ApiError::Api {
            code: 400 | 403 | 404,
            ..
        } => SendError::Permanent {
            message: e.to_string(),
        },
        _ => SendError::Transient {
            message: e.to_string(),
            retry_after_ms: None,
        },
    }
}
