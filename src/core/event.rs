//! Typed run events: what a turn reports while it runs. Only the gateway turns them into
//! OpenClaw-shaped JSON (`agent` and `chat` events,
//! <https://docs.openclaw.ai/gateway/protocol>); everything else matches on the enum.

use super::Usage;
use serde::{Deserialize, Serialize};

/// One event of a turn, with its run id (the turn's first run when messages were merged),
/// session key and a per-turn sequence number from 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// The turn's run id.
    pub run_id: String,
    /// Its session key.
    pub session_key: String,
    /// Per-turn sequence number, from 0.
    pub seq: u64,
    /// Emission time, ms since the epoch.
    pub ts_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// A failover step: a model or auth profile failed and the chain moved on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverInfo {
    /// The model ref that failed.
    pub model: String,
    /// The auth profile that failed.
    pub profile: String,
    /// Short machine-readable reason (`rate_limit`, `timeout`, …).
    pub reason: String,
    /// The error message.
    pub message: String,
    /// Cooldown set on the profile, ms since the epoch.
    pub cooldown_until_ms: Option<u64>,
    /// True when the failed attempt had already streamed text in this model call: that
    /// partial text is void, and the next candidate's text replaces it.
    pub void_partial: bool,
}

/// How a tool call ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutcome {
    /// The provider's id of the call.
    pub call_id: String,
    /// The tool.
    pub name: String,
    /// Whether it failed.
    pub is_error: bool,
    /// The head of its result (at most 2,000 characters).
    pub result: String,
}

/// What happened in a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The turn took its messages from the lane and started; `run_ids` are every run the
    /// turn answers (more than one when queued messages were merged).
    Started {
        /// The runs answered by this turn, the first being the turn's own id.
        run_ids: Vec<String>,
    },
    /// Messages that arrived during the turn joined it at a step boundary (`steer`).
    Steered {
        /// Their runs.
        run_ids: Vec<String>,
    },
    /// A piece of assistant text.
    Delta {
        /// The text.
        text: String,
    },
    /// A model call ended and asked for tools: the text streamed so far in this step was
    /// the preamble of tool calls.
    ToolStarted {
        /// The provider's id of the call.
        call_id: String,
        /// The tool.
        name: String,
        /// Its arguments (a JSON object).
        args: serde_json::Value,
    },
    /// A running tool reported progress (an `exec`'s output so far, an approval asked).
    ToolUpdate {
        /// The provider's id of the call.
        call_id: String,
        /// One progress line.
        text: String,
    },
    /// A tool call ended.
    ToolFinished(ToolOutcome),
    /// A model or profile failed and the chain moved on.
    Failover(FailoverInfo),
    /// The session's older turns are being summarised (`done = false`), or were
    /// (`done = true`, `summarized` entries replaced; 0 when the summary failed).
    Compaction {
        /// Whether it ended.
        done: bool,
        /// Entries replaced by the summary.
        summarized: u64,
    },
    /// The turn ended with an answer (committed before this event).
    Finished {
        /// The final assistant text.
        text: String,
        /// The model ref that answered.
        model: Option<String>,
        /// Tokens over all model calls.
        usage: Usage,
        /// Calls of the client's own tools the turn stopped at: the client runs them and
        /// continues the turn with their results ([`crate::core::ClientTurn`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<super::ToolCall>,
    },
    /// The turn ended without an answer (committed before this event).
    Failed {
        /// `failed`, `aborted`, `interrupted` or `dropped`.
        status: String,
        /// Why.
        reason: String,
    },
}

impl EventKind {
    /// Whether this event ends the turn.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Finished { .. } | Self::Failed { .. })
    }
}
