//! Model providers: the [`Provider`] trait, its error type, and the implementations —
//! `openai` (any OpenAI-compatible `/v1/chat/completions` server), `anthropic` (Messages
//! API) and `local` (candle, on-device GGUF). `failover` walks the configured model chain
//! across auth profiles with persistent cooldowns.
//!
//! Providers are blocking (ureq, candle): callers run them on a blocking thread and pass a
//! [`DeltaSink`] that receives streamed text. This module must not import `agent`,
//! `gateway` or `storage` (failover state is reached through the [`failover::CooldownStore`]
//! trait).

pub mod anthropic;
pub mod failover;
#[cfg(feature = "local-llm")]
pub mod local;
pub mod openai;
pub mod sse;

use crate::core::{ChatMessage, ToolSpec, Usage};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A provider API key, never printed: `Debug` shows `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a resolved secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; only for building a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One credential of a provider (OpenClaw's "auth profile"), e.g. `openai:work`.
#[derive(Debug, Clone)]
pub struct AuthProfile {
    /// `<provider>:<profile>`; the key under which cooldowns are stored.
    pub id: String,
    /// The API key sent to the provider; `None` for servers that need none.
    pub api_key: Option<Secret>,
}

/// Everything one model call needs.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    /// The provider's own model name (the part after `provider/` in a model ref).
    pub model: &'a str,
    /// The conversation, system message first.
    pub messages: &'a [ChatMessage],
    /// Tools the model may call; empty for none.
    pub tools: &'a [ToolSpec],
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
    /// Sampling temperature; `0.0` means greedy decoding.
    pub temperature: f32,
    /// Seed for sampling where the provider supports one.
    pub seed: u64,
    /// Whole-call deadline (connect + stream); exceeding it is [`ProviderError::Timeout`].
    pub timeout: Duration,
}

/// Receives streamed assistant text, one delta (one or more tokens) at a time.
pub type DeltaSink<'a> = dyn FnMut(&str) + Send + 'a;

/// Why a model call stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its answer.
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// The model asked for tool calls.
    ToolCalls,
}

/// The complete result of one model call.
#[derive(Debug, Clone)]
pub struct ChatResponse {
    /// The assistant message (text and/or tool calls).
    pub message: ChatMessage,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Token counts, when the provider reports them.
    pub usage: Usage,
}

/// A model call failure. [`ProviderError::cools_down`] tells the failover layer whether the
/// auth profile should be put on cooldown; every variant but `Cancelled` moves on to the
/// next candidate.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// HTTP 429.
    #[error("rate limited by {provider} (HTTP 429){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider name.
        provider: String,
        /// Value of `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// HTTP 401/403.
    #[error("{provider} rejected the credentials (HTTP {status})")]
    Auth {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
    },
    /// HTTP 5xx (and 408/529 overload codes).
    #[error("{provider} server error (HTTP {status}): {detail}")]
    Server {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// First 300 bytes of the body.
        detail: String,
    },
    /// Other 4xx: the request itself is wrong for this provider (no cooldown).
    #[error("{provider} refused the request (HTTP {status}): {detail}")]
    BadRequest {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// First 300 bytes of the body.
        detail: String,
    },
    /// The deadline passed.
    #[error("{provider} timed out after {}s", after.as_secs())]
    Timeout {
        /// Provider name.
        provider: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// TCP/TLS/DNS failure.
    #[error("cannot reach {provider}: {detail}")]
    Connect {
        /// Provider name.
        provider: String,
        /// The transport error.
        detail: String,
    },
    /// The provider answered with something that is not its documented wire format.
    #[error("{provider} returned a malformed response: {detail}")]
    BadResponse {
        /// Provider name.
        provider: String,
        /// What was wrong and where.
        detail: String,
    },
    /// An on-device model could not be loaded or run.
    #[error("local model: {0}")]
    Local(String),
    /// The model ref names no configured provider or model.
    #[error("unknown model {0:?}: not in the configured providers or installed models")]
    UnknownModel(String),
    /// Every candidate of the chain failed or is cooling down.
    #[error("all models failed: {0}")]
    Exhausted(String),
    /// The run was aborted.
    #[error("cancelled")]
    Cancelled,
}

impl ProviderError {
    /// Whether the failure says something about the credential or the server's health, so
    /// the auth profile should cool down before it is tried again.
    pub fn cools_down(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Auth { .. }
                | Self::Server { .. }
                | Self::Timeout { .. }
                | Self::Connect { .. }
        )
    }

    /// Short machine-readable kind for events and logs (`rate_limit`, `auth`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limit",
            Self::Auth { .. } => "auth",
            Self::Server { .. } => "server",
            Self::BadRequest { .. } => "bad_request",
            Self::Timeout { .. } => "timeout",
            Self::Connect { .. } => "connect",
            Self::BadResponse { .. } => "bad_response",
            Self::Local(_) => "local",
            Self::UnknownModel(_) => "unknown_model",
            Self::Exhausted(_) => "exhausted",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A model backend. One streaming method: it blocks until the answer is complete, calling
/// `sink` with each text delta as it arrives, and checks `cancel` between chunks.
pub trait Provider: Send + Sync {
    /// The provider's configured name (`openai`, `anthropic`, `local`, …).
    fn name(&self) -> &str;

    /// Runs one chat completion.
    ///
    /// # Errors
    /// Any [`ProviderError`]; `Cancelled` when `cancel` fired.
    fn chat(
        &self,
        req: &ChatRequest<'_>,
        auth: &AuthProfile,
        sink: &mut DeltaSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, ProviderError>;
}

/// Maps an HTTP error status and body to the matching [`ProviderError`].
pub fn http_status_error(
    provider: &str,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> ProviderError {
    let provider = provider.to_string();
    let detail: String = body.chars().take(300).collect();
    match status {
        429 => ProviderError::RateLimited {
            provider,
            retry_after,
        },
        401 | 403 => ProviderError::Auth { provider, status },
        408 | 500..=599 => ProviderError::Server {
            provider,
            status,
            detail,
        },
        _ => ProviderError::BadRequest {
            provider,
            status,
            detail,
        },
    }
}
