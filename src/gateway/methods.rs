//! WebSocket method handlers: params in, payload or [`ErrorShape`] out.

use super::GatewayState;
use super::protocol::ErrorShape;
use crate::agent::{AgentError, SendRequest};
use crate::core::{DEFAULT_SESSION_KEY, SessionKey};
use crate::storage::TranscriptEntry;
use serde_json::{Value, json};
use std::time::Duration;

/// Longest `agent.wait` a client may ask for, ms.
const MAX_WAIT_MS: u64 = 600_000;
/// Most history entries returned at once.
const MAX_HISTORY: usize = 1000;

/// Runs method `method` with `params`.
///
/// # Errors
/// An [`ErrorShape`] with a code and a message naming the bad parameter.
pub async fn dispatch(st: &GatewayState, method: &str, params: Value) -> Result<Value, ErrorShape> {
    let p = if params.is_null() { json!({}) } else { params };
    if !p.is_object() {
        return Err(ErrorShape::invalid("params must be a JSON object"));
    }
    match method {
        "health" => Ok(json!({"ok": true, "uptimeMs": st.started.elapsed().as_millis() as u64})),
        "status" => status(st),
        "agent" | "chat.send" => send(st, &p),
        "agent.wait" => wait(st, &p).await,
        "chat.history" => history(st, &p),
        "chat.abort" => {
            let key = session_key(&p)?;
            let run = opt_str(&p, "runId")?;
            Ok(json!({"aborted": st.agent.abort(key.as_str(), run)}))
        }
        "sessions.list" => sessions(st),
        "sessions.reset" => {
            let key = match opt_str(&p, "key")? {
                Some(k) => {
                    SessionKey::parse(k).map_err(|e| ErrorShape::invalid(format!("key: {e}")))?
                }
                None => session_key(&p)?,
            };
            let existed = st.agent.reset(key.as_str()).map_err(agent_err)?;
            Ok(json!({"ok": true, "key": key, "existed": existed}))
        }
        "models.list" => Ok(json!({"models": models(st)})),
        "memory.search" => super::memory::search(st, &p).await,
        "memory.status" => super::memory::status(st).await,
        "memory.reindex" => super::memory::reindex(st).await,
        "connect" => Err(ErrorShape::invalid("already connected")),
        other => Err(ErrorShape {
            code: "UNKNOWN_METHOD",
            message: format!("unknown method {other:?}"),
            retryable: false,
        }),
    }
}

fn opt_str<'a>(p: &'a Value, k: &str) -> Result<Option<&'a str>, ErrorShape> {
    match p.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ErrorShape::invalid(format!("params.{k} must be a string"))),
    }
}

fn session_key(p: &Value) -> Result<SessionKey, ErrorShape> {
    let k = opt_str(p, "sessionKey")?.unwrap_or(DEFAULT_SESSION_KEY);
    SessionKey::parse(k).map_err(|e| ErrorShape::invalid(format!("params.sessionKey: {e}")))
}

pub(super) fn agent_err(e: AgentError) -> ErrorShape {
    match e {
        AgentError::Invalid(m) => ErrorShape::invalid(m),
        AgentError::UnknownRun(id) => ErrorShape::not_found(format!("unknown run {id}")),
        AgentError::ShuttingDown => ErrorShape::unavailable("the gateway is shutting down"),
        AgentError::Store(e) => ErrorShape::internal(format!("store: {e}")),
    }
}

fn send(st: &GatewayState, p: &Value) -> Result<Value, ErrorShape> {
    let message = opt_str(p, "message")?
        .ok_or_else(|| ErrorShape::invalid("params.message (string) is required"))?;
    let req = SendRequest {
        session_key: session_key(p)?,
        message: message.to_string(),
        idempotency_key: opt_str(p, "idempotencyKey")?.map(str::to_string),
        stateless_history: None,
    };
    let acc = st.agent.send(req).map_err(agent_err)?;
    Ok(
        json!({"runId": acc.run_id, "sessionKey": acc.session_key, "status": "accepted", "deduped": acc.deduped}),
    )
}

async fn wait(st: &GatewayState, p: &Value) -> Result<Value, ErrorShape> {
    let run = opt_str(p, "runId")?
        .ok_or_else(|| ErrorShape::invalid("params.runId (string) is required"))?;
    let ms = p
        .get("timeoutMs")
        .and_then(Value::as_u64)
        .unwrap_or(30_000)
        .min(MAX_WAIT_MS);
    let rec = st
        .agent
        .wait(run, Duration::from_millis(ms))
        .await
        .map_err(agent_err)?;
    Ok(json!({
        "runId": rec.id,
        "sessionKey": rec.session_key,
        "status": rec.status,
        "text": rec.reply,
        "error": rec.error,
        "model": rec.model,
        "profile": rec.profile,
        "startedAt": rec.started_ms,
        "endedAt": rec.ended_ms,
        "usage": rec.usage,
        "events": rec.events,
    }))
}

fn history(st: &GatewayState, p: &Value) -> Result<Value, ErrorShape> {
    let key = session_key(p)?;
    let limit = p
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(200)
        .min(MAX_HISTORY as u64) as usize;
    let entries = st.agent.history(key.as_str(), limit).map_err(agent_err)?;
    Ok(json!({"sessionKey": key, "messages": entries.iter().map(entry_json).collect::<Vec<_>>()}))
}

fn entry_json(e: &TranscriptEntry) -> Value {
    let mut v = serde_json::to_value(&e.message).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("seq".into(), json!(e.seq));
        o.insert("ts".into(), json!(e.ts_ms));
        o.insert("runId".into(), json!(e.run_id));
        if let Some(c) = &e.compaction {
            o.insert(
                "compaction".into(),
                json!({"firstKeptSeq": c.first_kept_seq, "summarized": c.summarized, "tokensBefore": c.tokens_before}),
            );
        }
    }
    v
}

fn sessions(st: &GatewayState) -> Result<Value, ErrorShape> {
    let store = st.agent.store();
    let r = store
        .read_txn()
        .map_err(|e| ErrorShape::internal(e.to_string()))?;
    let list = store
        .sessions(&r)
        .map_err(|e| ErrorShape::internal(e.to_string()))?;
    let out: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "key": s.key, "messages": s.next_seq, "createdAt": s.created_ms,
                "updatedAt": s.updated_ms, "lastModel": s.last_model,
            })
        })
        .collect();
    Ok(json!({"sessions": out}))
}

/// The model chain with each profile's health.
pub(super) fn models(st: &GatewayState) -> Vec<Value> {
    let chain = st.agent.chain();
    let health = chain.profile_health();
    let now = crate::core::now_ms();
    chain
        .models()
        .iter()
        .map(|m| {
            let route = chain.route(&m.provider);
            let profiles: Vec<Value> = route
                .map(|r| {
                    r.profiles
                        .iter()
                        .map(|p| {
                            let h = health.iter().find(|(id, _)| id == &p.id).map(|(_, h)| h.clone()).unwrap_or_default();
                            json!({
                                "id": p.id,
                                "healthy": h.cooldown_until_ms <= now,
                                "failures": h.failures,
                                "cooldownUntil": (h.cooldown_until_ms > now).then_some(h.cooldown_until_ms),
                                "lastError": h.last_error,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "id": m.to_string(), "provider": m.provider, "model": m.model,
                "contextWindow": route.map(|r| r.context_window), "profiles": profiles,
            })
        })
        .collect()
}

fn status(st: &GatewayState) -> Result<Value, ErrorShape> {
    let store = st.agent.store();
    let sessions = {
        let r = store
            .read_txn()
            .map_err(|e| ErrorShape::internal(e.to_string()))?;
        store
            .sessions(&r)
            .map_err(|e| ErrorShape::internal(e.to_string()))?
            .len()
    };
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": st.started.elapsed().as_millis() as u64,
        "pid": std::process::id(),
        "sessions": sessions,
        "activeRuns": st.agent.active_runs(),
        "store": {"path": store.path(), "bytes": store.disk_bytes()},
        "models": models(st),
        "info": *st.info,
    }))
}
