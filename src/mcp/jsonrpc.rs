//! JSON-RPC 2.0 messages as MCP uses them
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic#messages>): the
//! requests and notifications Hearth sends, and what it reads back — responses to its
//! requests (matched by the integer ids it hands out), the server's own requests and
//! notifications. Batches (arrays, allowed by revision 2025-03-26, removed in 2025-06-18)
//! are read too. Pure: no I/O.

use serde_json::{Value, json};

/// JSON-RPC "Method not found" (<https://www.jsonrpc.org/specification#error_object>).
pub const METHOD_NOT_FOUND: i64 = -32601;

/// An error object of a JSON-RPC response.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The error code (`-32601`, …, or a server-defined one).
    pub code: i64,
    /// The server's message.
    pub message: String,
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A response to one of our requests, by our id.
    Response {
        /// The id we gave the request.
        id: u64,
        /// `result`, or the `error` object.
        outcome: Result<Value, RpcError>,
    },
    /// A request of the server (`ping`, `sampling/createMessage`, …) to be answered.
    Request {
        /// Its id, echoed raw in the answer.
        id: Value,
        /// The method.
        method: String,
    },
    /// A notification (`notifications/tools/list_changed`, …).
    Notification {
        /// The method.
        method: String,
        /// Its `params` (`null` when absent).
        params: Value,
    },
}

/// A request of ours with integer `id`.
pub fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A notification (no id, no answer).
pub fn notification(method: &str, params: Option<Value>) -> Value {
    match params {
        Some(p) => json!({"jsonrpc": "2.0", "method": method, "params": p}),
        None => json!({"jsonrpc": "2.0", "method": method}),
    }
}

/// A successful answer to a server request.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error answer to a server request.
pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Whether `msg` (built here) is a request, that is, expects a response.
pub fn is_request(msg: &Value) -> bool {
    msg.get("id").is_some() && msg.get("method").is_some()
}

/// Parses one message, or a batch of them, from `text`.
///
/// # Errors
/// A description when the text is not JSON, or an element is not a JSON-RPC 2.0 message
/// Hearth can route (a response whose id is not one of ours is an error too).
pub fn parse(text: &str) -> Result<Vec<Incoming>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {}", preview(text)))?;
    match value {
        Value::Array(items) => items.into_iter().map(classify).collect(),
        one => Ok(vec![classify(one)?]),
    }
}

fn classify(v: Value) -> Result<Incoming, String> {
    let Value::Object(mut m) = v else {
        return Err(format!(
            "not a JSON-RPC message: {}",
            preview(&v.to_string())
        ));
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("not JSON-RPC 2.0 (\"jsonrpc\" is not \"2.0\")".into());
    }
    let method = m.remove("method");
    let id = m.remove("id");
    match (method, id) {
        (Some(Value::String(method)), Some(id)) if !id.is_null() => {
            Ok(Incoming::Request { id, method })
        }
        (Some(Value::String(method)), _) => Ok(Incoming::Notification {
            method,
            params: m.remove("params").unwrap_or(Value::Null),
        }),
        (Some(other), _) => Err(format!("method is not a string: {other}")),
        (None, Some(id)) => {
            let id = our_id(&id).ok_or_else(|| format!("response to an unknown id {id}"))?;
            let outcome = match (m.remove("result"), m.remove("error")) {
                (_, Some(e)) => Err(RpcError {
                    code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("(no message)")
                        .to_string(),
                }),
                (Some(r), None) => Ok(r),
                (None, None) => return Err(format!("response {id} has neither result nor error")),
            };
            Ok(Incoming::Response { id, outcome })
        }
        (None, None) => Err("message has neither method nor id".into()),
    }
}

/// Our ids are integers; a server may echo them as strings of digits.
fn our_id(id: &Value) -> Option<u64> {
    match id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The first 200 characters of `text`, for error details.
pub fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_requests_and_notifications_are_told_apart() {
        let got = parse(r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}"#).unwrap();
        assert_eq!(
            got,
            [Incoming::Response {
                id: 7,
                outcome: Ok(json!({"tools": []}))
            }]
        );
        let got =
            parse(r#"{"jsonrpc":"2.0","id":"8","error":{"code":-32602,"message":"bad"}}"#).unwrap();
        assert_eq!(
            got,
            [Incoming::Response {
                id: 8,
                outcome: Err(RpcError {
                    code: -32602,
                    message: "bad".into()
                })
            }]
        );
        let got = parse(r#"{"jsonrpc":"2.0","id":"abc","method":"ping"}"#).unwrap();
        assert_eq!(
            got,
            [Incoming::Request {
                id: json!("abc"),
                method: "ping".into()
            }]
        );
        let got =
            parse(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#).unwrap();
        assert_eq!(
            got,
            [Incoming::Notification {
                method: "notifications/tools/list_changed".into(),
                params: Value::Null
            }]
        );
    }

    #[test]
    fn batches_are_split_and_garbage_is_refused() {
        let got = parse(
            r#"[{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}},
                {"jsonrpc":"2.0","id":1,"result":{}}]"#,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert!(parse("not json").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"jsonrpc":"1.0","id":1,"result":{}}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","method":3}"#).is_err());
    }

    #[test]
    fn built_messages_have_the_wire_shape() {
        assert_eq!(
            request(3, "tools/list", json!({})),
            json!({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}})
        );
        assert!(is_request(&request(3, "ping", json!({}))));
        let n = notification("notifications/initialized", None);
        assert!(!is_request(&n));
        assert!(n.get("params").is_none());
        assert_eq!(
            error(&json!("a"), METHOD_NOT_FOUND, "no"),
            json!({"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"no"}})
        );
        assert_eq!(result(&json!(1), json!({}))["result"], json!({}));
    }
}
