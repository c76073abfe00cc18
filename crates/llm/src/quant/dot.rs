//! Dot products of one weight row with one token's activations, for every [`QType`]: portable
//! scalar code (the reference, and the path on CPUs without the SIMD extensions), and the
//! dispatch to the SIMD kernels chosen once at run time ([`Isa::detect`]).
//!
//! Pairings follow ggml's CPU type traits: the 32-value types dot with [`Q8Blocks`]
//! (`block_q8_0`/`block_q8_1`), the k-quants with [`Q8KBlocks`] (`block_q8_K`), the float
//! types with f32 activations.

use super::blocks::{Q8Blocks, Q8KBlocks, QK, QK_K, QType, f16_at, k4_parts, scale_min_k4};
use half::{bf16, f16};

/// The instruction sets a dot product can use, detected at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable code.
    Scalar,
    /// x86-64 with AVX2, FMA and F16C.
    Avx2,
    /// aarch64 Advanced SIMD (always present on aarch64).
    Neon,
    /// aarch64 Advanced SIMD with the dot-product extension (`sdot`; Cortex-A76, Pi 5).
    NeonDot,
}

impl Isa {
    /// The best set this CPU has (once per process), unless `HEARTH_ISA=scalar` asks for the
    /// portable code (tests and benchmarks compare the two).
    pub fn detect() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            if std::env::var("HEARTH_ISA").is_ok_and(|v| v == "scalar") {
                return Isa::Scalar;
            }
            Isa::probe()
        })
    }

    #[cfg(target_arch = "x86_64")]
    fn probe() -> Isa {
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            Isa::Avx2
        } else {
            Isa::Scalar
        }
    }

    #[cfg(target_arch = "aarch64")]
    fn probe() -> Isa {
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            Isa::NeonDot
        } else {
            Isa::Neon
        }
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    fn probe() -> Isa {
        Isa::Scalar
    }

    /// The name `hearth doctor` and the benchmarks print.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Neon => "neon",
            Isa::NeonDot => "neon+dotprod",
        }
    }
}

/// One token's activations, in the form each weight type's dot product takes. `block` is the
/// index of the row's first block in the quantised forms (the row is `cols` values wide).
#[derive(Clone, Copy)]
pub enum Acts<'a> {
    /// f32 values (for F32, F16 and BF16 weights).
    F32(&'a [f32]),
    /// 32-value blocks (for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
    Q8(&'a Q8Blocks, usize),
    /// 256-value super-blocks (for the k-quants).
    Q8K(&'a Q8KBlocks, usize),
}

/// The dot product of row `w` (type `t`, `n` values) with `a`, on `isa`.
///
/// # Panics
/// When `a` is not the form `t` takes, or is shorter than the row.
pub fn dot(isa: Isa, t: QType, w: &[u8], a: Acts<'_>, n: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        if let Some(v) = unsafe { super::avx2::dot(t, w, a, n) } {
            return v;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(isa, Isa::Neon | Isa::NeonDot) {
        // SAFETY: NEON is part of aarch64; `sdot` is used only when NeonDot was detected.
        if let Some(v) = unsafe { super::neon::dot(isa == Isa::NeonDot, t, w, a, n) } {
            return v;
        }
    }
    let _ = isa;
    scalar(t, w, a, n)
}

/// Four dot products of row `w` (type `t`, `n` values) with the 32-value-block activations
/// whose first blocks are `b0[j]`, or `None` when `isa` has no such kernel for `t` (then call
/// [`dot`] four times). Same sums as [`dot`].
pub fn dot4(
    isa: Isa,
    t: QType,
    w: &[u8],
    a: &Q8Blocks,
    b0: [usize; 4],
    n: usize,
) -> Option<[f32; 4]> {
    if !matches!(t, QType::Q8_0 | QType::Q4_0 | QType::Q4_1) {
        return None;
    }
    let nb = n / super::blocks::QK;
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        return Some(unsafe { super::avx2::q32_dot4(t, w, a, b0, nb) });
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(isa, Isa::Neon | Isa::NeonDot) {
        // SAFETY: NEON is part of aarch64; `sdot` is used only when NeonDot was detected.
        return Some(unsafe { super::neon::q32_dot4(isa == Isa::NeonDot, t, w, a, b0, nb) });
    }
    let _ = (isa, w, a, b0, nb);
    None
}

/// Four dot products of the f16 row `w` (`n` values) with the f32 vectors `x[j]`, or `None`
/// when `isa` has no such kernel or `n` is not a multiple of 8 (then call [`dot`] four times).
/// Same sums as [`dot`].
pub fn dot4_f16(isa: Isa, w: &[u8], x: [&[f32]; 4], n: usize) -> Option<[f32; 4]> {
    if !n.is_multiple_of(8) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        return Some(unsafe { super::avx2::f16_dot4(w, x, n) });
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(isa, Isa::Neon | Isa::NeonDot) {
        // SAFETY: base Advanced SIMD only.
        return Some(unsafe { super::neon::f16_dot4(w, x, n) });
    }
    let _ = (isa, w, x);
    None
}

/// The portable dot product (see [`dot`]).
pub fn scalar(t: QType, w: &[u8], a: Acts<'_>, n: usize) -> f32 {
    match (t, a) {
        (QType::F32, Acts::F32(x)) => w
            .chunks_exact(4)
            .zip(&x[..n])
            .map(|(b, v)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * v)
            .sum(),
        (QType::F16, Acts::F32(x)) => w
            .chunks_exact(2)
            .zip(&x[..n])
            .map(|(b, v)| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32() * v)
            .sum(),
        (QType::BF16, Acts::F32(x)) => w
            .chunks_exact(2)
            .zip(&x[..n])
            .map(|(b, v)| bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32() * v)
            .sum(),
        (QType::Q4_0 | QType::Q4_1 | QType::Q5_0 | QType::Q5_1 | QType::Q8_0, Acts::Q8(a, b0)) => {
            dot_32(t, w, a, b0, n / QK)
        }
        (QType::Q4_K | QType::Q5_K | QType::Q6_K, Acts::Q8K(a, b0)) => dot_k(t, w, a, b0, n / QK_K),
        (t, _) => panic!("{} weights dotted with the wrong activation form", t.name()),
    }
}

/// The 32-value types: per block `d_w·d_a·Σ q_w q_a` (+ `m_w·s_a` for the types with a minimum).
fn dot_32(t: QType, w: &[u8], a: &Q8Blocks, b0: usize, nb: usize) -> f32 {
    let bb = t.block_bytes();
    let mut sum = 0f32;
    let mut q = [0i32; QK];
    for b in 0..nb {
        let blk = &w[b * bb..(b + 1) * bb];
        let qa = &a.qs[(b0 + b) * QK..(b0 + b + 1) * QK];
        let (d, m) = match t {
            QType::Q4_0 => {
                for j in 0..16 {
                    q[j] = (blk[2 + j] & 0xF) as i32 - 8;
                    q[j + 16] = (blk[2 + j] >> 4) as i32 - 8;
                }
                (f16_at(blk, 0), 0.0)
            }
            QType::Q4_1 => {
                for j in 0..16 {
                    q[j] = (blk[4 + j] & 0xF) as i32;
                    q[j + 16] = (blk[4 + j] >> 4) as i32;
                }
                (f16_at(blk, 0), f16_at(blk, 2))
            }
            QType::Q5_0 | QType::Q5_1 => {
                let (at, off, m) = if t == QType::Q5_0 {
                    (2, 16, 0.0)
                } else {
                    (4, 0, f16_at(blk, 2))
                };
                let qh = u32::from_le_bytes([blk[at], blk[at + 1], blk[at + 2], blk[at + 3]]);
                for j in 0..16 {
                    let h0 = ((qh >> j) << 4) & 0x10;
                    let h1 = (qh >> (j + 12)) & 0x10;
                    q[j] = ((blk[at + 4 + j] & 0xF) as u32 | h0) as i32 - off;
                    q[j + 16] = ((blk[at + 4 + j] >> 4) as u32 | h1) as i32 - off;
                }
                (f16_at(blk, 0), m)
            }
            _ => {
                for j in 0..QK {
                    q[j] = blk[2 + j] as i8 as i32;
                }
                (f16_at(blk, 0), 0.0)
            }
        };
        let s: i32 = q.iter().zip(qa).map(|(&x, &y)| x * y as i32).sum();
        sum += d * a.d[b0 + b] * s as f32 + m * a.s[b0 + b];
    }
    sum
}

/// The k-quants: per super-block `d_a·(d·Σ sc·Σ q q_a − dmin·Σ m·bsum)` (Q4_K, Q5_K) or
/// `d_a·d·Σ sc·Σ (q−32) q_a` (Q6_K).
fn dot_k(t: QType, w: &[u8], a: &Q8KBlocks, b0: usize, nb: usize) -> f32 {
    let bb = t.block_bytes();
    let mut sum = 0f32;
    for b in 0..nb {
        let blk = &w[b * bb..(b + 1) * bb];
        let qa = &a.qs[(b0 + b) * QK_K..(b0 + b + 1) * QK_K];
        let bsums = &a.bsums[(b0 + b) * 16..(b0 + b + 1) * 16];
        let da = a.d[b0 + b];
        if t == QType::Q6_K {
            let (ql, qh, sc) = (&blk[0..128], &blk[128..192], &blk[192..208]);
            let mut sumi = 0i32;
            for n in 0..2 {
                let (ql, qh, sc, qa) = (&ql[n * 64..], &qh[n * 32..], &sc[n * 8..], &qa[n * 128..]);
                for (g, scale) in sc.iter().take(8).enumerate() {
                    // Group g covers 16 values: quarter g / 2, half g % 2 of that quarter.
                    let (quarter, half) = (g / 2, g % 2);
                    let mut s = 0i32;
                    for i in 0..16 {
                        let l = half * 16 + i;
                        let v = match quarter {
                            0 => (ql[l] & 0xF) | ((qh[l] & 3) << 4),
                            1 => (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                            2 => (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                            _ => (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
                        };
                        s += (v as i32 - 32) * qa[quarter * 32 + l] as i32;
                    }
                    sumi += s * (*scale as i8 as i32);
                }
            }
            sum += da * f16_at(blk, 208) * sumi as f32;
            continue;
        }
        let (d, dmin, scales, qh, qs) = k4_parts(t, blk);
        let (mut sumi, mut summ) = (0i32, 0i32);
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, scales);
            let (c, high) = (j / 2, j % 2 == 1);
            let q = &qs[c * 32..c * 32 + 32];
            let mut s = 0i32;
            for l in 0..32 {
                let mut v = i32::from(if high { q[l] >> 4 } else { q[l] & 0xF });
                if !qh.is_empty() && (qh[l] >> j) & 1 == 1 {
                    v += 16;
                }
                s += v * qa[j * 32 + l] as i32;
            }
            sumi += s * sc as i32;
            summ += m as i32 * (bsums[2 * j] as i32 + bsums[2 * j + 1] as i32);
        }
        sum += da * (d * sumi as f32 - dmin * summ as f32);
    }
    sum
}

/// `y += a · x` where `x` holds `y.len()` little-endian f16 values (a row of the KV cache).
pub fn axpy_f16(isa: Isa, y: &mut [f32], a: f32, x: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        unsafe { super::avx2::axpy_f16(y, a, x) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(isa, Isa::Neon | Isa::NeonDot) {
        // SAFETY: base Advanced SIMD only.
        unsafe { super::neon::axpy_f16(y, a, x) };
        return;
    }
    let _ = isa;
    for (i, v) in y.iter_mut().enumerate() {
        *v += a * f16_at(x, 2 * i);
    }
}

/// One query head's attention scores: `out[j] = scale · q · k_j`, where key row `j` is the
/// `q.len()` f16 values at `k[j·stride..]` (the KV cache's layout: `stride` bytes per
/// position). The same values as one [`dot`] per row.
pub fn attn_scores(isa: Isa, q: &[f32], k: &[u8], stride: usize, scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && q.len().is_multiple_of(8) {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        unsafe { super::avx2::attn_scores(q, k, stride, scale, out) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(isa, Isa::Neon | Isa::NeonDot) && q.len().is_multiple_of(8) {
        // SAFETY: base Advanced SIMD only.
        unsafe { super::neon::attn_scores(q, k, stride, scale, out) };
        return;
    }
    let hd = q.len();
    for (j, o) in out.iter_mut().enumerate() {
        let row = &k[j * stride..j * stride + 2 * hd];
        *o = dot(isa, QType::F16, row, Acts::F32(q), hd) * scale;
    }
}

/// One query head's attention output: `out = Σ_j w[j] · v_j`, where value row `j` is the
/// `out.len()` f16 values at `v[j·stride..]`. The same values as zeroing `out` and one
/// [`axpy_f16`] per row.
pub fn attn_values(isa: Isa, w: &[f32], v: &[u8], stride: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && out.len().is_multiple_of(32) {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        unsafe { super::avx2::attn_values(w, v, stride, out) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(isa, Isa::Neon | Isa::NeonDot) && out.len().is_multiple_of(16) {
        // SAFETY: base Advanced SIMD only.
        unsafe { super::neon::attn_values(w, v, stride, out) };
        return;
    }
    let hd = out.len();
    out.fill(0.0);
    for (j, &wj) in w.iter().enumerate() {
        axpy_f16(isa, out, wj, &v[j * stride..j * stride + 2 * hd]);
    }
}

/// Rounds every value of `x` to the nearest f16 value (ties to even), on `isa`.
pub fn round_f16(isa: Isa, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 {
        // SAFETY: Isa::Avx2 is only detected when the CPU has AVX2, FMA and F16C.
        unsafe { super::avx2::round_f16(x) };
        return;
    }
    let _ = isa;
    for v in x {
        *v = f16::from_f32(*v).to_f32();
    }
}

/// Writes `x` as little-endian f16 values (round to nearest even) into `out` (2 bytes each).
pub fn to_f16(x: &[f32], out: &mut [u8]) {
    for (v, o) in x.iter().zip(out.chunks_exact_mut(2)) {
        o.copy_from_slice(&f16::from_f32(*v).to_bits().to_le_bytes());
    }
}
