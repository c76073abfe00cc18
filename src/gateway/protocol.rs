//! WebSocket frame shapes (OpenClaw's gateway protocol v4,
//! <https://docs.openclaw.ai/gateway/protocol>): requests `{type:"req",id,method,params}`,
//! responses `{type:"res",id,ok,payload|error}`, events `{type:"event",event,payload,seq}`
//! (`seq` counts the events of one connection from 1), errors
//! `{code,message,details?,retryable?,retryAfterMs?}` with OpenClaw's codes
//! (`INVALID_REQUEST`, `FORBIDDEN`, `UNAVAILABLE`, …) and, where it has one, its
//! `details.code` (`PROTOCOL_MISMATCH`, `MISSING_SCOPE`, …).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The protocol version this gateway speaks (OpenClaw's 4); `connect` must admit it in
/// `minProtocol..=maxProtocol`.
pub const PROTOCOL_VERSION: u32 = 4;

/// A client request frame.
#[derive(Debug, Deserialize)]
pub struct Request {
    /// Must be `"req"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Client-chosen id, echoed in the response byte for byte (kept raw, so a large
    /// integer is not rounded through a float).
    pub id: Box<RawValue>,
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
    /// Structured facts for clients (`{code: "MISSING_SCOPE", …}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// When to retry, ms from now.
    #[serde(rename = "retryAfterMs", skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    /// `INVALID_REQUEST`: the frame or its params are wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "INVALID_REQUEST",
            message: message.into(),
            retryable: false,
            details: None,
            retry_after_ms: None,
        }
    }
    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: "NOT_FOUND",
            message: message.into(),
            retryable: false,
            details: None,
            retry_after_ms: None,
        }
    }
    /// `UNAVAILABLE`: try again later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: "UNAVAILABLE",
            message: message.into(),
            retryable: true,
            details: None,
            retry_after_ms: None,
        }
    }
    /// `INVALID_REQUEST` with `details`.
    pub fn invalid_with(message: impl Into<String>, details: Value) -> Self {
        Self {
            details: Some(details),
            ..Self::invalid(message)
        }
    }
    /// `INVALID_REQUEST` `unknown method: <name>`, as OpenClaw answers.
    pub fn unknown_method(method: &str) -> Self {
        Self::invalid(format!("unknown method: {method}"))
    }
    /// `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "INTERNAL",
            message: message.into(),
            retryable: true,
            details: None,
            retry_after_ms: None,
        }
    }
}

/// Just the id of a frame that is not a valid request, to answer it.
#[derive(Deserialize)]
pub struct FrameId {
    /// The id, if the frame has one.
    #[serde(default)]
    pub id: Option<Box<RawValue>>,
}

#[derive(Serialize)]
struct Res<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a RawValue,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorShape>,
}

fn res(id: &RawValue, payload: Option<&Value>, error: Option<&ErrorShape>) -> String {
    let r = Res {
        kind: "res",
        id,
        ok: error.is_none(),
        payload,
        error,
    };
    serde_json::to_string(&r).unwrap_or_else(|e| {
        // Values built from serde_json never fail to serialize; say so if one does.
        format!(r#"{{"type":"res","id":null,"ok":false,"error":{{"code":"INTERNAL","message":"cannot encode the response: {e}"}}}}"#)
    })
}

/// A successful response frame, serialized.
pub fn res_ok(id: &RawValue, payload: &Value) -> String {
    res(id, Some(payload), None)
}

/// A failed response frame, serialized (`id` is `null` when the frame had none).
pub fn res_err(id: &RawValue, error: &ErrorShape) -> String {
    res(id, None, Some(error))
}

/// An event frame.
pub fn event(name: &str, payload: Value, seq: u64) -> Value {
    serde_json::json!({"type": "event", "event": name, "payload": payload, "seq": seq})
}

/// Methods served after `connect` (`hello-ok.features.methods`).
pub const METHODS: &[&str] = &[
    "health",
    "status",
    "agent",
    "agent.wait",
    "chat.send",
    "chat.history",
    "chat.abort",
    "sessions.list",
    "sessions.describe",
    "sessions.reset",
    "sessions.subscribe",
    "sessions.unsubscribe",
    "sessions.messages.subscribe",
    "sessions.messages.unsubscribe",
    "agents.list",
    "commands.list",
    "models.list",
    "system-presence",
    "config.get",
    "config.apply",
    "config.patch",
    "logs.tail",
    "update.status",
    "question.list",
    "plugin.approval.list",
    "channels.status",
    "message.send",
    "pairing.list",
    "pairing.approve",
    "pairing.reject",
    "memory.search",
    "memory.status",
    "memory.reindex",
    "exec.approval.list",
    "exec.approval.resolve",
    "exec.approvals.get",
    "exec.approvals.set",
    "audit.list",
    "cron.list",
    "cron.status",
    "cron.add",
    "cron.update",
    "cron.remove",
    "cron.run",
    "wake",
    "connect",
];

/// Events a client may receive (`hello-ok.features.events`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "agent",
    "chat",
    "tick",
    "shutdown",
    "exec.approval.requested",
    "exec.approval.resolved",
];
