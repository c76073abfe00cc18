//! Block formats against candle's implementation of the same ggml layouts (candle quantises,
//! both dequantise, results must be equal), and every dot kernel against the dot product of
//! the dequantised values.

use super::*;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

/// Deterministic pseudo-random values in [-1, 1) with a few outliers, as weights have.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            if i % 97 == 0 { v * 6.0 } else { v }
        })
        .collect()
}

fn candle_type(t: QType) -> GgmlDType {
    match t {
        QType::F32 => GgmlDType::F32,
        QType::F16 => GgmlDType::F16,
        QType::BF16 => GgmlDType::BF16,
        QType::Q4_0 => GgmlDType::Q4_0,
        QType::Q4_1 => GgmlDType::Q4_1,
        QType::Q5_0 => GgmlDType::Q5_0,
        QType::Q5_1 => GgmlDType::Q5_1,
        QType::Q8_0 => GgmlDType::Q8_0,
        QType::Q4_K => GgmlDType::Q4K,
        QType::Q5_K => GgmlDType::Q5K,
        QType::Q6_K => GgmlDType::Q6K,
    }
}

/// `rows × cols` values quantised by candle to `t`: (raw bytes, candle's dequantisation).
fn quantized(t: QType, rows: usize, cols: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
    let x =
        Tensor::from_vec(values(rows * cols, seed), (rows, cols), &Device::Cpu).expect("tensor");
    let q = QTensor::quantize(&x, candle_type(t)).expect("quantize");
    let raw = q.data().expect("data").into_owned();
    let deq = q.dequantize(&Device::Cpu).expect("dequantize");
    (
        raw,
        deq.flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("vec"),
    )
}

#[test]
fn dequantisation_matches_candle_for_every_type() {
    let cols = 512;
    for t in QType::ALL {
        let (raw, want) = quantized(t, 3, cols, 7);
        assert_eq!(
            raw.len(),
            3 * t.row_bytes(cols).expect("whole blocks"),
            "{}",
            t.name()
        );
        let mut got = vec![0f32; 3 * cols];
        dequantize_row(t, &raw, &mut got);
        assert_eq!(got, want, "{} dequantises as ggml does", t.name());
    }
}

#[test]
fn ggml_type_numbers_round_trip() {
    for t in QType::ALL {
        assert_eq!(QType::from_ggml(t.ggml()), Some(t));
    }
    assert_eq!(QType::from_ggml(10), None, "Q2_K is not run");
    assert_eq!(QType::Q4_K.row_bytes(300), None, "rows are whole blocks");
}

/// Every type's dot product, scalar and on the detected ISA, against the f32 dot product of
/// the dequantised weights with the dequantised activations.
#[test]
fn dot_products_match_the_dequantised_reference() {
    let cols = 1024;
    let x = values(cols, 99);
    let (mut q8, mut q8k) = (Q8Blocks::default(), Q8KBlocks::default());
    q8.quantize(&x);
    q8k.quantize(&x);
    let mut q8_deq = vec![0f32; cols];
    for (i, v) in q8_deq.iter_mut().enumerate() {
        *v = q8.qs[i] as f32 * q8.d[i / QK];
    }
    let mut q8k_deq = vec![0f32; cols];
    for (i, v) in q8k_deq.iter_mut().enumerate() {
        *v = q8k.qs[i] as f32 * q8k.d[i / QK_K];
    }
    for t in QType::ALL {
        let (raw, w) = quantized(t, 2, cols, 11);
        let rb = t.row_bytes(cols).expect("whole");
        for row in 0..2 {
            let wr = &w[row * cols..(row + 1) * cols];
            let (acts, xr) = match t.block_values() {
                1 => (Acts::F32(&x), &x),
                QK => (Acts::Q8(&q8, 0), &q8_deq),
                _ => (Acts::Q8K(&q8k, 0), &q8k_deq),
            };
            let want: f64 = wr
                .iter()
                .zip(xr.iter())
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let bytes = &raw[row * rb..(row + 1) * rb];
            let tol = 2e-3 * want.abs().max(1.0);
            let s = scalar(t, bytes, acts, cols) as f64;
            assert!((s - want).abs() < tol, "{} scalar: {s} vs {want}", t.name());
            let f = dot(Isa::detect(), t, bytes, acts, cols) as f64;
            assert!(
                (f - want).abs() < tol,
                "{} {}: {f} vs {want}",
                t.name(),
                Isa::detect().name()
            );
        }
    }
}

#[test]
fn activation_quantisation_follows_ggml() {
    let x: Vec<f32> = (0..256).map(|i| (i as f32 - 128.0) / 16.0).collect();
    let mut q8 = Q8Blocks::default();
    q8.quantize(&x);
    // Block 0 holds -8.0 ..= -6.0625: the largest magnitude maps to -127.
    assert_eq!(q8.qs[0], -127);
    let sum: i32 = q8.qs[..32].iter().map(|&q| q as i32).sum();
    assert!((q8.s[0] - q8.d[0] * sum as f32).abs() < 1e-2 * q8.s[0].abs());
    let mut q8k = Q8KBlocks::default();
    q8k.quantize(&x);
    // The value of largest magnitude (-8.0) maps to -127 (iscale = -127 / -8.0), d = 1/iscale.
    assert_eq!(q8k.qs[0], -127);
    assert!((q8k.d[0] - 8.0 / 127.0).abs() < 1e-7);
    // A positive extreme also maps to -127: the scale turns negative.
    let mut pos = Q8KBlocks::default();
    pos.quantize(&x.iter().map(|v| -v).collect::<Vec<_>>());
    assert_eq!((pos.qs[0], pos.d[0] < 0.0), (-127, true));
    assert_eq!(
        q8k.bsums[0],
        q8k.qs[..16].iter().map(|&q| q as i16).sum::<i16>()
    );
    let mut zero = Q8KBlocks::default();
    zero.quantize(&[0.0; 256]);
    assert_eq!((zero.d[0], zero.qs[5]), (0.0, 0));
}

#[test]
fn f16_rounding_on_the_detected_isa_is_halfs() {
    let mut x = values(1003, 5);
    // Ties, subnormals, overflow, signed zero.
    x.extend([1.0 + 1.0 / 2048.0, 6e-8, -3e-6, 65520.0, 1e9, -0.0, 0.5]);
    let want: Vec<f32> = x.iter().map(|v| half::f16::from_f32(*v).to_f32()).collect();
    let mut got = x.clone();
    round_f16(Isa::detect(), &mut got);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{}: {} → {g} vs {w}", i, x[i]);
    }
}

#[test]
fn activation_rounding_is_roundf_and_rint() {
    // Every quarter step over the range activations are scaled to, and values just off the
    // ties.
    let mut x: Vec<f32> = (-600..=600).map(|i| i as f32 / 4.0).collect();
    for i in -130..=130 {
        let t = i as f32 + 0.5;
        x.extend([
            t,
            f32::from_bits(t.to_bits() - 1),
            f32::from_bits(t.to_bits() + 1),
        ]);
    }
    for v in x {
        let mut q8 = Q8Blocks::default();
        let mut block = [0f32; QK];
        block[0] = 127.0; // d = 1: the values are quantised as they are
        block[1] = v.clamp(-127.0, 127.0);
        q8.quantize(&block);
        assert_eq!(q8.qs[1] as f32, block[1].round(), "{v}");
        let mut q8k = Q8KBlocks::default();
        let mut sb = [0f32; QK_K];
        sb[0] = -127.0; // iscale = 1
        sb[1] = v.clamp(-127.0, 127.0);
        q8k.quantize(&sb);
        assert_eq!(q8k.qs[1] as f32, sb[1].round_ties_even(), "{v}");
    }
}

#[test]
fn attention_kernels_equal_one_product_per_row() {
    let isa = Isa::detect();
    for (hd, rows) in [(64, 0), (64, 1), (64, 9), (128, 5), (40, 6)] {
        let stride = 3 * hd * 2 + 6; // other heads between the rows, and an odd gap
        let mut cache = vec![0u8; rows.max(1) * stride];
        to_f16(&values(cache.len() / 2, 3), &mut cache);
        let q: Vec<f32> = values(hd, 4);
        let mut got = vec![0f32; rows];
        attn_scores(isa, &q, &cache, stride, 0.125, &mut got);
        for (j, g) in got.iter().enumerate() {
            let want = dot(isa, QType::F16, &cache[j * stride..], Acts::F32(&q), hd) * 0.125;
            assert_eq!(g.to_bits(), want.to_bits(), "hd {hd} row {j}");
        }
        let w = values(rows, 5);
        let mut out = vec![1f32; hd];
        attn_values(isa, &w, &cache, stride, &mut out);
        let mut want = vec![0f32; hd];
        for (j, wj) in w.iter().enumerate() {
            axpy_f16(isa, &mut want, *wj, &cache[j * stride..j * stride + 2 * hd]);
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&want), "hd {hd}, {rows} rows");
    }
}
