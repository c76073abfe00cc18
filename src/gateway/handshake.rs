//! The v4 handshake (<https://docs.openclaw.ai/gateway/protocol>, "Handshake"): the server
//! sends `connect.challenge` `{nonce, ts}` as soon as the socket opens; the client's first
//! frame must be a `connect` request whose `minProtocol..=maxProtocol` admits
//! [`PROTOCOL_VERSION`], with `auth.token`, `client` info, `role` and `scopes`. The answer
//! is `hello-ok` (server, features, snapshot, auth with the granted scopes, policy) or an
//! error response followed by a close: 1002 for a protocol mismatch (`details.code =
//! PROTOCOL_MISMATCH`, `details.expectedProtocol`), 1008 otherwise.
//!
//! Device identities (`connect.device`, signed challenges, device tokens) are accepted but
//! not verified or issued: the gateway token (or a loopback-only gateway without auth)
//! is what authenticates, and a token holder gets the scopes it asks for (all of them when
//! it asks for none).

use super::auth::Refusal;
use super::protocol::{EVENTS, ErrorShape, METHODS, PROTOCOL_VERSION, Request, res_err, res_ok};
use super::scopes::{ALL, Granted};
use super::{GatewayState, presence};
use crate::core::now_ms;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// Time a client has to send `connect`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `connect` params (fields Hearth reads; the rest — `caps`, `device`, `locale`, … — are
/// accepted and ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectParams {
    min_protocol: u32,
    max_protocol: u32,
    #[serde(default)]
    client: Value,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Deserialize)]
struct Auth {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// A connection past its handshake.
pub(super) struct Connected {
    /// What it may call and receive.
    pub granted: Granted,
    /// Its `system-presence` entry, listed while this lives.
    pub _presence: presence::Registered,
}

/// Closes the socket with `code` and `reason` (cut to the 123 bytes a close frame holds).
pub(super) async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    tracing::debug!(code, reason, "closing websocket");
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason[..end].into(),
        })))
        .await;
}

/// Answers request `id` with `err`, then closes with `code`.
async fn refuse(
    socket: &mut WebSocket,
    id: &serde_json::value::RawValue,
    err: ErrorShape,
    code: u16,
) {
    let reason = err.message.clone();
    let _ = socket.send(Message::Text(res_err(id, &err).into())).await;
    close(socket, code, &reason).await;
}

/// Runs the handshake on a fresh socket from `addr` (`browser`: the upgrade carried an
/// `Origin`); `None` when it failed (the socket is closed then).
pub(super) async fn handshake(
    st: &GatewayState,
    socket: &mut WebSocket,
    addr: SocketAddr,
    browser: bool,
    conn_id: u64,
) -> Option<Connected> {
    let nonce = crate::core::random_hex(16).unwrap_or_else(|_| format!("{conn_id}-{}", now_ms()));
    let challenge = json!({"type": "event", "event": "connect.challenge",
        "payload": {"nonce": nonce, "ts": now_ms()}});
    socket
        .send(Message::Text(challenge.to_string().into()))
        .await
        .ok()?;
    let first = match tokio::time::timeout(CONNECT_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(_))) => {
            close(
                socket,
                close_code::POLICY,
                "invalid handshake: first frame must be a text `connect` request",
            )
            .await;
            return None;
        }
        Ok(_) => return None,
        Err(_) => {
            close(
                socket,
                close_code::POLICY,
                "invalid handshake: no `connect` request within 10s",
            )
            .await;
            return None;
        }
    };
    let req: Request = match serde_json::from_str(first.as_str()) {
        Ok(r) => r,
        Err(e) => {
            let m = format!("invalid handshake: first frame is not a request: {e}");
            close(socket, close_code::POLICY, &m).await;
            return None;
        }
    };
    if req.kind != "req" || req.method != "connect" {
        let err = ErrorShape::invalid("invalid handshake: first request must be connect");
        refuse(socket, &req.id, err, close_code::POLICY).await;
        return None;
    }
    let p: ConnectParams = match super::methods::params(req.params) {
        Ok(p) => p,
        Err(e) => {
            let err = ErrorShape::invalid(format!("invalid connect params: {}", e.message));
            refuse(socket, &req.id, err, close_code::POLICY).await;
            return None;
        }
    };
    if !(p.min_protocol..=p.max_protocol).contains(&PROTOCOL_VERSION) {
        let err = ErrorShape::invalid_with(
            format!(
                "protocol mismatch: this gateway speaks protocol {PROTOCOL_VERSION}, the client {}..={}",
                p.min_protocol, p.max_protocol
            ),
            json!({"code": "PROTOCOL_MISMATCH", "clientMinProtocol": p.min_protocol,
                "clientMaxProtocol": p.max_protocol, "expectedProtocol": PROTOCOL_VERSION}),
        );
        refuse(socket, &req.id, err, close_code::PROTOCOL).await;
        return None;
    }
    let role = p.role.as_deref().unwrap_or("operator");
    if role != "operator" {
        let err = ErrorShape::invalid(format!(
            "invalid role: {role:?}; Hearth serves operator clients only (it has no nodes)"
        ));
        refuse(socket, &req.id, err, close_code::POLICY).await;
        return None;
    }
    let auth = p.auth.as_ref();
    let presented = auth.and_then(|a| a.token.as_deref().or(a.password.as_deref()));
    if let Err(refused) = st.authorize(addr, browser, presented) {
        let (code, retry) = match &refused {
            Refusal::Missing => ("AUTH_TOKEN_MISSING", None),
            Refusal::Wrong => ("AUTH_TOKEN_MISMATCH", None),
            Refusal::Locked(l) => ("AUTH_RATE_LIMITED", Some(l.retry_after.as_millis() as u64)),
        };
        let err = ErrorShape {
            retry_after_ms: retry,
            ..ErrorShape::invalid_with(refused.message(), json!({"code": code}))
        };
        refuse(socket, &req.id, err, close_code::POLICY).await;
        return None;
    }
    let granted = match &p.scopes {
        Some(s) => Granted::from_names(s.iter().map(String::as_str)),
        None => Granted::from_names(ALL),
    };
    let entry = presence::entry(
        &p.client,
        &addr.ip().to_string(),
        &granted.names(),
        now_ms(),
    );
    let registered = st.presence.register(conn_id, entry);
    let hello = hello_ok(st, conn_id, &granted);
    socket
        .send(Message::Text(res_ok(&req.id, &hello).into()))
        .await
        .ok()?;
    Some(Connected {
        granted,
        _presence: registered,
    })
}

/// The `hello-ok` payload.
fn hello_ok(st: &GatewayState, conn_id: u64, granted: &Granted) -> Value {
    let info = &*st.info;
    json!({
        "type": "hello-ok",
        "protocol": PROTOCOL_VERSION,
        "server": {"version": env!("CARGO_PKG_VERSION"), "connId": format!("c{conn_id}")},
        "features": {"methods": METHODS, "events": EVENTS, "capabilities": []},
        "snapshot": {
            "presence": st.presence.list(),
            "health": super::openclaw::health_snapshot(st),
            "stateVersion": {"presence": st.presence.version(), "health": 0},
            "uptimeMs": st.started.elapsed().as_millis() as u64,
            "configPath": info.get("configFile"),
            "stateDir": info.get("dataDir"),
            "sessionDefaults": super::openclaw::session_defaults(),
            "authMode": if st.token.is_some() { "token" } else { "none" },
        },
        "auth": {
            "method": if st.token.is_some() { "token" } else { "none" },
            "role": "operator",
            "scopes": granted.names(),
        },
        "policy": {"maxPayload": super::ws::MAX_FRAME, "maxBufferedBytes": super::ws::MAX_FRAME * 4,
            "tickIntervalMs": st.tick_ms},
    })
}
