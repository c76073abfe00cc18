//! `hearth service install|uninstall|status` (see [`crate::service`]).

use crate::service::{self, InstallOptions};
use crate::update::DEFAULT_PREFIX;
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;

/// `hearth service …`.
#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Install Hearth as a systemd service in the A/B layout and enable it.
    Install {
        /// Write into this root file system instead of / (offline, e.g. an image being built).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The A/B layout's directory, as seen inside that system.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_PREFIX)]
        prefix: PathBuf,
        /// The binary to install (default: this one). Its version is recorded only when it
        /// is this binary, unless --binary-version says it.
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
        /// The version of --binary.
        #[arg(long, value_name = "V")]
        binary_version: Option<String>,
        /// Do not enable the unit.
        #[arg(long)]
        no_enable: bool,
        /// Do not start it now.
        #[arg(long)]
        no_start: bool,
    },
    /// Stop, disable and remove the service and its A/B layout.
    Uninstall {
        /// Root file system (default /).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The A/B layout's directory.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_PREFIX)]
        prefix: PathBuf,
        /// Also remove the state (/var/lib/hearth) and the configuration (/etc/hearth).
        #[arg(long)]
        purge: bool,
    },
    /// Show the unit, systemd's view of it, and the A/B slots.
    Status {
        /// Root file system (default /).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// The A/B layout's directory.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_PREFIX)]
        prefix: PathBuf,
    },
}

fn say(line: &str) {
    println!("{line}");
}

/// Runs a `service` command.
///
/// # Errors
/// What failed, with the path.
pub fn run(cmd: ServiceCmd) -> anyhow::Result<()> {
    match cmd {
        ServiceCmd::Install {
            root,
            prefix,
            binary,
            binary_version: version,
            no_enable,
            no_start,
        } => {
            let own = std::env::current_exe().context("cannot find this binary")?;
            let is_own = binary.is_none();
            let binary = binary.unwrap_or(own);
            let version = version.or_else(|| is_own.then(|| env!("CARGO_PKG_VERSION").to_string()));
            service::install(
                &InstallOptions {
                    root,
                    prefix,
                    binary,
                    version,
                    enable: !no_enable,
                    start: !no_start,
                },
                &mut say,
            )?;
            Ok(())
        }
        ServiceCmd::Uninstall {
            root,
            prefix,
            purge,
        } => Ok(service::uninstall(&root, &prefix, purge, &mut say)?),
        ServiceCmd::Status { root, prefix } => {
            print!("{}", service::status(&root, &prefix));
            Ok(())
        }
    }
}
