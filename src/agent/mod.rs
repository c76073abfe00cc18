//! The agent: runs one turn on a session it is handed — context assembly → model chain →
//! tool calls → … → final answer — and reports typed events through the caller's
//! [`TurnHooks`]. It owns no queue, no lane and no run registry (the dispatcher in
//! `router/` does); it never touches sockets and must not import `router`, `gateway` or
//! `cli`.
//!
//! Architecture invariants held here:
//! - The turn's messages enter the transcript in the turn's first commit, together with
//!   their inbox entries marked taken and their runs marked running.
//! - A tool step (the assistant's calls, all their results, and any steered messages) is
//!   one commit, and counts in the run's `tool_steps`.
//! - The final answer, every run of the turn marked final, and the removal of the turn's
//!   inbox entries are one commit, made before `Finished`/`Failed` is emitted.
//! - Every commit goes through the store's writer thread ([`Store::write`]), never on a
//!   tokio worker.
//! - Every turn has a step limit, a deadline and an abort switch; a shutdown stops a turn
//!   without recording an outcome, so the next start runs it again (or reports it
//!   interrupted when it had committed a tool step).

mod compact;
pub mod context;
mod run;
mod turn;

pub use turn::{Turn, TurnEnd, TurnHooks};

use crate::provider::failover::{CallParams, Chain};
use crate::storage::{Store, StoreError};
use crate::tool::Registry;
use crate::tool::policy::Policy;
use std::sync::Arc;
use std::time::Duration;

/// An agent failure seen by callers of [`Agent`].
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is malformed (bad session key, empty message).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Settings of the agent loop (from `[agent]`).
#[derive(Clone)]
pub struct AgentOptions {
    /// The agent's id (`main`, or the `<id>` of `[agents.<id>]`), as its tools' calls are
    /// attributed.
    pub id: String,
    /// The workspace holding the bootstrap files and the memory notes.
    pub workspace: Arc<crate::workspace::Workspace>,
    /// Model calls per turn.
    pub max_steps: u32,
    /// Whole-turn deadline.
    pub run_timeout: Duration,
    /// Per-call parameters (tools are filled per turn from the registry and the client).
    pub call: CallParams,
    /// Cap per bootstrap file, characters.
    pub bootstrap_max_chars: usize,
    /// Compact when the history exceeds this fraction of the chain's smallest window.
    pub compaction_threshold: f32,
    /// Turns kept verbatim by a compaction.
    pub compaction_keep_turns: usize,
    /// Run a memory flush before compacting.
    pub memory_flush: bool,
    /// Old tool results are pruned to this many characters (head and tail).
    pub prune_tool_result_chars: usize,
    /// Which tools a run may see and call, by channel, chat and sender.
    pub policy: Policy,
    /// Skills listed in the system prompt (when the `skill` tool is offered).
    pub skills: Option<crate::tool::skill::SkillSetup>,
}

struct Inner {
    store: Store,
    chain: Chain,
    tools: Registry,
    opts: AgentOptions,
}

/// Cheap cloneable handle to the agent loop.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl Agent {
    /// Builds the agent. Its tools are asked for their specs at every turn (an MCP
    /// server's list changes); `opts.call.tools` is filled per turn.
    pub fn new(store: Store, chain: Chain, tools: Registry, opts: AgentOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                chain,
                tools,
                opts,
            }),
        }
    }

    /// The model chain (for `models.list` and `status`).
    pub fn chain(&self) -> &Chain {
        &self.inner.chain
    }

    /// The whole-turn deadline.
    pub fn run_timeout(&self) -> Duration {
        self.inner.opts.run_timeout
    }
}
