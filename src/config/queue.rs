//! `[queue]`: what a session's lane does with messages that arrive while a turn runs
//! (OpenClaw's queue modes, <https://docs.openclaw.ai/concepts/queue>), globally and per
//! channel (`[queue.channels.<name>]`); a session overrides both with `/queue`.

use crate::core::{DropPolicy, QueueMode, QueueSettings, QueueSettingsPatch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[queue]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// `collect` (default), `followup`, `steer` or `interrupt`.
    pub mode: QueueMode,
    /// Quiet time before a collected follow-up turn starts, ms (at most 60,000).
    pub debounce_ms: u64,
    /// Most messages waiting per session (1..=1000).
    pub cap: usize,
    /// At the cap: `summarize` (default), `old` or `new`.
    pub drop: DropPolicy,
    /// Overrides per channel (`ws`, `http`, `telegram`, …), same keys as above.
    pub channels: BTreeMap<String, QueueSettingsPatch>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        let d = QueueSettings::default();
        Self {
            mode: d.mode,
            debounce_ms: d.debounce_ms,
            cap: d.cap,
            drop: d.drop,
            channels: BTreeMap::new(),
        }
    }
}

impl QueueConfig {
    /// The global settings.
    pub fn settings(&self) -> QueueSettings {
        QueueSettings {
            mode: self.mode,
            debounce_ms: self.debounce_ms,
            cap: self.cap,
            drop: self.drop,
        }
    }

    /// The first out-of-range value as (key, message), if any.
    pub fn check(&self) -> Option<(String, String)> {
        let bad_cap = |c: usize| !(1..=1000).contains(&c);
        let bad_ms = |m: u64| m > 60_000;
        if bad_cap(self.cap) {
            return Some((
                "queue.cap".into(),
                format!("{} is outside 1..=1000", self.cap),
            ));
        }
        if bad_ms(self.debounce_ms) {
            return Some((
                "queue.debounce_ms".into(),
                format!("{} is above 60000", self.debounce_ms),
            ));
        }
        for (name, p) in &self.channels {
            if let Some(c) = p.cap.filter(|c| bad_cap(*c)) {
                return Some((
                    format!("queue.channels.{name}.cap"),
                    format!("{c} is outside 1..=1000"),
                ));
            }
            if let Some(m) = p.debounce_ms.filter(|m| bad_ms(*m)) {
                return Some((
                    format!("queue.channels.{name}.debounce_ms"),
                    format!("{m} is above 60000"),
                ));
            }
        }
        None
    }
}
