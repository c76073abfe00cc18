//! Prefill and decode speed, time to first token and memory of Hearth's decoder on GGUF
//! files, printed as one JSON line per (file, threads) so `bench/llm.sh` can put them beside
//! llama.cpp's figures for the same files, prompt tokens and threads.
//!
//!     cargo bench -p hearth-llm --bench decode -- FILE.gguf [FILE.gguf …] [--threads 1,2]
//!         [--prompt 128] [--decode 128] [--window 2048]
//!
//! The prompt is token ids `1..=prompt` cycled over the vocabulary (the same ids llama.cpp is
//! given); decoding is greedy. RSS comes from `/proc/self/smaps_rollup` after the run:
//! `anon_kb` is private anonymous memory (heap: KV cache, scratch), `file_kb` resident file
//! pages (the mapped weights).

use hearth_llm::sample::argmax;
use hearth_llm::{Decoder, Pool, Scratch, Session};
use std::time::Instant;

fn rollup() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (rss, anon) = (field("Rss:"), field("Anonymous:"));
    (anon, rss.saturating_sub(anon))
}

fn main() {
    let mut files = Vec::new();
    let (mut threads, mut prompt, mut decode, mut window) =
        (vec![1usize, 2], 128usize, 128usize, 2048usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| {
            args.next()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{what} takes a number"))
        };
        match a.as_str() {
            "--threads" => {
                threads = args
                    .next()
                    .expect("--threads 1,2")
                    .split(',')
                    .map(|t| t.parse().expect("thread count"))
                    .collect();
            }
            "--prompt" => prompt = num("--prompt"),
            "--decode" => decode = num("--decode"),
            "--window" => window = num("--window"),
            "--bench" => {}
            f => files.push(f.to_string()),
        }
    }
    assert!(
        !files.is_empty(),
        "usage: decode FILE.gguf [FILE…] [--threads 1,2] [--prompt N] [--decode N] [--window N]"
    );
    for f in &files {
        let dec = Decoder::open(std::path::Path::new(f)).unwrap_or_else(|e| panic!("{e}"));
        let vocab = dec.weights.vocab as u32;
        let ids: Vec<u32> = (0..prompt as u32).map(|i| 1 + i % (vocab - 1)).collect();
        for &t in &threads {
            let pool = Pool::new(t);
            let mut session = Session::new(&dec.cfg, window);
            let mut scratch = Scratch::default();
            // Warm-up: fault the weights in, size the buffers.
            dec.forward(
                &pool,
                &mut session,
                &mut scratch,
                &ids[..8.min(ids.len())],
                false,
            );
            session.len = 0;
            let t0 = Instant::now();
            let mut next = argmax(dec.forward(&pool, &mut session, &mut scratch, &ids, false));
            let prefill = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            for _ in 0..decode {
                next = argmax(dec.forward(&pool, &mut session, &mut scratch, &[next], false));
            }
            let dec_s = t1.elapsed().as_secs_f64();
            let (anon, file) = rollup();
            println!(
                "{{\"engine\":\"hearth\",\"file\":{:?},\"isa\":{:?},\"threads\":{t},\"prompt\":{prompt},\"decode\":{decode},\"prefill_tok_s\":{:.1},\"decode_tok_s\":{:.1},\"ttft_ms\":{:.1},\"anon_kb\":{anon},\"file_kb\":{file}}}",
                std::path::Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                dec.isa.name(),
                prompt as f64 / prefill,
                decode as f64 / dec_s,
                prefill * 1000.0,
            );
        }
    }
}
