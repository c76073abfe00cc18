use super::*;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hearth-search-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn bm25_ranks_and_upserts_are_idempotent() {
    let dir = tmp("rank");
    let idx = TextIndex::open(&dir).expect("open");
    idx.apply(&[
        Change::Upsert {
            id: 1,
            text: "The heat pump service is due in March.",
        },
        Change::Upsert {
            id: 2,
            text: "Groceries: milk, eggs, bread.",
        },
        Change::Upsert {
            id: 3,
            text: "Pump the bike tyres before the trip.",
        },
    ])
    .expect("apply");
    // Replaying the same batch (as after a crash) must not duplicate anything.
    idx.apply(&[
        Change::Upsert {
            id: 1,
            text: "The heat pump service is due in March.",
        },
        Change::Upsert {
            id: 3,
            text: "Pump the bike tyres before the trip.",
        },
    ])
    .expect("replay");
    assert_eq!(idx.num_docs(), 3);
    let hits = idx.search("heat pump service", 10).expect("search");
    assert_eq!(hits[0].id, 1, "{hits:?}");
    assert!(hits.iter().any(|h| h.id == 3));
    assert!(!hits.iter().any(|h| h.id == 2));
    assert!(idx.search("", 10).expect("empty").is_empty());
    assert!(idx.search("?!:-", 10).expect("punct").is_empty());

    idx.apply(&[Change::Delete { id: 1 }, Change::Delete { id: 99 }])
        .expect("delete");
    assert_eq!(idx.num_docs(), 2);
    assert!(idx.search("heat", 10).expect("search").is_empty());
    drop(idx);

    // Reopening sees the committed state.
    let idx = TextIndex::open(&dir).expect("reopen");
    assert_eq!(idx.num_docs(), 2);
    assert!(idx.disk_bytes() > 0);
    idx.clear().expect("clear");
    assert_eq!(idx.num_docs(), 0);
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn cjk_queries_match() {
    let dir = tmp("cjk");
    let idx = TextIndex::open(&dir).expect("open");
    idx.apply(&[
        Change::Upsert {
            id: 7,
            text: "明日は東京で会議があります",
        },
        Change::Upsert {
            id: 8,
            text: "Meeting in Berlin tomorrow",
        },
    ])
    .expect("apply");
    let hits = idx.search("東京 会議", 5).expect("search");
    assert_eq!(hits.first().map(|h| h.id), Some(7));
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn a_second_writer_gets_a_clear_lock_error_only_while_writing() {
    let dir = tmp("lock");
    let a = TextIndex::open(&dir).expect("open a");
    let b = TextIndex::open(&dir).expect("open b");
    // Writers are taken per batch, so two handles can take turns.
    a.apply(&[Change::Upsert { id: 1, text: "one" }])
        .expect("a");
    b.apply(&[Change::Upsert { id: 2, text: "two" }])
        .expect("b");
    a.refresh().expect("refresh");
    assert_eq!(a.num_docs(), 2);
    let held = a.writer().expect("writer");
    let err = b.apply(&[Change::Delete { id: 1 }]).expect_err("locked");
    assert!(matches!(err, SearchError::Locked { .. }), "{err}");
    drop(held);
    std::fs::remove_dir_all(dir).expect("clean up");
}
