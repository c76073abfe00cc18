//! A decoder's weights located in the mapped GGUF: each matrix is a type, a shape and a byte
//! range of the mapping (read in place, never copied); only the small vectors (norm weights,
//! biases, rotary frequency factors) are converted to f32 on the heap.
//!
//! Tensor names are llama.cpp's (`gguf-py/gguf/constants.py`, `MODEL_TENSOR` names):
//! `token_embd`, `output_norm`, `output` (absent when tied to `token_embd`), `rope_freqs`, and
//! per block `blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, attn_q_norm,
//! attn_k_norm, post_attention_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, post_ffw_norm}`
//! with `.weight` (and `.bias` for qwen2's q/k/v).

use super::config::{Config, Family};
use super::gguf::{Gguf, GgufError};
use super::matmul::Matrix;
use super::quant::{QType, dequantize_row};

/// Where a matrix lies in the mapping.
#[derive(Debug, Clone, Copy)]
pub struct MatRef {
    /// Element type.
    pub t: QType,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// Byte offset in the file.
    pub start: usize,
    /// Byte length.
    pub len: usize,
}

/// One transformer block's weights.
#[derive(Debug)]
pub struct Layer {
    /// RMS norm before attention (`attn_norm`).
    pub attn_norm: Vec<f32>,
    /// Query projection, `n_head·head_dim × n_embd`.
    pub wq: MatRef,
    /// Key projection, `n_head_kv·head_dim × n_embd`.
    pub wk: MatRef,
    /// Value projection, `n_head_kv·head_dim × n_embd`.
    pub wv: MatRef,
    /// Output projection, `n_embd × n_head·head_dim`.
    pub wo: MatRef,
    /// Biases of q, k, v (qwen2).
    pub bias: Option<[Vec<f32>; 3]>,
    /// Per-head RMS norms of queries and keys (qwen3, gemma3).
    pub qk_norm: Option<[Vec<f32>; 2]>,
    /// Norm of the attention output before the residual add (gemma3).
    pub post_attn_norm: Option<Vec<f32>>,
    /// RMS norm before the MLP (`ffn_norm`).
    pub ffn_norm: Vec<f32>,
    /// MLP gate projection, `n_ff × n_embd`.
    pub gate: MatRef,
    /// MLP up projection, `n_ff × n_embd`.
    pub up: MatRef,
    /// MLP down projection, `n_embd × n_ff`.
    pub down: MatRef,
    /// Norm of the MLP output before the residual add (gemma3).
    pub post_ffw_norm: Option<Vec<f32>>,
}

/// All weights of a model.
#[derive(Debug)]
pub struct Weights {
    /// Token embeddings, `vocab × n_embd`; rows are looked up in place.
    pub token_embd: MatRef,
    /// Output projection to logits (`token_embd` when tied).
    pub output: MatRef,
    /// Final RMS norm.
    pub output_norm: Vec<f32>,
    /// Llama 3's rotary frequency factors (one per rotated pair).
    pub rope_freqs: Option<Vec<f32>>,
    /// The transformer blocks.
    pub layers: Vec<Layer>,
    /// Vocabulary size (rows of `token_embd`).
    pub vocab: usize,
}

impl Weights {
    /// Locates every tensor `cfg` needs in `g` and checks shapes and types.
    ///
    /// # Errors
    /// [`GgufError`] naming the tensor when one is missing, has the wrong shape, or has a
    /// type Hearth does not run.
    pub fn locate(g: &Gguf, cfg: &Config) -> Result<Weights, GgufError> {
        let (e, hd) = (cfg.n_embd, cfg.head_dim);
        let token_embd = matrix(g, "token_embd.weight", None, e)?;
        let vocab = token_embd.rows;
        let output = match g.tensor("output.weight") {
            Some(_) => matrix(g, "output.weight", Some(vocab), e)?,
            None => token_embd,
        };
        let rope_freqs = match g.tensor("rope_freqs.weight") {
            Some(_) => Some(vector(g, "rope_freqs.weight", cfg.rope_dims / 2)?),
            None => None,
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            let opt_vec = |s: &str, len: usize| match g.tensor(&n(s)) {
                Some(_) => vector(g, &n(s), len).map(Some),
                None => Ok(None),
            };
            let (q_out, kv_out) = (cfg.n_head * hd, cfg.n_head_kv * hd);
            let bias = match cfg.family {
                Family::Qwen2 => Some([
                    vector(g, &n("attn_q.bias"), q_out)?,
                    vector(g, &n("attn_k.bias"), kv_out)?,
                    vector(g, &n("attn_v.bias"), kv_out)?,
                ]),
                _ => None,
            };
            let qk_norm = match cfg.family {
                Family::Qwen3 | Family::Gemma3 => Some([
                    vector(g, &n("attn_q_norm.weight"), hd)?,
                    vector(g, &n("attn_k_norm.weight"), hd)?,
                ]),
                _ => None,
            };
            let gemma = cfg.family == Family::Gemma3;
            layers.push(Layer {
                attn_norm: vector(g, &n("attn_norm.weight"), e)?,
                wq: matrix(g, &n("attn_q.weight"), Some(q_out), e)?,
                wk: matrix(g, &n("attn_k.weight"), Some(kv_out), e)?,
                wv: matrix(g, &n("attn_v.weight"), Some(kv_out), e)?,
                wo: matrix(g, &n("attn_output.weight"), Some(e), q_out)?,
                bias,
                qk_norm,
                post_attn_norm: if gemma {
                    Some(vector(g, &n("post_attention_norm.weight"), e)?)
                } else {
                    opt_vec("post_attention_norm.weight", e)?
                },
                ffn_norm: vector(g, &n("ffn_norm.weight"), e)?,
                gate: matrix(g, &n("ffn_gate.weight"), Some(cfg.n_ff), e)?,
                up: matrix(g, &n("ffn_up.weight"), Some(cfg.n_ff), e)?,
                down: matrix(g, &n("ffn_down.weight"), Some(e), cfg.n_ff)?,
                post_ffw_norm: if gemma {
                    Some(vector(g, &n("post_ffw_norm.weight"), e)?)
                } else {
                    opt_vec("post_ffw_norm.weight", e)?
                },
            });
        }
        Ok(Weights {
            token_embd,
            output,
            output_norm: vector(g, "output_norm.weight", e)?,
            rope_freqs,
            layers,
            vocab,
        })
    }

    /// Bytes of the f32 vectors held on the heap (norm weights, biases, rotary factors).
    pub fn heap_bytes(&self) -> usize {
        let len = |v: &Option<Vec<f32>>| v.as_ref().map_or(0, Vec::len);
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                l.attn_norm.len()
                    + l.ffn_norm.len()
                    + l.bias.as_ref().map_or(0, |b| b.iter().map(Vec::len).sum())
                    + l.qk_norm
                        .as_ref()
                        .map_or(0, |n| n.iter().map(Vec::len).sum())
                    + len(&l.post_attn_norm)
                    + len(&l.post_ffw_norm)
            })
            .sum();
        (layers + self.output_norm.len() + len(&self.rope_freqs)) * 4
    }

    /// Bytes of the matrices (the mapped part the forward pass reads).
    pub fn matrix_bytes(&self) -> usize {
        let l: usize = self
            .layers
            .iter()
            .map(|l| {
                [l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down]
                    .iter()
                    .map(|m| m.len)
                    .sum::<usize>()
            })
            .sum();
        l + self.token_embd.len
            + if self.output.start == self.token_embd.start {
                0
            } else {
                self.output.len
            }
    }
}

/// A view of `m` in the mapping.
pub fn view<'a>(g: &'a Gguf, m: &MatRef) -> Matrix<'a> {
    Matrix {
        t: m.t,
        rows: m.rows,
        cols: m.cols,
        data: &g.bytes()[m.start..m.start + m.len],
    }
}

/// Locates a 2-D tensor with `cols` columns (and `rows` rows when given).
fn matrix(g: &Gguf, name: &str, rows: Option<usize>, cols: usize) -> Result<MatRef, GgufError> {
    let info = g
        .tensor(name)
        .ok_or_else(|| g.error(None, format!("tensor {name} is missing")))?;
    let t = QType::from_ggml(info.ggml_type).ok_or_else(|| {
        g.error(None, format!("tensor {name} has ggml type {}, which Hearth does not run (it runs F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K); requantize the file", info.ggml_type))
    })?;
    let r = info.dims.get(1).copied().unwrap_or(1);
    if info.dims.len() > 2 || info.dims[0] != cols || rows.is_some_and(|want| want != r) {
        return Err(g.error(
            None,
            format!(
                "tensor {name} has shape {:?}, expected [{cols}, {}]",
                info.dims,
                rows.map_or("rows".into(), |r| r.to_string())
            ),
        ));
    }
    Ok(MatRef {
        t,
        rows: r,
        cols,
        start: info.start,
        len: info.len,
    })
}

/// Reads a 1-D tensor of `len` values as f32.
fn vector(g: &Gguf, name: &str, len: usize) -> Result<Vec<f32>, GgufError> {
    let m = matrix(g, name, Some(1), len)?;
    let mut out = vec![0f32; len];
    dequantize_row(m.t, &g.bytes()[m.start..m.start + m.len], &mut out);
    Ok(out)
}
