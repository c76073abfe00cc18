//! aarch64 Advanced SIMD dot products: the same sums as the scalar code in `dot.rs`, 16
//! values per instruction. Without the dot-product extension, byte products are widened
//! (`smull`/`smull2`) and pair-added; with it (`sdot`, Armv8.2 — Cortex-A76 in the Pi 5,
//! detected at run time) four products are summed per lane. `sdot` is emitted as its raw
//! encoding on fixed registers, so the crate builds for every aarch64 target. Checked against
//! the portable code by [`crate::selfcheck`] (`hearth doctor`), which CI runs under
//! qemu-aarch64 with and without the extension.

use super::blocks::{Q8Blocks, Q8KBlocks, QK, QK_K, QType, f16_at, scale_min_k4};
use super::dot::Acts;
use std::arch::aarch64::*;
use std::arch::asm;

/// The NEON kernel for `t`, or `None` when the type has only the scalar one.
///
/// # Safety
/// `dotprod` may be set only when the CPU has the dot-product extension.
pub(super) unsafe fn dot(dotprod: bool, t: QType, w: &[u8], a: Acts<'_>, n: usize) -> Option<f32> {
    // SAFETY: NEON is part of aarch64; `sdot` runs only when the caller saw the extension.
    unsafe {
        Some(match (t, a) {
            (QType::F32, Acts::F32(x)) => f32_dot(w, &x[..n]),
            (QType::F16, Acts::F32(x)) => f16_dot(w, &x[..n]),
            (QType::Q8_0 | QType::Q4_0 | QType::Q4_1, Acts::Q8(a, b0)) => {
                q32_dot(dotprod, t, w, a, b0, n / QK)
            }
            (QType::Q4_K | QType::Q5_K, Acts::Q8K(a, b0)) => {
                q45k_dot(dotprod, t, w, a, b0, n / QK_K)
            }
            (QType::Q6_K, Acts::Q8K(a, b0)) => q6k_dot(dotprod, w, a, b0, n / QK_K),
            _ => return None,
        })
    }
}

#[inline(always)]
unsafe fn ld_u8(b: &[u8], at: usize) -> uint8x16_t {
    let s = &b[at..at + 16];
    // SAFETY: 16 readable bytes; ld1 has no alignment requirement.
    unsafe { vld1q_u8(s.as_ptr()) }
}

#[inline(always)]
unsafe fn ld_i8(b: &[i8], at: usize) -> int8x16_t {
    let s = &b[at..at + 16];
    // SAFETY: as `ld_u8`.
    unsafe { vld1q_s8(s.as_ptr()) }
}

/// Σ x·y over 16 signed byte pairs, as 4 i32 lanes.
#[inline(always)]
unsafe fn dot16(dotprod: bool, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    // SAFETY: NEON only, or `sdot` when the caller checked the extension.
    unsafe {
        if dotprod {
            let mut acc = vdupq_n_s32(0);
            // SDOT v2.4s, v0.16b, v1.16b (0x4e819402: Q=1, U=0, size=10, Rm=1, Rn=0, Rd=2).
            asm!(".inst 0x4e819402", in("v0") x, in("v1") y, inout("v2") acc, options(pure, nomem, nostack));
            acc
        } else {
            let lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
            let hi = vmull_high_s8(x, y);
            vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi))
        }
    }
}

/// 8 little-endian f16 values at `b[at..at + 16]` as two f32x4 (`fcvtl`, base Armv8).
#[inline(always)]
unsafe fn f16x8(b: &[u8], at: usize) -> (float32x4_t, float32x4_t) {
    // SAFETY: 16 readable bytes; fcvtl/fcvtl2 are base Advanced SIMD.
    unsafe {
        let h = ld_u8(b, at);
        let (lo, hi): (float32x4_t, float32x4_t);
        asm!("fcvtl {lo:v}.4s, {h:v}.4h", "fcvtl2 {hi:v}.4s, {h:v}.8h", h = in(vreg) h, lo = out(vreg) lo, hi = out(vreg) hi, options(pure, nomem, nostack));
        (lo, hi)
    }
}

unsafe fn f32_dot(w: &[u8], x: &[f32]) -> f32 {
    let n4 = x.len() / 4 * 4;
    // SAFETY: every load reads 16 bytes inside `w` and 4 floats inside `x`.
    let mut s = unsafe {
        let mut acc = vdupq_n_f32(0.0);
        for i in (0..n4).step_by(4) {
            let wv = vreinterpretq_f32_u8(ld_u8(w, i * 4));
            acc = vfmaq_f32(acc, wv, vld1q_f32(x[i..i + 4].as_ptr()));
        }
        vaddvq_f32(acc)
    };
    for i in n4..x.len() {
        s += f32::from_le_bytes([w[i * 4], w[i * 4 + 1], w[i * 4 + 2], w[i * 4 + 3]]) * x[i];
    }
    s
}

unsafe fn f16_dot(w: &[u8], x: &[f32]) -> f32 {
    let n8 = x.len() / 8 * 8;
    // SAFETY: every load reads 16 bytes inside `w` and 8 floats inside `x`.
    let mut s = unsafe {
        let mut acc = vdupq_n_f32(0.0);
        for i in (0..n8).step_by(8) {
            let (lo, hi) = f16x8(w, i * 2);
            acc = vfmaq_f32(acc, lo, vld1q_f32(x[i..i + 4].as_ptr()));
            acc = vfmaq_f32(acc, hi, vld1q_f32(x[i + 4..i + 8].as_ptr()));
        }
        vaddvq_f32(acc)
    };
    for i in n8..x.len() {
        s += f16_at(w, i * 2) * x[i];
    }
    s
}

/// The products of one f16 row `w` with four f32 vectors `x[j]` (each `n` long, a multiple of
/// 8), each weight converted once for the four. Each sum is added in the order `f16_dot` adds
/// it.
///
/// # Safety
/// Runs on any aarch64 CPU (base Advanced SIMD only).
///
/// # Panics
/// When `n` is not a multiple of 8 or a slice is shorter than `n` values.
pub(super) unsafe fn f16_dot4(w: &[u8], x: [&[f32]; 4], n: usize) -> [f32; 4] {
    assert!(n.is_multiple_of(8) && w.len() >= 2 * n && x.iter().all(|v| v.len() >= n));
    let xp = x.map(<[f32]>::as_ptr);
    // SAFETY: i + 8 <= n, inside every slice by the assert.
    unsafe {
        let mut acc = [vdupq_n_f32(0.0); 4];
        for i in (0..n).step_by(8) {
            let (lo, hi) = f16x8(w, i * 2);
            for j in 0..4 {
                acc[j] = vfmaq_f32(acc[j], lo, vld1q_f32(xp[j].add(i)));
                acc[j] = vfmaq_f32(acc[j], hi, vld1q_f32(xp[j].add(i + 4)));
            }
        }
        acc.map(|a| vaddvq_f32(a))
    }
}

/// One query head's attention scores: `out[j] = scale · q · k_j` over the f16 key rows
/// `k[j·stride..][..2·q.len()]`, four rows per query load. Each sum is added in the order
/// `f16_dot` adds it, so the scores are bit-identical to one `dot` per row.
///
/// # Safety
/// Runs on any aarch64 CPU (base Advanced SIMD only).
///
/// # Panics
/// When `q.len()` is not a multiple of 8 or `k` is shorter than the rows.
pub(super) unsafe fn attn_scores(q: &[f32], k: &[u8], stride: usize, scale: f32, out: &mut [f32]) {
    let (hd, n) = (q.len(), out.len());
    assert!(hd.is_multiple_of(8) && (n == 0 || k.len() >= (n - 1) * stride + 2 * hd));
    let qp = q.as_ptr();
    // SAFETY: row j's bytes `j·stride..j·stride + 2·hd` are inside `k` by the assert, and
    // `qp.add(i + 4)` for i + 8 <= hd inside `q`.
    unsafe {
        let mut j = 0;
        while j + 4 <= n {
            let mut acc = [vdupq_n_f32(0.0); 4];
            for i in (0..hd).step_by(8) {
                let (q0, q1) = (vld1q_f32(qp.add(i)), vld1q_f32(qp.add(i + 4)));
                for (r, a) in acc.iter_mut().enumerate() {
                    let (lo, hi) = f16x8(k, (j + r) * stride + 2 * i);
                    *a = vfmaq_f32(vfmaq_f32(*a, lo, q0), hi, q1);
                }
            }
            for (r, a) in acc.into_iter().enumerate() {
                out[j + r] = vaddvq_f32(a) * scale;
            }
            j += 4;
        }
        for j in j..n {
            let mut a = vdupq_n_f32(0.0);
            for i in (0..hd).step_by(8) {
                let (lo, hi) = f16x8(k, j * stride + 2 * i);
                a = vfmaq_f32(
                    vfmaq_f32(a, lo, vld1q_f32(qp.add(i))),
                    hi,
                    vld1q_f32(qp.add(i + 4)),
                );
            }
            out[j] = vaddvq_f32(a) * scale;
        }
    }
}

/// One query head's attention output: `out = Σ_j w[j] · v_j` over the f16 value rows
/// `v[j·stride..][..2·out.len()]`, 16 outputs at a time held in registers across all rows;
/// bit-identical to zeroing `out` and one `axpy_f16` per row.
///
/// # Safety
/// Runs on any aarch64 CPU (base Advanced SIMD only).
///
/// # Panics
/// When `out.len()` is not a multiple of 16 or `v` is shorter than the rows.
pub(super) unsafe fn attn_values(w: &[f32], v: &[u8], stride: usize, out: &mut [f32]) {
    let (hd, n) = (out.len(), w.len());
    assert!(hd.is_multiple_of(16) && (n == 0 || v.len() >= (n - 1) * stride + 2 * hd));
    for c in (0..hd).step_by(16) {
        // SAFETY: columns c..c + 16 of row j are inside `v` by the assert, and
        // `out[c..c + 16]` inside `out`.
        unsafe {
            let mut acc = [vdupq_n_f32(0.0); 4];
            for (j, &wj) in w.iter().enumerate() {
                let (a, b) = f16x8(v, j * stride + 2 * c);
                let (d, e) = f16x8(v, j * stride + 2 * c + 16);
                for (x, y) in acc.iter_mut().zip([a, b, d, e]) {
                    *x = vfmaq_n_f32(*x, y, wj);
                }
            }
            for (r, a) in acc.into_iter().enumerate() {
                vst1q_f32(out.as_mut_ptr().add(c + 4 * r), a);
            }
        }
    }
}

/// `y += a · x`, `x` as little-endian f16 values.
///
/// # Safety
/// Runs on any aarch64 CPU (base Advanced SIMD only).
pub(super) unsafe fn axpy_f16(y: &mut [f32], a: f32, x: &[u8]) {
    let n8 = y.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: 16 bytes of `x` and 8 floats of `y` at i.
        unsafe {
            let (lo, hi) = f16x8(x, i * 2);
            let p = y[i..i + 8].as_mut_ptr();
            vst1q_f32(p, vfmaq_n_f32(vld1q_f32(p), lo, a));
            vst1q_f32(p.add(4), vfmaq_n_f32(vld1q_f32(p.add(4)), hi, a));
        }
    }
    for i in n8..y.len() {
        y[i] += a * f16_at(x, 2 * i);
    }
}

/// The 32 weights of the Q8_0/Q4_0/Q4_1 block at `w[at..]` as signed bytes (Q4_0 less 8;
/// Q4_1's stay 0..15, its minimum is added by the caller), in ggml's order.
#[inline(always)]
unsafe fn unpack32(t: QType, w: &[u8], at: usize) -> (int8x16_t, int8x16_t) {
    // SAFETY: loads inside the block (18, 20 or 34 bytes from `at`).
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        match t {
            QType::Q8_0 => (
                vreinterpretq_s8_u8(ld_u8(w, at + 2)),
                vreinterpretq_s8_u8(ld_u8(w, at + 18)),
            ),
            QType::Q4_0 => {
                let q = ld_u8(w, at + 2);
                let eight = vdupq_n_s8(8);
                (
                    vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight),
                    vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight),
                )
            }
            _ => {
                let q = ld_u8(w, at + 4);
                (
                    vreinterpretq_s8_u8(vandq_u8(q, m4)),
                    vreinterpretq_s8_u8(vshrq_n_u8(q, 4)),
                )
            }
        }
    }
}

unsafe fn q32_dot(dotprod: bool, t: QType, w: &[u8], a: &Q8Blocks, b0: usize, nb: usize) -> f32 {
    let bb = t.block_bytes();
    let mut sum = 0f32;
    // SAFETY: loads stay inside each block and each activation block.
    unsafe {
        for b in 0..nb {
            let at = b * bb;
            let (a0, a1) = (
                ld_i8(&a.qs, (b0 + b) * QK),
                ld_i8(&a.qs, (b0 + b) * QK + 16),
            );
            if t == QType::Q4_1 {
                sum += f16_at(w, at + 2) * a.s[b0 + b];
            }
            let (x0, x1) = unpack32(t, w, at);
            let s = vaddq_s32(dot16(dotprod, x0, a0), dot16(dotprod, x1, a1));
            sum += f16_at(w, at) * a.d[b0 + b] * vaddvq_s32(s) as f32;
        }
    }
    sum
}

/// The products of one row of a 32-value block type with four activation vectors at once
/// (first blocks at `b0[j]`), for prefill: each weight block is loaded and unpacked once for
/// the four. The sums are the ones [`dot`] gives, added in the same order.
///
/// # Safety
/// `dotprod` may be set only when the CPU has the dot-product extension.
pub(super) unsafe fn q32_dot4(
    dotprod: bool,
    t: QType,
    w: &[u8],
    a: &Q8Blocks,
    b0: [usize; 4],
    nb: usize,
) -> [f32; 4] {
    let bb = t.block_bytes();
    let mut sum = [0f32; 4];
    // SAFETY: loads stay inside each block and each activation block.
    unsafe {
        for b in 0..nb {
            let at = b * bb;
            let (x0, x1) = unpack32(t, w, at);
            let dw = f16_at(w, at);
            let mw = if t == QType::Q4_1 {
                f16_at(w, at + 2)
            } else {
                0.0
            };
            for j in 0..4 {
                let blk = b0[j] + b;
                let (a0, a1) = (ld_i8(&a.qs, blk * QK), ld_i8(&a.qs, blk * QK + 16));
                if t == QType::Q4_1 {
                    sum[j] += mw * a.s[blk];
                }
                let s = vaddq_s32(dot16(dotprod, x0, a0), dot16(dotprod, x1, a1));
                sum[j] += dw * a.d[blk] * vaddvq_s32(s) as f32;
            }
        }
    }
    sum
}

/// Q4_K and Q5_K (the fifth bit of value `l` of sub-block `j` is bit `j` of `qh[l]`): values
/// 0..31 fit a signed byte, so the products are the Q8_0 kernel's.
unsafe fn q45k_dot(dotprod: bool, t: QType, w: &[u8], a: &Q8KBlocks, b0: usize, nb: usize) -> f32 {
    let bb = t.block_bytes();
    let five = t == QType::Q5_K;
    let qs_at = if five { 48 } else { 16 };
    let mut sum = 0f32;
    // SAFETY: loads stay inside each block (144 or 176 bytes) and each 256-value activation
    // block.
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let k16 = vdupq_n_u8(16);
        // Sub-block j's fifth bits as 16 where set, 0 elsewhere.
        let fifth = |qh: uint8x16_t, j: usize| vandq_u8(vtstq_u8(qh, vdupq_n_u8(1 << j)), k16);
        for b in 0..nb {
            let blk = &w[b * bb..(b + 1) * bb];
            let ab = (b0 + b) * QK_K;
            let bsums = &a.bsums[(b0 + b) * 16..(b0 + b + 1) * 16];
            let (h0, h1) = if five {
                (ld_u8(blk, 16), ld_u8(blk, 32))
            } else {
                (vdupq_n_u8(0), vdupq_n_u8(0))
            };
            let (mut sumi, mut summ) = (0i32, 0i32);
            for c in 0..4 {
                let (sc1, m1) = scale_min_k4(2 * c, &blk[4..16]);
                let (sc2, m2) = scale_min_k4(2 * c + 1, &blk[4..16]);
                summ += m1 as i32 * (bsums[4 * c] as i32 + bsums[4 * c + 1] as i32)
                    + m2 as i32 * (bsums[4 * c + 2] as i32 + bsums[4 * c + 3] as i32);
                let (q0, q1) = (ld_u8(blk, qs_at + c * 32), ld_u8(blk, qs_at + 16 + c * 32));
                let (mut l0, mut l1) = (vandq_u8(q0, m4), vandq_u8(q1, m4));
                let (mut u0, mut u1) = (vshrq_n_u8(q0, 4), vshrq_n_u8(q1, 4));
                if five {
                    l0 = vorrq_u8(l0, fifth(h0, 2 * c));
                    l1 = vorrq_u8(l1, fifth(h1, 2 * c));
                    u0 = vorrq_u8(u0, fifth(h0, 2 * c + 1));
                    u1 = vorrq_u8(u1, fifth(h1, 2 * c + 1));
                }
                let lo = vaddq_s32(
                    dot16(dotprod, vreinterpretq_s8_u8(l0), ld_i8(&a.qs, ab + c * 64)),
                    dot16(
                        dotprod,
                        vreinterpretq_s8_u8(l1),
                        ld_i8(&a.qs, ab + c * 64 + 16),
                    ),
                );
                let hi = vaddq_s32(
                    dot16(
                        dotprod,
                        vreinterpretq_s8_u8(u0),
                        ld_i8(&a.qs, ab + c * 64 + 32),
                    ),
                    dot16(
                        dotprod,
                        vreinterpretq_s8_u8(u1),
                        ld_i8(&a.qs, ab + c * 64 + 48),
                    ),
                );
                sumi += vaddvq_s32(lo) * sc1 as i32 + vaddvq_s32(hi) * sc2 as i32;
            }
            let da = a.d[b0 + b];
            sum += da * (f16_at(blk, 0) * sumi as f32 - f16_at(blk, 2) * summ as f32);
        }
    }
    sum
}

unsafe fn q6k_dot(dotprod: bool, w: &[u8], a: &Q8KBlocks, b0: usize, nb: usize) -> f32 {
    let mut sum = 0f32;
    // SAFETY: loads stay inside each 210-byte block and each 256-value activation block.
    unsafe {
        let (m4, m3) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x30));
        let k32 = vdupq_n_s8(32);
        for b in 0..nb {
            let blk = &w[b * 210..(b + 1) * 210];
            let ab = (b0 + b) * QK_K;
            let mut sumi = 0i32;
            for n in 0..2 {
                for half in 0..2 {
                    // 16 of the 32 positions l of each quarter: bytes ql[l], ql[l+32], qh[l].
                    let o = half * 16;
                    let ql0 = ld_u8(blk, n * 64 + o);
                    let ql1 = ld_u8(blk, n * 64 + 32 + o);
                    let qh = ld_u8(blk, 128 + n * 32 + o);
                    let q = [
                        vorrq_u8(vandq_u8(ql0, m4), vandq_u8(vshlq_n_u8(qh, 4), m3)),
                        vorrq_u8(vandq_u8(ql1, m4), vandq_u8(vshlq_n_u8(qh, 2), m3)),
                        vorrq_u8(vshrq_n_u8(ql0, 4), vandq_u8(qh, m3)),
                        vorrq_u8(vshrq_n_u8(ql1, 4), vandq_u8(vshrq_n_u8(qh, 2), m3)),
                    ];
                    for (quarter, qv) in q.into_iter().enumerate() {
                        let x = vsubq_s8(vreinterpretq_s8_u8(qv), k32);
                        let y = ld_i8(&a.qs, ab + n * 128 + quarter * 32 + o);
                        let scale = blk[192 + n * 8 + quarter * 2 + half] as i8 as i32;
                        sumi += vaddvq_s32(dot16(dotprod, x, y)) * scale;
                    }
                }
            }
            sum += a.d[b0 + b] * f16_at(blk, 208) * sumi as f32;
        }
    }
    sum
}
