//! WebSocket method handlers: typed params in (one serde struct per method; a wrong type
//! or an out-of-range value is an `INVALID_REQUEST` naming the field), payload or
//! [`ErrorShape`] out.

use super::GatewayState;
use super::protocol::ErrorShape;
use crate::core::{DEFAULT_SESSION_KEY, Origin, SessionKey, now_ms};
use crate::router::{DispatchError, FilterHandle, SessionFilter, Submission, TranscriptEntry};
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
struct SendParams {
    message: String,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

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
    limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbortParams {
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    /// Also drop what waits in the session's queue.
    #[serde(default)]
    clear_queue: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    session_key: Option<String>,
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

fn key(k: Option<&str>, field: &str) -> Result<SessionKey, ErrorShape> {
    SessionKey::parse(k.unwrap_or(DEFAULT_SESSION_KEY))
        .map_err(|e| ErrorShape::invalid(format!("params.{field}: {e}")))
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
    let p = if params_v.is_null() {
        json!({})
    } else {
        params_v
    };
    if !p.is_object() {
        return Err(ErrorShape::invalid("params must be a JSON object"));
    }
    let d = &st.dispatcher;
    match method {
        "health" => Ok(json!({"ok": true, "uptimeMs": st.started.elapsed().as_millis() as u64})),
        "status" => status(st),
        "agent" | "chat.send" => send(st, subscribed, params(p)?).await,
        "sessions.subscribe" | "sessions.unsubscribe" => {
            subscribe(subscribed, method == "sessions.subscribe", params(p)?)
        }
        "agent.wait" => wait(st, params(p)?).await,
        "chat.history" => history(st, params(p)?),
        "chat.abort" => {
            let a: AbortParams = params(p)?;
            let k = key(a.session_key.as_deref(), "sessionKey")?;
            let r = d
                .abort(k.as_str(), a.run_id.as_deref(), a.clear_queue)
                .await;
            Ok(json!({"aborted": r.aborted, "cleared": r.cleared}))
        }
        "sessions.list" => sessions(st),
        "sessions.reset" => {
            let r: ResetParams = params(p)?;
            let k = match r.key {
                Some(k) => key(Some(&k), "key")?,
                None => key(r.session_key.as_deref(), "sessionKey")?,
            };
            let existed = d.reset(k.as_str()).await.map_err(dispatch_err)?;
            Ok(json!({"ok": true, "key": k, "existed": existed}))
        }
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
                None => Err(ErrorShape {
                    code: "UNKNOWN_METHOD",
                    message: format!("unknown method {other:?}"),
                    retryable: false,
                }),
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
        .map(|(i, k)| key(Some(k), &format!("keys[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    match (on, p.all) {
        (true, true) => sessions.set(SessionFilter::All),
        (false, true) => sessions.set(SessionFilter::Keys(Default::default())),
        (true, false) => keys.iter().for_each(|k| sessions.add(k.as_str())),
        (false, false) => keys.iter().for_each(|k| sessions.remove(k.as_str())),
    }
    Ok(match sessions.get() {
        SessionFilter::All => json!({"all": true, "keys": []}),
        SessionFilter::Keys(k) => {
            let mut k: Vec<String> = k.into_iter().collect();
            k.sort();
            json!({"all": false, "keys": k})
        }
    })
}

/// Accepts a message; the connection is subscribed to its session first, so it receives
/// the run's events from the start.
async fn send(
    st: &GatewayState,
    sessions: &FilterHandle,
    p: SendParams,
) -> Result<Value, ErrorShape> {
    let session_key = key(p.session_key.as_deref(), "sessionKey")?;
    sessions.add(session_key.as_str());
    let sub = Submission {
        idempotency_key: p.idempotency_key,
        ..Submission::new(session_key, Origin::gateway("ws"), p.message)
    };
    let (acc, _) = st.dispatcher.submit(sub).await.map_err(dispatch_err)?;
    Ok(
        json!({"runId": acc.run_id, "sessionKey": acc.session_key, "status": "accepted", "deduped": acc.deduped}),
    )
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

fn history(st: &GatewayState, p: HistoryParams) -> Result<Value, ErrorShape> {
    let k = key(p.session_key.as_deref(), "sessionKey")?;
    let limit = p.limit.unwrap_or(200);
    if !(1..=MAX_HISTORY).contains(&limit) {
        return Err(ErrorShape::invalid(format!(
            "params.limit: {limit} is outside 1..={MAX_HISTORY}"
        )));
    }
    let entries = st
        .dispatcher
        .history(k.as_str(), limit as usize)
        .map_err(dispatch_err)?;
    Ok(json!({"sessionKey": k, "messages": entries.iter().map(entry_json).collect::<Vec<_>>()}))
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
    let list = st.dispatcher.sessions().map_err(dispatch_err)?;
    let out: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "key": s.key, "messages": s.next_seq, "createdAt": s.created_ms,
                "updatedAt": s.updated_ms, "lastModel": s.last_model, "queue": s.queue,
            })
        })
        .collect();
    Ok(json!({"sessions": out}))
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
                "id": m.to_string(), "provider": m.provider, "model": m.model,
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
    let sessions = d.sessions().map_err(dispatch_err)?.len();
    let q = d.status().map_err(dispatch_err)?;
    let (path, bytes) = d.store_info();
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": st.started.elapsed().as_millis() as u64,
        "pid": std::process::id(),
        "sessions": sessions,
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
