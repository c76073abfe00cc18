//! Following runs: [`Follow`] (one run, for `agent.wait`-like callers and HTTP streams) and
//! [`Subscription`] (every turn of a set of sessions, for WebSocket clients). Both always
//! end a run with its final outcome: when the live broadcast dropped it (a lagging
//! receiver), the outcome is read from the store.

use crate::core::metrics::METRICS;
use crate::core::{AgentEvent, EventKind, now_ms};
use crate::storage::{RunRecord, Store};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// The live state of one accepted run, shared by its lane and its followers.
pub(super) struct RunWatch {
    /// Events of the turn that answers it, for followers. Created by the first follower:
    /// a tokio broadcast allocates all its slots up front (~[`RUN_EVENTS`] × 200 bytes),
    /// and most runs (every WebSocket `chat.send`) are never followed one by one, so
    /// thousands of queued runs must not each hold one.
    events: std::sync::Mutex<Option<broadcast::Sender<AgentEvent>>>,
    /// Its final record, once committed.
    pub done: watch::Sender<Option<RunRecord>>,
}

/// Events of one run a follower may lose before it is told it lagged.
pub(super) const RUN_EVENTS: usize = 1024;

impl RunWatch {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            events: std::sync::Mutex::new(None),
            done: watch::channel(None).0,
        })
    }

    /// A receiver of the run's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| broadcast::channel(RUN_EVENTS).0)
            .subscribe()
    }

    /// Frees the event buffer if nobody follows the run any more.
    fn release_if_unfollowed(&self) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.as_ref().is_some_and(|tx| tx.receiver_count() == 0) {
            *events = None;
        }
    }

    /// Sends `ev` to the run's followers, if it has any.
    pub fn send(&self, ev: &AgentEvent) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = events.as_ref() {
            if tx.receiver_count() == 0 {
                // Every follower left: free the buffer (a new follower makes a new one).
                *events = None;
            } else {
                let _ = tx.send(ev.clone());
            }
        }
    }
}

/// What a [`Follow`] yields.
#[derive(Debug)]
pub enum Followed {
    /// An event of the turn answering the run (the last one is final).
    Event(AgentEvent),
    /// The follower fell behind and `n` events were lost; the final event still comes.
    Lagged(u64),
}

/// A follower of one run: its events as they happen, ending with the final one.
pub struct Follow {
    run_id: String,
    /// The run's live state while it is followed live (to free its event buffer when the
    /// last follower goes).
    watch: Option<Arc<RunWatch>>,
    events: Option<broadcast::Receiver<AgentEvent>>,
    done: Option<watch::Receiver<Option<RunRecord>>>,
    store: Store,
    ended: bool,
}

impl Drop for Follow {
    fn drop(&mut self) {
        // A dropped follower (every WebSocket `chat.send` drops the one `submit` made) must
        // not leave its run holding a buffer while the run waits in a long queue.
        self.events = None;
        if let Some(w) = self.watch.take() {
            w.release_if_unfollowed();
        }
    }
}

/// The final event equivalent to a committed run record.
/// Counts a turn's end in [`METRICS`]`.runs` by the run record's status.
pub(super) fn count_final(kind: &EventKind) {
    match kind {
        EventKind::Finished { .. } => METRICS.runs.inc(&["completed"]),
        EventKind::Failed { status, .. } => METRICS.runs.inc(&[status]),
        _ => {}
    }
}

pub(super) fn final_event(rec: &RunRecord, seq: u64) -> AgentEvent {
    let kind = rec.outcome();
    AgentEvent {
        run_id: rec.turn.clone().unwrap_or_else(|| rec.id.clone()),
        session_key: rec.session_key.clone(),
        seq,
        ts_ms: rec.ended_ms.unwrap_or_else(now_ms),
        kind,
    }
}

impl Follow {
    pub(super) fn live(run_id: String, w: &Arc<RunWatch>, store: Store) -> Self {
        Self {
            run_id,
            watch: Some(w.clone()),
            events: Some(w.subscribe()),
            done: Some(w.done.subscribe()),
            store,
            ended: false,
        }
    }

    pub(super) fn finished(run_id: String, store: Store) -> Self {
        Self {
            run_id,
            watch: None,
            events: None,
            done: None,
            store,
            ended: false,
        }
    }

    /// The run followed.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The next event; `None` after the final one (or when the run is unknown).
    pub async fn next(&mut self) -> Option<Followed> {
        if self.ended {
            return None;
        }
        if let Some(rx) = &mut self.events {
            match rx.recv().await {
                Ok(ev) => {
                    self.ended = ev.kind.is_final();
                    return Some(Followed::Event(ev));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => return Some(Followed::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => self.events = None,
            }
        }
        // The live stream is over without a final event seen: take the committed outcome.
        self.ended = true;
        let from_watch = self.done.as_ref().and_then(|d| d.borrow().clone());
        let rec = match from_watch {
            Some(r) => Some(r),
            None => self
                .store
                .read_txn()
                .ok()
                .and_then(|r| self.store.run(&r, &self.run_id).ok().flatten())
                .filter(|r| r.status.is_final()),
        };
        rec.map(|r| Followed::Event(final_event(&r, u64::MAX)))
    }
}

/// The sessions a [`Subscription`] receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionFilter {
    /// Every session.
    All,
    /// These session keys only.
    Keys(HashSet<String>),
}

impl SessionFilter {
    fn admits(&self, key: &str) -> bool {
        match self {
            Self::All => true,
            Self::Keys(k) => k.contains(key),
        }
    }
}

/// Which sessions a [`Subscription`] receives, changeable from any task (a WebSocket
/// connection's request handlers add the sessions the client sends to).
#[derive(Debug, Clone)]
pub struct FilterHandle(Arc<std::sync::Mutex<SessionFilter>>);

impl FilterHandle {
    fn lock(&self) -> std::sync::MutexGuard<'_, SessionFilter> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the filter.
    pub fn set(&self, filter: SessionFilter) {
        *self.lock() = filter;
    }

    /// Adds one session (no-op under [`SessionFilter::All`]).
    pub fn add(&self, key: &str) {
        if let SessionFilter::Keys(k) = &mut *self.lock() {
            k.insert(key.to_string());
        }
    }

    /// Removes one session (no-op under [`SessionFilter::All`]).
    pub fn remove(&self, key: &str) {
        if let SessionFilter::Keys(k) = &mut *self.lock() {
            k.remove(key);
        }
    }

    /// The filter now.
    pub fn get(&self) -> SessionFilter {
        self.lock().clone()
    }

    fn admits(&self, key: &str) -> bool {
        self.lock().admits(key)
    }
}

/// A stream of the turns of some sessions. Deltas and tool events go through a bounded
/// broadcast that a slow receiver may lag on; final events go through a second one that
/// carries nothing else, so a lagging receiver still sees every outcome.
pub struct Subscription {
    pub(super) filter: FilterHandle,
    pub(super) events: broadcast::Receiver<AgentEvent>,
    pub(super) finals: broadcast::Receiver<AgentEvent>,
}

impl Subscription {
    pub(super) fn new(
        filter: SessionFilter,
        events: broadcast::Receiver<AgentEvent>,
        finals: broadcast::Receiver<AgentEvent>,
    ) -> Self {
        Self {
            filter: FilterHandle(Arc::new(std::sync::Mutex::new(filter))),
            events,
            finals,
        }
    }

    /// The handle that changes which sessions are received.
    pub fn filter(&self) -> FilterHandle {
        self.filter.clone()
    }

    /// The next event of a subscribed session; `Lagged(n)` when `n` non-final events were
    /// lost. `None` when the dispatcher is gone.
    pub async fn next(&mut self) -> Option<Followed> {
        loop {
            let got = tokio::select! {
                biased;
                e = self.events.recv() => e,
                f = self.finals.recv() => f,
            };
            match got {
                Ok(ev) if self.filter.admits(&ev.session_key) => {
                    return Some(Followed::Event(ev));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => return Some(Followed::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
