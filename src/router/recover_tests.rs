//! In-process test of the restart rules (`recover.rs`) with the dispatcher of `tests.rs`.

use super::tests::{Reply, hold, rig_in, temp_dir};
use super::*;
use crate::core::QueueMode;

#[tokio::test(start_paused = true)]
async fn a_restart_reruns_untouched_turns_and_reports_interrupted_ones() {
    let dir = temp_dir();
    let q = QueueSettings {
        mode: QueueMode::Followup,
        ..QueueSettings::default()
    };
    // Session a: a turn held before any tool step. Session b: held after a tool step,
    // with a message queued behind it.
    let mut r = rig_in(
        dir.clone(),
        q,
        vec![hold(Reply::Text("x")), Reply::Tool, hold(Reply::Text("y"))],
    );
    let (a, _) = r.send("a", "question a").await.expect("a");
    r.call().await;
    r.send("b", "question b").await.expect("b");
    r.call().await;
    r.call().await;
    let (queued, _) = r.send("b", "question b2").await.expect("b2");
    r.d.shutdown(Duration::from_secs(5)).await;
    drop(r);

    // Lanes a and b run at once after the restart: the echo tells whose turn answered.
    let r = rig_in(dir, q, vec![]);
    let rec = r.d.recover().await.expect("recover");
    assert_eq!(
        (rec.queued, rec.resumed, rec.interrupted.len()),
        (1, 1, 1),
        "{rec:?}"
    );
    let w =
        r.d.wait(&queued.run_id, Duration::from_secs(60))
            .await
            .expect("b2");
    assert_eq!(w.reply.as_deref(), Some("echo: question b2"));
    let wa =
        r.d.wait(&a.run_id, Duration::from_secs(60))
            .await
            .expect("a");
    assert_eq!(wa.status, RunStatus::Completed);
    let ta = r.transcript("agent:main:a");
    assert_eq!(
        ta.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        ["question a", "echo: question a"],
        "run again, once"
    );
    let tb = r.transcript("agent:main:b");
    let notice = &tb[3].1;
    assert!(
        notice.starts_with("I was restarted while working on \u{201c}question b\u{201d}"),
        "{tb:?}"
    );
    assert_eq!(tb[4].1, "question b2");
    let interrupted =
        r.d.wait(&rec.interrupted[0], Duration::from_secs(1))
            .await
            .expect("wait");
    assert_eq!(interrupted.status, RunStatus::Interrupted);
    // The notice also leaves through the outbox, to the interrupted message's origin.
    let store = &r.d.inner.store;
    let rows = store
        .delivery_rows(&store.read_txn().expect("txn"), OutboxStatus::Pending, 100)
        .expect("rows");
    let notice_row = rows
        .iter()
        .find(|row| row.run_id == interrupted.id)
        .expect("a notice row");
    assert_eq!(&notice_row.message.text, notice);
    assert_eq!(notice_row.message.target.channel, "ws");
}
