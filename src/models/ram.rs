//! How much memory an on-device LLM needs: its weights (the GGUF is memory-mapped, and a
//! decode step reads every matrix, so the whole file stays resident) plus an f16 KV cache
//! for [`KV_TOKENS`] tokens. The dimensions are data in the manifest (`[shape]`); the figure
//! is computed here, never written down.

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;

/// Tokens of KV cache the estimate provisions, whatever the model's window (a longer
/// window costs more; `[local] context_window` defaults to 2048, so this is conservative).
pub const KV_TOKENS: u32 = 4096;

/// Bytes per KV-cache element: the decoder keeps keys and values as f16.
const KV_ELEMENT_BYTES: u64 = 2;

/// A GGUF quantisation, as llama.cpp's `llama-quantize` names its file types.
///
/// Bits per weight are the block formats' sizes (ggml's `ggml-common.h`: Q8_0 stores 34
/// bytes per 32 weights = 8.5 bits) or, for the mixed `_K_M` types, a typical average over a
/// whole small model (token embeddings and some projections are kept in Q6_K).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Quant {
    /// 18 bytes per 32 weights (4.5 bits).
    #[serde(rename = "Q4_0")]
    Q4_0,
    /// 20 bytes per 32 weights (5 bits); requantised to Q8_0 by default.
    #[serde(rename = "Q4_1")]
    Q4_1,
    /// 22 bytes per 32 weights (5.5 bits).
    #[serde(rename = "Q5_0")]
    Q5_0,
    /// 24 bytes per 32 weights (6 bits); requantised to Q8_0 by default.
    #[serde(rename = "Q5_1")]
    Q5_1,
    /// 34 bytes per 32 weights (8.5 bits).
    #[serde(rename = "Q8_0")]
    Q8_0,
    /// Mostly Q4_K (4.5 bits) with Q6_K for the sensitive tensors: ~5.5 bits on small models.
    #[serde(rename = "Q4_K_M")]
    Q4KM,
    /// Mostly Q5_K (5.5 bits) with Q6_K: ~6.2 bits on small models.
    #[serde(rename = "Q5_K_M")]
    Q5KM,
    /// 210 bytes per 256 weights (6.5625 bits).
    #[serde(rename = "Q6_K")]
    Q6K,
    /// IEEE half precision (16 bits).
    #[serde(rename = "F16")]
    F16,
}

impl Quant {
    /// Average storage per weight, in bits.
    pub fn bits_per_weight(self) -> f64 {
        match self {
            Quant::Q4_0 => 4.5,
            Quant::Q4_1 => 5.0,
            Quant::Q5_0 => 5.5,
            Quant::Q5_1 => 6.0,
            Quant::Q8_0 => 8.5,
            Quant::Q4KM => 5.5,
            Quant::Q5KM => 6.2,
            Quant::Q6K => 6.5625,
            Quant::F16 => 16.0,
        }
    }

    /// What the decoder runs a file of this type as when requantisation is on
    /// (`[local] requantize = "q8_0"`, the default): Q4_1 and Q5_1 become a Q8_0 copy.
    pub fn requantised(self) -> Quant {
        match self {
            Quant::Q4_1 | Quant::Q5_1 => Quant::Q8_0,
            other => other,
        }
    }
}

/// The dimensions of a decoder that decide its memory: `[shape]` in a manifest, from the
/// model's `config.json` (`num_hidden_layers`, `num_key_value_heads`, `head_dim`) or its
/// GGUF header (`{arch}.block_count`, `{arch}.attention.head_count_kv`,
/// `{arch}.attention.key_length`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LlmShape {
    /// Transformer blocks.
    pub layers: u32,
    /// Key/value heads per block (fewer than query heads under grouped-query attention).
    pub kv_heads: u32,
    /// Width of one head, in elements.
    pub head_dim: u32,
    /// Total parameters, embeddings included; estimates the weights before the file's size
    /// is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<u64>,
    /// Quantisation of the primary GGUF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<Quant>,
}

impl LlmShape {
    /// Checks that every dimension is positive.
    ///
    /// # Errors
    /// A sentence naming the field.
    pub fn validate(&self) -> Result<(), String> {
        for (what, v) in [
            ("layers", self.layers),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
        ] {
            if v == 0 {
                return Err(format!("shape.{what} must be positive"));
            }
        }
        if self.params == Some(0) {
            return Err("shape.params must be positive".into());
        }
        Ok(())
    }

    /// Bytes of an f16 KV cache for `tokens` tokens: keys and values, per layer, per KV
    /// head, per head dimension, 2 bytes each.
    pub fn kv_cache_bytes(&self, tokens: u32) -> u64 {
        2 * u64::from(self.layers)
            * u64::from(self.kv_heads)
            * u64::from(self.head_dim)
            * u64::from(tokens)
            * KV_ELEMENT_BYTES
    }
}

/// How an estimate is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstimateOptions {
    /// Whether Q4_1/Q5_1 weights run as their Q8_0 copy (`[local] requantize = "q8_0"`).
    pub requantize: bool,
}

/// Memory one model needs while it answers, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamEstimate {
    /// The weights the decoder maps (the Q8_0 copy when requantised), in bytes.
    pub weights: u64,
    /// The f16 KV cache for `min(KV_TOKENS, context_window)` tokens, in bytes.
    pub kv_cache: u64,
    /// Whether `weights` comes from the file's real size (else from parameters × bits).
    pub exact_weights: bool,
}

impl RamEstimate {
    /// Weights plus KV cache, in bytes.
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache
    }
}

impl Manifest {
    /// The RAM this LLM needs (see the module docs), or `None` for embedding models and
    /// manifests without a `shape` (or with neither a known size nor `params` and `quant`).
    ///
    /// Weights: the primary file's size when known, else `params × bits_per_weight(quant)`;
    /// with requantisation on, a Q4_1/Q5_1 file counts as its Q8_0 copy (size × 8.5 / bits).
    pub fn ram_estimate(&self, opts: EstimateOptions) -> Option<RamEstimate> {
        let shape = self.shape.as_ref()?;
        let primary = self.primary()?;
        let runs_as = |q: Quant| if opts.requantize { q.requantised() } else { q };
        let (weights, exact_weights) = match (primary.size, shape.params, shape.quant) {
            (Some(size), _, Some(q)) => {
                let ratio = runs_as(q).bits_per_weight() / q.bits_per_weight();
                ((size as f64 * ratio) as u64, true)
            }
            (Some(size), _, None) => (size, true),
            (None, Some(params), Some(q)) => (
                (params as f64 * runs_as(q).bits_per_weight() / 8.0) as u64,
                false,
            ),
            (None, _, _) => return None,
        };
        let tokens = KV_TOKENS.min(self.context_window);
        Some(RamEstimate {
            weights,
            kv_cache: shape.kv_cache_bytes(tokens),
            exact_weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_cache_is_two_tensors_of_f16_per_layer() {
        // Llama 3.2 1B: 16 layers, 8 KV heads of 64 → 128 KiB per token.
        let shape = LlmShape {
            layers: 16,
            kv_heads: 8,
            head_dim: 64,
            params: None,
            quant: None,
        };
        assert_eq!(shape.kv_cache_bytes(1), 2 * 16 * 8 * 64 * 2);
        assert_eq!(shape.kv_cache_bytes(4096), 128 * 1024 * 1024);
    }

    #[test]
    fn requantisation_only_touches_q4_1_and_q5_1() {
        assert_eq!(Quant::Q4_1.requantised(), Quant::Q8_0);
        assert_eq!(Quant::Q5_1.requantised(), Quant::Q8_0);
        for q in [
            Quant::Q4_0,
            Quant::Q8_0,
            Quant::Q4KM,
            Quant::Q6K,
            Quant::F16,
        ] {
            assert_eq!(q.requantised(), q);
        }
    }
}
