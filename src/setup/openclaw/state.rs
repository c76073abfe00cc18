//! OpenClaw's runtime state that an import carries over: auth profiles (provider keys),
//! cron jobs and heartbeat text, pairing approvals, the secret store and exec approvals.
//!
//! OpenClaw 2026 keeps them in SQLite, `state/openclaw.sqlite` (and per agent
//! `agents/<id>/agent/openclaw-agent.sqlite`; docs/reference/database-schemas/layout.md);
//! older installs keep JSON files (`agents/<id>/agent/auth-profiles.json`, `cron/jobs.json`,
//! `credentials/<channel>[-<account>]-allowFrom.json`, `exec-approvals.json`). Both are
//! read, the database first. The database is copied (with its `-wal`) into a temporary
//! directory and opened there, so the OpenClaw directory is never written and a write-ahead
//! log left by a killed gateway is still read.

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
        if db.is_file() {
            #[cfg(feature = "import-openclaw")]
            if let Err(e) = sqlite::read(&db, dir, &mut s) {
                report.push(Item::skipped(
                    "state/openclaw.sqlite",
                    &format!("cannot read it: {e}"),
                ));
            }
            #[cfg(not(feature = "import-openclaw"))]
            report.push(Item::skipped(
                "state/openclaw.sqlite",
                "this binary is built without the import-openclaw feature (SQLite): cron jobs, \
                 auth profiles, pairing approvals and stored secrets in it are not read",
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

#[cfg(feature = "import-openclaw")]
mod sqlite {
    use super::{JobRow, State};
    use rusqlite::{Connection, OpenFlags};
    use serde_json::Value;
    use std::path::Path;

    /// Copies `db` (and its `-wal`) to a temporary directory and reads the tables there.
    pub(super) fn read(db: &Path, dir: &Path, s: &mut State) -> Result<(), String> {
        let tmp = std::env::temp_dir().join(format!(
            "hearth-import-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let out = copy_and_read(db, dir, &tmp, s);
        let _ = std::fs::remove_dir_all(&tmp);
        out
    }

    fn copy_and_read(db: &Path, dir: &Path, tmp: &Path, s: &mut State) -> Result<(), String> {
        let copy = tmp.join("openclaw.sqlite");
        std::fs::copy(db, &copy).map_err(|e| format!("copying {}: {e}", db.display()))?;
        let wal = db.with_extension("sqlite-wal");
        if wal.is_file() {
            std::fs::copy(&wal, tmp.join("openclaw.sqlite-wal"))
                .map_err(|e| format!("copying {}: {e}", wal.display()))?;
        }
        let c = Connection::open_with_flags(
            &copy,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| e.to_string())?;
        // 2026.9 keeps the shared auth store in `config_machine_state` (`authProfiles.store`);
        // per-agent stores are `auth_profile_store` rows in the agent's own database.
        let machine = rows(
            &c,
            "SELECT value_json FROM config_machine_state WHERE state_key = 'authProfiles.store'",
            |r| r.get::<_, String>(0),
        )?;
        if let Some(j) = machine.first() {
            s.auth = serde_json::from_str(j).ok();
        }
        let store_json = "SELECT store_json FROM auth_profile_store WHERE store_key = 'primary'";
        let agent_db = dir.join("agents/main/agent/openclaw-agent.sqlite");
        if s.auth.is_none() && agent_db.is_file() {
            let a = tmp.join("agent.sqlite");
            std::fs::copy(&agent_db, &a)
                .map_err(|e| format!("copying {}: {e}", agent_db.display()))?;
            let w = agent_db.with_extension("sqlite-wal");
            if w.is_file() {
                std::fs::copy(&w, tmp.join("agent.sqlite-wal"))
                    .map_err(|e| format!("copying {}: {e}", w.display()))?;
            }
            let ac = Connection::open(&a).map_err(|e| e.to_string())?;
            if let Some(j) = rows(&ac, store_json, |r| r.get::<_, String>(0))?.first() {
                s.auth = serde_json::from_str(j).ok();
            }
        }
        let jobs = rows(
            &c,
            "SELECT j.payload_kind, j.job_json, j.state_json, \
             (SELECT x.content FROM cron_job_scratch x \
              WHERE x.store_key = j.store_key AND x.job_id = j.job_id) \
             FROM cron_jobs j ORDER BY j.sort_order, j.updated_at, j.job_id",
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )?;
        for (kind, job, state, scratch) in jobs {
            let Ok(job) = serde_json::from_str::<Value>(&job) else {
                continue;
            };
            s.jobs.push(JobRow {
                job,
                state: state.and_then(|t| serde_json::from_str(&t).ok()),
                kind: kind.unwrap_or_default(),
                scratch,
            });
        }
        s.pairing = rows(
            &c,
            "SELECT channel_key, account_id, entry FROM channel_pairing_allow_entries",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        for (k, v) in rows(
            &c,
            "SELECT name, value FROM secret_store_entries \
             WHERE scope_kind = 'team' AND deleted_at_ms IS NULL",
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )? {
            s.store.insert(k, v);
        }
        if let Some(j) = rows(&c, "SELECT raw_json FROM exec_approvals_config", |r| {
            r.get::<_, String>(0)
        })?
        .first()
        {
            s.exec_approvals = serde_json::from_str(j).ok();
        }
        Ok(())
    }

    /// The rows of `sql`; a table that does not exist reads as empty (older databases).
    fn rows<T>(
        c: &Connection,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, String> {
        let mut st = match c.prepare(sql) {
            Ok(st) => st,
            Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
            Err(e) => return Err(format!("{sql}: {e}")),
        };
        let it = st.query_map([], f).map_err(|e| format!("{sql}: {e}"))?;
        it.collect::<Result<Vec<T>, _>>()
            .map_err(|e| format!("{sql}: {e}"))
    }
}
