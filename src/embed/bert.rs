//! The BERT encoder's forward pass (Devlin et al., <https://arxiv.org/abs/1810.04805>) for
//! inference on candle's CPU backend, arranged for speed. It computes what
//! `candle_transformers::models::bert::BertModel` computes (a unit test checks that) and reads
//! the same weights and `config.json`, but:
//!
//! - a linear layer over few rows computes `W·Xᵀ` and transposes the small result back:
//!   gemm then streams the weight rows as stored, whereas `X·Wᵀ` makes it re-pack the whole
//!   weight matrix on every call, which for a few dozen tokens costs more than the product;
//! - query, key and value are one fused matmul, and the 1/√d attention scale is folded into
//!   the query weights at load time;
//! - the attention mask is added only when the pass has padding, and softmax is candle's
//!   fused last-dimension kernel;
//! - GELU is a vectorisable erf form (`gelu.rs`) instead of a scalar `erff` per element;
//! - the matrices (word embeddings, every linear layer's weights: 99% of the parameters) are
//!   kept as f16, half the memory of f32 (all-MiniLM-L6-v2: 43.5 MiB, not 86.1 MiB), and
//!   widened to f32 where they are used, so every product and sum is computed in f32 as
//!   before; only the weights are rounded (to 11 significant bits). Biases, norms and the
//!   position embeddings stay f32 (1 MiB).

use super::model::{Config, HiddenAct};
use candle_core::{D, DType, Result, Tensor};
use candle_nn::VarBuilder;

/// Rows (tokens in the pass) up to which [`Linear`] computes `W·Xᵀ` and transposes back.
const SMALL_ROWS: usize = 64;

/// How the matrices are stored.
const MATRIX_DTYPE: DType = DType::F16;

/// Bytes of a tensor's elements.
fn bytes(t: &Tensor) -> usize {
    t.elem_count() * t.dtype().size_in_bytes()
}

/// A dense layer `y = x·Wᵀ + b`.
struct Linear {
    /// out × in, as stored, in [`MATRIX_DTYPE`].
    w: Tensor,
    /// out.
    b: Tensor,
    /// out × 1, for the transposed product.
    b_col: Tensor,
}

impl Linear {
    /// A layer over `w` (any float type; stored as [`MATRIX_DTYPE`]) and `b` (f32).
    fn new(w: Tensor, b: Tensor) -> Result<Self> {
        let b_col = b.unsqueeze(1)?;
        let w = w.to_dtype(MATRIX_DTYPE)?;
        Ok(Self { w, b, b_col })
    }

    /// Bytes of the weight and the bias (`b_col` is a view of `b`).
    fn bytes(&self) -> usize {
        bytes(&self.w) + bytes(&self.b)
    }

    fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Self> {
        Self::new(
            vb.get((outputs, inputs), "weight")?,
            vb.get(outputs, "bias")?,
        )
    }

    /// (rows, in) → (rows, out), in f32: the weights are widened for this product only.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.w.to_dtype(DType::F32)?;
        if x.dim(0)? <= SMALL_ROWS {
            w.matmul(&x.t()?)?
                .broadcast_add(&self.b_col)?
                .t()?
                .contiguous()
        } else {
            x.matmul(&w.t()?)?.broadcast_add(&self.b)
        }
    }
}

struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            w: vb.get(size, "weight")?,
            b: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps)
    }

    fn bytes(&self) -> usize {
        bytes(&self.w) + bytes(&self.b)
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

/// The encoder: embeddings and transformer layers, no pooler.
pub(super) struct Bert {
    /// vocab × hidden, in [`MATRIX_DTYPE`].
    word: Tensor,
    /// positions × hidden: position embeddings plus the token-type-0 embedding (every token
    /// of a single-segment text has type 0).
    pos_type: Tensor,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
}

impl Bert {
    /// Loads the weights named as in Hugging Face's `BertModel` (with or without a `bert.`
    /// prefix).
    pub(super) fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let hidden = cfg.hidden_size;
        let heads = cfg.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            candle_core::bail!("hidden_size {hidden} is not a multiple of {heads} heads");
        }
        let head_dim = hidden / heads;
        let emb = vb.pp("embeddings");
        let word = emb
            .get((cfg.vocab_size, hidden), "word_embeddings.weight")?
            .to_dtype(MATRIX_DTYPE)?;
        let pos = emb.get(
            (cfg.max_position_embeddings, hidden),
            "position_embeddings.weight",
        )?;
        let types = emb.get(
            (cfg.type_vocab_size, hidden),
            "token_type_embeddings.weight",
        )?;
        let pos_type = pos.broadcast_add(&types.get(0)?)?;
        let emb_norm = LayerNorm::load(emb.pp("LayerNorm"), hidden, cfg.layer_norm_eps)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention.self");
            let part = |name: &str| -> Result<(Tensor, Tensor)> {
                let p = att.pp(name);
                Ok((p.get((hidden, hidden), "weight")?, p.get(hidden, "bias")?))
            };
            let (qw, qb) = part("query")?;
            let (kw, kb) = part("key")?;
            let (vw, vb_) = part("value")?;
            let qkv = Linear::new(
                Tensor::cat(&[(qw * scale)?, kw, vw], 0)?,
                Tensor::cat(&[(qb * scale)?, kb, vb_], 0)?,
            )?;
            layers.push(Layer {
                qkv,
                attn_out: Linear::load(l.pp("attention.output.dense"), hidden, hidden)?,
                attn_norm: LayerNorm::load(
                    l.pp("attention.output.LayerNorm"),
                    hidden,
                    cfg.layer_norm_eps,
                )?,
                up: Linear::load(l.pp("intermediate.dense"), hidden, cfg.intermediate_size)?,
                down: Linear::load(l.pp("output.dense"), cfg.intermediate_size, hidden)?,
                out_norm: LayerNorm::load(l.pp("output.LayerNorm"), hidden, cfg.layer_norm_eps)?,
            });
        }
        Ok(Self {
            word,
            pos_type,
            emb_norm,
            layers,
            heads,
            head_dim,
            act: cfg.hidden_act,
        })
    }

    /// Bytes of the weights held (f16 matrices, f32 vectors).
    pub(super) fn weight_bytes(&self) -> usize {
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
        layers + bytes(&self.word) + bytes(&self.pos_type) + self.emb_norm.bytes()
    }

    /// The last hidden state, (texts × len) rows × hidden, for `ids` (texts × len, u32) with
    /// `mask` (texts × 1 × 1 × len, f32: 0 for tokens, a large negative for padding), or
    /// `None` when no text is padded.
    pub(super) fn forward(&self, ids: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (n, len) = ids.dims2()?;
        let hidden = self.heads * self.head_dim;
        let x = self
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .to_dtype(DType::F32)?;
        let x = x
            .reshape((n, len, hidden))?
            .broadcast_add(&self.pos_type.narrow(0, 0, len)?)?
            .reshape((n * len, hidden))?;
        let mut x = self.emb_norm.forward(&x)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, n, len, mask)?;
        }
        Ok(x)
    }

    fn layer(
        &self,
        l: &Layer,
        x: &Tensor,
        n: usize,
        len: usize,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (h, d) = (self.heads, self.head_dim);
        // (n·len, 3·hidden) → (3, n, heads, len, d)
        let qkv = l
            .qkv
            .forward(x)?
            .reshape((n, len, 3, h, d))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let mut scores = q.matmul(&k.t()?)?; // (n, heads, len, len), already scaled
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)? // (n, heads, len, d)
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n * len, h * d))?;
        let x = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + x)?)?;
        let up = l.up.forward(&x)?;
        let up = match self.act {
            HiddenAct::Gelu => up.apply_op1_no_bwd(&super::gelu::GeluErf)?,
            HiddenAct::GeluApproximate => up.gelu()?,
            HiddenAct::Relu => up.relu()?,
        };
        l.out_norm.forward(&(l.down.forward(&up)? + x)?)
    }
}

/// Mean over each text's real tokens of `hidden` ((n·len) × dims), L2-normalised: the
/// sentence-transformers `Pooling(mean)` + `Normalize` modules. `lens` are the texts' token
/// counts (each ≥ 1). Returns n × dims.
pub(super) fn mean_pool_normalize(hidden: &Tensor, lens: &[usize]) -> Result<Vec<Vec<f32>>> {
    let n = lens.len();
    let dims = hidden.dim(D::Minus1)?;
    let len = hidden.dim(0)? / n.max(1);
    let hidden = hidden.reshape((n, len, dims))?;
    let mean = if lens.iter().all(|&l| l == len) {
        hidden.mean(1)?
    } else {
        let mut weights = vec![0f32; n * len];
        for (i, &l) in lens.iter().enumerate() {
            weights[i * len..i * len + l].fill(1.0 / l as f32);
        }
        let weights = Tensor::from_vec(weights, (n, len, 1), hidden.device())?;
        hidden.broadcast_mul(&weights)?.sum(1)?
    };
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f32::MAX)?;
    mean.broadcast_div(&norm)?.to_vec2()
}
