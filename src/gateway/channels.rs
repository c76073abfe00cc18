//! WebSocket methods for channel operations: `channels.status`, `message.send`, and
//! `pairing.list`, `pairing.approve`, `pairing.reject` (OpenClaw's pairing flow,
//! <https://docs.openclaw.ai/channels/pairing>).

use super::GatewayState;
use super::methods::{dispatch_err, params};
use super::protocol::ErrorShape;
use crate::router::PairingRequest;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideParams {
    channel: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendParams {
    channel: String,
    to: String,
    text: String,
}

/// `channels.status`: each channel account's health, backlog and dead letters.
///
/// # Errors
/// An [`ErrorShape`] when the store fails.
pub fn status(st: &GatewayState) -> Result<Value, ErrorShape> {
    let list = st.dispatcher.channels_status().map_err(dispatch_err)?;
    Ok(json!({"channels": list}))
}

/// `message.send`: queues a message to a platform conversation through the outbox.
///
/// # Errors
/// An [`ErrorShape`]: an unknown channel, empty text, the store.
pub async fn send(st: &GatewayState, p: Value) -> Result<Value, ErrorShape> {
    let x: SendParams = params(p)?;
    st.dispatcher
        .message_send(&x.channel, &x.to, &x.text)
        .await
        .map_err(dispatch_err)?;
    Ok(json!({"ok": true, "queued": true}))
}

fn request_json(r: &PairingRequest) -> Value {
    json!({
        "channel": r.origin.channel,
        "account": r.origin.account,
        "peer": r.origin.peer,
        "name": r.origin.sender_name,
        "code": r.code,
        "createdMs": r.created_ms,
        "expiresMs": r.expires_ms,
    })
}

/// Runs a `pairing.*` method.
///
/// # Errors
/// An [`ErrorShape`]: bad params, an unknown code (`INVALID_REQUEST`), the store.
pub async fn pairing(st: &GatewayState, method: &str, p: Value) -> Result<Value, ErrorShape> {
    let d = &st.dispatcher;
    match method {
        "pairing.list" => {
            let l: ListParams = params(p)?;
            let reqs = d.pairing_list(l.channel.as_deref()).map_err(dispatch_err)?;
            Ok(json!({"requests": reqs.iter().map(request_json).collect::<Vec<_>>()}))
        }
        _ => {
            let x: DecideParams = params(p)?;
            let approve = method == "pairing.approve";
            let r = d
                .pairing_decide(&x.channel, &x.code, approve)
                .await
                .map_err(dispatch_err)?;
            Ok(json!({"ok": true, "approved": approve, "request": request_json(&r)}))
        }
    }
}
