//! The element-wise steps of a decoder layer, computed as ggml's CPU backend computes them
//! (`ggml-cpu/ops.cpp`, <https://github.com/ggml-org/llama.cpp>) so that logits agree with
//! llama.cpp's: RMS norm with a double-precision sum, SiLU, GELU (tanh form), softmax with the
//! maximum subtracted, and rotary position embeddings with ggml's iterated angle.

/// `x ← x / √(mean(x²) + eps) · w` (RMSNorm, <https://arxiv.org/abs/1910.07467>), in place.
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|v| (*v as f64) * (*v as f64)).sum();
    let scale = 1.0 / ((sum / x.len() as f64) as f32 + eps).sqrt();
    for (v, g) in x.iter_mut().zip(w) {
        *v = *v * scale * g;
    }
}

/// `g ← silu(g) · u` (the SwiGLU MLP gate, <https://arxiv.org/abs/2002.05202>).
pub fn silu_mul(g: &mut [f32], u: &[f32]) {
    for (a, b) in g.iter_mut().zip(u) {
        *a = *a / (1.0 + (-*a).exp()) * b;
    }
}

/// `g ← gelu(g) · u` with GELU's tanh approximation
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (GeGLU, Gemma's MLP). As ggml's CPU backend
/// (`GGML_GELU_FP16`, a table over f16 inputs), the input is rounded to f16 and so is the
/// result for |x| < 10; below −10 it is 0, from 10 up it is `x`. The results for |x| < 10 come
/// from the same kind of table: one f16 per f16 input (128 KiB, built on first use).
pub fn gelu_mul(g: &mut [f32], u: &[f32]) {
    let table = gelu_table();
    for (a, b) in g.iter_mut().zip(u) {
        let x = *a;
        let y = if x <= -10.0 {
            0.0
        } else if x >= 10.0 {
            x
        } else {
            let i = half::f16::from_f32(x).to_bits();
            half::f16::from_bits(table[i as usize]).to_f32()
        };
        *a = y * b;
    }
}

/// GELU (tanh form) of every f16 value, rounded to f16: entry `i` is for the f16 with bits `i`.
fn gelu_table() -> &'static [u16] {
    static TABLE: std::sync::OnceLock<Box<[u16]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        (0..=u16::MAX)
            .map(|bits| {
                let x = half::f16::from_bits(bits).to_f32();
                let y = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh());
                half::f16::from_f32(y).to_bits()
            })
            .collect()
    })
}

/// `x ← softmax(x)` in place.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
    let mut sum = 0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Rotary position embedding (RoFormer, <https://arxiv.org/abs/2104.09864>) of one position:
/// the cosines and sines of the first `dims` dimensions' angles, built the way ggml's
/// `ggml_rope_cache_init` builds them (angle `pos·scale/ff[i]·base^(−2i/dims)`, the power
/// iterated in f32).
pub struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    neox: bool,
}

impl Rope {
    /// The rotation for position `pos`. `freq_factors` (llama 3's `rope_freqs.weight`)
    /// divides each pair's angle.
    pub fn new(
        pos: usize,
        dims: usize,
        base: f32,
        scale: f32,
        neox: bool,
        freq_factors: Option<&[f32]>,
    ) -> Rope {
        let step = base.powf(-2.0 / dims as f32);
        let mut theta = pos as f32;
        let (mut cos, mut sin) = (Vec::with_capacity(dims / 2), Vec::with_capacity(dims / 2));
        for i in 0..dims / 2 {
            let ff = freq_factors.map_or(1.0, |f| f[i]);
            let t = scale * (theta / ff);
            cos.push(t.cos());
            sin.push(t.sin());
            theta *= step;
        }
        Rope { cos, sin, neox }
    }

    /// Rotates one head `x` in place (dimensions past the rotated ones are kept).
    pub fn apply(&self, x: &mut [f32]) {
        let half = self.cos.len();
        for i in 0..half {
            let (a, b) = if self.neox {
                (i, i + half)
            } else {
                (2 * i, 2 * i + 1)
            };
            let (x0, x1) = (x[a], x[b]);
            x[a] = x0 * self.cos[i] - x1 * self.sin[i];
            x[b] = x0 * self.sin[i] + x1 * self.cos[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_normalises_then_scales() {
        let mut x = vec![3.0, 4.0];
        rms_norm(&mut x, &[1.0, 2.0], 0.0);
        let r = (12.5f32).sqrt();
        assert!((x[0] - 3.0 / r).abs() < 1e-6 && (x[1] - 8.0 / r).abs() < 1e-6);
    }

    #[test]
    fn rope_rotates_pairs_by_position() {
        // Position 0 is the identity; rotation keeps each pair's length.
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        Rope::new(0, 4, 10000.0, 1.0, false, None).apply(&mut x);
        assert_eq!(x, [1.0, 2.0, 3.0, 4.0]);
        for neox in [false, true] {
            let mut y = vec![1.0, 0.0, 0.0, 1.0];
            Rope::new(1, 4, 10000.0, 1.0, neox, None).apply(&mut y);
            let (a, b) = if neox { (0, 2) } else { (0, 1) };
            assert!(((y[a] * y[a] + y[b] * y[b]) - 1.0).abs() < 1e-6);
            // The first pair turns by exactly 1 radian at position 1.
            if !neox {
                assert!((y[0] - 1f32.cos()).abs() < 1e-6 && (y[1] - 1f32.sin()).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn softmax_sums_to_one_and_activations_match_their_formulas() {
        let mut s = vec![1.0, 2.0, 3.0];
        softmax(&mut s);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6 && s[2] > s[1]);
        let mut g = vec![1.0];
        silu_mul(&mut g, &[2.0]);
        assert!((g[0] - 2.0 / (1.0 + (-1f32).exp())).abs() < 1e-6);
        let mut g = vec![1.0];
        gelu_mul(&mut g, &[1.0]);
        assert!((g[0] - 0.841_192).abs() < 1e-3);
    }
}
