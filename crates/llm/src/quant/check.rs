//! A self-check of the SIMD kernels against the portable code on this CPU: random blocks of
//! every weight type (scales kept finite), random activations, and every dot product compared.
//! `hearth doctor` runs it, so a kernel bug on a board's CPU (or under qemu in CI, with and
//! without aarch64's dot-product extension) is reported instead of producing wrong tokens.

use super::blocks::{Q8Blocks, Q8KBlocks, QK, QK_K, QType, dequantize_row};
use super::dot::{Acts, Isa, axpy_f16, dot, dot4, scalar, to_f16};

/// Deterministic pseudo-random bytes (SplitMix64).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// A row of `cols` values of type `t` with random quants and small finite scales.
fn row(t: QType, cols: usize, seed: u64) -> Vec<u8> {
    let half = |v: f32| half::f16::from_f32(v).to_bits().to_le_bytes();
    let floats = |n: usize| -> Vec<f32> {
        bytes(n, seed)
            .iter()
            .map(|b| (*b as f32 - 128.0) / 64.0)
            .collect()
    };
    match t {
        QType::F32 => floats(cols).iter().flat_map(|v| v.to_le_bytes()).collect(),
        QType::F16 => floats(cols).iter().flat_map(|v| half(*v)).collect(),
        QType::BF16 => floats(cols)
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes())
            .collect(),
        _ => {
            let mut r = bytes(t.row_bytes(cols).expect("whole blocks"), seed);
            let scales: &[usize] = match t {
                QType::Q4_0 | QType::Q5_0 | QType::Q8_0 => &[0],
                QType::Q4_1 | QType::Q5_1 | QType::Q4_K | QType::Q5_K => &[0, 2],
                _ => &[208],
            };
            for (b, blk) in r.chunks_exact_mut(t.block_bytes()).enumerate() {
                for (k, at) in scales.iter().enumerate() {
                    let v = 0.01 + ((b + k) % 7) as f32 * 0.003;
                    blk[*at..*at + 2].copy_from_slice(&half(if k == 1 { -v } else { v }));
                }
            }
            r
        }
    }
}

/// Compares every SIMD kernel of `isa` with the portable code; `Ok` names the kernels
/// checked, `Err` the first that disagrees (type, both values).
pub fn selfcheck(isa: Isa) -> Result<String, String> {
    let cols = 512;
    let x: Vec<f32> = bytes(cols, 7)
        .iter()
        .map(|b| (*b as f32 - 128.0) / 50.0)
        .collect();
    let (mut q8, mut q8k) = (Q8Blocks::default(), Q8KBlocks::default());
    q8.quantize(&x);
    q8k.quantize(&x);
    for (i, t) in QType::ALL.into_iter().enumerate() {
        let w = row(t, cols, 100 + i as u64);
        let a = match t.block_values() {
            QK => Acts::Q8(&q8, 0),
            QK_K => Acts::Q8K(&q8k, 0),
            _ => Acts::F32(&x),
        };
        let mut deq = vec![0f32; cols];
        dequantize_row(t, &w, &mut deq);
        let magnitude: f32 = deq
            .iter()
            .zip(&x)
            .map(|(a, b)| (a * b).abs())
            .sum::<f32>()
            .max(1.0);
        let (want, got) = (scalar(t, &w, a, cols), dot(isa, t, &w, a, cols));
        if !got.is_finite() || (got - want).abs() > 1e-4 * magnitude {
            return Err(format!(
                "{} dot product on {}: {got}, portable code {want}",
                t.name(),
                isa.name()
            ));
        }
    }
    // The four-vector kernels of prefill, on four different vectors.
    let x4: Vec<f32> = bytes(4 * cols, 11)
        .iter()
        .map(|b| (*b as f32 - 128.0) / 50.0)
        .collect();
    let mut q4 = Q8Blocks::default();
    q4.quantize(&x4);
    let per = cols / QK;
    for t in [QType::Q8_0, QType::Q4_0, QType::Q4_1] {
        let w = row(t, cols, 300 + t as u64);
        let Some(got) = dot4(isa, t, &w, &q4, [0, per, 2 * per, 3 * per], cols) else {
            continue;
        };
        for (j, g) in got.into_iter().enumerate() {
            let want = scalar(t, &w, Acts::Q8(&q4, j * per), cols);
            if !g.is_finite() || (g - want).abs() > 1e-4 * want.abs().max(1.0) {
                return Err(format!(
                    "{} four-vector product {j} on {}: {g}, portable code {want}",
                    t.name(),
                    isa.name()
                ));
            }
        }
    }
    let kv: Vec<u8> = {
        let mut b = vec![0u8; 2 * 72];
        to_f16(&x[..72], &mut b);
        b
    };
    let (mut y1, mut y2) = (x[..72].to_vec(), x[..72].to_vec());
    axpy_f16(isa, &mut y1, 0.37, &kv);
    axpy_f16(Isa::Scalar, &mut y2, 0.37, &kv);
    if y1.iter().zip(&y2).any(|(a, b)| (a - b).abs() > 1e-5) {
        return Err(format!(
            "f16 axpy on {} differs from the portable code",
            isa.name()
        ));
    }
    Ok(format!(
        "{} kernels agree with the portable code ({} weight types, four-vector prefill, f16 KV)",
        isa.name(),
        QType::ALL.len()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_detected_kernels_pass_the_selfcheck() {
        let isa = super::Isa::detect();
        assert!(super::selfcheck(isa).is_ok(), "{:?}", super::selfcheck(isa));
        assert!(super::selfcheck(super::Isa::Scalar).is_ok());
    }
}
