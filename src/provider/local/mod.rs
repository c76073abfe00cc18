//! The on-device provider `local`: quantized GGUF models run on the CPU by Hearth's own
//! decoder ([`crate::llm`]: weights memory-mapped, f16 KV cache, tokenizer read from the
//! file). It owns model loading and caching, the model's own chat template, tool calls in the
//! model's format (checked against the tools' schemas, with one re-ask), sampling, stop texts
//! and the streaming decode loop, and [`requantize_gguf`] for first use (the decoder crate's
//! GGUF rewriter).
//!
//! Files: `gguf.rs` (load, requantize), `budget.rs` (the memory check at load and the
//! memory report), `template.rs` (the Jinja template, untrusted text kept apart), `prompt.rs`
//! (tool-call formats, tools written for templates without them), `toolcall.rs` and
//! `pycall.rs` (calls parsed out of the stream), `utf8.rs` (streaming text), `generate.rs`
//! (decode loop, re-ask).
//!
//! Architecture invariant: this module must not import `agent`, `gateway` or `storage`; it
//! sees only `core`, `llm`, `sysmem` (memory figures from `/proc` and cgroupfs) and the
//! [`Provider`] contract.

mod budget;
mod generate;
mod gguf;
mod prompt;
mod pycall;
mod template;
mod toolcall;
mod utf8;

/// ggml block types (GGUF spec `ggml_type`), for [`requantize_gguf`].
pub use crate::llm::quant::QType;
pub use gguf::{fast_variant, has_slow_quant, requantize_gguf};

use crate::core::{LoadedModels, ModelMemory};
pub use crate::llm::sample::Sampling;
use crate::provider::{AuthProfile, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError};
use crate::sysmem::MemoryLimits;
use budget::Footprint;
use generate::Limits;
use gguf::{LoadOptions, LoadedModel};
pub use prompt::ToolOffer;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a call waits between attempts to take the model while another call generates, in
/// ms; cancellation and the deadline are checked at each attempt.
const LOCK_POLL_MS: u64 = 10;

/// Configuration of the `local` provider.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOptions {
    /// Model name (e.g. `smollm2-135m-instruct`, what `ChatRequest::model` carries) → GGUF file.
    pub model_paths: BTreeMap<String, PathBuf>,
    /// CPU threads for inference; 0 uses one per available CPU.
    pub threads: usize,
    /// Largest context (prompt + answer) per call, in tokens; 0 means the model's own
    /// (`{arch}.context_length`). Always capped at the model's own. The f16 KV cache is
    /// allocated for this many tokens at load.
    pub context_window: usize,
    /// Requantise weights stored in a type the decoder runs slower (Q4_1, Q5_1) to
    /// this type (Q8_0, the only target) on first load, caching the copy beside the file
    /// ([`fast_variant`]); `None` loads files as they are. `Some(QType::Q8_0)` runs SmolLM2-135M
    /// about 10% faster (prefill and decode) for about 1.5x the file (98 MB -> 145 MB).
    pub requantize: Option<QType>,
    /// Sampler settings (the request's temperature and seed replace those in it).
    pub sampling: Sampling,
    /// Texts that end an answer where they appear (not included).
    pub stop: Vec<String>,
    /// When models are offered the request's tools.
    pub tools: ToolOffer,
}

/// The on-device provider. Loads a model on first use and keeps one model in memory; calls
/// are serialised by a mutex (one generation at a time).
///
/// Before a model is loaded its memory need (file + KV cache for the window + working
/// memory) is checked against `MemAvailable` and the cgroup v2 `memory.max`; one that does
/// not fit is refused with [`ProviderError::Local`] saying both figures (see `budget.rs`),
/// and the chain fails over. [`LocalProvider::memory`] reports what the loaded model holds.
///
/// Each call renders the conversation with the model's own chat template (tools offered as
/// [`ToolOffer`] says, in the template's tool-call format), checks that prompt + 1 token fits
/// the context window (else [`ProviderError::Local`] saying by how many tokens it is over),
/// clamps `max_tokens` to the room left, and streams text as tokens arrive (never half a
/// UTF-8 character, never a stop text). Temperature 0 decodes greedily (argmax,
/// deterministic); otherwise it samples with [`LocalOptions::sampling`] seeded by `req.seed`.
/// Generation stops at one of the model's stop tokens (`Stop`, or `ToolCalls` when the
/// answer is a valid call), at a stop text, at `max_tokens` or the window (`Length`);
/// cancellation and `req.timeout` are checked between tokens. The KV cache is reused up to
/// the longest common prefix of the previous call's tokens and this prompt, so a
/// conversation going on computes only its new tokens.
pub struct LocalProvider {
    opts: LocalOptions,
    loaded: Mutex<Option<LoadedModel>>,
    /// What the loaded model held at the end of the last call (`None`: nothing loaded), so a
    /// report never waits for a running generation.
    footprint: Mutex<Option<Footprint>>,
    /// Next number for `call_local_<n>` tool-call ids (unique for this provider's lifetime).
    next_call_id: AtomicU64,
    /// Tests only: the memory limits the load check sees instead of the system's.
    #[cfg(test)]
    fake_limits: Option<MemoryLimits>,
    /// Tests only: answers the next calls choose, one text per call, token by token (the
    /// forward pass still runs on each; see [`LocalProvider::script`]).
    #[cfg(test)]
    script: Mutex<std::collections::VecDeque<String>>,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl LocalProvider {
    /// A provider over the given models; touches no file until the first call.
    pub fn new(opts: LocalOptions) -> Self {
        Self {
            opts,
            loaded: Mutex::new(None),
            footprint: Mutex::new(None),
            next_call_id: AtomicU64::new(0),
            #[cfg(test)]
            fake_limits: None,
            #[cfg(test)]
            script: Mutex::default(),
        }
    }

    /// Tests only: the next calls choose these answers (one per call, followed by the
    /// model's first stop token) instead of sampling; every token still goes through the model.
    #[cfg(test)]
    pub(crate) fn script(&self, answers: &[&str]) {
        let mut q = self.script.lock().expect("script");
        q.extend(answers.iter().map(|a| a.to_string()));
    }

    /// Drops the loaded model (if any) to free its memory; the next call loads it again.
    /// Waits for a running generation to finish.
    pub fn unload(&self) {
        let mut slot = self.lock_blocking();
        *slot = None;
        self.remember(&slot);
    }

    /// What the loaded model holds in memory, or `None` when none is loaded: its file's
    /// mapping as `/proc/self/smaps` counts it now (mapped and resident bytes), and its heap
    /// (KV cache, scratch, tokenizer, norm vectors) as of the end of the last call. Never
    /// waits for a running generation. All figures in bytes.
    pub fn memory(&self) -> Option<ModelMemory> {
        let f = self
            .footprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()?;
        let within = Some(f.addresses.clone());
        let mapping = crate::sysmem::mapping_of(&f.file, within).unwrap_or_else(|e| {
            tracing::debug!(file = %f.file.display(), "cannot read the model's mapping: {e}");
            None
        });
        Some(f.report(mapping))
    }

    /// Records what `slot` holds for [`memory`](Self::memory).
    fn remember(&self, slot: &Option<LoadedModel>) {
        *self
            .footprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = slot.as_ref().map(Footprint::of);
    }

    /// The memory limits the load check compares with (the system's; tests may fake them).
    fn limits(&self) -> Option<MemoryLimits> {
        #[cfg(test)]
        if let Some(l) = &self.fake_limits {
            return Some(l.clone());
        }
        MemoryLimits::read()
            .inspect_err(|e| {
                tracing::warn!("cannot read the memory limits, loading without the check: {e}")
            })
            .ok()
    }

    /// The name of the model currently in memory, if any.
    pub fn loaded_model(&self) -> Option<String> {
        self.lock_blocking().as_ref().map(|m| m.name.clone())
    }

    fn lock_blocking(&self) -> MutexGuard<'_, Option<LoadedModel>> {
        self.loaded.lock().unwrap_or_else(|poisoned| {
            // A panic mid-generation may leave the model half-updated (KV cache and its
            // record); drop it so the next call starts from a clean load.
            let mut guard = poisoned.into_inner();
            *guard = None;
            self.loaded.clear_poison();
            self.remember(&guard);
            guard
        })
    }

    /// Takes the model slot, waiting for a running call while honouring cancel and deadline.
    fn lock_until(
        &self,
        cancel: &CancellationToken,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<MutexGuard<'_, Option<LoadedModel>>, ProviderError> {
        loop {
            match self.loaded.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::Poisoned(_)) => return Ok(self.lock_blocking()),
                Err(TryLockError::WouldBlock) => {
                    if cancel.is_cancelled() {
                        return Err(ProviderError::Cancelled);
                    }
                    if Instant::now() >= deadline {
                        return Err(ProviderError::Timeout {
                            provider: "local".into(),
                            after: timeout,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(LOCK_POLL_MS));
                }
            }
        }
    }
}

impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn chat(
        &self,
        req: &ChatRequest<'_>,
        _auth: &AuthProfile,
        sink: &mut DeltaSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, ProviderError> {
        let start = Instant::now();
        // A timeout too large to represent is no deadline at all.
        let deadline = start
            .checked_add(req.timeout)
            .unwrap_or(start + Duration::from_secs(100 * 365 * 86_400));
        let path = self
            .opts
            .model_paths
            .get(req.model)
            .ok_or_else(|| ProviderError::UnknownModel(req.model.to_string()))?;
        let mut slot = self.lock_until(cancel, deadline, req.timeout)?;
        let out = self.chat_locked(&mut slot, path, req, sink, cancel, deadline);
        self.remember(&slot);
        let out = out?;
        tracing::debug!(
            model = req.model,
            prompt_tokens = out.response.usage.prompt_tokens,
            reused_tokens = out.reused_tokens,
            completion_tokens = out.response.usage.completion_tokens,
            ms = start.elapsed().as_millis() as u64,
            "local generation done"
        );
        Ok(out.response)
    }
}

impl LoadedModels for LocalProvider {
    fn loaded_models(&self) -> Vec<ModelMemory> {
        self.memory().into_iter().collect()
    }
}

impl LocalProvider {
    /// [`Provider::chat`] with the model slot held: loads the model if needed (after the
    /// memory check), then generates.
    fn chat_locked(
        &self,
        slot: &mut Option<LoadedModel>,
        path: &std::path::Path,
        req: &ChatRequest<'_>,
        sink: &mut DeltaSink<'_>,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<generate::Generated, ProviderError> {
        if slot
            .as_ref()
            .is_some_and(|m| m.name != req.model || m.path != path)
        {
            *slot = None; // free the old model before reading the new one
        }
        if slot.is_none() {
            let t = Instant::now();
            let file = match self.opts.requantize {
                Some(to) => gguf::fast_variant(path, to)?,
                None => path.to_path_buf(),
            };
            let threads = match self.opts.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let load = LoadOptions {
                threads,
                context_window: self.opts.context_window,
                limits: self.limits(),
                tools: self.opts.tools,
            };
            let mut model = gguf::load(req.model, &file, &load)?;
            model.path = path.to_path_buf();
            tracing::info!(model = req.model, path = %path.display(), ms = t.elapsed().as_millis() as u64, "local model loaded");
            *slot = Some(model);
        }
        let model = slot.as_mut().expect("the slot was filled just above");
        let window = budget::window(self.opts.context_window, model.context_length);
        #[cfg(test)]
        let forced = self.script.lock().expect("script").pop_front().map(|text| {
            let mut ids = model.tokenizer.encode_literal(&text);
            ids.extend(model.stop_ids.first());
            Mutex::new(std::collections::VecDeque::from([ids]))
        });
        let limits = Limits {
            window,
            deadline,
            next_call_id: self.next_call_id.load(Ordering::Relaxed),
            sampling: self.opts.sampling,
            stop: &self.opts.stop,
            #[cfg(test)]
            forced: forced.as_ref(),
        };
        let out = generate::generate(model, req, sink, cancel, &limits)?;
        // Only one call generates at a time (the slot is held), so load + add cannot race.
        self.next_call_id
            .fetch_add(out.call_ids_used, Ordering::Relaxed);
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_memory;
#[cfg(test)]
mod tests_tools;
