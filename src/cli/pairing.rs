//! `hearth pairing list|approve|reject`: answer the pairing requests of unknown senders on
//! the channels (OpenClaw's DM pairing, <https://docs.openclaw.ai/channels/pairing>),
//! through the running gateway.

use super::Remote;
use super::talk::connect;
use crate::config::Config;
use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::Path;

/// `hearth pairing …`.
#[derive(Debug, Subcommand)]
pub enum PairingCmd {
    /// Pending requests: channel, sender, code, minutes left.
    List {
        /// Only this channel (`telegram`, …).
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Let the sender who was given CODE chat with the agent.
    Approve {
        /// The channel (`telegram`, …).
        channel: String,
        /// The 8-character code the sender got.
        code: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Drop the request with CODE.
    Reject {
        /// The channel.
        channel: String,
        /// The code.
        code: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn describe(r: &Value) -> String {
    format!(
        "{}/{} sender {} ({})",
        r["channel"].as_str().unwrap_or("?"),
        r["account"].as_str().unwrap_or("?"),
        r["peer"].as_str().unwrap_or("?"),
        r["name"].as_str().unwrap_or("no name"),
    )
}

/// Runs `cmd`.
///
/// # Errors
/// The gateway's answer when it refuses (an unknown or expired code), or a connection error.
pub fn run(cmd: PairingCmd, cfg: &Config, dir: &Path) -> Result<()> {
    match cmd {
        PairingCmd::List { channel, remote } => {
            let v =
                connect(cfg, dir, &remote)?.request("pairing.list", json!({"channel": channel}))?;
            let reqs = v["requests"].as_array().cloned().unwrap_or_default();
            if reqs.is_empty() {
                println!("no pending pairing requests");
            }
            let now = crate::core::now_ms();
            for r in reqs {
                let left = r["expiresMs"].as_u64().unwrap_or(0).saturating_sub(now) / 60_000;
                println!(
                    "{}\t{}\t{left} min left",
                    r["code"].as_str().unwrap_or("?"),
                    describe(&r)
                );
            }
        }
        PairingCmd::Approve {
            channel,
            code,
            remote,
        } => decide(cfg, dir, &remote, "pairing.approve", &channel, &code)?,
        PairingCmd::Reject {
            channel,
            code,
            remote,
        } => decide(cfg, dir, &remote, "pairing.reject", &channel, &code)?,
    }
    Ok(())
}

fn decide(
    cfg: &Config,
    dir: &Path,
    remote: &Remote,
    method: &str,
    channel: &str,
    code: &str,
) -> Result<()> {
    let v =
        connect(cfg, dir, remote)?.request(method, json!({"channel": channel, "code": code}))?;
    let verb = if v["approved"] == true {
        "approved"
    } else {
        "rejected"
    };
    println!("{verb} {}", describe(&v["request"]));
    Ok(())
}
