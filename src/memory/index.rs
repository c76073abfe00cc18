//! Indexing what sync queued: embed, tantivy, vectors, then acknowledge (the watermark);
//! and rebuilding both indexes from the `chunks` table.

use super::*;

impl Memory {
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
}
