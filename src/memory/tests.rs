//! Memory over a real LMDB store and a real tantivy index, with a bag-of-words test
//! embedder (the real one is exercised by the integration tests).

use super::*;
use crate::core::{ChatMessage, Role};
use crate::storage::StoreOptions;

/// Hashes words into 64 buckets and normalises: texts sharing words are similar.
struct WordsEmbed;

impl Embed for WordsEmbed {
    fn dims(&self) -> usize {
        64
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 64];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                    v[(h % 64) as usize] += 1.0;
                }
                v[0] += 0.01;
                let n = vectors::dot(&v, &v).sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

struct Fixture {
    dir: PathBuf,
    store: Store,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hearth-memory-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ws/memory")).expect("mkdir");
        let store = Store::open(
            &dir.join("store"),
            StoreOptions {
                map_size_bytes: 256 << 20,
            },
        )
        .expect("store");
        Self { dir, store }
    }

    fn memory(&self) -> Memory {
        Memory::open(
            self.store.clone(),
            Arc::new(WordsEmbed),
            MemoryOptions {
                workspace: std::sync::Arc::new(
                    crate::workspace::Workspace::open(&self.dir.join("ws")).expect("workspace"),
                ),
                index_dir: self.dir.join("index"),
                sessions: true,
                chunk_tokens: 400,
                chunk_overlap: 80,
                max_file_bytes: 2 << 20,
                search: SearchParams {
                    min_score: 0.0,
                    ..SearchParams::default()
                },
            },
        )
        .expect("memory")
    }

    fn write(&self, rel: &str, body: impl AsRef<[u8]>) {
        std::fs::write(self.dir.join("ws").join(rel), body).expect("write");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn settle(m: &Memory) {
    m.sync().expect("sync");
    m.index_pending(&mut |_, _| {}).expect("index");
}

fn assert_consistent(m: &Memory) -> MemoryStatus {
    let s = m.status().expect("status");
    assert_eq!(s.pending, 0, "{s:?}");
    assert_eq!(s.chunks, s.vectors, "{s:?}");
    assert_eq!(s.chunks, s.text_docs, "{s:?}");
    let listed: usize = s.sources.iter().map(|x| x.chunks).sum();
    assert_eq!(listed as u64, s.chunks, "{s:?}");
    s
}

#[test]
fn indexes_notes_and_finds_them() {
    let f = Fixture::new("find");
    f.write(
        "MEMORY.md",
        "# Memory\n\nThe wifi password of the cabin is larch-42.\n\nDentist on Tuesdays.\n",
    );
    f.write(
        "memory/2026-11-20.md",
        "Bought winter tyres for the Volvo.\n",
    );
    let m = f.memory();
    settle(&m);
    let s = assert_consistent(&m);
    assert_eq!(s.chunks, 2);
    let out = m
        .search("cabin wifi password", &SearchParams::default())
        .expect("search");
    assert_eq!(out.mode, Mode::Hybrid);
    let top = &out.results[0];
    assert_eq!(top.path, "MEMORY.md");
    assert_eq!((top.start_line, top.end_line), (1, 5));
    assert!(top.snippet.contains("larch-42"));
    assert!(top.vector_score.is_some() && top.text_score.is_some());
    let out = m
        .search(
            "tyres",
            &SearchParams {
                mode: Mode::Text,
                ..SearchParams::default()
            },
        )
        .expect("text");
    assert_eq!(out.results[0].path, "memory/2026-11-20.md");
    assert!(matches!(
        m.search("  ", &SearchParams::default()),
        Err(MemoryError::Invalid(_))
    ));
}

#[test]
fn edits_keep_unchanged_chunks_and_deletions_remove_them() {
    let f = Fixture::new("edit");
    let paras: Vec<String> = (0..30)
        .map(|i| format!("Note {i}: {}", "alpha beta gamma delta ".repeat(20)))
        .collect();
    f.write("memory/log.md", paras.join("\n\n"));
    let m = f.memory();
    settle(&m);
    let before = assert_consistent(&m);
    assert!(before.chunks > 3);
    let r = f.store.read_txn().expect("r");
    let ids_before = f
        .store
        .mem_source(&r, "memory/log.md")
        .expect("src")
        .expect("some")
        .chunk_ids;
    drop(r);

    // Append a paragraph: only the tail chunk changes.
    std::thread::sleep(std::time::Duration::from_millis(20));
    f.write(
        "memory/log.md",
        format!("{}\n\nNote 30: the zebra escaped.", paras.join("\n\n")),
    );
    let rep = m.sync().expect("sync");
    assert_eq!(rep.sources_changed, 1);
    assert!(rep.added <= 2 && rep.removed <= 1, "{rep:?}");
    m.index_pending(&mut |_, _| {}).expect("index");
    assert_consistent(&m);
    let r = f.store.read_txn().expect("r");
    let ids_after = f
        .store
        .mem_source(&r, "memory/log.md")
        .expect("src")
        .expect("some")
        .chunk_ids;
    drop(r);
    let kept = ids_before
        .iter()
        .filter(|id| ids_after.contains(id))
        .count();
    assert!(
        kept >= ids_before.len() - 1,
        "{kept} of {}",
        ids_before.len()
    );
    let text_only = SearchParams {
        mode: Mode::Text,
        ..SearchParams::default()
    };
    let out = m.search("zebra", &text_only).expect("search");
    assert_eq!(out.results.len(), 1, "{out:?}");
    assert_eq!(
        out.results[0].end_line, 61,
        "the appended paragraph's chunk"
    );

    std::fs::remove_file(f.dir.join("ws/memory/log.md")).expect("rm");
    settle(&m);
    let s = assert_consistent(&m);
    assert_eq!(s.chunks, 0);
    assert!(
        m.search("zebra", &SearchParams::default())
            .expect("search")
            .results
            .is_empty()
    );
}

#[test]
fn replaying_unacknowledged_ops_creates_no_duplicates() {
    let f = Fixture::new("replay");
    for d in 1..=5 {
        f.write(
            &format!("memory/2026-01-0{d}.md"),
            format!("Day {d}: walked the dog in the park number {d}."),
        );
    }
    let m = f.memory();
    m.sync().expect("sync");
    // A crash after the text index committed but before LMDB acknowledged: apply the
    // pending ops to tantivy by hand, then let the indexer run them again.
    let r = f.store.read_txn().expect("r");
    let ops = f.store.outbox_pending(&r, 100).expect("pending");
    let chunks: Vec<ChunkRecord> = ops
        .iter()
        .filter_map(|(_, op)| match op {
            OutboxOp::Index { chunk } => f.store.chunk(&r, *chunk).expect("chunk"),
            OutboxOp::Delete { .. } => None,
        })
        .collect();
    drop(r);
    let changes: Vec<Change<'_>> = chunks
        .iter()
        .map(|c| Change::Upsert {
            id: c.id,
            text: &c.text,
        })
        .collect();
    m.text.apply(&changes).expect("apply");
    drop(m);
    let m = f.memory();
    m.index_pending(&mut |_, _| {}).expect("index");
    let s = assert_consistent(&m);
    assert_eq!(s.chunks, 5);
    let out = m
        .search(
            "dog park",
            &SearchParams {
                max_results: 10,
                ..SearchParams::default()
            },
        )
        .expect("s");
    let mut ids: Vec<u64> = out.results.iter().map(|r| r.chunk_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), out.results.len());
}

#[test]
fn edge_inputs_are_indexed_or_rejected_with_a_reason() {
    let f = Fixture::new("edge");
    f.write("memory/empty.md", "");
    f.write("memory/big.md", "word ".repeat(1_100_000)); // 5.5 MB
    let junk: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    f.write("memory/junk.md", &junk);
    let mut latin1 = b"Caf".to_vec();
    latin1.push(0xE9);
    latin1.extend_from_slice(
        " au lait with the neighbours on Sunday. "
            .repeat(10)
            .as_bytes(),
    );
    f.write("memory/latin1.md", &latin1);
    f.write(
        "memory/cjk.md",
        "明日は東京で会議があります。🎉🎉 Party after the meeting 🥳\n\n한국어 메모입니다.",
    );
    let m = f.memory();
    settle(&m);
    let s = assert_consistent(&m);
    let src = |p: &str| s.sources.iter().find(|x| x.path == p).expect(p).clone();
    assert_eq!(src("memory/empty.md").chunks, 0);
    assert!(src("memory/empty.md").rejected.is_none());
    assert!(
        src("memory/big.md")
            .rejected
            .as_deref()
            .is_some_and(|r| r.contains("max_file_bytes"))
    );
    let j = src("memory/junk.md");
    assert!(
        j.rejected
            .as_deref()
            .is_some_and(|r| r.contains("binary") || r.contains("UTF-8")),
        "{j:?}"
    );
    assert_eq!(src("memory/latin1.md").chunks, 1);
    assert_eq!(src("memory/cjk.md").chunks, 1);
    let out = m
        .search("東京 会議", &SearchParams::default())
        .expect("cjk");
    assert_eq!(out.results[0].path, "memory/cjk.md");
    assert!(m.search("🎉", &SearchParams::default()).is_ok());
}

#[test]
fn transcripts_are_memory_and_survive_a_reset() {
    let f = Fixture::new("sessions");
    let mut w = f.store.write_txn().expect("w");
    let mut s = f
        .store
        .session_or_create(&mut w, "agent:main:main")
        .expect("s");
    f.store
        .append(
            &mut w,
            &mut s,
            None,
            ChatMessage::text(Role::User, "My sister Ingrid lives in Tromsø."),
        )
        .expect("a");
    f.store
        .append(
            &mut w,
            &mut s,
            None,
            ChatMessage::text(Role::Assistant, "Noted: Ingrid, Tromsø."),
        )
        .expect("a");
    f.store.commit(w).expect("commit");
    let m = f.memory();
    settle(&m);
    let out = m
        .search("where does Ingrid live", &SearchParams::default())
        .expect("search");
    let top = &out.results[0];
    assert!(
        top.path.starts_with("sessions/agent:main:main/"),
        "{}",
        top.path
    );
    let got = m.get(&top.path, 1, 10).expect("get");
    assert!(got.starts_with("User: My sister Ingrid"), "{got}");

    let mut w = f.store.write_txn().expect("w");
    f.store
        .reset_session(&mut w, "agent:main:main")
        .expect("reset");
    f.store.commit(w).expect("commit");
    settle(&m);
    assert_eq!(
        m.search("Ingrid", &SearchParams::default())
            .expect("s")
            .results
            .len(),
        1
    );
}

#[test]
fn get_reads_lines_and_refuses_other_paths() {
    let f = Fixture::new("get");
    f.write("MEMORY.md", "one\ntwo\nthree\nfour\n");
    f.write("notes.md", "not memory");
    let m = f.memory();
    assert_eq!(m.get("MEMORY.md", 2, 2).expect("get"), "two\nthree");
    for bad in [
        "notes.md",
        "../../etc/passwd",
        "/etc/passwd",
        "memory/../notes.md",
        "sessions/x/1",
    ] {
        assert!(
            matches!(m.get(bad, 1, 5), Err(MemoryError::Invalid(_))),
            "{bad}"
        );
    }
}

#[test]
fn reindex_rebuilds_from_the_store_and_a_lost_index_refills() {
    let f = Fixture::new("reindex");
    f.write(
        "MEMORY.md",
        "Keys are under the flowerpot.\n\nThe cat is called Miso.",
    );
    let m = f.memory();
    settle(&m);
    let mut calls = 0;
    let n = m
        .reindex(&mut |done, total| {
            calls += 1;
            assert!(done <= total);
        })
        .expect("reindex");
    assert_eq!(n, 1);
    assert!(calls >= 1);
    assert_consistent(&m);
    drop(m);
    std::fs::remove_dir_all(f.dir.join("index")).expect("rm index");
    let m = f.memory();
    m.index_pending(&mut |_, _| {}).expect("index");
    assert_consistent(&m);
    assert_eq!(
        m.search("flowerpot", &SearchParams::default())
            .expect("s")
            .results
            .len(),
        1
    );
}
