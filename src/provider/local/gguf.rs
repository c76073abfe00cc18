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
use crate::llm::{Decoder, Pool, Scratch, Session, Tokenizer};
use crate::provider::ProviderError;
use crate::sysmem::MemoryLimits;
use candle_core::Device;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

/// Tensor data alignment this writer uses (the GGUF default), in bytes.
const ALIGNMENT: u64 = 32;

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

/// Opens a GGUF file and parses its header.
fn open_gguf(path: &Path) -> Result<(Content, BufReader<File>), String> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        _ => format!("cannot open: {e}"),
    })?;
    let mut reader = BufReader::new(file);
    let content = Content::read(&mut reader).map_err(|e| format!("not a valid GGUF file ({e})"))?;
    Ok((content, reader))
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

/// Whether the GGUF at `path` stores any weight matrix as Q4_1 or Q5_1, which decode slower
/// than Q8_0: Q5_1 has only the decoder's portable kernel, and Q4_1's SIMD kernel still runs
/// behind Q8_0's (62.4 against 78.7 tok/s on SmolLM2-135M, bench/results.md).
///
/// # Errors
/// [`ProviderError::Local`] when the file is missing or not a valid GGUF.
pub fn has_slow_quant(path: &Path) -> Result<bool, ProviderError> {
    let (content, _) =
        open_gguf(path).map_err(|e| ProviderError::Local(format!("{}: {e}", path.display())))?;
    Ok(content
        .tensor_infos
        .values()
        .any(|t| t.shape.rank() == 2 && matches!(t.ggml_dtype, GgmlDType::Q4_1 | GgmlDType::Q5_1)))
}

/// The requantised copy of `src` used for loading: `<src>.<to>.gguf` beside it, made with
/// [`requantize_gguf`] the first time (about a second for a 135M model) and reused while it is
/// newer than `src`. Returns `src` itself when it needs no requantising, or when the copy
/// cannot be written (a read-only models dir), which is logged.
///
/// # Errors
/// [`ProviderError::Local`] when `src` is missing or not a valid GGUF.
pub fn fast_variant(src: &Path, to: GgmlDType) -> Result<PathBuf, ProviderError> {
    if !has_slow_quant(src)? {
        return Ok(src.to_path_buf());
    }
    let suffix = format!("{to:?}").to_lowercase();
    let mut name = src
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}.gguf"));
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
/// `to`, keeping all metadata and the other tensors byte for byte. Meant for install time:
/// with `to = GgmlDType::Q8_0` a Q4_1 file decodes ~26% faster on the decoder (see
/// [`has_slow_quant`]) for about 1.5× the size.
///
/// Tensors are converted one at a time (memory use is one tensor, not the model). A matrix
/// whose rows are not a multiple of `to`'s block size is kept as is. `general.file_type` is
/// updated when `to` has a llama.cpp file-type number, `general.alignment` is dropped (the
/// output uses the default 32 bytes). The result is written to a temporary file beside `dst`,
/// synced, and renamed over `dst`, so readers never see a partial file.
///
/// # Errors
/// [`ProviderError::Local`] naming the file when `src` is missing or not a valid GGUF, a
/// tensor cannot be converted, or `dst` cannot be written.
pub fn requantize_gguf(src: &Path, dst: &Path, to: GgmlDType) -> Result<(), ProviderError> {
    let err =
        |path: &Path, what: String| ProviderError::Local(format!("{}: {what}", path.display()));
    let (content, mut reader) = open_gguf(src).map_err(|e| err(src, e))?;
    let tmp = dst.with_file_name(format!(
        ".{}.tmp-{}",
        dst.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = write_requantized(&content, &mut reader, &tmp, to).and_then(|()| {
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

/// One output tensor: name, candle shape (outermost first), stored type, whether converted.
struct PlannedTensor<'a> {
    name: &'a str,
    dims: Vec<usize>,
    dtype: GgmlDType,
    convert: bool,
}

fn write_requantized(
    content: &Content,
    reader: &mut BufReader<File>,
    tmp: &Path,
    to: GgmlDType,
) -> Result<(), String> {
    let mut infos: Vec<(&String, &candle_core::quantized::gguf_file::TensorInfo)> =
        content.tensor_infos.iter().collect();
    infos.sort_by_key(|(_, info)| info.offset);
    let plan: Vec<PlannedTensor> = infos
        .iter()
        .map(|(name, info)| {
            let dims = info.shape.dims().to_vec();
            let row = dims.last().copied().unwrap_or(0);
            let convert = dims.len() == 2 && info.ggml_dtype != to && row % to.block_size() == 0;
            let dtype = if convert { to } else { info.ggml_dtype };
            PlannedTensor {
                name: name.as_str(),
                dims,
                dtype,
                convert,
            }
        })
        .collect();
    let any_converted = plan.iter().any(|t| t.convert);

    let file = File::create(tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut w = BufWriter::new(file);
    let io = |e: std::io::Error| format!("write failed: {e}");

    let mut keys: Vec<&String> = content
        .metadata
        .keys()
        .filter(|k| *k != "general.alignment")
        .collect();
    keys.sort();
    w.write_all(b"GGUF").map_err(io)?;
    w.write_all(&3u32.to_le_bytes()).map_err(io)?;
    w.write_all(&(plan.len() as u64).to_le_bytes())
        .map_err(io)?;
    w.write_all(&(keys.len() as u64).to_le_bytes())
        .map_err(io)?;
    for key in keys {
        let mut value = &content.metadata[key];
        let new_ftype;
        if key == "general.file_type"
            && any_converted
            && let Some(ft) = llama_file_type(to)
        {
            new_ftype = Value::U32(ft);
            value = &new_ftype;
        }
        write_str(&mut w, key).map_err(io)?;
        w.write_all(&value_type_id(value).to_le_bytes())
            .map_err(io)?;
        write_value(&mut w, value).map_err(io)?;
    }
    let mut offset = 0u64;
    let mut sizes = Vec::with_capacity(plan.len());
    for t in &plan {
        let elems: usize = t.dims.iter().product();
        let size = (elems / t.dtype.block_size() * t.dtype.type_size()) as u64;
        write_str(&mut w, t.name).map_err(io)?;
        w.write_all(&(t.dims.len() as u32).to_le_bytes())
            .map_err(io)?;
        for d in t.dims.iter().rev() {
            w.write_all(&(*d as u64).to_le_bytes()).map_err(io)?;
        }
        w.write_all(&ggml_type_id(t.dtype).to_le_bytes())
            .map_err(io)?;
        w.write_all(&offset.to_le_bytes()).map_err(io)?;
        sizes.push(size);
        offset += size.div_ceil(ALIGNMENT) * ALIGNMENT;
    }
    pad(&mut w).map_err(io)?;
    for (t, size) in plan.iter().zip(sizes) {
        let q = content
            .tensor(reader, t.name, &Device::Cpu)
            .map_err(|e| format!("tensor {}: {e}", t.name))?;
        let q = if t.convert {
            let dense = q
                .dequantize(&Device::Cpu)
                .map_err(|e| format!("tensor {}: {e}", t.name))?;
            QTensor::quantize(&dense, t.dtype).map_err(|e| format!("tensor {}: {e}", t.name))?
        } else {
            q
        };
        let data = q.data().map_err(|e| format!("tensor {}: {e}", t.name))?;
        if data.len() as u64 != size {
            return Err(format!(
                "tensor {}: {} bytes, expected {size}",
                t.name,
                data.len()
            ));
        }
        w.write_all(&data).map_err(io)?;
        pad(&mut w).map_err(io)?;
    }
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// Pads the output with zeros to the next multiple of [`ALIGNMENT`].
fn pad<W: Write + Seek>(w: &mut W) -> std::io::Result<()> {
    let pos = w.stream_position()?;
    let n = pos.div_ceil(ALIGNMENT) * ALIGNMENT - pos;
    w.write_all(&vec![0u8; n as usize])
}

fn write_str<W: Write>(w: &mut W, s: &str) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

/// GGUF metadata value type ids (spec: `gguf_metadata_value_type`).
fn value_type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

/// Writes a value's payload (its type id is written by the caller). An empty array has lost
/// its element type in candle's reader; it is written as an empty array of `u32`.
fn write_value<W: Write>(w: &mut W, v: &Value) -> std::io::Result<()> {
    match v {
        Value::U8(x) => w.write_all(&x.to_le_bytes()),
        Value::I8(x) => w.write_all(&x.to_le_bytes()),
        Value::U16(x) => w.write_all(&x.to_le_bytes()),
        Value::I16(x) => w.write_all(&x.to_le_bytes()),
        Value::U32(x) => w.write_all(&x.to_le_bytes()),
        Value::I32(x) => w.write_all(&x.to_le_bytes()),
        Value::U64(x) => w.write_all(&x.to_le_bytes()),
        Value::I64(x) => w.write_all(&x.to_le_bytes()),
        Value::F32(x) => w.write_all(&x.to_le_bytes()),
        Value::F64(x) => w.write_all(&x.to_le_bytes()),
        Value::Bool(x) => w.write_all(&[u8::from(*x)]),
        Value::String(s) => write_str(w, s),
        Value::Array(items) => {
            let elem = items.first().map_or(4, value_type_id);
            w.write_all(&elem.to_le_bytes())?;
            w.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|item| write_value(w, item))
        }
    }
}

/// ggml tensor type ids (spec: `ggml_type`).
fn ggml_type_id(t: GgmlDType) -> u32 {
    match t {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

/// llama.cpp's `general.file_type` ("mostly <type>") for a uniform quantization, when it has one.
fn llama_file_type(t: GgmlDType) -> Option<u32> {
    match t {
        GgmlDType::F32 => Some(0),
        GgmlDType::F16 => Some(1),
        GgmlDType::Q4_0 => Some(2),
        GgmlDType::Q4_1 => Some(3),
        GgmlDType::Q8_0 => Some(7),
        GgmlDType::Q5_0 => Some(8),
        GgmlDType::Q5_1 => Some(9),
        GgmlDType::BF16 => Some(32),
        _ => None,
    }
}
