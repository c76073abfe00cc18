//! `hearth import-openclaw [DIR]`: an OpenClaw state directory (`~/.openclaw`) becomes a
//! `hearth.toml`, credential files, workspaces, and cron jobs and pairing approvals in
//! Hearth's store, with a report of every item carried over, changed or left behind.
//!
//! Read: `openclaw.json` (JSON5 with `$include`, [`source`]), the `.env` beside it, the
//! runtime state in `state/openclaw.sqlite` or the legacy JSON files ([`state`]), the
//! workspaces and managed skills ([`files`]). The key-by-key mapping is in [`agents`] (agents,
//! models, providers), [`map`] (tools, automation, gateway, …) and [`channels`] (channels,
//! bindings, owners). The
//! OpenClaw side follows its 2026.9 docs and config schema
//! (<https://docs.openclaw.ai/gateway/configuration-reference>).
//!
//! Secrets become credential files ([`super::Secrets`]), never literals in the config. The
//! OpenClaw directory is only read.

mod agents;
mod channels;
mod files;
mod map;
pub mod source;
mod sqlite;
mod state;

use super::{FileWrite, Item, Plan, Report, Secrets, SetupError, Target};
use serde_json::Value;
use source::{Secret, Source};
use state::State;
use std::path::{Path, PathBuf};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The OpenClaw state directory.
    pub dir: PathBuf,
    /// Where to write.
    pub target: Target,
    /// Replace an existing config and existing workspace files.
    pub force: bool,
}

/// The state directory OpenClaw uses: `$OPENCLAW_STATE_DIR`, else `~/.openclaw`, else the
/// legacy `~/.clawdbot` when only that exists.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OPENCLAW_STATE_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let new = home.join(".openclaw");
    let old = home.join(".clawdbot");
    if !new.exists() && old.exists() {
        old
    } else {
        new
    }
}

/// A planned import: the files to write, and the store rows to add once they are written.
#[derive(Debug)]
pub struct Import {
    /// Config, secrets and files.
    pub plan: Plan,
    /// Cron jobs for the store, in Hearth's (OpenClaw-shaped) job JSON.
    pub jobs: Vec<crate::cron::CronJob>,
    /// Pairing approvals for the store: (channel, account, sender).
    pub approvals: Vec<(String, String, String)>,
    /// The exec allow-list document, written beside the config for `hearth approvals import`.
    pub exec_approvals: Option<Value>,
    /// What was found.
    pub report: Report,
}

/// The mapping's working state: the source, the output table and the report.
pub(super) struct Ctx<'a> {
    src: &'a Source,
    state: &'a State,
    target: &'a Target,
    out: toml::Table,
    secrets: Secrets,
    report: Report,
    /// The OpenClaw id of the default agent (Hearth's `main`).
    default_agent: String,
    /// Agent ids carried over (OpenClaw id → Hearth id).
    agents: Vec<(String, String)>,
}

impl<'a> Ctx<'a> {
    /// The value at `pointer` (RFC 6901) in the config, if set.
    fn at(&self, pointer: &str) -> Option<&'a Value> {
        self.src.at(pointer)
    }

    /// A string at `pointer` with `${VAR}`s substituted.
    fn text(&self, pointer: &str) -> Option<String> {
        self.at(pointer)
            .and_then(source::scalar)
            .map(|s| self.src.substitute(&s).0)
    }

    /// Sets the dotted Hearth `key` (`channels.telegram.token`), making tables on the way.
    fn set(&mut self, key: &str, v: impl Into<toml::Value>) {
        let parts: Vec<&str> = key.split('.').collect();
        self.set_in(&parts, v);
    }

    /// Sets the Hearth key made of `parts` (which may hold dots, e.g. a sender id).
    fn set_in(&mut self, parts: &[&str], v: impl Into<toml::Value>) {
        let (last, path) = parts.split_last().expect("a key");
        super::table_at(&mut self.out, path).insert(last.to_string(), v.into());
    }

    /// Copies a scalar at `pointer` to `key` when set, reporting it.
    fn copy(&mut self, pointer: &str, key: &str) {
        let Some(v) = self.at(pointer) else { return };
        let tv = match v {
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Number(n) if n.is_i64() => toml::Value::Integer(n.as_i64().unwrap_or(0)),
            Value::Number(n) => toml::Value::Float(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => toml::Value::String(self.src.substitute(s).0),
            _ => {
                self.skip(&dotted(pointer), "not a single value");
                return;
            }
        };
        self.set(key, tv);
        self.report.push(Item::imported(&dotted(pointer), key));
    }

    fn skip(&mut self, from: &str, why: &str) {
        self.report.push(Item::skipped(from, why));
    }

    fn changed(&mut self, from: &str, to: &str, why: &str) {
        self.report.push(Item::changed(from, to, why));
    }

    fn imported(&mut self, from: &str, to: &str) {
        self.report.push(Item::imported(from, to));
    }

    /// Reports every key of the object at `pointer` in `keys` as not carried over.
    fn skip_keys(&mut self, pointer: &str, keys: &[&str], why: &str) {
        for k in keys {
            if self.at(&format!("{pointer}/{k}")).is_some() {
                self.skip(&dotted(&format!("{pointer}/{k}")), why);
            }
        }
    }

    /// Turns the secret input at `pointer` into a secret file named `name` and sets `key` to
    /// its reference. Returns whether it did.
    fn secret(&mut self, pointer: &str, key: &str, name: &str) -> bool {
        let Some(v) = self.at(pointer) else {
            return false;
        };
        self.secret_value(&dotted(pointer), v, key, name)
    }

    /// Like [`Ctx::secret`], for a value already in hand.
    fn secret_value(&mut self, from: &str, v: &Value, key: &str, name: &str) -> bool {
        let Some(r) = self.secret_ref(from, v, key, name) else {
            return false;
        };
        self.set(key, r);
        true
    }

    /// The reference a secret input becomes (a secret file named `name`, or `env:VAR` when
    /// the variable is not set here), reported as going to `to`; `None` when there is no
    /// value or it cannot be resolved (reported).
    fn secret_ref(&mut self, from: &str, v: &Value, to: &str, name: &str) -> Option<String> {
        match self.src.secret(v, &self.state.store)? {
            Secret::Value(value, how) => {
                let r = self.secrets.put(self.target, name, &value);
                let why = format!("secret ({how}) moved to {}", r.as_str());
                self.changed(from, to, &why);
                Some(r.as_str().to_string())
            }
            Secret::EnvUnset(var) => {
                self.changed(
                    from,
                    to,
                    &format!(
                        "${var} is not set here, so it stays a reference to the variable; \
                         give the service that variable or write the secret to a file"
                    ),
                );
                Some(format!("env:{var}"))
            }
            Secret::Unsupported(why) => {
                self.skip(from, &why);
                None
            }
        }
    }
}

/// The channels Hearth has (its `[channels.*]` tables).
const CHANNELS: &[&str] = &["telegram", "matrix", "discord", "slack", "mqtt"];

/// `/a/b/c` → `a.b.c`.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// Reads the OpenClaw directory and plans the import; writes nothing.
///
/// # Errors
/// [`SetupError::Input`] when the directory has no readable config, and
/// [`SetupError::Invalid`] when the generated config does not validate.
pub fn plan(opts: &Options) -> Result<Import, SetupError> {
    let src = Source::open(&opts.dir)?;
    let mut report = Report::default();
    let state = State::read(&opts.dir, &mut report);
    let mut cx = Ctx {
        src: &src,
        state: &state,
        target: &opts.target,
        out: toml::Table::new(),
        secrets: Secrets::default(),
        report,
        default_agent: "main".into(),
        agents: Vec::new(),
    };
    agents::agents(&mut cx);
    map::gateway(&mut cx);
    map::tools(&mut cx);
    map::automation(&mut cx);
    map::rest(&mut cx);
    let owners = channels::channels(&mut cx);
    channels::bindings(&mut cx);
    let approvals = channels::approvals(&mut cx, &owners);
    let mut files: Vec<FileWrite> = Vec::new();
    files::workspaces(&mut cx, &mut files, opts.force);
    files::skills(&mut cx, &mut files, opts.force);
    let jobs = files::jobs(&mut cx, &mut files, opts.force);
    let exec_approvals = state.exec_approvals.clone();
    if exec_approvals.is_some() {
        cx.changed(
            "exec approvals",
            "exec-approvals.json beside the config",
            "load it with `hearth approvals import` once the gateway runs",
        );
    }
    let header = format!(
        "Imported from OpenClaw ({}) by hearth import-openclaw {}.\n\
         See `hearth import-openclaw --dry-run {}` for what was left behind and why.",
        src.file.display(),
        env!("CARGO_PKG_VERSION"),
        opts.dir.display()
    );
    let Ctx {
        out,
        secrets,
        report,
        ..
    } = cx;
    let plan = Plan::new(opts.target.clone(), &header, out, secrets, files)?;
    Ok(Import {
        plan,
        jobs,
        approvals,
        exec_approvals,
        report,
    })
}

/// Writes a planned import: files, then the config, then the store rows.
///
/// # Errors
/// [`SetupError`] naming what failed; the store is written only after the config.
pub fn write(import: &mut Import, force: bool) -> Result<(), SetupError> {
    let t = &import.plan.target;
    if !import.jobs.is_empty() || !import.approvals.is_empty() {
        super::check_stopped(&t.host(&t.data_dir))?;
    }
    import.plan.write(force, &mut import.report)?;
    if let Some(doc) = &import.exec_approvals {
        let path = t.host(
            &t.config
                .parent()
                .unwrap_or(Path::new("."))
                .join("exec-approvals.json"),
        );
        let text = serde_json::to_vec_pretty(doc).unwrap_or_default();
        crate::update::write_atomic(&path, &text, 0o600)?;
    }
    files::store(import)
}
