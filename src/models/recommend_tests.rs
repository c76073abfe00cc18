//! Tests of `recommend` on the three reference boards, with a cgroup limit, and on this
//! machine.

use super::*;
use crate::models::manifest::manifests;

const REQUANTISE: EstimateOptions = EstimateOptions { requantize: true };

fn advise(board: &Board) -> Recommendation {
    recommend(board, manifests(), REQUANTISE)
}

#[test]
fn budgets_follow_the_headroom_rule() {
    let zero = budget(&Board::preset("pi-zero-2w").unwrap());
    assert_eq!(zero.os_reserve, OS_RESERVE_MIN);
    assert_eq!(zero.models, (432 - 96 - 128) * MIB);
    let pi4 = budget(&Board::preset("pi4-4gb").unwrap());
    assert_eq!(pi4.os_reserve, 3_791 * MIB / 8);
    assert_eq!(pi4.models, 3_791 * MIB - 3_791 * MIB / 8 - HEARTH_RESERVE);
    // A systemd MemoryMax= below what the OS leaves caps the budget.
    let limited = Board {
        limit_bytes: Some(1024 * MIB),
        ..Board::preset("pi5-8gb").unwrap()
    };
    assert_eq!(budget(&limited).models, (1024 - 128) * MIB);
    for name in PRESETS {
        assert!(Board::preset(name).is_some(), "{name}");
    }
    assert!(Board::preset("pi-3").is_none());
}

#[test]
fn pi_zero_2w_runs_only_smollm2_135m_and_only_without_requantisation() {
    let r = advise(&Board::preset("pi-zero-2w").unwrap());
    assert_eq!(r.names(Verdict::Fits), ["smollm2-135m-instruct"]);
    assert!(r.names(Verdict::Slow).is_empty());
    let smol = &r.models[0];
    assert!(smol.needs_no_requantize, "{smol:?}");
    assert_eq!(smol.ram.weights, 98_362_432);
    // Every other LLM of the catalogue stays remote; the embedder is not advised on.
    assert_eq!(r.names(Verdict::Remote).len(), 8);
    assert!(r.models.iter().all(|a| a.name != "all-minilm-l6-v2"));
}

#[test]
fn pi4_4gb_runs_the_sub_1b_models_and_keeps_qwen3_4b_remote() {
    let r = advise(&Board::preset("pi4-4gb").unwrap());
    assert_eq!(
        r.names(Verdict::Fits),
        [
            "smollm2-135m-instruct",
            "gemma-3-1b-it",
            "llama-3.2-1b-instruct",
            "qwen3-0.6b"
        ]
    );
    assert_eq!(
        r.names(Verdict::Slow),
        [
            "qwen2.5-1.5b-instruct",
            "smollm2-1.7b-instruct",
            "qwen3-1.7b",
            "llama-3.2-3b-instruct"
        ]
    );
    assert_eq!(r.names(Verdict::Remote), ["qwen3-4b"]);
    // Requantised SmolLM2-135M fits here, so no note.
    assert!(!r.models[0].needs_no_requantize);
}

#[test]
fn pi5_8gb_runs_everything_and_the_3b_and_4b_slowly() {
    let r = advise(&Board::preset("pi5-8gb").unwrap());
    assert!(r.names(Verdict::Remote).is_empty());
    assert_eq!(
        r.names(Verdict::Slow),
        ["llama-3.2-3b-instruct", "qwen3-4b"]
    );
    assert_eq!(r.names(Verdict::Fits).len(), 7);
    assert!(r.names(Verdict::Fits).contains(&"qwen3-1.7b"));
    // Dot-product kernels double the estimated speed of a Pi 4.
    let pi4 = advise(&Board::preset("pi4-4gb").unwrap());
    let speed = |r: &Recommendation, n: &str| {
        r.models
            .iter()
            .find(|a| a.name == n)
            .unwrap()
            .tokens_per_sec
    };
    assert!((speed(&r, "qwen3-0.6b") / speed(&pi4, "qwen3-0.6b") - 2.0).abs() < 1e-9);
}

#[test]
fn a_memory_limit_moves_models_to_remote() {
    let board = Board {
        limit_bytes: Some(1024 * MIB),
        ..Board::preset("pi5-8gb").unwrap()
    };
    let r = advise(&board);
    assert_eq!(
        r.names(Verdict::Fits),
        ["smollm2-135m-instruct", "gemma-3-1b-it"]
    );
    assert_eq!(r.names(Verdict::Remote).len(), 7);
}

#[test]
fn this_machine_gets_advice_for_every_catalogue_llm() {
    let board = crate::models::this_board().unwrap();
    assert!(board.ram_bytes > 64 * MIB, "{board:?}");
    assert!(board.cores >= 1 && !board.name.is_empty(), "{board:?}");
    let r = advise(&board);
    assert_eq!(r.models.len(), 9, "{r:?}");
    let b = r.budget;
    assert!(
        b.models + b.os_reserve + b.hearth_reserve
            <= board.ram_bytes.max(b.os_reserve + b.hearth_reserve)
    );
    // The order is by verdict, then by need.
    for pair in r.models.windows(2) {
        assert!(
            (pair[0].verdict, pair[0].ram.total()) <= (pair[1].verdict, pair[1].ram.total()),
            "{pair:?}"
        );
    }
}
