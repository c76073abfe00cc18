//! Background jobs: commands that outlived their `exec` call's `yieldMs`, or were started
//! with `background: true`, kept per agent until `process remove` (or a kill, their
//! timeout, or the gateway's shutdown) ends them. A watcher thread per job enforces its
//! timeout.

use super::scratch::Scratch;
use crate::core::now_ms;
use crate::sandbox::{Child, Cursor, Exit, Output, Wait};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Jobs kept at most per agent; starting one more removes the oldest finished one, or is
/// refused when all are running.
pub const MAX_JOBS: usize = 16;

/// One background job.
pub(super) struct Job {
    pub id: String,
    pub agent: String,
    pub command: String,
    pub started_ms: u64,
    pub child: Arc<Child>,
    /// Its tmp directory and marker (removed with the job).
    _scratch: Scratch,
    pub cursor: Mutex<Cursor>,
    pub exit: Arc<Mutex<Option<Exit>>>,
    pub timed_out: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Job {
    /// `running`, `completed` (exit 0), `failed` (other exits) or `timed out`.
    pub fn status(&self) -> String {
        if self.timed_out.load(Ordering::Relaxed) {
            return "timed out (killed)".into();
        }
        match *lock(&self.exit) {
            None => "running".into(),
            Some(e) if e.success() => format!("completed ({e})"),
            Some(e) => format!("failed ({e})"),
        }
    }

    /// Output since the last poll.
    pub fn poll(&self) -> Output {
        self.child.read_new(&mut lock(&self.cursor))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.child.kill();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The background jobs of every agent, shared by its `exec` and `process` tools.
#[derive(Clone, Default)]
pub struct Jobs {
    jobs: Arc<Mutex<BTreeMap<String, Arc<Job>>>>,
}

impl Jobs {
    /// No jobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `child` (already spawned, running `command` for `agent`) as a job killed
    /// after `timeout`; returns its id.
    ///
    /// # Errors
    /// When the agent already has [`MAX_JOBS`] jobs running (the child is killed).
    pub(super) fn adopt(
        &self,
        agent: &str,
        command: &str,
        child: Child,
        cursor: Cursor,
        scratch: Scratch,
        timeout: Duration,
    ) -> Result<String, String> {
        let mut jobs = lock(&self.jobs);
        let mine: Vec<&Arc<Job>> = jobs.values().filter(|j| j.agent == agent).collect();
        if mine.len() >= MAX_JOBS {
            match mine
                .iter()
                .find(|j| lock(&j.exit).is_some())
                .map(|j| j.id.clone())
            {
                Some(old) => {
                    jobs.remove(&old);
                }
                None => {
                    child.kill();
                    return Err(format!(
                        "{MAX_JOBS} background jobs are running already; kill or remove one with the process tool"
                    ));
                }
            }
        }
        let id = format!("job_{}", super::short_id(4));
        let child = Arc::new(child);
        let (exit, timed_out, stop) = (Arc::default(), Arc::default(), Arc::default());
        let job = Arc::new(Job {
            id: id.clone(),
            agent: agent.to_string(),
            command: command.to_string(),
            started_ms: now_ms(),
            child: child.clone(),
            _scratch: scratch,
            cursor: Mutex::new(cursor),
            exit: Arc::clone(&exit),
            timed_out: Arc::clone(&timed_out),
            stop: Arc::clone(&stop),
        });
        jobs.insert(id.clone(), job);
        std::thread::Builder::new()
            .name(format!("hearth-{id}"))
            .spawn(move || {
                let stopped = || stop.load(Ordering::Relaxed);
                match child.wait(timeout, &stopped) {
                    Wait::Exited(e) => *lock(&exit) = Some(e),
                    Wait::TimedOut => {
                        timed_out.store(true, Ordering::Relaxed);
                        child.kill();
                    }
                    Wait::Cancelled => {}
                }
            })
            .map_err(|e| format!("cannot start the job's watcher: {e}"))?;
        Ok(id)
    }

    /// Agent `agent`'s job `id`.
    pub(super) fn get(&self, agent: &str, id: &str) -> Option<Arc<Job>> {
        lock(&self.jobs)
            .get(id)
            .filter(|j| j.agent == agent)
            .cloned()
    }

    /// Agent `agent`'s jobs, oldest first.
    pub(super) fn list(&self, agent: &str) -> Vec<Arc<Job>> {
        lock(&self.jobs)
            .values()
            .filter(|j| j.agent == agent)
            .cloned()
            .collect()
    }

    /// Forgets job `id` (killing it if it still runs); whether it existed.
    pub(super) fn remove(&self, agent: &str, id: &str) -> bool {
        let mut jobs = lock(&self.jobs);
        if jobs.get(id).is_some_and(|j| j.agent == agent) {
            jobs.remove(id);
            true
        } else {
            false
        }
    }

    /// Kills every job (the gateway's shutdown).
    pub fn kill_all(&self) {
        lock(&self.jobs).clear();
    }

    /// Jobs still running, all agents.
    pub fn running(&self) -> usize {
        lock(&self.jobs)
            .values()
            .filter(|j| lock(&j.exit).is_none() && !j.timed_out.load(Ordering::Relaxed))
            .count()
    }
}
