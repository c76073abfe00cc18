//! Long-term memory with real parts: the all-MiniLM-L6-v2 embedder (real weights), a real
//! LMDB store and tantivy index, and the real `hearth` binary for crash and protocol tests.
//!
//! Retrieval quality is measured on a fixture drawn from SQuAD v1.1 (CC BY-SA 4.0; see
//! `tests/fixtures/retrieval/README.md`): each passage is one memory file, each question
//! must find its passage in the top 5.

#![cfg(feature = "embedder")]

mod common;

use common::harness::{Gateway, NO_CHAT, models_dir, temp_dir};
use hearth::embed::{EmbedOptions, Embedder};
use hearth::memory::{Embed, Memory, MemoryOptions, Mode, SearchParams};
use hearth::storage::{Store, StoreOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn embedder() -> Arc<dyn Embed> {
    Arc::new(Embedder::new(EmbedOptions::new(
        models_dir().join("all-minilm-l6-v2"),
    )))
}

fn open_memory(root: &Path, embed: Arc<dyn Embed>) -> Memory {
    let store = Store::open(
        &root.join("store"),
        StoreOptions {
            map_size_bytes: 512 << 20,
        },
    )
    .expect("store");
    Memory::open(
        store,
        embed,
        MemoryOptions {
            workspace: std::sync::Arc::new(
                hearth::workspace::Workspace::open(&root.join("ws")).expect("workspace"),
            ),
            index_dir: root.join("index"),
            sessions: false,
            chunk_tokens: 400,
            chunk_overlap: 80,
            max_file_bytes: 2 << 20,
            search: SearchParams::default(),
        },
    )
    .expect("memory")
}

fn jsonl(path: &str) -> Vec<Value> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect("fixture")
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect()
}

#[test]
fn hybrid_recall_at_5_is_at_least_the_better_of_bm25_and_vectors() {
    let root = temp_dir("recall");
    let ws = root.join("ws/memory/squad");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let corpus = jsonl("tests/fixtures/retrieval/corpus.jsonl");
    let queries = jsonl("tests/fixtures/retrieval/queries.jsonl");
    for p in &corpus {
        let id = p["id"].as_str().expect("id");
        let body = format!(
            "# {}\n\n{}\n",
            p["title"].as_str().expect("title"),
            p["text"].as_str().expect("text")
        );
        std::fs::write(ws.join(format!("{id}.md")), body).expect("write");
    }
    let mem = open_memory(&root, embedder());
    let t0 = Instant::now();
    mem.sync().expect("sync");
    mem.index_pending(&mut |_, _| {}).expect("index");
    let st = mem.status().expect("status");
    assert_eq!(st.chunks as usize, corpus.len());
    assert_eq!((st.vectors, st.text_docs), (st.chunks, st.chunks));
    eprintln!(
        "indexed {} passages in {:.1}s",
        corpus.len(),
        t0.elapsed().as_secs_f32()
    );

    let recall = |mode: Mode| -> (f32, f32) {
        let params = SearchParams {
            mode,
            max_results: 5,
            min_score: 0.0,
            ..SearchParams::default()
        };
        let (mut hit5, mut hit1) = (0, 0);
        for q in &queries {
            let want: Vec<String> = q["relevant"]
                .as_array()
                .expect("relevant")
                .iter()
                .map(|r| format!("memory/squad/{}.md", r.as_str().expect("id")))
                .collect();
            let out = mem
                .search(q["text"].as_str().expect("q"), &params)
                .expect("search");
            assert_eq!(out.mode, mode, "{:?}", out.note);
            if out.results.iter().any(|r| want.contains(&r.path)) {
                hit5 += 1;
            }
            if out.results.first().is_some_and(|r| want.contains(&r.path)) {
                hit1 += 1;
            }
        }
        let n = queries.len() as f32;
        (hit5 as f32 / n, hit1 as f32 / n)
    };
    let (text5, text1) = recall(Mode::Text);
    let (vec5, vec1) = recall(Mode::Vector);
    let (hyb5, hyb1) = recall(Mode::Hybrid);
    eprintln!(
        "recall@5 over {} queries: hybrid {hyb5:.3}, bm25 {text5:.3}, vector {vec5:.3}; recall@1: hybrid {hyb1:.3}, bm25 {text1:.3}, vector {vec1:.3}",
        queries.len()
    );
    assert!(text5 > 0.5 && vec5 > 0.5, "both retrievers work at all");
    assert!(
        hyb5 >= text5.max(vec5),
        "hybrid recall@5 {hyb5} is below the better single retriever ({text5} bm25, {vec5} vector)"
    );
    let _ = std::fs::remove_dir_all(root);
}

/// Files whose chunk count is known: `n` notes of several paragraphs each.
fn write_notes(ws: &Path, n: usize) {
    std::fs::create_dir_all(ws.join("memory")).expect("mkdir");
    for i in 0..n {
        let paras: Vec<String> = (0..12)
            .map(|p| format!("Note {i}, paragraph {p}: the greenhouse sensor {i}-{p} reported humidity and temperature readings that the gardener wanted to keep for the season's log."))
            .collect();
        std::fs::write(
            ws.join(format!("memory/note-{i:03}.md")),
            paras.join("\n\n"),
        )
        .expect("write");
    }
}

fn memory_status(gw: &Gateway) -> Value {
    let out = gw
        .cli()
        .args(["memory", "status", "--json"])
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status json")
}

fn wait_indexed(gw: &Gateway, want_chunks: u64) -> Value {
    let t0 = Instant::now();
    loop {
        let s = memory_status(gw);
        if s["pending"] == 0 && s["chunks"] == want_chunks && s["textDocs"] == want_chunks {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "not indexed: {s}\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn sigkill_during_indexing_loses_and_duplicates_nothing() {
    let root = temp_dir("crash-index");
    let ws = root.join("data/workspace");
    write_notes(&ws, 40);
    // Expected chunk count, from the same chunker the gateway uses.
    let expected: u64 = (0..40)
        .map(|i| {
            let t =
                std::fs::read_to_string(ws.join(format!("memory/note-{i:03}.md"))).expect("read");
            hearth::memory::chunk::chunk(&t, 400, 80).len() as u64
        })
        .sum();
    let cfg = format!(
        "[local]\nmodels_dir = {:?}\n\n[memory]\nsessions = false\nsync_interval_secs = 1\n{NO_CHAT}",
        models_dir()
    );
    let mut gw = Gateway::start(&root, &cfg);
    // Kill it at pseudo-random points while it embeds and indexes, several times.
    let mut seed = 0x2545_f491_u64;
    for round in 0..4 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 1500));
        gw.kill();
        eprintln!("round {round}: killed");
        gw.restart();
    }
    let s = wait_indexed(&gw, expected);
    assert_eq!(s["vectors"], expected, "{s}");
    // No duplicates: every chunk id appears once in a broad search.
    let mut w = gw.ws();
    let res = w.call(
        "memory.search",
        json!({"query": "greenhouse sensor humidity", "maxResults": 100, "minScore": 0}),
    );
    let ids: Vec<u64> = res["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["chunkId"].as_u64().expect("id"))
        .collect();
    let mut uniq = ids.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), ids.len(), "duplicate results: {ids:?}");
    assert_eq!(res["mode"], "hybrid");
    let res = w.call(
        "memory.search",
        json!({"query": "sensor 17-3", "maxResults": 3, "mode": "text"}),
    );
    let top = res["results"][0]["snippet"].as_str().expect("snippet");
    assert!(top.contains("17-3"), "{res}");
    gw.stop();
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn memory_over_the_gateway_cli_and_openai_embeddings() {
    let root = temp_dir("memory-gw");
    let ws = root.join("data/workspace");
    std::fs::create_dir_all(ws.join("memory")).expect("mkdir");
    std::fs::write(
        ws.join("MEMORY.md"),
        "# Memory\n\nThe spare key to the shed hangs behind the calendar in the kitchen.\n",
    )
    .expect("write");
    std::fs::write(
        ws.join("memory/2026-11-20.md"),
        "Booked the chimney sweep for 3 December.\n",
    )
    .expect("write");
    std::fs::write(ws.join("memory/junk.md"), [0u8, 159, 146, 150, 0, 1, 2]).expect("write");
    let cfg = format!(
        "[local]\nmodels_dir = {:?}\n\n[memory]\nsync_interval_secs = 1\n{NO_CHAT}",
        models_dir()
    );
    let mut gw = Gateway::start(&root, &cfg);
    let s = wait_indexed(&gw, 2);
    let junk = s["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|x| x["path"] == "memory/junk.md")
        .expect("junk listed")
        .clone();
    assert!(
        junk["rejected"]
            .as_str()
            .expect("reason")
            .contains("binary"),
        "{junk}"
    );

    let out = gw
        .cli()
        .args(["memory", "search", "where is the shed key?"])
        .output()
        .expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains("MEMORY.md:1-3")),
        "{text}"
    );
    assert!(text.contains("behind the calendar"), "{text}");

    let mut w = gw.ws();
    let res = w.call("memory.search", json!({"query": "chimney", "mode": "text"}));
    assert_eq!(res["results"][0]["path"], "memory/2026-11-20.md");
    let bad = w.request("memory.search", json!({"query": 5}));
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");

    // /v1/embeddings through the official openai client (which asks for base64).
    let stdout = gw.run_openai_script("openai_embeddings.py");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["dims"], 384);
    assert!(
        v["similar"].as_f64().expect("f") > v["different"].as_f64().expect("f"),
        "{v}"
    );
    assert!(
        (v["norm"].as_f64().expect("norm") - 1.0).abs() < 1e-3,
        "{v}"
    );
    assert!(v["tokens"].as_u64().expect("tokens") > 0);

    // Reindex through the running gateway keeps the counts.
    let out = gw.cli().args(["memory", "reindex"]).output().expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reindexed 2 chunks"));
    wait_indexed(&gw, 2);
    gw.stop();

    // With the gateway stopped, the CLI opens the data dir itself.
    let out = gw
        .cli()
        .args(["memory", "search", "--mode", "text", "chimney sweep"])
        .output()
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("memory/2026-11-20.md"));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
#[cfg(feature = "local-llm")]
fn a_session_longer_than_the_local_window_compacts_and_still_answers() {
    let root = temp_dir("compaction");
    // A 1,024-token window: a handful of turns fills it.
    let cfg = format!(
        "[local]\nmodels_dir = {:?}\ncontext_window = 1024\n\n[agent]\nmax_tokens = 48\ncompaction_keep_turns = 1\n\n[memory]\nsessions = false\n",
        models_dir()
    );
    let mut gw = Gateway::start(&root, &cfg);
    let mut w = gw.ws();
    let session = "agent:main:long";
    let filler = "Here is some background about my garden that you should keep in mind. ".repeat(6);
    let mut compactions = 0;
    for i in 0..8 {
        let msg = format!(
            "Turn {i}. My favourite number today is {}. {filler}",
            100 + i
        );
        let p = w.call("chat.send", json!({"sessionKey": session, "message": msg}));
        let run = p["runId"].as_str().expect("runId").to_string();
        // Up to three model calls per turn (memory flush, summary, answer): on a loaded
        // 2-core machine each can take a minute, so wait in slices until the run ends.
        let mut done = json!(null);
        for _ in 0..4 {
            done = w.call("agent.wait", json!({"runId": run, "timeoutMs": 240_000}));
            if done["status"] != "running" {
                break;
            }
        }
        assert_eq!(
            done["status"],
            "completed",
            "turn {i}: {done}\n{}",
            gw.log()
        );
        assert!(
            !done["text"].as_str().unwrap_or_default().is_empty(),
            "turn {i}: {done}"
        );
        compactions += done["events"].as_array().map_or(0, |e| {
            e.iter().filter(|x| x["kind"] == "compaction").count()
        });
    }
    assert!(
        compactions >= 1,
        "no compaction in 8 long turns\n{}",
        gw.log()
    );
    let h = w.call(
        "chat.history",
        json!({"sessionKey": session, "limit": 1000}),
    );
    let entries = h["messages"].as_array().expect("history").clone();
    let marks = entries
        .iter()
        .filter(|e| e.get("compaction").is_some_and(|c| !c.is_null()))
        .count();
    assert!(marks >= 1, "compaction recorded in the transcript: {h}");
    gw.stop();
    let _ = std::fs::remove_dir_all(root);
}
