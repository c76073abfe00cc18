//! `cron`: the agent manages its scheduled jobs — "remind me at 7" — in OpenClaw's tool
//! shape (`cron-tool.ts`: `action` = `status|list|add|update|remove|run|wake`, `job`, `jobId`, `patch`,
//! `text`, `mode`; <https://docs.openclaw.ai/automation/cron-jobs>). A job added without a
//! delivery announces its reply to the conversation it was created from.

use super::fs::str_arg;
use super::{Tool, ToolCtx, ToolError};
use crate::core::ToolSpec;
use serde_json::{Value, json};
use std::sync::Arc;

/// The scheduler as the tool needs it (blocking: tools run on blocking threads). Jobs are
/// OpenClaw-shaped JSON.
pub trait CronControl: Send + Sync {
    /// Every job.
    fn list(&self) -> Vec<Value>;
    /// Adds a job; returns it as stored.
    ///
    /// # Errors
    /// What is wrong with it, naming the field.
    fn add(&self, job: Value) -> Result<Value, String>;
    /// Changes job `id` by `patch` (top-level job fields); returns it as stored.
    ///
    /// # Errors
    /// An unknown id, what is wrong with the result, or a store failure.
    fn update(&self, id: &str, patch: Value) -> Result<Value, String>;
    /// Removes job `id`.
    ///
    /// # Errors
    /// An unknown id or a store failure.
    fn remove(&self, id: &str) -> Result<(), String>;
    /// Runs job `id` now.
    ///
    /// # Errors
    /// An unknown id or a store failure.
    fn run(&self, id: &str) -> Result<(), String>;
    /// Queues a system event for the heartbeat, waking it now when `now`.
    ///
    /// # Errors
    /// When no heartbeat is configured.
    fn wake(&self, text: &str, now: bool) -> Result<(), String>;
}

/// `cron`.
pub struct CronTool(pub Arc<dyn CronControl>);

/// OpenClaw's flat job fields, recovered into `job` when the model put them at the top.
const JOB_FIELDS: [&str; 8] = [
    "name",
    "schedule",
    "payload",
    "delivery",
    "enabled",
    "deleteAfterRun",
    "sessionTarget",
    "wakeMode",
];

impl Tool for CronTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "cron".into(),
            description: "Manage scheduled jobs (reminders, recurring checks). action=add with \
                job={name, schedule: {kind:\"at\", at:\"2026-12-05T07:00:00+01:00\"} | \
                {kind:\"every\", everyMs} | {kind:\"cron\", expr:\"0 7 * * 1-5\", tz:\"Europe/Berlin\"}, \
                payload: {kind:\"agentTurn\", message} (runs in its own session; the reply is sent \
                to this conversation) | {kind:\"systemEvent\", text} (goes to the main session)}. \
                Also list, update (jobId, patch), remove/run (jobId), wake (text, mode \
                now|next-heartbeat)."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["status", "list", "add", "update", "remove", "run", "wake"]},
                    "job": {"type": "object"},
                    "jobId": {"type": "string"},
                    "patch": {"type": "object", "description": "For update: the job fields to change."},
                    "text": {"type": "string"},
                    "mode": {"type": "string", "enum": ["now", "next-heartbeat"]}
                },
                "required": ["action"]
            }),
        }
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let id = || {
            args.get("jobId")
                .or_else(|| args.get("id"))
                .and_then(Value::as_str)
                .ok_or_else(|| ToolError::InvalidArgs("missing `jobId`".into()))
        };
        match str_arg(args, "action")? {
            "status" | "list" => {
                let jobs = self.0.list();
                if jobs.is_empty() {
                    return Ok("No scheduled jobs.".into());
                }
                Ok(jobs.iter().map(summary).collect::<Vec<_>>().join("\n"))
            }
            "add" => {
                let mut job = args.get("job").cloned().unwrap_or_else(|| json!({}));
                if let (Some(o), Some(top)) = (job.as_object_mut(), args.as_object()) {
                    for f in JOB_FIELDS {
                        if let (false, Some(v)) = (o.contains_key(f), top.get(f)) {
                            o.insert(f.into(), v.clone());
                        }
                    }
                }
                default_delivery(ctx, &mut job);
                let stored = self.0.add(job).map_err(ToolError::InvalidArgs)?;
                Ok(format!("scheduled: {}", summary(&stored)))
            }
            "update" => {
                let id = id()?;
                let patch = args
                    .get("patch")
                    .cloned()
                    .ok_or_else(|| ToolError::InvalidArgs("missing `patch`".into()))?;
                let stored = self.0.update(id, patch).map_err(ToolError::InvalidArgs)?;
                Ok(format!("updated: {}", summary(&stored)))
            }
            "remove" => {
                let id = id()?;
                self.0.remove(id).map_err(ToolError::InvalidArgs)?;
                Ok(format!("removed {id}"))
            }
            "run" => {
                let id = id()?;
                self.0.run(id).map_err(ToolError::InvalidArgs)?;
                Ok(format!("{id} runs now"))
            }
            "wake" => {
                let text = str_arg(args, "text")?;
                let now = args.get("mode").and_then(Value::as_str) == Some("now");
                self.0.wake(text, now).map_err(ToolError::InvalidArgs)?;
                Ok(if now {
                    "the heartbeat runs now".into()
                } else {
                    "queued for the next heartbeat".into()
                })
            }
            other => Err(ToolError::InvalidArgs(format!(
                "unknown action {other:?} (status, list, add, update, remove, run, wake)"
            ))),
        }
    }
}

/// An `agentTurn` job with no delivery announces to the conversation that created it
/// (OpenClaw infers it from the creating session), when that is a chat.
fn default_delivery(ctx: &ToolCtx, job: &mut Value) {
    let o = &ctx.caller.origin;
    let chat = !matches!(
        o.channel.as_str(),
        "ws" | "http" | "hooks" | "cron" | "mcp" | "ollama" | ""
    );
    let turn = job.pointer("/payload/kind").and_then(Value::as_str) == Some("agentTurn");
    if let Some(obj) = job.as_object_mut()
        && turn
        && chat
        && !obj.contains_key("delivery")
    {
        let to = o.chat.clone().unwrap_or_else(|| o.peer.clone());
        obj.insert(
            "delivery".into(),
            json!({"mode": "announce", "channel": o.channel, "to": to}),
        );
    }
}

/// One line per job: id, name, schedule, next run, last status.
pub fn summary(j: &Value) -> String {
    let s = &j["schedule"];
    let when = match s["kind"].as_str() {
        Some("at") => format!("at {}", s["at"].as_str().unwrap_or("?")),
        Some("every") => format!("every {} s", s["everyMs"].as_u64().unwrap_or(0) / 1000),
        Some("cron") => format!(
            "cron {:?}{}",
            s["expr"].as_str().unwrap_or("?"),
            s["tz"]
                .as_str()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default()
        ),
        _ => "?".into(),
    };
    let next = j["state"]["nextRunAtMs"]
        .as_u64()
        .map(|n| format!(", next {}", crate::core::rfc3339_utc(n)))
        .unwrap_or_default();
    let last = j["state"]["lastStatus"]
        .as_str()
        .map(|l| format!(", last {l}"))
        .unwrap_or_default();
    let off = if j["enabled"].as_bool() == Some(false) {
        " (disabled)"
    } else {
        ""
    };
    format!(
        "{} {:?}: {when}{next}{last}{off}",
        j["id"].as_str().unwrap_or("?"),
        j["name"].as_str().unwrap_or("")
    )
}
