//! A decoder's hyper-parameters, read from GGUF metadata (`{arch}.…` keys of the GGUF spec's
//! "LLM" section, <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>), for the
//! families Hearth runs: `llama` (SmolLM2, Llama 3.x), `qwen2` (Qwen2.5), `qwen3` (Qwen3) and
//! `gemma3` (Gemma 3). Per-family rules are those of llama.cpp's graph builders
//! (`src/models/{llama,qwen2,qwen3,gemma3}.cpp` in ggml-org/llama.cpp).

use super::gguf::{Gguf, GgufError};

/// A GGUF architecture Hearth has a forward pass for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `llama`: SmolLM, Llama 2/3. Rotary pairs are adjacent (llama.cpp's `ROPE_TYPE_NORM`).
    Llama,
    /// `qwen2`: biases on the q, k and v projections; rotary halves (`ROPE_TYPE_NEOX`).
    Qwen2,
    /// `qwen3`: RMS norms on each query and key head before the rotation; rotary halves.
    Qwen3,
    /// `gemma3`: scaled embeddings, q/k norms, norms after attention and the MLP, GELU (tanh),
    /// and sliding-window layers with their own rotary base.
    Gemma3,
}

impl Family {
    /// The family of `general.architecture`, or `None` when Hearth has no forward pass for it.
    pub fn from_arch(arch: &str) -> Option<Family> {
        Some(match arch {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "qwen3" => Family::Qwen3,
            "gemma3" => Family::Gemma3,
            _ => return None,
        })
    }
}

/// The hyper-parameters a forward pass needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The family (`general.architecture`).
    pub family: Family,
    /// Transformer blocks (`block_count`).
    pub n_layer: usize,
    /// Width of the residual stream (`embedding_length`).
    pub n_embd: usize,
    /// Width of the MLP (`feed_forward_length`).
    pub n_ff: usize,
    /// Query heads (`attention.head_count`).
    pub n_head: usize,
    /// Key/value heads (`attention.head_count_kv`, default `n_head`; grouped-query attention).
    pub n_head_kv: usize,
    /// Width of one head (`attention.key_length`, default `n_embd / n_head`).
    pub head_dim: usize,
    /// RMS norm epsilon (`attention.layer_norm_rms_epsilon`).
    pub eps: f32,
    /// Rotary base of global layers (`rope.freq_base`, default 10,000).
    pub rope_base: f32,
    /// Rotary base of sliding-window layers (`rope.freq_base_swa`, default 10,000 as in
    /// llama.cpp).
    pub rope_base_local: f32,
    /// Rotated dimensions per head (`rope.dimension_count`, default `head_dim`).
    pub rope_dims: usize,
    /// Position scale of global layers: 1 / `rope.scaling.factor` when `rope.scaling.type` is
    /// `linear`, else 1.
    pub rope_scale: f32,
    /// Rotate first/second halves (`true`) or adjacent pairs (`false`).
    pub neox: bool,
    /// Longest sequence the model was trained for, in tokens (`context_length`).
    pub context_length: usize,
    /// Sliding-window size of local layers in tokens (`attention.sliding_window`); a query at
    /// position `q` sees keys at `p` with `q − p < window`.
    pub sliding_window: Option<usize>,
    /// Every `n`-th layer is global, the others slide (`attention.sliding_window_pattern`,
    /// Gemma 3 default 6); 0 when none slide.
    pub swa_period: usize,
    /// Scale of attention scores (`1/√head_dim`).
    pub attn_scale: f32,
    /// Factor applied to looked-up embeddings (Gemma 3: `√n_embd`), 1 otherwise.
    pub embed_scale: f32,
    /// Logits become `cap·tanh(logit/cap)` (`final_logit_softcapping`, when present and not 0).
    pub logit_softcap: Option<f32>,
}

impl Config {
    /// Reads the configuration of `g`'s architecture.
    ///
    /// # Errors
    /// [`GgufError`] naming the key when a required key is missing or out of range, or when
    /// the architecture has no forward pass here.
    pub fn read(g: &Gguf) -> Result<Config, GgufError> {
        let arch = g
            .str("general.architecture")
            .ok_or_else(|| g.error(None, "no general.architecture"))?;
        let family = Family::from_arch(arch).ok_or_else(|| {
            g.error(None, format!("architecture {arch:?} has no forward pass here (llama, qwen2, qwen3, gemma3 do)"))
        })?;
        let key = |k: &str| format!("{arch}.{k}");
        let need = |k: &str| -> Result<usize, GgufError> {
            g.uint(&key(k))
                .filter(|&v| v > 0 && v < 1 << 24)
                .map(|v| v as usize)
                .ok_or_else(|| g.error(None, format!("{} is missing or out of range", key(k))))
        };
        let n_embd = need("embedding_length")?;
        let n_head = need("attention.head_count")?;
        let n_head_kv = g
            .uint(&key("attention.head_count_kv"))
            .map_or(Ok(n_head), |_| need("attention.head_count_kv"))?;
        let head_dim = g
            .uint(&key("attention.key_length"))
            .map_or(Ok(n_embd / n_head), |_| need("attention.key_length"))?;
        if n_head % n_head_kv != 0 || head_dim % 2 != 0 {
            return Err(g.error(None, format!("{n_head} query heads, {n_head_kv} key/value heads of width {head_dim}: not a grouped-query shape")));
        }
        if let Some(v) = g.uint(&key("attention.value_length"))
            && v as usize != head_dim
        {
            return Err(g.error(
                None,
                format!(
                    "{}: value heads of width {v} differ from key heads ({head_dim})",
                    key("attention.value_length")
                ),
            ));
        }
        let rope_dims = g
            .uint(&key("rope.dimension_count"))
            .map_or(Ok(head_dim), |_| need("rope.dimension_count"))?;
        if rope_dims > head_dim || rope_dims % 2 != 0 {
            return Err(g.error(
                None,
                format!(
                    "{} = {rope_dims} does not fit heads of {head_dim}",
                    key("rope.dimension_count")
                ),
            ));
        }
        let rope_scale = match g.str(&key("rope.scaling.type")) {
            Some("linear") => {
                1.0 / g
                    .float(&key("rope.scaling.factor"))
                    .filter(|f| *f > 0.0)
                    .unwrap_or(1.0) as f32
            }
            Some("none") | None => 1.0,
            // llama3-style scaling arrives as the `rope_freqs.weight` tensor instead.
            Some(other) => {
                return Err(g.error(
                    None,
                    format!("{} = {other:?} is not supported", key("rope.scaling.type")),
                ));
            }
        };
        let gemma = family == Family::Gemma3;
        Ok(Config {
            family,
            n_layer: need("block_count")?,
            n_embd,
            n_ff: need("feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            eps: g
                .float(&key("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5) as f32,
            rope_base: g.float(&key("rope.freq_base")).unwrap_or(10_000.0) as f32,
            rope_base_local: g.float(&key("rope.freq_base_swa")).unwrap_or(10_000.0) as f32,
            rope_dims,
            rope_scale,
            neox: family != Family::Llama,
            context_length: need("context_length")?,
            sliding_window: if gemma {
                g.uint(&key("attention.sliding_window"))
                    .filter(|w| *w > 0)
                    .map(|w| w as usize)
            } else {
                None
            },
            swa_period: if gemma {
                g.uint(&key("attention.sliding_window_pattern"))
                    .map_or(6, |p| p as usize)
            } else {
                0
            },
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            embed_scale: if gemma { (n_embd as f32).sqrt() } else { 1.0 },
            logit_softcap: g
                .float(&key("final_logit_softcapping"))
                .filter(|c| *c > 0.0)
                .map(|c| c as f32),
        })
    }

    /// Whether layer `il` attends through the sliding window.
    pub fn is_local(&self, il: usize) -> bool {
        self.sliding_window.is_some()
            && self.swa_period > 0
            && il % self.swa_period < self.swa_period - 1
    }
}
