//! The reader against SQLite itself (rusqlite, bundled): the same rows from b-trees several
//! levels deep, overflow chains, every serial type, a write-ahead log a live connection has
//! not checkpointed, and a log whose last transaction was cut off.

use super::*;
use rusqlite::Connection;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hearth-sqlite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const DDL: &str = "CREATE TABLE t (
  k TEXT NOT NULL, n INTEGER, r REAL, b BLOB, v TEXT NOT NULL DEFAULT '{}',
  CHECK (length(k) > 0), PRIMARY KEY (k)
) STRICT;";

fn row(i: i64) -> (String, Option<i64>, f64, Vec<u8>, String) {
    let n = match i % 7 {
        0 => None,
        1 => Some(i),
        2 => Some(-i * 1_000),
        3 => Some(i << 40),
        4 => Some(i64::MIN + i),
        5 => Some(0),
        _ => Some(1),
    };
    // Every 50th row carries 20 KB, so its payload spills into an overflow chain.
    let v = if i % 50 == 0 {
        "é".repeat(10_000)
    } else {
        format!("{{\"i\":{i}}}")
    };
    (
        format!("key-{i:05}"),
        n,
        i as f64 / 3.0,
        vec![i as u8; (i % 5) as usize],
        v,
    )
}

fn insert(c: &Connection, from: i64, to: i64) {
    for i in from..to {
        let (k, n, r, b, v) = row(i);
        c.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![k, n, r, b, v],
        )
        .unwrap();
    }
}

fn check(rows: &[HashMap<String, Val>], n: i64) {
    assert_eq!(rows.len() as i64, n);
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_by_key(|r| r["k"].text().unwrap().to_string());
    for (i, r) in rows.iter().enumerate() {
        let (k, num, real, blob, v) = row(i as i64);
        assert_eq!(r["k"], Val::Text(k));
        assert_eq!(r["n"], num.map_or(Val::Null, Val::Int), "row {i}");
        // SQLite keeps a whole REAL as an integer on disk (the column's affinity converts
        // it back); the reader returns what is stored.
        match &r["r"] {
            Val::Real(x) => assert_eq!(*x, real),
            Val::Int(x) => assert_eq!(*x as f64, real),
            other => panic!("row {i}: r is {other:?}"),
        }
        assert_eq!(r["b"], Val::Blob(blob));
        assert_eq!(r["v"], Val::Text(v));
    }
}

#[test]
fn rows_match_what_sqlite_wrote_including_overflow_and_deep_trees() {
    let d = scratch("plain");
    let p = d.join("db.sqlite");
    let c = Connection::open(&p).unwrap();
    c.execute_batch(DDL).unwrap();
    insert(&c, 0, 3000);
    drop(c);
    let db = Db::open(&p).unwrap();
    check(&db.rows("t").unwrap().unwrap(), 3000);
    assert!(db.rows("missing").unwrap().is_none());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_unchecked_wal_is_read_and_a_torn_last_transaction_is_not() {
    let d = scratch("wal");
    let p = d.join("db.sqlite");
    let c = Connection::open(&p).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    c.execute_batch(DDL).unwrap();
    insert(&c, 0, 200);
    // Still open, never checkpointed: the rows live in db.sqlite-wal only.
    let wal = d.join("db.sqlite-wal");
    assert!(wal.metadata().unwrap().len() > 0);
    check(&Db::open(&p).unwrap().rows("t").unwrap().unwrap(), 200);
    // One more transaction, then its last frame cut in half (a crash mid-write).
    let before = wal.metadata().unwrap().len();
    c.execute_batch("BEGIN").unwrap();
    insert(&c, 200, 260);
    c.execute_batch("COMMIT").unwrap();
    let copy = scratch("wal-torn");
    std::fs::copy(&p, copy.join("db.sqlite")).unwrap();
    let mut w = std::fs::read(&wal).unwrap();
    assert!(w.len() as u64 > before);
    w.truncate(w.len() - 100);
    std::fs::write(copy.join("db.sqlite-wal"), &w).unwrap();
    check(
        &Db::open(&copy.join("db.sqlite"))
            .unwrap()
            .rows("t")
            .unwrap()
            .unwrap(),
        200,
    );
    drop(c);
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn columns_come_from_the_create_statement() {
    assert_eq!(columns(DDL), ["k", "n", "r", "b", "v"]);
    assert_eq!(
        columns(
            "CREATE TABLE \"x\" (\"a b\" TEXT, [c] INT, d DEFAULT (1, 2), CONSTRAINT z UNIQUE (a))"
        ),
        ["a b", "c", "d"]
    );
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let d = scratch("garbage");
    let p = d.join("x.sqlite");
    std::fs::write(&p, b"not a database at all, just text that is long enough to have a header ..............................").unwrap();
    let e = Db::open(&p).err().unwrap();
    assert!(e.contains("no SQLite header"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}
