//! Inbound webhooks in OpenClaw's shape (<https://docs.openclaw.ai/automation/webhook>):
//! `POST /hooks/agent` runs a turn for an external system, `POST /hooks/wake` hands the
//! main session a system event. Authenticated by their own token (`[hooks] token`, never
//! the gateway token) in `Authorization: Bearer` or `x-hearth-token` (`x-openclaw-token`
//! too); a token in the query string is refused. Answered once the message is committed:
//! 200 `{ok, runId, sessionKey}`, 400 for a malformed request, 401 for a wrong token (429
//! while the address is locked out), 409 when the session's queue refuses it, 503 while
//! shutting down or when the store fails. Also the route of channels in webhook mode,
//! `POST /channels/<name>/webhook`, handed to the channel's [`crate::core::WebhookHandler`].

use super::GatewayState;
use crate::core::{Origin, SessionKey};
use crate::router::{DispatchError, Submission};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The webhook settings the gateway needs (from `[hooks]`).
#[derive(Debug, Clone)]
pub struct HooksOptions {
    /// The hook token.
    pub token: Arc<str>,
    /// Whether callers may name the session (`sessionKey`); otherwise each request gets
    /// its own `hook:` session (one per `idempotencyKey`).
    pub allow_request_session_key: bool,
}

/// `POST /hooks/agent` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AgentHook {
    message: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default = "yes")]
    deliver: bool,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    wake_mode: Option<String>,
}

fn yes() -> bool {
    true
}

/// `POST /hooks/wake` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WakeHook {
    text: String,
    #[serde(default)]
    mode: Option<String>,
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({"ok": false, "error": message.into()}),
    )
}

/// The refusal, if the request does not carry the hook token.
fn refuse(st: &GatewayState, addr: SocketAddr, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    let Some(h) = &st.hooks else {
        return Some(reply(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": "webhooks are off ([hooks] enabled = false)"}),
        ));
    };
    if uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("token=")))
    {
        return Some(bad(
            "a token in the query string is refused (it ends up in logs); send Authorization: Bearer <token> or x-hearth-token",
        ));
    }
    let presented = super::auth::bearer(headers).or_else(|| {
        ["x-hearth-token", "x-openclaw-token"]
            .iter()
            .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
    });
    let peer = super::auth::Peer {
        addr: addr.ip(),
        browser: headers.contains_key(header::ORIGIN),
    };
    super::auth::authorize(&st.auth, Some(&h.token), peer, presented)
        .err()
        .map(|r| {
            super::auth::refusal(r, "missing or wrong hook token", |status, m| {
                reply(status, json!({"ok": false, "error": m}))
            })
        })
}

fn body<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, Box<Response>> {
    let de = &mut serde_json::Deserializer::from_slice(b);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        Box::new(bad(format!("request body: {at}{}", e.into_inner())))
    })
}

/// `agent:main:hook:<16 hex>`, from the idempotency key when there is one (so a retry
/// lands in the same session and is recognised), else random.
fn hook_session(idempotency_key: Option<&str>) -> Result<SessionKey, String> {
    let id = match idempotency_key {
        Some(k) => {
            let d = ring::digest::digest(&ring::digest::SHA256, k.as_bytes());
            d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
        }
        None => crate::core::random_hex(8)?,
    };
    SessionKey::parse(&format!("agent:main:hook:{id}"))
}

/// The `Idempotency-Key` header, if any.
pub(super) fn idempotency_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Submits and answers; `timeout` aborts the run if it is still going then.
async fn admit(st: &GatewayState, sub: Submission, timeout: Option<Duration>) -> Response {
    let key = sub.session_key.to_string();
    match st.dispatcher.submit(sub).await {
        Ok((acc, _)) => {
            if let Some(t) = timeout.filter(|_| !acc.deduped) {
                let (d, run) = (st.dispatcher.clone(), acc.run_id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(t).await;
                    let r = d.abort(&key, Some(&run), false).await;
                    if !r.aborted.is_empty() || !r.cleared.is_empty() {
                        tracing::info!(run = %run, "webhook run stopped after its timeoutSeconds");
                    }
                });
            }
            reply(
                StatusCode::OK,
                json!({"ok": true, "runId": acc.run_id, "sessionKey": acc.session_key, "deduped": acc.deduped}),
            )
        }
        Err(DispatchError::Invalid(m)) => bad(m),
        Err(e @ DispatchError::QueueFull { .. }) => reply(
            StatusCode::CONFLICT,
            json!({"ok": false, "error": e.to_string()}),
        ),
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ok": false, "error": e.to_string()}),
        ),
    }
}

/// The origin a hook's answer goes to: the named channel and recipient, the last platform
/// conversation (`channel` absent or `"last"`), or nowhere but the run record
/// (`deliver: false`, or no conversation yet).
fn target(
    st: &GatewayState,
    deliver: bool,
    channel: Option<&str>,
    to: Option<&str>,
) -> Result<Origin, Box<Response>> {
    if !deliver {
        return Ok(Origin::gateway("hooks"));
    }
    match (channel.filter(|c| *c != "last"), to) {
        (Some(c), Some(to)) => {
            if !st.dispatcher.has_outbound(c) {
                return Err(Box::new(bad(format!(
                    "channel: {c:?} is not a configured channel"
                ))));
            }
            Ok(Origin {
                channel: c.to_string(),
                account: "default".into(),
                peer: to.to_string(),
                ..Origin::default()
            })
        }
        (Some(_), None) => Err(Box::new(bad("to: required with an explicit channel"))),
        (None, _) => match st.dispatcher.last_target() {
            Ok(Some(mut o)) => {
                o.message_id = None;
                Ok(o)
            }
            Ok(None) => Ok(Origin::gateway("hooks")),
            Err(e) => Err(Box::new(reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"ok": false, "error": e.to_string()}),
            ))),
        },
    }
}

/// `POST /hooks/agent`: runs `message` in a hook session (or the named one, if allowed).
pub async fn agent(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    if let Some(r) = refuse(&st, addr, &headers, &uri) {
        return r;
    }
    let h: AgentHook = match body(&raw) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    if h.message.trim().is_empty() {
        return bad("message: required and not empty");
    }
    if h.agent_id.as_deref().is_some_and(|a| a != "main") {
        return bad("agentId: only the agent \"main\" exists on this gateway");
    }
    if h.wake_mode.as_deref().is_some_and(|m| m != "now") {
        return bad("wakeMode: only \"now\" (a heartbeat is not configured)");
    }
    if h.timeout_seconds
        .is_some_and(|t| !(1..=86_400).contains(&t))
    {
        return bad("timeoutSeconds: outside 1..=86400");
    }
    let allow = st
        .hooks
        .as_ref()
        .is_some_and(|x| x.allow_request_session_key);
    let idem = h
        .idempotency_key
        .clone()
        .or_else(|| idempotency_header(&headers));
    let session_key = match (&h.session_key, allow) {
        (Some(_), false) => {
            return bad("sessionKey: refused unless [hooks] allow_request_session_key = true");
        }
        (Some(k), true) => SessionKey::parse(k).map_err(|e| format!("sessionKey: {e}")),
        (None, _) => hook_session(idem.as_deref()),
    };
    let session_key = match session_key {
        Ok(k) => k,
        Err(e) => return bad(e),
    };
    let mut origin = match target(&st, h.deliver, h.channel.as_deref(), h.to.as_deref()) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    origin.sender_name = Some(h.name.clone().unwrap_or_else(|| "webhook".into()));
    let text = match &h.name {
        Some(n) => format!("[{n}] {}", h.message),
        None => h.message,
    };
    let sub = Submission {
        idempotency_key: idem,
        ..Submission::new(session_key, origin, text)
    };
    admit(&st, sub, h.timeout_seconds.map(Duration::from_secs)).await
}

/// `POST /hooks/wake`: a system event for the main session, run now; its answer goes to
/// the last platform conversation.
pub async fn wake(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    if let Some(r) = refuse(&st, addr, &headers, &uri) {
        return r;
    }
    let w: WakeHook = match body(&raw) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    if w.text.trim().is_empty() {
        return bad("text: required and not empty");
    }
    // With a heartbeat, the event is the heartbeat's: now, or at the next beat (OpenClaw's
    // wake modes); its answer goes out only if it has something to say.
    if let Some(c) = st.cron.clone() {
        if w.mode
            .as_deref()
            .is_some_and(|m| m != "now" && m != "next-heartbeat")
        {
            return bad("mode: \"now\" or \"next-heartbeat\"");
        }
        let now = w.mode.as_deref() != Some("next-heartbeat");
        let text = w.text.clone();
        if let Ok(Ok(())) = tokio::task::spawn_blocking(move || c.wake(&text, now)).await {
            let mode = if now { "now" } else { "next-heartbeat" };
            return reply(
                StatusCode::OK,
                json!({"ok": true, "sessionKey": SessionKey::main().as_str(), "mode": mode}),
            );
        }
    }
    if w.mode.as_deref().is_some_and(|m| m != "now") {
        return bad("mode: only \"now\" (a heartbeat is not configured)");
    }
    let mut origin = match target(&st, true, None, None) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    origin.sender_name = Some("system event".into());
    let text = format!("System event: {}", w.text);
    let sub = Submission {
        idempotency_key: idempotency_header(&headers),
        ..Submission::new(SessionKey::main(), origin, text)
    };
    admit(&st, sub, None).await
}

/// `POST /channels/<name>/webhook`: a platform's event for a channel in webhook mode. The
/// channel's handler checks the platform's own secret; 404 for a channel without one.
pub async fn channel_webhook(
    State(st): State<GatewayState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let Some(h) = st.webhooks.get(&name).cloned() else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error": format!("no channel {name:?} in webhook mode")}),
        );
    };
    let hs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let (status, body) = h.handle(&hs, &raw).await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
