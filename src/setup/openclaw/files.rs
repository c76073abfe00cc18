//! What an import copies and stores: the agents' workspaces (AGENTS.md, SOUL.md, USER.md,
//! IDENTITY.md, MEMORY.md, `memory/`, `skills/`, …; docs/concepts/agent-workspace.md),
//! OpenClaw's managed skills, the heartbeat checklist, and the cron jobs and pairing
//! approvals that go into Hearth's store.

use super::super::{FileWrite, Item, SetupError};
use super::{Ctx, Import, source};
use crate::cron::CronJob;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Files a workspace may hold that OpenClaw alone uses (its bookkeeping), not copied.
const SIDECARS: &[&str] = &["openclaw-workspace-state.json", ".attested"];

/// The OpenClaw workspace of agent `id` (its entry's `workspace`, else the defaults' root
/// plus the id for a second agent, else `<state>/workspace[-<id>]`).
fn oc_workspace(cx: &Ctx<'_>, id: &str, is_default: bool) -> PathBuf {
    let entry = cx
        .at(&format!("/agents/entries/{id}/workspace"))
        .or_else(|| {
            cx.at("/agents/list")
                .and_then(Value::as_array)
                .and_then(|l| {
                    l.iter()
                        .find(|e| e.get("id").and_then(Value::as_str) == Some(id))
                        .and_then(|e| e.get("workspace"))
                })
        })
        .and_then(Value::as_str);
    if let Some(p) = entry {
        return cx.src.path(p);
    }
    let root = cx.text("/agents/defaults/workspace");
    match (is_default, root) {
        (true, Some(r)) => cx.src.path(&r),
        (false, Some(r)) => cx.src.path(&r).join(id),
        (true, None) => cx.src.dir.join("workspace"),
        (false, None) => cx.src.dir.join(format!("workspace-{id}")),
    }
}

/// Every regular file under `dir`, relative, skipping OpenClaw's sidecars and `.openclaw/`.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let r = rel.join(&name);
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if name != ".openclaw" && name != ".git" {
                walk(dir, &r, out);
            }
        } else if ft.is_file() && !SIDECARS.iter().any(|s| name == *s) {
            out.push(r);
        }
    }
}

/// Copies each agent's workspace into Hearth's (`<data_dir>/workspace` for `main`,
/// `<data_dir>/agents/<id>/workspace` for the others).
pub(super) fn workspaces(cx: &mut Ctx<'_>, files: &mut Vec<FileWrite>, force: bool) {
    let agents = cx.agents.clone();
    for (id, hid) in agents {
        let is_default = id == cx.default_agent;
        let from = oc_workspace(cx, &id, is_default);
        let to = if is_default {
            cx.target.data_dir.join("workspace")
        } else {
            cx.target
                .data_dir
                .join("agents")
                .join(&hid)
                .join("workspace")
        };
        if !from.is_dir() {
            cx.skip(
                &format!("workspace of {id}"),
                &format!("{} does not exist", from.display()),
            );
            continue;
        }
        let mut rels = Vec::new();
        walk(&from, Path::new(""), &mut rels);
        let mut agents_md = std::fs::read_to_string(from.join("AGENTS.md")).ok();
        let mut n = 0;
        for rel in &rels {
            let src = from.join(rel);
            if rel == Path::new("TOOLS.md") {
                if let Ok(tools) = std::fs::read_to_string(&src) {
                    let base = agents_md.take().unwrap_or_default();
                    if !base.contains("\n## Tools") {
                        agents_md = Some(format!(
                            "{}\n\n## Tools\n\n{}\n",
                            base.trim_end(),
                            tools.trim()
                        ));
                        cx.changed(&src.display().to_string(), "AGENTS.md ## Tools", "");
                    } else {
                        agents_md = Some(base);
                    }
                }
                continue;
            }
            if rel == Path::new("AGENTS.md") {
                continue;
            }
            files.push(FileWrite::copy(to.join(rel), src, force));
            n += 1;
        }
        if let Some(text) = agents_md {
            files.push(FileWrite::bytes(
                to.join("AGENTS.md"),
                text.into_bytes(),
                force,
            ));
            n += 1;
        }
        if !from.join("IDENTITY.md").exists()
            && let Some(identity) = identity(cx, &id)
        {
            files.push(FileWrite::bytes(
                to.join("IDENTITY.md"),
                identity.into_bytes(),
                false,
            ));
        }
        cx.imported(
            &from.display().to_string(),
            &format!("{} ({n} files)", to.display()),
        );
        for special in ["BOOT.md", "BOOTSTRAP.md"] {
            if from.join(special).exists() {
                cx.changed(
                    &from.join(special).display().to_string(),
                    special,
                    "copied; Hearth does not run it",
                );
            }
        }
    }
}

/// IDENTITY.md from an entry's `name` and `identity{name, emoji}`.
fn identity(cx: &Ctx<'_>, id: &str) -> Option<String> {
    let e = cx.at(&format!("/agents/entries/{id}"))?;
    let name = e
        .pointer("/identity/name")
        .or_else(|| e.get("name"))
        .and_then(Value::as_str)?;
    let emoji = e
        .pointer("/identity/emoji")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(format!("# Identity\n\n- Name: {name}\n- Emoji: {emoji}\n"))
}

/// OpenClaw's managed skills (`<state>/skills/<name>/…`) into Hearth's managed skills
/// directory (`<data_dir>/skills/`).
pub(super) fn skills(cx: &mut Ctx<'_>, files: &mut Vec<FileWrite>, force: bool) {
    let from = cx.src.dir.join("skills");
    if !from.is_dir() {
        return;
    }
    let to = cx.target.data_dir.join("skills");
    let mut rels = Vec::new();
    walk(&from, Path::new(""), &mut rels);
    for rel in &rels {
        files.push(FileWrite::copy(to.join(rel), from.join(rel), force));
    }
    let n = rels.iter().filter(|r| r.ends_with("SKILL.md")).count();
    cx.imported(
        &from.display().to_string(),
        &format!("{} ({n} skills)", to.display()),
    );
}

/// OpenClaw's cron jobs in Hearth's job shape; the heartbeat monitor's checklist becomes
/// the main workspace's HEARTBEAT.md.
pub(super) fn jobs(cx: &mut Ctx<'_>, files: &mut Vec<FileWrite>, force: bool) -> Vec<CronJob> {
    let rows = cx.state.jobs.clone();
    let mut out = Vec::new();
    for row in rows {
        let j = &row.job;
        let id = j
            .get("id")
            .or_else(|| j.get("jobId"))
            .and_then(source::scalar)
            .unwrap_or_default();
        let from = format!("cron job {id}");
        if row.kind == "heartbeat" {
            heartbeat_every(cx, j, &from);
            if let Some(text) = row.scratch.filter(|t| !t.trim().is_empty()) {
                files.push(FileWrite::bytes(
                    cx.target.data_dir.join("workspace/HEARTBEAT.md"),
                    text.into_bytes(),
                    force,
                ));
                cx.changed(&from, "HEARTBEAT.md", "the heartbeat monitor's checklist");
            }
            continue;
        }
        if j.get("declarationKey").is_some() {
            cx.skip(&from, "a job OpenClaw declares itself");
            continue;
        }
        let agent = j.get("agentId").and_then(Value::as_str);
        if agent.is_some_and(|a| a != cx.default_agent) {
            cx.skip(
                &from,
                "it runs another agent; Hearth's jobs run the main agent",
            );
            continue;
        }
        match convert(j, row.state.as_ref()) {
            Ok((job, notes)) => {
                if notes.is_empty() {
                    cx.imported(&from, "cron job");
                } else {
                    cx.changed(&from, "cron job", &notes.join("; "));
                }
                out.push(job);
            }
            Err(why) => cx.skip(&from, &why),
        }
    }
    out
}

/// The heartbeat monitor's interval (2026.9 keeps it in the job) as `heartbeat.every`,
/// unless `agents.defaults.heartbeat.every` already set it.
fn heartbeat_every(cx: &mut Ctx<'_>, j: &Value, from: &str) {
    let set = cx
        .out
        .get("heartbeat")
        .and_then(|h| h.get("every"))
        .is_some();
    let every = j.pointer("/schedule/everyMs").and_then(Value::as_u64);
    if let (false, Some(ms)) = (set, every) {
        let mins = (ms / 60_000).max(1);
        cx.set("heartbeat.every", format!("{mins}m"));
        cx.changed(from, "heartbeat.every", "the heartbeat monitor's interval");
    }
}

/// One OpenClaw job as Hearth's [`CronJob`], with notes on what changed.
fn convert(j: &Value, state: Option<&Value>) -> Result<(CronJob, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut schedule = j.get("schedule").cloned().ok_or("no schedule")?;
    if let Some(s) = schedule.as_str() {
        schedule = json!({"kind": "cron", "expr": s});
    } else if schedule.get("kind").is_none() && schedule.get("cron").is_some() {
        schedule = json!({"kind": "cron", "expr": schedule["cron"], "tz": schedule.get("tz")});
    }
    let kind = schedule
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "at" | "every" | "cron") {
        return Err(format!(
            "a {kind:?} schedule runs commands; Hearth schedules at, every and cron"
        ));
    }
    let payload = j.get("payload").cloned().ok_or("no payload")?;
    let pk = payload
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = match pk {
        "systemEvent" => {
            json!({"kind": "systemEvent", "text": payload.get("text").cloned().unwrap_or_default()})
        }
        "agentTurn" => {
            for k in ["fallbacks", "thinking", "lightContext", "toolsAllow"] {
                if payload.get(k).is_some() {
                    notes.push(format!("payload.{k} dropped"));
                }
            }
            let mut p = json!({"kind": "agentTurn", "message": payload.get("message").cloned().unwrap_or_default()});
            for k in ["model", "timeoutSeconds"] {
                if let Some(v) = payload.get(k) {
                    p[k] = v.clone();
                }
            }
            p
        }
        other => {
            return Err(format!(
                "a {other:?} payload; Hearth runs system events and agent turns"
            ));
        }
    };
    let target = match (j.get("sessionTarget").and_then(Value::as_str), pk) {
        (Some("main"), _) | (None, "systemEvent") => "main",
        (Some("isolated"), _) | (None, _) => "isolated",
        (Some(other), _) => {
            notes.push(format!("sessionTarget {other:?} is isolated"));
            "isolated"
        }
    };
    if (target == "main") != (pk == "systemEvent") {
        return Err(format!("sessionTarget {target} with a {pk} payload"));
    }
    let mut job = json!({
        "id": j.get("id").or_else(|| j.get("jobId")).cloned().unwrap_or_default(),
        "name": j.get("name").or_else(|| j.get("displayName")).cloned().unwrap_or(json!("")),
        "enabled": j.get("enabled").cloned().unwrap_or(json!(true)),
        "createdAtMs": j.get("createdAtMs").cloned().unwrap_or(json!(0)),
        "updatedAtMs": j.get("updatedAtMs").cloned().unwrap_or(json!(0)),
        "schedule": schedule,
        "sessionTarget": target,
        "payload": payload,
    });
    for k in ["description", "deleteAfterRun", "wakeMode"] {
        if let Some(v) = j.get(k) {
            job[k] = v.clone();
        }
    }
    if pk == "agentTurn"
        && let Some(d) = j.get("delivery")
    {
        match d.get("mode").and_then(Value::as_str).unwrap_or("announce") {
            "none" => job["delivery"] = json!({"mode": "none"}),
            "announce" => {
                let ch = d.get("channel").and_then(Value::as_str);
                let known = ch.is_none_or(|c| c == "last" || super::CHANNELS.contains(&c));
                if known {
                    let mut dv = json!({"mode": "announce"});
                    if let Some(c) = ch {
                        dv["channel"] = json!(c);
                    }
                    if let Some(to) = d.get("to").and_then(source::scalar) {
                        dv["to"] = json!(to);
                    }
                    job["delivery"] = dv;
                } else {
                    notes.push(format!(
                        "delivery to {ch:?} dropped (no such channel in Hearth)"
                    ));
                }
            }
            other => notes.push(format!("delivery mode {other:?} dropped")),
        }
    }
    let st = state.or_else(|| j.get("state"));
    if let Some(st) = st {
        let mut s = json!({});
        for k in [
            "lastRunAtMs",
            "lastStatus",
            "lastRunStatus",
            "consecutiveErrors",
            "lastError",
            "lastDurationMs",
        ] {
            if let Some(v) = st.get(k).filter(|v| !v.is_null()) {
                s[k] = v.clone();
            }
        }
        job["state"] = s;
    }
    let job: CronJob = serde_json::from_value(job).map_err(|e| format!("cannot read it: {e}"))?;
    job.check().map_err(|e| e.to_string())?;
    Ok((job, notes))
}

/// Adds the jobs and approvals to the store under the data dir (the gateway must be
/// stopped: [`super::super::check_stopped`]). A job whose id is already there is kept.
///
/// # Errors
/// [`SetupError::Input`] naming the store when it cannot be opened or written.
pub(super) fn store(import: &mut Import) -> Result<(), SetupError> {
    if import.jobs.is_empty() && import.approvals.is_empty() {
        return Ok(());
    }
    let t = &import.plan.target;
    let dir = t.host(&t.data_dir.join("store"));
    let fail = |e: crate::storage::StoreError| SetupError::Input(format!("{}: {e}", dir.display()));
    let store = crate::storage::Store::open(
        &dir,
        crate::storage::StoreOptions {
            map_size_bytes: import.plan.config.storage.map_size_mib << 20,
        },
    )
    .map_err(fail)?;
    let existing: Vec<String> = store
        .cron_jobs(&*store.read_txn().map_err(fail)?)
        .map_err(fail)?
        .iter()
        .filter_map(|j| j.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let mut w = store.write_txn().map_err(fail)?;
    let mut added = 0;
    for job in &import.jobs {
        if existing.contains(&job.id) {
            import.report.push(Item::skipped(
                &format!("cron job {}", job.id),
                "a job with this id is already in the store",
            ));
            continue;
        }
        let v = serde_json::to_value(job).map_err(|e| SetupError::Invalid(e.to_string()))?;
        store.cron_put(&mut w, &job.id, &v).map_err(fail)?;
        added += 1;
    }
    for (ch, account, peer) in &import.approvals {
        let a = crate::storage::PairingApproval {
            approved_ms: now,
            code: String::new(),
        };
        store
            .pairing_approve(&mut w, ch, account, peer, &a)
            .map_err(fail)?;
    }
    store.commit(w).map_err(fail)?;
    import.report.push(Item::wrote(
        &dir.display().to_string(),
        &format!(
            "{added} cron jobs, {} pairing approvals",
            import.approvals.len()
        ),
    ));
    Ok(())
}
