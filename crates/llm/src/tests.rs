//! The forward pass on the real SmolLM2-135M file against candle-transformers' quantized
//! llama on the same file (the reference until the llama.cpp fixtures land), and the
//! portable kernels against the SIMD ones.

use super::sample::argmax;
use super::*;
use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

/// A ChatML prompt's token ids (SmolLM2 vocabulary).
const PROMPT: [u32; 24] = [
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
    19712, 8182, 2, 198, 1, 4093, 198,
];

/// Greedy decoding of `steps` tokens after `PROMPT`, and the prompt's last logits.
fn greedy_mine(dec: &Decoder, steps: usize) -> (Vec<f32>, Vec<u32>) {
    let pool = Pool::new(1);
    let mut session = Session::new(&dec.cfg, 256);
    let mut scratch = Scratch::default();
    let first = dec
        .forward(&pool, &mut session, &mut scratch, &PROMPT, false)
        .to_vec();
    let mut out = vec![argmax(&first)];
    for _ in 1..steps {
        let l = dec.forward(
            &pool,
            &mut session,
            &mut scratch,
            &[*out.last().expect("one")],
            false,
        );
        out.push(argmax(l));
    }
    (first, out)
}

#[test]
fn smollm2_matches_candles_quantized_llama() {
    let path = test_model();
    let dec = Decoder::open(&path).expect("open");
    assert_eq!(
        (dec.cfg.family, dec.cfg.n_layer, dec.weights.vocab),
        (Family::Llama, 30, 49152)
    );
    let (mine, mine_tokens) = greedy_mine(&dec, 16);

    let mut f = std::fs::File::open(&path).expect("file");
    let content = Content::read(&mut f).expect("gguf");
    let mut model = ModelWeights::from_gguf(content, &mut f, &Device::Cpu).expect("candle model");
    let logits = |m: &mut ModelWeights, ids: &[u32], pos: usize| -> Vec<f32> {
        let x = Tensor::new(ids, &Device::Cpu)
            .expect("ids")
            .unsqueeze(0)
            .expect("batch");
        m.forward(&x, pos)
            .expect("forward")
            .squeeze(0)
            .expect("row")
            .to_vec1()
            .expect("vec")
    };
    let theirs = logits(&mut model, &PROMPT, 0);
    let mut their_tokens = vec![argmax(&theirs)];
    for i in 1..16 {
        let l = logits(
            &mut model,
            &[*their_tokens.last().expect("one")],
            PROMPT.len() + i - 1,
        );
        their_tokens.push(argmax(&l));
    }
    let diff = mine
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // Both quantise activations to 8 bits per layer, in different orders and roundings, and
    // the small differences grow over 30 layers (0.81 measured on logits up to ~35); a wrong
    // kernel or layout shows as differences of tens.
    assert!(diff < 1.5, "last-position logits differ by up to {diff}");
    assert_eq!(mine_tokens, their_tokens, "greedy continuation");
}

#[test]
fn portable_and_simd_kernels_agree_on_the_real_model() {
    let mut dec = Decoder::open(&test_model()).expect("open");
    let (fast, fast_tokens) = greedy_mine(&dec, 8);
    dec.isa = quant::Isa::Scalar;
    let (slow, slow_tokens) = greedy_mine(&dec, 8);
    let diff = fast
        .iter()
        .zip(&slow)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // Same sums in another order: activations that round to the other side of a quantisation
    // step compound over 30 layers (0.92 measured).
    assert!(
        diff < 1.5,
        "{} vs scalar: logits differ by up to {diff}",
        quant::Isa::detect().name()
    );
    assert_eq!(fast_tokens, slow_tokens);
}

#[test]
fn two_threads_compute_what_one_does() {
    let dec = Decoder::open(&test_model()).expect("open");
    let mut out = Vec::new();
    for threads in [1, 2] {
        let pool = Pool::new(threads);
        let mut session = Session::new(&dec.cfg, 64);
        let mut scratch = Scratch::default();
        out.push(
            dec.forward(&pool, &mut session, &mut scratch, &PROMPT, true)
                .to_vec(),
        );
    }
    assert_eq!(
        out[0].len(),
        PROMPT.len() * dec.weights.vocab,
        "logits of every position"
    );
    assert_eq!(out[0], out[1], "row splits do not change any sum");
}

#[test]
fn a_continued_session_equals_one_long_prompt() {
    let dec = Decoder::open(&test_model()).expect("open");
    let pool = Pool::new(1);
    let mut scratch = Scratch::default();
    let mut whole = Session::new(&dec.cfg, 64);
    let all = dec
        .forward(&pool, &mut whole, &mut scratch, &PROMPT, false)
        .to_vec();
    let mut parts = Session::new(&dec.cfg, 64);
    dec.forward(&pool, &mut parts, &mut scratch, &PROMPT[..10], false);
    let rest = dec
        .forward(&pool, &mut parts, &mut scratch, &PROMPT[10..], false)
        .to_vec();
    assert_eq!(parts.len, PROMPT.len());
    let diff = all
        .iter()
        .zip(&rest)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-3, "KV reuse changes logits by {diff}");
}
