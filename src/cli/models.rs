//! `hearth models list|pull`: what is installed, and downloads with a progress bar.

use crate::config::Config;
use crate::daemon::build;
use crate::models::{self, Progress, PullOptions};
use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// `hearth models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCmd {
    /// List known models and whether they are installed.
    List,
    /// Download a model listed in models/*.toml (resumable, sha256-checked).
    Pull {
        /// Model names, e.g. smollm2-135m-instruct all-minilm-l6-v2.
        #[arg(required = true)]
        names: Vec<String>,
        /// Re-hash installed files and fetch them again on a mismatch.
        #[arg(long)]
        verify: bool,
        /// Mirror laid out like a models directory (`<URL>/<model>/<file>`), tried first.
        #[arg(long, value_name = "URL", env = "HEARTH_MODEL_MIRROR")]
        mirror: Option<String>,
    },
}

/// Runs a models subcommand.
///
/// # Errors
/// Download, checksum or I/O failures, with the file and source named.
pub fn run(cmd: ModelsCmd, cfg: &Config, data_dir: &Path) -> Result<()> {
    let dir = build::models_dir(cfg, data_dir);
    match cmd {
        ModelsCmd::List => {
            println!("models dir: {}", dir.display());
            for st in models::list(&dir) {
                let m = models::find(&st.name);
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
                    m.map(|m| m.licence.as_str()).unwrap_or("?"),
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
        } => {
            let opts = PullOptions {
                verify_existing: verify,
                mirror,
                ..PullOptions::default()
            };
            for name in &names {
                if let Some(f) = models::find(name).and_then(|m| build::missing_feature(m.kind)) {
                    eprintln!(
                        "note: this build cannot run {name} (built without `{f}`); pulling it anyway"
                    );
                }
                let mut bar = Bar(None);
                let path = models::pull(&dir, name, &opts, &mut bar)?;
                println!("installed {name}: {}", path.display());
            }
            Ok(())
        }
    }
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
