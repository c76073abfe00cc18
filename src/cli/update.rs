//! `hearth update`: A/B updates from a signed manifest (see [`crate::update`]).

use crate::update::manifest::{self, Artifact, Manifest, PublicKey};
use crate::update::{
    self, ApplyOptions, DEFAULT_KEYS_DIR, DEFAULT_PREFIX, Layout, Outcome, Source, Supervision,
};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `hearth update [--from FILE|URL] | keygen | sign | status | rollback | commit`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UpdateArgs {
    #[command(subcommand)]
    cmd: Option<UpdateCmd>,
    /// The release's signed manifest: a file (binaries beside it) or an http(s) URL.
    #[arg(long, value_name = "FILE|URL")]
    from: Option<String>,
    #[command(flatten)]
    layout: LayoutArgs,
    #[command(flatten)]
    restart: RestartArgs,
    /// Directory of trusted public keys (*.pub, from `hearth update keygen`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_KEYS_DIR)]
    keys: PathBuf,
    /// Install the binary built for this target triple (default: this binary's own).
    #[arg(long, value_name = "TRIPLE", default_value = update::TARGET)]
    target: String,
    /// Seconds the new binary gets to report ready before it is rolled back.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    grace: u64,
    /// Accept a release older than the installed one.
    #[arg(long)]
    allow_downgrade: bool,
}

#[derive(Debug, Args, Clone)]
struct LayoutArgs {
    /// The A/B layout's directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PREFIX, global = true)]
    prefix: PathBuf,
}

#[derive(Debug, Args, Clone)]
struct RestartArgs {
    /// Shell command that restarts the gateway (default under systemd:
    /// `systemctl restart hearth.service`).
    #[arg(long, value_name = "CMD")]
    restart_cmd: Option<String>,
}

#[derive(Debug, Subcommand)]
enum UpdateCmd {
    /// Generate a signing key pair: DIR/hearth-update.key (secret) and .pub.
    Keygen {
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// Sign a release: copy the binaries into DIR and write DIR/manifest.json.
    Sign {
        /// The secret key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The release version, SemVer (`1.2.0`, `1.2.0-rc1`).
        #[arg(long, value_name = "V")]
        release: String,
        /// A binary: TRIPLE=PATH (repeat for each target).
        #[arg(long = "binary", value_name = "TRIPLE=PATH", required = true)]
        binaries: Vec<String>,
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Show the slots, the update on trial and the last attempt.
    Status,
    /// Go back to the previous slot (or, with --if-trial, only undo an update on trial).
    Rollback {
        /// Only roll back an update that is on trial; otherwise do nothing.
        #[arg(long)]
        if_trial: bool,
        /// Restart the gateway afterwards (implied by --restart-cmd).
        #[arg(long)]
        restart: bool,
        #[command(flatten)]
        restart_args: RestartArgs,
        /// Seconds to wait for the old binary to report ready after the restart.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        wait: u64,
    },
    /// Confirm an update on trial once the gateway runs it and reports ready.
    Commit {
        /// Seconds to wait for ready.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        wait: u64,
    },
}

fn say(line: &str) {
    println!("{line}");
}

fn restart_cmd(a: &RestartArgs) -> anyhow::Result<String> {
    match &a.restart_cmd {
        Some(c) => Ok(c.clone()),
        None if crate::service::systemd_running() => Ok(update::SYSTEMD_RESTART.to_string()),
        None => {
            bail!("systemd is not running here: say how to restart the gateway with --restart-cmd")
        }
    }
}

/// Runs an `update` command; `data_dir` is where the gateway writes `gateway.json`.
///
/// # Errors
/// What failed; a refused or rolled-back update is an error (exit 1).
pub fn run(args: UpdateArgs, data_dir: &Path) -> anyhow::Result<()> {
    let layout = Layout::new(&args.layout.prefix);
    match args.cmd {
        Some(UpdateCmd::Keygen { out }) => keygen(&out),
        Some(UpdateCmd::Sign {
            key,
            release,
            binaries,
            out,
        }) => sign(&key, &release, &binaries, &out),
        Some(UpdateCmd::Status) => {
            print!(
                "{}",
                crate::service::status(Path::new("/"), &args.layout.prefix)
            );
            Ok(())
        }
        Some(UpdateCmd::Rollback {
            if_trial,
            restart,
            restart_args,
            wait,
        }) => {
            // Naming a restart command asks for the restart as well.
            let sup = if restart || restart_args.restart_cmd.is_some() {
                Some(Supervision {
                    restart_cmd: restart_cmd(&restart_args)?,
                    data_dir: data_dir.to_path_buf(),
                    grace: Duration::from_secs(wait),
                })
            } else {
                None
            };
            let reason = if if_trial {
                "the service failed while the update was on trial (OnFailure)"
            } else {
                "rolled back by hand (hearth update rollback)"
            };
            update::rollback_now(&layout, if_trial, reason, sup.as_ref(), &mut say)?;
            Ok(())
        }
        Some(UpdateCmd::Commit { wait }) => {
            let sup = Supervision {
                restart_cmd: String::new(),
                data_dir: data_dir.to_path_buf(),
                grace: Duration::from_secs(wait),
            };
            update::commit_if_ready(&layout, &sup, &mut say)?;
            Ok(())
        }
        None => {
            let Some(from) = args.from else {
                bail!(
                    "say where the release is: hearth update --from FILE|URL (or see hearth update --help)"
                );
            };
            let trusted = PublicKey::load_dir(&args.keys)?;
            if trusted.is_empty() {
                bail!(
                    "no trusted update keys (*.pub) in {}; install the release signer's public key there",
                    args.keys.display()
                );
            }
            let opts = ApplyOptions {
                source: Source::parse(&from),
                trusted,
                target: args.target,
                allow_downgrade: args.allow_downgrade,
                supervision: Supervision {
                    restart_cmd: restart_cmd(&args.restart)?,
                    data_dir: data_dir.to_path_buf(),
                    grace: Duration::from_secs(args.grace),
                },
            };
            match update::apply(&layout, &opts, &mut say)? {
                Outcome::Committed { .. } | Outcome::AlreadyCurrent { .. } => Ok(()),
                Outcome::RolledBack { version, reason } => {
                    bail!("update to {version} rolled back: {reason}")
                }
            }
        }
    }
}

fn keygen(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let secret = out.join("hearth-update.key");
    let public = out.join("hearth-update.pub");
    if secret.exists() {
        bail!("{} exists; not overwriting a key", secret.display());
    }
    let (text, pk) = manifest::keygen()?;
    update::write_atomic(&secret, text.as_bytes(), 0o600)?;
    update::write_atomic(&public, format!("{}\n", pk.to_text()).as_bytes(), 0o644)?;
    println!("secret key: {} (keep it off the devices)", secret.display());
    println!(
        "public key: {} — install it on each device as {DEFAULT_KEYS_DIR}/<name>.pub",
        public.display()
    );
    println!("{}", pk.to_text());
    Ok(())
}

fn sign(key: &Path, version: &str, binaries: &[String], out: &Path) -> anyhow::Result<()> {
    let secret =
        std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut targets = BTreeMap::new();
    for b in binaries {
        let Some((triple, path)) = b.split_once('=') else {
            bail!("--binary {b:?}: expected TRIPLE=PATH");
        };
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read the binary {path}"))?;
        let file = format!("hearth-{version}-{triple}");
        update::write_atomic(&out.join(&file), &bytes, 0o755)?;
        targets.insert(
            triple.to_string(),
            Artifact {
                file,
                size: bytes.len() as u64,
                sha256: manifest::sha256_hex(&bytes),
            },
        );
    }
    let m = Manifest {
        version: version.to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        targets,
    };
    let env = manifest::sign(&m, &secret)?;
    let path = out.join("manifest.json");
    update::write_atomic(&path, env.as_bytes(), 0o644)?;
    println!("{}", path.display());
    Ok(())
}
