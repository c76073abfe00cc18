//! Long-term memory: the workspace's memory notes and session transcripts, chunked, kept in
//! LMDB, indexed for BM25 (tantivy, in `search`) and for vector similarity (an int8 scan
//! over on-device embeddings, re-scored exactly), and searched hybrid.
//!
//! Invariants:
//! - LMDB is the truth. A source change commits its chunks and an outbox op per changed chunk
//!   in one transaction; the indexer applies ops to the text index (idempotently), commits
//!   it, then stores the vectors and acknowledges the ops (moving the watermark) in one
//!   transaction. A crash anywhere re-applies only the unacknowledged tail: no chunk is lost
//!   or indexed twice.
//! - The text index and the vectors can always be rebuilt from the chunk table
//!   ([`Memory::reindex`]).
//! - Sync, indexing and rebuilds are serialised by one lock; searches run beside them.

pub mod chunk;
pub mod hybrid;
pub mod sources;
pub mod tools;
pub mod vectors;

use crate::search::{Change, SearchError, TextIndex};
use crate::storage::{ChunkRecord, OutboxOp, SourceRecord, Store, StoreError, Wtxn};
use hybrid::{Fused, Fusion};
use serde::Serialize;
use sources::SESSION_PREFIX;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use vectors::VectorScan;

/// Outbox ops applied per indexing round (one text-index commit and one LMDB commit each).
const INDEX_BATCH: usize = 64;
/// Characters of a chunk shown in a search result.
const SNIPPET_CHARS: usize = 700;
/// Most lines `memory_get` returns at once.
pub const MAX_GET_LINES: usize = 400;

/// Computes unit-length sentence embeddings (the on-device embedder, or a test double).
pub trait Embed: Send + Sync {
    /// Dimensions of every vector.
    fn dims(&self) -> usize;
    /// One unit-length vector per text, in order.
    ///
    /// # Errors
    /// A message saying what failed (model missing, inference error).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
    /// Tokens the model sees for `text` (for usage reports), if known.
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }
    /// Why this embedder can never produce a vector, if so (a build without one): memory
    /// then indexes and searches by keywords without asking it, and says why.
    fn unavailable(&self) -> Option<&str> {
        None
    }
}

/// The [`Embed`] of a build without the on-device embedder (cargo feature `embedder`):
/// every call fails with the same explanation, and memory runs on BM25 alone.
#[derive(Debug, Clone)]
pub struct NoEmbedder;

impl NoEmbedder {
    /// What [`Embed::unavailable`] and every failed call say.
    pub const REASON: &str = "this build of hearth has no on-device embedder (cargo feature \
        `embedder`); memory searches by keywords (BM25) only";
}

impl Embed for NoEmbedder {
    fn dims(&self) -> usize {
        0
    }
    fn embed(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        Err(Self::REASON.into())
    }
    fn unavailable(&self) -> Option<&str> {
        Some(Self::REASON)
    }
}

/// The on-device embedder as memory's [`Embed`].
#[cfg(feature = "embedder")]
impl Embed for crate::embed::Embedder {
    fn dims(&self) -> usize {
        crate::embed::DIMS
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        crate::embed::Embedder::embed(self, texts).map_err(|e| e.to_string())
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        crate::embed::Embedder::count_tokens(self, text).ok()
    }
}

/// A memory failure.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The text index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The embedder failed (and the search needed it).
    #[error("embedder: {0}")]
    Embed(String),
    /// A bad argument (unknown source, empty query).
    #[error("{0}")]
    Invalid(String),
    /// Reading a source failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Settings of the memory (from `[memory]`).
#[derive(Debug, Clone)]
pub struct MemoryOptions {
    /// The agent workspace holding `MEMORY.md` and `memory/`.
    pub workspace: PathBuf,
    /// Directory of the tantivy index.
    pub index_dir: PathBuf,
    /// Index session transcripts too.
    pub sessions: bool,
    /// Chunk size, estimated tokens.
    pub chunk_tokens: usize,
    /// Chunk overlap, estimated tokens.
    pub chunk_overlap: usize,
    /// Larger files are rejected, bytes.
    pub max_file_bytes: u64,
    /// Defaults for searches that do not say otherwise.
    pub search: SearchParams,
}

/// Which result lists a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Vector and BM25, fused.
    Hybrid,
    /// Vector similarity only.
    Vector,
    /// BM25 only.
    Text,
}

/// Parameters of one search.
#[derive(Debug, Clone)]
pub struct SearchParams {
    /// Result lists used.
    pub mode: Mode,
    /// How the lists are fused.
    pub fusion: Fusion,
    /// Weight of the vector score.
    pub vector_weight: f32,
    /// Weight of the BM25 score.
    pub text_weight: f32,
    /// Results returned.
    pub max_results: usize,
    /// Results below this fused score are dropped.
    pub min_score: f32,
    /// MMR λ, or `None` for no MMR.
    pub mmr_lambda: Option<f32>,
    /// Temporal-decay half-life of dated notes and transcripts, days, or `None`.
    pub decay_half_life_days: Option<f32>,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            mode: Mode::Hybrid,
            fusion: Fusion::Weighted,
            vector_weight: 0.7,
            text_weight: 0.3,
            max_results: 6,
            min_score: 0.25,
            mmr_lambda: None,
            decay_half_life_days: None,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// Source name (workspace path or `sessions/<key>/<id>`).
    pub path: String,
    /// First line, from 1.
    pub start_line: u32,
    /// Last line, inclusive.
    pub end_line: u32,
    /// Fused score, 0–1.
    pub score: f32,
    /// Cosine similarity, if a vector candidate.
    pub vector_score: Option<f32>,
    /// Normalised BM25, if a keyword candidate.
    pub text_score: Option<f32>,
    /// The chunk's text, capped at 700 characters.
    pub snippet: String,
    /// The chunk id.
    pub chunk_id: u64,
}

/// A search's results and how it ran.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchOutcome {
    /// Best first.
    pub results: Vec<SearchResult>,
    /// The mode actually used (`text` when the embedder was unavailable).
    pub mode: Mode,
    /// Why the mode differs from the one asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Counts for `hearth memory status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStatus {
    /// Chunks in the store.
    pub chunks: u64,
    /// Chunk vectors in the store.
    pub vectors: u64,
    /// Documents in the text index.
    pub text_docs: u64,
    /// Outbox ops not yet applied.
    pub pending: u64,
    /// Highest applied outbox sequence number.
    pub watermark: u64,
    /// Bytes of the text index on disk.
    pub index_bytes: u64,
    /// Sources and their chunk counts (or why they are not indexed).
    pub sources: Vec<SourceStatus>,
    /// Why there are no vectors (a build without the embedder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One source in [`MemoryStatus`].
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// Source name.
    pub path: String,
    /// Its chunks.
    pub chunks: usize,
    /// Why it is not indexed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// What one [`Memory::sync`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Sources re-read.
    pub sources_changed: usize,
    /// Chunks added.
    pub added: usize,
    /// Chunks removed.
    pub removed: usize,
}

/// The memory service (cheap to share behind an `Arc`).
pub struct Memory {
    store: Store,
    text: TextIndex,
    scan: RwLock<Option<VectorScan>>,
    embed: Arc<dyn Embed>,
    opts: MemoryOptions,
    work: Mutex<()>,
}

impl Memory {
    /// Opens the memory over `store`, opening (or creating) the text index. A text index
    /// that cannot be opened is moved aside and rebuilt from the store; an empty one beside
    /// a non-empty chunk table is refilled.
    ///
    /// # Errors
    /// [`MemoryError`] if the store fails or a fresh index cannot be created.
    pub fn open(
        store: Store,
        embed: Arc<dyn Embed>,
        opts: MemoryOptions,
    ) -> Result<Self, MemoryError> {
        let text = match TextIndex::open(&opts.index_dir) {
            Ok(t) => t,
            Err(e) => {
                let aside = opts
                    .index_dir
                    .with_extension(format!("broken-{}", crate::core::now_ms()));
                tracing::warn!("{e}; moving it to {} and rebuilding", aside.display());
                std::fs::rename(&opts.index_dir, &aside).map_err(|source| MemoryError::Io {
                    path: opts.index_dir.clone(),
                    source,
                })?;
                TextIndex::open(&opts.index_dir)?
            }
        };
        let mem = Self {
            store,
            text,
            scan: RwLock::new(None),
            embed,
            opts,
            work: Mutex::new(()),
        };
        let r = mem.store.read_txn()?;
        let (chunks, pending) = (mem.store.chunk_count(&r)?, mem.store.outbox_len(&r)?);
        drop(r);
        if chunks > 0 && mem.text.num_docs() == 0 && pending == 0 {
            tracing::info!(chunks, "text index is empty; rebuilding it from the store");
            let mut w = mem.store.write_txn()?;
            mem.store.requeue_all_chunks(&mut w)?;
            mem.store.commit(w)?;
        }
        Ok(mem)
    }

    /// The options in force.
    pub fn options(&self) -> &MemoryOptions {
        &self.opts
    }

    /// The embedder.
    pub fn embedder(&self) -> &Arc<dyn Embed> {
        &self.embed
    }

    /// Re-reads changed sources and commits their chunk changes with outbox ops (vectors
    /// and the text index follow in [`Memory::index_pending`]).
    ///
    /// # Errors
    /// [`MemoryError::Store`]. Unreadable or unindexable files are recorded as rejected
    /// (with the reason) rather than failing the sync.
    pub fn sync(&self) -> Result<SyncReport, MemoryError> {
        let _g = self.work.lock().unwrap_or_else(|p| p.into_inner());
        let mut report = SyncReport::default();
        let files = sources::list_files(&self.opts.workspace);
        let r = self.store.read_txn()?;
        let known = self.store.mem_sources(&r)?;
        drop(r);
        let known: HashMap<String, SourceRecord> =
            known.into_iter().map(|s| (s.source.clone(), s)).collect();

        for f in &files {
            let old = known.get(&f.name);
            if old.is_some_and(|o| o.mtime_ms == f.mtime_ms && o.size == f.size) {
                continue;
            }
            self.sync_file(f, old.cloned(), &mut report)?;
        }
        // Files that disappeared take their chunks with them.
        for (name, rec) in &known {
            if !name.starts_with(SESSION_PREFIX) && !files.iter().any(|f| &f.name == name) {
                let mut w = self.store.write_txn()?;
                report.removed += self.replace_chunks(&mut w, rec, Vec::new())?.1;
                self.store.delete_mem_source(&mut w, name)?;
                self.store.commit(w)?;
                report.sources_changed += 1;
            }
        }
        if self.opts.sessions {
            self.sync_sessions(&known, &mut report)?;
        }
        Ok(report)
    }

    fn sync_file(
        &self,
        f: &sources::FileSource,
        old: Option<SourceRecord>,
        report: &mut SyncReport,
    ) -> Result<(), MemoryError> {
        let mut rec = old.clone().unwrap_or_else(|| SourceRecord {
            source: f.name.clone(),
            ..SourceRecord::default()
        });
        rec.mtime_ms = f.mtime_ms;
        rec.size = f.size;
        let text = if f.size > self.opts.max_file_bytes {
            Err(format!(
                "file is {} bytes, over memory.max_file_bytes = {}; not indexed",
                f.size, self.opts.max_file_bytes
            ))
        } else {
            match std::fs::read(&f.path) {
                Ok(bytes) => {
                    let hash = sources::digest(&bytes);
                    if old
                        .as_ref()
                        .is_some_and(|o| o.hash == hash && o.rejected.is_none())
                    {
                        // Touched but unchanged.
                        let mut w = self.store.write_txn()?;
                        self.store.put_mem_source(&mut w, &rec)?;
                        return Ok(self.store.commit(w)?);
                    }
                    rec.hash = hash;
                    sources::check_text(&bytes)
                }
                Err(e) => Err(format!("cannot read: {e}")),
            }
        };
        let pieces = match text {
            Ok(t) => {
                rec.rejected = None;
                let ts = sources::note_date_ms(&f.name).unwrap_or(f.mtime_ms);
                chunk::chunk(&t, self.opts.chunk_tokens, self.opts.chunk_overlap)
                    .into_iter()
                    .map(|p| (p, ts))
                    .collect()
            }
            Err(why) => {
                tracing::warn!(source = %f.name, "memory: {why}");
                rec.rejected = Some(why);
                Vec::new()
            }
        };
        let mut w = self.store.write_txn()?;
        let (ids, added, removed) = self.replace_chunks(&mut w, &rec, pieces)?;
        rec.chunk_ids = ids;
        self.store.put_mem_source(&mut w, &rec)?;
        self.store.commit(w)?;
        report.sources_changed += 1;
        report.added += added;
        report.removed += removed;
        Ok(())
    }

    fn sync_sessions(
        &self,
        known: &HashMap<String, SourceRecord>,
        report: &mut SyncReport,
    ) -> Result<(), MemoryError> {
        let r = self.store.read_txn()?;
        let sessions = self.store.sessions(&r)?;
        drop(r);
        for s in sessions {
            let name = sources::session_source(&s.key, s.id);
            let old = known.get(&name);
            if old.is_some_and(|o| o.mtime_ms == s.updated_ms && o.size == s.next_seq) {
                continue;
            }
            let r = self.store.read_txn()?;
            let entries = self.store.transcript_from(&r, s.id, 0, usize::MAX)?;
            drop(r);
            let (text, line_ts) = sources::render_transcript(&entries);
            let pieces = chunk::chunk(&text, self.opts.chunk_tokens, self.opts.chunk_overlap)
                .into_iter()
                .map(|p| {
                    let ts = line_ts
                        .get(p.end_line.saturating_sub(1) as usize)
                        .copied()
                        .unwrap_or(s.updated_ms);
                    (p, ts)
                })
                .collect();
            let mut rec = old.cloned().unwrap_or_else(|| SourceRecord {
                source: name.clone(),
                ..SourceRecord::default()
            });
            rec.mtime_ms = s.updated_ms;
            rec.size = s.next_seq;
            rec.hash = sources::digest(text.as_bytes());
            let mut w = self.store.write_txn()?;
            let (ids, added, removed) = self.replace_chunks(&mut w, &rec, pieces)?;
            rec.chunk_ids = ids;
            self.store.put_mem_source(&mut w, &rec)?;
            self.store.commit(w)?;
            report.sources_changed += 1;
            report.added += added;
            report.removed += removed;
        }
        Ok(())
    }

    /// Makes `pieces` the chunks of source `old`: chunks whose text is unchanged keep their
    /// id (and vector); new ones are stored and enqueued for indexing; the rest are deleted
    /// and enqueued for removal. Returns the new chunk ids and the counts added and removed.
    fn replace_chunks(
        &self,
        w: &mut Wtxn<'_>,
        old: &SourceRecord,
        pieces: Vec<(chunk::Piece, u64)>,
    ) -> Result<(Vec<u64>, usize, usize), MemoryError> {
        let mut by_hash: HashMap<String, Vec<ChunkRecord>> = HashMap::new();
        for &id in &old.chunk_ids {
            if let Some(c) = self.store.chunk(w, id)? {
                by_hash.entry(c.hash.clone()).or_default().push(c);
            }
        }
        let mut ids = Vec::with_capacity(pieces.len());
        let mut added = 0;
        for (p, ts_ms) in pieces {
            let hash = sources::digest(p.text.as_bytes());
            let reuse = by_hash.get_mut(&hash).and_then(|v| v.pop());
            match reuse {
                Some(mut c) => {
                    if (c.start_line, c.end_line, c.ts_ms) != (p.start_line, p.end_line, ts_ms) {
                        (c.start_line, c.end_line, c.ts_ms) = (p.start_line, p.end_line, ts_ms);
                        self.store.put_chunk(w, &c)?;
                    }
                    ids.push(c.id);
                }
                None => {
                    let id = self.store.new_chunk_id(w)?;
                    self.store.put_chunk(
                        w,
                        &ChunkRecord {
                            id,
                            source: old.source.clone(),
                            start_line: p.start_line,
                            end_line: p.end_line,
                            text: p.text,
                            hash,
                            ts_ms,
                        },
                    )?;
                    self.store.outbox_push(w, OutboxOp::Index { chunk: id })?;
                    ids.push(id);
                    added += 1;
                }
            }
        }
        let mut removed = 0;
        for c in by_hash.into_values().flatten() {
            self.store.delete_chunk(w, c.id)?;
            self.store
                .outbox_push(w, OutboxOp::Delete { chunk: c.id })?;
            removed += 1;
        }
        Ok((ids, added, removed))
    }

    /// Applies pending outbox ops: embeds new chunks, updates the text index (committed
    /// first), then stores the vectors and acknowledges the ops in one LMDB transaction.
    /// `progress(done, total)` is called after each round. Returns the ops applied.
    ///
    /// If the embedder fails, chunks are still added to the text index (keyword search
    /// works) and a warning is logged; `hearth memory reindex` fills in the vectors later.
    ///
    /// # Errors
    /// [`MemoryError::Store`] or [`MemoryError::Search`]; the ops then stay pending.
    pub fn index_pending(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, MemoryError> {
        let _g = self.work.lock().unwrap_or_else(|p| p.into_inner());
        self.index_pending_locked(progress)
    }

    fn index_pending_locked(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, MemoryError> {
        let total = {
            let r = self.store.read_txn()?;
            self.store.outbox_len(&r)?
        };
        let mut done = 0u64;
        loop {
            let r = self.store.read_txn()?;
            let ops = self.store.outbox_pending(&r, INDEX_BATCH)?;
            let Some(&(last_seq, _)) = ops.last() else {
                break;
            };
            // Resolve ops to chunk texts; an op whose chunk is gone is a removal.
            let mut live: Vec<ChunkRecord> = Vec::new();
            let mut changes: Vec<(u64, Option<usize>)> = Vec::with_capacity(ops.len());
            for (_, op) in &ops {
                match *op {
                    OutboxOp::Index { chunk } => match self.store.chunk(&r, chunk)? {
                        Some(c) => {
                            changes.push((chunk, Some(live.len())));
                            live.push(c);
                        }
                        None => changes.push((chunk, None)),
                    },
                    OutboxOp::Delete { chunk } => changes.push((chunk, None)),
                }
            }
            drop(r);
            let texts: Vec<&str> = live.iter().map(|c| c.text.as_str()).collect();
            let vecs = if texts.is_empty() {
                Some(Vec::new())
            } else if self.embed.unavailable().is_some() {
                None
            } else {
                match self.embed.embed(&texts) {
                    Ok(v) if v.len() == texts.len() => Some(v),
                    Ok(v) => {
                        tracing::warn!(
                            "embedder returned {} vectors for {} texts; indexing keywords only",
                            v.len(),
                            texts.len()
                        );
                        None
                    }
                    Err(e) => {
                        tracing::warn!(
                            "embedder failed ({e}); indexing keywords only until `hearth memory reindex`"
                        );
                        None
                    }
                }
            };
            let text_changes: Vec<Change<'_>> = changes
                .iter()
                .map(|&(id, at)| match at {
                    Some(i) => Change::Upsert {
                        id,
                        text: &live[i].text,
                    },
                    None => Change::Delete { id },
                })
                .collect();
            self.text.apply(&text_changes)?;

            let mut w = self.store.write_txn()?;
            let mut stored: Vec<(u64, Vec<u8>)> = Vec::new();
            if let Some(vecs) = &vecs {
                for (c, v) in live.iter().zip(vecs) {
                    // A chunk deleted meanwhile (by a rebuild) gets no vector.
                    if self.store.chunk(&w, c.id)?.is_some() {
                        let bytes = vectors::encode(v);
                        self.store.put_vector(&mut w, c.id, &bytes)?;
                        stored.push((c.id, bytes));
                    }
                }
            }
            self.store.outbox_ack(&mut w, last_seq)?;
            self.store.commit(w)?;

            let dims = self.embed.dims();
            if let Some(scan) = self
                .scan
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                for &(id, at) in &changes {
                    if at.is_none() {
                        scan.remove(id);
                    }
                }
                for (id, bytes) in &stored {
                    if let Some((codes, scale)) = vectors::decode_i8(bytes, dims) {
                        scan.upsert(*id, codes, scale);
                    }
                }
            }
            done += ops.len() as u64;
            progress(done, total.max(done));
        }
        Ok(done)
    }

    /// Rebuilds the text index and every vector from the chunk table (after re-reading
    /// the sources). Returns the number of chunks indexed.
    ///
    /// # Errors
    /// As [`Memory::index_pending`].
    pub fn reindex(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, MemoryError> {
        self.sync()?;
        let _g = self.work.lock().unwrap_or_else(|p| p.into_inner());
        // Requeue first (durably), then clear: a crash in between only replays upserts.
        let mut w = self.store.write_txn()?;
        self.store.requeue_all_chunks(&mut w)?;
        self.store.commit(w)?;
        self.text.clear()?;
        *self.scan.write().unwrap_or_else(|p| p.into_inner()) =
            Some(VectorScan::new(self.embed.dims()));
        self.index_pending_locked(progress)
    }

    /// Searches memory for `query` with `params`.
    ///
    /// # Errors
    /// [`MemoryError::Invalid`] for an empty query; [`MemoryError::Embed`] when
    /// `Mode::Vector` is asked for and the embedder fails (`Hybrid` then falls back to
    /// BM25 and says so in the outcome's note); store and index errors.
    pub fn search(&self, query: &str, params: &SearchParams) -> Result<SearchOutcome, MemoryError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(MemoryError::Invalid("the query is empty".into()));
        }
        let mut note = None;
        let qvec = match (params.mode, self.embed.unavailable()) {
            (Mode::Text, _) => None,
            (Mode::Vector, Some(why)) => return Err(MemoryError::Embed(why.into())),
            (Mode::Hybrid, Some(why)) => {
                note = Some(format!("keyword search only: {why}"));
                None
            }
            (mode, None) => match self.embed.embed(&[query]) {
                Ok(mut v) if v.len() == 1 => v.pop(),
                Ok(_) => return Err(MemoryError::Embed("no vector for the query".into())),
                Err(e) if mode == Mode::Vector => return Err(MemoryError::Embed(e)),
                Err(e) => {
                    note = Some(format!("keyword search only: the embedder failed: {e}"));
                    None
                }
            },
        };
        let mut out = self.search_with_vector(query, qvec.as_deref(), params)?;
        if note.is_some() {
            out.note = note;
        }
        Ok(out)
    }

    /// [`Memory::search`] with the query's vector already computed (`None`: keyword search
    /// only). Benchmarks use this to time retrieval apart from embedding.
    ///
    /// # Errors
    /// Store and index errors.
    pub fn search_with_vector(
        &self,
        query: &str,
        qvec: Option<&[f32]>,
        params: &SearchParams,
    ) -> Result<SearchOutcome, MemoryError> {
        let k = params.max_results.max(1);
        let candidates = (k * 4).max(40);
        let dims = self.embed.dims();
        let mode = match (params.mode, qvec) {
            (Mode::Text, _) | (_, None) => Mode::Text,
            (m, Some(_)) => m,
        };
        let mut vec_cache: HashMap<u64, Vec<f32>> = HashMap::new();
        let mut vhits: Vec<(u64, f32)> = Vec::new();
        if let (Some(q), true) = (qvec, mode != Mode::Text) {
            self.ensure_scan()?;
            let approx = self
                .scan
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|s| s.top_k(q, candidates))
                .unwrap_or_default();
            let r = self.store.read_txn()?;
            for (id, _) in approx {
                if let Some(v) = self
                    .store
                    .vector(&r, id)?
                    .and_then(|b| vectors::decode_f32(b, dims))
                {
                    vhits.push((id, vectors::dot(q, &v)));
                    vec_cache.insert(id, v);
                }
            }
            vhits.sort_by(|a, b| b.1.total_cmp(&a.1));
        }
        let thits: Vec<(u64, f32)> = if mode == Mode::Vector {
            Vec::new()
        } else {
            self.text.refresh()?;
            self.text
                .search(query, candidates)?
                .into_iter()
                .map(|h| (h.id, h.score))
                .collect()
        };
        let (wv, wt) = match mode {
            Mode::Hybrid => (params.vector_weight, params.text_weight),
            Mode::Vector => (1.0, 0.0),
            Mode::Text => (0.0, 1.0),
        };
        let mut fused = hybrid::fuse(&vhits, &thits, wv, wt, params.fusion);

        let r = self.store.read_txn()?;
        let mut chunks: HashMap<u64, ChunkRecord> = HashMap::new();
        fused.retain(|f| match self.store.chunk(&r, f.id) {
            Ok(Some(c)) => {
                chunks.insert(f.id, c);
                true
            }
            _ => false,
        });
        if let Some(half_life) = params.decay_half_life_days {
            let now = crate::core::now_ms();
            hybrid::decay(&mut fused, half_life, |id| {
                let c = chunks.get(&id)?;
                let dated = c.source.starts_with(SESSION_PREFIX)
                    || sources::note_date_ms(&c.source).is_some();
                dated.then(|| now.saturating_sub(c.ts_ms) as f32 / 86_400_000.0)
            });
        }
        fused.retain(|f| f.score >= params.min_score);
        let picked: Vec<Fused> = match params.mmr_lambda {
            Some(lambda) if fused.len() > 1 => {
                for f in &fused {
                    if !vec_cache.contains_key(&f.id)
                        && let Some(v) = self
                            .store
                            .vector(&r, f.id)?
                            .and_then(|b| vectors::decode_f32(b, dims))
                    {
                        vec_cache.insert(f.id, v);
                    }
                }
                hybrid::mmr(&fused, k, lambda, |a, b| {
                    match (vec_cache.get(&a), vec_cache.get(&b)) {
                        (Some(x), Some(y)) => vectors::dot(x, y),
                        _ => 0.0,
                    }
                })
            }
            _ => fused.into_iter().take(k).collect(),
        };
        let results = picked
            .into_iter()
            .filter_map(|f| {
                let c = chunks.remove(&f.id)?;
                Some(SearchResult {
                    path: c.source,
                    start_line: c.start_line,
                    end_line: c.end_line,
                    score: f.score,
                    vector_score: f.vector,
                    text_score: f.text,
                    snippet: snippet(&c.text),
                    chunk_id: c.id,
                })
            })
            .collect();
        Ok(SearchOutcome {
            results,
            mode,
            note: None,
        })
    }

    fn ensure_scan(&self) -> Result<(), MemoryError> {
        if self
            .scan
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let mut slot = self.scan.write().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Ok(());
        }
        let dims = self.embed.dims();
        let mut scan = VectorScan::new(dims);
        let r = self.store.read_txn()?;
        self.store
            .for_each_vector(&r, |id, bytes| -> Result<(), MemoryError> {
                if let Some((codes, scale)) = vectors::decode_i8(bytes, dims) {
                    scan.upsert(id, codes, scale);
                }
                Ok(())
            })?;
        *slot = Some(scan);
        Ok(())
    }

    /// Drops the in-memory vector scan (it is reloaded from the store on the next search).
    pub fn release_scan(&self) {
        *self.scan.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Lines `from..from + lines` (from 1) of memory source `path`: a memory file of the
    /// workspace or a `sessions/<key>/<id>` transcript. `lines` is capped at 400.
    ///
    /// # Errors
    /// [`MemoryError::Invalid`] if `path` is not a memory source; I/O and store errors.
    pub fn get(&self, path: &str, from: usize, lines: usize) -> Result<String, MemoryError> {
        let from = from.max(1);
        let lines = lines.clamp(1, MAX_GET_LINES);
        let text = if let Some(rest) = path.strip_prefix(SESSION_PREFIX) {
            let (key, id) = rest
                .rsplit_once('/')
                .and_then(|(k, id)| Some((k, id.parse::<u64>().ok()?)))
                .ok_or_else(|| {
                    MemoryError::Invalid(format!(
                        "{path:?} is not a transcript source (sessions/<key>/<id>)"
                    ))
                })?;
            let r = self.store.read_txn()?;
            let known = self.store.mem_source(&r, path)?.is_some()
                || self.store.session(&r, key)?.is_some_and(|s| s.id == id);
            if !known {
                return Err(MemoryError::Invalid(format!("no transcript {path:?}")));
            }
            let entries = self.store.transcript_from(&r, id, 0, usize::MAX)?;
            sources::render_transcript(&entries).0
        } else {
            let f = sources::list_files(&self.opts.workspace)
                .into_iter()
                .find(|f| f.name == path)
                .ok_or_else(|| {
                    MemoryError::Invalid(format!(
                        "{path:?} is not a memory file (MEMORY.md or memory/**/*.md in the workspace)"
                    ))
                })?;
            let bytes = std::fs::read(&f.path).map_err(|source| MemoryError::Io {
                path: f.path.clone(),
                source,
            })?;
            sources::check_text(&bytes)
                .map_err(|why| MemoryError::Invalid(format!("{path}: {why}")))?
        };
        let out: Vec<&str> = text.lines().skip(from - 1).take(lines).collect();
        Ok(out.join("\n"))
    }

    /// Counts for `hearth memory status`.
    ///
    /// # Errors
    /// [`MemoryError::Store`].
    pub fn status(&self) -> Result<MemoryStatus, MemoryError> {
        let _ = self.text.refresh();
        let r = self.store.read_txn()?;
        Ok(MemoryStatus {
            chunks: self.store.chunk_count(&r)?,
            vectors: self.store.vector_count(&r)?,
            text_docs: self.text.num_docs(),
            pending: self.store.outbox_len(&r)?,
            watermark: self.store.watermark(&r)?,
            index_bytes: self.text.disk_bytes(),
            sources: self
                .store
                .mem_sources(&r)?
                .into_iter()
                .map(|s| SourceStatus {
                    path: s.source,
                    chunks: s.chunk_ids.len(),
                    rejected: s.rejected,
                })
                .collect(),
            note: self.embed.unavailable().map(str::to_string),
        })
    }
}

/// The first [`SNIPPET_CHARS`] characters of `text`, with `…` when cut.
fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// Where the text index lives under the data dir.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("memory-index")
}

#[cfg(test)]
mod tests;
