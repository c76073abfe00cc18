//! The BERT encoder's forward pass (Devlin et al., <https://arxiv.org/abs/1810.04805>) on this
//! crate's kernels, for Hearth's sentence embedder: what Hugging Face's `BertModel` computes
//! (Hearth's embed tests check it against candle-transformers' implementation), arranged for
//! a small board:
//!
//! - the matrices (word embeddings, every linear layer's weights: 99% of the parameters) are
//!   kept as f16 (all-MiniLM-L6-v2: 43.5 MiB, not 86.1 MiB) and multiplied with f32
//!   activations by the f16 kernels (AVX2/NEON), every product summed in f32; only the
//!   weights are rounded (to 11 significant bits). Biases, norms and the position embeddings
//!   stay f32;
//! - the texts of a batch are laid end to end, not padded to the longest: each matrix product
//!   covers exactly their tokens, and attention runs within each text (no mask);
//! - query, key and value are one fused product, the 1/√d attention scale folded into the
//!   query weights at load;
//! - GELU is a vectorisable erf form (`gelu.rs`) instead of a scalar `erff` per element.
//!
//! Weights come from a safetensors file ([`SafeTensors`]). In its own crate, this builds at
//! opt-level 3 in every profile, like the decoder.

mod gelu;
mod safetensors;

use crate::Pool;
use crate::matmul::{Input, Matrix, matmul};
use crate::pool::split;
use crate::quant::{Isa, QType};
use gelu::gelu;
pub use safetensors::SafeTensors;

/// The MLP's activation (`hidden_act` of Hugging Face's `BertConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// GELU, exact (erf) form.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
    /// ReLU.
    Relu,
}

/// The hyper-parameters the encoder needs (Hugging Face's `BertConfig` names in brackets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Token vocabulary (`vocab_size`).
    pub vocab: usize,
    /// Width of the hidden states (`hidden_size`).
    pub hidden: usize,
    /// Encoder layers (`num_hidden_layers`).
    pub layers: usize,
    /// Attention heads per layer (`num_attention_heads`).
    pub heads: usize,
    /// Width of the MLP (`intermediate_size`).
    pub ff: usize,
    /// Positions with an embedding: the most tokens per text (`max_position_embeddings`).
    pub positions: usize,
    /// Token-type (segment) vocabulary (`type_vocab_size`).
    pub types: usize,
    /// Layer-norm epsilon (`layer_norm_eps`).
    pub eps: f64,
    /// The MLP's activation (`hidden_act`).
    pub act: Act,
}

/// A dense layer `y = x·Wᵀ + b`.
struct Linear {
    /// `rows × cols` little-endian f16 values, as stored in the file (out × in).
    w: Vec<u8>,
    /// `rows` values.
    b: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Linear {
    fn load(st: &SafeTensors, name: &str, cols: usize, rows: usize) -> Result<Self, String> {
        Ok(Self {
            w: st.f16_bytes(&format!("{name}.weight"), &[rows, cols])?,
            b: st.f32(&format!("{name}.bias"), &[rows])?,
            rows,
            cols,
        })
    }

    /// Bytes of the weight and the bias.
    fn bytes(&self) -> usize {
        self.w.len() + self.b.len() * 4
    }

    /// `out = input·Wᵀ + b`: `input.n` rows of `rows` values.
    fn forward(&self, pool: &Pool, isa: Isa, input: &mut Input, out: &mut Vec<f32>) {
        out.resize(input.n * self.rows, 0.0);
        let m = Matrix {
            t: QType::F16,
            rows: self.rows,
            cols: self.cols,
            data: &self.w,
        };
        matmul(pool, isa, &m, input, out);
        for r in out.chunks_exact_mut(self.rows) {
            r.iter_mut().zip(&self.b).for_each(|(v, b)| *v += b);
        }
    }
}

struct LayerNorm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn load(st: &SafeTensors, name: &str, size: usize, eps: f64) -> Result<Self, String> {
        Ok(Self {
            w: st.f32(&format!("{name}.weight"), &[size])?,
            b: st.f32(&format!("{name}.bias"), &[size])?,
            eps: eps as f32,
        })
    }

    /// Normalises every row of `x` (Ba et al., <https://arxiv.org/abs/1607.06450>): zero mean,
    /// unit variance (population), then scale and shift.
    fn apply(&self, x: &mut [f32]) {
        let n = self.w.len();
        for r in x.chunks_exact_mut(n) {
            let mean = r.iter().sum::<f32>() / n as f32;
            let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, w), b) in r.iter_mut().zip(&self.w).zip(&self.b) {
                *v = (*v - mean) * inv * w + b;
            }
        }
    }

    fn bytes(&self) -> usize {
        (self.w.len() + self.b.len()) * 4
    }
}

struct Layer {
    /// Query (pre-scaled by 1/√d), key and value stacked: 3·hidden × hidden.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// Buffers of one forward pass.
#[derive(Default)]
struct Buffers {
    input: Input,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    y: Vec<f32>,
    up: Vec<f32>,
}

/// The encoder: embeddings and transformer layers, no pooler.
pub struct Bert {
    /// vocab × hidden, little-endian f16.
    word: Vec<u8>,
    /// positions × hidden: position embeddings plus the token-type-0 embedding (every token
    /// of a single-segment text has type 0).
    pos_type: Vec<f32>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    vocab: usize,
    positions: usize,
    heads: usize,
    head_dim: usize,
    act: Act,
    isa: Isa,
}

impl Bert {
    /// Loads the weights named as in Hugging Face's `BertModel` (with or without a `bert.`
    /// prefix): matrices as f16, the rest as f32.
    ///
    /// # Errors
    /// A missing tensor or one of the wrong shape, by name; a head count that does not divide
    /// the hidden size.
    pub fn load(st: &SafeTensors, cfg: &Shape) -> Result<Self, String> {
        let pre = if st.contains("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let hidden = cfg.hidden;
        let heads = cfg.heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(format!(
                "hidden_size {hidden} is not a multiple of {heads} heads"
            ));
        }
        let head_dim = hidden / heads;
        let emb = format!("{pre}embeddings");
        let word = st.f16_bytes(
            &format!("{emb}.word_embeddings.weight"),
            &[cfg.vocab, hidden],
        )?;
        let mut pos_type = st.f32(
            &format!("{emb}.position_embeddings.weight"),
            &[cfg.positions, hidden],
        )?;
        let types = st.f32(
            &format!("{emb}.token_type_embeddings.weight"),
            &[cfg.types, hidden],
        )?;
        for row in pos_type.chunks_exact_mut(hidden) {
            row.iter_mut()
                .zip(&types[..hidden])
                .for_each(|(p, t)| *p += t);
        }
        let emb_norm = LayerNorm::load(st, &format!("{emb}.LayerNorm"), hidden, cfg.eps)?;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let l = format!("{pre}encoder.layer.{i}");
            let part = |name: &str| -> Result<(Vec<f32>, Vec<f32>), String> {
                let p = format!("{l}.attention.self.{name}");
                Ok((
                    st.f32(&format!("{p}.weight"), &[hidden, hidden])?,
                    st.f32(&format!("{p}.bias"), &[hidden])?,
                ))
            };
            let ((qw, qb), (kw, kb), (vw, vb)) = (part("query")?, part("key")?, part("value")?);
            let w: Vec<u8> = qw
                .iter()
                .map(|v| v * scale)
                .chain(kw)
                .chain(vw)
                .flat_map(|v| half::f16::from_f32(v).to_bits().to_le_bytes())
                .collect();
            let b = qb.iter().map(|v| v * scale).chain(kb).chain(vb).collect();
            let qkv = Linear {
                w,
                b,
                rows: 3 * hidden,
                cols: hidden,
            };
            let (eps, ff) = (cfg.eps, cfg.ff);
            layers.push(Layer {
                qkv,
                attn_out: Linear::load(st, &format!("{l}.attention.output.dense"), hidden, hidden)?,
                attn_norm: LayerNorm::load(
                    st,
                    &format!("{l}.attention.output.LayerNorm"),
                    hidden,
                    eps,
                )?,
                up: Linear::load(st, &format!("{l}.intermediate.dense"), hidden, ff)?,
                down: Linear::load(st, &format!("{l}.output.dense"), ff, hidden)?,
                out_norm: LayerNorm::load(st, &format!("{l}.output.LayerNorm"), hidden, eps)?,
            });
        }
        Ok(Self {
            word,
            pos_type,
            emb_norm,
            layers,
            vocab: cfg.vocab,
            positions: cfg.positions,
            heads,
            head_dim,
            act: cfg.act,
            isa: Isa::detect(),
        })
    }

    /// Bytes of the weights held (f16 matrices, f32 vectors).
    pub fn weight_bytes(&self) -> usize {
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                l.qkv.bytes()
                    + l.attn_out.bytes()
                    + l.up.bytes()
                    + l.down.bytes()
                    + l.attn_norm.bytes()
                    + l.out_norm.bytes()
            })
            .sum();
        layers + self.word.len() + self.pos_type.len() * 4 + self.emb_norm.bytes()
    }

    /// The last hidden state of every token of `seqs`, the texts' rows one after another
    /// (Σ lengths × hidden).
    ///
    /// # Errors
    /// A token id outside the vocabulary or a text longer than the position embeddings.
    pub fn forward(&self, pool: &Pool, seqs: &[&[u32]]) -> Result<Vec<f32>, String> {
        let hidden = self.heads * self.head_dim;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let mut x = vec![0f32; total * hidden];
        let mut rows = x.chunks_exact_mut(hidden);
        for s in seqs {
            if s.len() > self.positions {
                return Err(format!(
                    "a text of {} tokens is longer than the model's {} positions",
                    s.len(),
                    self.positions
                ));
            }
            for (t, &id) in s.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(format!(
                        "token id {id} is outside the vocabulary of {}",
                        self.vocab
                    ));
                }
                let row = rows.next().expect("one row per token");
                let word = &self.word[id * hidden * 2..(id + 1) * hidden * 2];
                let pos = &self.pos_type[t * hidden..(t + 1) * hidden];
                for ((v, w), p) in row.iter_mut().zip(word.chunks_exact(2)).zip(pos) {
                    *v = half::f16::from_bits(u16::from_le_bytes([w[0], w[1]])).to_f32() + p;
                }
            }
        }
        self.emb_norm.apply(&mut x);
        // Each token's text, as the range of rows it attends over: the same for every layer.
        let mut spans = Vec::with_capacity(total);
        let mut first = 0;
        for s in seqs {
            spans.extend(std::iter::repeat_n(first..first + s.len(), s.len()));
            first += s.len();
        }
        let mut b = Buffers::default();
        for l in &self.layers {
            self.layer(pool, l, &mut x, &spans, &mut b);
        }
        Ok(x)
    }

    fn layer(
        &self,
        pool: &Pool,
        l: &Layer,
        x: &mut [f32],
        spans: &[std::ops::Range<usize>],
        b: &mut Buffers,
    ) {
        let hidden = self.heads * self.head_dim;
        let n = x.len() / hidden;
        b.input.set(x, n, hidden);
        l.qkv.forward(pool, self.isa, &mut b.input, &mut b.qkv);
        b.ctx.resize(n * hidden, 0.0);
        self.attention(pool, spans, &b.qkv, &mut b.ctx);
        b.input.set(&b.ctx, n, hidden);
        l.attn_out.forward(pool, self.isa, &mut b.input, &mut b.y);
        x.iter_mut().zip(&b.y).for_each(|(v, y)| *v += y);
        l.attn_norm.apply(x);
        b.input.set(x, n, hidden);
        l.up.forward(pool, self.isa, &mut b.input, &mut b.up);
        match self.act {
            Act::Gelu => b.up.iter_mut().for_each(|v| *v = gelu(*v)),
            Act::GeluTanh => b.up.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
            Act::Relu => b.up.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
        b.input.set(&b.up, n, l.up.rows);
        l.down.forward(pool, self.isa, &mut b.input, &mut b.y);
        x.iter_mut().zip(&b.y).for_each(|(v, y)| *v += y);
        l.out_norm.apply(x);
    }

    /// Softmax attention of every token over the tokens of its own text (`spans[token]`, row
    /// indices), per head, into `ctx` (tokens × hidden); `qkv` holds each token's query
    /// (pre-scaled), key and value. The (token, head) pairs are split across the pool.
    fn attention(
        &self,
        pool: &Pool,
        spans: &[std::ops::Range<usize>],
        qkv: &[f32],
        ctx: &mut [f32],
    ) {
        let (heads, d) = (self.heads, self.head_dim);
        let hidden = heads * d;
        let n = ctx.len() / hidden;
        let out = SharedOut(ctx.as_mut_ptr());
        pool.run(&|share, shares| {
            let out = &out;
            let mut scores = Vec::new();
            for unit in split(n * heads, share, shares, 1) {
                let (tok, h) = (unit / heads, unit % heads);
                let span = spans[tok].clone();
                let q = &qkv[tok * 3 * hidden + h * d..][..d];
                scores.clear();
                scores.extend(span.clone().map(|j| {
                    let k = &qkv[j * 3 * hidden + hidden + h * d..][..d];
                    q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>()
                }));
                crate::ops::softmax(&mut scores);
                // SAFETY: head h of token tok is `ctx[tok·hidden + h·d..][..d]`, inside `ctx`
                // (tok < n) and written by this unit only; `run` joins every share before
                // `ctx`'s borrow ends.
                let o =
                    unsafe { std::slice::from_raw_parts_mut(out.0.add(tok * hidden + h * d), d) };
                o.fill(0.0);
                for (p, j) in scores.iter().zip(span) {
                    let v = &qkv[j * 3 * hidden + 2 * hidden + h * d..][..d];
                    o.iter_mut().zip(v).for_each(|(o, v)| *o += p * v);
                }
            }
        });
    }
}

/// A raw output pointer the pool's shares write disjoint heads through.
struct SharedOut(*mut f32);
// SAFETY: every share writes heads no other share writes, and `Pool::run` joins them all
// before the borrow of the buffer ends.
unsafe impl Sync for SharedOut {}

/// GELU's tanh approximation, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)).tanh())
}

/// Mean over each text's tokens of `hidden` (the texts' rows one after another), then
/// L2-normalised: the sentence-transformers `Pooling(mean)` + `Normalize` modules. `lens` are
/// the texts' token counts (each ≥ 1). Returns one `dims`-vector per text.
pub fn mean_pool_normalize(hidden: &[f32], lens: &[usize], dims: usize) -> Vec<Vec<f32>> {
    let mut at = 0;
    lens.iter()
        .map(|&len| {
            let mut mean = vec![0f32; dims];
            for row in hidden[at * dims..(at + len) * dims].chunks_exact(dims) {
                mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            at += len;
            mean.iter_mut().for_each(|m| *m /= len as f32);
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            mean.iter_mut().for_each(|m| *m /= norm);
            mean
        })
        .collect()
}
