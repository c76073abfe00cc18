//! The gateway: one axum server on one port serving the WebSocket protocol (`ws.rs`,
//! OpenClaw's frame shapes, <https://docs.openclaw.ai/gateway/protocol>) and HTTP
//! (`http.rs`: health, readiness, OpenAI-compatible chat completions and model list).
//! Talks to the rest of Hearth only through the dispatcher ([`crate::router::Dispatcher`])
//! and memory's queries; must not import `agent` or `storage`, nor any provider backend.

mod events;
mod http;
mod memory;
mod methods;
mod protocol;
mod ws;

pub use protocol::PROTOCOL_VERSION;

use crate::router::Dispatcher;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Shared state of every handler.
#[derive(Clone)]
pub struct GatewayState {
    /// The one way in: submit, follow, abort, history, sessions, status.
    pub dispatcher: Dispatcher,
    /// The bearer token clients must present; `None` when auth is off (loopback only).
    pub token: Option<Arc<str>>,
    /// Process start, for uptime.
    pub started: Instant,
    /// Interval of `tick` events, ms.
    pub tick_ms: u64,
    /// Open WebSocket connections allowed at once.
    pub connections: Arc<Semaphore>,
    /// Fires at shutdown: sockets get a `shutdown` event and close.
    pub shutdown: CancellationToken,
    /// Extra facts for `status` (data dir, config file, local models).
    pub info: Arc<serde_json::Value>,
    /// Long-term memory (`None` when `[memory] enabled = false`).
    pub memory: Option<Arc<crate::memory::Memory>>,
}

/// The router: `/` (WebSocket upgrade, or a short text page), `/healthz`, `/readyz`,
/// `/v1/models`, `/v1/chat/completions`, `/v1/embeddings`.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/", get(ws::upgrade))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/v1/models", get(http::models))
        .route("/v1/chat/completions", post(http::chat_completions))
        .route("/v1/embeddings", post(memory::embeddings))
        .with_state(state)
}

/// Constant-time comparison of a presented token with the expected one.
pub(crate) fn token_ok(expected: Option<&str>, presented: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let Some(presented) = presented else {
        return false;
    };
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
