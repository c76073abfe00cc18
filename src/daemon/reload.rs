//! Live configuration reload (SIGHUP, `config.apply`, `config.patch`): the new file is parsed and validated,
//! and everything it changes is built before anything is swapped, so a bad config changes
//! nothing and says what and where. Then, without touching queued or running turns:
//!
//! - `[agent]`, `[agents.*]`, `[providers]`, `[tools]`, `[skills]`, `[mcp]`: every agent is
//!   rebuilt (chains, tools, MCP servers) and swapped into the dispatcher; a turn already
//!   running finishes on the agent it started with, queued ones run on the new ones;
//! - `[session]`, `[[bindings]]` and the channels' access policies: the gate's options are
//!   replaced;
//! - `[channels.*]`: a channel whose settings changed is stopped and started again, an added
//!   one starts, a removed one stops (its outbound sink stays, so replies already queued
//!   to it are still delivered).
//!
//! The rest — `[gateway]`, `[storage]`, `[memory]`, `[local]`, `[queue]`, `[outbox]`,
//! `[cron]`, `[heartbeat]`, `[hooks]`, `[mcp_server]`, `[ollama]`, `data_dir`, the main
//! workspace, `agent.max_concurrent_runs`, `[tools.approvals]`, `tools.message_targets`,
//! and the Telegram channel while it is in webhook mode — is read at start only: a change there is kept in the new
//! config and listed as needing a restart.

use super::{DaemonError, agents, build, channels, tools};
use crate::config::{Config, ConfigError};
use crate::gateway::{ConfigApplied, ConfigControl, ConfigFuture, ConfigRefusal, ConfigSnapshot};
use crate::mcp::McpHub;
use crate::memory::Memory;
use crate::provider::failover::Route;
use crate::router::{ChannelGate, Dispatcher};
use crate::storage::Store;
use crate::workspace::Workspace;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Sections a running gateway re-wires.
const HOT: [&str; 9] = [
    "agent",
    "agents",
    "providers",
    "tools",
    "skills",
    "mcp",
    "session",
    "bindings",
    "channels",
];

/// Everything the gateway was built from that a reload may replace.
pub struct Wired {
    /// The config in effect.
    pub cfg: Config,
    /// Its file (`None`: the embedded defaults; nothing to reload or apply).
    pub path: Option<PathBuf>,
    /// The data dir.
    pub data_dir: PathBuf,
    /// The store.
    pub store: Store,
    /// The dispatcher.
    pub dispatcher: Dispatcher,
    /// The providers by name.
    pub routes: BTreeMap<String, Route>,
    /// The MCP servers.
    pub mcp: Arc<McpHub>,
    /// What the tools share.
    pub kit: tools::ToolKit,
    /// `main`'s workspace.
    pub ws: Arc<Workspace>,
    /// Long-term memory.
    pub memory: Option<Arc<Memory>>,
    /// The channel gate.
    pub gate: Arc<ChannelGate>,
    /// Each running channel adapter's stop switch.
    pub stops: HashMap<String, CancellationToken>,
    /// The gateway's shutdown (parent of the adapters' switches).
    pub shutdown: CancellationToken,
}

/// Re-wires a running gateway; one reload at a time.
pub struct Reloader {
    wired: tokio::sync::Mutex<Wired>,
}

/// Top-level sections whose values differ.
fn changed_sections(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (to_map(old), to_map(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

fn to_map(c: &Config) -> serde_json::Map<String, Value> {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Default::default(),
    }
}

/// Keys of hot sections that are nonetheless read at start only.
fn cold_keys(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |key: &str, differ: bool| {
        if differ {
            out.push(key.to_string());
        }
    };
    check(
        "agent.workspace",
        old.agent.workspace != new.agent.workspace,
    );
    check(
        "agent.max_concurrent_runs",
        old.agent.max_concurrent_runs != new.agent.max_concurrent_runs,
    );
    check(
        "tools.approvals",
        json(&old.tools.approvals) != json(&new.tools.approvals),
    );
    check(
        "tools.message_targets",
        old.tools.message_targets != new.tools.message_targets,
    );
    check("channels.telegram", telegram_webhook_changed(old, new));
    out
}

/// Whether the Telegram channel's settings changed while it is (or becomes, or was) in
/// webhook mode: the gateway's `/channels/telegram/webhook` route keeps the handler it was
/// started with, so such a change waits for a restart (access policies, which the gate
/// holds, still apply at once).
fn telegram_webhook_changed(old: &Config, new: &Config) -> bool {
    let webhook = |c: &Config| {
        c.channels
            .telegram
            .as_ref()
            .is_some_and(|t| t.enabled && t.webhook_url.is_some())
    };
    (webhook(old) || webhook(new)) && json(&old.channels.telegram) != json(&new.channels.telegram)
}

/// RFC 7396 JSON merge patch (<https://www.rfc-editor.org/rfc/rfc7396>): objects merge
/// key by key, `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// A value as JSON, to compare settings that have no `PartialEq`.
fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

impl Reloader {
    /// A reloader of the gateway built as `wired` describes.
    pub fn new(wired: Wired) -> Self {
        Self {
            wired: tokio::sync::Mutex::new(wired),
        }
    }

    /// The MCP servers now in use (to shut them down at exit).
    pub async fn mcp(&self) -> Arc<McpHub> {
        self.wired.lock().await.mcp.clone()
    }

    /// Reads the config file again and applies it (SIGHUP).
    ///
    /// # Errors
    /// [`ConfigRefusal`]: nothing changed.
    pub async fn reload(&self) -> Result<ConfigApplied, ConfigRefusal> {
        let mut w = self.wired.lock().await;
        let Some(path) = w.path.clone() else {
            return Err(ConfigRefusal::NoFile);
        };
        let p = path.clone();
        let new = tokio::task::spawn_blocking(move || crate::config::load_file(&p))
            .await
            .map_err(|e| ConfigRefusal::Failed(e.to_string()))?
            .map_err(refusal)?;
        apply(&mut w, new, None).await
    }
}

/// Reloads on every SIGHUP until `shutdown` (`systemctl reload`), telling systemd
/// `RELOADING=1` then `READY=1`; the outcome goes to the log.
pub fn on_sighup(r: Arc<Reloader>, n: Arc<super::Notifier>, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP; reload with config.apply only: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            tracing::info!("SIGHUP: reloading the configuration");
            n.reloading();
            if let Err(e) = r.reload().await {
                tracing::error!("configuration not reloaded, nothing changed: {e}");
            }
            n.ready("configuration reloaded");
        }
    });
}

/// A config error as the refusal clients see (key and line when known).
fn refusal(e: ConfigError) -> ConfigRefusal {
    match e {
        ConfigError::Invalid {
            line, key, message, ..
        } => ConfigRefusal::Invalid { key, line, message },
        ConfigError::Syntax {
            line, key, message, ..
        } => ConfigRefusal::Invalid {
            key: key.unwrap_or_default(),
            line: Some(line),
            message,
        },
        ConfigError::Unsupported { key, message } => ConfigRefusal::Invalid {
            key,
            line: None,
            message,
        },
        e => ConfigRefusal::Invalid {
            key: String::new(),
            line: None,
            message: e.to_string(),
        },
    }
}

impl ConfigControl for Reloader {
    fn apply(&self, raw: String, base_hash: Option<String>) -> ConfigFuture<'_> {
        Box::pin(async move {
            let mut w = self.wired.lock().await;
            let Some(path) = w.path.clone() else {
                return Err(ConfigRefusal::NoFile);
            };
            if let Some(base) = base_hash {
                let now = std::fs::read_to_string(&path).unwrap_or_default();
                if crate::gateway::config_hash(&now) != base {
                    return Err(ConfigRefusal::Conflict);
                }
            }
            let new = crate::config::parse(&raw, &path).map_err(refusal)?;
            apply(&mut w, new, Some((path, raw))).await
        })
    }

    fn reload(&self) -> ConfigFuture<'_> {
        Box::pin(Reloader::reload(self))
    }

    fn get(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ConfigSnapshot> + Send + '_>> {
        Box::pin(async move {
            let w = self.wired.lock().await;
            let raw = w
                .path
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok());
            let (valid, issues) = match (&w.path, &raw) {
                (Some(p), Some(r)) => match crate::config::parse(r, p) {
                    Ok(_) => (true, vec![]),
                    Err(e) => (false, vec![refusal(e).issue()]),
                },
                (None, _) => (true, vec![]),
                (Some(_), None) => (
                    false,
                    vec![serde_json::json!({"message": "the file cannot be read"})],
                ),
            };
            ConfigSnapshot {
                path: w.path.clone(),
                hash: raw.as_deref().map(crate::gateway::config_hash),
                raw,
                valid,
                issues,
                config: json(&w.cfg),
            }
        })
    }

    fn patch(&self, patch: Value, base_hash: Option<String>) -> ConfigFuture<'_> {
        Box::pin(async move {
            let mut w = self.wired.lock().await;
            let Some(path) = w.path.clone() else {
                return Err(ConfigRefusal::NoFile);
            };
            let now = std::fs::read_to_string(&path).map_err(|e| {
                ConfigRefusal::Failed(format!("cannot read {}: {e}", path.display()))
            })?;
            if base_hash.is_some_and(|b| b != crate::gateway::config_hash(&now)) {
                return Err(ConfigRefusal::Conflict);
            }
            let table: toml::Table = toml::from_str(&now).map_err(|e| ConfigRefusal::Invalid {
                key: String::new(),
                line: None,
                message: format!("the file is not valid TOML now: {e}"),
            })?;
            let mut doc = json(&table);
            merge_patch(&mut doc, &patch);
            let table: toml::Table =
                serde_json::from_value(doc).map_err(|e| ConfigRefusal::Invalid {
                    key: String::new(),
                    line: None,
                    message: format!("the patch makes a value TOML cannot hold: {e}"),
                })?;
            let raw = toml::to_string(&table).map_err(|e| ConfigRefusal::Failed(e.to_string()))?;
            let new = crate::config::parse(&raw, &path).map_err(refusal)?;
            apply(&mut w, new, Some((path, raw))).await
        })
    }
}

/// Builds what `new` changes, writes `file` (path, text) when given, then swaps.
async fn apply(
    w: &mut Wired,
    new: Config,
    file: Option<(PathBuf, String)>,
) -> Result<ConfigApplied, ConfigRefusal> {
    let changed = changed_sections(&w.cfg, &new);
    let mut restart: Vec<String> = changed
        .iter()
        .filter(|s| !HOT.contains(&s.as_str()))
        .cloned()
        .collect();
    restart.extend(cold_keys(&w.cfg, &new));
    let rebuild = changed
        .iter()
        .any(|s| ["agent", "agents", "providers", "tools", "skills", "mcp"].contains(&s.as_str()));
    let failed = |e: DaemonError| match e {
        DaemonError::Config(c) => refusal(c),
        e => ConfigRefusal::Failed(e.to_string()),
    };

    // 1. Build (nothing is swapped yet; an error leaves the gateway as it was).
    let mut built = None;
    if rebuild {
        let mut routes = if changed.iter().any(|s| s == "providers") {
            let models_dir = build::models_dir(&new, &w.data_dir);
            build::routes(&new, &models_dir).map_err(refusal)?.routes
        } else {
            w.routes.clone()
        };
        // The on-device model stays loaded: `[local]` changes need a restart.
        match w.routes.get("local") {
            Some(l) => routes.insert("local".into(), l.clone()),
            None => routes.remove("local"),
        };
        let mcp = if changed.iter().any(|s| s == "mcp") {
            Arc::new(crate::mcp::start(&new.mcp, w.ws.root()))
        } else {
            w.mcp.clone()
        };
        let parts = agents::Parts {
            data_dir: &w.data_dir,
            store: &w.store,
            routes: &routes,
            file: w.path.clone(),
            mcp: &mcp,
            kit: &w.kit,
            ws: &w.ws,
            memory: w.memory.as_ref(),
        };
        let agents = match agents::all(&new, &parts) {
            Ok(a) => a,
            Err(e) => {
                if !Arc::ptr_eq(&mcp, &w.mcp) {
                    tokio::task::spawn_blocking(move || mcp.shutdown());
                }
                return Err(failed(e));
            }
        };
        built = Some((routes, mcp, agents));
    }
    let old_ch: BTreeMap<_, _> = channels::settings(&w.cfg).into_iter().collect();
    let webhook_cold = telegram_webhook_changed(&w.cfg, &new);
    let new_ch: Vec<(&str, Value)> = channels::settings(&new)
        .into_iter()
        .filter(|(n, v)| old_ch.get(n) != Some(v) && !(webhook_cold && *n == "telegram"))
        .collect();
    let starting: Vec<&str> = new_ch
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(n, _)| *n)
        .collect();
    // A refusal from here on stops the MCP servers a changed `[mcp]` started.
    let abandon = |built: Option<(BTreeMap<String, Route>, Arc<McpHub>, _)>, old: &Arc<McpHub>| {
        if let Some((_, mcp, _)) = built
            && !Arc::ptr_eq(&mcp, old)
        {
            tokio::task::spawn_blocking(move || mcp.shutdown());
        }
    };
    // Registering replaces the outbound sink of each channel that starts (its secrets are
    // resolved here, so a missing one refuses the change before the file is written).
    let adapters = match channels::register(&new, &w.dispatcher, &w.ws, &w.gate, &starting) {
        Ok(a) => a,
        Err(e) => {
            abandon(built, &w.mcp);
            return Err(refusal(e));
        }
    };
    if let Some((path, text)) = &file
        && let Err(e) = build::write_private(path, text.as_bytes())
    {
        abandon(built, &w.mcp);
        return Err(ConfigRefusal::Failed(format!(
            "cannot write {}: {e}",
            path.display()
        )));
    }

    // 2. Swap.
    let mut applied = Vec::new();
    if let Some((routes, mcp, (main, others))) = built {
        w.dispatcher.set_agents(main, others);
        w.routes = routes;
        if !Arc::ptr_eq(&mcp, &w.mcp) {
            let old = std::mem::replace(&mut w.mcp, mcp);
            tokio::task::spawn_blocking(move || old.shutdown());
            applied.push("mcp servers reconnected".to_string());
        }
        applied.push("agents rebuilt (models, tools, skills)".to_string());
    }
    if changed
        .iter()
        .any(|s| ["session", "bindings", "channels"].contains(&s.as_str()))
    {
        w.gate.set_options(channels::gate_options(&new));
        applied.push("access policies, bindings and session scoping replaced".into());
    }
    for (name, v) in &new_ch {
        if let Some(t) = w.stops.remove(*name) {
            t.cancel();
            applied.push(format!("channel {name} stopped"));
        }
        if !v.is_null() {
            let t = w.shutdown.child_token();
            w.stops.insert(name.to_string(), t);
        }
    }
    let stops = w.stops.clone();
    channels::start(adapters, &new, &w.ws, &|n| {
        stops.get(n).cloned().unwrap_or_default()
    })
    .map_err(|e| ConfigRefusal::Failed(format!("cannot start a channel: {e}")))?;
    applied.extend(starting.iter().map(|n| format!("channel {n} started")));
    w.cfg = new;
    tracing::info!(
        changed = ?changed, applied = ?applied, restart = ?restart,
        "configuration reloaded"
    );
    Ok(ConfigApplied {
        changed,
        applied,
        restart_required: restart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The RFC's own example (section 3).
        let mut doc = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"], "content": "This will be unchanged"});
        let patch = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null}, "tags": ["example"]});
        merge_patch(&mut doc, &patch);
        assert_eq!(
            doc,
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
        let mut scalar = json!("x");
        merge_patch(&mut scalar, &json!({"a": {"b": 1}}));
        assert_eq!(scalar, json!({"a": {"b": 1}}));
    }

    #[test]
    fn changes_are_sorted_into_rewired_and_restart_only() {
        let old = Config::default();
        let mut new = Config::default();
        new.agent.max_steps += 1;
        new.gateway.tick_secs += 1;
        new.agent.max_concurrent_runs += 1;
        assert_eq!(changed_sections(&old, &new), ["agent", "gateway"]);
        assert_eq!(cold_keys(&old, &new), ["agent.max_concurrent_runs"]);
        assert!(changed_sections(&old, &old).is_empty());
        // Telegram: re-wired in long-poll mode, restart-only in webhook mode.
        let tg = |url: Option<&str>, typing: bool| {
            let mut c = Config::default();
            let mut t: crate::config::TelegramConfig =
                toml::from_str("token = \"env:T\"").expect("telegram table");
            t.webhook_url = url.map(str::to_string);
            t.typing = typing;
            c.channels.telegram = Some(t);
            c
        };
        assert!(cold_keys(&tg(None, true), &tg(None, false)).is_empty());
        let hook = Some("https://example.org/hook");
        assert_eq!(
            cold_keys(&tg(hook, true), &tg(hook, false)),
            ["channels.telegram"]
        );
        assert_eq!(
            cold_keys(&tg(None, true), &tg(hook, true)),
            ["channels.telegram"]
        );
        assert!(cold_keys(&tg(hook, true), &tg(hook, true)).is_empty());
    }
}
