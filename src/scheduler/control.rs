//! [`SchedulerLink`]: the scheduler for the `cron` tool, which is built before it (the
//! scheduler needs the dispatcher, which needs the agents and their tools).

use super::{DispatchBackend, Scheduler};
use crate::tool::cron::CronControl;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// A late-bound handle to the scheduler.
#[derive(Clone, Default)]
pub struct SchedulerLink {
    cell: Arc<OnceLock<(Scheduler<DispatchBackend>, tokio::runtime::Handle)>>,
}

impl SchedulerLink {
    /// Binds the link to `s` (inside the runtime).
    pub fn attach(&self, s: &Scheduler<DispatchBackend>) {
        let _ = self
            .cell
            .set((s.clone(), tokio::runtime::Handle::current()));
    }

    fn get(&self) -> Result<&(Scheduler<DispatchBackend>, tokio::runtime::Handle), String> {
        self.cell
            .get()
            .ok_or_else(|| "cron is off ([cron] enabled = false)".to_string())
    }
}

impl CronControl for SchedulerLink {
    fn list(&self) -> Vec<Value> {
        self.get()
            .map(|(s, _)| {
                s.list()
                    .iter()
                    .filter_map(|j| serde_json::to_value(j).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn add(&self, job: Value) -> Result<Value, String> {
        let (s, rt) = self.get()?;
        let j = rt.block_on(s.add(job)).map_err(|e| e.to_string())?;
        serde_json::to_value(j).map_err(|e| e.to_string())
    }

    fn update(&self, id: &str, patch: Value) -> Result<Value, String> {
        let (s, rt) = self.get()?;
        let j = rt
            .block_on(s.update(id, patch))
            .map_err(|e| e.to_string())?;
        serde_json::to_value(j).map_err(|e| e.to_string())
    }

    fn remove(&self, id: &str) -> Result<(), String> {
        let (s, rt) = self.get()?;
        rt.block_on(s.remove(id)).map_err(|e| e.to_string())
    }

    fn run(&self, id: &str) -> Result<(), String> {
        let (s, rt) = self.get()?;
        rt.block_on(s.run_now(id)).map_err(|e| e.to_string())
    }

    fn wake(&self, text: &str, now: bool) -> Result<(), String> {
        let (s, _) = self.get()?;
        if !s.has_heartbeat() {
            return Err("no heartbeat is configured ([heartbeat] every)".into());
        }
        s.system_event(text, now);
        Ok(())
    }
}
