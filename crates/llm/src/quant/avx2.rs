//! AVX2 dot products (x86-64 with AVX2, FMA and F16C, detected at run time): the same sums as
//! the scalar code in `dot.rs`, 32 values per step. The integer kernels multiply unsigned
//! 4/5/6-bit or sign-folded 8-bit weights with signed 8-bit activations (`vpmaddubsw`), the
//! technique of ggml's `ggml-cpu/arch/x86/quants.c`; no partial sum can saturate (bounds at
//! each kernel).

use super::blocks::{Q8Blocks, Q8KBlocks, QK, QK_K, QType, f16_at, scale_min_k4};
use super::dot::Acts;
use std::arch::x86_64::*;

/// The AVX2 kernel for `t`, or `None` when the type has only the scalar one.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot(t: QType, w: &[u8], a: Acts<'_>, n: usize) -> Option<f32> {
    Some(match (t, a) {
        (QType::F32, Acts::F32(x)) => f32_dot(w, &x[..n]),
        (QType::F16, Acts::F32(x)) => f16_dot(w, &x[..n]),
        (QType::Q8_0 | QType::Q4_0 | QType::Q4_1, Acts::Q8(a, b0)) => q32_dot(t, w, a, b0, n / QK),
        (QType::Q4_K | QType::Q5_K, Acts::Q8K(a, b0)) => q45k_dot(t, w, a, b0, n / QK_K),
        (QType::Q6_K, Acts::Q8K(a, b0)) => q6k_dot(w, a, b0, n / QK_K),
        _ => return None,
    })
}

/// The little-endian f16 at `b[at..at + 2]` as f32, converted by F16C (the `half` crate's
/// portable conversion costs more than the 32-value block product it scales).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16c(b: &[u8], at: usize) -> f32 {
    let bits = u16::from_le_bytes([b[at], b[at + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Loads 32 bytes from `b[at..at + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(b: &[u8], at: usize) -> __m256i {
    let s = &b[at..at + 32];
    // SAFETY: `s` is 32 readable bytes; loadu has no alignment requirement.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32_i8(b: &[i8], at: usize) -> __m256i {
    let s = &b[at..at + 32];
    // SAFETY: as `load32`.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// 16 packed nibbles at `b[at..at + 16]` → 32 bytes 0..15: low nibbles (values 0..16), then
/// high nibbles (values 16..32), ggml's order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles16(b: &[u8], at: usize) -> __m256i {
    let s = &b[at..at + 16];
    // SAFETY: `s` is 16 readable bytes.
    let lo = unsafe { _mm_loadu_si128(s.as_ptr().cast()) };
    let hi = _mm_srli_epi16(lo, 4);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F))
}

/// Σ x·y over 32 signed byte pairs, as 8 f32 partial sums. |x|, |y| ≤ 127, so a pair sum is
/// at most 32,258 (no i16 saturation).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn i8_pairs(x: __m256i, y: __m256i) -> __m256 {
    let dot = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)))
}

#[target_feature(enable = "avx2,fma,f16c")]
fn f32_dot(w: &[u8], x: &[f32]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let n8 = x.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let wb = &w[i * 4..i * 4 + 32];
        // SAFETY: 32 readable bytes and 8 readable floats; unaligned loads.
        let (wv, xv) = unsafe {
            (
                _mm256_loadu_ps(wb.as_ptr().cast()),
                _mm256_loadu_ps(x[i..i + 8].as_ptr()),
            )
        };
        acc = _mm256_fmadd_ps(wv, xv, acc);
    }
    let mut s = hsum(acc);
    for i in n8..x.len() {
        s += f32::from_le_bytes([w[i * 4], w[i * 4 + 1], w[i * 4 + 2], w[i * 4 + 3]]) * x[i];
    }
    s
}

#[target_feature(enable = "avx2,fma,f16c")]
fn f16_dot(w: &[u8], x: &[f32]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let n8 = x.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let wb = &w[i * 2..i * 2 + 16];
        // SAFETY: 16 readable bytes (8 halves) and 8 readable floats; unaligned loads.
        let (wv, xv) = unsafe {
            (
                _mm256_cvtph_ps(_mm_loadu_si128(wb.as_ptr().cast())),
                _mm256_loadu_ps(x[i..i + 8].as_ptr()),
            )
        };
        acc = _mm256_fmadd_ps(wv, xv, acc);
    }
    let mut s = hsum(acc);
    for i in n8..x.len() {
        s += f16_at(w, i * 2) * x[i];
    }
    s
}

/// Q8_0, Q4_0 (nibbles − 8, signed) and Q4_1 (nibbles unsigned, plus `m·s`).
#[target_feature(enable = "avx2,fma,f16c")]
fn q32_dot(t: QType, w: &[u8], a: &Q8Blocks, b0: usize, nb: usize) -> f32 {
    let bb = t.block_bytes();
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for b in 0..nb {
        let at = b * bb;
        let qa = load32_i8(&a.qs, (b0 + b) * QK);
        let d = _mm256_set1_ps(f16c(w, at) * a.d[b0 + b]);
        let p = match t {
            QType::Q8_0 => i8_pairs(load32(w, at + 2), qa),
            QType::Q4_0 => i8_pairs(
                _mm256_sub_epi8(nibbles16(w, at + 2), _mm256_set1_epi8(8)),
                qa,
            ),
            _ => {
                mins += f16c(w, at + 2) * a.s[b0 + b];
                // 0..15 unsigned × ±127: pair sums ≤ 3,810.
                let dot = _mm256_maddubs_epi16(nibbles16(w, at + 4), qa);
                _mm256_cvtepi32_ps(_mm256_madd_epi16(dot, _mm256_set1_epi16(1)))
            }
        };
        acc = _mm256_fmadd_ps(d, p, acc);
    }
    hsum(acc) + mins
}

/// Q4_K and Q5_K: 4-bit values 0..15, or 5-bit 0..31 with the fifth bit from `qh` (bit `j`
/// of byte `l` is value `l` of sub-block `j`), × activations (pair sums ≤ 7,874), times 6-bit
/// scales (i32 lanes ≤ 992,124 per sub-block).
#[target_feature(enable = "avx2,fma,f16c")]
fn q45k_dot(t: QType, w: &[u8], a: &Q8KBlocks, b0: usize, nb: usize) -> f32 {
    let bb = t.block_bytes();
    let five = t == QType::Q5_K;
    let qs_at = if five { 48 } else { 16 };
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    let mask = _mm256_set1_epi8(0x0F);
    let k16 = _mm256_set1_epi8(16);
    // Sub-block j's fifth bits as 16 where set, 0 elsewhere.
    let fifth = |qh: __m256i, j: usize| {
        let bit = _mm256_set1_epi8((1u8 << j) as i8);
        _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), k16)
    };
    for b in 0..nb {
        let blk = &w[b * bb..(b + 1) * bb];
        let ab = (b0 + b) * QK_K;
        let da = a.d[b0 + b];
        let bsums = &a.bsums[(b0 + b) * 16..(b0 + b + 1) * 16];
        let qh = if five {
            load32(blk, 16)
        } else {
            _mm256_setzero_si256()
        };
        let mut sumi = _mm256_setzero_si256();
        let mut summ = 0i32;
        for c in 0..4 {
            let (sc1, m1) = scale_min_k4(2 * c, &blk[4..16]);
            let (sc2, m2) = scale_min_k4(2 * c + 1, &blk[4..16]);
            summ += m1 as i32 * (bsums[4 * c] as i32 + bsums[4 * c + 1] as i32)
                + m2 as i32 * (bsums[4 * c + 2] as i32 + bsums[4 * c + 3] as i32);
            let q = load32(blk, qs_at + c * 32);
            let mut lo = _mm256_and_si256(q, mask);
            let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
            if five {
                lo = _mm256_or_si256(lo, fifth(qh, 2 * c));
                hi = _mm256_or_si256(hi, fifth(qh, 2 * c + 1));
            }
            let plo = _mm256_maddubs_epi16(lo, load32_i8(&a.qs, ab + c * 64));
            let phi = _mm256_maddubs_epi16(hi, load32_i8(&a.qs, ab + c * 64 + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc1 as i16)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc2 as i16)));
        }
        acc = _mm256_fmadd_ps(
            _mm256_set1_ps(da * f16c(blk, 0)),
            _mm256_cvtepi32_ps(sumi),
            acc,
        );
        mins += da * f16c(blk, 2) * summ as f32;
    }
    hsum(acc) - mins
}

/// Q6_K: 6-bit values 0..63 × activations minus 32 × activations (i16 lanes within ±8,128),
/// times 8-bit signed scales per 16 values.
#[target_feature(enable = "avx2,fma,f16c")]
fn q6k_dot(w: &[u8], a: &Q8KBlocks, b0: usize, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let m4 = _mm256_set1_epi8(0x0F);
    let m2 = _mm256_set1_epi8(0x30);
    let k32 = _mm256_set1_epi8(32);
    for b in 0..nb {
        let blk = &w[b * 210..(b + 1) * 210];
        let ab = (b0 + b) * QK_K;
        let mut sumi = _mm256_setzero_si256();
        for n in 0..2 {
            let ql0 = load32(blk, n * 64);
            let ql1 = load32(blk, n * 64 + 32);
            let qh = load32(blk, 128 + n * 32);
            let q = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                    _mm256_and_si256(qh, m2),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                    _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2),
                ),
            ];
            for (quarter, qv) in q.into_iter().enumerate() {
                let qa = load32_i8(&a.qs, ab + n * 128 + quarter * 32);
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(qv, qa), _mm256_maddubs_epi16(k32, qa));
                let s0 = blk[192 + n * 8 + quarter * 2] as i8 as i16;
                let s1 = blk[192 + n * 8 + quarter * 2 + 1] as i8 as i16;
                let sc = _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, sc));
            }
        }
        let d = a.d[b0 + b] * f16c(blk, 208);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// The products of one row of a 32-value block type (Q8_0, Q4_0, Q4_1) with four activation
/// vectors at once (their first blocks at `b0[j]`), for prefill: each weight block is loaded,
/// unpacked and its scale converted once for the four. The sums are the ones [`dot`] gives,
/// added in the same order.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q32_dot4(
    t: QType,
    w: &[u8],
    a: &Q8Blocks,
    b0: [usize; 4],
    nb: usize,
) -> [f32; 4] {
    let bb = t.block_bytes();
    // Bounds are checked once here; the loop reads through pointers (per-access checks and
    // the spills they caused took a third of the time).
    assert!(w.len() >= nb * bb, "row shorter than its blocks");
    for &b in &b0 {
        assert!((b + nb) * QK <= a.qs.len() && b + nb <= a.d.len() && b + nb <= a.s.len());
    }
    let qp = b0.map(|b| a.qs[b * QK..].as_ptr());
    let dp = b0.map(|b| a.d[b..].as_ptr());
    let sp = b0.map(|b| a.s[b..].as_ptr());
    let wp = w.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut mins = [0f32; 4];
    let ones = _mm256_set1_epi16(1);
    let m4 = _mm256_set1_epi8(0x0F);
    // SAFETY: block b of the row is `w[b·bb..(b+1)·bb]` and activation block b of vector j
    // is `qs[(b0[j]+b)·32..]`, `d[b0[j]+b]`, `s[b0[j]+b]`, all inside by the asserts above;
    // loads are unaligned.
    unsafe {
        let f16 = |p: *const u8| -> f32 {
            let bits = u16::from_le_bytes([*p, *p.add(1)]);
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
        };
        let nib = |p: *const u8| -> __m256i {
            let lo = _mm_loadu_si128(p.cast());
            _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(lo, 4), lo), m4)
        };
        for b in 0..nb {
            let blk = wp.add(b * bb);
            let dw = f16(blk);
            if t == QType::Q4_1 {
                let q = nib(blk.add(4));
                let mw = f16(blk.add(2));
                for j in 0..4 {
                    *mins.get_unchecked_mut(j) += mw * *sp[j].add(b);
                    // 0..15 unsigned × ±127: pair sums ≤ 3,810.
                    let qa = _mm256_loadu_si256(qp[j].add(b * QK).cast());
                    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, qa), ones);
                    let d = _mm256_set1_ps(dw * *dp[j].add(b));
                    acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[j]);
                }
            } else {
                let q = if t == QType::Q8_0 {
                    _mm256_loadu_si256(blk.add(2).cast())
                } else {
                    _mm256_sub_epi8(nib(blk.add(2)), _mm256_set1_epi8(8))
                };
                let qabs = _mm256_sign_epi8(q, q);
                for j in 0..4 {
                    let qa = _mm256_loadu_si256(qp[j].add(b * QK).cast());
                    let qa = _mm256_sign_epi8(qa, q);
                    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(qabs, qa), ones);
                    let d = _mm256_set1_ps(dw * *dp[j].add(b));
                    acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[j]);
                }
            }
        }
    }
    [
        hsum(acc[0]) + mins[0],
        hsum(acc[1]) + mins[1],
        hsum(acc[2]) + mins[2],
        hsum(acc[3]) + mins[3],
    ]
}

/// The products of one f16 row `w` with four f32 vectors `x[j]` (each `n` long, a multiple of
/// 8), each weight converted once for the four: four accumulators, so the FMAs do not wait on
/// each other. Each sum is added in the order `f16_dot` adds it.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
///
/// # Panics
/// When `n` is not a multiple of 8 or a slice is shorter than `n` values.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn f16_dot4(w: &[u8], x: [&[f32]; 4], n: usize) -> [f32; 4] {
    assert!(n.is_multiple_of(8) && w.len() >= 2 * n && x.iter().all(|v| v.len() >= n));
    let xp = x.map(<[f32]>::as_ptr);
    let mut acc = [_mm256_setzero_ps(); 4];
    // SAFETY: i + 8 <= n, inside every slice by the assert; unaligned loads.
    unsafe {
        for i in (0..n).step_by(8) {
            let wv = _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(2 * i).cast()));
            for j in 0..4 {
                acc[j] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp[j].add(i)), acc[j]);
            }
        }
    }
    acc.map(|a| hsum(a))
}

/// Rounds every value of `x` to the nearest f16 (ties to even), as [`half::f16`] does.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn round_f16(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: 8 readable and writable floats; unaligned loads and stores.
        unsafe {
            let v = _mm256_loadu_ps(c.as_ptr());
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_cvtph_ps(h));
        }
    }
    for v in chunks.into_remainder() {
        *v = half::f16::from_f32(*v).to_f32();
    }
}

/// One query head's attention scores: `out[j] = scale · q · k_j` over the key rows
/// `k_j = k[j·stride..][..2·q.len()]` (f16), four rows at a time so each query load serves
/// four rows. Each sum is added in the order [`dot`] adds an F16 row in, so the scores are
/// bit-identical to one `dot` per row.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
///
/// # Panics
/// When `q.len()` is not a multiple of 8 or `k` is shorter than the rows.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn attn_scores(q: &[f32], k: &[u8], stride: usize, scale: f32, out: &mut [f32]) {
    let (hd, n) = (q.len(), out.len());
    assert!(hd.is_multiple_of(8) && (n == 0 || k.len() >= (n - 1) * stride + 2 * hd));
    let (kp, qp) = (k.as_ptr(), q.as_ptr());
    // SAFETY: row j's bytes `j·stride..j·stride + 2·hd` are inside `k` by the assert, and
    // `qp.add(i)` for i < hd inside `q`; loads are unaligned.
    unsafe {
        let row = |j: usize, i: usize| {
            _mm256_cvtph_ps(_mm_loadu_si128(kp.add(j * stride + 2 * i).cast()))
        };
        let mut j = 0;
        while j + 4 <= n {
            let mut acc = [_mm256_setzero_ps(); 4];
            for i in (0..hd).step_by(8) {
                let qv = _mm256_loadu_ps(qp.add(i));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(row(j + r, i), qv, *a);
                }
            }
            for (r, a) in acc.into_iter().enumerate() {
                out[j + r] = hsum(a) * scale;
            }
            j += 4;
        }
        for j in j..n {
            let mut acc = _mm256_setzero_ps();
            for i in (0..hd).step_by(8) {
                acc = _mm256_fmadd_ps(row(j, i), _mm256_loadu_ps(qp.add(i)), acc);
            }
            out[j] = hsum(acc) * scale;
        }
    }
}

/// One query head's attention output: `out = Σ_j w[j] · v_j` over the value rows
/// `v_j = v[j·stride..][..2·out.len()]` (f16), 32 outputs at a time held in registers across
/// all rows. Each output adds the rows in order with the FMA [`axpy_f16`] uses, so the result
/// is bit-identical to zeroing `out` and one `axpy_f16` per row.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
///
/// # Panics
/// When `out.len()` is not a multiple of 32 or `v` is shorter than the rows.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn attn_values(w: &[f32], v: &[u8], stride: usize, out: &mut [f32]) {
    let (hd, n) = (out.len(), w.len());
    assert!(hd.is_multiple_of(32) && (n == 0 || v.len() >= (n - 1) * stride + 2 * hd));
    let vp = v.as_ptr();
    for c in (0..hd).step_by(32) {
        // SAFETY: columns c..c + 32 of row j are inside `v` by the assert; `out[c..c + 32]`
        // is inside `out`; loads and stores are unaligned.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (j, &wj) in w.iter().enumerate() {
                let wv = _mm256_set1_ps(wj);
                let at = vp.add(j * stride + 2 * c);
                for (r, a) in acc.iter_mut().enumerate() {
                    let x = _mm256_cvtph_ps(_mm_loadu_si128(at.add(16 * r).cast()));
                    *a = _mm256_fmadd_ps(wv, x, *a);
                }
            }
            for (r, a) in acc.into_iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(c + 8 * r), a);
            }
        }
    }
}

/// `y += a · x`, `x` as little-endian f16 values.
///
/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn axpy_f16(y: &mut [f32], a: f32, x: &[u8]) {
    let av = _mm256_set1_ps(a);
    let n8 = y.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let xb = &x[i * 2..i * 2 + 16];
        let yv = &mut y[i..i + 8];
        // SAFETY: 16 readable bytes and 8 writable floats; unaligned loads and stores.
        unsafe {
            let xv = _mm256_cvtph_ps(_mm_loadu_si128(xb.as_ptr().cast()));
            let r = _mm256_fmadd_ps(av, xv, _mm256_loadu_ps(yv.as_ptr()));
            _mm256_storeu_ps(yv.as_mut_ptr(), r);
        }
    }
    for i in n8..y.len() {
        y[i] += a * f16_at(x, 2 * i);
    }
}
