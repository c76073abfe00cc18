//! The scheduler: cron jobs and the heartbeat, run as agent turns (OpenClaw's cron and
//! heartbeat, <https://docs.openclaw.ai/automation/cron-jobs>,
//! <https://docs.openclaw.ai/gateway/heartbeat>). What is due, when, and how a run changes
//! a job is decided by [`crate::cron`] (pure functions of ms since the epoch); this module
//! keeps the jobs, sleeps until the next one, starts runs through a [`Backend`] (the
//! dispatcher in production, a script in tests) and persists every change.
//!
//! Invariants: a job is saved with `runningAtMs` before its run starts and with its outcome
//! after, so a run cut by a crash is recorded as interrupted at the next start and an
//! overdue job runs once, not once per missed slot. The loop sleeps at most a minute and
//! recomputes from the wall clock (a Pi without a real-time clock jumps at NTP sync).

mod backend;
mod control;
#[cfg(test)]
mod tests;

pub use backend::{DispatchBackend, HeartbeatOptions};
pub use control::SchedulerLink;

use crate::core::now_ms;
use crate::cron::{CronError, CronJob, Disposition, Payload, WakeMode};
use crate::cron::{ErrorKind, HeartbeatReply, RunOutcome, RunResult};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest the loop sleeps before looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A boxed future, as [`Backend`] methods return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a run of a payload ended: the reply text, or the error and whether a retry may help.
pub type RunReply = Result<String, (ErrorKind, String)>;

/// What the scheduler runs on: storage, turns, delivery and the clock.
pub trait Backend: Send + Sync + 'static {
    /// Every stored job.
    fn load(&self) -> Vec<CronJob>;
    /// Stores `job` (replacing the one with its id).
    fn save(&self, job: &CronJob) -> BoxFuture<'_, Result<(), String>>;
    /// Removes job `id`.
    fn delete(&self, id: &str) -> BoxFuture<'_, Result<(), String>>;
    /// Runs `job`'s payload: one agent turn in `cron:<id>`, or a system event in the main
    /// session.
    fn run(&self, job: &CronJob) -> BoxFuture<'_, RunReply>;
    /// Sends an isolated run's reply where `job.delivery` says.
    fn deliver(&self, job: &CronJob, text: &str) -> BoxFuture<'_, ()>;
    /// The heartbeat's settings, `None` when it is off.
    fn heartbeat(&self) -> Option<HeartbeatOptions>;
    /// One heartbeat turn in the main session with the system events queued for it.
    /// `Ok(None)`: skipped (HEARTBEAT.md is effectively empty and nothing is queued).
    fn beat(&self, events: Vec<String>) -> BoxFuture<'_, Result<Option<String>, String>>;
    /// Sends a heartbeat's alert to its target.
    fn alert(&self, text: &str) -> BoxFuture<'_, ()>;
    /// Now, ms since the epoch.
    fn now_ms(&self) -> u64 {
        now_ms()
    }
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The job does not parse or its parts disagree.
    #[error("{0}")]
    Invalid(String),
    /// No job has that id.
    #[error("no cron job {0:?}")]
    Unknown(String),
    /// Storing failed.
    #[error("store: {0}")]
    Store(String),
}

impl From<CronError> for SchedulerError {
    fn from(e: CronError) -> Self {
        Self::Invalid(e.to_string())
    }
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<String, CronJob>,
    /// System events waiting for the next heartbeat.
    events: Vec<String>,
    last_beat_ms: Option<u64>,
    beat_now: bool,
    beating: bool,
}

struct Shared<B: Backend> {
    backend: B,
    state: Mutex<State>,
    wake: Notify,
}

/// Cheap cloneable handle to the scheduler.
pub struct Scheduler<B: Backend> {
    shared: Arc<Shared<B>>,
}

impl<B: Backend> Clone for Scheduler<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<B: Backend> Scheduler<B> {
    /// Loads the jobs; a job found running died with the last process and is recorded as
    /// interrupted (a transient error: it runs again by the retry rules).
    pub async fn open(backend: B) -> Self {
        let now = backend.now_ms();
        let mut jobs = BTreeMap::new();
        for mut job in backend.load() {
            if let Some(started) = job.state.running_at_ms {
                let outcome = RunOutcome {
                    started_at_ms: started,
                    ended_at_ms: now,
                    result: RunResult::Error {
                        kind: ErrorKind::Transient,
                        message: "interrupted: the gateway stopped during the run".into(),
                    },
                };
                if job.after_run(&outcome) == Disposition::Delete {
                    let _ = backend.delete(&job.id).await;
                    continue;
                }
                if let Err(e) = backend.save(&job).await {
                    tracing::error!(job = %job.id, "cannot record an interrupted cron run: {e}");
                }
            }
            jobs.insert(job.id.clone(), job);
        }
        Self {
            shared: Arc::new(Shared {
                backend,
                state: Mutex::new(State {
                    jobs,
                    ..State::default()
                }),
                wake: Notify::new(),
            }),
        }
    }

    /// Runs the loop until `shutdown`; runs in flight finish on their own tasks.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let next = self.tick();
            let now = self.shared.backend.now_ms();
            let wait = next
                .map(|n| Duration::from_millis(n.saturating_sub(now)))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.shared.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts what is due now; returns when the next thing is due (ms since the epoch).
    fn tick(&self) -> Option<u64> {
        let now = self.shared.backend.now_ms();
        let mut st = lock(&self.shared.state);
        let mut next: Option<u64> = None;
        let mut start = Vec::new();
        for job in st.jobs.values_mut() {
            if job.state.running_at_ms.is_some() {
                continue;
            }
            let due = job.due(now);
            job.state.next_run_at_ms = due.next_ms;
            if due.run_now {
                job.state.running_at_ms = Some(now);
                start.push(job.clone());
            } else if let Some(n) = due.next_ms {
                next = Some(next.map_or(n, |m| m.min(n)));
            }
        }
        if let Some(h) = self.shared.backend.heartbeat()
            && !st.beating
        {
            // The first beat comes one interval after start, not at once.
            let last = *st.last_beat_ms.get_or_insert(now);
            let at = if st.beat_now {
                Some(now)
            } else {
                crate::cron::next_heartbeat(Some(last), h.every_ms, h.active.as_ref(), now)
            };
            match at {
                Some(at) if at <= now => {
                    st.beating = true;
                    st.beat_now = false;
                    let events = std::mem::take(&mut st.events);
                    let this = self.clone();
                    tokio::spawn(async move { this.beat(h, events).await });
                }
                Some(at) => next = Some(next.map_or(at, |m| m.min(at))),
                None => {}
            }
        }
        drop(st);
        for job in start {
            let this = self.clone();
            tokio::spawn(async move { this.fire(job).await });
        }
        next
    }

    /// One run of `job` (already marked running): saved before, run, recorded after.
    async fn fire(&self, mut job: CronJob) {
        let b = &self.shared.backend;
        if let Err(e) = b.save(&job).await {
            tracing::error!(job = %job.id, "cannot start a cron run: {e}");
        }
        let started = b.now_ms();
        let reply = b.run(&job).await;
        let result = match &reply {
            Ok(_) => RunResult::Ok,
            Err((kind, message)) => RunResult::Error {
                kind: *kind,
                message: message.clone(),
            },
        };
        if let (Ok(text), Payload::AgentTurn { .. }) = (&reply, &job.payload)
            && !text.trim().is_empty()
            && text.trim() != "NO_REPLY"
        {
            b.deliver(&job, text).await;
        }
        if let Payload::SystemEvent { .. } = job.payload
            && job.wake_mode == WakeMode::Now
        {
            self.wake_heartbeat();
        }
        let outcome = RunOutcome {
            started_at_ms: started,
            ended_at_ms: b.now_ms(),
            result,
        };
        // Another task may have edited or removed the job meanwhile: the stored one wins,
        // with this run's outcome applied.
        let current = lock(&self.shared.state).jobs.get(&job.id).cloned();
        let Some(current) = current else { return };
        let (edited_schedule, prev_enabled) = (current.schedule != job.schedule, current.enabled);
        job = current;
        let disposition = job.after_run(&outcome);
        if edited_schedule {
            job.state.next_run_at_ms = None;
            job.enabled = prev_enabled;
        }
        let stored = if disposition == Disposition::Delete {
            lock(&self.shared.state).jobs.remove(&job.id);
            b.delete(&job.id).await
        } else {
            lock(&self.shared.state)
                .jobs
                .insert(job.id.clone(), job.clone());
            b.save(&job).await
        };
        if let Err(e) = stored {
            tracing::error!(job = %job.id, "cannot record a cron run: {e}");
        }
        self.shared.wake.notify_one();
    }

    async fn beat(&self, h: HeartbeatOptions, events: Vec<String>) {
        let b = &self.shared.backend;
        match b.beat(events.clone()).await {
            Ok(Some(reply)) => match crate::cron::heartbeat_reply(&reply, h.ack_max_chars) {
                HeartbeatReply::Ack => tracing::debug!("heartbeat: nothing needs attention"),
                HeartbeatReply::Alert(text) => b.alert(&text).await,
            },
            Ok(None) => tracing::debug!("heartbeat skipped: HEARTBEAT.md is empty"),
            Err(e) => {
                tracing::warn!("heartbeat failed: {e}");
                // The events were not seen; keep them for the next beat.
                lock(&self.shared.state).events.splice(0..0, events);
            }
        }
        let mut st = lock(&self.shared.state);
        st.beating = false;
        st.last_beat_ms = Some(b.now_ms());
        drop(st);
        self.shared.wake.notify_one();
    }

    /// Runs the heartbeat at the next tick (`/hooks/wake`, a `systemEvent` with wake mode
    /// `now`).
    pub fn wake_heartbeat(&self) {
        lock(&self.shared.state).beat_now = true;
        self.shared.wake.notify_one();
    }

    /// Queues `text` as a system event for the heartbeat; runs it now when `now`.
    pub fn system_event(&self, text: &str, now: bool) {
        lock(&self.shared.state).events.push(text.to_string());
        if now {
            self.wake_heartbeat();
        }
    }

    /// Whether a heartbeat is configured.
    pub fn has_heartbeat(&self) -> bool {
        self.shared.backend.heartbeat().is_some()
    }

    /// Every job, by id.
    pub fn list(&self) -> Vec<CronJob> {
        lock(&self.shared.state).jobs.values().cloned().collect()
    }

    /// Adds a job from OpenClaw's JSON shape (`id` and `createdAtMs` are filled in when
    /// missing); returns it as stored.
    ///
    /// # Errors
    /// [`SchedulerError::Invalid`] naming the field, or [`SchedulerError::Store`].
    pub async fn add(&self, mut v: serde_json::Value) -> Result<CronJob, SchedulerError> {
        let now = self.shared.backend.now_ms();
        if let Some(o) = v.as_object_mut() {
            o.entry("id")
                .or_insert_with(|| crate::tool::exec::short_id(6).into());
            o.entry("createdAtMs").or_insert(now.into());
            o.insert("updatedAtMs".into(), now.into());
        }
        let mut job: CronJob = serde_path_to_error::deserialize(&v)
            .map_err(|e| SchedulerError::Invalid(format!("{}: {}", e.path(), e.inner())))?;
        job.check()?;
        job.state = Default::default();
        if let crate::cron::Schedule::Every { anchor_ms, .. } = &mut job.schedule {
            anchor_ms.get_or_insert(job.created_at_ms);
        }
        if lock(&self.shared.state).jobs.contains_key(&job.id) {
            return Err(SchedulerError::Invalid(format!(
                "a job {:?} exists already",
                job.id
            )));
        }
        self.keep(job).await
    }

    /// Changes job `id` by `patch` (top-level fields of OpenClaw's job JSON: `name`,
    /// `schedule`, `payload`, `delivery`, `enabled`, …; `id`, `createdAtMs` and `state` stay);
    /// a changed schedule is planned afresh. Returns the job as stored.
    ///
    /// # Errors
    /// [`SchedulerError::Unknown`], [`SchedulerError::Invalid`] naming the field, or
    /// [`SchedulerError::Store`].
    pub async fn update(
        &self,
        id: &str,
        patch: serde_json::Value,
    ) -> Result<CronJob, SchedulerError> {
        let Some(fields) = patch.as_object() else {
            return Err(SchedulerError::Invalid("patch: must be an object".into()));
        };
        let old = lock(&self.shared.state)
            .jobs
            .get(id)
            .cloned()
            .ok_or_else(|| SchedulerError::Unknown(id.to_string()))?;
        let mut v =
            serde_json::to_value(&old).map_err(|e| SchedulerError::Invalid(e.to_string()))?;
        for (k, val) in fields {
            if !matches!(k.as_str(), "id" | "createdAtMs" | "state")
                && let Some(o) = v.as_object_mut()
            {
                o.insert(k.clone(), val.clone());
            }
        }
        v["updatedAtMs"] = self.shared.backend.now_ms().into();
        let mut job: CronJob = serde_path_to_error::deserialize(&v)
            .map_err(|e| SchedulerError::Invalid(format!("{}: {}", e.path(), e.inner())))?;
        job.check()?;
        if job.schedule != old.schedule {
            job.state.next_run_at_ms = None;
        }
        self.keep(job).await
    }

    /// Stores `job`, keeps it, and wakes the loop to plan it; returns it.
    async fn keep(&self, job: CronJob) -> Result<CronJob, SchedulerError> {
        self.shared
            .backend
            .save(&job)
            .await
            .map_err(SchedulerError::Store)?;
        lock(&self.shared.state)
            .jobs
            .insert(job.id.clone(), job.clone());
        self.shared.wake.notify_one();
        Ok(job)
    }

    /// Removes job `id`.
    ///
    /// # Errors
    /// [`SchedulerError::Unknown`] or [`SchedulerError::Store`].
    pub async fn remove(&self, id: &str) -> Result<(), SchedulerError> {
        if lock(&self.shared.state).jobs.remove(id).is_none() {
            return Err(SchedulerError::Unknown(id.to_string()));
        }
        self.shared
            .backend
            .delete(id)
            .await
            .map_err(SchedulerError::Store)
    }

    /// Makes job `id` due now (it runs at once unless it is running already).
    ///
    /// # Errors
    /// [`SchedulerError::Unknown`] or [`SchedulerError::Store`].
    pub async fn run_now(&self, id: &str) -> Result<(), SchedulerError> {
        let job = {
            let mut st = lock(&self.shared.state);
            let job = st
                .jobs
                .get_mut(id)
                .ok_or_else(|| SchedulerError::Unknown(id.to_string()))?;
            job.state.next_run_at_ms = Some(self.shared.backend.now_ms());
            job.enabled = true;
            job.clone()
        };
        self.shared
            .backend
            .save(&job)
            .await
            .map_err(SchedulerError::Store)?;
        self.shared.wake.notify_one();
        Ok(())
    }
}
