//! Hybrid search: the int8 vector scan and BM25, fused, with snippets.

use super::*;

impl Memory {
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
}

/// The first [`SNIPPET_CHARS`] characters of `text`, with `…` when cut.
fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}
