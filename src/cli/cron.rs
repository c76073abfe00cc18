//! `hearth cron list|add|rm|run`: scheduled jobs through the running gateway (OpenClaw's
//! `openclaw cron …`, <https://docs.openclaw.ai/cli/cron>).

use super::Remote;
use super::talk::connect;
use crate::config::Config;
use crate::core::now_ms;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::Path;

/// `hearth cron …`.
#[derive(Debug, Subcommand)]
pub enum CronCmd {
    /// Every job: id, name, schedule, next run, last status.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Add a job.
    Add(AddArgs),
    /// Remove job ID.
    #[command(alias = "remove")]
    Rm {
        /// The job id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Run job ID now.
    Run {
        /// The job id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `hearth cron add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for the job.
    #[arg(long)]
    name: Option<String>,
    /// Once, at an RFC 3339 time, a local `YYYY-MM-DD HH:MM` (in --tz), or `+20m`.
    #[arg(long, group = "when")]
    at: Option<String>,
    /// Repeatedly: `10m`, `1h`, `1d`.
    #[arg(long, group = "when")]
    every: Option<String>,
    /// A 5-field cron expression (`0 7 * * 1-5`).
    #[arg(long, group = "when")]
    cron: Option<String>,
    /// IANA time zone for --cron and a local --at (default: the gateway host's).
    #[arg(long)]
    tz: Option<String>,
    /// Run an agent turn with this message in the job's own session.
    #[arg(long, group = "what")]
    message: Option<String>,
    /// Put this text into the main session as a system event.
    #[arg(long, group = "what")]
    system_event: Option<String>,
    /// Send the reply to this channel (with --to).
    #[arg(long, requires = "to")]
    channel: Option<String>,
    /// The chat on --channel.
    #[arg(long, requires = "channel")]
    to: Option<String>,
    /// Keep the reply in the job's session only.
    #[arg(long, conflicts_with = "channel")]
    no_deliver: bool,
    #[command(flatten)]
    remote: Remote,
}

/// The job JSON of `a` (OpenClaw's shape).
fn job(a: &AddArgs) -> Result<Value> {
    let zone = crate::cron::Zone::named(a.tz.as_deref().unwrap_or(""))?;
    let schedule = match (&a.at, &a.every, &a.cron) {
        (Some(at), None, None) => {
            let ms = crate::cron::parse_at(at, &zone, now_ms())?;
            json!({"kind": "at", "at": crate::core::rfc3339_utc(ms)})
        }
        (None, Some(e), None) => {
            json!({"kind": "every", "everyMs": crate::cron::parse_duration_ms(e)?})
        }
        (None, None, Some(expr)) => json!({"kind": "cron", "expr": expr, "tz": a.tz}),
        _ => bail!("give one of --at, --every or --cron"),
    };
    let payload = match (&a.message, &a.system_event) {
        (Some(m), None) => json!({"kind": "agentTurn", "message": m}),
        (None, Some(t)) => json!({"kind": "systemEvent", "text": t}),
        _ => bail!("give one of --message or --system-event"),
    };
    let mut j = json!({"schedule": schedule, "payload": payload});
    if let Some(n) = &a.name {
        j["name"] = json!(n);
    }
    if a.no_deliver {
        j["delivery"] = json!({"mode": "none"});
    } else if let (Some(c), Some(t)) = (&a.channel, &a.to) {
        j["delivery"] = json!({"mode": "announce", "channel": c, "to": t});
    }
    Ok(j)
}

/// Runs `cmd`.
///
/// # Errors
/// A bad schedule (naming the flag and why), a connection error, or the gateway's refusal.
pub fn run(cmd: CronCmd, cfg: &Config, dir: &Path) -> Result<()> {
    match cmd {
        CronCmd::List { remote } => {
            let v = connect(cfg, dir, &remote)?.request("cron.list", json!({}))?;
            let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
            if jobs.is_empty() {
                println!("no cron jobs");
            }
            for j in jobs {
                println!("{}", crate::tool::cron::summary(&j));
            }
        }
        CronCmd::Add(a) => {
            let j = job(&a)?;
            let v = connect(cfg, dir, &a.remote)?.request("cron.add", json!({"job": j}))?;
            println!("added {}", crate::tool::cron::summary(&v["job"]));
        }
        CronCmd::Rm { id, remote } => {
            connect(cfg, dir, &remote)?.request("cron.remove", json!({"id": id}))?;
            println!("removed {id}");
        }
        CronCmd::Run { id, remote } => {
            connect(cfg, dir, &remote)?.request("cron.run", json!({"id": id}))?;
            println!("{id} runs now");
        }
    }
    Ok(())
}
