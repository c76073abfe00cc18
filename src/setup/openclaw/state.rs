//! OpenClaw's runtime state that an import carries over: auth profiles (provider keys),
//! cron jobs and heartbeat text, pairing approvals, the secret store and exec approvals.
//!
//! OpenClaw 2026 keeps them in SQLite, `state/openclaw.sqlite` (and per agent
//! `agents/<id>/agent/openclaw-agent.sqlite`; docs/reference/database-schemas/layout.md);
//! older installs keep JSON files (`agents/<id>/agent/auth-profiles.json`, `cron/jobs.json`,
//! `credentials/<channel>[-<account>]-allowFrom.json`, `exec-approvals.json`). Both are
//! read, the database first, by Hearth's read-only reader ([`super::sqlite`]), which also
//! reads a write-ahead log a killed gateway left; the OpenClaw directory is never written.

use super::super::{Item, Report};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One cron job row, as OpenClaw stored it.
#[derive(Debug, Clone)]
pub struct JobRow {
    /// The job JSON (OpenClaw's shape, without runtime fields).
    pub job: Value,
    /// The runtime state JSON, when stored apart (`state_json`).
    pub state: Option<Value>,
    /// `payload_kind`, e.g. `heartbeat` for the heartbeat monitor.
    pub kind: String,
    /// The job's scratch text (a heartbeat monitor's checklist).
    pub scratch: Option<String>,
}

/// What was read.
#[derive(Debug, Default)]
pub struct State {
    /// The auth profile store `{profiles: {"<provider>:<name>": cred}, order?, lastGood?}`.
    pub auth: Option<Value>,
    /// Legacy flat `auth.json`: `{provider: {apiKey}}`.
    pub auth_flat: Option<Value>,
    /// Cron jobs.
    pub jobs: Vec<JobRow>,
    /// Approved senders: (channel, account, sender id).
    pub pairing: Vec<(String, String, String)>,
    /// The secret store, by name (values are plaintext in OpenClaw).
    pub store: BTreeMap<String, String>,
    /// The exec approvals document (`exec-approvals.json`'s shape).
    pub exec_approvals: Option<Value>,
}

fn read_json(path: &Path, report: &mut Report) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    match super::source::parse_json5(&text, path) {
        Ok(v) => Some(v),
        Err(e) => {
            report.push(Item::skipped(&path.display().to_string(), &e.to_string()));
            None
        }
    }
}

impl State {
    /// Reads the state under `dir`; what cannot be read is reported, not fatal.
    pub fn read(dir: &Path, report: &mut Report) -> State {
        let mut s = State::default();
        let db = dir.join("state/openclaw.sqlite");
        if db.is_file()
            && let Err(e) = read_db(&db, dir, &mut s)
        {
            report.push(Item::skipped(
                "state/openclaw.sqlite",
                &format!("cannot read it: {e}"),
            ));
        }
        let agent_dir = dir.join("agents/main/agent");
        if s.auth.is_none() {
            s.auth = read_json(&agent_dir.join("auth-profiles.json"), report);
        }
        s.auth_flat = read_json(&agent_dir.join("auth.json"), report);
        if s.jobs.is_empty()
            && let Some(doc) = read_json(&dir.join("cron/jobs.json"), report)
        {
            for job in doc["jobs"].as_array().into_iter().flatten() {
                let kind = job
                    .pointer("/payload/kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                s.jobs.push(JobRow {
                    job: job.clone(),
                    state: None,
                    kind,
                    scratch: None,
                });
            }
        }
        if s.exec_approvals.is_none() {
            s.exec_approvals = read_json(&dir.join("exec-approvals.json"), report);
        }
        if s.pairing.is_empty() {
            legacy_pairing(&dir.join("credentials"), &mut s.pairing, report);
        }
        s
    }
}

/// `credentials/<channel>-allowFrom.json` and `<channel>-<account>-allowFrom.json`: an array
/// of ids or `{allowFrom: [...]}`.
fn legacy_pairing(dir: &Path, out: &mut Vec<(String, String, String)>, report: &mut Report) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with("-allowFrom.json"))
        .collect();
    names.sort();
    for n in names {
        let stem = n.trim_end_matches("-allowFrom.json");
        let (channel, account) = stem.split_once('-').unwrap_or((stem, "default"));
        let Some(doc) = read_json(&dir.join(&n), report) else {
            continue;
        };
        let list = doc.get("allowFrom").unwrap_or(&doc);
        for id in list.as_array().into_iter().flatten() {
            if let Some(id) = super::source::scalar(id) {
                out.push((channel.to_string(), account.to_string(), id));
            }
        }
    }
}

/// Reads the tables of the state database (and the main agent's own database for its
/// auth store) through [`super::sqlite`].
fn read_db(db: &Path, dir: &Path, s: &mut State) -> Result<(), String> {
    use super::sqlite::{Db, Val};
    let text = |r: &std::collections::HashMap<String, Val>, k: &str| {
        r.get(k).and_then(Val::text).map(str::to_string)
    };
    let c = Db::open(db)?;
    // 2026.9 keeps the shared auth store in `config_machine_state` (`authProfiles.store`);
    // per-agent stores are `auth_profile_store` rows in the agent's own database.
    for r in c.rows("config_machine_state")?.unwrap_or_default() {
        if text(&r, "state_key").as_deref() == Some("authProfiles.store") {
            s.auth = text(&r, "value_json").and_then(|j| serde_json::from_str(&j).ok());
        }
    }
    let agent_db = dir.join("agents/main/agent/openclaw-agent.sqlite");
    if s.auth.is_none() && agent_db.is_file() {
        let a = Db::open(&agent_db)?;
        for r in a.rows("auth_profile_store")?.unwrap_or_default() {
            if text(&r, "store_key").as_deref() == Some("primary") {
                s.auth = text(&r, "store_json").and_then(|j| serde_json::from_str(&j).ok());
            }
        }
    }
    let mut scratch = std::collections::HashMap::new();
    for r in c.rows("cron_job_scratch")?.unwrap_or_default() {
        if let (Some(k), Some(j), Some(t)) = (
            text(&r, "store_key"),
            text(&r, "job_id"),
            text(&r, "content"),
        ) {
            scratch.insert((k, j), t);
        }
    }
    let mut jobs = c.rows("cron_jobs")?.unwrap_or_default();
    let order = |r: &std::collections::HashMap<String, Val>| match r.get("sort_order") {
        Some(Val::Int(n)) => *n,
        _ => 0,
    };
    jobs.sort_by_key(order);
    for r in jobs {
        let Some(job) = text(&r, "job_json").and_then(|j| serde_json::from_str::<Value>(&j).ok())
        else {
            continue;
        };
        let key = (
            text(&r, "store_key").unwrap_or_default(),
            text(&r, "job_id").unwrap_or_default(),
        );
        s.jobs.push(JobRow {
            job,
            state: text(&r, "state_json").and_then(|t| serde_json::from_str(&t).ok()),
            kind: text(&r, "payload_kind").unwrap_or_default(),
            scratch: scratch.remove(&key),
        });
    }
    for r in c.rows("channel_pairing_allow_entries")?.unwrap_or_default() {
        if let (Some(ch), Some(acc), Some(e)) = (
            text(&r, "channel_key"),
            text(&r, "account_id"),
            text(&r, "entry"),
        ) {
            s.pairing.push((ch, acc, e));
        }
    }
    for r in c.rows("secret_store_entries")?.unwrap_or_default() {
        let live = matches!(r.get("deleted_at_ms"), None | Some(Val::Null));
        if live
            && text(&r, "scope_kind").as_deref() == Some("team")
            && let (Some(k), Some(v)) = (text(&r, "name"), text(&r, "value"))
        {
            s.store.insert(k, v);
        }
    }
    if let Some(r) = c.rows("exec_approvals_config")?.unwrap_or_default().first() {
        s.exec_approvals = text(r, "raw_json").and_then(|j| serde_json::from_str(&j).ok());
    }
    Ok(())
}
