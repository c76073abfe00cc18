//! GGUF files: loading a model (Hearth's decoder, [`crate::llm`], over the mapped file) with
//! its tokenizer and chat template, and rewriting a file's matrices to another quantization
//! ([`requantize_gguf`]).
//!
//! File layout per the GGUF spec (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>):
//! magic `GGUF`, version, tensor count, metadata count, metadata key/values, tensor infos
//! (name, dims innermost first, ggml type, offset), padding to `general.alignment` (default
//! 32 bytes), then the tensor data, each tensor padded to the alignment. All little-endian.

use super::budget;
use super::prompt::{PromptFormat, ToolOffer};
use super::template::ChatTemplate;
use crate::llm::quant::QType;
use crate::llm::{Decoder, Gguf, Pool, Scratch, Session, Tokenizer};
use crate::provider::ProviderError;
use crate::sysmem::MemoryLimits;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// A model in memory, ready to generate.
pub(super) struct LoadedModel {
    /// The configured model name.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// The decoder over the mapped weights.
    pub decoder: Decoder,
    /// The KV cache of the last call (allocated for its window).
    pub session: Option<Session>,
    /// Buffers reused across forward passes.
    pub scratch: Scratch,
    /// Threads the matrix products run on.
    pub pool: Pool,
    /// Tokenizer read from the metadata.
    pub tokenizer: Tokenizer,
    /// The model's chat template, compiled.
    pub template: ChatTemplate,
    /// Its tool-call conventions.
    pub format: PromptFormat,
    /// Longest sequence the model supports, in tokens (`{arch}.context_length`).
    pub context_length: usize,
    /// Token ids that end an answer (EOS, EOT, `<|im_end|>`, `<end_of_turn>`, …).
    pub stop_ids: Vec<u32>,
    /// The tokens whose keys and values are in the KV cache, in position order. A call whose
    /// prompt extends them feeds only the new tokens.
    pub cached: Vec<u32>,
}

/// Formats a load failure of model `name` the way users can act on.
fn pull_hint(path: &Path, what: impl std::fmt::Display, name: &str) -> ProviderError {
    ProviderError::Local(format!(
        "{}: {what}; run `hearth models pull {name}`",
        path.display()
    ))
}

/// How [`load`] loads.
pub(super) struct LoadOptions {
    /// Threads the matrix products run on.
    pub threads: usize,
    /// `[local] context_window` (0: the model's own), for the memory check.
    pub context_window: usize,
    /// What memory is available; `None` skips the check (the limits could not be read).
    pub limits: Option<MemoryLimits>,
    /// Whether the model is offered tools.
    pub tools: ToolOffer,
}

/// Maps model `name` from `path` (weights stay in the file's pages) and reads its tokenizer
/// and chat template. Before any weight is read or the KV cache allocated — only the header,
/// the norm vectors and the tokenizer are — it checks that the model fits `opts.limits`
/// ([`super::budget`]).
///
/// # Errors
/// [`ProviderError::Local`] naming the path: missing or corrupt files say how to re-download;
/// unsupported architectures, tensor types, tokenizers and chat templates say what is
/// supported; a model that does not fit in memory says what it needs and what is available.
pub(super) fn load(
    name: &str,
    path: &Path,
    opts: &LoadOptions,
) -> Result<LoadedModel, ProviderError> {
    let unsupported = |what: String| ProviderError::Local(format!("{}: {what}", path.display()));
    let decoder = Decoder::open(path).map_err(|e| {
        let what = e.to_string();
        if e.offset.is_some() || what.contains("cannot open") || what.contains("not found") {
            pull_hint(path, e.what, name)
        } else {
            ProviderError::Local(what)
        }
    })?;
    let g = &decoder.gguf;
    let tokenizer =
        Tokenizer::from_gguf(g).map_err(|e| unsupported(format!("tokenizer: {}", e.what)))?;
    if let Some(limits) = &opts.limits {
        let window = budget::window(opts.context_window, decoder.cfg.context_length);
        let need = budget::need(&decoder, window, opts.threads, tokenizer.heap_bytes());
        budget::check(name, &need, limits).map_err(ProviderError::Local)?;
    }
    let text_of = |id: Option<u32>| {
        id.and_then(|i| tokenizer.token_text(i))
            .unwrap_or("")
            .to_string()
    };
    let source = g.str("tokenizer.chat_template");
    if source.is_none() {
        tracing::warn!(
            model = name,
            "the GGUF has no tokenizer.chat_template; using ChatML"
        );
    }
    let template = ChatTemplate::new(source, &text_of(tokenizer.bos), &text_of(tokenizer.eos))
        .map_err(unsupported)?;
    let format = PromptFormat::detect(&template.source, opts.tools);
    let context_length = decoder.cfg.context_length;
    let stop_ids = tokenizer.end_of_generation.clone();
    Ok(LoadedModel {
        name: name.to_string(),
        path: path.to_path_buf(),
        decoder,
        session: None,
        scratch: Scratch::default(),
        pool: Pool::new(opts.threads),
        tokenizer,
        template,
        format,
        context_length,
        stop_ids,
        cached: Vec::new(),
    })
}

/// Whether the GGUF at `path` stores any weight matrix in a type that decodes slower than
/// Q8_0 ([`crate::llm::requant::is_slow`]: Q4_1, whose SIMD kernels run behind Q8_0's, and
/// Q5_1, which has only the portable kernel).
///
/// # Errors
/// [`ProviderError::Local`] when the file is missing or not a valid GGUF.
pub fn has_slow_quant(path: &Path) -> Result<bool, ProviderError> {
    let g = Gguf::open(path).map_err(|e| ProviderError::Local(e.to_string()))?;
    Ok(crate::llm::requant::has_slow_matrices(&g))
}

/// The requantised copy of `src` used for loading: `<src>.<to>.gguf` beside it, made with
/// [`requantize_gguf`] the first time (about a second for a 135M model) and reused while it is
/// newer than `src`. Returns `src` itself when it needs no requantising, or when the copy
/// cannot be written (a read-only models dir), which is logged.
///
/// # Errors
/// [`ProviderError::Local`] when `src` is missing or not a valid GGUF.
pub fn fast_variant(src: &Path, to: QType) -> Result<PathBuf, ProviderError> {
    if !has_slow_quant(src)? {
        return Ok(src.to_path_buf());
    }
    let mut name = src
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{}.gguf", to.name().to_lowercase()));
    let dst = src.with_file_name(name);
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(d), Some(s)) = (mtime(&dst), mtime(src))
        && d >= s
    {
        return Ok(dst);
    }
    let t = std::time::Instant::now();
    match requantize_gguf(src, &dst, to) {
        Ok(()) => {
            tracing::info!(src = %src.display(), dst = %dst.display(), ms = t.elapsed().as_millis() as u64, "requantised model for faster decoding");
            Ok(dst)
        }
        Err(e) => {
            tracing::warn!(src = %src.display(), "cannot write a requantised copy, using the original: {e}");
            Ok(src.to_path_buf())
        }
    }
}

/// Rewrites the GGUF at `src` to `dst` with every 2-D tensor (the weight matrices) stored as
/// `to` (Q8_0), keeping all metadata and the other tensors byte for byte
/// ([`crate::llm::requant::requantize`]; `general.file_type` becomes mostly-Q8_0). Meant for
/// first use: a Q4_1 file decodes faster as Q8_0 (see [`has_slow_quant`]) for about 1.5× the
/// size. Memory use is one row of one tensor.
///
/// The result is written to a temporary file beside `dst`, synced, and renamed over `dst`,
/// so readers never see a partial file.
///
/// # Errors
/// [`ProviderError::Local`] naming the file when `src` is missing or not a valid GGUF, a
/// tensor cannot be converted, or `dst` cannot be written.
pub fn requantize_gguf(src: &Path, dst: &Path, to: QType) -> Result<(), ProviderError> {
    let err =
        |path: &Path, what: String| ProviderError::Local(format!("{}: {what}", path.display()));
    let g = Gguf::open(src).map_err(|e| ProviderError::Local(e.to_string()))?;
    let tmp = dst.with_file_name(format!(
        ".{}.tmp-{}",
        dst.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = File::create(&tmp)
        .and_then(|f| {
            let mut w = BufWriter::new(f);
            crate::llm::requant::requantize(&g, to, &mut w)?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()
        })
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, dst)
                .map_err(|e| format!("cannot rename {} into place: {e}", tmp.display()))
        });
    if let Err(what) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(dst, what));
    }
    // Make the rename durable; failing to sync a directory is not worth failing over.
    if let Some(dir) = dst.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
