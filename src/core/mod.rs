//! Plain domain types shared by every module: session keys (`session.rs`), normalised
//! inbound and outbound messages (`message.rs`), the channel contract (`channel.rs`), queue modes (`queue.rs`), typed run events
//! (`event.rs`), what a loaded on-device model holds in memory (`model_memory.rs`), tool-argument checks against JSON Schema (`schema.rs`), run ids, chat messages, tool calls and specs. No I/O happens here (but for reading the OS random
//! generator in [`random_hex`]) and nothing of Hearth is imported.

mod approvals;
mod channel;
mod event;
pub mod logs;
mod message;
pub mod metrics;
mod model_memory;
mod queue;
pub mod schema;
mod session;

pub use approvals::{
    AgentApprovals, AllowEntry, ApprovalRequest, ApprovalsDoc, AuditEntry, Decision, ExecMode,
};
pub use channel::{
    AccessPolicy, Activity, Admission, Binding, Capabilities, ChannelHealth, ChannelInbound,
    DmPolicy, DmScope, GroupPolicy, HealthEvent, InboundSink, Markup, SinkFuture, TextStream,
    WebhookFuture, WebhookHandler, listed,
};
pub use event::{AgentEvent, EventKind, FailoverInfo, ToolOutcome};
pub use message::{
    Attachment, ClientToolResult, ClientTurn, Delivery, InboundMessage, Origin, Outbound,
    OutboundMessage, SendError, SendFuture,
};
pub use model_memory::{LoadedModels, ModelMemory};
pub use queue::{DropPolicy, QueueDirective, QueueMode, QueueSettings, QueueSettingsPatch};
pub use session::{DEFAULT_SESSION_KEY, PeerKind, SessionKey, SessionKeyParts, agent_of};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A run identifier, `run_` followed by 24 lowercase hex digits (96 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote a chat message, in the OpenAI chat-completions vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions assembled by Hearth (workspace files, summaries).
    System,
    /// A message from the human (or channel peer).
    User,
    /// A model's reply, possibly carrying tool calls.
    Assistant,
    /// The result of one tool call, linked by `tool_call_id`.
    Tool,
}

/// One tool invocation requested by a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id (e.g. `call_abc`, `toolu_01…`); echoed back in the result.
    pub id: String,
    /// Tool name as registered (`read`, `write`, …).
    pub name: String,
    /// Arguments as a JSON object.
    pub arguments: serde_json::Value,
}

/// One message of a conversation, as sent to providers and kept in the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author of the message.
    pub role: Role,
    /// Text content (may be empty for an assistant message that only calls tools).
    #[serde(default)]
    pub content: String,
    /// Tool calls requested by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the id of the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For `Role::Tool`: the tool's name (Anthropic and Gemini want it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// A plain text message with the given role.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// A tool result answering call `call_id` of tool `name`.
    pub fn tool_result(call_id: &str, name: &str, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.to_string()),
            name: Some(name.to_string()),
        }
    }
}

/// A tool's declaration offered to a model: name, description and a JSON Schema
/// (<https://json-schema.org/draft/2020-12>) for its arguments object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Unique tool name, `[a-z_]+`.
    pub name: String,
    /// One or two sentences telling the model when to use it.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// Token counts reported by a provider for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

/// Milliseconds since the Unix epoch, the unit of every timestamp Hearth stores.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` (since the Unix epoch) as RFC 3339 in UTC with milliseconds,
/// `2026-12-05T06:01:02.345Z` (<https://www.rfc-editor.org/rfc/rfc3339>); the civil date
/// comes from the days-from-civil inverse of
/// <https://howardhinnant.github.io/date_algorithms.html>.
pub fn rfc3339_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// `bytes` bytes from the operating system's random generator (ring's `SystemRandom`, the
/// one thing in `core` that reads the OS), as `2 * bytes` lowercase hex digits. Used for run
/// ids, idempotency keys and the gateway token.
///
/// # Errors
/// A message when the OS random generator fails.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "the OS random generator failed".to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_utc(1_796_439_662_005), "2026-12-05T03:01:02.005Z");
    }

    #[test]
    fn random_hex_has_the_asked_length_and_differs() {
        let a = super::random_hex(16).expect("rng");
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, super::random_hex(16).expect("rng"));
    }
}
