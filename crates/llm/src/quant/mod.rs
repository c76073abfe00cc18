//! Quantized weights as GGUF stores them, read in place: block layouts and dequantisation
//! (`blocks.rs`), dot products with quantised activations (`dot.rs`), and their SIMD kernels
//! chosen at run time (`avx2.rs` on x86-64, `neon.rs` on aarch64), and a self-check of the
//! SIMD kernels against the portable ones on random blocks (`check.rs`).

mod blocks;
mod dot;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod check;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(test)]
mod tests;

pub use blocks::{Q8Blocks, Q8KBlocks, QK, QK_K, QType, dequantize_row};
pub use check::selfcheck;
pub use dot::{
    Acts, Isa, attn_scores, attn_values, axpy_f16, dot, dot4, dot4_f16, round_f16, scalar, to_f16,
};
