//! HTTP endpoints: `/healthz`, `/readyz`, and the OpenAI-compatible `/v1/models` and
//! `/v1/chat/completions` (<https://platform.openai.com/docs/api-reference/chat>, SSE
//! streaming as in <https://platform.openai.com/docs/api-reference/chat-streaming>).
//! A request maps to an agent session when it carries `x-hearth-session-key` (or
//! OpenAI's `user` field as `openai-user:<user>`); otherwise it is stateless: the client's
//! messages are the context and no transcript is kept (the run record still is).

use super::relay::{Piece, Relay};
use super::{GatewayState, methods};
use crate::core::{
    ChatMessage, ClientToolResult, ClientTurn, InboundMessage, Origin, Role, SessionKey, ToolCall,
    ToolSpec, now_ms,
};
use crate::router::{DispatchError, Follow, RunStatus, Submission};
use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the store is open and the gateway accepts runs.
pub async fn readyz(State(st): State<GatewayState>) -> Response {
    if st.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match st.dispatcher.ready() {
        Ok(()) => "ready\n".into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}\n"),
        )
            .into_response(),
    }
}

pub(super) fn api_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "code": Value::Null}});
    (status, Json(body)).into_response()
}

/// `None` when the request carries the right bearer token, else the 401 response (429
/// with `Retry-After` while the client's address is locked out after repeated wrong
/// tokens).
pub(super) fn unauthorized(
    st: &GatewayState,
    addr: SocketAddr,
    headers: &HeaderMap,
) -> Option<Response> {
    let presented = super::auth::bearer(headers);
    let browser = headers.contains_key(header::ORIGIN);
    st.authorize(addr, browser, presented).err().map(|r| {
        super::auth::refusal(r, "missing or wrong bearer token", |status, m| {
            let kind = if status == StatusCode::TOO_MANY_REQUESTS {
                "rate_limit_error"
            } else {
                "invalid_request_error"
            };
            api_error(status, kind, m)
        })
    })
}

/// `GET /v1/models`: the model chain in OpenAI's list shape.
pub async fn models(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthorized(&st, addr, &headers) {
        return r;
    }
    let mut data =
        vec![json!({"id": "hearth", "object": "model", "created": 0, "owned_by": "hearth"})];
    for m in methods::models(&st) {
        data.push(
            json!({"id": m["id"], "object": "model", "created": 0, "owned_by": m["provider"]}),
        );
    }
    Json(json!({"object": "list", "data": data})).into_response()
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    user: Option<String>,
    /// The client's own tools: a call of one ends the response with `tool_calls`.
    #[serde(default)]
    tools: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    tool_calls: Vec<InCall>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InCall {
    #[serde(default)]
    id: String,
    function: InFunction,
}

#[derive(Debug, Deserialize)]
struct InFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

impl InMessage {
    /// As a Hearth message (`None` for roles Hearth does not keep).
    fn chat(&self) -> Option<ChatMessage> {
        let role = match self.role.as_str() {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => {
                let id = self.tool_call_id.clone().unwrap_or_default();
                return Some(ChatMessage::tool_result(
                    &id,
                    "",
                    content_text(&self.content),
                ));
            }
            _ => return None,
        };
        let mut m = ChatMessage::text(role, content_text(&self.content));
        m.tool_calls = self
            .tool_calls
            .iter()
            .map(|c| ToolCall {
                id: c.id.clone(),
                name: c.function.name.clone(),
                // OpenAI sends the arguments as a JSON string; Ollama as an object.
                arguments: match &c.function.arguments {
                    Value::String(s) => serde_json::from_str(s).unwrap_or(json!({})),
                    v => v.clone(),
                },
            })
            .collect();
        Some(m)
    }
}

/// A client tool in OpenAI's and Ollama's shape
/// (`{"type":"function","function":{name, description, parameters}}`) as a spec; `None`
/// for entries that are not functions.
pub(super) fn client_tool(v: &Value) -> Option<ToolSpec> {
    let f = v.get("function")?;
    Some(ToolSpec {
        name: f.get("name")?.as_str()?.to_string(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        parameters: f
            .get("parameters")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

/// Text of an OpenAI message `content`: a string or an array of `{type:"text",text}` parts.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = unauthorized(&st, addr, &headers) {
        return r;
    }
    let req: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("request body: {e}"),
            );
        }
    };
    // The new part of the request: its last user message, or the tool results after the
    // last assistant message (a client continuing a turn that stopped at its tools).
    let tail_from = req
        .messages
        .iter()
        .rposition(|m| m.role != "tool")
        .map_or(0, |i| i + 1);
    let continuing = tail_from < req.messages.len();
    let (history_end, message) = if continuing {
        (tail_from, String::new())
    } else {
        let Some(last_user) = req.messages.iter().rposition(|m| m.role == "user") else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "messages must contain a user message",
            );
        };
        (last_user, content_text(&req.messages[last_user].content))
    };
    let tool_results: Vec<ClientToolResult> = req.messages[tail_from..]
        .iter()
        .map(|m| ClientToolResult {
            call_id: m.tool_call_id.clone(),
            content: content_text(&m.content),
        })
        .collect();
    let header_key = headers
        .get("x-hearth-session-key")
        .and_then(|v| v.to_str().ok());
    let key = header_key
        .map(str::to_string)
        .or_else(|| req.user.as_ref().map(|u| format!("openai-user:{u}")));
    let stateful = key.is_some();
    let (session_key, stateless_history) = match key {
        Some(k) => match SessionKey::parse(&k) {
            Ok(k) => (k, None),
            Err(e) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    format!("session key: {e}"),
                );
            }
        },
        None => {
            let hist: Vec<ChatMessage> = req.messages[..history_end]
                .iter()
                .filter_map(InMessage::chat)
                .collect();
            (SessionKey::main(), Some(hist))
        }
    };
    let tools: Vec<ToolSpec> = req.tools.iter().filter_map(client_tool).collect();
    // On a session, Hearth keeps the history; the client's system messages still apply to
    // this turn. Stateless requests carry theirs in the history.
    let system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| stateful && (m.role == "system" || m.role == "developer"))
        .map(|m| content_text(&m.content))
        .collect();
    let client =
        (!tools.is_empty() || !tool_results.is_empty() || !system.is_empty()).then(|| ClientTurn {
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            tools,
            tool_results,
        });
    let idempotency_key = super::hooks::idempotency_header(&headers);
    let sub = Submission {
        session_key,
        message: InboundMessage {
            origin: Origin::gateway("http"),
            text: message,
            attachments: Vec::new(),
            ts_ms: now_ms(),
        },
        idempotency_key,
        stateless_history,
        cursor: None,
        record_only: false,
        client,
        run_id: None,
    };
    let (acc, follow) = match st.dispatcher.submit(sub).await {
        Ok(a) => a,
        Err(e) => return api_error(refused_status(&e), "server_error", e.to_string()),
    };
    let id = format!("chatcmpl-{}", acc.run_id.trim_start_matches("run_"));
    let created = now_ms() / 1000;
    let model = req.model.unwrap_or_else(|| "hearth".into());
    if !req.stream {
        let rec = match st
            .dispatcher
            .wait(&acc.run_id, Duration::from_secs(3600))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    e.to_string(),
                );
            }
        };
        if rec.status != RunStatus::Completed {
            let msg = rec
                .error
                .unwrap_or_else(|| format!("run ended as {}", rec.status.as_str()));
            return api_error(StatusCode::BAD_GATEWAY, "server_error", msg);
        }
        let (message, finish) = if rec.tool_calls.is_empty() {
            (json!({"role": "assistant", "content": rec.reply}), "stop")
        } else {
            let content = rec.reply.filter(|r| !r.is_empty());
            let calls = openai_calls(&rec.tool_calls, false);
            (
                json!({"role": "assistant", "content": content, "tool_calls": calls}),
                "tool_calls",
            )
        };
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": rec.usage.prompt_tokens, "completion_tokens": rec.usage.completion_tokens,
                "total_tokens": rec.usage.prompt_tokens + rec.usage.completion_tokens,
            },
        }))
        .into_response();
    }
    let chunk = move |delta: Value, finish: Value| {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let stream = async_stream(move |tx| sse(follow, tx, chunk));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(stream)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Streams one run as OpenAI chunks (what is sent when: [`super::relay`]).
async fn sse(
    mut follow: Follow,
    tx: tokio::sync::mpsc::Sender<String>,
    chunk: impl Fn(Value, Value) -> String,
) {
    let role = || chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    let error = |m: &str| {
        format!(
            "data: {}\n\n",
            json!({"error": {"message": m, "type": "server_error"}})
        )
    };
    let mut relay = Relay::default();
    while let Some(item) = follow.next().await {
        let first = !relay.started();
        let Some(piece) = relay.step(item) else {
            continue;
        };
        let mut out = Vec::new();
        let end = match piece {
            Piece::Text(text) => {
                if first {
                    out.push(role());
                }
                out.push(chunk(json!({"content": text}), Value::Null));
                false
            }
            Piece::Done {
                rest, tool_calls, ..
            } => {
                if first {
                    out.push(role());
                }
                if !rest.is_empty() || (first && tool_calls.is_empty()) {
                    out.push(chunk(json!({"content": rest}), Value::Null));
                }
                if tool_calls.is_empty() {
                    out.push(chunk(json!({}), json!("stop")));
                } else {
                    let calls = openai_calls(&tool_calls, true);
                    out.push(chunk(json!({"tool_calls": calls}), Value::Null));
                    out.push(chunk(json!({}), json!("tool_calls")));
                }
                true
            }
            Piece::Error(m) => {
                out.push(error(&m));
                true
            }
        };
        for o in out {
            if tx.send(o).await.is_err() {
                return;
            }
        }
        if end {
            break;
        }
    }
    let _ = tx.send("data: [DONE]\n\n".to_string()).await;
}

/// The HTTP status of a submission the dispatcher refused: 400 for a bad request, 429 for a
/// full queue, else 503.
pub(super) fn refused_status(e: &DispatchError) -> StatusCode {
    match e {
        DispatchError::Invalid(_) => StatusCode::BAD_REQUEST,
        DispatchError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Tool calls in OpenAI's shape (arguments as a JSON string; `index` in stream deltas).
fn openai_calls(calls: &[ToolCall], delta: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments.to_string()}});
            if delta {
                v["index"] = json!(i);
            }
            v
        })
        .collect()
}

/// A response body fed by a task through a bounded channel.
pub(super) fn async_stream<F, Fut>(f: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(f(tx));
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|s| (Ok::<_, Infallible>(s), rx))
    });
    Body::from_stream(s)
}
