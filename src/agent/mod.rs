//! The agent: accepts messages for sessions, runs the agent loop (context assembly → model
//! chain → tool calls → … → final answer) and publishes run events. Never touches sockets;
//! must not import `gateway` or `cli`.
//!
//! Architecture invariants held here:
//! - A message is acknowledged (its run id returned) only after the user message, the run
//!   record and the idempotency record are committed in one LMDB write transaction.
//! - A final answer is announced (lifecycle `end`) only after it is committed.
//! - Runs of one session are serial (a lane per session key); a semaphore caps all runs.
//! - Every run has a step limit, a deadline and an abort switch.

mod compact;
pub mod context;
mod run;

use crate::core::{ChatMessage, Role, SessionKey, now_ms};
use crate::provider::failover::{CallParams, Chain};
use crate::storage::{RunRecord, RunStatus, Store, StoreError, TranscriptEntry};
use crate::tool::Registry;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long an idempotency key is remembered, ms (24 h).
pub const DEDUPE_TTL_MS: u64 = 24 * 3600 * 1000;
/// Capacity of the event broadcast; slower subscribers lose the oldest events (they still
/// get each run's final text in its lifecycle `end`).
pub const EVENT_CAPACITY: usize = 1024;

/// An agent failure seen by callers of [`Agent`].
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is malformed (bad session key, empty message).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No run with that id.
    #[error("unknown run {0}")]
    UnknownRun(String),
    /// The gateway is shutting down and accepts no new runs.
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

/// Settings of the agent loop (from `[agent]`).
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Workspace folder holding the bootstrap files.
    pub workspace: PathBuf,
    /// Model calls per run.
    pub max_steps: u32,
    /// Whole-run deadline.
    pub run_timeout: Duration,
    /// Concurrent runs across sessions.
    pub max_concurrent_runs: usize,
    /// Per-call parameters (tools are filled from the registry).
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
}

/// Which stream of a run an event belongs to (OpenClaw's `agent` event streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Run start, end and error.
    Lifecycle,
    /// Assistant text deltas.
    Assistant,
    /// Tool call start and end.
    Tool,
    /// A model or profile failed and the chain moved on.
    Failover,
    /// The session's older turns were summarised (`start`, then `end`).
    Compaction,
}

/// One event of a run, broadcast to subscribers (the gateway forwards them as `agent`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentEvent {
    /// The run.
    pub run_id: String,
    /// Its session key.
    pub session_key: String,
    /// Per-run sequence number, from 0.
    pub seq: u64,
    /// Which stream.
    pub stream: Stream,
    /// Emission time, ms since the epoch.
    pub ts: u64,
    /// Stream-specific payload.
    pub data: serde_json::Value,
}

/// A message to run the agent on.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Session to append to. With `stateless_history` set, nothing is kept in a transcript.
    pub session_key: SessionKey,
    /// The user's text.
    pub message: String,
    /// Idempotency key: a repeat returns the first run id and does not run again.
    pub idempotency_key: Option<String>,
    /// For stateless HTTP requests: the prior conversation supplied by the client; the
    /// run's turns are then not written to any transcript (the run record still is).
    pub stateless_history: Option<Vec<ChatMessage>>,
}

/// The acknowledgement of a [`SendRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The run id.
    pub run_id: String,
    /// Session key of the run.
    pub session_key: String,
    /// True when this was a repeat of an earlier idempotency key.
    #[serde(default)]
    pub deduped: bool,
}

struct ActiveRun {
    session_key: String,
    cancel: CancellationToken,
    done: watch::Receiver<Option<RunRecord>>,
}

struct Inner {
    store: Store,
    chain: Chain,
    tools: Registry,
    opts: AgentOptions,
    events: broadcast::Sender<AgentEvent>,
    lanes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    permits: Arc<Semaphore>,
    active: Mutex<HashMap<String, ActiveRun>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// Cheap cloneable handle to the agent runtime.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl Agent {
    /// Builds the agent. Call [`Agent::recover`] once before accepting messages.
    pub fn new(store: Store, chain: Chain, tools: Registry, mut opts: AgentOptions) -> Self {
        opts.call.tools = tools.specs();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let permits = Arc::new(Semaphore::new(opts.max_concurrent_runs.max(1)));
        Self {
            inner: Arc::new(Inner {
                store,
                chain,
                tools,
                opts,
                events,
                lanes: Mutex::default(),
                permits,
                active: Mutex::default(),
                tracker: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// Marks runs left `running` by a previous process as `interrupted` (the process died
    /// mid-run); their partial output was never committed. Returns their ids.
    ///
    /// # Errors
    /// [`AgentError::Store`].
    pub fn recover(&self) -> Result<Vec<String>, AgentError> {
        let store = &self.inner.store;
        let ids = store.running_runs(&*store.read_txn()?)?;
        if ids.is_empty() {
            return Ok(ids);
        }
        let mut w = store.write_txn()?;
        for id in &ids {
            if let Some(mut rec) = store.run(&w, id)? {
                rec.status = RunStatus::Interrupted;
                rec.ended_ms = Some(now_ms());
                rec.error = Some("the gateway stopped before this run finished (crash or power loss); its partial output was discarded".into());
                store.put_run(&mut w, &rec)?;
            }
        }
        store.commit(w)?;
        tracing::warn!(
            count = ids.len(),
            "marked runs interrupted by the previous shutdown"
        );
        Ok(ids)
    }

    /// Subscribes to every run's events.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.inner.events.subscribe()
    }

    /// The model chain (for `models.list` and `status`).
    pub fn chain(&self) -> &Chain {
        &self.inner.chain
    }

    /// The store (for read-only queries by the gateway).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Number of runs executing or waiting for a lane.
    pub fn active_runs(&self) -> usize {
        self.inner.active.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Accepts a message: commits it with a new run record (and the idempotency record) in
    /// one transaction, then starts the run in the background. A repeated idempotency key
    /// returns the first acknowledgement with `deduped = true` and starts nothing.
    ///
    /// # Errors
    /// [`AgentError::Invalid`] for an empty message, [`AgentError::ShuttingDown`],
    /// [`AgentError::Store`] (then nothing was acknowledged).
    pub fn send(&self, req: SendRequest) -> Result<Accepted, AgentError> {
        if req.message.trim().is_empty() {
            return Err(AgentError::Invalid("message is empty".into()));
        }
        if self.inner.shutdown.is_cancelled() {
            return Err(AgentError::ShuttingDown);
        }
        let store = &self.inner.store;
        let key = req.session_key.as_str().to_string();
        let dedupe_key = req
            .idempotency_key
            .as_ref()
            .map(|k| format!("send:{key}:{k}"));
        let mut w = store.write_txn()?;
        if let Some(dk) = &dedupe_key
            && let Some(first) = store.dedupe_get(&w, dk)?
        {
            let mut acc: Accepted = serde_json::from_value(first).map_err(|e| {
                AgentError::Invalid(format!("stored idempotency record is unreadable: {e}"))
            })?;
            acc.deduped = true;
            return Ok(acc);
        }
        let run_id = new_run_id();
        let user = ChatMessage::text(Role::User, req.message.clone());
        let session_id = match &req.stateless_history {
            Some(_) => 0,
            None => {
                let mut session = store.session_or_create(&mut w, &key)?;
                store.append(&mut w, &mut session, Some(&run_id), user.clone())?;
                session.id
            }
        };
        let record = RunRecord {
            id: run_id.clone(),
            session_key: key.clone(),
            session_id,
            status: RunStatus::Running,
            started_ms: now_ms(),
            ended_ms: None,
            model: None,
            profile: None,
            reply: None,
            error: None,
            events: Vec::new(),
            usage: Default::default(),
        };
        store.put_run(&mut w, &record)?;
        let acc = Accepted {
            run_id: run_id.clone(),
            session_key: key.clone(),
            deduped: false,
        };
        if let Some(dk) = &dedupe_key {
            let v = serde_json::to_value(&acc).map_err(|e| AgentError::Invalid(e.to_string()))?;
            store.dedupe_put(&mut w, dk, &v, DEDUPE_TTL_MS)?;
        }
        store.commit(w)?;

        let cancel = self.inner.shutdown.child_token();
        let (done_tx, done_rx) = watch::channel(None);
        if let Ok(mut a) = self.inner.active.lock() {
            a.insert(
                run_id.clone(),
                ActiveRun {
                    session_key: key,
                    cancel: cancel.clone(),
                    done: done_rx,
                },
            );
        }
        let stateless = req.stateless_history.map(|mut h| {
            h.push(user);
            h
        });
        let agent = self.clone();
        self.inner.tracker.spawn(async move {
            let rec = run::execute(&agent, record, stateless, cancel).await;
            if let Ok(mut a) = agent.inner.active.lock() {
                a.remove(&rec.id);
            }
            let _ = done_tx.send(Some(rec));
        });
        Ok(acc)
    }

    /// Waits up to `timeout` for run `run_id` to end and returns its record (still
    /// `running` if the timeout passed first).
    ///
    /// # Errors
    /// [`AgentError::UnknownRun`], [`AgentError::Store`].
    pub async fn wait(&self, run_id: &str, timeout: Duration) -> Result<RunRecord, AgentError> {
        let rx = self
            .inner
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(run_id).map(|r| r.done.clone()));
        if let Some(mut rx) = rx {
            let done = tokio::time::timeout(timeout, rx.wait_for(|v| v.is_some())).await;
            if let Ok(Ok(v)) = done
                && let Some(rec) = v.clone()
            {
                return Ok(rec);
            }
        }
        let store = &self.inner.store;
        store
            .run(&*store.read_txn()?, run_id)?
            .ok_or_else(|| AgentError::UnknownRun(run_id.to_string()))
    }

    /// Aborts the active runs of `session_key` (only `run_id` if given). Returns the ids
    /// signalled; each ends as `aborted`.
    pub fn abort(&self, session_key: &str, run_id: Option<&str>) -> Vec<String> {
        let Ok(a) = self.inner.active.lock() else {
            return Vec::new();
        };
        a.iter()
            .filter(|(id, r)| {
                r.session_key == session_key && run_id.is_none_or(|want| want == id.as_str())
            })
            .map(|(id, r)| {
                r.cancel.cancel();
                id.clone()
            })
            .collect()
    }

    /// The last `limit` committed transcript entries of `session_key`, oldest first.
    ///
    /// # Errors
    /// [`AgentError::Store`].
    pub fn history(
        &self,
        session_key: &str,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>, AgentError> {
        let store = &self.inner.store;
        let r = store.read_txn()?;
        Ok(match store.session(&r, session_key)? {
            Some(s) => store.transcript_tail(&r, s.id, limit)?,
            None => Vec::new(),
        })
    }

    /// Starts a fresh transcript for `session_key`; returns false if there was no session.
    ///
    /// # Errors
    /// [`AgentError::Store`].
    pub fn reset(&self, session_key: &str) -> Result<bool, AgentError> {
        self.abort(session_key, None);
        let store = &self.inner.store;
        let mut w = store.write_txn()?;
        let existed = store.reset_session(&mut w, session_key)?.is_some();
        store.commit(w)?;
        Ok(existed)
    }

    /// Stops accepting runs, aborts those in flight (each is recorded as `aborted`) and
    /// waits up to `grace` for them to finish.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tracker.close();
        if tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("runs still finishing after {grace:?}; exiting anyway");
        }
    }

    fn lane(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes.entry(key.to_string()).or_default().clone()
    }
}

/// `run_` + 24 hex digits from the OS RNG ([`crate::core::random_hex`]).
fn new_run_id() -> String {
    let hex = crate::core::random_hex(12).unwrap_or_else(|_| {
        // The OS RNG failing is not recoverable in any useful way; fall back to time+counter,
        // still unique within this process.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:016x}{:08x}", now_ms(), n as u32)
    });
    format!("run_{hex}")
}
