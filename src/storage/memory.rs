//! Long-term memory records: chunks of memory sources, their vectors, the indexing outbox
//! and its watermark, and the last-seen state of each source.
//!
//! The chunk table is the truth; the tantivy index and the in-memory vector scan are derived
//! from it. Every change to the chunk table enqueues an [`OutboxOp`] in the same write
//! transaction, and the indexer acknowledges ops (advancing the watermark) only after their
//! effects are durable, so a crash re-applies the unacknowledged tail and loses nothing.

use super::{Rtxn, Store, StoreError, Wtxn, decode};
use serde::{Deserialize, Serialize};

const NEXT_CHUNK_ID: &[u8] = b"mem/next_chunk_id";
const NEXT_OUTBOX_SEQ: &[u8] = b"mem/next_outbox_seq";
const WATERMARK: &[u8] = b"mem/watermark";

/// One chunk of a memory source, as kept in the `chunks` database (key: id, u64 BE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Chunk id, unique for the store's lifetime (never reused).
    pub id: u64,
    /// The source: a workspace-relative path (`MEMORY.md`, `memory/2026-11-21.md`) or a
    /// transcript (`sessions/<session key>/<transcript id>`).
    pub source: String,
    /// First line of the chunk in the source, from 1.
    pub start_line: u32,
    /// Last line of the chunk in the source, inclusive.
    pub end_line: u32,
    /// The chunk's text.
    pub text: String,
    /// Hex digest of `text` (identifies unchanged chunks when a source is re-read).
    pub hash: String,
    /// The time the chunk's content is about, ms since the epoch: the date of a dated note,
    /// the message time of a transcript, else the file's modification time.
    pub ts_ms: u64,
}

/// What Hearth last saw of a memory source (`mem_sources` database, key: source name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The source name, as in [`ChunkRecord::source`].
    pub source: String,
    /// Modification time of the file (or the transcript's last update), ms since the epoch.
    pub mtime_ms: u64,
    /// Size in bytes (files) or entry count (transcripts).
    pub size: u64,
    /// Hex digest of the whole content.
    pub hash: String,
    /// The source's chunks, in order.
    pub chunk_ids: Vec<u64>,
    /// Why the source is not indexed (binary, not UTF-8, too large), if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// One pending change for the derived indexes (`mem_outbox` database, key: seq, u64 BE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OutboxOp {
    /// Embed the chunk and add it to the text index (replacing any earlier copy).
    Index {
        /// Chunk id.
        chunk: u64,
    },
    /// Remove the chunk from the text index and the vector scan.
    Delete {
        /// Chunk id.
        chunk: u64,
    },
}

impl Store {
    /// A fresh chunk id.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn new_chunk_id(&self, wtxn: &mut Wtxn<'_>) -> Result<u64, StoreError> {
        self.bump_counter(wtxn, NEXT_CHUNK_ID)
    }

    /// The chunk `id`.
    ///
    /// # Errors
    /// [`StoreError`] on I/O or a corrupt record.
    pub fn chunk(&self, rtxn: &Rtxn<'_>, id: u64) -> Result<Option<ChunkRecord>, StoreError> {
        self.get_json(rtxn, &self.chunks, "chunks", &id.to_be_bytes())
    }

    /// Stores a chunk (without enqueueing anything; see [`Store::outbox_push`]).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_chunk(&self, wtxn: &mut Wtxn<'_>, rec: &ChunkRecord) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.chunks, &rec.id.to_be_bytes(), rec)
    }

    /// Deletes chunk `id` and its vector.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delete_chunk(&self, wtxn: &mut Wtxn<'_>, id: u64) -> Result<(), StoreError> {
        let k = id.to_be_bytes();
        self.chunks.delete(wtxn, &k).map_err(|e| self.lmdb(e))?;
        self.vectors.delete(wtxn, &k).map_err(|e| self.lmdb(e))?;
        Ok(())
    }

    /// Number of chunks.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn chunk_count(&self, rtxn: &Rtxn<'_>) -> Result<u64, StoreError> {
        self.chunks.len(rtxn).map_err(|e| self.lmdb(e))
    }

    /// Calls `f` with every chunk in id order; stops at the first error `f` returns.
    ///
    /// # Errors
    /// [`StoreError`] from the store, or whatever `f` returns.
    pub fn for_each_chunk<E: From<StoreError>>(
        &self,
        rtxn: &Rtxn<'_>,
        mut f: impl FnMut(ChunkRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        for item in self.chunks.iter(rtxn).map_err(|e| self.lmdb(e))? {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            f(decode("chunks", k, v)?)?;
        }
        Ok(())
    }

    /// Stores the encoded vector of chunk `id` (the encoding belongs to `memory`).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_vector(&self, wtxn: &mut Wtxn<'_>, id: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.vectors
            .put(wtxn, &id.to_be_bytes(), bytes)
            .map_err(|e| self.lmdb(e))
    }

    /// The encoded vector of chunk `id`, borrowed from the memory map for the life of
    /// `rtxn`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn vector<'t>(&self, rtxn: &'t Rtxn<'_>, id: u64) -> Result<Option<&'t [u8]>, StoreError> {
        self.vectors
            .get(rtxn, &id.to_be_bytes())
            .map_err(|e| self.lmdb(e))
    }

    /// Calls `f(id, bytes)` for every stored vector in id order.
    ///
    /// # Errors
    /// [`StoreError`] from the store, or whatever `f` returns.
    pub fn for_each_vector<E: From<StoreError>>(
        &self,
        rtxn: &Rtxn<'_>,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        for item in self.vectors.iter(rtxn).map_err(|e| self.lmdb(e))? {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            let id = k
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    db: "vectors",
                    key: super::printable(k),
                    detail: "key is not a u64".into(),
                })?;
            f(id, v)?;
        }
        Ok(())
    }

    /// Number of stored vectors.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn vector_count(&self, rtxn: &Rtxn<'_>) -> Result<u64, StoreError> {
        self.vectors.len(rtxn).map_err(|e| self.lmdb(e))
    }

    /// What was last seen of memory source `name`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn mem_source(
        &self,
        rtxn: &Rtxn<'_>,
        name: &str,
    ) -> Result<Option<SourceRecord>, StoreError> {
        self.get_json(rtxn, &self.mem_sources, "mem_sources", name.as_bytes())
    }

    /// Stores the state of a memory source.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_mem_source(
        &self,
        wtxn: &mut Wtxn<'_>,
        rec: &SourceRecord,
    ) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.mem_sources, rec.source.as_bytes(), rec)
    }

    /// Forgets memory source `name` (its chunks are deleted separately).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delete_mem_source(&self, wtxn: &mut Wtxn<'_>, name: &str) -> Result<(), StoreError> {
        self.mem_sources
            .delete(wtxn, name.as_bytes())
            .map_err(|e| self.lmdb(e))?;
        Ok(())
    }

    /// Every memory source, sorted by name.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn mem_sources(&self, rtxn: &Rtxn<'_>) -> Result<Vec<SourceRecord>, StoreError> {
        self.all_json(rtxn, &self.mem_sources, "mem_sources")
    }

    /// Enqueues `op` for the indexer; returns its sequence number (from 1, increasing).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn outbox_push(&self, wtxn: &mut Wtxn<'_>, op: OutboxOp) -> Result<u64, StoreError> {
        let seq = self.bump_counter(wtxn, NEXT_OUTBOX_SEQ)?;
        self.put_json(wtxn, &self.mem_outbox, &seq.to_be_bytes(), &op)?;
        Ok(seq)
    }

    /// Up to `limit` pending ops with sequence numbers above the watermark, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn outbox_pending(
        &self,
        rtxn: &Rtxn<'_>,
        limit: usize,
    ) -> Result<Vec<(u64, OutboxOp)>, StoreError> {
        let after = self.watermark(rtxn)?;
        let start = (after + 1).to_be_bytes();
        let range = (
            std::ops::Bound::Included(&start[..]),
            std::ops::Bound::Unbounded,
        );
        let mut out = Vec::new();
        for item in self
            .mem_outbox
            .range(rtxn, &range)
            .map_err(|e| self.lmdb(e))?
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            let seq = k.try_into().map(u64::from_be_bytes).unwrap_or(0);
            out.push((seq, decode("mem_outbox", k, v)?));
        }
        Ok(out)
    }

    /// Number of ops not yet acknowledged.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn outbox_len(&self, rtxn: &Rtxn<'_>) -> Result<u64, StoreError> {
        self.mem_outbox.len(rtxn).map_err(|e| self.lmdb(e))
    }

    /// Acknowledges every op up to and including `upto`: deletes them and moves the
    /// watermark there. Call only after their effects are durable.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn outbox_ack(&self, wtxn: &mut Wtxn<'_>, upto: u64) -> Result<(), StoreError> {
        let end = upto.to_be_bytes();
        let range = (
            std::ops::Bound::Unbounded,
            std::ops::Bound::Included(&end[..]),
        );
        self.mem_outbox
            .delete_range(wtxn, &range)
            .map_err(|e| self.lmdb(e))?;
        if upto > self.watermark(wtxn)? {
            self.meta
                .put(wtxn, WATERMARK, &upto.to_be_bytes())
                .map_err(|e| self.lmdb(e))?;
        }
        Ok(())
    }

    /// The highest acknowledged outbox sequence number (0 before any).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn watermark(&self, rtxn: &Rtxn<'_>) -> Result<u64, StoreError> {
        Ok(self.counter(rtxn, WATERMARK)?.unwrap_or(0))
    }

    /// Drops every pending op and every vector, and enqueues an `Index` op for each chunk:
    /// the derived indexes are then rebuilt from the chunk table by the indexer. Returns the
    /// number of chunks enqueued.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn requeue_all_chunks(&self, wtxn: &mut Wtxn<'_>) -> Result<u64, StoreError> {
        self.mem_outbox.clear(wtxn).map_err(|e| self.lmdb(e))?;
        self.vectors.clear(wtxn).map_err(|e| self.lmdb(e))?;
        let mut ids = Vec::new();
        for item in self.chunks.iter(wtxn).map_err(|e| self.lmdb(e))? {
            let (k, _) = item.map_err(|e| self.lmdb(e))?;
            if let Ok(b) = k.try_into() {
                ids.push(u64::from_be_bytes(b));
            }
        }
        let seq = self.counter(wtxn, NEXT_OUTBOX_SEQ)?.unwrap_or(1);
        // Everything before the requeue is superseded.
        self.meta
            .put(wtxn, WATERMARK, &(seq - 1).to_be_bytes())
            .map_err(|e| self.lmdb(e))?;
        for &chunk in &ids {
            self.outbox_push(wtxn, OutboxOp::Index { chunk })?;
        }
        Ok(ids.len() as u64)
    }
}
