//! `hearth models list|pull|recommend`: what is installed, downloads with a progress bar,
//! and which models suit this board.

use crate::config::{Config, Requantize};
use crate::daemon::build;
use crate::models::{
    self, Board, EstimateOptions, Hub, ModelRef, Progress, PullOptions, RefOptions, Verdict,
};
use anyhow::{Result, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// `hearth models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCmd {
    /// List known models (the catalogue and models pulled by URL) and whether they are
    /// installed.
    List,
    /// Download models (resumable, sha256-checked): catalogue names, `hf:org/repo/file.gguf`
    /// (also `hf:org/repo@revision/file.gguf`; checked against the sha256 the Hugging Face
    /// Hub publishes), or `https://…/file.gguf` with `--sha256`.
    Pull {
        /// Model names (see `hearth models list`), hf: references or URLs.
        #[arg(required = true)]
        names: Vec<String>,
        /// Re-hash installed files and fetch them again on a mismatch.
        #[arg(long)]
        verify: bool,
        /// Mirror laid out like a models directory (`<URL>/<model>/<file>`), tried first.
        #[arg(long, value_name = "URL", env = "HEARTH_MODEL_MIRROR")]
        mirror: Option<String>,
        /// The sha256 the file must have (required for a plain URL; checked against the
        /// Hub's for an hf: reference). One reference only.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Name to install a URL or hf: model under (default: the file name without
        /// `.gguf`, lower-cased). One reference only.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Say which models fit this board's RAM and CPU, which fit but run slowly, and which to
    /// keep on a remote provider.
    Recommend {
        /// Pretend the board has this much RAM (bytes; K, M, G suffixes are powers of 1024)
        /// and no memory limit.
        #[arg(long, value_name = "BYTES")]
        ram: Option<String>,
        /// Pretend to be a reference board: pi-zero-2w, pi4-4gb or pi5-8gb.
        #[arg(long, value_name = "NAME")]
        board: Option<String>,
    },
}

/// Runs a models subcommand.
///
/// # Errors
/// Download, checksum or I/O failures, with the file and source named; unusable flags.
pub fn run(cmd: ModelsCmd, cfg: &Config, data_dir: &Path) -> Result<()> {
    let dir = build::models_dir(cfg, data_dir);
    match cmd {
        ModelsCmd::List => {
            println!("models dir: {}", dir.display());
            for st in models::list(&dir) {
                let m = models::find_in(&dir, &st.name);
                let state = if st.installed {
                    "installed".to_string()
                } else {
                    format!("missing: {}", st.missing.join(", "))
                };
                println!(
                    "{:<24} {:<9} {:>8.1} MiB  {}  ({}){}",
                    st.name,
                    st.kind.as_str(),
                    st.bytes_on_disk as f64 / 1048576.0,
                    state,
                    m.as_ref().map(|m| m.licence.as_str()).unwrap_or("?"),
                    match build::missing_feature(st.kind) {
                        Some(f) => format!("  [this build cannot run it: no `{f}`]"),
                        None => String::new(),
                    }
                );
            }
            Ok(())
        }
        ModelsCmd::Pull {
            names,
            verify,
            mirror,
            sha256,
            name,
        } => {
            let ref_opts = RefOptions { sha256, name };
            if names.len() > 1 && ref_opts != RefOptions::default() {
                bail!("--sha256 and --name apply to one model at a time");
            }
            let opts = PullOptions {
                verify_existing: verify,
                mirror,
                hub: Hub::from_env(),
                ..PullOptions::default()
            };
            for text in &names {
                let reference = ModelRef::parse(text, &opts.hub)?;
                let kind = match &reference {
                    ModelRef::Name(n) => models::find_in(&dir, n).map(|m| m.kind),
                    _ => Some(models::Kind::Llm),
                };
                if let Some(f) = kind.and_then(build::missing_feature) {
                    eprintln!(
                        "note: this build cannot run {text} (built without `{f}`); pulling it anyway"
                    );
                }
                let mut bar = Bar(None);
                let got = models::pull_ref(&dir, &reference, &ref_opts, &opts, &mut bar)?;
                println!("installed {}: {}", got.name, got.path.display());
                if let Some(note) = &got.note {
                    println!("  note: {note}");
                }
                if !matches!(reference, ModelRef::Name(_)) {
                    println!(
                        "  sha256 {} verified; name it in a model chain as local/{}",
                        got.sha256, got.name
                    );
                }
            }
            Ok(())
        }
        ModelsCmd::Recommend { ram, board } => {
            let mut board = match &board {
                Some(name) => Board::preset(name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown board {name:?}; known: {}",
                        models::PRESETS.join(", ")
                    )
                })?,
                None => models::this_board()?,
            };
            if let Some(text) = &ram {
                board.ram_bytes = parse_bytes(text)?;
                board.limit_bytes = None;
            }
            let opts = EstimateOptions {
                requantize: cfg.local.requantize == Requantize::Q8_0,
            };
            recommend(&board, &dir, opts);
            Ok(())
        }
    }
}

/// Prints the advice for `board` over every model `dir` knows.
fn recommend(board: &Board, dir: &Path, opts: EstimateOptions) {
    let catalogue = models::catalogue(dir);
    let r = models::recommend(board, &catalogue, opts);
    let b = r.budget;
    println!(
        "board: {} ({} cores, int8 dot product: {})",
        board.name,
        board.cores,
        if board.dotprod { "yes" } else { "no" }
    );
    let limit = match board.limit_bytes {
        Some(l) => format!("cgroup limit {}", gib(l)),
        None => "no cgroup limit".to_owned(),
    };
    println!(
        "memory: {} RAM, {limit}: {} for a model (the OS keeps {}, Hearth {})",
        gib(board.ram_bytes),
        gib(b.models),
        gib(b.os_reserve),
        gib(b.hearth_reserve)
    );
    let installed: Vec<String> = models::list(dir)
        .into_iter()
        .filter(|s| s.installed)
        .map(|s| s.name)
        .collect();
    let sections = [
        (
            Verdict::Fits,
            format!(
                "fits (about {} tok/s or more):",
                models::SLOW_TOKENS_PER_SEC
            ),
        ),
        (
            Verdict::Slow,
            format!(
                "fits but slow (under {} tok/s):",
                models::SLOW_TOKENS_PER_SEC
            ),
        ),
        (
            Verdict::Remote,
            "keep on a remote provider (does not fit):".to_owned(),
        ),
    ];
    for (verdict, title) in sections {
        let rows: Vec<_> = r.models.iter().filter(|a| a.verdict == verdict).collect();
        if rows.is_empty() {
            continue;
        }
        println!("\n{title}");
        for a in rows {
            let mut notes = Vec::new();
            if installed.contains(&a.name) {
                notes.push("installed".to_owned());
            }
            if a.needs_no_requantize {
                notes.push("needs [local] requantize = \"none\"".to_owned());
            }
            if verdict != Verdict::Remote {
                notes.insert(0, format!("~{:.1} tok/s", a.tokens_per_sec));
            }
            let line = format!(
                "  {:<24} {:>8} = {}{} weights + {} KV   {}",
                a.name,
                gib(a.ram.total()),
                if a.ram.exact_weights { "" } else { "≈" },
                gib(a.ram.weights),
                gib(a.ram.kv_cache),
                notes.join(", ")
            );
            println!("{}", line.trim_end());
        }
        if verdict == Verdict::Remote {
            println!("  (run these on a [providers.NAME] listed in agent.model)");
        }
    }
    println!(
        "\nRAM: weights (≈: estimated from parameters until the model is pulled) plus a {}-token \
         f16 KV cache. Speeds are rough estimates of decoding.",
        models::KV_TOKENS
    );
}

/// `n` bytes as MiB or GiB with one decimal.
fn gib(n: u64) -> String {
    let mib = n as f64 / 1048576.0;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// Bytes from `4294967296`, `512M`, `4G`, `4GiB` (suffixes are powers of 1024).
fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => bail!("--ram {text:?}: use bytes, or a number with K, M or G"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("--ram {text:?}: not a number of bytes"))?;
    n.checked_mul(1 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("--ram {text:?}: out of range"))
}

/// Draws [`Progress`] with indicatif.
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn start(&mut self, file: &str, total_bytes: u64, already: u64) {
        let pb = ProgressBar::new(total_bytes);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(file.to_string());
        pb.set_position(already);
        self.0 = Some(pb);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(bytes);
        }
    }
    fn finish(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish();
        }
    }
    fn note(&mut self, msg: &str) {
        match &self.0 {
            Some(pb) => pb.println(msg),
            None => eprintln!("{msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("536870912").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes(" 8g ").unwrap(), 8 << 30);
        for bad in ["", "0", "4T", "x", "-1"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
