//! Architecture invariants enforced by scanning the source: who may import whom
//! (ARCHITECTURE.md, "Architecture invariants" 8). A rule names a module folder and the
//! paths its files must not mention.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source lines that are code (comments and doc comments dropped).
fn code(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read file")
        .lines()
        .map(|l| l.split("//").next().unwrap_or("").to_string())
        .collect()
}

/// Every source file under `src/` as (path relative to `src/`, code lines).
fn sources() -> Vec<(String, Vec<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .map(|f| {
            let rel = f
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, code(f))
        })
        .collect()
}

fn violations(rules: &[(&str, &[&str])]) -> Vec<String> {
    let mut bad = Vec::new();
    for (rel, lines) in sources() {
        for (module, forbidden) in rules {
            if !rel.starts_with(module) {
                continue;
            }
            for (n, line) in lines.iter().enumerate() {
                for word in *forbidden {
                    if line.contains(word) {
                        bad.push(format!(
                            "src/{rel}:{}: `{word}` is forbidden in {module}",
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    bad
}

#[test]
fn module_boundaries_hold() {
    let rules: &[(&str, &[&str])] = &[
        ("core/", &["crate::", "tokio", "std::fs", "std::net"]),
        (
            "config/",
            &[
                "crate::storage",
                "crate::provider",
                "crate::tool",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
            ],
        ),
        (
            "storage/",
            &[
                "crate::provider",
                "crate::tool",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "crate::config",
            ],
        ),
        (
            "provider/",
            &[
                "crate::storage",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "crate::tool",
                "heed",
            ],
        ),
        (
            "tool/",
            &[
                "crate::storage",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "crate::provider",
                "heed",
                "candle",
            ],
        ),
        (
            "models/",
            &[
                "crate::storage",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "heed",
                "candle",
            ],
        ),
        (
            "agent/",
            &[
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "axum",
                "tokio::net",
                "heed",
                "candle",
                "ureq",
            ],
        ),
        (
            "embed/",
            &[
                "crate::core",
                "crate::config",
                "crate::storage",
                "crate::provider",
                "crate::tool",
                "crate::models",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "heed",
                "anyhow",
            ],
        ),
        (
            "gateway/",
            &[
                "crate::daemon",
                "crate::cli",
                "crate::provider::local",
                "crate::provider::openai",
                "heed",
                "candle",
            ],
        ),
    ];
    let memory_rules: &[(&str, &[&str])] = &[
        (
            "memory/",
            &[
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "crate::provider",
                "heed",
            ],
        ),
        (
            "search/",
            &[
                "crate::storage",
                "crate::memory",
                "crate::agent",
                "crate::gateway",
                "crate::daemon",
                "crate::cli",
                "crate::embed",
                "heed",
            ],
        ),
    ];
    let mut bad = violations(rules);
    bad.extend(violations(memory_rules));
    // Crates that belong to one module only.
    let owners: &[(&str, &[&str])] = &[
        ("agent/", &["anyhow"]),
        ("gateway/", &["anyhow"]),
        ("daemon/", &["anyhow", "heed::"]),
        ("provider/", &["anyhow"]),
        ("tool/", &["anyhow"]),
        ("models/", &["anyhow"]),
        ("config/", &["anyhow"]),
        ("storage/", &["anyhow"]),
        (
            "cli/",
            &["heed::", "candle_core", "candle_nn", "candle_transformers"],
        ),
        ("memory/", &["anyhow"]),
        ("search/", &["anyhow"]),
    ];
    bad.extend(violations(owners));

    assert!(bad.is_empty(), "forbidden imports:\n{}", bad.join("\n"));
}

/// The modules allowed to import candle: the GGUF generator, the sentence embedder and the
/// CPU pool they share.
const CANDLE_OWNERS: &[&str] = &["provider/local/", "embed/", "compute.rs"];

/// The files that may test the optional models' cargo features (`local-llm`, `embedder`):
/// the module declarations, the shared CPU pool, memory's adapter of the embedder, the wiring
/// in `daemon/build.rs` and the CLI's reports. Everything else is the same in every build.
const FEATURE_GATES: &[&str] = &[
    "lib.rs",
    "provider/mod.rs",
    "compute.rs",
    "memory/mod.rs",
    "daemon/build.rs",
    "cli/doctor.rs",
];

#[test]
fn feature_gates_stay_at_module_boundaries() {
    let mut bad = Vec::new();
    for (rel, lines) in sources() {
        for (n, line) in lines.iter().enumerate() {
            if line.contains("feature = \"") && !FEATURE_GATES.contains(&rel.as_str()) {
                bad.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "cargo feature tests outside {FEATURE_GATES:?}:\n{}",
        bad.join("\n")
    );
}

#[test]
fn heed_candle_and_tantivy_stay_in_their_modules() {
    let mut bad = Vec::new();
    for (rel, lines) in sources() {
        let text = lines.join("\n");
        if text.contains("heed::") && !rel.starts_with("storage/") {
            bad.push(format!("src/{rel} uses heed"));
        }
        if ["candle_core", "candle_nn", "candle_transformers"]
            .iter()
            .any(|c| text.contains(c))
            && !CANDLE_OWNERS.iter().any(|m| rel.starts_with(m))
        {
            bad.push(format!("src/{rel} uses candle"));
        }
        // Embeddings are computed in one place: `provider/local/` runs candle for generation.
        if text.contains("models::bert") && !rel.starts_with("embed/") {
            bad.push(format!("src/{rel} runs BERT outside embed/"));
        }
        if text.contains("tantivy") && !rel.starts_with("search/") {
            bad.push(format!("src/{rel} uses tantivy (only search/ may)"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
