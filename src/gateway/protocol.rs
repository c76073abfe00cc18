//! WebSocket frame shapes (OpenClaw's gateway protocol): requests
//! `{type:"req",id,method,params}`, responses `{type:"res",id,ok,payload|error}`, events
//! `{type:"event",event,payload,seq}`, errors `{code,message,retryable?}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version this gateway speaks; `connect` must admit it in
/// `minProtocol..=maxProtocol`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A client request frame.
#[derive(Debug, Deserialize)]
pub struct Request {
    /// Must be `"req"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Client-chosen id echoed in the response.
    pub id: Value,
    /// Method name.
    pub method: String,
    /// Method parameters (an object; absent means `{}`).
    #[serde(default)]
    pub params: Value,
}

/// An error inside a response.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorShape {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message saying what and where.
    pub message: String,
    /// Whether retrying the same request may succeed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

impl ErrorShape {
    /// `INVALID_REQUEST`: the frame or its params are wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "INVALID_REQUEST",
            message: message.into(),
            retryable: false,
        }
    }
    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: "NOT_FOUND",
            message: message.into(),
            retryable: false,
        }
    }
    /// `UNAVAILABLE`: try again later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: "UNAVAILABLE",
            message: message.into(),
            retryable: true,
        }
    }
    /// `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "INTERNAL",
            message: message.into(),
            retryable: true,
        }
    }
}

/// A successful response frame.
pub fn res_ok(id: &Value, payload: Value) -> Value {
    serde_json::json!({"type": "res", "id": id, "ok": true, "payload": payload})
}

/// A failed response frame.
pub fn res_err(id: &Value, error: &ErrorShape) -> Value {
    serde_json::json!({"type": "res", "id": id, "ok": false, "error": error})
}

/// An event frame.
pub fn event(name: &str, payload: Value, seq: u64) -> Value {
    serde_json::json!({"type": "event", "event": name, "payload": payload, "seq": seq})
}

/// Methods served after `connect`.
pub const METHODS: [&str; 14] = [
    "health",
    "status",
    "agent",
    "agent.wait",
    "chat.send",
    "chat.history",
    "chat.abort",
    "sessions.list",
    "sessions.reset",
    "models.list",
    "memory.search",
    "memory.status",
    "memory.reindex",
    "connect",
];

/// Events a client may receive.
pub const EVENTS: [&str; 4] = ["agent", "chat", "tick", "shutdown"];
