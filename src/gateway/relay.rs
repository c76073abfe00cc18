//! Following a run for a streamed HTTP answer (OpenAI SSE in `http.rs`, Ollama NDJSON in
//! `ollama/chat.rs`): which events become text, the end or an error, whatever the wire
//! format. Nothing is written before the first text, so a failover before any text
//! restarts invisibly; a failover after text was sent ends the answer with an error (the
//! client never sees two answers spliced). A follower that lagged stops forwarding deltas
//! and ends with the rest of the final answer after what it had sent of that step, read
//! from the committed text.

use crate::core::{EventKind, ToolCall, Usage};
use crate::router::Followed;

/// What to send next.
pub(super) enum Piece {
    /// Assistant text, now.
    Text(String),
    /// The run finished: the text still to send (the whole answer when nothing was
    /// streamed; after a lag, the rest), the client's tool calls, the token counts.
    Done {
        /// Text not sent yet.
        rest: String,
        /// Calls of the client's own tools the turn stopped at.
        tool_calls: Vec<ToolCall>,
        /// Tokens over all model calls.
        usage: Usage,
    },
    /// End the answer with this error.
    Error(String),
}

/// The state of one followed run.
#[derive(Default)]
pub(super) struct Relay {
    sent: String,
    step_sent: String,
    lagged: bool,
}

impl Relay {
    /// Everything sent as text so far.
    pub(super) fn sent(&self) -> &str {
        &self.sent
    }

    /// Whether any text was sent.
    pub(super) fn started(&self) -> bool {
        !self.sent.is_empty()
    }

    /// The piece `item` gives, if any.
    pub(super) fn step(&mut self, item: Followed) -> Option<Piece> {
        let ev = match item {
            Followed::Lagged(n) => {
                if !self.lagged {
                    tracing::debug!(
                        missed = n,
                        "streaming client too slow; the rest of the answer follows from the committed text"
                    );
                }
                self.lagged = true;
                return None;
            }
            Followed::Event(ev) => ev,
        };
        match ev.kind {
            EventKind::Delta { .. } if self.lagged => None,
            EventKind::Delta { text } => {
                self.step_sent.push_str(&text);
                self.sent.push_str(&text);
                Some(Piece::Text(text))
            }
            EventKind::Failover(f) if f.void_partial && self.started() => {
                Some(Piece::Error(format!(
                    "the model {} failed after part of its answer was sent ({}); the fallback's answer cannot be spliced onto it, ask again",
                    f.model, f.message
                )))
            }
            EventKind::ToolStarted { .. } | EventKind::Failover(_) => {
                self.step_sent.clear();
                None
            }
            EventKind::Finished {
                text,
                tool_calls,
                usage,
                ..
            } => {
                let rest = if !self.started() {
                    text
                } else if self.lagged {
                    text.strip_prefix(self.step_sent.as_str())
                        .unwrap_or("")
                        .to_string()
                } else {
                    String::new()
                };
                self.sent.push_str(&rest);
                Some(Piece::Done {
                    rest,
                    tool_calls,
                    usage,
                })
            }
            EventKind::Failed { reason, .. } => Some(Piece::Error(reason)),
            _ => None,
        }
    }
}
