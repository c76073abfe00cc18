//! WebSocket method handlers: typed params in (one serde struct per method; a wrong type
//! or an out-of-range value is an `INVALID_REQUEST` naming the field), payload or
//! [`ErrorShape`] out.

use super::GatewayState;
use super::protocol::ErrorShape;
use crate::core::{DEFAULT_SESSION_KEY, Role, SessionKey, now_ms};
use crate::router::{DispatchError, FilterHandle, SessionFilter, TranscriptEntry};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// Longest `agent.wait` a client may ask for, ms.
const MAX_WAIT_MS: u64 = 600_000;
/// Most history entries returned at once.
const MAX_HISTORY: u64 = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitParams {
    run_id: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryParams {
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbortParams {
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    /// Also drop what waits in the session's queue.
    #[serde(default)]
    clear_queue: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeParams {
    /// Session keys (canonicalised: `main` is `agent:main:main`).
    #[serde(default)]
    keys: Vec<String>,
    /// Every session (`sessions.subscribe`), or none (`sessions.unsubscribe`).
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetParams {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
}

/// A request's params: an object, `{}` when absent.
///
/// # Errors
/// `INVALID_REQUEST` for anything but an object or null.
pub(super) fn object(params: Value) -> Result<Value, ErrorShape> {
    match params {
        Value::Null => Ok(json!({})),
        p if p.is_object() => Ok(p),
        _ => Err(ErrorShape::invalid("params must be a JSON object")),
    }
}

impl ResetParams {
    /// The session named by `key` (or `sessionKey`), qualified by `agentId`.
    fn key(self) -> Result<SessionKey, ErrorShape> {
        key(
            self.key.or(self.session_key).as_deref(),
            self.agent_id.as_deref(),
            "key",
        )
    }
}

/// Decodes `params` into the method's struct; the error names the field
/// (`params.limit: invalid type: string "all", expected u64`).
pub(super) fn params<T: DeserializeOwned>(p: Value) -> Result<T, ErrorShape> {
    serde_path_to_error::deserialize(p).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            "params".to_string()
        } else {
            format!("params.{path}")
        };
        ErrorShape::invalid(format!("{at}: {}", e.into_inner()))
    })
}

/// The session key a client names (`main` → `agent:main:main`; unqualified keys belong to
/// `agent`, when given); the main session when it names none.
fn key(k: Option<&str>, agent: Option<&str>, field: &str) -> Result<SessionKey, ErrorShape> {
    let raw = match (k, agent) {
        (Some(k), a) => super::openclaw::qualify(k, a),
        (None, Some(a)) => format!("agent:{a}:main"),
        (None, None) => DEFAULT_SESSION_KEY.to_string(),
    };
    SessionKey::parse(&raw).map_err(|e| ErrorShape::invalid(format!("params.{field}: {e}")))
}

/// Runs method `method` with `params` for a connection whose event subscription is
/// `subscribed` (the sessions it sends to are added to it).
///
/// # Errors
/// An [`ErrorShape`] with a code and a message naming the bad parameter.
pub async fn dispatch(
    st: &GatewayState,
    subscribed: &FilterHandle,
    method: &str,
    params_v: Value,
) -> Result<Value, ErrorShape> {
    let p = object(params_v)?;
    let d = &st.dispatcher;
    match method {
        "health" => Ok(super::openclaw::health_snapshot(st)),
        "status" => status(st),
        "chat.send" => {
            let (acc, _) = super::turn::accept(st, subscribed, params(p)?).await?;
            Ok(super::turn::accepted_payload(&acc, "started"))
        }
        "sessions.subscribe" | "sessions.unsubscribe" => {
            subscribe(subscribed, method == "sessions.subscribe", params(p)?)
        }
        "sessions.messages.subscribe" | "sessions.messages.unsubscribe" => {
            let k = params::<ResetParams>(p)?.key()?;
            if method == "sessions.messages.subscribe" {
                subscribed.add(k.as_str());
            } else {
                subscribed.remove(k.as_str());
            }
            Ok(json!({"subscribed": method == "sessions.messages.subscribe", "key": k}))
        }
        "agent.wait" => wait(st, params(p)?).await,
        "chat.history" => history(st, subscribed, params(p)?),
        "chat.abort" => {
            let a: AbortParams = params(p)?;
            let k = key(
                a.session_key.as_deref(),
                a.agent_id.as_deref(),
                "sessionKey",
            )?;
            let r = d
                .abort(k.as_str(), a.run_id.as_deref(), a.clear_queue)
                .await;
            Ok(
                json!({"ok": true, "aborted": !r.aborted.is_empty(), "runIds": r.aborted, "cleared": r.cleared}),
            )
        }
        "sessions.list" => super::openclaw::sessions_list(st, p),
        "sessions.describe" => super::openclaw::sessions_describe(st, p),
        "sessions.reset" => {
            let k = params::<ResetParams>(p)?.key()?;
            let existed = d.reset(k.as_str()).await.map_err(dispatch_err)?;
            let entry = d
                .session(k.as_str())
                .map_err(dispatch_err)?
                .map(|s| super::openclaw::session_row(st, &s));
            Ok(json!({"ok": true, "key": k, "existed": existed, "entry": entry}))
        }
        "agents.list" => Ok(super::openclaw::agents_list(st)),
        "commands.list" => Ok(super::openclaw::commands_list()),
        "system-presence" => Ok(json!(st.presence.list())),
        "config.get" => super::openclaw::config_get(st).await,
        "config.apply" | "config.patch" => super::openclaw::config_apply(st, method, p).await,
        "logs.tail" => super::openclaw::logs_tail(p),
        "update.status" => {
            let f = st.update_status.clone();
            let layout = match f {
                Some(f) => tokio::task::spawn_blocking(move || f())
                    .await
                    .unwrap_or_default(),
                None => json!({"layout": null}),
            };
            let mut v = json!({"version": env!("CARGO_PKG_VERSION")});
            if let (Some(o), Value::Object(l)) = (v.as_object_mut(), layout) {
                o.extend(l);
            }
            Ok(v)
        }
        // Hearth asks no questions of operators, and its approvals (exec and the tools in
        // `[tools] ask`) are `exec.approval.*`: these lists are empty by construction.
        "question.list" => Ok(json!({"questions": []})),
        "plugin.approval.list" => Ok(json!([])),
        "models.list" => Ok(json!({"models": models(st)})),
        "memory.search" => super::memory::search(st, &p).await,
        "memory.status" => super::memory::status(st).await,
        "memory.reindex" => super::memory::reindex(st).await,
        "channels.status" => super::channels::status(st),
        "message.send" => super::channels::send(st, p).await,
        "pairing.list" | "pairing.approve" | "pairing.reject" => {
            super::channels::pairing(st, method, p).await
        }
        "connect" => Err(ErrorShape::invalid("already connected")),
        other => match super::approvals::dispatch(st, other, p.clone()).await {
            Some(r) => r,
            None => match super::cron::dispatch(st, other, p).await {
                Some(r) => r,
                None => Err(ErrorShape::unknown_method(other)),
            },
        },
    }
}

pub(super) fn dispatch_err(e: DispatchError) -> ErrorShape {
    match e {
        DispatchError::Invalid(m) => ErrorShape::invalid(m),
        DispatchError::UnknownRun(id) => ErrorShape::not_found(format!("unknown run {id}")),
        DispatchError::ShuttingDown => ErrorShape::unavailable("the gateway is shutting down"),
        e @ DispatchError::QueueFull { .. } => ErrorShape::unavailable(e.to_string()),
        DispatchError::Store(e) => ErrorShape::internal(format!("store: {e}")),
    }
}

/// Changes which sessions' events the connection receives; answers with the result.
fn subscribe(sessions: &FilterHandle, on: bool, p: SubscribeParams) -> Result<Value, ErrorShape> {
    let keys = p
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| key(Some(k), None, &format!("keys[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    match (on, p.all) {
        (true, true) => sessions.set(SessionFilter::All),
        (false, true) => sessions.set(SessionFilter::Keys(Default::default())),
        (true, false) => keys.iter().for_each(|k| sessions.add(k.as_str())),
        (false, false) => keys.iter().for_each(|k| sessions.remove(k.as_str())),
    }
    Ok(match sessions.get() {
        SessionFilter::All => json!({"subscribed": on, "all": true, "keys": []}),
        SessionFilter::Keys(k) => {
            let mut k: Vec<String> = k.into_iter().collect();
            k.sort();
            json!({"subscribed": on, "all": false, "keys": k})
        }
    })
}

async fn wait(st: &GatewayState, p: WaitParams) -> Result<Value, ErrorShape> {
    let ms = p.timeout_ms.unwrap_or(30_000);
    if ms > MAX_WAIT_MS {
        return Err(ErrorShape::invalid(format!(
            "params.timeoutMs: {ms} is above the limit {MAX_WAIT_MS}"
        )));
    }
    let rec = st
        .dispatcher
        .wait(&p.run_id, Duration::from_millis(ms))
        .await
        .map_err(dispatch_err)?;
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
        "turn": rec.turn,
    }))
}

/// `chat.history`: the newest `limit` messages in OpenClaw's message shape, with the
/// session's row; the connection is subscribed to the session it reads (a client viewing
/// a conversation gets its runs' events, whoever started them).
fn history(
    st: &GatewayState,
    subscribed: &FilterHandle,
    p: HistoryParams,
) -> Result<Value, ErrorShape> {
    let k = key(
        p.session_key.as_deref(),
        p.agent_id.as_deref(),
        "sessionKey",
    )?;
    let limit = p.limit.unwrap_or(200);
    if !(1..=MAX_HISTORY).contains(&limit) {
        return Err(ErrorShape::invalid(format!(
            "params.limit: {limit} is outside 1..={MAX_HISTORY}"
        )));
    }
    subscribed.add(k.as_str());
    let entries = st
        .dispatcher
        .history(k.as_str(), limit as usize)
        .map_err(dispatch_err)?;
    let session = st.dispatcher.session(k.as_str()).map_err(dispatch_err)?;
    let row = session
        .as_ref()
        .map(|s| super::openclaw::session_row(st, s));
    let defaults = row.as_ref().map(|r| {
        json!({"model": r["model"], "modelProvider": r["modelProvider"], "contextTokens": r["contextTokens"]})
    });
    Ok(json!({
        "sessionKey": k, "sessionId": session.as_ref().map(|s| s.id.to_string()),
        "messages": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "sessionInfo": row, "defaults": defaults,
        "thinkingLevel": "off", "fastMode": false, "verboseLevel": "off",
    }))
}

/// One transcript entry as an OpenClaw message: `{role, content: [parts], timestamp}`,
/// assistant tool calls as `toolCall` parts, tool results as role `toolResult`; with
/// Hearth's `seq`, `runId` and compaction mark.
fn entry_json(e: &TranscriptEntry) -> Value {
    let m = &e.message;
    let mut content = Vec::new();
    if !m.content.is_empty() || m.tool_calls.is_empty() {
        content.push(json!({"type": "text", "text": m.content}));
    }
    for c in &m.tool_calls {
        content.push(
            json!({"type": "toolCall", "id": c.id, "name": c.name, "arguments": c.arguments}),
        );
    }
    let mut v = match m.role {
        Role::Tool => {
            json!({"role": "toolResult", "toolCallId": m.tool_call_id, "toolName": m.name})
        }
        r => json!({"role": r}),
    };
    v["content"] = json!(content);
    // Hearth's: the message's text alone.
    v["text"] = json!(m.content);
    v["timestamp"] = json!(e.ts_ms);
    v["seq"] = json!(e.seq);
    v["runId"] = json!(e.run_id);
    if let Some(c) = &e.compaction {
        v["compaction"] = json!({"firstKeptSeq": c.first_kept_seq, "summarized": c.summarized,
            "tokensBefore": c.tokens_before});
    }
    v
}

/// The model chain with each profile's health.
pub(super) fn models(st: &GatewayState) -> Vec<Value> {
    let chain = st.dispatcher.chain();
    let health = chain.profile_health();
    let now = now_ms();
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
                "id": m.to_string(), "name": m.to_string(), "provider": m.provider, "model": m.model,
                "contextWindow": route.map(|r| r.context_window), "profiles": profiles,
            })
        })
        .collect()
}

/// The oldest dead letters (at most 5), for `status`.
fn dead_letters(st: &GatewayState) -> Vec<Value> {
    let rows = st.dispatcher.dead_letters(5).unwrap_or_default();
    rows.iter()
        .map(|r| {
            json!({"seq": r.seq, "runId": r.run_id, "channel": r.message.target.channel,
                "attempts": r.attempts, "error": r.last_error})
        })
        .collect()
}

fn status(st: &GatewayState) -> Result<Value, ErrorShape> {
    let d = &st.dispatcher;
    let q = d.status().map_err(dispatch_err)?;
    let (path, bytes) = d.store_info();
    let health = super::openclaw::health_snapshot(st);
    let channel_summary: Vec<String> = d
        .channels_status()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let state = if c.health.connected {
                "connected"
            } else {
                "not connected"
            };
            format!("{} ({}): {state}", c.channel, c.account)
        })
        .collect();
    let (hb, by_agent): (Vec<Value>, Vec<Value>) = health["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let (h, s) = (&a["heartbeat"], &a["sessions"]);
            (
                json!({"agentId": a["agentId"], "enabled": h["enabled"], "every": h["every"],
                    "everyMs": h["everyMs"]}),
                json!({"agentId": a["agentId"], "path": s["path"], "count": s["count"],
                    "recent": s["recent"]}),
            )
        })
        .unzip();
    let s = &health["sessions"];
    Ok(json!({
        // OpenClaw's status summary.
        "runtimeVersion": env!("CARGO_PKG_VERSION"),
        "heartbeat": {"defaultAgentId": "main", "agents": hb},
        "channelSummary": channel_summary,
        "queuedSystemEvents": [],
        "sessions": {"paths": [s["path"]], "count": s["count"], "recent": s["recent"],
            "byAgent": by_agent},
        // Hearth's.
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": st.started.elapsed().as_millis() as u64,
        "pid": std::process::id(),
        "activeRuns": q.running,
        "queue": {"lanes": q.lanes, "running": q.running, "queued": q.queued, "inbox": q.inbox},
        "outbox": {"pending": q.outbox.pending, "sent": q.outbox.sent, "dead": q.outbox.dead,
            "deadLetters": dead_letters(st)},
        "store": {"path": path, "bytes": bytes},
        "models": models(st),
        // Bytes; see core::ModelMemory for each figure.
        "loadedModels": st.loaded_models.as_ref().map(|l| l.loaded_models()).unwrap_or_default(),
        "info": *st.info,
    }))
}
