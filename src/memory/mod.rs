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
mod index;
mod query;
pub mod sources;
mod sync;
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
    /// What the model holds in memory now (for `status`); `None` when it is not loaded or
    /// not on this device.
    fn memory(&self) -> Option<crate::core::ModelMemory> {
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
    /// The weights are read onto the heap (f16 matrices), not mapped.
    fn memory(&self) -> Option<crate::core::ModelMemory> {
        let bytes = self.weight_bytes()?;
        Some(crate::core::ModelMemory {
            name: self.model_dir().file_name().map_or_else(
                || crate::embed::MODEL_NAME.to_owned(),
                |n| n.to_string_lossy().into_owned(),
            ),
            file: self.weights_file(),
            private_bytes: bytes,
            weights_heap_bytes: bytes,
            ..Default::default()
        })
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
    pub workspace: std::sync::Arc<crate::workspace::Workspace>,
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
            let bytes = self
                .opts
                .workspace
                .read(&f.name, self.opts.max_file_bytes)
                .map_err(|e| MemoryError::Invalid(e.to_string()))?;
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

/// Where the text index lives under the data dir.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("memory-index")
}

#[cfg(test)]
mod tests;
