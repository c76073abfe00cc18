//! Normalised messages: what every way in (WebSocket, HTTP, and the channel adapters)
//! turns a platform event into, and what every way out is handed to send.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a message came from, and so where its answer goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// The channel: `ws` and `http` for the gateway's own APIs, else the platform
    /// (`telegram`, `matrix`, …).
    pub channel: String,
    /// The account of the channel that received it (a bot), `default` when there is one.
    #[serde(default)]
    pub account: String,
    /// The sender's id on the platform (empty for the gateway's own APIs).
    #[serde(default)]
    pub peer: String,
    /// The chat or group id on the platform, when it is not a direct chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// The forum topic or thread id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The platform's id of the message (for replies and de-duplication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The sender's display name, if the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
}

impl Origin {
    /// An origin on one of the gateway's own APIs (`ws` or `http`), no platform ids.
    pub fn gateway(channel: &str) -> Self {
        Self {
            channel: channel.to_string(),
            account: "default".into(),
            ..Self::default()
        }
    }
}

/// A file that came with a message, saved into the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Where it was saved.
    pub path: PathBuf,
    /// Its media type (`image/jpeg`, …).
    pub mime: String,
    /// Its size, bytes.
    pub size: u64,
}

/// A normalised inbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// Where it came from.
    pub origin: Origin,
    /// Its text (may be empty when it only carries attachments).
    pub text: String,
    /// Files that came with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// When the platform says it was sent, ms since the epoch.
    pub ts_ms: u64,
}

/// A normalised outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundMessage {
    /// The conversation it goes to (channel, account, chat, thread).
    pub target: Origin,
    /// Its text (markdown; adapters convert it to the platform's format).
    pub text: String,
    /// The platform message id it replies to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The thread it goes to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

impl OutboundMessage {
    /// The answer to `to`: same conversation and thread, replying to its message.
    pub fn reply(to: &Origin, text: impl Into<String>) -> Self {
        Self {
            target: to.clone(),
            text: text.into(),
            reply_to: to.message_id.clone(),
            thread: to.thread.clone(),
        }
    }
}
