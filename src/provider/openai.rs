//! The OpenAI-compatible provider: any server speaking `POST {base_url}/chat/completions`
//! (OpenAI, llama.cpp's `llama-server`, vLLM, Ollama, LM Studio, OpenRouter, …).
//!
//! Requests use the Chat Completions format
//! (<https://platform.openai.com/docs/api-reference/chat/create>) with `stream: true`; the
//! answer is read as the documented chunk stream
//! (<https://platform.openai.com/docs/api-reference/chat-streaming>). A server that ignores
//! `stream` and answers one `application/json` completion is accepted too. Imports only
//! `core` and `provider`.

use super::sse::{self, Deadlines, SseReader};
use super::{
    AuthProfile, ChatRequest, ChatResponse, DeltaSink, FinishReason, Provider, ProviderError,
};
use crate::core::{ChatMessage, Role, ToolCall, Usage};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use tokio_util::sync::CancellationToken;

/// A provider for an OpenAI-compatible Chat Completions server.
#[derive(Debug)]
pub struct OpenAiProvider {
    name: String,
    base_url: String,
    extra_headers: Vec<(String, String)>,
    agent: ureq::Agent,
}

impl OpenAiProvider {
    /// A provider called `name` for the server at `base_url`, the prefix before
    /// `/chat/completions` (e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`;
    /// a trailing `/` is ignored). `extra_headers` are sent with every request (e.g.
    /// OpenRouter's `HTTP-Referer`).
    pub fn new(name: String, base_url: String, extra_headers: Vec<(String, String)>) -> Self {
        let base_url = base_url.trim_end_matches('/').to_string();
        Self {
            name,
            base_url,
            extra_headers,
            agent: sse::http_agent(),
        }
    }
}

impl Provider for OpenAiProvider {
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
        let mut headers = self.extra_headers.clone();
        if let Some(key) = &auth.api_key {
            headers.push(("authorization".into(), format!("Bearer {}", key.expose())));
        }
        let url = format!("{}/chat/completions", self.base_url);
        tracing::debug!(provider = %self.name, model = req.model, %url, "chat completion");
        let decoders = sse::Decoders {
            whole: parse_completion,
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

/// The Chat Completions request body for `req`.
fn request_body(req: &ChatRequest<'_>) -> Value {
    let mut body = json!({
        "model": req.model,
        "messages": req.messages.iter().map(message_json).collect::<Vec<_>>(),
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": req.max_tokens,
        "temperature": sse::f32_json(req.temperature),
        "seed": req.seed,
    });
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let function =
                    json!({"name": t.name, "description": t.description, "parameters": t.parameters});
                json!({"type": "function", "function": function})
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// One message in the Chat Completions shape: tool calls carry their arguments as a JSON
/// string; tool results are role `tool` with `tool_call_id`.
fn message_json(m: &ChatMessage) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": m.content})
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    let function = json!({"name": c.name, "arguments": c.arguments.to_string()});
                    json!({"id": c.id, "type": "function", "function": function})
                })
                .collect();
            let content = if m.content.is_empty() {
                Value::Null
            } else {
                Value::String(m.content.clone())
            };
            json!({"role": "assistant", "content": content, "tool_calls": calls})
        }
        Role::Tool => {
            let id = m.tool_call_id.as_deref().unwrap_or_default();
            json!({"role": "tool", "tool_call_id": id, "content": m.content})
        }
    }
}

/// A tool call being assembled from stream deltas.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Everything gathered from the chunks so far.
#[derive(Debug, Default)]
struct Gathered {
    text: String,
    calls: BTreeMap<u64, PartialCall>,
    finish: Option<FinishReason>,
    usage: Usage,
    /// Chunks that carried a choice (the usage-only chunk has none).
    choices: usize,
}

/// Reads the chunk stream to its end (`[DONE]`, or end of stream after a `finish_reason`),
/// passing text deltas to `sink` and checking `cancel` after every event.
///
/// A stream that ends without text and without tool calls (no choice at all, `[DONE]`
/// alone, or only empty deltas) is a [`ProviderError::BadResponse`], so the failover chain
/// moves on instead of completing the turn with an empty answer.
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
    let mut chunk = 0usize;
    let mut done = false;
    while let Some(event) = events
        .next_event()
        .map_err(|e| sse::stream_error(provider, e, deadlines))?
    {
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let data = event.data.trim();
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            done = true;
            break;
        }
        chunk += 1;
        let value: Value = serde_json::from_str(data).map_err(|e| {
            bad(format!(
                "chunk {chunk}: expected JSON: {e}: {}",
                sse::preview(data)
            ))
        })?;
        if event.event == "error" || value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(bad(format!(
                "chunk {chunk}: error in stream: {}",
                sse::preview(&value["error"].to_string())
            )));
        }
        apply_chunk(&mut got, &value, sink)
            .map_err(|what| bad(format!("chunk {chunk}: {what}")))?;
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
    }
    let finish = match got.finish {
        Some(finish) => finish,
        None if done => FinishReason::Stop,
        None => {
            return Err(bad(format!(
                "stream ended early after {chunk} chunks, without finish_reason or [DONE]"
            )));
        }
    };
    if got.text.is_empty() && got.calls.is_empty() {
        return Err(bad(if got.choices == 0 {
            format!("stream ended after {chunk} chunks without any choice")
        } else {
            format!("stream ended after {chunk} chunks without text or tool calls")
        }));
    }
    let mut tool_calls = Vec::with_capacity(got.calls.len());
    for (index, call) in got.calls {
        tool_calls.push(finish_call(index, call.id, call.name, &call.arguments).map_err(bad)?);
    }
    Ok(build_response(got.text, tool_calls, finish, got.usage))
}

/// Folds one chunk into `got`, passing its text to `sink`. The error names what was wrong.
fn apply_chunk(got: &mut Gathered, chunk: &Value, sink: &mut DeltaSink<'_>) -> Result<(), String> {
    if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
        got.usage = usage_of(usage);
    }
    let choices = chunk["choices"]
        .as_array()
        .ok_or("missing \"choices\" array")?;
    let Some(choice) = choices.first() else {
        return Ok(()); // the usage-only chunk after `stream_options.include_usage`
    };
    got.choices += 1;
    let delta = &choice["delta"];
    if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
        got.text.push_str(text);
        sink(text);
    }
    if let Some(calls) = delta["tool_calls"].as_array() {
        for (position, call) in calls.iter().enumerate() {
            let index = call["index"].as_u64().unwrap_or(position as u64);
            let partial = got.calls.entry(index).or_default();
            if let Some(id) = call["id"].as_str() {
                id.clone_into(&mut partial.id);
            }
            let function = &call["function"];
            // The name normally comes once; a server repeating it whole is tolerated.
            if let Some(name) = function["name"].as_str().filter(|n| *n != partial.name) {
                partial.name.push_str(name);
            }
            match &function["arguments"] {
                Value::String(fragment) => partial.arguments.push_str(fragment),
                Value::Null => {}
                // Some servers send the arguments object itself.
                other => partial.arguments.push_str(&other.to_string()),
            }
        }
    }
    if let Some(reason) = choice["finish_reason"].as_str() {
        got.finish = Some(finish_reason(reason));
    }
    Ok(())
}

/// Maps a `finish_reason`; unknown reasons (e.g. `content_filter`) count as `Stop`.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        other => {
            tracing::warn!(
                finish_reason = other,
                "unrecognised finish_reason, treated as stop"
            );
            FinishReason::Stop
        }
    }
}

/// Reads `{prompt_tokens, completion_tokens}`; missing counts are zero.
fn usage_of(usage: &Value) -> Usage {
    let count = |key: &str| {
        usage[key]
            .as_u64()
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Usage {
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
    }
}

/// A finished tool call: `arguments` parsed (empty means `{}`); a missing id gets
/// `call_<index>`.
fn finish_call(index: u64, id: String, name: String, arguments: &str) -> Result<ToolCall, String> {
    let id = if id.is_empty() {
        format!("call_{index}")
    } else {
        id
    };
    if name.is_empty() {
        return Err(format!("tool call {index} ({id}) has no function name"));
    }
    let arguments = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            format!(
                "tool call {index} ({name}, {id}): arguments are not JSON: {e}: {}",
                sse::preview(arguments)
            )
        })?
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

/// The response; tool calls make the finish reason `ToolCalls` whatever the server said
/// (some servers report `stop`).
fn build_response(
    text: String,
    tool_calls: Vec<ToolCall>,
    finish: FinishReason,
    usage: Usage,
) -> ChatResponse {
    let finish_reason = if tool_calls.is_empty() {
        finish
    } else {
        FinishReason::ToolCalls
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

/// Parses a non-streaming `chat.completion` object.
fn parse_completion(provider: &str, body: &Value) -> Result<ChatResponse, ProviderError> {
    let bad = |detail: String| ProviderError::BadResponse {
        provider: provider.to_string(),
        detail,
    };
    if body.get("error").is_some() {
        return Err(bad(format!(
            "response body: error: {}",
            sse::preview(&body["error"].to_string())
        )));
    }
    let choice = body["choices"]
        .get(0)
        .ok_or_else(|| bad("response body: missing choices[0]".into()))?;
    let message = &choice["message"];
    let text = message["content"].as_str().unwrap_or_default().to_string();
    let mut tool_calls = Vec::new();
    for (index, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let function = &call["function"];
        let arguments = match &function["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let id = call["id"].as_str().unwrap_or_default().to_string();
        let name = function["name"].as_str().unwrap_or_default().to_string();
        tool_calls.push(
            finish_call(index as u64, id, name, &arguments)
                .map_err(|e| bad(format!("response body: {e}")))?,
        );
    }
    let finish = choice["finish_reason"]
        .as_str()
        .map_or(FinishReason::Stop, finish_reason);
    Ok(build_response(
        text,
        tool_calls,
        finish,
        usage_of(&body["usage"]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ToolSpec;
    use std::time::Duration;

    fn run(stream: &str) -> (Result<ChatResponse, ProviderError>, String) {
        let mut seen = String::new();
        let result = read_stream(
            "test",
            stream.as_bytes(),
            Deadlines::new(Duration::from_secs(5)),
            &mut |d: &str| seen.push_str(d),
            &CancellationToken::new(),
        );
        (result, seen)
    }

    fn detail(err: ProviderError) -> String {
        match err {
            ProviderError::BadResponse { detail, .. } => detail,
            other => panic!("expected BadResponse, got {other:?}"),
        }
    }

    #[test]
    fn request_body_has_the_chat_completions_shape() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "read".into(),
            arguments: json!({"path": "a"}),
        };
        let messages = [
            ChatMessage::text(Role::System, "sys"),
            ChatMessage::text(Role::User, "hi"),
            ChatMessage {
                tool_calls: vec![call],
                ..ChatMessage::text(Role::Assistant, "")
            },
            ChatMessage::tool_result("call_1", "read", "contents"),
        ];
        let tools = [ToolSpec {
            name: "read".into(),
            description: "Reads.".into(),
            parameters: json!({"type": "object"}),
        }];
        let req = ChatRequest {
            model: "m",
            messages: &messages,
            tools: &tools,
            max_tokens: 100,
            temperature: 0.0,
            seed: 42,
            timeout: Duration::from_secs(1),
        };
        let body = request_body(&req);
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(
            (body["max_tokens"].as_u64(), body["seed"].as_u64()),
            (Some(100), Some(42))
        );
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"a\"}"
        );
        assert_eq!(
            body["messages"][3],
            json!({"role": "tool", "tool_call_id": "call_1", "content": "contents"})
        );
        assert_eq!(body["tools"][0]["function"]["name"], "read");
        assert_eq!(body["tools"][0]["type"], "function");
    }

    #[test]
    fn accepts_a_stream_without_done_after_finish_reason() {
        let (result, seen) = run(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"length\"}]}\n\n",
        );
        let reply = result.unwrap();
        assert_eq!(
            (seen.as_str(), reply.finish_reason),
            ("hi", FinishReason::Length)
        );
    }

    #[test]
    fn a_stream_without_any_content_is_bad_response() {
        let usage_only = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n";
        let (result, _) = run(&format!("{usage_only}data: [DONE]\n\n"));
        assert_eq!(
            detail(result.unwrap_err()),
            "stream ended after 1 chunks without any choice"
        );
        let (result, _) = run("data: [DONE]\n\n");
        assert!(detail(result.unwrap_err()).contains("without any choice"));
        let empty = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#;
        let (result, _) = run(&format!("{empty}\n\ndata: [DONE]\n\n"));
        assert!(detail(result.unwrap_err()).contains("without text or tool calls"));
    }

    #[test]
    fn stream_ended_early_is_bad_response() {
        let (result, _) =
            run("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n");
        assert!(detail(result.unwrap_err()).contains("stream ended early"));
    }

    #[test]
    fn missing_choices_and_non_json_name_the_chunk() {
        let ok = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
        let (result, _) = run(&format!("{ok}{ok}data: {{\"id\":\"x\"}}\n\n"));
        assert_eq!(
            detail(result.unwrap_err()),
            "chunk 3: missing \"choices\" array"
        );
        let (result, _) = run(&format!("{ok}data: nonsense\n\n"));
        assert!(detail(result.unwrap_err()).starts_with("chunk 2: expected JSON"));
    }

    #[test]
    fn malformed_tool_arguments_name_the_call() {
        let chunk = r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"read","arguments":"{\"pa"}}]},"finish_reason":"tool_calls"}]}"#;
        let (result, _) = run(&format!("{chunk}\n\ndata: [DONE]\n\n"));
        let detail = detail(result.unwrap_err());
        assert!(detail.contains("tool call 0 (read, call_9)"), "{detail}");
    }

    #[test]
    fn error_objects_in_the_stream_are_reported() {
        let (result, _) = run("data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert!(detail(result.unwrap_err()).contains("overloaded"));
    }

    #[test]
    fn tool_calls_override_a_stop_finish_reason_and_usage_is_read() {
        let stream = concat!(
            r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"now","arguments":""}}]},"finish_reason":"stop"}]}"#,
            "\n\n",
            r#"data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
            "\n\ndata: [DONE]\n\n"
        );
        let reply = run(stream).0.unwrap();
        assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
        assert_eq!(reply.message.tool_calls[0].id, "call_0");
        assert_eq!(reply.message.tool_calls[0].arguments, json!({}));
        assert_eq!(
            reply.usage,
            Usage {
                prompt_tokens: 12,
                completion_tokens: 3
            }
        );
    }

    #[test]
    fn cancel_between_chunks() {
        let cancel = CancellationToken::new();
        let stream =
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n".repeat(3);
        let mut calls = 0;
        let result = read_stream(
            "test",
            stream.as_bytes(),
            Deadlines::new(Duration::from_secs(5)),
            &mut |_: &str| {
                calls += 1;
                cancel.cancel();
            },
            &cancel,
        );
        assert!(matches!(result, Err(ProviderError::Cancelled)));
        assert_eq!(calls, 1);
    }

    #[test]
    fn parses_a_non_streaming_completion() {
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"x\"}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 7}});
        let reply = parse_completion("test", &body).unwrap();
        assert_eq!(reply.message.tool_calls[0].arguments, json!({"path": "x"}));
        assert_eq!(reply.usage.completion_tokens, 7);
        assert!(
            detail(parse_completion("test", &json!({"object": "x"})).unwrap_err())
                .contains("choices")
        );
    }
}
