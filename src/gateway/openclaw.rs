//! The methods OpenClaw's own clients (its CLI, TUI and Control UI) call, answered in the
//! shapes they read (<https://docs.openclaw.ai/gateway/protocol>; the result schemas of
//! `openclaw@2026.9.6`): `health` (OpenClaw's health snapshot, also `hello-ok`'s),
//! `agents.list`, `commands.list`, `sessions.list` and `sessions.describe` (session rows),
//! `system-presence`, `config.get`, `logs.tail`, and the session defaults of `hello-ok`.
//! Hearth's own fields stay beside OpenClaw's where both exist.

use super::GatewayState;
use super::protocol::ErrorShape;
use crate::core::{agent_of, now_ms};
use crate::router::SessionRecord;
use serde::Deserialize;
use serde_json::{Value, json};

/// The main agent and its main session.
pub(super) fn session_defaults() -> Value {
    json!({"defaultAgentId": "main", "mainKey": "main", "mainSessionKey": crate::core::DEFAULT_SESSION_KEY,
        "scope": "per-sender"})
}

/// `direct` or `group`, from a session key's shape (`…:group:…`, `…:channel:…`).
fn kind(key: &str) -> &'static str {
    if key.contains(":group:") || key.contains(":channel:") {
        "group"
    } else {
        "direct"
    }
}

/// The primary model of the chain (`provider`, `model`, window).
fn primary(st: &GatewayState) -> (String, String, Option<usize>) {
    let chain = st.dispatcher.chain();
    match chain.models().first() {
        Some(m) => (
            m.provider.clone(),
            m.model.clone(),
            chain.route(&m.provider).map(|r| r.context_window),
        ),
        None => (String::new(), String::new(), None),
    }
}

/// One session as OpenClaw's `SessionRow`, with Hearth's fields (`messages`, `createdAt`,
/// `lastModel`, `queue`).
pub(super) fn session_row(st: &GatewayState, s: &SessionRecord) -> Value {
    let (provider, model) = match s.last_model.as_deref().and_then(|m| m.split_once('/')) {
        Some((p, m)) => (p.to_string(), m.to_string()),
        None => {
            let (p, m, _) = primary(st);
            (p, m)
        }
    };
    let window = st
        .dispatcher
        .chain()
        .route(&provider)
        .map(|r| r.context_window);
    json!({
        "key": s.key, "sessionId": s.id.to_string(), "kind": kind(&s.key),
        "agentId": agent_of(&s.key), "displayName": s.key, "updatedAt": s.updated_ms,
        "model": model, "modelProvider": provider, "contextTokens": window,
        "messages": s.next_seq, "createdAt": s.created_ms, "lastModel": s.last_model,
        "queue": s.queue,
    })
}

/// The session store's facts per agent: `{path, count, recent: [{key, updatedAt, age}]}`.
fn session_store(st: &GatewayState, sessions: &[SessionRecord], agent: Option<&str>) -> Value {
    let now = now_ms();
    let mut mine: Vec<&SessionRecord> = sessions
        .iter()
        .filter(|s| agent.is_none_or(|a| agent_of(&s.key) == a))
        .collect();
    mine.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
    let recent: Vec<Value> = mine
        .iter()
        .take(5)
        .map(|s| json!({"key": s.key, "updatedAt": s.updated_ms, "age": now.saturating_sub(s.updated_ms)}))
        .collect();
    let (path, _) = st.dispatcher.store_info();
    json!({"path": path, "count": mine.len(), "recent": recent})
}

/// OpenClaw's health snapshot: channels, agents with their heartbeat and sessions, and
/// Hearth's `uptimeMs`.
pub(super) fn health_snapshot(st: &GatewayState) -> Value {
    let t0 = std::time::Instant::now();
    let sessions = st.dispatcher.sessions().unwrap_or_default();
    let mut channels = serde_json::Map::new();
    let mut order = Vec::new();
    for c in st.dispatcher.channels_status().unwrap_or_default() {
        let acc = json!({
            "accountId": c.account, "configured": true, "connected": c.health.connected,
            "running": c.health.connected, "lastError": c.health.last_error,
            "backlog": c.backlog, "deadLetters": c.dead_letters,
        });
        let e = channels.entry(c.channel.clone()).or_insert_with(|| {
            order.push(c.channel.clone());
            json!({"configured": true, "linked": true, "running": true, "accounts": {}})
        });
        if !c.health.connected {
            e["running"] = json!(false);
            e["lastError"] = json!(c.health.last_error);
        }
        e["accounts"][&c.account] = acc;
    }
    let hb = st.info.get("heartbeat").cloned().unwrap_or_default();
    let every_ms = hb.get("everyMs").and_then(Value::as_u64);
    let heartbeat = json!({
        "enabled": every_ms.is_some(), "every": hb.get("every"), "everyMs": every_ms,
        "target": hb.get("target"), "ackMaxChars": hb.get("ackMaxChars"),
    });
    let agents: Vec<Value> = st
        .dispatcher
        .agent_ids()
        .iter()
        .map(|id| {
            json!({
                "agentId": id, "isDefault": id == "main",
                "heartbeat": if id == "main" { heartbeat.clone() } else { json!({"enabled": false, "everyMs": null}) },
                "sessions": session_store(st, &sessions, Some(id)),
            })
        })
        .collect();
    json!({
        "ok": true, "ts": now_ms(), "durationMs": t0.elapsed().as_millis() as u64,
        "uptimeMs": st.started.elapsed().as_millis() as u64,
        "channels": channels, "channelOrder": order, "channelLabels": {},
        "heartbeatSeconds": every_ms.map(|m| m / 1000), "defaultAgentId": "main",
        "agents": agents, "sessions": session_store(st, &sessions, None),
    })
}

/// `agents.list`.
pub(super) fn agents_list(st: &GatewayState) -> Value {
    let agents: Vec<Value> = st
        .dispatcher
        .agent_ids()
        .iter()
        .map(|id| {
            let chain = st.dispatcher.agent_models(id);
            json!({
                "id": id, "name": id, "kind": "agent",
                "model": {"primary": chain.first(), "fallbacks": chain.get(1..).unwrap_or_default()},
            })
        })
        .collect();
    json!({"defaultId": "main", "mainKey": "main", "scope": "per-sender", "ownership": "sole",
        "selectionRequired": false, "agents": agents})
}

/// `commands.list`: the chat commands every channel answers.
pub(super) fn commands_list() -> Value {
    let commands: Vec<Value> = crate::router::COMMANDS
        .iter()
        .map(|(name, description, args)| {
            json!({"name": name.trim_start_matches('/'), "description": description, "source": "native",
                "scope": "text", "acceptsArgs": args, "textAliases": [name]})
        })
        .collect();
    json!({"commands": commands})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    active_minutes: Option<u64>,
}

/// `sessions.list`: the sessions, newest first, as OpenClaw's list result.
pub(super) fn sessions_list(st: &GatewayState, p: Value) -> Result<Value, ErrorShape> {
    let p: ListParams = super::methods::params(p)?;
    let mut all = st
        .dispatcher
        .sessions()
        .map_err(super::methods::dispatch_err)?;
    let now = now_ms();
    all.retain(|s| {
        p.agent_id.as_deref().is_none_or(|a| agent_of(&s.key) == a)
            && p.active_minutes
                .is_none_or(|m| now.saturating_sub(s.updated_ms) <= m * 60_000)
    });
    all.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
    let total = all.len();
    let limit = p.limit.unwrap_or(total).min(total);
    let rows: Vec<Value> = all[..limit].iter().map(|s| session_row(st, s)).collect();
    let (provider, model, window) = primary(st);
    let (path, _) = st.dispatcher.store_info();
    Ok(json!({
        "ts": now, "path": path, "count": rows.len(), "totalCount": total, "limitApplied": limit,
        "hasMore": limit < total,
        "defaults": {"modelProvider": provider, "model": model, "contextTokens": window},
        "sessions": rows,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeParams {
    key: String,
    #[serde(default)]
    agent_id: Option<String>,
}

/// A session key as a client gives it: `main` → `agent:main:main`; with `agentId`, an
/// unqualified key is that agent's (`main` + `ops` → `agent:ops:main`).
pub(super) fn qualify(key: &str, agent: Option<&str>) -> String {
    match agent {
        Some(a) if !key.starts_with("agent:") => format!("agent:{a}:{key}"),
        _ => key.to_string(),
    }
}

/// `sessions.describe`: `{session: row | null}`.
pub(super) fn sessions_describe(st: &GatewayState, p: Value) -> Result<Value, ErrorShape> {
    let p: DescribeParams = super::methods::params(p)?;
    let key = crate::core::SessionKey::parse(&qualify(&p.key, p.agent_id.as_deref()))
        .map_err(|e| ErrorShape::invalid(format!("params.key: {e}")))?;
    let row = st
        .dispatcher
        .session(key.as_str())
        .map_err(super::methods::dispatch_err)?
        .map(|s| session_row(st, &s));
    Ok(json!({"session": row}))
}

/// The SHA-256 of a config text, hex: `config.get`'s `hash`, `config.apply`'s `baseHash`.
pub fn config_hash(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `config.get`: the config file's text and the config in effect (Hearth's config holds
/// secret references only, never secrets), whether the file is valid now, and its hash.
pub(super) async fn config_get(st: &GatewayState) -> Result<Value, ErrorShape> {
    let Some(c) = &st.config else {
        return Err(ErrorShape::unavailable(
            "this gateway does not show its config",
        ));
    };
    let s = c.get().await;
    Ok(json!({
        "path": s.path, "exists": s.raw.is_some(), "raw": s.raw, "valid": s.valid,
        "config": s.config, "parsed": s.config, "runtimeConfig": s.config, "hash": s.hash,
        "issues": s.issues, "warnings": [], "format": "toml",
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TailParams {
    #[serde(default)]
    cursor: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    max_bytes: Option<usize>,
}

/// `logs.tail`: the gateway's recent log lines after `cursor` (OpenClaw's result shape:
/// `{cursor, lines, truncated, reset}`; Hearth keeps the lines in memory, not a file).
pub(super) fn logs_tail(p: Value) -> Result<Value, ErrorShape> {
    let p: TailParams = super::methods::params(p)?;
    let limit = p
        .limit
        .unwrap_or(200)
        .clamp(1, crate::core::logs::MAX_LINES);
    let max_bytes = p.max_bytes.unwrap_or(256 << 10).max(1);
    let t = crate::core::logs::LOGS.tail(p.cursor, limit, max_bytes);
    Ok(
        json!({"file": null, "cursor": t.cursor, "lines": t.lines, "truncated": t.truncated,
        "reset": t.reset}),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplyParams {
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    patch: Option<Value>,
    #[serde(default)]
    base_hash: Option<String>,
}

/// `config.apply {raw}` and `config.patch {patch}`: validates the new config, writes it
/// and re-wires what changed (`daemon/reload.rs`); a refusal names the key and line, and
/// nothing changes.
pub(super) async fn config_apply(
    st: &GatewayState,
    method: &str,
    p: Value,
) -> Result<Value, ErrorShape> {
    use super::ConfigRefusal;
    let p: ApplyParams = super::methods::params(p)?;
    let Some(c) = &st.config else {
        return Err(ErrorShape::unavailable(
            "this gateway does not apply config changes",
        ));
    };
    let done = match (method, p.raw, p.patch) {
        ("config.apply", Some(raw), _) => c.apply(raw, p.base_hash).await,
        ("config.patch", _, Some(patch)) if patch.is_object() => c.patch(patch, p.base_hash).await,
        ("config.apply", ..) => {
            return Err(ErrorShape::invalid(
                "params.raw (the TOML text) is required",
            ));
        }
        _ => {
            return Err(ErrorShape::invalid(
                "params.patch (a JSON object) is required",
            ));
        }
    };
    match done {
        Ok(a) => Ok(json!({
            "ok": true, "changed": a.changed, "applied": a.applied,
            "restartRequired": a.restart_required, "restart": !a.restart_required.is_empty(),
        })),
        Err(r @ ConfigRefusal::Invalid { .. }) => Err(ErrorShape::invalid_with(
            format!("invalid config: {r}"),
            json!({"code": "INVALID_CONFIG", "issues": [r.issue()]}),
        )),
        Err(ConfigRefusal::Conflict) => Err(ErrorShape::invalid_with(
            "the config file changed since it was read; read it again (config.get) and retry",
            json!({"code": "BASE_HASH_MISMATCH"}),
        )),
        Err(ConfigRefusal::NoFile) => Err(ErrorShape::invalid(
            "the gateway runs on the embedded defaults; start it with --config FILE to edit a config",
        )),
        Err(ConfigRefusal::Failed(m)) => Err(ErrorShape::unavailable(format!(
            "the config was not applied: {m}"
        ))),
    }
}
