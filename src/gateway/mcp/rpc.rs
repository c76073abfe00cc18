//! The JSON-RPC side of Hearth's MCP server
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic/lifecycle>,
//! `server/tools`): `initialize` with version negotiation, `ping`, `tools/list` and
//! `tools/call` for `memory_search`, `memory_get` and `ask_agent`. Transports (`mod.rs`)
//! hand it one parsed message and send back what it returns.

use super::super::GatewayState;
use crate::core::{Origin, SessionKey, ToolSpec};
use crate::memory::tools::{MemoryGetTool, MemorySearchTool};
use crate::router::{RunStatus, Submission};
use crate::tool::{Tool, ToolCtx};
use serde_json::{Value, json};
use std::time::Duration;

/// Protocol revisions served, newest first; a client asking for another gets the newest.
pub const VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// JSON-RPC error codes (<https://www.jsonrpc.org/specification#error_object>).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn result(id: &Value, r: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": r})
}

/// The answer to a body that is not JSON.
pub fn parse_error(e: &serde_json::Error) -> Value {
    error(&Value::Null, PARSE_ERROR, format!("parse error: {e}"))
}

/// Whether `msg` is a request (has a method and an id) rather than a notification or a
/// response.
pub fn is_request(msg: &Value) -> bool {
    msg.get("method").is_some() && msg.get("id").is_some_and(|i| !i.is_null())
}

/// Handles one message; `None` for notifications and responses (nothing to answer).
pub async fn handle(st: &GatewayState, msg: &Value) -> Option<Value> {
    let Some(method) = msg.get("method").and_then(Value::as_str) else {
        // A response to a request Hearth never sends, or garbage with an id.
        return msg
            .get("id")
            .filter(|_| msg.get("result").is_none() && msg.get("error").is_none())
            .map(|id| error(id, INVALID_REQUEST, "not a JSON-RPC request"));
    };
    let id = msg.get("id")?.clone();
    let params = msg.get("params").cloned().unwrap_or(json!({}));
    Some(match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked
                .filter(|v| VERSIONS.contains(v))
                .unwrap_or(VERSIONS[0]);
            result(
                &id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": "hearth", "title": "Hearth", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "Hearth is the user's personal agent gateway. memory_search and memory_get read its long-term memory; ask_agent asks its agent, which has its own tools and memory.",
                }),
            )
        }
        "ping" => result(&id, json!({})),
        "tools/list" => result(&id, json!({"tools": tools(st)})),
        "tools/call" => call(st, &id, &params).await,
        m => error(&id, METHOD_NOT_FOUND, format!("method {m:?} not found")),
    })
}

/// The tools on offer: the memory tools when memory is on, and `ask_agent`.
fn tools(st: &GatewayState) -> Vec<Value> {
    let mut specs: Vec<ToolSpec> = Vec::new();
    if let Some(m) = &st.memory {
        specs.push(MemorySearchTool::new(m.clone()).spec());
        specs.push(MemoryGetTool::new(m.clone()).spec());
    }
    specs.push(ask_spec());
    specs
        .into_iter()
        .map(|s| json!({"name": s.name, "description": s.description, "inputSchema": s.parameters}))
        .collect()
}

fn ask_spec() -> ToolSpec {
    ToolSpec {
        name: "ask_agent".into(),
        description: "Ask Hearth's agent (it has its own tools and long-term memory) and get its answer. Give a session name to continue a conversation.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "What to ask or tell the agent."},
                "session": {"type": "string", "description": "Conversation name (default \"default\"); the same name continues the same conversation."}
            },
            "required": ["message"]
        }),
    }
}

fn text_result(id: &Value, text: String, is_error: bool) -> Value {
    result(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
    )
}

async fn call(st: &GatewayState, id: &Value, params: &Value) -> Value {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return error(id, INVALID_PARAMS, "tools/call needs a tool name");
    };
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    let memory_tool: Option<Box<dyn Tool>> = match (name, &st.memory) {
        ("memory_search", Some(m)) => Some(Box::new(MemorySearchTool::new(m.clone()))),
        ("memory_get", Some(m)) => Some(Box::new(MemoryGetTool::new(m.clone()))),
        ("ask_agent", _) => None,
        _ => return error(id, INVALID_PARAMS, format!("unknown tool {name:?}")),
    };
    if let Some(tool) = memory_tool {
        let mut ctx = ToolCtx::detached(Duration::from_secs(30));
        ctx.caller.origin = Origin::gateway("mcp");
        let out = tokio::task::spawn_blocking(move || tool.call(&ctx, &args)).await;
        return match out {
            Ok(Ok(text)) => text_result(id, text, false),
            Ok(Err(e)) => text_result(id, e.to_string(), true),
            Err(e) => text_result(id, format!("the tool crashed: {e}"), true),
        };
    }
    ask(st, id, &args).await
}

/// `ask_agent`: a turn on `agent:<agent>:mcp:<session>`, waited for up to the configured
/// time; a turn still running then is reported with its run id (it goes on, and its
/// answer lands in the session).
async fn ask(st: &GatewayState, id: &Value, args: &Value) -> Value {
    let Some(opts) = &st.mcp else {
        return error(id, INVALID_REQUEST, "the MCP server is off");
    };
    let Some(message) = args.get("message").and_then(Value::as_str) else {
        return error(id, INVALID_PARAMS, "ask_agent needs a \"message\" string");
    };
    let session = args
        .get("session")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let key = match SessionKey::parse(&format!("agent:{}:mcp:{session}", opts.agent)) {
        Ok(k) => k,
        Err(e) => return error(id, INVALID_PARAMS, format!("session: {e}")),
    };
    let sub = Submission::new(key, Origin::gateway("http"), message.to_string());
    let acc = match st.dispatcher.submit(sub).await {
        Ok((acc, _)) => acc,
        Err(e) => return text_result(id, format!("not accepted: {e}"), true),
    };
    match st.dispatcher.wait(&acc.run_id, opts.ask_timeout).await {
        Ok(r) if r.status == RunStatus::Completed => {
            text_result(id, r.reply.unwrap_or_default(), false)
        }
        Ok(r) if !r.status.is_final() => text_result(
            id,
            format!(
                "the agent is still working after {} s (run {}); its answer will be in session {session:?}",
                opts.ask_timeout.as_secs(),
                acc.run_id
            ),
            true,
        ),
        Ok(r) => text_result(
            id,
            format!(
                "the agent's run ended as {}: {}",
                r.status.as_str(),
                r.error.unwrap_or_default()
            ),
            true,
        ),
        Err(e) => text_result(id, e.to_string(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_from_notifications_and_responses() {
        assert!(is_request(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        ));
        assert!(!is_request(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        ));
        assert!(!is_request(
            &json!({"jsonrpc": "2.0", "id": 1, "result": {}})
        ));
        assert_eq!(
            parse_error(&serde_json::from_str::<Value>("{").unwrap_err())["error"]["code"],
            PARSE_ERROR
        );
    }
}
