//! Telegram's progress drafts (see `channel/draft.rs`): `sendMessage` once, then
//! `editMessageText`.

use super::api::Api;
use super::{ApiError, id_value};
use crate::channel::draft::{Draft, Show};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Where a draft goes.
#[derive(Debug, Clone)]
pub struct DraftTarget {
    /// The chat id.
    pub chat: String,
    /// The forum topic, if any.
    pub thread: Option<String>,
    /// The message the answer replies to.
    pub reply_to: Option<String>,
}

/// How a draft is shown in `t`.
pub fn show(api: Api, t: DraftTarget) -> Show {
    Arc::new(move |d: &mut Draft, body: &str| {
        let timeout = Duration::from_secs(15);
        match &d.message_id {
            Some(id) => {
                let p =
                    json!({"chat_id": id_value(&t.chat), "message_id": id_value(id), "text": body});
                match api.call("editMessageText", &p, timeout) {
                    Err(ApiError::Api { description, .. })
                        if description.contains("not modified") =>
                    {
                        Ok(())
                    }
                    r => r.map(|_| ()).map_err(|e| e.to_string()),
                }
            }
            None => {
                let mut p = json!({"chat_id": id_value(&t.chat), "text": body});
                if let Some(th) = &t.thread {
                    p["message_thread_id"] = id_value(th);
                }
                if let Some(r) = &t.reply_to {
                    p["reply_parameters"] =
                        json!({"message_id": id_value(r), "allow_sending_without_reply": true});
                }
                let m = api
                    .call("sendMessage", &p, timeout)
                    .map_err(|e| e.to_string())?;
                d.message_id = m
                    .get("message_id")
                    .and_then(Value::as_i64)
                    .map(|i| i.to_string());
                Ok(())
            }
        }
    })
}
