//! In-process tests of the delivery worker: the dispatcher of `tests.rs` with a real store,
//! a scripted sink for the `ws` channel, and paused tokio time for the backoff.

use super::tests::{Reply, hold, outcome, rig_with, temp_dir, text};
use super::*;
use crate::core::{Delivery, Outbound, QueueMode, SendError, SendFuture};
use std::collections::VecDeque;
use tokio::time::Instant;

/// Answers each send with the next scripted result (then success), recording each attempt.
struct Sink {
    script: Mutex<VecDeque<Result<String, SendError>>>,
    log: Mutex<Vec<(Instant, Delivery)>>,
}

impl Sink {
    fn new(script: Vec<Result<String, SendError>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            log: Mutex::default(),
        })
    }

    fn attempts(&self) -> Vec<(Instant, Delivery)> {
        self.log.lock().expect("log").clone()
    }

    /// Waits (in paused time) until `n` attempts were made.
    async fn until(&self, n: usize) -> Vec<(Instant, Delivery)> {
        for _ in 0..100_000 {
            let a = self.attempts();
            if a.len() >= n {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "only {} attempts: {:?}",
            self.attempts().len(),
            self.attempts()
        );
    }
}

impl Outbound for Sink {
    fn channel(&self) -> &str {
        "ws"
    }
    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        self.log
            .lock()
            .expect("log")
            .push((Instant::now(), d.clone()));
        let r = self
            .script
            .lock()
            .expect("script")
            .pop_front()
            .unwrap_or_else(|| Ok(format!("msg-{}", d.id)));
        Box::pin(async move { r })
    }
}

fn transient(m: &str, retry_after_ms: Option<u64>) -> Result<String, SendError> {
    Err(SendError::Transient {
        message: m.into(),
        retry_after_ms,
    })
}

fn followup() -> QueueSettings {
    QueueSettings {
        mode: QueueMode::Followup,
        ..QueueSettings::default()
    }
}

fn rows(d: &Dispatcher, st: OutboxStatus) -> Vec<OutboxRow> {
    let s = &d.inner.store;
    s.delivery_rows(&s.read_txn().expect("txn"), st, 100)
        .expect("rows")
}

#[tokio::test(start_paused = true)]
async fn answers_leave_in_order_and_are_marked_sent_with_the_receipt() {
    let r = rig_with(
        temp_dir(),
        followup(),
        vec![Reply::Text("one"), Reply::Text("two")],
        DeliveryOptions::default(),
    );
    let sink = Sink::new(vec![]);
    r.d.register_outbound(sink.clone());
    r.d.recover().await.expect("recover");
    let (a1, f1) = r.send("main", "first").await.expect("u1");
    let (a2, f2) = r.send("main", "second").await.expect("u2");
    assert_eq!(text(&outcome(f1).await), "one");
    assert_eq!(text(&outcome(f2).await), "two");
    let got = sink.until(2).await;
    let texts: Vec<_> = got.iter().map(|(_, d)| d.message.text.as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(got[0].1.run_id, a1.run_id);
    assert_eq!(got[1].1.run_id, a2.run_id);
    assert_eq!(got[0].1.message.target.channel, "ws");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = rows(&r.d, OutboxStatus::Sent);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].receipt.as_deref(), Some("msg-out-1"));
    assert_eq!(sent[1].attempts, 1);
    let st = r.d.status().expect("status").outbox;
    assert_eq!((st.pending, st.sent, st.dead), (0, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_then_dead_letter_and_keep_order() {
    let opts = DeliveryOptions {
        max_attempts: 3,
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(10),
        ..DeliveryOptions::default()
    };
    let r = rig_with(
        temp_dir(),
        followup(),
        vec![Reply::Text("one"), Reply::Text("two")],
        opts,
    );
    let sink = Sink::new(vec![
        transient("HTTP 502", None),
        transient("rate limited", Some(5_000)),
        transient("HTTP 502", None),
    ]);
    r.d.register_outbound(sink.clone());
    r.d.recover().await.expect("recover");
    let (_, f1) = r.send("main", "first").await.expect("u1");
    let (_, f2) = r.send("main", "second").await.expect("u2");
    outcome(f1).await;
    outcome(f2).await;
    let got = sink.until(4).await;
    let ids: Vec<_> = got.iter().map(|(_, d)| d.id.as_str()).collect();
    // The second answer waits behind the first until the first is given up on.
    assert_eq!(ids, ["out-1", "out-1", "out-1", "out-2"]);
    let gap = |i: usize| got[i + 1].0 - got[i].0;
    assert!(gap(0) >= Duration::from_secs(1) && gap(0) < Duration::from_secs(2));
    // Backoff would be 2 s; the platform asked for 5 s.
    assert!(gap(1) >= Duration::from_secs(5) && gap(1) < Duration::from_secs(6));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dead = r.d.dead_letters(10).expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 502"));
    assert_eq!(dead[0].message.text, "one");
    let st = r.d.status().expect("status").outbox;
    assert_eq!((st.pending, st.sent, st.dead), (0, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_is_a_dead_letter_at_once() {
    let r = rig_with(
        temp_dir(),
        followup(),
        vec![Reply::Text("one")],
        DeliveryOptions::default(),
    );
    let sink = Sink::new(vec![Err(SendError::Permanent {
        message: "chat not found".into(),
    })]);
    r.d.register_outbound(sink.clone());
    r.d.recover().await.expect("recover");
    let (_, f) = r.send("main", "first").await.expect("u1");
    outcome(f).await;
    sink.until(1).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(sink.attempts().len(), 1, "never retried");
    let dead = r.d.dead_letters(10).expect("dead");
    assert_eq!(dead[0].last_error.as_deref(), Some("chat not found"));
}

#[tokio::test(start_paused = true)]
async fn a_restart_sends_what_was_pending_and_never_resends_what_was_sent() {
    let dir = temp_dir();
    let slow = DeliveryOptions {
        backoff_initial: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(3600),
        ..DeliveryOptions::default()
    };
    let mut r = rig_with(
        dir.clone(),
        followup(),
        vec![
            Reply::Text("one"),
            Reply::Text("two"),
            hold(Reply::Text("never")),
        ],
        slow,
    );
    let sink = Sink::new(vec![Ok("receipt-1".into()), transient("offline", None)]);
    r.d.register_outbound(sink.clone());
    r.d.recover().await.expect("recover");
    let (_, f1) = r.send("a", "first").await.expect("u1");
    outcome(f1).await;
    sink.until(1).await;
    let (_, f2) = r.send("a", "second").await.expect("u2");
    outcome(f2).await;
    sink.until(2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A third turn is in flight at the shutdown: it is suspended, not delivered.
    r.send("b", "third").await.expect("u3");
    for _ in 0..3 {
        r.call().await;
    }
    r.d.shutdown(Duration::from_secs(5)).await;
    drop(r);

    let r = rig_with(
        dir,
        followup(),
        vec![Reply::Text("three")],
        DeliveryOptions::default(),
    );
    let sink = Sink::new(vec![]);
    r.d.register_outbound(sink.clone());
    r.d.recover().await.expect("recover");
    let got = sink.until(2).await;
    let mut ids: Vec<_> = got
        .iter()
        .map(|(_, d)| (d.id.clone(), d.message.text.clone()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("out-2".to_string(), "two".to_string()),
            ("out-3".to_string(), "three".to_string())
        ]
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        sink.attempts().len(),
        2,
        "the sent row never went out again"
    );
    let st = r.d.status().expect("status").outbox;
    assert_eq!((st.pending, st.sent, st.dead), (0, 3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_message_without_a_running_channel_is_retried_until_one_registers() {
    let r = rig_with(
        temp_dir(),
        followup(),
        vec![Reply::Text("one")],
        DeliveryOptions::default(),
    );
    r.d.recover().await.expect("recover");
    let (_, f) = r.send("main", "first").await.expect("u1");
    outcome(f).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pending = rows(&r.d, OutboxStatus::Pending);
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no channel `ws`")),
        "{pending:?}"
    );
    let sink = Sink::new(vec![]);
    r.d.register_outbound(sink.clone());
    let got = sink.until(1).await;
    assert_eq!(got[0].1.message.text, "one");
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let o = DeliveryOptions {
        backoff_initial: Duration::from_millis(500),
        backoff_max: Duration::from_secs(10),
        ..DeliveryOptions::default()
    };
    let waits: Vec<u128> = (1..=7).map(|n| o.backoff(n).as_millis()).collect();
    assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert_eq!(o.backoff(1000), Duration::from_secs(10));
}
