//! Just enough of a GGUF header for installing a model: the magic that says a download is a
//! GGUF at all, and the handful of metadata values a generated manifest records (family,
//! context window, and the dimensions of the RAM estimate).
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>. The header is
//! parsed by `crates/llm`'s reader (the one the decoder uses, built into every Hearth even
//! without `local-llm`); this module only picks the values out.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::error::ModelError;
use super::ram::LlmShape;

/// The first four bytes of every GGUF file.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";

/// Checks that the file at `path` starts with [`MAGIC`].
///
/// # Errors
/// [`ModelError::NotGguf`] naming `model` and `file` when it does not (or is shorter than
/// four bytes); [`ModelError::Io`] when it cannot be read.
pub(crate) fn check_magic(path: &Path, model: &str, file: &str) -> Result<(), ModelError> {
    let mut head = Vec::with_capacity(4);
    File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|e| ModelError::io("reading", path, e))?;
    if head == MAGIC {
        return Ok(());
    }
    Err(ModelError::NotGguf {
        model: model.to_owned(),
        file: file.to_owned(),
        found: String::from_utf8_lossy(&head).into_owned(),
    })
}

/// What a generated manifest takes from a GGUF header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GgufFacts {
    /// `general.architecture`, e.g. `qwen3`.
    pub architecture: String,
    /// `{arch}.context_length`, in tokens.
    pub context_length: Option<u64>,
    /// Layers, KV heads and head width, when the header gives them (`{arch}.block_count`,
    /// `{arch}.attention.head_count_kv` — default `head_count` —, `{arch}.attention.key_length`
    /// — default `embedding_length / head_count`).
    pub shape: Option<LlmShape>,
}

/// Reads [`GgufFacts`] from the GGUF at `path` (`file` names it in errors).
///
/// # Errors
/// [`ModelError::BadGguf`] for a file that is not a version 2 or 3 GGUF, a truncated or
/// inconsistent header, or no `general.architecture`; [`ModelError::Io`] when it cannot be
/// opened.
pub(crate) fn read_facts(path: &Path, file: &str) -> Result<GgufFacts, ModelError> {
    let g = crate::llm::Gguf::open(path).map_err(|e| ModelError::BadGguf {
        file: file.to_owned(),
        reason: format!("malformed GGUF header: {}", e.what),
    })?;
    let architecture = g
        .str("general.architecture")
        .ok_or_else(|| ModelError::BadGguf {
            file: file.to_owned(),
            reason: "the GGUF header names no general.architecture".into(),
        })?
        .to_owned();
    let get = |suffix: &str| g.uint(&format!("{architecture}.{suffix}"));
    let to_u32 = |v: u64| u32::try_from(v).ok().filter(|v| *v > 0);
    let shape = (|| {
        let layers = to_u32(get("block_count")?)?;
        let heads = get("attention.head_count").and_then(to_u32);
        let kv_heads = match get("attention.head_count_kv") {
            Some(v) => to_u32(v)?,
            None => heads?,
        };
        let head_dim = match get("attention.key_length") {
            Some(v) => to_u32(v)?,
            None => to_u32(get("embedding_length")? / u64::from(heads?))?,
        };
        Some(LlmShape {
            layers,
            kv_heads,
            head_dim,
            params: None,
            quant: None,
        })
    })();
    Ok(GgufFacts {
        context_length: get("context_length"),
        architecture,
        shape,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A GGUF v3 header with these metadata entries (string or `u32` values), followed by
    /// `tail` (standing in for tensors), for tests.
    pub(crate) fn gguf_bytes(
        strings: &[(&str, &str)],
        ints: &[(&str, u32)],
        tail: &[u8],
    ) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let str_bytes = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        };
        out.extend(3u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend(((strings.len() + ints.len() + 1) as u64).to_le_bytes());
        for (k, v) in strings {
            str_bytes(&mut out, k);
            out.extend(8u32.to_le_bytes());
            str_bytes(&mut out, v);
        }
        // An array of strings, as a tokenizer vocabulary is stored.
        str_bytes(&mut out, "tokenizer.ggml.tokens");
        out.extend(9u32.to_le_bytes());
        out.extend(8u32.to_le_bytes());
        out.extend(3u64.to_le_bytes());
        for t in ["<s>", "a", "b"] {
            str_bytes(&mut out, t);
        }
        for (k, v) in ints {
            str_bytes(&mut out, k);
            out.extend(4u32.to_le_bytes());
            out.extend(v.to_le_bytes());
        }
        out.extend(tail);
        out
    }

    fn write_temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("hearth-gguf-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn facts_are_read_past_arrays_and_defaults_apply() {
        let bytes = gguf_bytes(
            &[("general.architecture", "qwen3"), ("general.name", "Tiny")],
            &[
                ("qwen3.context_length", 40960),
                ("qwen3.block_count", 28),
                ("qwen3.embedding_length", 1024),
                ("qwen3.attention.head_count", 16),
                ("qwen3.attention.head_count_kv", 8),
                ("qwen3.attention.key_length", 128),
            ],
            &[0; 32],
        );
        let path = write_temp("full", &bytes);
        let facts = read_facts(&path, "f.gguf").unwrap();
        assert_eq!(facts.architecture, "qwen3");
        assert_eq!(facts.context_length, Some(40960));
        let shape = facts.shape.unwrap();
        assert_eq!((shape.layers, shape.kv_heads, shape.head_dim), (28, 8, 128));

        // No head_count_kv and no key_length: heads and embedding / heads.
        let bytes = gguf_bytes(
            &[("general.architecture", "llama")],
            &[
                ("llama.block_count", 30),
                ("llama.embedding_length", 576),
                ("llama.attention.head_count", 9),
            ],
            &[],
        );
        let path2 = write_temp("defaults", &bytes);
        let shape = read_facts(&path2, "f.gguf").unwrap().shape.unwrap();
        assert_eq!((shape.layers, shape.kv_heads, shape.head_dim), (30, 9, 64));
        check_magic(&path2, "m", "f.gguf").unwrap();
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(path2);
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let bytes = gguf_bytes(
            &[("general.architecture", "qwen3")],
            &[("qwen3.block_count", 2)],
            &[],
        );
        let path = write_temp("cut", &bytes[..bytes.len() - 3]);
        let err = read_facts(&path, "f.gguf").unwrap_err().to_string();
        assert!(err.contains("file ends inside"), "{err}");

        let path2 = write_temp("html", b"<!DOCTYPE html><html>");
        let err = check_magic(&path2, "m", "f.gguf").unwrap_err().to_string();
        assert!(
            err.contains("not a GGUF file") && err.contains("<!DO"),
            "{err}"
        );
        let err = read_facts(&path2, "f.gguf").unwrap_err().to_string();
        assert!(err.contains("no GGUF magic"), "{err}");
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(path2);
    }
}
