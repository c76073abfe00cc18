//! Process-wide counters for the gateway's `/metrics`: what happened since the process
//! started (turn outcomes, turn latency, failovers, tool calls). Gauges — what is true now
//! (queue depth, backlog, connection state, RSS) — are read at scrape time by the gateway,
//! not kept here. One static, like the default registry of Prometheus' client libraries,
//! so the places that count need no handle passed down to them; counting is a mutex on a
//! small map (label sets are bounded: statuses, reasons, tool names) or an atomic add.
//!
//! Names and meanings follow Prometheus' conventions
//! (<https://prometheus.io/docs/practices/naming/>): counters end in `_total`, durations
//! are in seconds.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Who may read the gateway's `GET /metrics` (`[gateway] metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Clients presenting the gateway token as a bearer (default).
    #[default]
    Token,
    /// Any loopback client, without a token (a Prometheus or exporter on the box).
    Loopback,
    /// Nobody (404).
    Off,
}

/// Upper bounds of the turn-latency buckets, seconds (`le` labels; `+Inf` is implied).
pub const TURN_BUCKETS: [f64; 12] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// A counter with labels: label values → count.
pub struct Family {
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Family {
    const fn new() -> Self {
        Self {
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to the series with `labels` (in the family's label order).
    pub fn inc(&self, labels: &[&str]) {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        *self
            .values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// Every series: label values and count, sorted by label values.
    pub fn snapshot(&self) -> Vec<(Vec<String>, u64)> {
        let m = self.values.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// A histogram of durations with the fixed [`TURN_BUCKETS`].
pub struct Histogram {
    /// Observations per bucket (not cumulative; the last counts those above every bound).
    buckets: [AtomicU64; TURN_BUCKETS.len() + 1],
    /// Sum of the observations, ms.
    sum_ms: AtomicU64,
}

/// A histogram's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bound of [`TURN_BUCKETS`], then the total (`+Inf`).
    pub cumulative: Vec<u64>,
    /// Sum of the observations, seconds.
    pub sum_seconds: f64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; TURN_BUCKETS.len() + 1],
            sum_ms: AtomicU64::new(0),
        }
    }

    /// Records one duration of `ms` milliseconds.
    pub fn observe_ms(&self, ms: u64) {
        let s = ms as f64 / 1000.0;
        let i = TURN_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(TURN_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The cumulative counts and the sum.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut acc = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                acc += b.load(Ordering::Relaxed);
                acc
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_seconds: self.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// Everything counted since the process started.
pub struct Metrics {
    /// Turns ended, by `status` (`completed`, `failed`, `aborted`, `timeout`,
    /// `interrupted`, `dropped`, …: the run record's status).
    pub runs: Family,
    /// Time from a turn's start to its end, all outcomes.
    pub turn_latency: Histogram,
    /// Model calls that failed over to the next profile or model, by `reason`
    /// (`rate_limit`, `timeout`, `auth`, …).
    pub failovers: Family,
    /// Tool calls by `tool` and `outcome` (`ok`, `error`, `denied`, `cancelled`).
    pub tool_calls: Family,
    /// Messages accepted by the dispatcher, by `channel`.
    pub messages: Family,
}

/// The process's counters.
pub static METRICS: Metrics = Metrics {
    runs: Family::new(),
    turn_latency: Histogram::new(),
    failovers: Family::new(),
    tool_calls: Family::new(),
    messages: Family::new(),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_sums_seconds() {
        let h = Histogram::new();
        for ms in [100, 250, 251, 700_000] {
            h.observe_ms(ms);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative.len(), TURN_BUCKETS.len() + 1);
        assert_eq!(s.cumulative[0], 2, "0.1 s and 0.25 s are <= 0.25");
        assert_eq!(s.cumulative[1], 3);
        assert_eq!(
            s.cumulative[TURN_BUCKETS.len() - 1],
            3,
            "700 s is above 600"
        );
        assert_eq!(*s.cumulative.last().unwrap(), 4);
        assert!((s.sum_seconds - 700.601).abs() < 1e-9);
    }

    #[test]
    fn family_counts_per_label_set() {
        let f = Family::new();
        f.inc(&["exec", "ok"]);
        f.inc(&["exec", "ok"]);
        f.inc(&["exec", "denied"]);
        assert_eq!(
            f.snapshot(),
            vec![
                (vec!["exec".to_string(), "denied".to_string()], 1),
                (vec!["exec".to_string(), "ok".to_string()], 2)
            ]
        );
    }
}
