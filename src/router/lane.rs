//! Lanes: one bounded queue per lane key (a session key, or a one-off key of a stateless
//! request), created on demand and dropped when idle, drained by one task that runs one
//! turn at a time under the global semaphore. The queue modes decide what a message does
//! when it arrives while a turn runs (`core::queue`).

use super::Inner;
use super::follow::{RunWatch, count_final};
use crate::agent::{Turn, TurnEnd, TurnHooks};
use crate::core::metrics::METRICS;
use crate::core::{AgentEvent, DropPolicy, EventKind, QueueMode, QueueSettings, now_ms};
use crate::storage::{InboxEntry, RunRecord};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Characters of a dropped message kept in the `summarize` note.
const NOTE_CHARS: usize = 80;

/// A turn recovered after a crash, to run again before anything queued.
pub(super) struct Resume {
    pub entries: Vec<InboxEntry>,
}

/// The state of one lane.
pub(super) struct Lane {
    pub settings: QueueSettings,
    pub queue: VecDeque<InboxEntry>,
    pub resume: VecDeque<Resume>,
    /// The running turn's abort switch and its runs.
    pub running: Option<(CancellationToken, Vec<String>)>,
    /// One line per message a full queue dropped under `summarize`, for the next turn.
    pub dropped_notes: Vec<String>,
    pub last_arrival: Instant,
    /// Whether a task drains this lane.
    pub draining: bool,
}

/// Why entries leave a lane without a turn.
pub(super) struct Dropped {
    pub entries: Vec<InboxEntry>,
    pub reason: String,
}

impl Lane {
    pub fn new(settings: QueueSettings) -> Self {
        Self {
            settings,
            queue: VecDeque::new(),
            resume: VecDeque::new(),
            running: None,
            dropped_notes: Vec::new(),
            last_arrival: Instant::now(),
            draining: false,
        }
    }

    /// Whether a message would be refused by a full queue (`drop = new`).
    pub fn refuses(&self) -> bool {
        self.settings.drop == DropPolicy::New && self.queue.len() >= self.settings.cap
    }

    /// Enqueues `entry` under the lane's mode; returns what it pushes out (interrupt
    /// supersedes what waited, a full queue drops its oldest).
    pub fn push(&mut self, entry: InboxEntry) -> Option<Dropped> {
        self.last_arrival = Instant::now();
        let mut out = None;
        if self.settings.mode == QueueMode::Interrupt && self.running.is_some() {
            if let Some((cancel, _)) = &self.running {
                cancel.cancel();
            }
            if !self.queue.is_empty() {
                out = Some(Dropped {
                    entries: self.queue.drain(..).collect(),
                    reason: "superseded by a newer message (queue mode interrupt)".into(),
                });
            }
        } else if self.queue.len() >= self.settings.cap {
            let n = self.queue.len() + 1 - self.settings.cap;
            let old: Vec<InboxEntry> = self.queue.drain(..n).collect();
            if self.settings.drop == DropPolicy::Summarize {
                for e in &old {
                    let head: String = e.message.text.chars().take(NOTE_CHARS).collect();
                    self.dropped_notes.push(format!("- {head}"));
                }
            }
            out = Some(Dropped {
                entries: old,
                reason: format!(
                    "dropped: the session's queue was full (cap {}, drop {:?})",
                    self.settings.cap, self.settings.drop
                )
                .to_lowercase(),
            });
        }
        self.queue.push_back(entry);
        out
    }

    /// The next batch to run: a recovered turn first; else under `collect` every waiting
    /// message, otherwise the oldest one.
    fn next_batch(&mut self) -> Option<(Vec<InboxEntry>, bool, Option<String>)> {
        if let Some(r) = self.resume.pop_front() {
            return Some((r.entries, true, None));
        }
        if self.queue.is_empty() {
            return None;
        }
        let batch: Vec<InboxEntry> = match self.settings.mode {
            QueueMode::Collect => self.queue.drain(..).collect(),
            _ => self.queue.pop_front().into_iter().collect(),
        };
        let note = (!self.dropped_notes.is_empty()).then(|| {
            let lines = std::mem::take(&mut self.dropped_notes);
            format!(
                "[{} earlier queued message(s) were dropped because the queue was full:\n{}]",
                lines.len(),
                lines.join("\n")
            )
        });
        Some((batch, false, note))
    }
}

/// The hooks a turn reports through: events go to the dispatcher's broadcasts and to the
/// followers of every run the turn answers; steering drains the lane in `steer` mode.
struct Hooks {
    inner: Arc<Inner>,
    lane: String,
    run_id: String,
    session_key: String,
    seq: AtomicU64,
    watches: Mutex<Vec<Arc<RunWatch>>>,
    /// When the turn started, ms since the epoch (for the latency metric).
    started_ms: u64,
}

impl TurnHooks for Hooks {
    fn emit(&self, kind: EventKind) {
        if let EventKind::Steered { run_ids } = &kind {
            let mut w = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            w.extend(self.inner.watches_of(run_ids));
        }
        let ev = AgentEvent {
            run_id: self.run_id.clone(),
            session_key: self.session_key.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            ts_ms: now_ms(),
            kind,
        };
        match &ev.kind {
            EventKind::Failover(f) => METRICS.failovers.inc(&[&f.reason]),
            k if k.is_final() => {
                count_final(k);
                METRICS
                    .turn_latency
                    .observe_ms(ev.ts_ms.saturating_sub(self.started_ms));
            }
            _ => {}
        }
        for w in self
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            w.send(&ev);
        }
        let global = if ev.kind.is_final() {
            &self.inner.finals
        } else {
            &self.inner.events
        };
        let _ = global.send(ev);
    }

    fn steer(&self) -> Vec<InboxEntry> {
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        match lanes.get_mut(&self.lane) {
            Some(l) if l.settings.mode == QueueMode::Steer && !l.queue.is_empty() => {
                let taken: Vec<InboxEntry> = l.queue.drain(..).collect();
                if let Some((_, runs)) = &mut l.running {
                    runs.extend(taken.iter().map(|e| e.run_id.clone()));
                }
                taken
            }
            _ => Vec::new(),
        }
    }
}

/// Drains lane `key` until it is empty (then removes it) or the gateway shuts down.
pub(super) async fn drain(inner: Arc<Inner>, key: String) {
    loop {
        let next = {
            let mut lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            let Some(lane) = lanes.get_mut(&key) else {
                return;
            };
            match lane.next_batch() {
                Some(b) => {
                    let cancel = inner.shutdown_child();
                    lane.running = Some((
                        cancel.clone(),
                        b.0.iter().map(|e| e.run_id.clone()).collect(),
                    ));
                    Some((b, cancel))
                }
                None => {
                    lanes.remove(&key);
                    None
                }
            }
        };
        let Some(((entries, resume, note), cancel)) = next else {
            return;
        };
        let permit = tokio::select! {
            p = inner.permits.clone().acquire_owned() => p.ok(),
            _ = inner.shutdown.cancelled() => None,
        };
        if permit.is_none() || inner.shutdown.is_cancelled() {
            return;
        }
        let run_id = entries[0].run_id.clone();
        let session_key = entries[0].session_key.clone();
        let run_ids: Vec<String> = entries.iter().map(|e| e.run_id.clone()).collect();
        let hooks = Arc::new(Hooks {
            inner: inner.clone(),
            lane: key.clone(),
            run_id: run_id.clone(),
            session_key: session_key.clone(),
            seq: AtomicU64::new(0),
            watches: Mutex::new(inner.watches_of(&run_ids)),
            started_ms: now_ms(),
        });
        let turn = Turn {
            run_id,
            session_key,
            entries,
            resume,
            note,
            cancel,
            shutdown: inner.shutdown.clone(),
        };
        let agent = inner.agent_for(&key);
        let end = agent.run_turn(turn, hooks.clone()).await;
        drop(permit);
        let answered = {
            let mut lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes
                .get_mut(&key)
                .and_then(|l| l.running.take())
                .map(|(_, runs)| runs)
                .unwrap_or(run_ids)
        };
        match end {
            TurnEnd::Suspended => return,
            TurnEnd::Done(rec) => {
                inner.settle(&answered, &rec);
                inner.outbox.wake();
            }
        }
        debounce(&inner, &key).await;
    }
}

/// Under `collect`, waits until the lane has been quiet for its debounce before the
/// follow-up turn takes what arrived.
async fn debounce(inner: &Inner, key: &str) {
    loop {
        let until = {
            let lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            match lanes.get(key) {
                Some(l) if l.settings.mode == QueueMode::Collect && !l.queue.is_empty() => {
                    l.last_arrival + Duration::from_millis(l.settings.debounce_ms)
                }
                _ => return,
            }
        };
        if Instant::now() >= until {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = inner.shutdown.cancelled() => return,
        }
    }
}

/// The record of a merged or steered run, as its turn's outcome makes it.
pub(super) fn merged_record(id: &str, turn: &RunRecord) -> RunRecord {
    let mut r = turn.clone();
    if r.id != id {
        r.turn = Some(r.id.clone());
        r.id = id.to_string();
    }
    r
}
