//! The worker thread: owns the model, loads it on the first request, batches queued requests
//! into forward passes, and unloads after an idle period or when asked.

use super::model::Model;
use super::tokenize::TextTokenizer;
use super::{EmbedError, EmbedOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Tokens one forward pass may hold (texts are laid end to end, not padded): bounds its
/// activations, the largest being the MLP's, tokens × 1536 f32 (12 MiB at 2048 tokens).
const PASS_TOKENS: usize = 2048;

/// A message to the worker.
pub(super) enum Msg {
    Embed(Request),
    /// Drop the model, then acknowledge.
    Unload(SyncSender<()>),
}

/// Token sequences from one caller and where to send their vectors.
pub(super) struct Request {
    pub seqs: Vec<Vec<u32>>,
    pub reply: SyncSender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// What callers see of the worker: the weights' size while they are loaded, and the shared
/// tokenizer.
#[derive(Default)]
pub(super) struct State {
    /// Bytes of the loaded weights; 0 when none are loaded.
    weight_bytes: AtomicU64,
    tokenizer: Mutex<Option<Arc<TextTokenizer>>>,
}

impl State {
    pub(super) fn is_loaded(&self) -> bool {
        self.weight_bytes() > 0
    }

    /// Bytes of the loaded weights; 0 when none are loaded.
    pub(super) fn weight_bytes(&self) -> u64 {
        self.weight_bytes.load(Ordering::Acquire)
    }

    /// The tokenizer, opened with `open` if not loaded. Loading holds the lock, so
    /// concurrent first callers open it once.
    pub(super) fn tokenizer(
        &self,
        open: impl FnOnce() -> Result<TextTokenizer, EmbedError>,
    ) -> Result<Arc<TextTokenizer>, EmbedError> {
        // The slot is only ever replaced whole, so a poisoned lock still holds a valid value.
        let mut slot = self
            .tokenizer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = &*slot {
            return Ok(t.clone());
        }
        let t = Arc::new(open()?);
        *slot = Some(t.clone());
        Ok(t)
    }

    pub(super) fn drop_tokenizer(&self) {
        *self
            .tokenizer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Starts the worker thread and returns its queue.
pub(super) fn spawn(opts: &EmbedOptions, state: &Arc<State>) -> std::io::Result<SyncSender<Msg>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(opts.queue_capacity);
    let opts = opts.clone();
    let state = state.clone();
    std::thread::Builder::new()
        .name("hearth-embed".into())
        .spawn(move || Worker::new(opts, state).run(rx))?;
    Ok(tx)
}

struct Worker {
    opts: EmbedOptions,
    state: Arc<State>,
    model: Option<Model>,
}

impl Worker {
    fn new(opts: EmbedOptions, state: Arc<State>) -> Self {
        Self {
            opts,
            state,
            model: None,
        }
    }

    /// Serves requests until every sender is gone.
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let first = match (&self.model, self.opts.idle_unload) {
                (Some(_), Some(idle)) => match rx.recv_timeout(idle) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        tracing::info!(dir = %self.opts.model_dir.display(), idle_s = idle.as_secs(), "embedding model unloaded after idle time");
                        self.unload();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                _ => match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            let mut batch = match first {
                Msg::Unload(ack) => {
                    self.unload();
                    let _ = ack.send(());
                    continue;
                }
                Msg::Embed(req) => vec![req],
            };
            // Take more waiting requests while the batch has room.
            let mut texts = batch[0].seqs.len();
            let mut unload = None;
            while texts < self.opts.max_batch.max(1) {
                match rx.try_recv() {
                    Ok(Msg::Embed(req)) => {
                        texts += req.seqs.len();
                        batch.push(req);
                    }
                    Ok(Msg::Unload(ack)) => {
                        unload = Some(ack);
                        break;
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.serve(batch);
            if let Some(ack) = unload {
                self.unload();
                let _ = ack.send(());
            }
        }
        self.unload();
    }

    fn unload(&mut self) {
        self.model = None;
        self.state.weight_bytes.store(0, Ordering::Release);
        self.state.drop_tokenizer();
    }

    /// Answers every request of `batch`.
    fn serve(&mut self, batch: Vec<Request>) {
        let result = self.compute(&batch);
        match result {
            Ok(mut vectors) => {
                for req in batch.into_iter().rev() {
                    let mine = vectors.split_off(vectors.len() - req.seqs.len());
                    // A caller that went away no longer needs its answer.
                    let _ = req.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                for req in batch {
                    let _ = req.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Vectors for all sequences of `batch`, in order.
    fn compute(&mut self, batch: &[Request]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.model.is_none() {
            let t = Instant::now();
            let model = Model::open(&self.opts.model_dir, self.opts.threads)?;
            let bytes = model.weight_bytes() as u64;
            self.model = Some(model);
            self.state
                .weight_bytes
                .store(bytes.max(1), Ordering::Release);
            tracing::info!(dir = %self.opts.model_dir.display(), ms = t.elapsed().as_millis() as u64, weight_bytes = bytes, "embedding model loaded");
        }
        let model = self.model.as_ref().expect("loaded just above");
        let seqs: Vec<&[u32]> = batch
            .iter()
            .flat_map(|r| r.seqs.iter().map(Vec::as_slice))
            .collect();
        let mut out = vec![Vec::new(); seqs.len()];
        for pass in plan_passes(&seqs, self.opts.max_batch) {
            let inputs: Vec<&[u32]> = pass.iter().map(|&i| seqs[i]).collect();
            let run =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.embed(&inputs)));
            let vectors = match run {
                Ok(v) => v?,
                Err(_) => {
                    // The model's state after a panic is unknown; start from a fresh load.
                    self.unload();
                    return Err(EmbedError::Compute {
                        model_dir: self.opts.model_dir.clone(),
                        detail: "the forward pass panicked".into(),
                    });
                }
            };
            for (i, v) in pass.into_iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// Groups sequence indices into forward passes, in order: at most `max_batch` texts and
/// [`PASS_TOKENS`] tokens per pass (a longer text gets a pass of its own).
fn plan_passes(seqs: &[&[u32]], max_batch: usize) -> Vec<Vec<usize>> {
    let mut passes: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut tokens = 0;
    for (i, s) in seqs.iter().enumerate() {
        let fits = current.len() < max_batch.max(1) && tokens + s.len() <= PASS_TOKENS;
        if !fits && !current.is_empty() {
            passes.push(std::mem::take(&mut current));
            tokens = 0;
        }
        current.push(i);
        tokens += s.len();
    }
    if !current.is_empty() {
        passes.push(current);
    }
    passes
}

#[cfg(test)]
mod tests {
    use super::plan_passes;

    #[test]
    fn passes_respect_the_text_and_token_limits() {
        let a = vec![1u32; 10];
        let b = vec![1u32; 3];
        let c = vec![1u32; 512];
        let seqs: Vec<&[u32]> = vec![&a, &b, &c, &b, &a];
        assert_eq!(plan_passes(&seqs, 32), vec![vec![0, 1, 2, 3, 4]]);
        assert_eq!(plan_passes(&seqs, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
        let long: Vec<&[u32]> = vec![&c; 9];
        // 2048 tokens per pass: four texts of 512.
        let sizes: Vec<usize> = plan_passes(&long, 32).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![4, 4, 1]);
        let huge = vec![1u32; 3000];
        assert_eq!(
            plan_passes(&[&b, &huge, &b], 32),
            vec![vec![0], vec![1], vec![2]]
        );
    }
}
