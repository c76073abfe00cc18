//! A scripted fake of an OpenAI-compatible server for integration tests.
//!
//! Plain std threads and a `TcpListener` on `127.0.0.1:0`, so it works from ordinary
//! `#[test]` functions without a runtime. It speaks enough HTTP/1.1 for real clients
//! (keep-alive, `Content-Length` or chunked request bodies, `Expect: 100-continue`) and
//! answers:
//! - `POST …/chat/completions` with the next [`Reply`] of its script (the last one repeats
//!   once the script runs out), streamed in the wire format of
//!   <https://platform.openai.com/docs/api-reference/chat-streaming> when the request says
//!   `"stream": true`, else as one `chat.completion` object
//!   (<https://platform.openai.com/docs/api-reference/chat/object>);
//! - `GET …/models` with a one-model list.
//!
//! Every chat-completions request is recorded for [`FakeOpenAi::requests`].
#![allow(dead_code)]

use super::http1::{Request, read_request};
use serde_json::{Value, json};
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The model id `GET /v1/models` lists.
pub const FAKE_MODEL: &str = "fake-model";

/// One scripted answer to a chat-completions request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An HTTP error: status, body (sent as `application/json`), and `Retry-After` in
    /// seconds when `Some`.
    Status(u16, String, Option<u64>),
    /// Assistant text, streamed as several content chunks (word by word) ending with
    /// `finish_reason: "stop"`, a usage chunk when `stream_options.include_usage` was set,
    /// and `data: [DONE]`; or one `chat.completion` when the request did not stream.
    Text(String),
    /// Like [`Reply::Text`] but always one `chat.completion` JSON object, as a server that
    /// ignores `stream` answers.
    TextNoStream(String),
    /// Tool calls `(name, arguments JSON text)`, streamed with each call's arguments split
    /// across several chunks, ending with `finish_reason: "tool_calls"`.
    ToolCalls(Vec<(String, String)>),
    /// A 200 answer whose data lines are not JSON.
    Garbage,
    /// A 200 answer without any choice: streamed, only the usage chunk (`"choices": []`,
    /// when usage was requested) and `data: [DONE]`; otherwise a `chat.completion` whose
    /// `choices` is empty.
    NoChoices,
    /// Reads the request and never answers (until the fake is dropped).
    Hang,
    /// Streams the text's pieces, then drops the connection without a finish chunk or
    /// `[DONE]` (a provider dying mid-answer); a non-streamed request gets the drop alone.
    Cut(String),
    /// `echo: <the last user message>`, streamed with the given pause (ms) before each
    /// piece, so a test can act while the answer is being generated.
    Echo(u64),
}

/// A running fake server; dropping it stops accepting and releases hanging connections.
pub struct FakeOpenAi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    script: Vec<Reply>,
    served: AtomicU64,
    requests: Mutex<Vec<Value>>,
    stop: AtomicBool,
}

impl FakeOpenAi {
    /// Starts the server on `127.0.0.1:0` with `script` (an empty script answers 500).
    pub fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            script,
            served: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    // A client hanging up mid-answer is normal (timeouts, cancels).
                    let _ = serve_connection(stream, &conn_shared);
                });
            }
        });
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>/v1`, the base URL an OpenAI client is configured with.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every chat-completions request so far, oldest first, each as
    /// `{"method", "path", "authorization": <header value or null>, "headers": {<lowercased
    /// name>: <value>}, "body": <JSON body, or the raw text if it was not JSON>}`.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the acceptor sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while let Some(request) = read_request(&mut reader, &mut out)? {
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        route(&request, &mut out, shared)?;
        out.flush()?;
        if close || shared.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    Ok(())
}

fn route(request: &Request, out: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", p) if p.ends_with("/models") => {
            let list = json!({"object": "list", "data": [
                {"id": FAKE_MODEL, "object": "model", "created": now(), "owned_by": "hearth-tests"}]});
            write_json(out, 200, &list.to_string(), None)
        }
        ("POST", p) if p.ends_with("/chat/completions") => chat(request, out, shared),
        _ => write_json(
            out,
            404,
            &error_body("not found", "invalid_request_error"),
            None,
        ),
    }
}

fn chat(request: &Request, out: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    let parsed: Result<Value, _> = serde_json::from_slice(&request.body);
    let body = parsed
        .as_ref()
        .cloned()
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into()));
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(json!({
            "method": request.method, "path": request.path,
            "authorization": request.header("authorization"), "headers": headers, "body": body,
        }));
    let Ok(body) = parsed else {
        return write_json(
            out,
            400,
            &error_body("request body is not JSON", "invalid_request_error"),
            None,
        );
    };
    let n = shared.served.fetch_add(1, Ordering::SeqCst);
    let Some(reply) = usize::try_from(n)
        .ok()
        .and_then(|n| shared.script.get(n).or(shared.script.last()))
    else {
        return write_json(
            out,
            500,
            &error_body("the fake's script is empty", "server_error"),
            None,
        );
    };
    let ctx = Ctx {
        id: format!("chatcmpl-fake{n}"),
        model: body["model"].as_str().unwrap_or(FAKE_MODEL).to_string(),
        created: now(),
        stream: body["stream"].as_bool().unwrap_or(false),
        include_usage: body["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
        prompt_tokens: body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                m["content"]
                    .as_str()
                    .map_or(0, |c| c.split_whitespace().count() as u64)
            })
            .sum(),
    };
    match reply {
        Reply::Status(status, text, retry) => write_json(out, *status, text, *retry),
        Reply::Text(text) if ctx.stream => stream_text(out, &ctx, text),
        Reply::Text(text) | Reply::TextNoStream(text) => {
            let message = json!({"role": "assistant", "content": text, "refusal": null});
            write_json(
                out,
                200,
                &ctx.completion(message, "stop", pieces(text).len())
                    .to_string(),
                None,
            )
        }
        Reply::ToolCalls(calls) if ctx.stream => stream_tool_calls(out, &ctx, calls),
        Reply::ToolCalls(calls) => {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    let function = json!({"name": name, "arguments": args});
                    json!({"id": call_id(&ctx, i), "type": "function", "function": function})
                })
                .collect();
            let message =
                json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null});
            write_json(
                out,
                200,
                &ctx.completion(message, "tool_calls", 10).to_string(),
                None,
            )
        }
        Reply::Garbage if ctx.stream => {
            start_stream(out)?;
            write_chunk(out, b"data: this is not json\n\n")?;
            write_chunk(out, b"data: {\"choices\": [\n\n")?;
            write_chunk(out, b"data: [DONE]\n\n")?;
            write_chunk(out, b"")
        }
        Reply::Garbage => write_json(out, 200, "this is not json", None),
        Reply::NoChoices if ctx.stream => {
            start_stream(out)?;
            ctx.finish_stream(out, 0)
        }
        Reply::NoChoices => {
            let mut completion = ctx.completion(Value::Null, "stop", 0);
            completion["choices"] = json!([]);
            write_json(out, 200, &completion.to_string(), None)
        }
        Reply::Cut(text) => {
            if ctx.stream {
                start_stream(out)?;
                for piece in &pieces(text) {
                    write_event(out, &ctx.chunk(json!({"content": piece}), None))?;
                }
            }
            out.shutdown(std::net::Shutdown::Both)?;
            Err(io::ErrorKind::ConnectionAborted.into())
        }
        Reply::Echo(pause_ms) => {
            let last = body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .rev()
                .find(|m| m["role"] == "user")
                .and_then(|m| m["content"].as_str())
                .unwrap_or_default();
            let text = format!("echo: {last}");
            let pause = Duration::from_millis(*pause_ms);
            if !ctx.stream {
                std::thread::sleep(pause);
                let message = json!({"role": "assistant", "content": text, "refusal": null});
                let c = ctx.completion(message, "stop", pieces(&text).len());
                return write_json(out, 200, &c.to_string(), None);
            }
            start_stream(out)?;
            let pieces = pieces(&text);
            for piece in &pieces {
                std::thread::sleep(pause);
                write_event(out, &ctx.chunk(json!({"content": piece}), None))?;
            }
            write_event(out, &ctx.chunk(json!({}), Some("stop")))?;
            ctx.finish_stream(out, pieces.len())
        }
        Reply::Hang => {
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
    }
}

/// What a reply needs to know about its request.
struct Ctx {
    id: String,
    model: String,
    created: u64,
    stream: bool,
    include_usage: bool,
    prompt_tokens: u64,
}

impl Ctx {
    /// A `chat.completion.chunk` with one choice; `"usage": null` when usage was requested,
    /// as OpenAI sends on every chunk but the last.
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn usage(&self, completion_tokens: usize) -> Value {
        let completion = completion_tokens as u64;
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        })
    }

    fn completion(&self, message: Value, finish_reason: &str, completion_tokens: usize) -> Value {
        json!({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
            "usage": self.usage(completion_tokens),
        })
    }

    /// The final chunks: the usage chunk (empty `choices`) if requested, then `[DONE]`.
    fn finish_stream(&self, out: &mut TcpStream, completion_tokens: usize) -> io::Result<()> {
        if self.include_usage {
            let usage = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": "fp_fake", "choices": [], "usage": self.usage(completion_tokens),
            });
            write_event(out, &usage)?;
        }
        write_chunk(out, b"data: [DONE]\n\n")?;
        write_chunk(out, b"")
    }
}

fn stream_text(out: &mut TcpStream, ctx: &Ctx, text: &str) -> io::Result<()> {
    start_stream(out)?;
    write_event(
        out,
        &ctx.chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ),
    )?;
    let pieces = pieces(text);
    for piece in &pieces {
        write_event(out, &ctx.chunk(json!({"content": piece}), None))?;
    }
    write_event(out, &ctx.chunk(json!({}), Some("stop")))?;
    ctx.finish_stream(out, pieces.len())
}

fn stream_tool_calls(out: &mut TcpStream, ctx: &Ctx, calls: &[(String, String)]) -> io::Result<()> {
    start_stream(out)?;
    let mut chunks = 0;
    for (i, (name, args)) in calls.iter().enumerate() {
        let function = json!({"name": name, "arguments": ""});
        let head =
            json!({"index": i, "id": call_id(ctx, i), "type": "function", "function": function});
        let delta = if i == 0 {
            json!({"role": "assistant", "content": null, "tool_calls": [head], "refusal": null})
        } else {
            json!({"tool_calls": [head]})
        };
        write_event(out, &ctx.chunk(delta, None))?;
        for fragment in thirds(args) {
            write_event(
                out,
                &ctx.chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}),
                    None,
                ),
            )?;
            chunks += 1;
        }
    }
    write_event(out, &ctx.chunk(json!({}), Some("tool_calls")))?;
    ctx.finish_stream(out, chunks)
}

fn call_id(ctx: &Ctx, i: usize) -> String {
    format!("call_{}_{i}", ctx.id.trim_start_matches("chatcmpl-"))
}

/// The text split into word-sized pieces (each keeps its trailing whitespace); a single
/// word is split in two so that every text spans several chunks.
fn pieces(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split_inclusive(char::is_whitespace)
        .map(str::to_string)
        .collect();
    if words.len() > 1 {
        return words;
    }
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(text.len(), |(i, _)| i);
    [&text[..mid], &text[mid..]]
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The text in up to three non-empty fragments, cut at char boundaries.
fn thirds(text: &str) -> Vec<&str> {
    let n = text.chars().count();
    let cut = |k: usize| {
        text.char_indices()
            .nth(n * k / 3)
            .map_or(text.len(), |(i, _)| i)
    };
    let (a, b) = (cut(1), cut(2));
    [&text[..a], &text[a..b], &text[b..]]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
}

fn error_body(message: &str, kind: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_json(
    out: &mut TcpStream,
    status: u16,
    body: &str,
    retry_after: Option<u64>,
) -> io::Result<()> {
    let retry = retry_after
        .map(|s| format!("Retry-After: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}\r\n",
        reason(status),
        body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())
}

fn start_stream(out: &mut TcpStream) -> io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
}

/// One `data: {json}\n\n` event as one HTTP chunk.
fn write_event(out: &mut TcpStream, value: &Value) -> io::Result<()> {
    write_chunk(out, format!("data: {value}\n\n").as_bytes())
}

/// One HTTP/1.1 chunk, flushed; an empty `data` is the terminating chunk.
fn write_chunk(out: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    out.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
    out.write_all(data)?;
    out.write_all(b"\r\n")?;
    out.flush()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
