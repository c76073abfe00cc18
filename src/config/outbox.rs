//! `[outbox]`: how the delivery worker retries answers that could not be sent, when it
//! gives up on one (a dead letter, shown by `hearth status`), and how long it remembers
//! what it sent.

use serde::{Deserialize, Serialize};

/// `[outbox]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Failed attempts after which a message becomes a dead letter (1..=100).
    pub max_attempts: u32,
    /// Wait before the first retry, ms; doubles per attempt (1..=600,000).
    pub backoff_initial_ms: u64,
    /// Longest wait between attempts, ms (at least `backoff_initial_ms`, at most 86,400,000).
    pub backoff_max_ms: u64,
    /// Longest one send may take before it counts as failed, ms (1,000..=600,000).
    pub send_timeout_ms: u64,
    /// How long sent messages are remembered, hours (1..=720), so a restart never sends
    /// them again.
    pub keep_sent_hours: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 300_000,
            send_timeout_ms: 60_000,
            keep_sent_hours: 24,
        }
    }
}

impl OutboxConfig {
    /// The first out-of-range value as (key, message), if any.
    pub fn check(&self) -> Option<(String, String)> {
        let range = |k: &str, v: u64, lo: u64, hi: u64| {
            (!(lo..=hi).contains(&v))
                .then(|| (format!("outbox.{k}"), format!("{v} is outside {lo}..={hi}")))
        };
        range("max_attempts", self.max_attempts.into(), 1, 100)
            .or_else(|| range("backoff_initial_ms", self.backoff_initial_ms, 1, 600_000))
            .or_else(|| {
                range(
                    "backoff_max_ms",
                    self.backoff_max_ms,
                    self.backoff_initial_ms,
                    86_400_000,
                )
            })
            .or_else(|| range("send_timeout_ms", self.send_timeout_ms, 1_000, 600_000))
            .or_else(|| range("keep_sent_hours", self.keep_sent_hours, 1, 720))
    }
}
