//! Keyword search: a tantivy index of memory chunks on disk, scored with BM25
//! (<https://en.wikipedia.org/wiki/Okapi_BM25>, tantivy's `k1 = 1.2, b = 0.75`). The only
//! module that imports `tantivy`.
//!
//! The index is derived data: each document is a chunk id (a fast field) and the chunk's
//! text (indexed, not stored — the text lives in LMDB). [`TextIndex::apply`] is idempotent
//! (every upsert first deletes the id), so the memory indexer may replay a batch after a
//! crash without creating duplicates. The index can always be rebuilt from the store.
//!
//! Text is split by [`WordTokenizer`]: runs of letters and digits, lower-cased, and every
//! CJK ideograph, kana or hangul syllable as its own token (those scripts do not separate
//! words with spaces).

mod tokenizer;

pub use tokenizer::WordTokenizer;

use std::path::{Path, PathBuf};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Name under which [`WordTokenizer`] is registered in the index.
const TOKENIZER: &str = "hearth_words";
/// Tokens longer than this many bytes are dropped (base64 blobs, hashes).
const MAX_TOKEN_BYTES: usize = 64;
/// Indexing memory budget of the one writer thread, bytes (tantivy's minimum is 15 MB).
const WRITER_BUDGET_BYTES: usize = 15_000_000;

/// A keyword-index failure; each names the index directory.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index could not be opened or created (corrupt files, permissions).
    #[error("text index at {dir}: {detail} (rebuild it with `hearth memory reindex`)")]
    Open {
        /// Index directory.
        dir: PathBuf,
        /// tantivy's message.
        detail: String,
    },
    /// Another process holds the index's writer lock.
    #[error(
        "text index at {dir} is locked by another process (is the gateway running? memory changes go through it)"
    )]
    Locked {
        /// Index directory.
        dir: PathBuf,
    },
    /// Writing or committing failed (disk full, I/O).
    #[error("text index at {dir}: write failed: {detail}")]
    Write {
        /// Index directory.
        dir: PathBuf,
        /// tantivy's message.
        detail: String,
    },
    /// Searching failed.
    #[error("text index at {dir}: search failed: {detail}")]
    Search {
        /// Index directory.
        dir: PathBuf,
        /// tantivy's message.
        detail: String,
    },
}

/// One change for [`TextIndex::apply`].
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Add the chunk, replacing any document with the same id.
    Upsert {
        /// Chunk id.
        id: u64,
        /// Chunk text.
        text: &'a str,
    },
    /// Remove the chunk's document, if any.
    Delete {
        /// Chunk id.
        id: u64,
    },
}

/// A scored keyword match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Chunk id.
    pub id: u64,
    /// BM25 score (unbounded, higher is better; comparable only within one query).
    pub score: f32,
}

/// The on-disk BM25 index of memory chunks.
pub struct TextIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    id: Field,
    text: Field,
}

impl TextIndex {
    /// Opens the index in `dir`, creating it (and the directory) if absent.
    ///
    /// # Errors
    /// [`SearchError::Open`] when the files are unreadable, corrupt, or of another schema.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let open_err = |detail: String| SearchError::Open {
            dir: dir.to_path_buf(),
            detail,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let mut sb = Schema::builder();
        let id = sb.add_u64_field("id", NumericOptions::default().set_indexed().set_fast());
        let text_opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let text = sb.add_text_field("text", text_opts);
        let schema = sb.build();
        let mmap =
            tantivy::directory::MmapDirectory::open(dir).map_err(|e| open_err(e.to_string()))?;
        let index = Index::open_or_create(mmap, schema).map_err(|e| open_err(e.to_string()))?;
        index.tokenizers().register(
            TOKENIZER,
            TextAnalyzer::builder(WordTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
                .filter(LowerCaser)
                .build(),
        );
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| open_err(e.to_string()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            index,
            reader,
            id,
            text,
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies `changes` in order and commits them durably (tantivy fsyncs its segment files
    /// and `meta.json` before returning); searches see them afterwards. Idempotent.
    ///
    /// # Errors
    /// [`SearchError::Locked`] if another process writes the index, [`SearchError::Write`]
    /// on I/O failure (nothing of the batch is then visible).
    pub fn apply(&self, changes: &[Change<'_>]) -> Result<(), SearchError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer()?;
        for c in changes {
            match *c {
                Change::Upsert { id, text } => {
                    writer.delete_term(Term::from_field_u64(self.id, id));
                    let mut doc = TantivyDocument::default();
                    doc.add_u64(self.id, id);
                    doc.add_text(self.text, text);
                    writer.add_document(doc).map_err(|e| self.write_err(e))?;
                }
                Change::Delete { id } => {
                    writer.delete_term(Term::from_field_u64(self.id, id));
                }
            }
        }
        writer.commit().map_err(|e| self.write_err(e))?;
        writer
            .wait_merging_threads()
            .map_err(|e| self.write_err(e))?;
        self.reader.reload().map_err(|e| self.write_err(e))
    }

    /// Deletes every document and commits (before a rebuild).
    ///
    /// # Errors
    /// As [`TextIndex::apply`].
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut writer = self.writer()?;
        writer
            .delete_all_documents()
            .map_err(|e| self.write_err(e))?;
        writer.commit().map_err(|e| self.write_err(e))?;
        writer
            .wait_merging_threads()
            .map_err(|e| self.write_err(e))?;
        self.reader.reload().map_err(|e| self.write_err(e))
    }

    /// Picks up commits made by another process (a CLI reading while the gateway writes).
    ///
    /// # Errors
    /// [`SearchError::Search`].
    pub fn refresh(&self) -> Result<(), SearchError> {
        self.reader.reload().map_err(|e| self.search_err(e))
    }

    /// The `limit` best chunks for `query` by BM25, best first. The query is split into
    /// words like the text; any word may match (OR), documents matching more and rarer
    /// words score higher. A query with no words returns nothing.
    ///
    /// # Errors
    /// [`SearchError::Search`].
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
        let terms = self.query_terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let q = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&q, &TopDocs::with_limit(limit).order_by_score())
            .map_err(|e| self.search_err(e))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let seg = searcher.segment_reader(addr.segment_ord);
            let col = seg
                .fast_fields()
                .u64("id")
                .map_err(|e| self.search_err(e))?;
            if let Some(id) = col.first(addr.doc_id) {
                out.push(Hit { id, score });
            }
        }
        Ok(out)
    }

    /// Live (not deleted) documents in the last reloaded view.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes of the index files on disk.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn query_terms(&self, query: &str) -> Vec<Term> {
        let mut analyzer = self
            .index
            .tokenizers()
            .get(TOKENIZER)
            .unwrap_or_else(|| unreachable!("registered in open"));
        let mut stream = analyzer.token_stream(query);
        let mut out: Vec<Term> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while stream.advance() {
            let t = stream.token().text.clone();
            if seen.insert(t.clone()) {
                out.push(Term::from_field_text(self.text, &t));
            }
        }
        out
    }

    fn writer(&self) -> Result<IndexWriter, SearchError> {
        self.index
            .writer_with_num_threads(1, WRITER_BUDGET_BYTES)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => SearchError::Locked {
                    dir: self.dir.clone(),
                },
                e => self.write_err(e),
            })
    }

    fn write_err(&self, e: tantivy::TantivyError) -> SearchError {
        SearchError::Write {
            dir: self.dir.clone(),
            detail: e.to_string(),
        }
    }

    fn search_err(&self, e: impl std::fmt::Display) -> SearchError {
        SearchError::Search {
            dir: self.dir.clone(),
            detail: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
