//! `hearth import-openclaw [DIR]` (see [`crate::setup::openclaw`]).

use super::Global;
use crate::setup::{Target, openclaw};
use clap::Args;
use std::path::PathBuf;

/// `hearth import-openclaw …`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The OpenClaw state directory (default: $OPENCLAW_STATE_DIR, else ~/.openclaw).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print the report and the config that would be written; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace an existing config (kept as .bak) and existing workspace files.
    #[arg(long)]
    force: bool,
    /// Where secret files go (default: `credentials/` beside the config).
    #[arg(long, value_name = "DIR")]
    credentials_dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the import.
///
/// # Errors
/// An unreadable OpenClaw directory (with file, line and column), a config that exists
/// without `--force`, a running gateway when jobs or approvals must go into its store, or
/// a write failure naming the file.
pub fn run(args: ImportArgs, global: &Global) -> anyhow::Result<()> {
    let target = Target::new(
        global.config.as_deref(),
        global.data_dir.as_deref(),
        args.credentials_dir.as_deref(),
    );
    let opts = openclaw::Options {
        dir: args.dir.unwrap_or_else(openclaw::default_dir),
        target,
        force: args.force,
    };
    let mut import = openclaw::plan(&opts)?;
    if args.dry_run {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&import.report)?);
        } else {
            print!("{}", import.report.render());
            println!("\n--- {} (not written) ---", opts.target.config.display());
            print!("{}", import.plan.toml);
            let names: Vec<&str> = import.plan.secrets.names().collect();
            println!(
                "--- {} secret file(s) in {} (not written): {} ---",
                names.len(),
                opts.target.credentials.display(),
                names.join(", ")
            );
        }
        return Ok(());
    }
    openclaw::write(&mut import, args.force)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&import.report)?);
    } else {
        print!("{}", import.report.render());
        println!("wrote {}", opts.target.config.display());
        if opts.target.systemd && !import.plan.secrets.is_empty() {
            println!("run `systemctl daemon-reload` so the service loads the new credentials");
        }
        println!(
            "check it with `hearth --config {} doctor`",
            opts.target.config.display()
        );
    }
    Ok(())
}
