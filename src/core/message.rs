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
    /// The workspace around the chat: a Discord guild, a Slack team (for bindings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
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

/// Why a send failed, as the delivery worker needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (network error, HTTP 5xx, rate limit). `retry_after_ms` is the wait
    /// the platform asked for (e.g. Telegram's `retry_after`, HTTP `Retry-After`), if any.
    #[error("{message}")]
    Transient {
        /// What failed, for the log and `status`.
        message: String,
        /// The platform's requested wait, ms.
        retry_after_ms: Option<u64>,
    },
    /// Never going to succeed (chat gone, bot blocked, malformed target): dead-lettered at
    /// once.
    #[error("{message}")]
    Permanent {
        /// What failed.
        message: String,
    },
}

/// The future [`Outbound::send`] returns: the platform's receipt id (its message id) or
/// why the send failed.
pub type SendFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, SendError>> + Send + 'a>>;

/// One outbox row as a channel's sink receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Stable across retries and restarts (`out-<seq>`): a platform that de-duplicates by
    /// a client-chosen id (Matrix's transaction id, Slack's `client_msg_id`) gets this one,
    /// so a resend after a crash between the send and its commit is not shown twice.
    pub id: String,
    /// The run whose answer (or notice) it carries.
    pub run_id: String,
    /// The message and its target.
    pub message: OutboundMessage,
}

/// The sending half of a channel: what the delivery worker hands each outbox row to.
/// One sink per channel name; a channel adapter implements it and never sees the store.
pub trait Outbound: Send + Sync {
    /// The channel this sink delivers for (matches [`Origin::channel`]).
    fn channel(&self) -> &str;
    /// Sends `d.message` to its target and returns the platform's receipt id.
    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a>;
}

/// What an API client brings to its turn beside the message (OpenAI `tools`, Ollama's
/// `/api/chat` as Home Assistant calls it): its system prompt for this turn, tools it runs
/// itself, and the results of calls to them it ran. A model call of a client tool ends the
/// turn with the calls for the client ([`crate::core::EventKind::Finished`]'s
/// `tool_calls`); the client's next request brings the results and the turn goes on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTurn {
    /// The client's system prompt, added after Hearth's own for this turn only (Home
    /// Assistant rewrites it every turn: time, exposed entities, its API prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Tools the client executes; a Hearth tool of the same name is hidden for the turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<crate::core::ToolSpec>,
    /// Results of the client's tool calls, in the order of the calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<ClientToolResult>,
}

/// The result of one client-run tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientToolResult {
    /// The call's id when the client echoes it (OpenAI `tool_call_id`); Ollama clients
    /// send none, and results then match pending calls in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The result text.
    pub content: String,
}
