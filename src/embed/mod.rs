//! On-device sentence embeddings: all-MiniLM-L6-v2 (a 6-layer BERT) run on the CPU with the
//! decoder crate's kernels ([`crate::llm`]), pooled and normalised the way
//! sentence-transformers does it.
//!
//! It owns the embedding model's files, its tokenizer, the forward pass, a bounded request
//! queue and the one worker thread that holds the weights. Callers get 384-dimensional unit
//! vectors ([`DIMS`]); cosine similarity between two of them is their dot product.
//!
//! Files: `tokenize.rs` (BERT normaliser, pre-tokenizer and WordPiece from `tokenizer.json`,
//! truncation), `safetensors.rs` (the weights file), `model.rs` (config, load, embed),
//! `bert.rs` (the encoder's forward pass, mean pooling), `gelu.rs`, `worker.rs` (queue,
//! batching, lazy load, idle unload).
//!
//! Sources: BERT, <https://arxiv.org/abs/1810.04805>; sentence-transformers mean pooling,
//! <https://www.sbert.net/>; the model card,
//! <https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2>.
//!
//! Architecture invariant: it imports nothing from the crate but `llm` (the kernels), so any
//! layer may use it.

mod model;
mod tokenize;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokenize::TextTokenizer;
use worker::{Msg, Request, State};

/// Dimensions of every embedding vector (the model's hidden size).
pub const DIMS: usize = 384;

/// The files a model directory must hold, in the layout `hearth models pull all-minilm-l6-v2`
/// writes (`<models>/all-minilm-l6-v2/<file>`).
pub const MODEL_FILES: [&str; 4] = [
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "pooling_config.json",
];

/// The model name `hearth models pull` knows these files by.
pub const MODEL_NAME: &str = "all-minilm-l6-v2";

/// How an [`Embedder`] runs.
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Directory holding [`MODEL_FILES`].
    pub model_dir: PathBuf,
    /// Longest input in word-piece tokens, `[CLS]` and `[SEP]` included; longer texts are
    /// cut to their first `max_seq_tokens - 2` word pieces. Default 256, the
    /// sentence-transformers `max_seq_length` of all-MiniLM-L6-v2 (the model was trained on
    /// at most 128). Clamped to 2..=`max_position_embeddings` (512) of `config.json`.
    pub max_seq_tokens: usize,
    /// Most texts per forward pass (default 32). Long texts get fewer: a pass holds at most
    /// 2048 tokens.
    pub max_batch: usize,
    /// CPU threads of the forward pass, the worker thread included (default 1; the gateway
    /// uses `[local] threads`).
    pub threads: usize,
    /// Requests waiting for the worker before further callers block (default 64).
    pub queue_capacity: usize,
    /// Unload the weights after this long without a request (default 300 s); `None` keeps
    /// them until [`Embedder::unload`].
    pub idle_unload: Option<Duration>,
}

impl EmbedOptions {
    /// Defaults for a model directory: 256 tokens, batches of 32, one thread, a queue of 64,
    /// unload after 300 s idle.
    pub fn new(model_dir: PathBuf) -> Self {
        Self {
            model_dir,
            max_seq_tokens: 256,
            max_batch: 32,
            threads: 1,
            queue_capacity: 64,
            idle_unload: Some(Duration::from_secs(300)),
        }
    }
}

/// Why an embedding could not be computed. Every message names the model directory or file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbedError {
    /// A model file is absent.
    #[error("embedding model file {} is missing; run `hearth models pull {MODEL_NAME}`", path.display())]
    MissingFile {
        /// The file that should exist.
        path: PathBuf,
    },
    /// A model file exists but could not be read or does not fit the model.
    #[error("cannot load the embedding model file {}: {detail}", path.display())]
    Load {
        /// The file that failed.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The forward pass failed.
    #[error("embedding computation failed (model {}): {detail}", model_dir.display())]
    Compute {
        /// The model directory.
        model_dir: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The worker thread is gone (it could not start, or it stopped after a panic).
    #[error("the embedding worker for {} is not running: {detail}", model_dir.display())]
    Closed {
        /// The model directory.
        model_dir: PathBuf,
        /// What happened.
        detail: String,
    },
}

/// The sentence embedder: a cheap, cloneable handle to one worker thread that owns the model.
///
/// Nothing is read or started until the first call. The first [`embed`](Self::embed) starts
/// the worker, which memory-maps `model.safetensors` and loads the weights (copied out of the
/// map; the matrices kept as f16 and multiplied with f32 activations, about 44 MiB in memory
/// where f32 took 87 MiB, [`weight_bytes`](Self::weight_bytes)); they stay loaded until
/// [`unload`](Self::unload) or [`EmbedOptions::idle_unload`] passes without requests. Texts
/// are tokenized on the caller's thread; the worker takes up to [`EmbedOptions::max_batch`]
/// texts from several callers' requests, runs them through BERT laid end to end (no
/// padding; attention stays within each text), and answers each caller. Dropping the last clone stops the worker once its queue is empty.
#[derive(Clone)]
pub struct Embedder {
    shared: Arc<Shared>,
}

struct Shared {
    opts: EmbedOptions,
    state: Arc<State>,
    /// The queue into the worker, created with it on first use.
    queue: Mutex<Option<std::sync::mpsc::SyncSender<Msg>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("opts", &self.shared.opts)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl Embedder {
    /// An embedder over `opts.model_dir`; touches no file and starts no thread.
    pub fn new(opts: EmbedOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                opts,
                state: Arc::new(State::default()),
                queue: Mutex::new(None),
            }),
        }
    }

    /// Embeds `texts`: one vector per text, in order, each [`DIMS`] floats of unit L2 length
    /// (the mean of BERT's last hidden state over the text's tokens, normalised).
    ///
    /// Blocks until the worker has answered; while [`EmbedOptions::queue_capacity`] requests
    /// are waiting, it first blocks to enqueue. An empty slice returns at once; an empty
    /// string embeds `[CLS] [SEP]`; texts longer than [`EmbedOptions::max_seq_tokens`] are
    /// truncated. The first call loads the model (about a second on a small board).
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`] or [`EmbedError::Load`] if the model cannot be loaded,
    /// [`EmbedError::Compute`], and [`EmbedError::Closed`] if the worker is gone.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let tokenizer = self.tokenizer()?;
        let seqs = texts
            .iter()
            .map(|t| tokenizer.encode_truncated(t))
            .collect();
        drop(tokenizer);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.send(Msg::Embed(Request { seqs, reply }))?;
        answer
            .recv()
            .map_err(|_| self.closed("it stopped before answering"))?
    }

    /// Embeds one text; see [`embed`](Self::embed).
    ///
    /// # Errors
    /// As [`embed`](Self::embed).
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed(&[text])?;
        v.pop()
            .ok_or_else(|| self.closed("it answered one text with no vector"))
    }

    /// Word-piece tokens of `text` including `[CLS]` and `[SEP]`, before truncation (so it
    /// may exceed [`EmbedOptions::max_seq_tokens`]). Loads only the tokenizer (not the
    /// weights) and runs on the caller's thread.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`]/[`EmbedError::Load`] for the tokenizer files.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(self.tokenizer()?.count(text))
    }

    /// Whether the weights are in memory now.
    pub fn is_loaded(&self) -> bool {
        self.shared.state.is_loaded()
    }

    /// Bytes of the weights in memory now, or `None` when they are not loaded.
    pub fn weight_bytes(&self) -> Option<u64> {
        Some(self.shared.state.weight_bytes()).filter(|&b| b > 0)
    }

    /// The weights file, `model.safetensors` in the model directory.
    pub fn weights_file(&self) -> PathBuf {
        self.shared.opts.model_dir.join(MODEL_FILES[0])
    }

    /// Frees the weights and the tokenizer; the next call loads them again. Waits for the
    /// worker to finish the batch it is running.
    pub fn unload(&self) {
        self.shared.state.drop_tokenizer();
        let queue = self.lock_queue().clone();
        if let Some(queue) = queue {
            let (ack, done) = std::sync::mpsc::sync_channel(1);
            if queue.send(Msg::Unload(ack)).is_ok() {
                // An error means the worker is gone, and its model with it.
                let _ = done.recv();
            }
        }
    }

    /// The model directory this embedder reads.
    pub fn model_dir(&self) -> &Path {
        &self.shared.opts.model_dir
    }

    /// Checks that `dir` holds every file of [`MODEL_FILES`] (without reading them).
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`] naming the first missing file and telling to run
    /// `hearth models pull all-minilm-l6-v2`.
    pub fn check_files(dir: &Path) -> Result<(), EmbedError> {
        for name in MODEL_FILES {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(EmbedError::MissingFile { path });
            }
        }
        Ok(())
    }

    /// The tokenizer, loading it on first use.
    fn tokenizer(&self) -> Result<Arc<TextTokenizer>, EmbedError> {
        let opts = &self.shared.opts;
        self.shared.state.tokenizer(|| {
            Self::check_files(&opts.model_dir)?;
            TextTokenizer::open(&opts.model_dir, opts.max_seq_tokens)
        })
    }

    fn send(&self, msg: Msg) -> Result<(), EmbedError> {
        let queue = {
            let mut slot = self.lock_queue();
            match &*slot {
                Some(q) => q.clone(),
                None => {
                    let q = worker::spawn(&self.shared.opts, &self.shared.state)
                        .map_err(|e| self.closed(&format!("cannot start its thread: {e}")))?;
                    *slot = Some(q.clone());
                    q
                }
            }
        };
        queue
            .send(msg)
            .map_err(|_| self.closed("it stopped (see the log for a panic)"))
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Option<std::sync::mpsc::SyncSender<Msg>>> {
        // The slot holds only a sender; a panic elsewhere cannot leave it half-written.
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn closed(&self, detail: &str) -> EmbedError {
        EmbedError::Closed {
            model_dir: self.shared.opts.model_dir.clone(),
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
