//! Memory honesty on the real SmolLM2-135M (`HEARTH_TEST_MODELS`; without it these fail): a
//! model that does not fit a (faked) cgroup limit is refused through `chat` with the
//! figures, and a loaded model's report separates the mapped file from its private heap.

use super::tests::{MODEL, chat, model_path, options, request};
use super::*;
use crate::core::{ChatMessage, Role};
use crate::sysmem::CgroupMemory;

const MIB: u64 = 1 << 20;

/// Anonymous (private, not file-backed) memory of this process, in bytes.
fn anonymous_bytes() -> u64 {
    crate::sysmem::rollup().expect("smaps_rollup").anonymous
}

#[test]
fn a_model_over_the_cgroup_limit_is_refused_with_the_figures() {
    let mut p = LocalProvider::new(options(model_path(), 2048));
    // systemd's MemoryMax=128M with 100 MiB in use: 28 MiB left, far below the weights.
    p.fake_limits = Some(MemoryLimits {
        mem_available: 16 << 30,
        cgroup: Some(CgroupMemory {
            dir: "/sys/fs/cgroup/system.slice/hearth.service".into(),
            max: 128 * MIB,
            current: 100 * MIB,
            reclaimable: 0,
        }),
    });
    let msgs = [ChatMessage::text(Role::User, "Hi")];
    let (r, deltas) = chat(&p, &request(&msgs, &[], 4));
    let Err(ProviderError::Local(msg)) = r else {
        panic!("expected a refusal, got {r:?}");
    };
    assert!(deltas.is_empty());
    assert!(
        msg.starts_with(&format!("{MODEL}: needs ~")),
        "the refusal names the model: {msg}"
    );
    for part in [
        "(weights 93.8 MiB + KV cache 45.0 MiB for 2048 tokens + ",
        " MiB working memory) but 28.0 MiB is available (MemoryMax 128.0 MiB, 100.0 MiB in use); \
         use a smaller model or a smaller [local] context_window",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    // Nothing stayed loaded, and the chain's failover sees an ordinary provider error.
    assert_eq!(p.loaded_model(), None);
    assert_eq!(p.memory(), None);
    assert_eq!(ProviderError::Local(msg).kind(), "local");

    // The same model fits once the limit leaves room for it.
    p.fake_limits = Some(MemoryLimits {
        mem_available: 16 << 30,
        cgroup: Some(CgroupMemory {
            dir: "/sys/fs/cgroup/system.slice/hearth.service".into(),
            max: 512 * MIB,
            current: 100 * MIB,
            reclaimable: 0,
        }),
    });
    let (r, _) = chat(&p, &request(&msgs, &[], 4));
    r.expect("fits in 412 MiB");
    assert_eq!(p.loaded_model().as_deref(), Some(MODEL));
}

#[test]
fn the_report_separates_mapped_weights_from_private_heap() {
    let p = LocalProvider::new(options(model_path(), 2048));
    assert_eq!(p.memory(), None, "nothing is loaded before the first call");
    let anon0 = anonymous_bytes();
    let msgs = [ChatMessage::text(
        Role::User,
        "What is the capital of France?",
    )];
    chat(&p, &request(&msgs, &[], 16)).0.expect("answers");
    let anon1 = anonymous_bytes();
    let m = p.memory().expect("a model is loaded");
    let file_len = std::fs::metadata(model_path()).expect("model").len();
    eprintln!(
        "{m:#?}\nprocess anonymous memory +{:.1} MiB after load and one turn; counted private {:.1} MiB",
        anon1.saturating_sub(anon0) as f64 / MIB as f64,
        m.private_bytes as f64 / MIB as f64
    );
    assert_eq!(m.name, MODEL);
    assert_eq!(
        m.file,
        std::fs::canonicalize(model_path()).expect("canonical")
    );
    // smaps counts whole pages (4 KiB here, 16 KiB on some arm64 kernels).
    assert!(
        (file_len..file_len + 65536).contains(&m.mapped_bytes),
        "mapped {} of {file_len}",
        m.mapped_bytes
    );
    // One decode step reads every matrix: most of the file is resident, as file pages.
    assert!(
        m.resident_bytes > file_len * 8 / 10,
        "resident {} of {file_len}",
        m.resident_bytes
    );
    assert_eq!(m.mapping_anonymous_bytes, 0, "weights were copied on write");
    // SmolLM2-135M: 30 layers × 3 KV heads × 64 × 2 (K, V) × 2 bytes × 2048 tokens.
    assert_eq!(m.kv_cache_bytes, 30 * 3 * 64 * 2 * 2 * 2048);
    assert_eq!(m.kv_tokens, 2048);
    assert!(m.scratch_bytes > 0 && m.tokenizer_bytes > 0 && m.weights_heap_bytes > 0);
    assert_eq!(
        m.private_bytes,
        m.weights_heap_bytes + m.kv_cache_bytes + m.scratch_bytes + m.tokenizer_bytes
    );
    // The private heap is the KV cache and small change, never the weights.
    assert!(
        m.private_bytes < m.kv_cache_bytes + 16 * MIB,
        "private {} B",
        m.private_bytes
    );
    assert_eq!(p.loaded_models(), vec![m]);
    p.unload();
    assert_eq!(p.memory(), None);
    assert!(p.loaded_models().is_empty());
}
