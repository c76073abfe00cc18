//! The dispatcher: the one way in for the WebSocket methods, the HTTP APIs and every
//! channel. It accepts a normalised message by committing it to the durable inbox (with its
//! idempotency record and the platform cursor, in one write transaction) before it
//! acknowledges it, queues it in its session's lane under the session's queue mode, runs
//! turns through the agent one at a time per lane under a global semaphore, and publishes
//! typed run events to followers and subscribers. Owns sessions, lanes and runs; the
//! gateway and the channels never touch `agent/` or `storage/`.
//!
//! Crash semantics (ARCHITECTURE.md, invariant 5) live in `recover.rs`.

mod approvals;
mod channels;
mod command;
mod follow;
mod inbound;
mod lane;
mod ledger;
mod link;
mod outbox;
mod pairing;
mod recover;
mod submit;

pub use crate::storage::{AuditQuery, PairingRequest};
pub use crate::storage::{OutboxCounts, OutboxRow, OutboxStatus};
/// The record types the dispatcher answers with.
pub use crate::storage::{RunRecord, RunStatus, SessionRecord, TranscriptEntry};
pub use approvals::{ApprovalBroker, ApprovalEvent, ApprovalOptions, ResolveError};
pub use channels::ChannelStatus;
pub use command::{COMMANDS, ChatCommand};
pub use follow::{FilterHandle, Follow, Followed, SessionFilter, Subscription};
pub use inbound::{ChannelGate, GateOptions};
pub use link::DispatcherLink;
pub use outbox::DeliveryOptions;
pub use pairing::{MAX_PENDING, PAIRING_TTL_MS};
pub use recover::Recovered;

use crate::agent::Agent;
use crate::core::{
    AgentEvent, ChatMessage, InboundMessage, Outbound, QueueSettings, QueueSettingsPatch,
    SessionKey,
};
use crate::provider::failover::Chain;
use crate::storage::{Store, StoreError};
use follow::RunWatch;
use lane::{Dropped, Lane};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long an idempotency key is remembered, ms (24 h).
pub const DEDUPE_TTL_MS: u64 = 24 * 3600 * 1000;
/// Non-final events a subscriber may fall behind by before it lags.
pub const EVENT_CAPACITY: usize = 1024;
/// Final events a subscriber may fall behind by.
const FINAL_CAPACITY: usize = 4096;

/// A dispatcher failure.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The session's queue is full and its drop policy is `new`: the message was refused.
    #[error(
        "the queue of session {session} is full ({cap} waiting, drop policy new); try again later"
    )]
    QueueFull {
        /// The session.
        session: String,
        /// Its cap.
        cap: usize,
    },
    /// No run with that id.
    #[error("unknown run {0}")]
    UnknownRun(String),
    /// The gateway is shutting down and accepts nothing.
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

/// Settings of the dispatcher.
#[derive(Debug, Clone, Default)]
pub struct DispatcherOptions {
    /// The global queue settings (`[queue]`).
    pub queue: QueueSettings,
    /// Per-channel overrides (`[queue.channels.<name>]`).
    pub by_channel: BTreeMap<String, QueueSettingsPatch>,
    /// Turns running at once across all lanes.
    pub max_concurrent_runs: usize,
    /// The delivery worker's retries and retention (`[outbox]`).
    pub delivery: DeliveryOptions,
}

/// A platform cursor to commit with the message (e.g. Telegram's next update offset).
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The channel.
    pub channel: String,
    /// The channel account.
    pub account: String,
    /// The cursor, as the adapter wants it back.
    pub value: serde_json::Value,
}

/// A message to accept.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The session it belongs to.
    pub session_key: SessionKey,
    /// The message.
    pub message: InboundMessage,
    /// A repeat with the same key (per session, 24 h) is acknowledged with the first run id
    /// and runs nothing.
    pub idempotency_key: Option<String>,
    /// For stateless HTTP requests: the conversation before the message. The run gets a
    /// one-off lane and session key, and no transcript.
    pub stateless_history: Option<Vec<ChatMessage>>,
    /// The platform cursor to commit with it.
    pub cursor: Option<Cursor>,
    /// Record the idempotency key without looking it up first: a first delivery whose
    /// platform id may come again later for another message (MQTT packet ids), while a
    /// redelivery of this one would be looked up.
    pub record_only: bool,
    /// An API client's system prompt, tools and tool results for the turn.
    pub client: Option<crate::core::ClientTurn>,
    /// The run id the client chose (OpenClaw's clients: their idempotency key), 1 to 128
    /// characters of `A-Z a-z 0-9 . _ : -`; `None`: a new `run_…` id. One that already names
    /// a run (outside this submission's own dedupe record) is refused.
    pub run_id: Option<String>,
}

impl Submission {
    /// `text` from `origin` for `session_key`, received now: no idempotency key, history,
    /// cursor or client context.
    pub fn new(session_key: SessionKey, origin: crate::core::Origin, text: String) -> Self {
        Self {
            session_key,
            message: InboundMessage {
                origin,
                text,
                attachments: Vec::new(),
                ts_ms: crate::core::now_ms(),
            },
            idempotency_key: None,
            stateless_history: None,
            cursor: None,
            record_only: false,
            client: None,
            run_id: None,
        }
    }
}

/// Whether `id` may be a client-chosen run id (see [`Submission::run_id`]).
pub fn valid_run_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The acknowledgement of a [`Submission`], given only after it was committed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The run id.
    pub run_id: String,
    /// The run's session key (one-off for stateless requests).
    pub session_key: String,
    /// True when this repeats an earlier idempotency key.
    #[serde(default)]
    pub deduped: bool,
}

/// What [`Dispatcher::abort`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbortReport {
    /// Runs whose running turn was signalled (each ends as `aborted`).
    pub aborted: Vec<String>,
    /// Queued runs removed without running (each ends as `dropped`).
    pub cleared: Vec<String>,
}

/// Counts for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStatus {
    /// Lanes that exist (a turn running or messages waiting).
    pub lanes: usize,
    /// Turns running.
    pub running: usize,
    /// Messages waiting in lanes.
    pub queued: usize,
    /// Entries in the durable inbox.
    pub inbox: u64,
    /// Outbox rows by state (pending, sent and not yet pruned, dead letters).
    pub outbox: OutboxCounts,
}

pub(crate) struct Inner {
    store: Store,
    /// `main`; replaced by a config reload (turns running keep the one they started with).
    agent: std::sync::RwLock<Agent>,
    /// Agents beside `main`, by id (multi-agent bindings).
    agents: std::sync::RwLock<HashMap<String, Agent>>,
    opts: DispatcherOptions,
    lanes: Mutex<HashMap<String, Lane>>,
    runs: Mutex<HashMap<String, Arc<RunWatch>>>,
    permits: Arc<Semaphore>,
    events: broadcast::Sender<AgentEvent>,
    finals: broadcast::Sender<AgentEvent>,
    outbox: Arc<outbox::Outbox>,
    health: Mutex<BTreeMap<(String, String), crate::core::ChannelHealth>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    approvals: std::sync::OnceLock<ApprovalBroker>,
}

/// Cheap cloneable handle to the dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl Inner {
    /// The agent of `session_key` (`agent:<id>:…`): a registered one, else `main`'s.
    fn agent_for(&self, session_key: &str) -> Agent {
        let id = crate::core::agent_of(session_key);
        if id != "main"
            && let Some(a) = self
                .agents
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
        {
            return a.clone();
        }
        self.agent.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn watches_of(&self, ids: &[String]) -> Vec<Arc<RunWatch>> {
        let runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        ids.iter().filter_map(|id| runs.get(id).cloned()).collect()
    }

    /// A turn's abort switch; shutdown fires it too, so blocking model calls stop.
    fn shutdown_child(&self) -> CancellationToken {
        self.shutdown.child_token()
    }

    /// Publishes the committed outcome of `turn` to the followers of each run it answered
    /// and forgets them.
    fn settle(&self, answered: &[String], turn: &RunRecord) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        for id in answered {
            if let Some(w) = runs.remove(id) {
                let _ = w.done.send(Some(lane::merged_record(id, turn)));
            }
        }
    }

    fn settings_for(&self, channel: &str, session: Option<&SessionRecord>) -> QueueSettings {
        let mut s = self.opts.queue;
        if let Some(p) = self.opts.by_channel.get(channel) {
            s = s.with(p);
        }
        if let Some(p) = session.and_then(|s| s.queue.as_ref()) {
            s = s.with(p);
        }
        s
    }
}

impl Dispatcher {
    /// Builds the dispatcher. Call [`Dispatcher::recover`] once before accepting messages.
    pub fn new(store: Store, agent: Agent, opts: DispatcherOptions) -> Self {
        let permits = Arc::new(Semaphore::new(opts.max_concurrent_runs.max(1)));
        let outbox = Arc::new(outbox::Outbox::new(store.clone(), opts.delivery));
        Self {
            inner: Arc::new(Inner {
                outbox,
                health: Mutex::default(),
                store,
                agent: std::sync::RwLock::new(agent),
                agents: Default::default(),
                opts,
                lanes: Mutex::default(),
                runs: Mutex::default(),
                permits,
                events: broadcast::channel(EVENT_CAPACITY).0,
                finals: broadcast::channel(FINAL_CAPACITY).0,
                tracker: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                approvals: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Adds agent `id` (its own workspace, model chain and tools): sessions whose key names
    /// it (`agent:<id>:…`, chosen by the channel bindings) run on it. Register agents before
    /// [`Dispatcher::recover`].
    pub fn add_agent(&self, id: &str, agent: Agent) {
        self.inner
            .agents
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), agent);
    }

    /// The approvals broker, once attached ([`ApprovalBroker::attach`]).
    pub fn approvals(&self) -> Option<&ApprovalBroker> {
        self.inner.approvals.get()
    }

    /// The ids of the agents runs can go to: `main` first, then the others sorted.
    pub fn agent_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .inner
            .agents
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|k| *k != "main")
            .cloned()
            .collect();
        ids.sort();
        ids.insert(0, "main".into());
        ids
    }

    /// Registers the sink that delivers the outbox rows of `sink.channel()` (replacing an
    /// earlier one). Register the sinks before [`Dispatcher::recover`] starts the worker;
    /// a row whose channel has no sink fails its attempt and is retried.
    pub fn register_outbound(&self, sink: Arc<dyn Outbound>) {
        self.inner.outbox.register(sink);
    }

    /// The oldest `limit` dead letters (outbox rows given up on), for operators.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<OutboxRow>, DispatchError> {
        let store = &self.inner.store;
        Ok(store.delivery_rows(&*store.read_txn()?, OutboxStatus::Dead, limit)?)
    }

    /// The model chain (for `models.list` and `status`).
    pub fn chain(&self) -> Chain {
        self.inner.agent_for("agent:main:main").chain().clone()
    }

    /// Agent `id`'s model chain as `provider/model` refs, primary first (`main`'s for an
    /// unknown id).
    pub fn agent_models(&self, id: &str) -> Vec<String> {
        let chain = self
            .inner
            .agent_for(&format!("agent:{id}:main"))
            .chain()
            .clone();
        chain.models().iter().map(|m| m.to_string()).collect()
    }

    /// Replaces every agent (a config reload): `main` and the others by id; an id no
    /// longer listed is dropped (its sessions fall back to `main`). Turns running keep the
    /// agent they started with; queued and later ones get the new ones.
    pub fn set_agents(&self, main: Agent, others: Vec<(String, Agent)>) {
        *self.inner.agent.write().unwrap_or_else(|p| p.into_inner()) = main;
        *self.inner.agents.write().unwrap_or_else(|p| p.into_inner()) =
            others.into_iter().collect();
    }

    /// Follows run `run_id`: live while it is queued or running, else its committed
    /// outcome (nothing for an unknown run).
    pub fn follow(&self, run_id: &str) -> Follow {
        let w = self
            .inner
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(run_id)
            .cloned();
        match w {
            Some(w) => Follow::live(run_id.to_string(), &w, self.inner.store.clone()),
            None => Follow::finished(run_id.to_string(), self.inner.store.clone()),
        }
    }

    /// Subscribes to the turns of the sessions `filter` admits.
    pub fn subscribe(&self, filter: SessionFilter) -> Subscription {
        Subscription::new(
            filter,
            self.inner.events.subscribe(),
            self.inner.finals.subscribe(),
        )
    }

    /// Waits up to `timeout` for run `run_id` to end and returns its record (still
    /// `queued` or `running` if the timeout passed first).
    ///
    /// # Errors
    /// [`DispatchError::UnknownRun`], [`DispatchError::Store`].
    pub async fn wait(&self, run_id: &str, timeout: Duration) -> Result<RunRecord, DispatchError> {
        let w = self.inner.watches_of(&[run_id.to_string()]).pop();
        if let Some(w) = w {
            let mut rx = w.done.subscribe();
            drop(w);
            if let Ok(Ok(v)) = tokio::time::timeout(timeout, rx.wait_for(|v| v.is_some())).await
                && let Some(rec) = v.clone()
            {
                return Ok(rec);
            }
        }
        let store = &self.inner.store;
        store
            .run(&*store.read_txn()?, run_id)?
            .ok_or_else(|| DispatchError::UnknownRun(run_id.to_string()))
    }

    /// Aborts the running turn of `session_key` (only if it answers `run_id`, when given);
    /// with `clear_queue`, also drops what waits in the lane. A `run_id` that is only
    /// queued is dropped alone.
    pub async fn abort(
        &self,
        session_key: &str,
        run_id: Option<&str>,
        clear_queue: bool,
    ) -> AbortReport {
        let mut report = AbortReport::default();
        let mut dropped = Vec::new();
        {
            let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = lanes.get_mut(session_key) {
                if let Some((cancel, runs)) = &l.running
                    && run_id.is_none_or(|r| runs.iter().any(|x| x == r))
                {
                    cancel.cancel();
                    report.aborted = runs.clone();
                }
                if clear_queue {
                    dropped.extend(l.queue.drain(..));
                } else if let Some(r) = run_id
                    && let Some(i) = l.queue.iter().position(|e| e.run_id == r)
                {
                    dropped.extend(l.queue.remove(i));
                }
            }
        }
        report.cleared = dropped.iter().map(|e| e.run_id.clone()).collect();
        if !dropped.is_empty() {
            self.drop_entries(Dropped {
                entries: dropped,
                reason: "cleared by chat.abort before it ran".into(),
            })
            .await;
        }
        report
    }

    /// Starts a fresh transcript for `session_key` after aborting its turn and clearing its
    /// queue; returns false if there was no session.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub async fn reset(&self, session_key: &str) -> Result<bool, DispatchError> {
        self.abort(session_key, None, true).await;
        let k = session_key.to_string();
        Ok(self
            .inner
            .store
            .write(move |s, w| Ok(s.reset_session(w, &k)?.is_some()))
            .await?)
    }

    /// The last `limit` committed transcript entries of `session_key`, oldest first.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn history(
        &self,
        session_key: &str,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, DispatchError> {
        let store = &self.inner.store;
        let r = store.read_txn()?;
        Ok(match store.session(&r, session_key)? {
            Some(s) => store.transcript_tail(&r, s.id, limit)?,
            None => Vec::new(),
        })
    }

    /// Every session, sorted by key.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, DispatchError> {
        let store = &self.inner.store;
        Ok(store.sessions(&*store.read_txn()?)?)
    }

    /// The session stored under `key`, if any.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn session(&self, key: &str) -> Result<Option<SessionRecord>, DispatchError> {
        let store = &self.inner.store;
        Ok(store.session(&*store.read_txn()?, key)?)
    }

    /// Lane, run and inbox counts.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn status(&self) -> Result<DispatchStatus, DispatchError> {
        let mut st = DispatchStatus::default();
        {
            let lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            st.lanes = lanes.len();
            st.running = lanes.values().filter(|l| l.running.is_some()).count();
            st.queued = lanes.values().map(|l| l.queue.len()).sum();
        }
        let store = &self.inner.store;
        let r = store.read_txn()?;
        st.inbox = store.inbox_len(&r)?;
        st.outbox = store.delivery_counts(&r)?;
        Ok(st)
    }

    /// The store's directory and data-file size, bytes.
    pub fn store_info(&self) -> (std::path::PathBuf, u64) {
        (
            self.inner.store.path().to_path_buf(),
            self.inner.store.disk_bytes(),
        )
    }

    /// Whether the store answers a read (for `/readyz`).
    ///
    /// # Errors
    /// The store's error, as text.
    pub fn ready(&self) -> Result<(), String> {
        self.inner
            .store
            .read_txn()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Stops accepting messages and stops the running turns without recording an outcome
    /// (the next start runs them again, or reports them interrupted), then waits up to
    /// `grace` for the lanes to wind down.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("lanes still winding down after {grace:?}; exiting anyway");
        }
    }
}

/// `run_` + 24 hex digits from the OS RNG ([`crate::core::random_hex`]).
fn new_run_id() -> String {
    let hex = crate::core::random_hex(12).unwrap_or_else(|_| {
        // The OS RNG failing is not recoverable in any useful way; fall back to time+counter,
        // still unique within this process.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:016x}{:08x}", crate::core::now_ms(), n as u32)
    });
    format!("run_{hex}")
}

#[cfg(test)]
mod client_tools_tests;
#[cfg(test)]
mod inbound_tests;
#[cfg(test)]
mod outbox_tests;
#[cfg(test)]
mod recover_tests;
#[cfg(test)]
mod tests;
#[cfg(all(test, feature = "local-llm"))]
mod tests_local;
