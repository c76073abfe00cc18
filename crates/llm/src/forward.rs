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
use super::pool::{Pool, split};
use super::quant::{Isa, attn_scores, attn_values, dequantize_row, round_f16, to_f16};
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
    /// One per pool thread: the f16-rounded query of a head, then its attention scores.
    lanes: Vec<Vec<f32>>,
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
            &self.logits,
        ]
        .iter()
        .map(|v| v.capacity())
        .sum::<usize>()
            + self.lanes.iter().map(Vec::capacity).sum::<usize>();
        floats * 4 + self.input.bytes()
    }

    /// About the bytes the buffers reach for `cfg` in a session of `window` tokens on a pool
    /// of `threads`: the sizes [`Decoder::forward`] resizes them to for a full [`BATCH`] of
    /// tokens, per thread a query head and attention scores over `window` positions, and one
    /// row of `vocab` logits (a vector's capacity may round this up).
    pub fn bytes_for(cfg: &Config, vocab: usize, window: usize, threads: usize) -> usize {
        let (b, e, hd) = (BATCH, cfg.n_embd, cfg.head_dim);
        let (qd, kvd, ff) = (cfg.n_head * hd, cfg.n_head_kv * hd, cfg.n_ff);
        let floats = b * e // x
            + 2 * b * e.max(qd) // h, att
            + b * qd // q
            + 2 * b * kvd // k, v
            + 2 * b * ff // gate, up
            + threads * (hd + window) // lanes: a query head and its scores per thread
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
            self.attend(pool, s, sc, il, n, local);
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
    /// layer `il`, into `sc.att`; the (token, head) pairs are split across the pool.
    fn attend(&self, pool: &Pool, s: &Session, sc: &mut Scratch, il: usize, n: usize, local: bool) {
        let cfg = &self.cfg;
        let hd = cfg.head_dim;
        let (qd, group) = (cfg.n_head * hd, cfg.n_head / cfg.n_head_kv);
        let window = if local { cfg.sliding_window } else { None };
        sc.lanes.resize_with(pool.threads(), Vec::new);
        let lanes = Shared(sc.lanes.as_mut_ptr());
        let att = Shared(sc.att.as_mut_ptr());
        assert!(sc.att.len() >= n * qd && sc.q.len() >= n * qd);
        let q_all = &sc.q;
        pool.run(&|share, shares| {
            let (lanes, att) = (&lanes, &att); // the wrappers, not their raw fields
            // SAFETY: lane `share` is used by this share only, and `lanes` outlives the run.
            let lane = unsafe { &mut *lanes.0.add(share) };
            for unit in split(n * cfg.n_head, share, shares, 1) {
                let (i, h) = (unit / cfg.n_head, unit % cfg.n_head);
                let pos = s.len + i;
                let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
                let kvh = h / group;
                lane.clear();
                lane.extend_from_slice(&q_all[i * qd + h * hd..i * qd + (h + 1) * hd]);
                lane.resize(hd + pos + 1 - lo, 0.0);
                let (q, scores) = lane.split_at_mut(hd);
                // Both operands of each product with the f16 cache are f16, as in llama.cpp's
                // CPU path (ggml converts the other operand to the cache's type): the query
                // here, the attention weights below.
                round_f16(self.isa, q);
                let base = lo * s.row + kvh * hd * 2;
                attn_scores(self.isa, q, &s.k[il][base..], s.row, cfg.attn_scale, scores);
                softmax(scores);
                round_f16(self.isa, scores);
                // SAFETY: head h of token i is `att[i·qd + h·hd..][..hd]`, inside (asserted
                // above) and written by this unit only.
                let out = unsafe { std::slice::from_raw_parts_mut(att.0.add(i * qd + h * hd), hd) };
                attn_values(self.isa, scores, &s.v[il][base..], s.row, out);
            }
        });
    }
}

/// A raw pointer the pool's shares use for disjoint elements.
struct Shared<T>(*mut T);
// SAFETY: every use writes elements no other share touches, and `Pool::run` joins all shares
// before the borrow the pointer came from ends.
unsafe impl<T> Sync for Shared<T> {}

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
