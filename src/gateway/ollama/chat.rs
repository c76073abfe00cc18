//! `POST /api/chat` (<https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion>):
//! a turn of a Hearth agent on the session the conversation maps to (`conversations.rs`),
//! with the client's system prompt and tools for that turn. A call of one of the client's
//! tools ends the response with `message.tool_calls` (arguments as JSON objects); the
//! client runs them and its next request, ending with the `tool` results, continues the
//! turn. Streaming (the default) answers NDJSON, one object per line, each with a
//! `message` (the `ollama` client requires it), the last with `done: true` and the
//! counters; `stream: false` answers one object.

use super::super::relay::{Piece, Relay};
use super::conversations::{Said, exchange_fingerprint};
use super::{GatewayState, agent_of, error, unknown_model};
use crate::core::{
    ClientToolResult, ClientTurn, Origin, SessionKey, ToolCall, Usage, now_ms, random_hex,
    rfc3339_utc,
};
use crate::router::{Follow, RunStatus, Submission};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Characters of a conversation the client remembers but Hearth does not (after a
/// restart) handed to the model as context.
const UNKNOWN_HISTORY_CHARS: usize = 4000;

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    #[serde(default)]
    messages: Vec<Msg>,
    #[serde(default)]
    tools: Vec<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    format: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Msg {
    role: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    images: Option<Vec<Value>>,
    #[serde(default)]
    tool_calls: Option<Vec<MsgCall>>,
}

#[derive(Debug, Deserialize)]
struct MsgCall {
    function: MsgFunction,
}

#[derive(Debug, Deserialize)]
struct MsgFunction {
    name: String,
}

impl Msg {
    fn said(&self) -> Said<'_> {
        Said {
            role: &self.role,
            text: self.content.as_deref().unwrap_or(""),
            calls: self
                .tool_calls
                .iter()
                .flatten()
                .map(|c| c.function.name.as_str())
                .collect(),
        }
    }
}

/// What a request adds to its conversation, and the history before it.
#[derive(Debug)]
struct Split<'a> {
    /// Messages before the new ones (system messages excluded).
    before: Vec<&'a Msg>,
    /// The new user text, if the request ends with a user message.
    text: String,
    /// Results of the client's tool calls, if it ends with `tool` messages.
    results: Vec<ClientToolResult>,
    /// Images the user sent (Hearth does not pass them on).
    images: usize,
}

fn split(msgs: &[Msg]) -> Result<Split<'_>, String> {
    let talk: Vec<&Msg> = msgs.iter().filter(|m| m.role != "system").collect();
    let Some(last) = talk.last() else {
        return Err("messages hold no user message".into());
    };
    match last.role.as_str() {
        "user" => Ok(Split {
            before: talk[..talk.len() - 1].to_vec(),
            text: last.content.clone().unwrap_or_default(),
            results: Vec::new(),
            images: last.images.as_ref().map_or(0, Vec::len),
        }),
        "tool" => {
            let from = talk
                .iter()
                .rposition(|m| m.role != "tool")
                .map_or(0, |i| i + 1);
            Ok(Split {
                before: talk[..from].to_vec(),
                text: String::new(),
                results: talk[from..]
                    .iter()
                    .map(|m| ClientToolResult {
                        call_id: None,
                        content: m.content.clone().unwrap_or_default(),
                    })
                    .collect(),
                images: 0,
            })
        }
        r => Err(format!(
            "the last message is from {r:?}: a request ends with a user message or tool results"
        )),
    }
}

/// The client's remembered conversation as a short transcript, newest kept.
fn unknown_history(before: &[&Msg]) -> Option<String> {
    let mut lines: Vec<String> = before
        .iter()
        .filter_map(|m| {
            let t = m.content.as_deref().unwrap_or("").trim();
            (!t.is_empty()).then(|| format!("{}: {t}", m.role))
        })
        .collect();
    let mut total: usize = lines.iter().map(|l| l.chars().count()).sum();
    while total > UNKNOWN_HISTORY_CHARS && lines.len() > 1 {
        total -= lines.remove(0).chars().count();
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// `POST /api/chat` (also under `/ollama/{key}`).
pub(super) async fn chat(State(st): State<GatewayState>, body: axum::body::Bytes) -> Response {
    let Some(opts) = st.ollama.clone() else {
        return error(StatusCode::NOT_FOUND, "the Ollama API is off");
    };
    let req: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("request body: {e}")),
    };
    let Some(agent) = agent_of(&st, &req.model) else {
        return unknown_model(&st, &req.model);
    };
    let started = Instant::now();
    let created = rfc3339_utc(now_ms());
    if req.messages.is_empty() {
        // Ollama's way to load a model: an empty chat answers done at once.
        return Json(json!({"model": req.model, "created_at": created,
            "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "load"}))
        .into_response();
    }
    let s = match split(&req.messages) {
        Ok(s) => s,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let said: Vec<Said<'_>> = s.before.iter().map(|m| m.said()).collect();
    let known = exchange_fingerprint(&req.model, &said).and_then(|fp| opts.conversations.find(fp));
    let mut system: Vec<String> = req
        .messages
        .iter()
        .filter(|m| m.role == "system")
        .filter_map(|m| m.content.clone())
        .collect();
    if known.is_none()
        && let Some(h) = unknown_history(&s.before)
    {
        system.push(format!(
            "The conversation so far, as the client remembers it:\n{h}"
        ));
    }
    match &req.format {
        Some(Value::String(f)) if f == "json" => {
            system.push("Answer with one JSON value only, no other text.".into());
        }
        Some(schema @ Value::Object(_)) => system.push(format!(
            "Answer with one JSON value only, no other text, matching this JSON Schema: {schema}"
        )),
        _ => {}
    }
    let session_key = match known {
        Some(k) => SessionKey::parse(&k),
        None => random_hex(8)
            .map_err(|e| e.to_string())
            .and_then(|id| SessionKey::parse(&format!("agent:{agent}:ollama:{id}"))),
    };
    let session_key = match session_key {
        Ok(k) => k,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let mut text = s.text.clone();
    if s.images > 0 {
        text.push_str(&format!(
            "\n[{} image(s) attached; this gateway does not pass images on]",
            s.images
        ));
    }
    let sub = Submission {
        client: Some(ClientTurn {
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            tools: req
                .tools
                .iter()
                .filter_map(super::super::http::client_tool)
                .collect(),
            tool_results: s.results.clone(),
        }),
        ..Submission::new(session_key, Origin::gateway("http"), text)
    };
    let (acc, follow) = match st.dispatcher.submit(sub).await {
        Ok(a) => a,
        Err(e) => return error(super::super::http::refused_status(&e), e.to_string()),
    };
    // The exchange this answer ends, for the client's next request to find the session.
    let asked: Vec<(String, String, Vec<String>)> = req
        .messages
        .iter()
        .filter(|m| m.role != "system")
        .map(|m| {
            let s = m.said();
            let calls = s.calls.iter().map(|c| c.to_string()).collect();
            (m.role.clone(), s.text.to_string(), calls)
        })
        .collect();
    let remember = {
        let (model, session) = (req.model.clone(), acc.session_key.clone());
        let conversations = opts.conversations.clone();
        move |sent: &str, calls: &[ToolCall]| {
            let mut all: Vec<Said<'_>> = asked
                .iter()
                .map(|(r, t, c)| Said {
                    role: r,
                    text: t,
                    calls: c.iter().map(String::as_str).collect(),
                })
                .collect();
            all.push(Said {
                role: "assistant",
                text: sent,
                calls: calls.iter().map(|c| c.name.as_str()).collect(),
            });
            if let Some(fp) = exchange_fingerprint(&model, &all) {
                conversations.remember(fp, &session);
            }
        }
    };
    let line = Line {
        model: req.model.clone(),
        created,
        started,
    };
    if !req.stream.unwrap_or(true) {
        let rec = match st
            .dispatcher
            .wait(&acc.run_id, Duration::from_secs(3600))
            .await
        {
            Ok(r) => r,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
        if rec.status != RunStatus::Completed {
            let m = rec
                .error
                .unwrap_or_else(|| format!("run ended as {}", rec.status.as_str()));
            return error(StatusCode::INTERNAL_SERVER_ERROR, m);
        }
        let text = rec.reply.unwrap_or_default();
        remember(&text, &rec.tool_calls);
        let mut v = line.done(&rec.usage, &rec.tool_calls);
        v["message"]["content"] = json!(text);
        return Json(v).into_response();
    }
    let body = super::super::http::async_stream(move |tx| stream(follow, tx, line, remember));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The fixed fields of every response line.
struct Line {
    model: String,
    created: String,
    started: Instant,
}

impl Line {
    fn part(&self, content: &str) -> Value {
        json!({"model": self.model, "created_at": self.created,
            "message": {"role": "assistant", "content": content}, "done": false})
    }

    /// The final object: `done`, the reason, the calls (arguments as objects) and the
    /// counters (durations in ns).
    fn done(&self, usage: &Usage, calls: &[ToolCall]) -> Value {
        let ns = self.started.elapsed().as_nanos() as u64;
        let mut message = json!({"role": "assistant", "content": ""});
        if !calls.is_empty() {
            message["tool_calls"] = calls
                .iter()
                .map(|c| {
                    let args = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    json!({"function": {"name": c.name, "arguments": args}})
                })
                .collect();
        }
        json!({"model": self.model, "created_at": self.created, "message": message,
            "done": true, "done_reason": "stop", "total_duration": ns, "load_duration": 0,
            "prompt_eval_count": usage.prompt_tokens, "prompt_eval_duration": 0,
            "eval_count": usage.completion_tokens, "eval_duration": ns})
    }
}

/// Streams one run as NDJSON (what is sent when: [`super::super::relay`]).
async fn stream(
    mut follow: Follow,
    tx: tokio::sync::mpsc::Sender<String>,
    line: Line,
    remember: impl Fn(&str, &[ToolCall]),
) {
    let nd = |v: Value| format!("{v}\n");
    let mut relay = Relay::default();
    while let Some(item) = follow.next().await {
        let (out, end) = match relay.step(item) {
            None => continue,
            Some(Piece::Text(text)) => (vec![nd(line.part(&text))], false),
            Some(Piece::Done {
                rest,
                tool_calls,
                usage,
            }) => {
                let mut out = Vec::new();
                if !rest.is_empty() {
                    out.push(nd(line.part(&rest)));
                }
                remember(relay.sent(), &tool_calls);
                out.push(nd(line.done(&usage, &tool_calls)));
                (out, true)
            }
            Some(Piece::Error(m)) => (vec![nd(json!({"error": m}))], true),
        };
        for o in out {
            if tx.send(o).await.is_err() {
                return;
            }
        }
        if end {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> Msg {
        Msg {
            role: role.into(),
            content: Some(content.into()),
            images: None,
            tool_calls: None,
        }
    }

    #[test]
    fn a_request_ends_with_a_user_message_or_tool_results() {
        let m = vec![
            msg("system", "you are HA"),
            msg("user", "light on"),
            Msg {
                role: "assistant".into(),
                content: None,
                images: None,
                tool_calls: Some(vec![MsgCall {
                    function: MsgFunction {
                        name: "HassTurnOn".into(),
                    },
                }]),
            },
            msg("tool", "{\"speech\":{}}"),
        ];
        let s = split(&m).unwrap();
        assert_eq!(s.before.len(), 2);
        assert_eq!(s.results.len(), 1);
        assert!(s.text.is_empty());
        let s = split(&m[..2]).unwrap();
        assert_eq!((s.before.len(), s.text.as_str()), (0, "light on"));
        assert!(split(&m[..1]).is_err());
        assert!(split(&m[..3]).unwrap_err().contains("assistant"));
    }

    #[test]
    fn client_tools_keep_their_schema_or_get_an_empty_object() {
        let t = super::super::super::http::client_tool(
            &json!({"type": "function", "function": {"name": "HassTurnOn",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}}}}}),
        )
        .unwrap();
        assert_eq!(t.name, "HassTurnOn");
        assert_eq!(t.parameters["properties"]["name"]["type"], "string");
        let t = super::super::super::http::client_tool(
            &json!({"function": {"name": "GetLiveContext"}}),
        )
        .unwrap();
        assert_eq!(t.parameters, json!({"type": "object", "properties": {}}));
        assert!(super::super::super::http::client_tool(&json!({"type": "function"})).is_none());
    }
}
