//! The context every tool call runs in: who asked (run, session, agent, channel, sender),
//! how long it may take (deadline, cancellation) and where it reports progress.

use crate::core::Origin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A sink for progress lines of a running tool (shown as `update` events of the call).
pub type ProgressSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Who asked for a tool call, and on which conversation. Fixed for a run: the policy
/// ([`super::policy`]) decides the tool set from it, the audit ledger records it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The run the call belongs to (`run_<hex>`); empty outside a run.
    pub run_id: String,
    /// Its session key (`agent:main:telegram:direct:42`).
    pub session_key: String,
    /// The agent id (`main`, or an `[agents.<id>]`).
    pub agent: String,
    /// Channel, account, sender (`peer`) and chat of the message that started the run.
    pub origin: Origin,
}

impl Caller {
    /// Whether the run answers a group chat (the origin names a chat: direct chats
    /// have none).
    pub fn in_group(&self) -> bool {
        self.origin.chat.is_some()
    }

    /// `channel:peer` (`telegram:42`), or the channel alone for the gateway's own APIs —
    /// the sender as the audit ledger and the per-sender policy name it.
    pub fn sender(&self) -> String {
        if self.origin.peer.is_empty() {
            self.origin.channel.clone()
        } else {
            format!("{}:{}", self.origin.channel, self.origin.peer)
        }
    }
}

/// The context of one tool call. Tools are blocking: a long one polls
/// [`ToolCtx::cancelled`] (or waits on [`ToolCtx::cancel`]) and stops, killing what it
/// started, when the run is aborted or its deadline passes.
#[derive(Clone)]
pub struct ToolCtx {
    /// Who asked.
    pub caller: Caller,
    /// The model's id of this call.
    pub call_id: String,
    /// Cancelled when the run is aborted or the gateway shuts down.
    pub cancel: CancellationToken,
    /// The run's deadline: a tool never runs past it.
    pub deadline: Instant,
    progress: Option<ProgressSink>,
    notes: Arc<Mutex<Vec<String>>>,
    offered: Option<Arc<[String]>>,
}

impl ToolCtx {
    /// A context for `caller`'s call `call_id`, ending at `deadline`.
    pub fn new(
        caller: Caller,
        call_id: &str,
        cancel: CancellationToken,
        deadline: Instant,
    ) -> Self {
        Self {
            caller,
            call_id: call_id.to_string(),
            cancel,
            deadline,
            progress: None,
            notes: Arc::default(),
            offered: None,
        }
    }

    /// The same context, knowing the names of the tools its run was offered.
    pub fn with_offered(mut self, names: Arc<[String]>) -> Self {
        self.offered = Some(names);
        self
    }

    /// Whether the run was offered tool `name` (always true outside a run): `exec` runs
    /// in the foreground when `process` is not offered, since nothing could poll the job.
    pub fn offers(&self, name: &str) -> bool {
        self.offered
            .as_ref()
            .is_none_or(|o| o.iter().any(|n| n == name))
    }

    /// A context outside any run (the CLI, tests): no caller, no cancellation, a deadline
    /// `limit` from now.
    pub fn detached(limit: Duration) -> Self {
        Self::new(
            Caller::default(),
            "",
            CancellationToken::new(),
            Instant::now() + limit,
        )
    }

    /// The same context reporting progress lines to `sink`.
    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// Reports a progress line (an `update` event of the call); dropped when nobody
    /// listens.
    pub fn progress(&self, line: &str) {
        if let Some(p) = &self.progress {
            p(line);
        }
    }

    /// Whether the run was aborted or the deadline has passed.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled() || Instant::now() >= self.deadline
    }

    /// Time left before the deadline (zero when it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Adds a step to the call's decision path (`approval: allow-once by telegram:42`),
    /// which the audit ledger records with the outcome. Metadata only, never content.
    pub fn note_decision(&self, step: impl Into<String>) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(step.into());
        }
    }

    /// The decision steps noted so far, in order.
    pub fn decisions(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }
}
