//! The delivery worker: sends the outbox rows that turns (and a restart's interrupted
//! notices) commit with their outcome, through the sink registered for each row's
//! channel ([`Outbound`]).
//!
//! - Rows to one conversation (channel, account, peer, chat, thread) leave in order: a row
//!   waits while an older row to the same conversation is in flight or backing off.
//! - A transient failure is retried after `backoff_initial × 2^(attempt−1)` (capped at
//!   `backoff_max`, and never sooner than the platform's `retry_after`); a permanent one,
//!   or the `max_attempts`-th failure, makes the row a dead letter (counted in `status`).
//! - A row is marked `sent`, with the platform's receipt id, in a commit after the send
//!   returns. A crash between the two sends it again at the next start (at-least-once; the
//!   sink gets a stable [`Delivery::id`] for platforms that de-duplicate), and a row marked
//!   `sent` is never sent again.
//! - Sent rows are pruned once they are older than `keep_sent`.

use crate::core::{Delivery, Outbound, SendError, now_ms};
use crate::storage::{OutboxRow, OutboxStatus, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Sends in flight at once, across all conversations.
const MAX_IN_FLIGHT: usize = 16;
/// How often sent rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows pruned per commit.
const PRUNE_BATCH: usize = 10_000;
/// Pending rows looked at per pass, oldest first (a backlog is worked through from its
/// head without decoding all of it on every pass).
const SCAN_ROWS: usize = 1024;
/// Wait after the store failed to read the outbox.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// Settings of the delivery worker (`[outbox]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Failed attempts after which a row becomes a dead letter.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles per attempt.
    pub backoff_initial: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// Longest one send may take before it counts as a transient failure.
    pub send_timeout: Duration,
    /// How long sent rows are kept (so a restart knows they were sent).
    pub keep_sent: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            send_timeout: Duration::from_secs(60),
            keep_sent: Duration::from_secs(24 * 3600),
        }
    }
}

impl DeliveryOptions {
    /// The wait after failed attempt number `attempts` (from 1).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// The worker's shared half: the sinks and the wake-up signal.
pub(crate) struct Outbox {
    store: Store,
    opts: DeliveryOptions,
    sinks: Mutex<HashMap<String, Arc<dyn Outbound>>>,
    wake: Notify,
}

impl Outbox {
    pub(crate) fn new(store: Store, opts: DeliveryOptions) -> Self {
        Self {
            store,
            opts,
            sinks: Mutex::default(),
            wake: Notify::new(),
        }
    }

    /// Adds (or replaces) the sink of `sink.channel()` and wakes the worker.
    pub(crate) fn register(&self, sink: Arc<dyn Outbound>) {
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sink.channel().to_string(), sink);
        self.wake();
    }

    /// Whether a sink is registered for `channel`.
    pub(crate) fn has_sink(&self, channel: &str) -> bool {
        self.sink(channel).is_some()
    }

    /// Tells the worker new rows were committed.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    fn sink(&self, channel: &str) -> Option<Arc<dyn Outbound>> {
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
    }
}

/// The conversation a row goes to; rows to one conversation leave in order.
fn conversation(row: &OutboxRow) -> String {
    let t = &row.message.target;
    format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
        t.channel,
        t.account,
        t.peer,
        t.chat.as_deref().unwrap_or(""),
        t.thread.as_deref().unwrap_or("")
    )
}

/// One attempt: the row's sink, under the send timeout, on its own task (a panicking sink
/// is a failed attempt, not a dead worker).
async fn attempt(ob: &Outbox, row: &OutboxRow) -> Result<String, SendError> {
    let channel = &row.message.target.channel;
    let Some(sink) = ob.sink(channel) else {
        return Err(SendError::Transient {
            message: format!("no channel `{channel}` is running to deliver it"),
            retry_after_ms: None,
        });
    };
    let d = Delivery {
        id: format!("out-{}", row.seq),
        run_id: row.run_id.clone(),
        message: row.message.clone(),
    };
    let send = tokio::spawn(async move { sink.send(&d).await });
    match tokio::time::timeout(ob.opts.send_timeout, send).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(SendError::Transient {
            message: format!("the `{channel}` sink failed: {e}"),
            retry_after_ms: None,
        }),
        Err(_) => Err(SendError::Transient {
            message: format!(
                "the `{channel}` send timed out after {} ms",
                ob.opts.send_timeout.as_millis()
            ),
            retry_after_ms: None,
        }),
    }
}

/// Applies an attempt's result to `row`; returns when to try again, if ever.
fn apply(
    opts: &DeliveryOptions,
    row: &mut OutboxRow,
    res: Result<String, SendError>,
) -> Option<Instant> {
    row.attempts += 1;
    let mut retry = None;
    match res {
        Ok(receipt) => {
            row.status = OutboxStatus::Sent;
            row.receipt = Some(receipt);
            row.done_ms = Some(now_ms());
        }
        Err(SendError::Permanent { message }) => {
            row.status = OutboxStatus::Dead;
            row.done_ms = Some(now_ms());
            tracing::warn!(seq = row.seq, run = %row.run_id, channel = %row.message.target.channel,
                "delivery refused for good, kept as a dead letter: {message}");
            row.last_error = Some(message);
        }
        Err(SendError::Transient {
            message,
            retry_after_ms,
        }) => {
            if row.attempts >= opts.max_attempts {
                row.status = OutboxStatus::Dead;
                row.done_ms = Some(now_ms());
                tracing::warn!(seq = row.seq, run = %row.run_id, channel = %row.message.target.channel,
                    attempts = row.attempts, "delivery failed too often, kept as a dead letter: {message}");
            } else {
                let wait = opts
                    .backoff(row.attempts)
                    .max(Duration::from_millis(retry_after_ms.unwrap_or(0)));
                tracing::info!(seq = row.seq, run = %row.run_id, channel = %row.message.target.channel,
                    attempts = row.attempts, retry_in_ms = wait.as_millis() as u64, "delivery failed: {message}");
                retry = Some(Instant::now() + wait);
            }
            row.last_error = Some(message);
        }
    }
    retry
}

/// Applies the results of finished attempts and commits them in one transaction; returns
/// each row's next attempt time, if any.
async fn record(
    ob: &Outbox,
    done: Vec<(OutboxRow, Result<String, SendError>)>,
) -> Vec<(u64, Option<Instant>)> {
    let mut rows = Vec::with_capacity(done.len());
    let mut next = Vec::with_capacity(done.len());
    for (mut row, res) in done {
        next.push((row.seq, apply(&ob.opts, &mut row, res)));
        rows.push(row);
    }
    let sent: Vec<(u64, String)> = rows
        .iter()
        .filter(|r| r.status == OutboxStatus::Sent)
        .map(|r| (r.seq, r.run_id.clone()))
        .collect();
    let committed = ob
        .store
        .write(move |s, w| {
            for row in &rows {
                s.delivery_put(w, row)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = committed {
        tracing::error!("cannot record {} delivery attempts: {e}", next.len());
        let at = Instant::now() + STORE_RETRY;
        return next.into_iter().map(|(seq, _)| (seq, Some(at))).collect();
    }
    for (seq, run) in sent {
        // Logged once the row is durably `sent` (the e2e tests count these lines).
        tracing::debug!(seq, run = %run, "delivered");
    }
    next
}

/// Runs the worker until `shutdown`. Sends still in flight then are abandoned: their rows
/// stay pending and go out at the next start.
pub(crate) async fn run(ob: Arc<Outbox>, shutdown: CancellationToken) {
    let mut due: HashMap<u64, Instant> = HashMap::new();
    let mut inflight: JoinSet<(OutboxRow, Result<String, SendError>)> = JoinSet::new();
    let mut busy: HashSet<u64> = HashSet::new();
    let mut next_prune = Instant::now();
    loop {
        if Instant::now() >= next_prune {
            prune(&ob).await;
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        let rows = {
            let store = &ob.store;
            store
                .read_txn()
                .and_then(|r| store.delivery_rows(&r, OutboxStatus::Pending, SCAN_ROWS))
        };
        let mut next = Some(next_prune);
        match rows {
            Ok(rows) => {
                let now = Instant::now();
                let mut ahead: HashSet<String> = rows
                    .iter()
                    .filter(|r| busy.contains(&r.seq))
                    .map(conversation)
                    .collect();
                for row in rows {
                    if busy.contains(&row.seq) || !ahead.insert(conversation(&row)) {
                        continue;
                    }
                    if let Some(at) = due.get(&row.seq).copied()
                        && at > now
                    {
                        next = next.min(Some(at));
                        continue;
                    }
                    if busy.len() >= MAX_IN_FLIGHT {
                        break;
                    }
                    busy.insert(row.seq);
                    let ob = ob.clone();
                    inflight.spawn(async move {
                        let res = attempt(&ob, &row).await;
                        (row, res)
                    });
                }
            }
            Err(e) => {
                tracing::error!("cannot read the outbox: {e}");
                next = Some(Instant::now() + STORE_RETRY);
            }
        }
        let sleep = tokio::time::sleep_until(next.unwrap_or(next_prune));
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(joined) = inflight.join_next(), if !inflight.is_empty() => {
                // `attempt` catches the sink's panics, so a join error means shutdown.
                let mut done: Vec<_> = joined.into_iter().collect();
                while let Some(more) = inflight.try_join_next() {
                    done.extend(more);
                }
                for (row, _) in &done {
                    busy.remove(&row.seq);
                }
                for (seq, at) in record(&ob, done).await {
                    match at {
                        Some(at) => due.insert(seq, at),
                        None => due.remove(&seq),
                    };
                }
            }
            _ = ob.wake.notified() => {}
            _ = sleep => {}
        }
    }
    inflight.abort_all();
}

async fn prune(ob: &Outbox) {
    let before = now_ms().saturating_sub(ob.opts.keep_sent.as_millis() as u64);
    match ob
        .store
        .write(move |s, w| s.delivery_prune_sent(w, before, PRUNE_BATCH))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "pruned sent outbox rows"),
        Err(e) => tracing::warn!("cannot prune the outbox: {e}"),
    }
}
