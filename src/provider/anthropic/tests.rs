//! Tests of the Anthropic provider: request shape, the documented event sequence replayed
//! by a one-shot std `TcpListener` server, error events and statuses, early end and cancel.

use super::*;
use crate::core::ToolSpec;
use crate::provider::Secret;
use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Serves one HTTP exchange on 127.0.0.1 with the given status, content type, extra
/// header lines and body; the handle yields the request head (lowercased) and body.
fn serve_once(
    status: u16,
    content_type: &str,
    extra: &str,
    body: String,
) -> (String, std::thread::JoinHandle<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let head_out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n{extra}connection: close\r\n\r\n"
    );
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut request = vec![0; len];
        reader.read_exact(&mut request).unwrap();
        let mut stream = stream;
        stream.write_all(head_out.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        (head, serde_json::from_slice(&request).unwrap())
    });
    (base, handle)
}

fn sse(events: &[(&str, Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// Text then a tool_use whose input arrives in three `input_json_delta` fragments, as
/// in the streaming documentation's tool-use example.
fn documented_stream() -> String {
    sse(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-x", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "look."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_01", "name": "read", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"pa"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "th\": \"notes.md\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 42}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

fn conversation() -> Vec<ChatMessage> {
    let call = |id: &str| ToolCall {
        id: id.into(),
        name: "read".into(),
        arguments: json!({"path": id}),
    };
    vec![
        ChatMessage::text(Role::System, "be brief"),
        ChatMessage::text(Role::User, "read a and b"),
        ChatMessage {
            tool_calls: vec![call("t1"), call("t2")],
            ..ChatMessage::text(Role::Assistant, "ok")
        },
        ChatMessage::tool_result("t1", "read", "A"),
        ChatMessage::tool_result("t2", "read", "B"),
        ChatMessage::text(Role::System, "second system"),
    ]
}

fn call(
    provider: &AnthropicProvider,
    messages: &[ChatMessage],
) -> (Result<ChatResponse, ProviderError>, String) {
    let tools = [ToolSpec {
        name: "read".into(),
        description: "Reads a file.".into(),
        parameters: json!({"type": "object"}),
    }];
    let req = ChatRequest {
        model: "claude-x",
        messages,
        tools: &tools,
        max_tokens: 64,
        temperature: 0.0,
        seed: 1,
        timeout: Duration::from_secs(5),
    };
    let auth = AuthProfile {
        id: "anthropic:default".into(),
        api_key: Some(Secret::new("sk-ant-test")),
    };
    let mut seen = String::new();
    let result = provider.chat(
        &req,
        &auth,
        &mut |d: &str| seen.push_str(d),
        &CancellationToken::new(),
    );
    (result, seen)
}

fn run(stream: &str, cancel: &CancellationToken) -> Result<ChatResponse, ProviderError> {
    read_stream(
        "test",
        stream.as_bytes(),
        Deadlines::new(Duration::from_secs(5)),
        &mut |_: &str| {},
        cancel,
    )
}

#[test]
fn request_body_uses_system_tool_use_and_merged_tool_results() {
    let messages = conversation();
    let req = ChatRequest {
        model: "m",
        messages: &messages,
        tools: &[],
        max_tokens: 9,
        temperature: 0.5,
        seed: 0,
        timeout: Duration::from_secs(1),
    };
    let body = request_body(&req);
    assert_eq!(body["system"], "be brief\n\nsecond system");
    assert!(body.get("tools").is_none() && body.get("seed").is_none());
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[1]["content"][0], json!({"type": "text", "text": "ok"}));
    assert_eq!(
        msgs[1]["content"][2],
        json!({"type": "tool_use", "id": "t2", "name": "read", "input": {"path": "t2"}})
    );
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(
        msgs[2]["content"][1],
        json!({"type": "tool_result", "tool_use_id": "t2", "content": "B"})
    );
}

#[test]
fn streams_text_and_tool_use_over_http() {
    let (base, server) = serve_once(200, "text/event-stream", "", documented_stream());
    let provider = AnthropicProvider::new("anthropic".into(), format!("{base}/"));
    let (result, seen) = call(&provider, &conversation());
    let reply = result.unwrap();
    assert_eq!(seen, "Let me look.");
    assert_eq!(reply.message.content, "Let me look.");
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        reply.message.tool_calls,
        vec![ToolCall {
            id: "toolu_01".into(),
            name: "read".into(),
            arguments: json!({"path": "notes.md"})
        }]
    );
    assert_eq!(
        reply.usage,
        Usage {
            prompt_tokens: 30,
            completion_tokens: 42
        }
    );
    let (head, body) = server.join().unwrap();
    assert!(head.starts_with("post /v1/messages http/1.1"), "{head}");
    assert!(
        head.contains("x-api-key: sk-ant-test") && head.contains("anthropic-version: 2023-06-01"),
        "{head}"
    );
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
    assert_eq!(body["stream"], true);
}

#[test]
fn accepts_a_non_streaming_message() {
    let message = json!({"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi."}],
        "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 4}});
    let (base, _server) = serve_once(200, "application/json", "", message.to_string());
    let (result, seen) = call(
        &AnthropicProvider::new("anthropic".into(), base),
        &conversation(),
    );
    let reply = result.unwrap();
    assert_eq!(
        (seen.as_str(), reply.finish_reason),
        ("Hi.", FinishReason::Length)
    );
}

#[test]
fn http_errors_map_to_provider_errors() {
    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            .to_string();
    let (base, _server) = serve_once(529, "application/json", "", overloaded);
    let err = call(
        &AnthropicProvider::new("anthropic".into(), base),
        &conversation(),
    )
    .0
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::Server { status: 529, .. }),
        "{err:?}"
    );
    let (base, _server) = serve_once(429, "application/json", "retry-after: 30\r\n", "{}".into());
    let err = call(
        &AnthropicProvider::new("anthropic".into(), base),
        &conversation(),
    )
    .0
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(30)),
        "{err:?}"
    );
}

#[test]
fn error_events_in_the_stream() {
    let cancel = CancellationToken::new();
    let event = |kind: &str| {
        sse(&[(
            "error",
            json!({"type": "error", "error": {"type": kind, "message": "m"}}),
        )])
    };
    assert!(matches!(
        run(&event("overloaded_error"), &cancel),
        Err(ProviderError::Server { status: 529, .. })
    ));
    assert!(matches!(
        run(&event("rate_limit_error"), &cancel),
        Err(ProviderError::RateLimited { .. })
    ));
    assert!(matches!(
        run(&event("api_error"), &cancel),
        Err(ProviderError::BadResponse { .. })
    ));
}

#[test]
fn early_end_garbage_and_cancel() {
    let cancel = CancellationToken::new();
    let stream = documented_stream();
    let cut = &stream[..stream.find("event: message_delta").unwrap()];
    let err = run(cut, &cancel).unwrap_err();
    assert!(err.to_string().contains("stream ended early"), "{err}");
    let err = run("event: message_start\ndata: {oops\n\n", &cancel).unwrap_err();
    assert!(
        err.to_string()
            .contains("event 1 (message_start): expected JSON"),
        "{err}"
    );
    let bad_json = stream.replace("th\\\": \\\"notes.md\\\"}", "th");
    let err = run(&bad_json, &cancel).unwrap_err();
    assert!(
        err.to_string()
            .contains("tool_use read (toolu_01): input is not JSON"),
        "{err}"
    );
    cancel.cancel();
    assert!(matches!(
        run(&stream, &cancel),
        Err(ProviderError::Cancelled)
    ));
}

#[test]
fn a_message_without_content_is_bad_response() {
    let cancel = CancellationToken::new();
    let start = (
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_2", "type": "message", "role": "assistant",
        "content": [], "model": "claude-x", "stop_reason": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
    );
    let end = [
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    // No content block at all.
    let err = run(
        &sse(&[start.clone(), end[0].clone(), end[1].clone()]),
        &cancel,
    )
    .unwrap_err();
    assert!(
        matches!(&err, ProviderError::BadResponse { detail, .. }
            if detail == "stream ended after 3 events without any content block"),
        "{err:?}"
    );
    // message_start and message_stop alone.
    let err = run(&sse(&[start.clone(), end[1].clone()]), &cancel).unwrap_err();
    assert!(
        err.to_string().contains("without any content block"),
        "{err}"
    );
    // An empty text block.
    let empty_text = [
        start,
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        end[0].clone(),
        end[1].clone(),
    ];
    let err = run(&sse(&empty_text), &cancel).unwrap_err();
    assert!(
        err.to_string().contains("without text or tool use"),
        "{err}"
    );
}

#[test]
fn tool_use_without_text_is_a_valid_answer() {
    let stream = documented_stream();
    // Drop the text block (index 0): only the tool_use block remains.
    let a = stream.find("event: content_block_start").unwrap();
    let first_stop = stream.find("event: content_block_stop").unwrap();
    let b = first_stop + stream[first_stop..].find("\n\n").unwrap() + 2;
    let tool_only = format!("{}{}", &stream[..a], &stream[b..]);
    let reply = run(&tool_only, &CancellationToken::new()).unwrap();
    assert_eq!(reply.message.content, "");
    assert_eq!(reply.message.tool_calls.len(), 1);
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
}
