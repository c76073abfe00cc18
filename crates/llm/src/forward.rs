//! The forward pass: token ids in, logits out, for every [`Family`], with the keys and values
//! of past positions kept in a [`Session`]'s f16 cache, preallocated for its window and
//! written in place.
//!
//! Per block (llama.cpp's graph builders, `src/models/*.cpp`): `h = norm(x)`; q, k, v
//! projections (+ bias); per-head q/k norms; rotary embeddings; attention over the cache
//! (causal, and windowed on Gemma 3's local layers); output projection (+ post-norm);
//! residual add; `h = norm(x)`; gated MLP (SiLU, or GELU-tanh on Gemma 3) (+ post-norm);
//! residual add. Then the final norm and the output projection.

use super::config::{Config, Family};
use super::gguf::Gguf;
use super::matmul::{Input, matmul};
use super::ops::{Rope, gelu_mul, rms_norm, silu_mul, softmax};
use super::pool::Pool;
use super::quant::{Acts, Isa, QType, axpy_f16, dequantize_row, dot, round_f16, to_f16};
use super::weights::{Weights, view};

/// Tokens computed per step of a long prompt; bounds the scratch memory.
pub const BATCH: usize = 32;

/// One conversation's attention state: keys and values of positions `0..len`, as f16,
/// `layers × window × kv_heads × head_dim` each, allocated zeroed (pages are touched only
/// when written).
pub struct Session {
    k: Vec<Vec<u8>>,
    v: Vec<Vec<u8>>,
    /// Positions the cache holds.
    pub len: usize,
    /// Largest number of positions, in tokens.
    pub window: usize,
    row: usize,
}

impl Session {
    /// An empty session for `cfg` with room for `window` tokens.
    pub fn new(cfg: &Config, window: usize) -> Session {
        let row = cfg.n_head_kv * cfg.head_dim * 2;
        let layer = || vec![0u8; window * row];
        Session {
            k: (0..cfg.n_layer).map(|_| layer()).collect(),
            v: (0..cfg.n_layer).map(|_| layer()).collect(),
            len: 0,
            window,
            row,
        }
    }

    /// Bytes of cache allocated (the part touched grows with `len`).
    pub fn bytes(&self) -> usize {
        2 * self.k.len() * self.window * self.row
    }

    /// Bytes of cache [`Session::new`] allocates for `cfg` and `window` tokens: keys and
    /// values (2), every layer, `n_head_kv × head_dim` f16 values (2 bytes) per position.
    pub fn bytes_for(cfg: &Config, window: usize) -> usize {
        2 * cfg.n_layer * window * cfg.n_head_kv * cfg.head_dim * 2
    }
}

/// Buffers reused across steps (sized for [`BATCH`] tokens).
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
    q16: Vec<f32>,
    input: Input,
    logits: Vec<f32>,
}

impl Scratch {
    /// Bytes the buffers hold now (their capacity).
    pub fn bytes(&self) -> usize {
        let floats: usize = [
            &self.x,
            &self.h,
            &self.q,
            &self.k,
            &self.v,
            &self.att,
            &self.gate,
            &self.up,
            &self.scores,
            &self.q16,
            &self.logits,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum();
        floats * 4 + self.input.bytes()
    }

    /// About the bytes the buffers reach for `cfg` in a session of `window` tokens: the sizes
    /// [`Decoder::forward`] resizes them to for a full [`BATCH`] of tokens, attention scores
    /// over `window` positions and one row of `vocab` logits (a vector's capacity may round
    /// this up).
    pub fn bytes_for(cfg: &Config, vocab: usize, window: usize) -> usize {
        let (b, e, hd) = (BATCH, cfg.n_embd, cfg.head_dim);
        let (qd, kvd, ff) = (cfg.n_head * hd, cfg.n_head_kv * hd, cfg.n_ff);
        let floats = b * e // x
            + 2 * b * e.max(qd) // h, att
            + b * qd // q
            + 2 * b * kvd // k, v
            + 2 * b * ff // gate, up
            + window // scores, one head at a time
            + hd // q16
            + vocab; // logits
        floats * 4 + Input::bytes_for(b, e.max(qd).max(ff))
    }
}

/// A model ready to run: its mapped file, configuration and weights.
pub struct Decoder {
    /// The mapped file.
    pub gguf: Gguf,
    /// Hyper-parameters.
    pub cfg: Config,
    /// Located weights.
    pub weights: Weights,
    /// Kernels in use.
    pub isa: Isa,
}

impl Decoder {
    /// Runs `tokens` at positions `session.len..` and returns the logits of the last one
    /// (`vocab` values), or of every one (`tokens.len() × vocab`) when `all` is set.
    ///
    /// # Panics
    /// When the tokens do not fit the session's window, or a token id is out of the
    /// vocabulary (callers check both).
    pub fn forward<'s>(
        &self,
        pool: &Pool,
        session: &mut Session,
        scratch: &'s mut Scratch,
        tokens: &[u32],
        all: bool,
    ) -> &'s [f32] {
        assert!(
            session.len + tokens.len() <= session.window,
            "window exceeded"
        );
        let vocab = self.weights.vocab;
        scratch.logits.clear();
        for (c, chunk) in tokens.chunks(BATCH).enumerate() {
            let last = (c + 1) * BATCH >= tokens.len();
            self.step(pool, session, scratch, chunk);
            let n = chunk.len();
            let want: Vec<usize> = if all {
                (0..n).collect()
            } else if last {
                vec![n - 1]
            } else {
                vec![]
            };
            if want.is_empty() {
                continue;
            }
            let e = self.cfg.n_embd;
            let mut rows = Vec::with_capacity(want.len() * e);
            for &i in &want {
                let mut r = scratch.x[i * e..(i + 1) * e].to_vec();
                rms_norm(&mut r, &self.weights.output_norm, self.cfg.eps);
                rows.extend(r);
            }
            scratch.input.set(&rows, want.len(), e);
            let at = scratch.logits.len();
            scratch.logits.resize(at + want.len() * vocab, 0.0);
            matmul(
                pool,
                self.isa,
                &view(&self.gguf, &self.weights.output),
                &mut scratch.input,
                &mut scratch.logits[at..],
            );
            if let Some(cap) = self.cfg.logit_softcap {
                scratch.logits[at..]
                    .iter_mut()
                    .for_each(|l| *l = cap * (*l / cap).tanh());
            }
        }
        &scratch.logits
    }

    /// Runs one chunk through every block, leaving the residual stream in `scratch.x`.
    fn step(&self, pool: &Pool, s: &mut Session, sc: &mut Scratch, tokens: &[u32]) {
        let cfg = &self.cfg;
        let (n, e, hd) = (tokens.len(), cfg.n_embd, cfg.head_dim);
        let (qd, kvd) = (cfg.n_head * hd, cfg.n_head_kv * hd);
        let g = &self.gguf;
        sc.x.resize(n * e, 0.0);
        let emb = view(g, &self.weights.token_embd);
        for (i, &t) in tokens.iter().enumerate() {
            let row = &mut sc.x[i * e..(i + 1) * e];
            dequantize_row(emb.t, emb.row(t as usize), row);
            if cfg.embed_scale != 1.0 {
                row.iter_mut().for_each(|v| *v *= cfg.embed_scale);
            }
        }
        for v in [&mut sc.h, &mut sc.att] {
            v.resize(n * e.max(qd), 0.0);
        }
        sc.q.resize(n * qd, 0.0);
        sc.k.resize(n * kvd, 0.0);
        sc.v.resize(n * kvd, 0.0);
        sc.gate.resize(n * cfg.n_ff, 0.0);
        sc.up.resize(n * cfg.n_ff, 0.0);
        // Rotations per position: the global layers', and the sliding-window layers' (their own
        // base, no scaling) only when the model has such layers.
        let ff = self.weights.rope_freqs.as_deref();
        let ropes: Vec<(Rope, Option<Rope>)> = (0..n)
            .map(|i| {
                let pos = s.len + i;
                let global = Rope::new(
                    pos,
                    cfg.rope_dims,
                    cfg.rope_base,
                    cfg.rope_scale,
                    cfg.neox,
                    ff,
                );
                let local = cfg
                    .sliding_window
                    .map(|_| Rope::new(pos, cfg.rope_dims, cfg.rope_base_local, 1.0, cfg.neox, ff));
                (global, local)
            })
            .collect();
        for (il, l) in self.weights.layers.iter().enumerate() {
            // Attention.
            sc.h[..n * e].copy_from_slice(&sc.x);
            for r in sc.h[..n * e].chunks_exact_mut(e) {
                rms_norm(r, &l.attn_norm, cfg.eps);
            }
            sc.input.set(&sc.h, n, e);
            matmul(pool, self.isa, &view(g, &l.wq), &mut sc.input, &mut sc.q);
            matmul(pool, self.isa, &view(g, &l.wk), &mut sc.input, &mut sc.k);
            matmul(pool, self.isa, &view(g, &l.wv), &mut sc.input, &mut sc.v);
            if let Some([bq, bk, bv]) = &l.bias {
                add_rows(&mut sc.q, bq);
                add_rows(&mut sc.k, bk);
                add_rows(&mut sc.v, bv);
            }
            let local = cfg.is_local(il);
            for i in 0..n {
                let rope = match &ropes[i] {
                    (_, Some(l)) if local => l,
                    (g, _) => g,
                };
                for head in sc.q[i * qd..(i + 1) * qd].chunks_exact_mut(hd) {
                    if let Some([qn, _]) = &l.qk_norm {
                        rms_norm(head, qn, cfg.eps);
                    }
                    rope.apply(head);
                }
                for head in sc.k[i * kvd..(i + 1) * kvd].chunks_exact_mut(hd) {
                    if let Some([_, kn]) = &l.qk_norm {
                        rms_norm(head, kn, cfg.eps);
                    }
                    rope.apply(head);
                }
                let at = (s.len + i) * s.row;
                to_f16(&sc.k[i * kvd..(i + 1) * kvd], &mut s.k[il][at..at + s.row]);
                to_f16(&sc.v[i * kvd..(i + 1) * kvd], &mut s.v[il][at..at + s.row]);
            }
            self.attend(s, sc, il, n, local);
            sc.input.set(&sc.att, n, qd);
            matmul(pool, self.isa, &view(g, &l.wo), &mut sc.input, &mut sc.h);
            residual(
                &mut sc.x,
                &mut sc.h[..n * e],
                l.post_attn_norm.as_deref(),
                cfg.eps,
            );
            // MLP.
            sc.h[..n * e].copy_from_slice(&sc.x);
            for r in sc.h[..n * e].chunks_exact_mut(e) {
                rms_norm(r, &l.ffn_norm, cfg.eps);
            }
            sc.input.set(&sc.h, n, e);
            matmul(
                pool,
                self.isa,
                &view(g, &l.gate),
                &mut sc.input,
                &mut sc.gate,
            );
            matmul(pool, self.isa, &view(g, &l.up), &mut sc.input, &mut sc.up);
            if cfg.family == Family::Gemma3 {
                gelu_mul(&mut sc.gate, &sc.up);
            } else {
                silu_mul(&mut sc.gate, &sc.up);
            }
            sc.input.set(&sc.gate, n, cfg.n_ff);
            matmul(pool, self.isa, &view(g, &l.down), &mut sc.input, &mut sc.h);
            residual(
                &mut sc.x,
                &mut sc.h[..n * e],
                l.post_ffw_norm.as_deref(),
                cfg.eps,
            );
        }
        s.len += n;
    }

    /// Causal attention of the chunk's queries (`sc.q`) over the cached keys and values of
    /// layer `il`, into `sc.att`.
    fn attend(&self, s: &Session, sc: &mut Scratch, il: usize, n: usize, local: bool) {
        let cfg = &self.cfg;
        let hd = cfg.head_dim;
        let (qd, group) = (cfg.n_head * hd, cfg.n_head / cfg.n_head_kv);
        let window = if local { cfg.sliding_window } else { None };
        for i in 0..n {
            let pos = s.len + i;
            let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
            for h in 0..cfg.n_head {
                let kvh = h / group;
                // Both operands of each product with the f16 cache are f16, as in llama.cpp's
                // CPU path (ggml converts the other operand to the cache's type): the query
                // here, the attention weights below.
                sc.q16.clear();
                sc.q16
                    .extend_from_slice(&sc.q[i * qd + h * hd..i * qd + (h + 1) * hd]);
                round_f16(self.isa, &mut sc.q16);
                let q = &sc.q16[..];
                sc.scores.clear();
                for p in lo..=pos {
                    let at = p * s.row + kvh * hd * 2;
                    let kdot = dot(
                        self.isa,
                        QType::F16,
                        &s.k[il][at..at + hd * 2],
                        Acts::F32(q),
                        hd,
                    );
                    sc.scores.push(kdot * cfg.attn_scale);
                }
                softmax(&mut sc.scores);
                round_f16(self.isa, &mut sc.scores);
                let out = &mut sc.att[i * qd + h * hd..i * qd + (h + 1) * hd];
                out.fill(0.0);
                for (j, w) in sc.scores.iter().enumerate() {
                    let at = (lo + j) * s.row + kvh * hd * 2;
                    axpy_f16(self.isa, out, *w, &s.v[il][at..at + hd * 2]);
                }
            }
        }
    }
}

/// Adds `b` to every row of `x`.
fn add_rows(x: &mut [f32], b: &[f32]) {
    for r in x.chunks_exact_mut(b.len()) {
        r.iter_mut().zip(b).for_each(|(v, w)| *v += w);
    }
}

/// `x += norm(y)` (or `x += y` without a post-norm), row by row.
fn residual(x: &mut [f32], y: &mut [f32], post: Option<&[f32]>, eps: f32) {
    if let Some(w) = post {
        for r in y.chunks_exact_mut(w.len()) {
            rms_norm(r, w, eps);
        }
    }
    x.iter_mut().zip(y.iter()).for_each(|(a, b)| *a += b);
}
