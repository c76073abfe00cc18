//! The data-file check against real LMDB files written through [`Store`].

use super::*;
use crate::storage::{Store, StoreOptions};
use std::path::PathBuf;

const OPTS: StoreOptions = StoreOptions {
    map_size_bytes: 16 << 20,
};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hearth-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn newest_meta(dir: &Path) -> Meta {
    let file = File::open(dir.join("data.mdb")).unwrap();
    let first = read_meta(&file, 0).unwrap().expect("meta page 0");
    let second = read_meta(&file, first.page_size)
        .unwrap()
        .expect("meta page 1");
    if second.txnid > first.txnid {
        second
    } else {
        first
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

fn set_len(dir: &Path, len: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("data.mdb"))
        .unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn a_truncated_data_file_is_refused_before_lmdb_maps_it() {
    let dir = tmp("truncated");
    {
        let s = Store::open(&dir, OPTS).unwrap();
        let mut w = s.write_txn().unwrap();
        for i in 0..400 {
            s.sessions.put(&mut w, &key(i), &[b'v'; 500]).unwrap();
        }
        s.commit(w).unwrap();
    }
    let full = std::fs::metadata(dir.join("data.mdb")).unwrap().len();
    let meta = newest_meta(&dir);
    assert!(full >= (meta.last_pg + 1) * meta.page_size);
    // Intact, it opens.
    drop(Store::open(&dir, OPTS).unwrap());

    set_len(&dir, full / 2);
    let err = Store::open(&dir, OPTS)
        .err()
        .expect("a truncated store opened");
    let StoreError::Truncated { path, size, needed } = &err else {
        panic!("expected Truncated, got {err:?}");
    };
    assert_eq!((path, *size), (&dir, full / 2));
    assert!(*needed > full / 2 && *needed <= full, "{needed} of {full}");
    let text = err.to_string();
    assert!(
        text.contains(&dir.display().to_string())
            && text.contains("restore")
            && text.contains("move it aside"),
        "{text}"
    );

    // Cut inside the second meta page, and inside the first.
    set_len(&dir, meta.page_size + 100);
    assert!(matches!(
        Store::open(&dir, OPTS),
        Err(StoreError::Truncated { needed, .. }) if needed == 2 * meta.page_size
    ));
    set_len(&dir, 100);
    assert!(matches!(
        Store::open(&dir, OPTS),
        Err(StoreError::Truncated { needed, .. }) if needed == 2 * DEFAULT_PAGE_SIZE
    ));
    // An empty file is a new environment, as LMDB treats it.
    set_len(&dir, 0);
    drop(Store::open(&dir, OPTS).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// LMDB may leave a healthy file shorter than its meta's last page: pages a transaction
/// allocated and freed again are listed as free but never written. It happens when such a
/// transaction never loaded reusable pages (an old reader kept every free page busy) and
/// that reader ends before the commit, so the free list's own pages, written at the commit,
/// reuse low pages instead of extending the file.
#[test]
fn never_written_free_pages_at_the_end_are_not_truncation() {
    let dir = tmp("free-tail");
    let s = Store::open(&dir, OPTS).unwrap();
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    let reader_store = s.clone();
    let reader = std::thread::spawn(move || {
        let rtxn = reader_store.read_txn().unwrap();
        opened_tx.send(()).unwrap();
        end_rx.recv().unwrap();
        drop(rtxn);
    });
    opened_rx.recv().unwrap();
    // Pages freed from here on are busy while the reader lives; LMDB reuses a page only two
    // transactions after the one that freed it.
    for round in 0..2u8 {
        let mut w = s.write_txn().unwrap();
        s.sessions.put(&mut w, b"seed", &[round]).unwrap();
        s.commit(w).unwrap();
    }
    let mut w = s.write_txn().unwrap();
    for i in 0..500 {
        s.sessions.put(&mut w, &key(i), &[b'v'; 200]).unwrap();
    }
    for i in 0..500 {
        s.sessions.delete(&mut w, &key(i)).unwrap();
    }
    end_tx.send(()).unwrap();
    reader.join().unwrap();
    s.commit(w).unwrap();
    drop(s);

    let size = std::fs::metadata(dir.join("data.mdb")).unwrap().len();
    let meta = newest_meta(&dir);
    assert!(
        size < (meta.last_pg + 1) * meta.page_size,
        "the scenario should leave free pages past the end of the file ({size} bytes, last page {})",
        meta.last_pg
    );
    let s = Store::open(&dir, OPTS).expect("a healthy store with a free tail opens");
    let mut w = s.write_txn().unwrap();
    s.sessions.put(&mut w, b"after", b"ok").unwrap();
    s.commit(w).unwrap();
    drop(s);
    let s = Store::open(&dir, OPTS).unwrap();
    let r = s.read_txn().unwrap();
    assert_eq!(s.sessions.get(&r, b"after").unwrap(), Some(&b"ok"[..]));
    drop(r);
    drop(s);

    // Cutting the file below its last page in use is still caught.
    let meta = newest_meta(&dir);
    set_len(&dir, 3 * meta.page_size);
    assert!(matches!(
        Store::open(&dir, OPTS),
        Err(StoreError::Truncated { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
