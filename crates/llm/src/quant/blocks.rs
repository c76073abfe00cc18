//! GGML quantization block layouts, row dequantisation, and quantisation of activations.
//!
//! Layouts follow ggml's `ggml-common.h`
//! (<https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>) and the
//! formulas its `ggml-quants.c` uses to dequantise (`dequantize_row_*`) and to quantise
//! activations (`quantize_row_q8_0`, `quantize_row_q8_1`, `quantize_row_q8_K`). Every block is
//! read from raw little-endian bytes (any alignment), so the weights can stay in the
//! memory-mapped file. `QK_K` super-blocks hold 256 values.

use half::{bf16, f16};

/// Values per block of the 32-value types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1).
pub const QK: usize = 32;
/// Values per super-block of the k-quants (Q4_K, Q5_K, Q6_K, Q8_K).
pub const QK_K: usize = 256;

/// Reads a little-endian f16 at `b[i..i + 2]` as f32.
#[inline(always)]
pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// A tensor element type of GGUF (`ggml_type` numbers, GGUF spec), the ones Hearth runs.
/// Variants keep ggml's spellings (`Q4_K`), as GGUF tools print them.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// 32-bit float (4 bytes per value).
    F32,
    /// IEEE half (2 bytes per value).
    F16,
    /// bfloat16 (2 bytes per value).
    BF16,
    /// 32 values: f16 scale, 4-bit values − 8 (18 bytes).
    Q4_0,
    /// 32 values: f16 scale and minimum, 4-bit values (20 bytes).
    Q4_1,
    /// 32 values: f16 scale, 5-bit values − 16 (22 bytes).
    Q5_0,
    /// 32 values: f16 scale and minimum, 5-bit values (24 bytes).
    Q5_1,
    /// 32 values: f16 scale, 8-bit values (34 bytes).
    Q8_0,
    /// 256 values: 8 sub-blocks of 32 with 6-bit scales and minimums, 4-bit values (144 bytes).
    Q4_K,
    /// 256 values: as Q4_K with a fifth bit per value (176 bytes).
    Q5_K,
    /// 256 values: 16 sub-blocks of 16 with 8-bit scales, 6-bit values − 32 (210 bytes).
    Q6_K,
}

impl QType {
    /// The type for GGUF's `ggml_type` number, or `None` for types Hearth does not run
    /// (Q2_K, Q3_K, the IQ types, …).
    pub fn from_ggml(n: u32) -> Option<QType> {
        Some(match n {
            0 => QType::F32,
            1 => QType::F16,
            2 => QType::Q4_0,
            3 => QType::Q4_1,
            6 => QType::Q5_0,
            7 => QType::Q5_1,
            8 => QType::Q8_0,
            12 => QType::Q4_K,
            13 => QType::Q5_K,
            14 => QType::Q6_K,
            30 => QType::BF16,
            _ => return None,
        })
    }

    /// Every type Hearth runs.
    pub const ALL: [QType; 11] = [
        QType::F32,
        QType::F16,
        QType::BF16,
        QType::Q4_0,
        QType::Q4_1,
        QType::Q5_0,
        QType::Q5_1,
        QType::Q8_0,
        QType::Q4_K,
        QType::Q5_K,
        QType::Q6_K,
    ];

    /// GGUF's `ggml_type` number.
    pub fn ggml(self) -> u32 {
        match self {
            QType::F32 => 0,
            QType::F16 => 1,
            QType::Q4_0 => 2,
            QType::Q4_1 => 3,
            QType::Q5_0 => 6,
            QType::Q5_1 => 7,
            QType::Q8_0 => 8,
            QType::Q4_K => 12,
            QType::Q5_K => 13,
            QType::Q6_K => 14,
            QType::BF16 => 30,
        }
    }

    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            QType::F32 | QType::F16 | QType::BF16 => 1,
            QType::Q4_0 | QType::Q4_1 | QType::Q5_0 | QType::Q5_1 | QType::Q8_0 => QK,
            QType::Q4_K | QType::Q5_K | QType::Q6_K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            QType::F32 => 4,
            QType::F16 | QType::BF16 => 2,
            QType::Q4_0 => 18,
            QType::Q4_1 => 20,
            QType::Q5_0 => 22,
            QType::Q5_1 => 24,
            QType::Q8_0 => 34,
            QType::Q4_K => 144,
            QType::Q5_K => 176,
            QType::Q6_K => 210,
        }
    }

    /// Bytes of a row of `n` values, or `None` when `n` is not a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        n.is_multiple_of(self.block_values())
            .then(|| n / self.block_values() * self.block_bytes())
    }

    /// The name GGUF tools print (`Q4_K`, `F16`, …).
    pub fn name(self) -> &'static str {
        match self {
            QType::F32 => "F32",
            QType::F16 => "F16",
            QType::BF16 => "BF16",
            QType::Q4_0 => "Q4_0",
            QType::Q4_1 => "Q4_1",
            QType::Q5_0 => "Q5_0",
            QType::Q5_1 => "Q5_1",
            QType::Q8_0 => "Q8_0",
            QType::Q4_K => "Q4_K",
            QType::Q5_K => "Q5_K",
            QType::Q6_K => "Q6_K",
        }
    }
}

/// A Q4_K or Q5_K super-block's parts: scale `d`, minimum scale `dmin`, the 12 packed scale
/// bytes, the fifth bits (32 bytes; empty for Q4_K) and the 128 bytes of nibbles.
#[inline(always)]
pub(crate) fn k4_parts(t: QType, blk: &[u8]) -> (f32, f32, &[u8], &[u8], &[u8]) {
    let (qh, qs) = if t == QType::Q4_K {
        (&[][..], &blk[16..144])
    } else {
        (&blk[16..48], &blk[48..176])
    };
    (f16_at(blk, 0), f16_at(blk, 2), &blk[4..16], qh, qs)
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) of a Q4_K/Q5_K super-block, from its
/// 12 packed scale bytes (ggml's `get_scale_min_k4`).
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Dequantises one row: `src` holds `out.len()` values of type `t` (a whole number of blocks).
///
/// # Panics
/// When `src` is shorter than the row (callers check shapes when the model loads).
pub fn dequantize_row(t: QType, src: &[u8], out: &mut [f32]) {
    let bb = t.block_bytes();
    let bv = t.block_values();
    for (blk, y) in src.chunks_exact(bb).zip(out.chunks_exact_mut(bv)) {
        match t {
            QType::F32 => y[0] = f32::from_le_bytes([blk[0], blk[1], blk[2], blk[3]]),
            QType::F16 => y[0] = f16_at(blk, 0),
            QType::BF16 => y[0] = bf16::from_bits(u16::from_le_bytes([blk[0], blk[1]])).to_f32(),
            QType::Q4_0 => {
                let d = f16_at(blk, 0);
                for j in 0..16 {
                    y[j] = ((blk[2 + j] & 0xF) as i32 - 8) as f32 * d;
                    y[j + 16] = ((blk[2 + j] >> 4) as i32 - 8) as f32 * d;
                }
            }
            QType::Q4_1 => {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                for j in 0..16 {
                    y[j] = (blk[4 + j] & 0xF) as f32 * d + m;
                    y[j + 16] = (blk[4 + j] >> 4) as f32 * d + m;
                }
            }
            QType::Q5_0 | QType::Q5_1 => {
                let (d, m, qh_at, qs_at, off) = if t == QType::Q5_0 {
                    (f16_at(blk, 0), 0.0, 2, 6, 16)
                } else {
                    (f16_at(blk, 0), f16_at(blk, 2), 4, 8, 0)
                };
                let qh = u32::from_le_bytes([
                    blk[qh_at],
                    blk[qh_at + 1],
                    blk[qh_at + 2],
                    blk[qh_at + 3],
                ]);
                for j in 0..16 {
                    let h0 = ((qh >> j) << 4) & 0x10;
                    let h1 = (qh >> (j + 12)) & 0x10;
                    let q0 = ((blk[qs_at + j] & 0xF) as u32 | h0) as i32 - off;
                    let q1 = ((blk[qs_at + j] >> 4) as u32 | h1) as i32 - off;
                    y[j] = q0 as f32 * d + m;
                    y[j + 16] = q1 as f32 * d + m;
                }
            }
            QType::Q8_0 => {
                let d = f16_at(blk, 0);
                for j in 0..QK {
                    y[j] = blk[2 + j] as i8 as f32 * d;
                }
            }
            QType::Q4_K | QType::Q5_K => {
                let (d, dmin, scales, qh, qs) = k4_parts(t, blk);
                for c in 0..4 {
                    let q = &qs[c * 32..c * 32 + 32];
                    let (sc1, m1) = scale_min_k4(2 * c, scales);
                    let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
                    let (d1, mm1) = (d * sc1 as f32, dmin * m1 as f32);
                    let (d2, mm2) = (d * sc2 as f32, dmin * m2 as f32);
                    for l in 0..32 {
                        let (h1, h2) = if qh.is_empty() {
                            (0, 0)
                        } else {
                            (
                                ((qh[l] >> (2 * c)) & 1) << 4,
                                ((qh[l] >> (2 * c + 1)) & 1) << 4,
                            )
                        };
                        y[c * 64 + l] = d1 * ((q[l] & 0xF) | h1) as f32 - mm1;
                        y[c * 64 + 32 + l] = d2 * ((q[l] >> 4) | h2) as f32 - mm2;
                    }
                }
            }
            QType::Q6_K => {
                let (ql, qh, sc) = (&blk[0..128], &blk[128..192], &blk[192..208]);
                let d = f16_at(blk, 208);
                for n in 0..2 {
                    let (ql, qh, sc) = (&ql[n * 64..], &qh[n * 32..], &sc[n * 8..]);
                    let y = &mut y[n * 128..];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        y[l] = d * (sc[is] as i8 as f32) * q1 as f32;
                        y[l + 32] = d * (sc[is + 2] as i8 as f32) * q2 as f32;
                        y[l + 64] = d * (sc[is + 4] as i8 as f32) * q3 as f32;
                        y[l + 96] = d * (sc[is + 6] as i8 as f32) * q4 as f32;
                    }
                }
            }
        }
    }
}

/// `v` rounded to the nearest integer, ties away from zero (C's `roundf`), for |v| < 2²³.
/// Written out because `f32::round` is a libm call on x86-64's baseline (no SSE4.1), which
/// kept the quantising loops from being vectorised (5% of a prefill).
#[inline(always)]
fn round_away(v: f32) -> i32 {
    let t = v as i32; // truncates toward zero
    let f = v - t as f32; // exact for |v| < 2^23
    t + i32::from(f >= 0.5) - i32::from(f <= -0.5)
}

/// `v` rounded to the nearest integer, ties to even (`nearbyintf` in the default rounding
/// mode), for |v| < 2²²: adding and subtracting 1.5 · 2²³ leaves no fraction bits, so the
/// FPU's own round-to-nearest-even does the rounding.
#[inline(always)]
fn round_even(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    ((v + MAGIC) - MAGIC) as i32
}

/// Activations quantised to 8 bits per value, in 32-value blocks (ggml's `block_q8_1`
/// semantics): the dot-product partner of the 32-value weight types.
#[derive(Debug, Default, Clone)]
pub struct Q8Blocks {
    /// Scale per block (`max|x| / 127`).
    pub d: Vec<f32>,
    /// Scale × sum of the block's quantised values (used by the types with a minimum).
    pub s: Vec<f32>,
    /// The values, `32 × blocks`.
    pub qs: Vec<i8>,
}

impl Q8Blocks {
    /// Quantises `x` (a whole number of 32-value blocks) the way `quantize_row_q8_1_ref`
    /// does: `d = max|x| / 127`, `q = round(x / d)` (ties away from zero), `d` and `s` kept
    /// at f16 precision as ggml stores them.
    pub fn quantize(&mut self, x: &[f32]) {
        let n = x.len() / QK;
        self.d.resize(n, 0.0);
        self.s.resize(n, 0.0);
        self.qs.resize(n * QK, 0);
        for (b, xs) in x.chunks_exact(QK).enumerate() {
            let amax = xs.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in self.qs[b * QK..(b + 1) * QK].iter_mut().zip(xs) {
                *q = round_away(v * id) as i8;
                sum += *q as i32;
            }
            self.d[b] = f16::from_f32(d).to_f32();
            self.s[b] = f16::from_f32(d * sum as f32).to_f32();
        }
    }
}

/// Activations quantised for the k-quants (ggml's `block_q8_K`): 256-value super-blocks.
#[derive(Debug, Default, Clone)]
pub struct Q8KBlocks {
    /// Scale per super-block (f32).
    pub d: Vec<f32>,
    /// The values, `256 × blocks`.
    pub qs: Vec<i8>,
    /// Sums of each group of 16 values, `16 × blocks`.
    pub bsums: Vec<i16>,
}

impl Q8KBlocks {
    /// Quantises `x` (a whole number of 256-value super-blocks) as `quantize_row_q8_K` does:
    /// the value of largest magnitude `m` maps to −127 (`iscale = −127 / m`), values are
    /// rounded to nearest (ties to even) and clamped to 127, and `d = 1 / iscale`.
    pub fn quantize(&mut self, x: &[f32]) {
        let n = x.len() / QK_K;
        self.d.resize(n, 0.0);
        self.qs.resize(n * QK_K, 0);
        self.bsums.resize(n * 16, 0);
        for (b, xs) in x.chunks_exact(QK_K).enumerate() {
            let (mut amax, mut max) = (0f32, 0f32);
            for &v in xs {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            let qs = &mut self.qs[b * QK_K..(b + 1) * QK_K];
            if amax == 0.0 {
                self.d[b] = 0.0;
                qs.fill(0);
                self.bsums[b * 16..(b + 1) * 16].fill(0);
                continue;
            }
            let iscale = -127.0 / max;
            for (q, v) in qs.iter_mut().zip(xs) {
                *q = round_even(iscale * v).min(127) as i8;
            }
            for (g, s) in self.bsums[b * 16..(b + 1) * 16].iter_mut().enumerate() {
                *s = qs[g * 16..(g + 1) * 16].iter().map(|&q| q as i16).sum();
            }
            self.d[b] = 1.0 / iscale;
        }
    }
}
