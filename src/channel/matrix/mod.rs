//! Matrix (client-server API, <https://spec.matrix.org/v1.11/client-server-api/>): `/sync`
//! long polling in, `m.room.message` events out.
//!
//! In: one OS thread per account long-polls `/sync` (`sync.rs`). Every message event of a
//! batch is handed to the gate with its event id as dedupe id; the batch's `next_batch` is
//! committed only after the whole batch is admitted, so a crash mid-batch syncs the batch
//! again and the events already admitted are answered by their dedupe records. Invites are
//! joined per `auto_join`. A room with two joined members is a direct chat; in other rooms
//! the bot answers when mentioned (`m.mentions` or its user id in the body).
//!
//! Out: [`MatrixSink`] sends each part of the split answer (4000 UTF-16 units) as an
//! `m.text` with the markdown as `body` and HTML as `formatted_body`, in the origin's
//! thread, with `Delivery::id` as the transaction id, so a resend after a crash is
//! de-duplicated by the homeserver (exactly once out, too).

mod api;
mod sync;

pub use api::{Api, ApiError};
pub use sync::{AutoJoin, SyncOptions, spawn_syncer};

use super::draft::Drafts;
use super::markup::matrix_html;
use super::send::blocking;
use super::split::{Limits, split};
use crate::core::{Capabilities, Delivery, Markup, Outbound, SendError, SendFuture};
use api::seg;
use serde_json::{Value, json};
use std::time::Duration;

/// The channel name.
pub const CHANNEL: &str = "matrix";

/// What Matrix can do; events may be large, Hearth cuts text at 4000 like Telegram.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_text_len: 4000,
    max_lines: None,
    edit: true,
    typing: true,
    threads: true,
    media: true,
    markup: Markup::Markdown,
};

/// The outbound half: delivers outbox rows whose channel is `matrix`.
pub struct MatrixSink {
    inner: std::sync::Arc<SinkInner>,
}

struct SinkInner {
    api: Api,
    drafts: std::sync::Arc<Drafts>,
}

impl MatrixSink {
    /// A sink sending through `api`, turning the progress drafts in `drafts` into answers.
    pub fn new(api: Api, drafts: std::sync::Arc<Drafts>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            inner: std::sync::Arc::new(SinkInner { api, drafts }),
        })
    }
}

/// An `m.text` with `text` as markdown `body` and HTML `formatted_body`.
fn text_content(text: &str) -> Value {
    json!({
        "msgtype": "m.text",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": matrix_html(text),
    })
}

/// The relation of an answer: in `thread` (falling back to a reply), or a reply.
pub(crate) fn relation(thread: Option<&str>, reply: Option<&str>) -> Option<Value> {
    match (thread, reply) {
        (Some(root), r) => Some(json!({
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": r.is_none(),
            "m.in_reply_to": {"event_id": r.unwrap_or(root)},
        })),
        (None, Some(r)) => Some(json!({"m.in_reply_to": {"event_id": r}})),
        (None, None) => None,
    }
}

/// An edit (`m.replace`) of event `of` to `new`
/// (<https://spec.matrix.org/v1.11/client-server-api/#event-replacements>).
pub(crate) fn replacement(of: &str, new: Value) -> Value {
    let mut c = new.clone();
    if let Some(b) = c.get("body").and_then(Value::as_str) {
        c["body"] = json!(format!("* {b}"));
    }
    c["m.new_content"] = new;
    c["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": of});
    c
}

/// PUTs `content` into `room` under transaction `txn`; returns the event id.
pub(crate) fn put_event(
    api: &Api,
    room: &str,
    txn: &str,
    content: &Value,
) -> Result<String, ApiError> {
    let path = format!("/rooms/{}/send/m.room.message/{}", seg(room), seg(txn));
    let v = api.call("send", "PUT", &path, Some(content), Duration::from_secs(30))?;
    Ok(v.get("event_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string())
}

fn send_blocking(inner: &SinkInner, d: &Delivery) -> Result<String, SendError> {
    let api = &inner.api;
    let t = &d.message.target;
    let Some(room) = t.chat.as_deref().filter(|r| !r.is_empty()) else {
        return Err(SendError::Permanent {
            message: "the target has no room id".into(),
        });
    };
    let parts = split(&d.message.text, Limits::MATRIX);
    // A progress draft of this run becomes the first part (an edit); its lock is held
    // through the delivery so no progress edit lands after the answer.
    let claimed = inner.drafts.take(&d.run_id);
    let (_held, draft_id) = claimed.hold();
    let mut ids = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let mut content = text_content(part);
        let reply = d.message.reply_to.as_deref().filter(|_| i == 0);
        let thread = d.message.thread.as_deref().or(t.thread.as_deref());
        if let Some(r) = relation(thread, reply) {
            content["m.relates_to"] = r;
        }
        if i == 0
            && let Some(of) = &draft_id
        {
            content = replacement(of, text_content(part));
        }
        // The same transaction id for the same part of the same row: the homeserver
        // answers a repeat with the first event id instead of sending it twice.
        let txn = format!("hearth-{}-{i}", d.id);
        let id = put_event(api, room, &txn, &content).map_err(send_error)?;
        ids.push(if i == 0 {
            draft_id.clone().unwrap_or(id)
        } else {
            id
        });
    }
    Ok(ids.join(","))
}

impl Outbound for MatrixSink {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        blocking(&self.inner, d, send_blocking)
    }
}

/// The delivery worker's view of a homeserver failure.
fn send_error(e: ApiError) -> SendError {
    match e {
        ApiError::Api {
            status: 429,
            retry_after_ms,
            ..
        } => SendError::Transient {
            message: e.to_string(),
            retry_after_ms,
        },
        ApiError::Api {
            status: 400 | 403 | 404,
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
