use super::*;
use crate::core::{ChatMessage, Role};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hearth-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const OPTS: StoreOptions = StoreOptions {
    map_size_bytes: 16 << 20,
};

#[test]
fn append_and_reopen() {
    let dir = tmp("reopen");
    {
        let s = Store::open(&dir, OPTS).expect("open");
        let mut w = s.write_txn().expect("w");
        let mut sess = s
            .session_or_create(&mut w, "agent:main:main")
            .expect("sess");
        for i in 0..5 {
            s.append(
                &mut w,
                &mut sess,
                None,
                ChatMessage::text(Role::User, format!("m{i}")),
            )
            .expect("append");
        }
        s.commit(w).expect("commit");
    }
    let s = Store::open(&dir, OPTS).expect("reopen");
    let r = s.read_txn().expect("r");
    let sess = s
        .session(&r, "agent:main:main")
        .expect("get")
        .expect("exists");
    let tail = s.transcript_tail(&r, sess.id, 3).expect("tail");
    assert_eq!(
        tail.iter()
            .map(|e| e.message.content.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );
    assert_eq!(tail[0].seq, 2);
}

#[test]
fn uncommitted_writes_vanish() {
    let dir = tmp("abort");
    let s = Store::open(&dir, OPTS).expect("open");
    {
        let mut w = s.write_txn().expect("w");
        s.session_or_create(&mut w, "k").expect("sess");
        drop(w);
    }
    let r = s.read_txn().expect("r");
    assert!(s.session(&r, "k").expect("get").is_none());
}

#[test]
fn schema_mismatch_is_refused() {
    let dir = tmp("schema");
    {
        let s = Store::open(&dir, OPTS).expect("open");
        let mut w = s.write_txn().expect("w");
        s.meta
            .put(&mut w, b"schema_version", &99u32.to_be_bytes())
            .expect("put");
        s.commit(w).expect("commit");
    }
    let Err(e) = Store::open(&dir, OPTS) else {
        panic!("opened a store of another schema")
    };
    assert!(e.to_string().contains("schema version 99"), "{e}");
}

#[test]
fn running_index_follows_status() {
    let dir = tmp("runs");
    let s = Store::open(&dir, OPTS).expect("open");
    let mut rec = RunRecord {
        id: "run_1".into(),
        session_key: "k".into(),
        session_id: 1,
        status: RunStatus::Running,
        started_ms: 1,
        ended_ms: None,
        model: None,
        profile: None,
        reply: None,
        error: None,
        events: vec![],
        usage: Default::default(),
        tool_steps: 0,
        turn: None,
        tool_calls: Vec::new(),
    };
    let mut w = s.write_txn().expect("w");
    s.put_run(&mut w, &rec).expect("put");
    s.commit(w).expect("c");
    assert_eq!(
        s.running_runs(&s.read_txn().expect("r")).expect("list"),
        ["run_1"]
    );
    rec.status = RunStatus::Completed;
    let mut w = s.write_txn().expect("w");
    s.put_run(&mut w, &rec).expect("put");
    s.commit(w).expect("c");
    assert!(
        s.running_runs(&s.read_txn().expect("r"))
            .expect("list")
            .is_empty()
    );
}

#[test]
fn dedupe_expires() {
    let dir = tmp("dedupe");
    let s = Store::open(&dir, OPTS).expect("open");
    let mut w = s.write_txn().expect("w");
    s.dedupe_put(&mut w, "a", &serde_json::json!({"runId": "x"}), 60_000)
        .expect("put");
    s.dedupe_put(&mut w, "b", &serde_json::json!(1), 0)
        .expect("put");
    s.commit(w).expect("c");
    let r = s.read_txn().expect("r");
    assert_eq!(
        s.dedupe_get(&r, "a").expect("get"),
        Some(serde_json::json!({"runId": "x"}))
    );
    assert_eq!(s.dedupe_get(&r, "b").expect("get"), None);
    drop(r);
    let mut w = s.write_txn().expect("w");
    assert_eq!(s.dedupe_sweep(&mut w).expect("sweep"), 1);
    s.commit(w).expect("c");
}
