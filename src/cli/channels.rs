//! `hearth channels status` and `hearth message send`: the channels as an operator sees
//! them, through the running gateway.

use super::Remote;
use super::talk::connect;
use crate::config::Config;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::Path;

/// `hearth channels …`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCmd {
    /// Each channel account: connected, last poll, last message, last error, backlog, dead
    /// letters.
    Status {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hearth message send`.
#[derive(Debug, Args)]
pub struct MessageSend {
    /// The channel (`telegram`, …).
    #[arg(long)]
    channel: String,
    /// The recipient: a chat or user id on that platform.
    #[arg(long)]
    to: String,
    /// The text (markdown).
    text: String,
    #[command(flatten)]
    remote: Remote,
}

/// "12 s ago" for a timestamp in ms, "never" for none.
fn ago(ms: Option<u64>) -> String {
    match ms {
        None => "never".into(),
        Some(t) => {
            let s = crate::core::now_ms().saturating_sub(t) / 1000;
            if s < 120 {
                format!("{s} s ago")
            } else if s < 7200 {
                format!("{} min ago", s / 60)
            } else {
                format!("{} h ago", s / 3600)
            }
        }
    }
}

/// Runs `hearth channels …`.
///
/// # Errors
/// A connection error or the gateway's refusal.
pub fn run(cmd: ChannelsCmd, cfg: &Config, dir: &Path) -> Result<()> {
    let ChannelsCmd::Status { json, remote } = cmd;
    let v = connect(cfg, dir, &remote)?.request("channels.status", json!({}))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let list = v["channels"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no channels configured");
    }
    for c in list {
        let ms = |k: &str| c[k].as_u64();
        println!(
            "{}/{}: {} · last poll {} · last message {} · backlog {} · dead letters {}",
            c["channel"].as_str().unwrap_or("?"),
            c["account"].as_str().unwrap_or("?"),
            if c["connected"] == true {
                "connected"
            } else {
                "not connected"
            },
            ago(ms("lastOkMs")),
            ago(ms("lastMessageMs")),
            c["backlog"],
            c["deadLetters"],
        );
        if let Some(e) = c["lastError"].as_str() {
            println!("  last error ({}): {e}", ago(ms("lastErrorMs")));
        }
    }
    Ok(())
}

/// Runs `hearth message send`.
///
/// # Errors
/// A connection error or the gateway's refusal (unknown channel, empty text).
pub fn send(m: MessageSend, cfg: &Config, dir: &Path) -> Result<()> {
    let v: Value = connect(cfg, dir, &m.remote)?.request(
        "message.send",
        json!({"channel": m.channel, "to": m.to, "text": m.text}),
    )?;
    if v["queued"] == true {
        println!(
            "queued for {} {} (see `hearth channels status`)",
            m.channel, m.to
        );
    }
    Ok(())
}
