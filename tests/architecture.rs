//! Architecture invariants enforced by scanning the source: who may import whom, as an
//! allow-list per module (ARCHITECTURE.md, "Architecture invariants" 8), and which
//! external crates stay inside one module.

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

/// Who may import whom (`crate::<module>`), as an allow-list: a module not listed here may
/// import `core` only, so a new module starts there. Test files (`tests.rs`, `tests/`)
/// build rigs from any module and are exempt.
const ALLOWED: &[(&str, &[&str])] = &[
    ("core", &[]),
    // `cron` checks schedules and time zones at load.
    ("config", &["core", "cron"]),
    ("storage", &["core"]),
    ("search", &[]),
    // `llm` holds the BERT forward pass and its kernels.
    ("embed", &["llm"]),
    // /proc/meminfo, cgroup v2 memory files and /proc/self/smaps: a leaf shared by `models`
    // (the board for `recommend`) and `provider` (the local model's load check and its
    // accounting), so neither imports the other.
    ("sysmem", &[]),
    // `llm` reads GGUF headers of pulled files; `sysmem` reads the board's RAM and limit.
    ("models", &["llm", "sysmem"]),
    // `llm` is the decoder crate (crates/llm, re-exported by lib.rs); `sysmem` for the
    // memory check at load and the mapped/resident/private report.
    ("provider", &["core", "llm", "sysmem"]),
    ("sandbox", &[]),
    // Race-free file access under the workspace root; imports nothing of Hearth.
    ("workspace", &[]),
    // `exec` runs its commands in the sandbox.
    // Skills are read through the workspace and offered as the `skill` tool.
    ("skills", &[]),
    ("tool", &["core", "sandbox", "workspace", "skills"]),
    // The MCP client: its servers' config, the tool-source trait, and provider::sse (the
    // SSE parser and the HTTP agent builder).
    ("mcp", &["core", "config", "tool", "provider"]),
    (
        "memory",
        &["core", "storage", "search", "embed", "tool", "workspace"],
    ),
    (
        "agent",
        &["core", "provider", "storage", "tool", "memory", "workspace"],
    ),
    // The approvals broker implements `tool::exec::Approvals`.
    ("router", &["core", "agent", "storage", "provider", "tool"]),
    ("channel", &["core", "config", "workspace"]),
    // `sysmem`: the process's resident set and open descriptors for `/metrics`.
    ("gateway", &["core", "router", "memory", "tool", "sysmem"]),
    // Cron and heartbeat: the timing rules (`cron`), turns through the dispatcher, and
    // HEARTBEAT.md through the workspace; `tool` for the id helper and the cron tool's trait.
    ("cron", &[]),
    (
        "scheduler",
        &["core", "router", "cron", "workspace", "tool"],
    ),
    // `update` reads the gateway's discovery file (daemon::discovery_path).
    ("update", &["core", "config", "daemon"]),
    ("service", &["core", "config", "update"]),
    // `onboard` and `import-openclaw`: they write a config (`config` validates it) with
    // `update`'s durable writes, jobs and approvals into the store (`cron`, `storage`), name
    // the service's paths (`service`), check that no gateway runs (`daemon`'s discovery
    // file), and make keys with `core`'s random source.
    (
        "setup",
        &[
            "core", "config", "cron", "storage", "service", "update", "daemon",
        ],
    ),
    ("daemon", &["*"]),
    ("cli", &["*"]),
    ("lib", &["*"]),
    ("main", &["*"]),
];

/// The module a file under `src/` belongs to (`gateway/ws.rs` → `gateway`).
fn module_of(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Every `crate::<module>` a line names that `module` may not import.
fn disallowed(module: &str, line: &str) -> Vec<String> {
    let allowed: &[&str] = ALLOWED
        .iter()
        .find(|(m, _)| *m == module)
        .map_or(&["core"], |(_, a)| a);
    if allowed.contains(&"*") {
        return Vec::new();
    }
    let mut bad = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        let target: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !target.is_empty() && target != module && !allowed.contains(&target.as_str()) {
            bad.push(target);
        }
    }
    bad
}

fn is_test_file(rel: &str) -> bool {
    rel.ends_with("/tests.rs") || rel.contains("/tests/")
}

#[test]
fn the_import_allow_list_catches_a_gateway_that_imports_storage() {
    assert_eq!(
        disallowed("gateway", "use crate::storage::Store;"),
        ["storage"]
    );
    assert_eq!(disallowed("gateway", "use crate::agent::Agent;"), ["agent"]);
    assert!(disallowed("gateway", "use crate::router::{Dispatcher, Follow};").is_empty());
    assert_eq!(
        disallowed("brand_new", "use crate::config::Config;"),
        ["config"]
    );
    assert!(disallowed("brand_new", "use crate::core::SessionKey;").is_empty());
    assert!(disallowed("daemon", "use crate::storage::Store;").is_empty());
}

#[test]
fn module_boundaries_hold() {
    let mut bad = Vec::new();
    for (rel, lines) in sources() {
        if is_test_file(&rel) {
            continue;
        }
        let module = module_of(&rel);
        for (n, line) in lines.iter().enumerate() {
            for target in disallowed(module, line) {
                bad.push(format!(
                    "src/{rel}:{}: {module} may not import crate::{target}",
                    n + 1
                ));
            }
        }
    }
    // External crates that belong to one module, or to none of some.
    let rules: &[(&str, &[&str])] = &[
        ("core/", &["tokio", "std::fs", "std::net"]),
        ("provider/", &["heed"]),
        ("tool/", &["heed", "candle"]),
        ("models/", &["heed", "candle"]),
        ("agent/", &["axum", "tokio::net", "heed", "candle", "ureq"]),
        ("router/", &["axum", "tokio::net", "heed", "candle", "ureq"]),
        ("embed/", &["heed", "anyhow"]),
        ("gateway/", &["heed", "candle"]),
        ("memory/", &["heed"]),
        ("search/", &["heed"]),
        ("channel/", &["heed", "candle", "axum", "anyhow"]),
    ];
    bad.extend(violations(rules));
    let owners: &[(&str, &[&str])] = &[
        ("agent/", &["anyhow"]),
        ("router/", &["anyhow"]),
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
        // Prompts are the CLI's; the setup engine only plans and writes.
        ("setup/", &["anyhow", "heed::", "axum", "dialoguer"]),
    ];
    bad.extend(violations(owners));
    // SQLite is a test reference: the binary reads OpenClaw's database with its own reader.
    for (rel, lines) in sources() {
        if !is_test_file(&rel) && lines.iter().any(|l| l.contains("rusqlite")) {
            bad.push(format!("src/{rel}: rusqlite is for tests only"));
        }
    }

    assert!(bad.is_empty(), "forbidden imports:\n{}", bad.join("\n"));
}

/// The files allowed to import candle: the tests that use it as a reference (its GGUF reader,
/// quantizer, BERT and erf). Nothing Hearth ships runs candle.
const CANDLE_OWNERS: &[&str] = &["provider/local/tests", "embed/tests"];

/// The files that may test cargo features: for the optional models (`local-llm`,
/// `embedder`) the module declarations, memory's adapter of the
/// embedder, the wiring in `daemon/build.rs` and the CLI's reports; for the channel adapters
/// (`telegram`, `mqtt`, …) their declarations in `channel/mod.rs` and their wiring in
/// `daemon/channels.rs`; the end-to-end test of the local model through the dispatcher
/// (declared in `router/mod.rs`). Everything else is the same in every build.
const FEATURE_GATES: &[&str] = &[
    "lib.rs",
    "provider/mod.rs",
    "memory/mod.rs",
    "daemon/build.rs",
    "cli/doctor.rs",
    "channel/mod.rs",
    "daemon/channels.rs",
    "router/mod.rs",
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
        // Embeddings are computed in one place.
        if text.contains("bert::") && !rel.starts_with("embed/") {
            bad.push(format!("src/{rel} runs BERT outside embed/"));
        }
        if text.contains("tantivy") && !rel.starts_with("search/") {
            bad.push(format!("src/{rel} uses tantivy (only search/ may)"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
