//! `hearth skills list`: every skill the main agent would see — name, source (workspace,
//! managed, bundled), available or why not, what shadows it — and the SKILL.md files that
//! failed to load, with file and line. Reads the files directly; no gateway needed.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::path::Path;
use std::sync::Arc;

/// `hearth skills …`.
#[derive(Debug, Subcommand)]
pub enum SkillsCmd {
    /// Skills, their source and availability, and the files that failed to load.
    List,
}

/// Runs `cmd` for the main agent's workspace under `dir`.
///
/// # Errors
/// The workspace cannot be opened, or skills are disabled.
pub fn run(cmd: SkillsCmd, cfg: &Config, dir: &Path) -> Result<()> {
    match cmd {
        SkillsCmd::List => {
            let root = crate::daemon::build::workspace_dir(cfg, dir);
            let ws = crate::workspace::Workspace::open(&root)
                .with_context(|| format!("opening the workspace {}", root.display()))?;
            let Some(setup) = crate::daemon::tools::skills(cfg, &Arc::new(ws), dir) else {
                bail!("skills are disabled ([skills] enabled = false)");
            };
            let cat = setup.catalog();
            for line in cat.list_lines() {
                println!("{line}");
            }
            for p in cat.problems() {
                println!("not loaded: {p}");
            }
        }
    }
    Ok(())
}
