//! Hearth's MCP server: its tools for other agents (Home Assistant's `mcp` integration,
//! any MCP client), behind `[mcp_server] token`. Two transports:
//!
//! - **Streamable HTTP** at `POST /mcp`
//!   (<https://modelcontextprotocol.io/specification/2025-06-18/basic/transports>),
//!   stateless: no `Mcp-Session-Id`; a request is answered with one JSON object, or with an
//!   SSE stream of one `message` event when the client accepts only `text/event-stream`;
//!   notifications and responses get 202. `GET /mcp` is 405 (no server-initiated stream).
//! - **HTTP+SSE** of revision 2024-11-05
//!   (<https://modelcontextprotocol.io/specification/2024-11-05/basic/transports>), the only
//!   one Home Assistant 2025.4 speaks: `GET /mcp/sse` opens the stream, whose first event
//!   (`endpoint`) names the URL to POST messages to; answers come back as `message` events.
//!
//! Both also live under `/mcp/<token>/…` for clients that take only a URL (Home Assistant
//! 2025.4 has no header field). A browser `Origin` must match the `Host` (DNS rebinding).

mod rpc;

use super::GatewayState;
use super::auth::Peer;
use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Open HTTP+SSE sessions at most (each holds a stream and a small queue).
const MAX_SSE_SESSIONS: usize = 32;
/// Seconds between SSE keep-alive comments.
const KEEPALIVE_SECS: u64 = 15;

/// What the MCP server needs beside the gateway state.
#[derive(Clone)]
pub struct McpServerOptions {
    /// Its bearer token.
    pub token: Arc<str>,
    /// The agent `ask_agent` asks.
    pub agent: String,
    /// How long `ask_agent` waits for the answer.
    pub ask_timeout: Duration,
    /// Open HTTP+SSE sessions: id → the queue of their stream.
    pub sessions: Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>,
}

/// The routes, with and without the `/mcp/{key}` prefix, each behind the token check.
pub fn routes(state: GatewayState) -> axum::Router<GatewayState> {
    axum::Router::new()
        .route("/mcp", post(streamable).get(no_stream).delete(no_stream))
        .route("/mcp/sse", get(sse_open))
        .route("/mcp/messages", post(sse_post))
        .route(
            "/mcp/{key}",
            post(streamable).get(no_stream).delete(no_stream),
        )
        .route("/mcp/{key}/sse", get(sse_open))
        .route("/mcp/{key}/messages", post(sse_post))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

/// Runs the request only when [`refuse`] lets it through.
async fn gate(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    key: KeyPath,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match refuse(&st, addr, &headers, key_of(&key)) {
        Some(r) => r,
        None => next.run(req).await,
    }
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

/// `None` when the request may use the server, else the refusal.
fn refuse(
    st: &GatewayState,
    addr: SocketAddr,
    headers: &HeaderMap,
    path_key: Option<&str>,
) -> Option<Response> {
    let Some(opts) = &st.mcp else {
        return Some(plain(
            StatusCode::NOT_FOUND,
            "the MCP server is off ([mcp_server] enabled = false)\n",
        ));
    };
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if origin_host != host {
            return Some(plain(
                StatusCode::FORBIDDEN,
                format!("origin {origin} does not match host {host}\n"),
            ));
        }
    }
    let presented = path_key.or_else(|| super::auth::bearer(headers));
    let peer = Peer {
        addr: addr.ip(),
        browser: headers.contains_key(header::ORIGIN),
    };
    super::auth::authorize(&st.auth, Some(&opts.token), peer, presented)
        .err()
        .map(|r| {
            super::auth::refusal(
                r,
                "missing or wrong token: send [mcp_server] token as a bearer token, or use the URL /mcp/<token>/sse",
                |status, m| plain(status, format!("{m}\n")),
            )
        })
}

type KeyPath = Option<Path<String>>;

fn key_of(k: &KeyPath) -> Option<&str> {
    k.as_ref().map(|p| p.as_str())
}

/// `GET`/`DELETE /mcp`: this server keeps no sessions and opens no server stream.
async fn no_stream() -> Response {
    let mut r = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "POST JSON-RPC messages to this endpoint; the server opens no stream of its own\n",
    );
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    r
}

/// `POST /mcp`: one JSON-RPC message (or a batch, as 2025-03-26 allowed).
async fn streamable(
    State(st): State<GatewayState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(v) = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        && !rpc::VERSIONS.contains(&v)
    {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported MCP-Protocol-Version {v:?}; supported: {}\n",
                rpc::VERSIONS.join(", ")
            ),
        );
    }
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(rpc::parse_error(&e))).into_response(),
    };
    let answer = match &msg {
        Value::Array(batch) => {
            let mut out = Vec::new();
            for m in batch {
                out.extend(rpc::handle(&st, m).await);
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        m if rpc::is_request(m) => rpc::handle(&st, m).await,
        m => {
            let _ = rpc::handle(&st, m).await;
            None
        }
    };
    let Some(answer) = answer else {
        return StatusCode::ACCEPTED.into_response();
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/event-stream") && !accept.contains("application/json") {
        let event = format!("event: message\ndata: {answer}\n\n");
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from(event))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Json(answer).into_response()
}

/// `GET /mcp/sse`: a 2024-11-05 session; the first event names where to POST.
async fn sse_open(State(st): State<GatewayState>, key: KeyPath) -> Response {
    let Some(opts) = st.mcp.clone() else {
        return plain(StatusCode::NOT_FOUND, "the MCP server is off\n");
    };
    let id = match crate::core::random_hex(16) {
        Ok(id) => id,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let (tx, mut rx) = mpsc::channel::<String>(64);
    {
        let mut sessions = opts.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| !s.is_closed());
        if sessions.len() >= MAX_SSE_SESSIONS {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{MAX_SSE_SESSIONS} MCP sessions are open already\n"),
            );
        }
        sessions.insert(id.clone(), tx);
    }
    let endpoint = match key_of(&key) {
        Some(k) => format!("/mcp/{k}/messages?session_id={id}"),
        None => format!("/mcp/messages?session_id={id}"),
    };
    let shutdown = st.shutdown.clone();
    let sessions = opts.sessions.clone();
    let body = super::http::async_stream(move |out| async move {
        if out
            .send(format!("event: endpoint\ndata: {endpoint}\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut keepalive = tokio::time::interval(Duration::from_secs(KEEPALIVE_SECS));
        keepalive.tick().await;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = rx.recv() => match m {
                    Some(m) => format!("event: message\ndata: {m}\n\n"),
                    None => break,
                },
                _ = keepalive.tick() => ": keep-alive\n\n".to_string(),
            };
            if out.send(next).await.is_err() {
                break;
            }
        }
        sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `POST /mcp/messages?session_id=…`: 202 at once; the answer goes out on the session's
/// stream.
async fn sse_post(
    State(st): State<GatewayState>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(opts) = st.mcp.clone() else {
        return plain(StatusCode::NOT_FOUND, "the MCP server is off\n");
    };
    let Some(id) = q.get("session_id") else {
        return plain(StatusCode::BAD_REQUEST, "missing session_id\n");
    };
    let tx = opts
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned();
    let Some(tx) = tx.filter(|t| !t.is_closed()) else {
        return plain(StatusCode::NOT_FOUND, format!("no MCP session {id}\n"));
    };
    let msg: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("parse error: {e}\n")),
    };
    // The answer may take a while (ask_agent): the POST is acknowledged at once.
    tokio::spawn(async move {
        if let Some(answer) = rpc::handle(&st, &msg).await {
            let _ = tx.send(answer.to_string()).await;
        }
    });
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
