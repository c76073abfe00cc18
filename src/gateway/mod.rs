//! The gateway: one axum server on one port serving the WebSocket protocol (`ws.rs`,
//! OpenClaw's frame shapes, <https://docs.openclaw.ai/gateway/protocol>) and HTTP
//! (`http.rs`: health, readiness, OpenAI-compatible chat completions and model list).
//! Talks to the rest of Hearth only through the dispatcher ([`crate::router::Dispatcher`])
//! and memory's queries; must not import `agent` or `storage`, nor any provider backend.

mod approvals;
mod auth;
mod channels;
mod cron;
mod deliver;
mod events;
mod handshake;
mod hooks;
mod http;
mod mcp;
mod memory;
mod methods;
mod metrics;
pub mod ollama;
mod openclaw;
mod presence;
mod protocol;
mod relay;
mod scopes;
mod turn;
mod ui;
mod ws;

pub use deliver::GatewaySink;
pub use hooks::HooksOptions;
pub use mcp::McpServerOptions;
pub use openclaw::config_hash;
pub use protocol::PROTOCOL_VERSION;

use crate::router::Dispatcher;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// A config change the gateway applied: the top-level sections that changed, what was
/// re-wired, and the keys that take effect only after a restart.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigApplied {
    /// Top-level sections whose values changed.
    pub changed: Vec<String>,
    /// What was re-wired, in words.
    pub applied: Vec<String>,
    /// Sections or keys read at start only (the new values are in the file).
    pub restart_required: Vec<String>,
}

/// Why a config change was refused; nothing changed.
#[derive(Debug, Clone)]
pub enum ConfigRefusal {
    /// The text is not a valid config: the key (dotted) and line when known.
    Invalid {
        /// `agent.max_steps`; empty when the error is not about one key.
        key: String,
        /// 1-based line in the text.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// `baseHash` differs from the file's hash now: someone else changed it.
    Conflict,
    /// The gateway runs on the embedded defaults, without a file to write.
    NoFile,
    /// Building or writing failed (a secret file missing, a disk error).
    Failed(String),
}

impl ConfigRefusal {
    /// As one of `config.get`'s and `config.apply`'s issues: `{path, line, message}`, or
    /// `{message}` for a refusal that is not about the text.
    pub fn issue(&self) -> serde_json::Value {
        match self {
            Self::Invalid { key, line, message } => {
                serde_json::json!({"path": key, "line": line, "message": message})
            }
            other => serde_json::json!({"message": other.to_string()}),
        }
    }
}

impl std::fmt::Display for ConfigRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid {
                key,
                line: Some(l),
                message,
            } if !key.is_empty() => write!(f, "{key} (line {l}): {message}"),
            Self::Invalid { key, message, .. } if !key.is_empty() => write!(f, "{key}: {message}"),
            Self::Invalid { message, .. } => f.write_str(message),
            Self::Conflict => f.write_str("the config file changed since it was read"),
            Self::NoFile => {
                f.write_str("no config file (the gateway runs on the embedded defaults)")
            }
            Self::Failed(m) => f.write_str(m),
        }
    }
}

/// The future of a [`ConfigControl`] call.
pub type ConfigFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<ConfigApplied, ConfigRefusal>> + Send + 'a>,
>;

/// The config file as `config.get` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSnapshot {
    /// The file (`None`: the embedded defaults).
    pub path: Option<std::path::PathBuf>,
    /// Its text (`None`: no file, or unreadable).
    pub raw: Option<String>,
    /// Whether the text is a valid config now.
    pub valid: bool,
    /// Why not: `{path: key, line, message}`.
    pub issues: Vec<serde_json::Value>,
    /// The config in effect, every default filled in (JSON of the TOML).
    pub config: serde_json::Value,
    /// [`config_hash`] of `raw`.
    pub hash: Option<String>,
}

/// Live config changes (`config.get`, `config.apply`, `config.patch`), implemented by the
/// daemon.
pub trait ConfigControl: Send + Sync {
    /// The file and the config in effect.
    fn get(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ConfigSnapshot> + Send + '_>>;
    /// Validates `raw` (TOML), writes it to the config file and re-wires what it changes;
    /// with `base_hash`, only if the file's SHA-256 (hex) is still that.
    fn apply(&self, raw: String, base_hash: Option<String>) -> ConfigFuture<'_>;
    /// Merges `patch` (a JSON merge patch, RFC 7396,
    /// <https://www.rfc-editor.org/rfc/rfc7396>; `null` removes a key) into the file's
    /// settings, then as [`ConfigControl::apply`]. The file is written back from its
    /// settings, so its comments are lost.
    fn patch(&self, patch: serde_json::Value, base_hash: Option<String>) -> ConfigFuture<'_>;
    /// Reads the config file again and re-wires what changed (SIGHUP).
    fn reload(&self) -> ConfigFuture<'_>;
}

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
    /// Failed token attempts per client address (lockout after repeated failures).
    pub(crate) auth: Arc<auth::AuthLimiter>,
    /// Inbound webhooks (`None`: `/hooks/*` answer 404).
    pub hooks: Option<HooksOptions>,
    /// Channels that receive their platform's events over HTTP, by channel name
    /// (`POST /channels/<name>/webhook`).
    pub webhooks: Arc<std::collections::HashMap<String, Arc<dyn crate::core::WebhookHandler>>>,
    /// The Ollama API for Home Assistant (`None`: `[ollama] enabled = false`).
    pub ollama: Option<ollama::OllamaOptions>,
    /// Hearth's MCP server (`None`: `[mcp_server]` is off and `/mcp` answers 404).
    pub mcp: Option<McpServerOptions>,
    /// The scheduler (`cron.*` methods, `/hooks/wake`), when there is one.
    pub cron: Option<Arc<dyn crate::tool::cron::CronControl>>,
    /// The on-device models in memory and what they hold, for `status` (`None`: none built).
    pub loaded_models: Option<Arc<dyn crate::core::LoadedModels>>,
    /// Who may read `/metrics`.
    pub metrics: crate::core::metrics::MetricsAccess,
    /// The connected WebSocket clients (`system-presence`).
    pub presence: Arc<presence::Presence>,
    /// Live config changes (`None`: not offered).
    pub config: Option<Arc<dyn ConfigControl>>,
    /// The A/B update layout's state for `update.status` (blocking: reads files).
    pub update_status: Option<Arc<dyn Fn() -> serde_json::Value + Send + Sync>>,
}

impl GatewayState {
    /// Checks the token `presented` by the client at `addr` (`browser`: the request
    /// carries an `Origin` header).
    pub(crate) fn authorize(
        &self,
        addr: std::net::SocketAddr,
        browser: bool,
        presented: Option<&str>,
    ) -> Result<(), auth::Refusal> {
        let peer = auth::Peer {
            addr: addr.ip(),
            browser,
        };
        auth::authorize(&self.auth, self.token.as_deref(), peer, presented)
    }
}

/// The router: `/` (WebSocket upgrade; the control UI for a browser), `/ui/…`, `/healthz`,
/// `/readyz`, `/metrics`,
/// `/v1/models`, `/v1/chat/completions`, `/v1/embeddings`, `/hooks/agent`, `/hooks/wake`,
/// the Ollama API (`/api/*`, also under `/ollama/<key>/`) and the MCP server (`/mcp`,
/// `/mcp/sse`, also under `/mcp/<token>/`).
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/", get(ws::upgrade))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/ui/{*path}", get(ui::file))
        .route("/v1/models", get(http::models))
        .route("/v1/chat/completions", post(http::chat_completions))
        .route("/v1/embeddings", post(memory::embeddings))
        .route("/hooks/agent", post(hooks::agent))
        .route("/hooks/wake", post(hooks::wake))
        .route("/channels/{name}/webhook", post(hooks::channel_webhook))
        .merge(ollama::routes(state.clone()))
        .merge(mcp::routes(state.clone()))
        .with_state(state)
}

/// Whether `presented` is the expected bearer token (always true when auth is off).
///
/// Constant-time and length-blind: both tokens go through HMAC-SHA-256 under a fixed key
/// (RFC 2104, <https://www.rfc-editor.org/rfc/rfc2104>), and ring's `hmac::verify` compares
/// the two 32-byte tags in constant time, so neither the position of the first differing
/// byte nor whether the lengths differ shows in the timing. (Hashing costs time in 64-byte
/// blocks of input; for the expected token that reveals only its block count.)
pub(crate) fn token_ok(expected: Option<&str>, presented: Option<&str>) -> bool {
    use ring::hmac;
    let Some(expected) = expected else {
        return true;
    };
    let Some(presented) = presented else {
        return false;
    };
    // The key is not a secret: the HMAC only maps both tokens to equal-length digests.
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"hearth gateway token comparison");
    let tag = hmac::sign(&key, expected.as_bytes());
    hmac::verify(&key, presented.as_bytes(), tag.as_ref()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::token_ok;

    #[test]
    fn token_ok_accepts_only_the_exact_token() {
        let expected = Some("s3cret-token");
        assert!(token_ok(expected, Some("s3cret-token")));
        assert!(!token_ok(expected, Some("s3cret-tokeN")), "same length");
        assert!(!token_ok(expected, Some("s3cret-toke")), "a prefix");
        assert!(!token_ok(expected, Some("s3cret-token2")), "longer");
        assert!(!token_ok(expected, Some("")));
        assert!(!token_ok(expected, None));
        assert!(!token_ok(Some(""), Some("x")));
        assert!(token_ok(Some(""), Some("")));
        // Auth off: anything goes.
        assert!(token_ok(None, None));
        assert!(token_ok(None, Some("whatever")));
    }
}
