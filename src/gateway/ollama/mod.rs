//! The Ollama API (<https://github.com/ollama/ollama/blob/main/docs/api.md>) as Home
//! Assistant's `ollama` integration and the `ollama` Python client call it, so a stock
//! Home Assistant uses a Hearth agent as its conversation agent: `GET /api/version`,
//! `GET /api/tags`, `GET /api/ps`, `POST /api/show`, `POST /api/pull`, and `POST
//! /api/chat` (`chat.rs`). Every agent is offered as a model: `main` as `hearth:latest`,
//! `[agents.<id>]` as `<id>:latest`.
//!
//! Auth: the gateway token or `[ollama] key` as `Authorization: Bearer`, or the same in the
//! path (`/ollama/<key>/api/…`) for clients that can only be given a URL — Home
//! Assistant's integration sends no header. Wrong keys count towards the address's
//! lockout like any wrong token.

mod chat;
pub mod conversations;

use super::GatewayState;
use crate::core::rfc3339_utc;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// The Ollama API version reported by `/api/version`: the API level whose shapes Hearth
/// serves (Home Assistant does not check it).
pub const API_VERSION: &str = "0.9.0";

/// What the Ollama API needs beside the gateway state.
#[derive(Clone)]
pub struct OllamaOptions {
    /// `[ollama] key`, accepted beside the gateway token.
    pub key: Option<Arc<str>>,
    /// Which session each remembered conversation continues.
    pub conversations: Arc<conversations::Conversations>,
    /// When the gateway started, ms since the epoch (the models' `modified_at`).
    pub started_ms: u64,
}

/// The routes, with and without the `/ollama/{key}` prefix, each behind the key check.
pub fn routes(state: GatewayState) -> axum::Router<GatewayState> {
    let mut r = axum::Router::new();
    for prefix in ["", "/ollama/{key}"] {
        r = r
            .route(&format!("{prefix}/api/version"), get(version))
            .route(&format!("{prefix}/api/tags"), get(tags))
            .route(&format!("{prefix}/api/ps"), get(ps))
            .route(&format!("{prefix}/api/show"), post(show))
            .route(&format!("{prefix}/api/pull"), post(pull))
            .route(&format!("{prefix}/api/chat"), post(chat::chat));
    }
    r.route_layer(axum::middleware::from_fn_with_state(state, gate))
}

/// Runs the request only when [`refuse`] lets it through.
async fn gate(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    key: Option<Path<String>>,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match refuse(&st, addr, &headers, key.as_ref().map(|k| k.as_str())) {
        Some(r) => r,
        None => next.run(req).await,
    }
}

/// An Ollama-shaped error: `{"error": "…"}` with `status`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// `None` when the request may use the API, else the response refusing it (404 when the
/// API is off, 401, or 429 during a lockout).
fn refuse(
    st: &GatewayState,
    addr: SocketAddr,
    headers: &HeaderMap,
    path_key: Option<&str>,
) -> Option<Response> {
    let Some(o) = &st.ollama else {
        return Some(error(
            StatusCode::NOT_FOUND,
            "the Ollama API is off ([ollama] enabled = false)",
        ));
    };
    let presented = path_key.or_else(|| super::auth::bearer(headers));
    if o.key.is_some() && super::token_ok(o.key.as_deref(), presented) {
        return None;
    }
    st.authorize(addr, headers.contains_key(header::ORIGIN), presented)
        .err()
        .map(|r| {
            super::auth::refusal(
                r,
                "missing or wrong key: send the gateway token or [ollama] key as a bearer token, or put it in the URL (http://<host>:<port>/ollama/<key>)",
                error,
            )
        })
}

/// The model name of agent `id`.
pub(super) fn model_of(id: &str) -> String {
    if id == "main" {
        "hearth:latest".into()
    } else {
        format!("{id}:latest")
    }
}

/// The agent a model name stands for (`hearth`, `hearth:latest`, `<id>`, `<id>:latest`),
/// if it is offered.
pub(super) fn agent_of(st: &GatewayState, model: &str) -> Option<String> {
    let base = model.strip_suffix(":latest").unwrap_or(model);
    let id = if base == "hearth" { "main" } else { base };
    st.dispatcher.agent_ids().into_iter().find(|a| a == id)
}

/// The models on offer, with a clear error for an unknown one.
pub(super) fn unknown_model(st: &GatewayState, model: &str) -> Response {
    let offered: Vec<String> = st
        .dispatcher
        .agent_ids()
        .iter()
        .map(|a| model_of(a))
        .collect();
    error(
        StatusCode::NOT_FOUND,
        format!(
            "model {model:?} not found: this Hearth gateway offers {}",
            offered.join(", ")
        ),
    )
}

/// The `details` object of every Hearth model.
fn details() -> Value {
    json!({"parent_model": "", "format": "hearth", "family": "hearth", "families": ["hearth"],
        "parameter_size": "", "quantization_level": ""})
}

/// A stable digest-looking id for a model name (FNV-1a repeated to 64 hex digits; it
/// identifies, it does not verify).
fn digest(name: &str) -> String {
    use conversations::{FNV_OFFSET, fnv1a};
    (0u64..4)
        .map(|i| format!("{:016x}", fnv1a(FNV_OFFSET ^ i, name.as_bytes())))
        .collect()
}

fn listed(st: &GatewayState) -> Vec<(String, Value)> {
    let at = st.ollama.as_ref().map_or(0, |o| o.started_ms);
    st.dispatcher
        .agent_ids()
        .into_iter()
        .map(|a| {
            let name = model_of(&a);
            let v = json!({"name": name, "model": name, "modified_at": rfc3339_utc(at),
                "size": 0, "digest": digest(&name), "details": details()});
            (a, v)
        })
        .collect()
}

/// `GET /api/version`.
async fn version() -> Response {
    Json(json!({"version": API_VERSION})).into_response()
}

/// `GET /api/tags`: every agent as a model (Home Assistant reads `models[].model`).
async fn tags(State(st): State<GatewayState>) -> Response {
    let models: Vec<Value> = listed(&st).into_iter().map(|(_, v)| v).collect();
    Json(json!({"models": models})).into_response()
}

/// `GET /api/ps`: the agents are always loaded.
async fn ps(State(st): State<GatewayState>) -> Response {
    let forever = rfc3339_utc(4_102_444_800_000);
    let models: Vec<Value> = listed(&st)
        .into_iter()
        .map(|(_, mut v)| {
            v["expires_at"] = json!(forever);
            v["size_vram"] = json!(0);
            v
        })
        .collect();
    Json(json!({"models": models})).into_response()
}

/// The `model` of a `show`/`pull` body (`name` in older clients), or why there is none
/// (answered as 400).
fn model_field(body: &[u8]) -> Result<String, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not JSON: {e}"))?;
    v.get("model")
        .or_else(|| v.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| "missing \"model\"".to_string())
}

/// The checks of `show` and `pull`: the body's model, an agent for it. Returns the model
/// and the agent, or the refusal.
fn model_request(st: &GatewayState, body: &[u8]) -> Result<(String, String), Box<Response>> {
    let model = model_field(body).map_err(|m| Box::new(error(StatusCode::BAD_REQUEST, m)))?;
    match agent_of(st, &model) {
        Some(agent) => Ok((model, agent)),
        None => Err(Box::new(unknown_model(st, &model))),
    }
}

/// `POST /api/show`.
async fn show(State(st): State<GatewayState>, body: axum::body::Bytes) -> Response {
    let agent = match model_request(&st, &body) {
        Ok((_, agent)) => agent,
        Err(r) => return *r,
    };
    let at = st.ollama.as_ref().map_or(0, |o| o.started_ms);
    Json(json!({
        "modelfile": format!("# Hearth agent {agent:?}: its model chain and tools live in Hearth's config\n"),
        "parameters": "", "template": "", "license": "",
        "details": details(),
        "model_info": {"general.architecture": "hearth", "hearth.agent": agent},
        "capabilities": ["completion", "tools"],
        "modified_at": rfc3339_utc(at),
    }))
    .into_response()
}

/// `POST /api/pull`: a model Hearth offers "pulls" at once (streamed progress or one
/// object, as asked); any other name is a clear 404 — Hearth does not download Ollama
/// models.
async fn pull(State(st): State<GatewayState>, body: axum::body::Bytes) -> Response {
    let model = match model_request(&st, &body) {
        Ok((model, _)) => model,
        Err(r) => return *r,
    };
    let stream = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("stream").and_then(Value::as_bool))
        .unwrap_or(true);
    if !stream {
        return Json(json!({"status": "success"})).into_response();
    }
    let d = format!("sha256:{}", digest(&model));
    let lines = [
        json!({"status": "pulling manifest"}),
        json!({"status": "pulling model", "digest": d, "total": 0, "completed": 0}),
        json!({"status": "verifying sha256 digest"}),
        json!({"status": "writing manifest"}),
        json!({"status": "success"}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}
