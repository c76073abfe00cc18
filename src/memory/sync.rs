//! Syncing sources into LMDB: changed files and session transcripts become chunks, each
//! change one transaction with its `mem_outbox` ops.

use super::*;

impl Memory {
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
            match self.opts.workspace.read(&f.name, self.opts.max_file_bytes) {
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
        self.commit_source(rec, pieces, report)
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
            self.commit_source(rec, pieces, report)?;
        }
        Ok(())
    }

    /// One changed source in one transaction: its chunks replaced by `pieces` and its
    /// record (with the new chunk ids) stored; counted in `report`.
    fn commit_source(
        &self,
        mut rec: SourceRecord,
        pieces: Vec<(chunk::Piece, u64)>,
        report: &mut SyncReport,
    ) -> Result<(), MemoryError> {
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
}
