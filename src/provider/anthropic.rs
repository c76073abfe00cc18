//! The Anthropic provider: the Messages API (<https://docs.anthropic.com/en/api/messages>),
//! streamed (<https://docs.anthropic.com/en/api/messages-streaming>).
//!
//! `POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version: 2023-06-01`.
//! System messages become the top-level `system` string; assistant tool calls become
//! `tool_use` blocks and tool results `tool_result` blocks of a user turn. The event stream
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `ping`, `error`) is
//! folded into one [`ChatResponse`]. Imports only `core` and `provider`.

use super::sse::{self, Deadlines, SseReader};
use super::{
    AuthProfile, ChatRequest, ChatResponse, DeltaSink, FinishReason, Provider, ProviderError,
};
use crate::core::{ChatMessage, Role, ToolCall, Usage};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use tokio_util::sync::CancellationToken;

/// The API version header value this module implements.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A provider for Anthropic's Messages API.
#[derive(Debug)]
pub struct AnthropicProvider {
    name: String,
    base_url: String,
    agent: ureq::Agent,
}

impl AnthropicProvider {
    /// A provider called `name` for the API at `base_url`, the prefix before `/v1/messages`
    /// (normally `https://api.anthropic.com`; a trailing `/` is ignored).
    pub fn new(name: String, base_url: String) -> Self {
        let base_url = base_url.trim_end_matches('/').to_string();
        Self {
            name,
            base_url,
            agent: sse::http_agent(),
        }
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat(
        &self,
        req: &ChatRequest<'_>,
        auth: &AuthProfile,
        sink: &mut DeltaSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, ProviderError> {
        let mut headers = vec![(
            "anthropic-version".to_string(),
            ANTHROPIC_VERSION.to_string(),
        )];
        if let Some(key) = &auth.api_key {
            headers.push(("x-api-key".into(), key.expose().to_string()));
        }
        let url = format!("{}/v1/messages", self.base_url);
        tracing::debug!(provider = %self.name, model = req.model, %url, "messages call");
        let decoders = sse::Decoders {
            whole: parse_message,
            stream: read_stream,
        };
        sse::exchange(
            &self.agent,
            &self.name,
            &url,
            &headers,
            &request_body(req),
            req.timeout,
            &decoders,
            sink,
            cancel,
        )
    }
}

/// The Messages request body for `req` (no `seed`: the API has none).
fn request_body(req: &ChatRequest<'_>) -> Value {
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens,
        "temperature": sse::f32_json(req.temperature),
        "stream": true,
        "messages": messages_json(req.messages),
    });
    if !system.is_empty() {
        body["system"] = Value::String(system.join("\n\n"));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description, "input_schema": t.parameters})
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// The conversation without system messages, in Messages shape; consecutive tool results
/// are merged into one user turn of `tool_result` blocks.
fn messages_json(messages: &[ChatMessage]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    for m in messages {
        if m.role == Role::Tool {
            let id = m.tool_call_id.as_deref().unwrap_or_default();
            results.push(json!({"type": "tool_result", "tool_use_id": id, "content": m.content}));
            continue;
        }
        if !results.is_empty() {
            out.push(json!({"role": "user", "content": std::mem::take(&mut results)}));
        }
        match m.role {
            Role::User => out.push(json!({"role": "user", "content": m.content})),
            Role::Assistant if m.tool_calls.is_empty() => {
                out.push(json!({"role": "assistant", "content": m.content}))
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for call in &m.tool_calls {
                    let input = if call.arguments.is_object() {
                        call.arguments.clone()
                    } else {
                        json!({})
                    };
                    blocks.push(
                        json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
                    );
                }
                out.push(json!({"role": "assistant", "content": blocks}));
            }
            Role::System | Role::Tool => {}
        }
    }
    if !results.is_empty() {
        out.push(json!({"role": "user", "content": results}));
    }
    out
}

/// One content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    /// Block kinds Hearth does not use (`thinking`, server tools, …).
    Other,
}

/// Everything gathered from the events so far.
#[derive(Debug, Default)]
struct Gathered {
    text: String,
    blocks: BTreeMap<u64, Block>,
    calls: Vec<ToolCall>,
    stop_reason: Option<String>,
    usage: Usage,
    stopped: bool,
    /// `content_block_start` events seen, of any kind.
    started_blocks: usize,
}

/// Reads the event stream to `message_stop` (or end of stream after a `stop_reason`),
/// passing text deltas to `sink` and checking `cancel` after every event.
///
/// A message without text and without tool use (no content block at all, or only empty or
/// unused kinds of blocks) is a [`ProviderError::BadResponse`], so the failover chain moves
/// on instead of completing the turn with an empty answer.
fn read_stream<R: BufRead>(
    provider: &str,
    reader: R,
    deadlines: Deadlines,
    sink: &mut DeltaSink<'_>,
    cancel: &CancellationToken,
) -> Result<ChatResponse, ProviderError> {
    let bad = |detail: String| ProviderError::BadResponse {
        provider: provider.to_string(),
        detail,
    };
    let mut events = SseReader::new(reader);
    let mut got = Gathered::default();
    let mut n = 0usize;
    while let Some(event) = events
        .next_event()
        .map_err(|e| sse::stream_error(provider, e, deadlines))?
    {
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        n += 1;
        let value: Value = serde_json::from_str(&event.data).map_err(|e| {
            bad(format!(
                "event {n} ({}): expected JSON: {e}: {}",
                event.event,
                sse::preview(&event.data)
            ))
        })?;
        let kind = value["type"].as_str().unwrap_or(&event.event).to_string();
        if kind == "error" {
            return Err(stream_error_event(provider, &value["error"]));
        }
        apply_event(&mut got, &kind, &value, sink)
            .map_err(|what| bad(format!("event {n} ({kind}): {what}")))?;
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        if got.stopped {
            break;
        }
    }
    let Some(stop_reason) = got.stop_reason else {
        return Err(bad(format!(
            "stream ended early after {n} events, without stop_reason or message_stop"
        )));
    };
    if got.text.is_empty() && got.calls.is_empty() {
        return Err(bad(if got.started_blocks == 0 {
            format!("stream ended after {n} events without any content block")
        } else {
            format!("stream ended after {n} events without text or tool use")
        }));
    }
    Ok(build_response(got.text, got.calls, &stop_reason, got.usage))
}

/// Folds one event into `got`, passing text to `sink`. The error names what was wrong.
fn apply_event(
    got: &mut Gathered,
    kind: &str,
    event: &Value,
    sink: &mut DeltaSink<'_>,
) -> Result<(), String> {
    let index = || event["index"].as_u64().ok_or("missing \"index\"");
    match kind {
        "message_start" => {
            let usage = &event["message"]["usage"];
            got.usage.prompt_tokens = prompt_tokens(usage);
            got.usage.completion_tokens = count(usage, "output_tokens");
        }
        "content_block_start" => {
            got.started_blocks += 1;
            let block = &event["content_block"];
            let block = match block["type"].as_str() {
                Some("text") => {
                    if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                        got.text.push_str(text);
                        sink(text);
                    }
                    Block::Text
                }
                Some("tool_use") => Block::ToolUse {
                    id: block["id"]
                        .as_str()
                        .ok_or("tool_use block without \"id\"")?
                        .to_string(),
                    name: block["name"]
                        .as_str()
                        .ok_or("tool_use block without \"name\"")?
                        .to_string(),
                    json: String::new(),
                },
                Some(_) => Block::Other,
                None => return Err("missing \"content_block.type\"".into()),
            };
            got.blocks.insert(index()?, block);
        }
        "content_block_delta" => {
            let delta = &event["delta"];
            match (got.blocks.get_mut(&index()?), delta["type"].as_str()) {
                (Some(Block::Text), Some("text_delta")) => {
                    let text = delta["text"]
                        .as_str()
                        .ok_or("text_delta without \"text\"")?;
                    got.text.push_str(text);
                    sink(text);
                }
                (Some(Block::ToolUse { json, .. }), Some("input_json_delta")) => {
                    json.push_str(
                        delta["partial_json"]
                            .as_str()
                            .ok_or("input_json_delta without \"partial_json\"")?,
                    );
                }
                (None, _) => return Err("delta for a block that was never started".into()),
                // Other blocks' deltas, and delta kinds added later (e.g. `citations_delta`).
                (Some(_), kind) => tracing::debug!(?kind, "ignored content_block_delta"),
            }
        }
        "content_block_stop" => {
            if let Some(Block::ToolUse { id, name, json }) = got.blocks.remove(&index()?) {
                let input = if json.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(&json).map_err(|e| {
                        format!(
                            "tool_use {name} ({id}): input is not JSON: {e}: {}",
                            sse::preview(&json)
                        )
                    })?
                };
                got.calls.push(ToolCall {
                    id,
                    name,
                    arguments: input,
                });
            }
        }
        "message_delta" => {
            if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                got.stop_reason = Some(reason.to_string());
            }
            if let Some(n) = event["usage"]["output_tokens"].as_u64() {
                got.usage.completion_tokens = u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
        "message_stop" => {
            got.stopped = true;
            got.stop_reason
                .get_or_insert_with(|| "end_turn".to_string());
        }
        // `ping` and event types added after this was written are ignored, as the
        // versioning policy asks (https://docs.anthropic.com/en/api/versioning).
        _ => {}
    }
    Ok(())
}

/// Total prompt tokens: uncached input plus cache writes and reads.
fn prompt_tokens(usage: &Value) -> u32 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .fold(0u32, |sum, key| sum.saturating_add(count(usage, key)))
}

fn count(usage: &Value, key: &str) -> u32 {
    usage[key]
        .as_u64()
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// An `error` event: `overloaded_error` is a 529 server error, `rate_limit_error` a rate
/// limit, anything else a malformed answer.
fn stream_error_event(provider: &str, error: &Value) -> ProviderError {
    let provider = provider.to_string();
    let message = error["message"].as_str().unwrap_or_default();
    match error["type"].as_str().unwrap_or_default() {
        "overloaded_error" => ProviderError::Server {
            provider,
            status: 529,
            detail: message.chars().take(300).collect(),
        },
        "rate_limit_error" => ProviderError::RateLimited {
            provider,
            retry_after: None,
        },
        kind => ProviderError::BadResponse {
            provider,
            detail: format!("error event {kind}: {}", sse::preview(message)),
        },
    }
}

/// The response; `stop_reason` mapped (`end_turn`, `stop_sequence` and unknown reasons are
/// `Stop`), and tool calls always make it `ToolCalls`.
fn build_response(
    text: String,
    tool_calls: Vec<ToolCall>,
    stop_reason: &str,
    usage: Usage,
) -> ChatResponse {
    let finish_reason = match stop_reason {
        _ if !tool_calls.is_empty() => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        other => {
            tracing::warn!(
                stop_reason = other,
                "unrecognised stop_reason, treated as stop"
            );
            FinishReason::Stop
        }
    };
    let message = ChatMessage {
        tool_calls,
        ..ChatMessage::text(Role::Assistant, text)
    };
    ChatResponse {
        message,
        finish_reason,
        usage,
    }
}

/// Parses a non-streaming Message object (a server that ignored `stream`).
fn parse_message(provider: &str, body: &Value) -> Result<ChatResponse, ProviderError> {
    let bad = |detail: String| ProviderError::BadResponse {
        provider: provider.to_string(),
        detail,
    };
    if body["type"] == "error" {
        return Err(stream_error_event(provider, &body["error"]));
    }
    let blocks = body["content"]
        .as_array()
        .ok_or_else(|| bad("response body: missing \"content\" array".into()))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                name: block["name"].as_str().unwrap_or_default().to_string(),
                arguments: block["input"].clone(),
            }),
            _ => {}
        }
    }
    let usage = Usage {
        prompt_tokens: prompt_tokens(&body["usage"]),
        completion_tokens: count(&body["usage"], "output_tokens"),
    };
    Ok(build_response(
        text,
        calls,
        body["stop_reason"].as_str().unwrap_or("end_turn"),
        usage,
    ))
}

#[cfg(test)]
mod tests;
