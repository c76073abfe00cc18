//! `hearth approvals list|resolve|export|import` and `hearth audit`: answer exec approval
//! requests, keep the allow-list document (OpenClaw's `exec-approvals.json` shape,
//! <https://docs.openclaw.ai/tools/exec-approvals>), and read the audit ledger, through the
//! running gateway.

use super::Remote;
use super::talk::connect;
use crate::config::Config;
use crate::core::{ApprovalsDoc, now_ms};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `hearth approvals …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// Requests waiting for a decision: id, command, why, who asked, minutes left.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Answer request ID with allow-once, allow-always or deny.
    Resolve {
        /// The request id.
        id: String,
        /// allow-once | allow-always | deny.
        decision: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print the allow-list document as JSON (or write it to FILE).
    Export {
        /// Where to write it; stdout when absent.
        file: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replace the allow-list document with FILE (Hearth's or OpenClaw's
    /// exec-approvals.json).
    Import {
        /// The JSON document.
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs `cmd`.
///
/// # Errors
/// A connection error, a document that does not parse (with its line and column), or the
/// gateway's refusal (an unknown or expired id).
pub fn run(cmd: ApprovalsCmd, cfg: &Config, dir: &Path) -> Result<()> {
    match cmd {
        ApprovalsCmd::List { remote } => {
            let v = connect(cfg, dir, &remote)?.request("exec.approval.list", json!({}))?;
            let pending = v["pending"].as_array().cloned().unwrap_or_default();
            if pending.is_empty() {
                println!("no approval requests are waiting");
            }
            let now = now_ms();
            for r in pending {
                let left = r["expiresAtMs"].as_u64().unwrap_or(0).saturating_sub(now) / 60_000;
                println!(
                    "{}\t{}\t{}\t{} via {}\t{left} min left",
                    r["id"].as_str().unwrap_or("?"),
                    r["command"].as_str().unwrap_or("?"),
                    r["reason"].as_str().unwrap_or(""),
                    r["agentId"].as_str().unwrap_or("?"),
                    r["requestedBy"].as_str().unwrap_or("?"),
                );
            }
        }
        ApprovalsCmd::Resolve {
            id,
            decision,
            remote,
        } => {
            let params = json!({"id": id, "decision": decision});
            connect(cfg, dir, &remote)?.request("exec.approval.resolve", params)?;
            println!("{decision} submitted for {id}");
        }
        ApprovalsCmd::Export { file, remote } => {
            let v = connect(cfg, dir, &remote)?.request("exec.approvals.get", json!({}))?;
            let text = serde_json::to_string_pretty(&v["file"])? + "\n";
            match file {
                Some(f) => std::fs::write(&f, text)
                    .with_context(|| format!("cannot write {}", f.display()))?,
                None => print!("{text}"),
            }
        }
        ApprovalsCmd::Import { file, remote } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let doc = match ApprovalsDoc::from_json(&text) {
                Ok(d) => d,
                Err(e) => bail!("{}: {e}", file.display()),
            };
            let v =
                connect(cfg, dir, &remote)?.request("exec.approvals.set", json!({"file": doc}))?;
            println!(
                "imported the allow-lists of {} agent(s) from {}",
                v["agents"].as_u64().unwrap_or(0),
                file.display()
            );
        }
    }
    Ok(())
}

/// Parses `--since`: a duration back from now (`30m`, `12h`, `7d`) or ms since the epoch.
///
/// # Errors
/// A message naming the accepted forms.
pub fn since_ms(s: &str, now: u64) -> Result<u64> {
    let (num, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: u64 = num
        .parse()
        .with_context(|| format!("--since {s:?}: use 30m, 12h, 7d or ms since the epoch"))?;
    let ms = match unit {
        "" => return Ok(n),
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => bail!("--since {s:?}: the unit must be s, m, h or d"),
    };
    Ok(now.saturating_sub(ms))
}

/// `hearth audit`: prints the ledger, one line per tool call (or JSON lines).
///
/// # Errors
/// A bad `--since`, or a connection error.
pub fn audit(
    cfg: &Config,
    dir: &Path,
    remote: &Remote,
    since: Option<&str>,
    tool: Option<String>,
    json_out: bool,
) -> Result<()> {
    let since = match since {
        Some(s) => since_ms(s, now_ms())?,
        None => 0,
    };
    let params = json!({"sinceMs": since, "tool": tool, "limit": 1000});
    let v = connect(cfg, dir, remote)?.request("audit.list", params)?;
    let entries = v["entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() && !json_out {
        println!("no tool calls recorded");
    }
    for e in entries {
        if json_out {
            println!("{e}");
            continue;
        }
        let decision: Vec<&str> = e["decision"]
            .as_array()
            .map(|d| d.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{}\t{}\t{}\t{} via {}\t{} ms\t{}",
            crate::core::rfc3339_utc(e["tsMs"].as_u64().unwrap_or(0)),
            e["tool"].as_str().unwrap_or("?"),
            e["outcome"].as_str().unwrap_or("?"),
            e["agentId"].as_str().unwrap_or("?"),
            e["sender"].as_str().unwrap_or("?"),
            e["durationMs"].as_u64().unwrap_or(0),
            decision.join("; "),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::since_ms;

    #[test]
    fn since_takes_durations_and_epoch_ms() {
        assert_eq!(since_ms("30m", 10_000_000).unwrap(), 8_200_000);
        assert_eq!(since_ms("2d", 1_000).unwrap(), 0);
        assert_eq!(since_ms("1700000000000", 5).unwrap(), 1_700_000_000_000);
        assert!(
            since_ms("5y", 0)
                .unwrap_err()
                .to_string()
                .contains("s, m, h or d")
        );
        assert!(since_ms("soon", 0).is_err());
    }
}
