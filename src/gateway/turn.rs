//! The `agent` method as OpenClaw's protocol v4 answers it: two responses under the
//! request's id — `{runId, sessionKey, agentId, status: "accepted", acceptedAt}` once the
//! message is committed, then, when the run ends, `{runId, status, summary, result:
//! {payloads: [{text}], meta}}` with `status` `ok` (summary `completed`), `error` (summary:
//! the error) or `timeout` (an aborted or timed-out run). `runId` is the client's
//! `idempotencyKey` when it is a valid run id. `chat.send` shares the accept step.

use super::GatewayState;
use super::methods::{dispatch_err, object, params};
use super::openclaw::qualify;
use super::protocol::{ErrorShape, res_err, res_ok};
use crate::core::{Origin, SessionKey, agent_of, now_ms};
use crate::router::{Accepted, FilterHandle, Follow, Submission, valid_run_id};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// `agent` and `chat.send` params (the fields Hearth reads; OpenClaw's others — `thinking`,
/// `deliver`, `channel`, `timeout`, … — are accepted and ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SendParams {
    message: String,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Commits the message and subscribes the connection to its session (so it receives the
/// run's events from the start).
pub(super) async fn accept(
    st: &GatewayState,
    sessions: &FilterHandle,
    p: SendParams,
) -> Result<(Accepted, Follow), ErrorShape> {
    if let Some(a) = &p.agent_id
        && !st.dispatcher.agent_ids().contains(a)
    {
        return Err(ErrorShape::invalid_with(
            format!("params.agentId: unknown agent {a:?}"),
            json!({"code": "UNKNOWN_AGENT_ID", "agentId": a}),
        ));
    }
    let raw = match (&p.session_key, &p.agent_id) {
        (Some(k), a) => qualify(k, a.as_deref()),
        (None, Some(a)) => format!("agent:{a}:main"),
        (None, None) => crate::core::DEFAULT_SESSION_KEY.to_string(),
    };
    let key = SessionKey::parse(&raw)
        .map_err(|e| ErrorShape::invalid(format!("params.sessionKey: {e}")))?;
    sessions.add(key.as_str());
    let run_id = p.idempotency_key.clone().filter(|k| valid_run_id(k));
    let sub = Submission {
        idempotency_key: p.idempotency_key,
        run_id,
        ..Submission::new(key, Origin::gateway("ws"), p.message)
    };
    st.dispatcher.submit(sub).await.map_err(dispatch_err)
}

/// The acceptance payload of `chat.send` (`status: "started"`) or `agent` (`accepted`).
pub(super) fn accepted_payload(acc: &Accepted, status: &str) -> Value {
    json!({"runId": acc.run_id, "sessionKey": acc.session_key, "agentId": agent_of(&acc.session_key),
        "status": status, "acceptedAt": now_ms(), "deduped": acc.deduped})
}

/// Runs `agent` for request `id`, queueing both responses on `out`.
pub(super) async fn agent(
    st: &GatewayState,
    sessions: &FilterHandle,
    id: &RawValue,
    p: Value,
    out: &mpsc::Sender<String>,
) {
    let accepted = match object(p).and_then(params::<SendParams>) {
        Ok(p) => accept(st, sessions, p).await,
        Err(e) => Err(e),
    };
    let (acc, follow) = match accepted {
        Ok(x) => x,
        Err(e) => {
            let _ = out.send(res_err(id, &e)).await;
            return;
        }
    };
    let started = now_ms();
    if out
        .send(res_ok(id, &accepted_payload(&acc, "accepted")))
        .await
        .is_err()
    {
        return;
    }
    let mut follow = follow;
    while follow.next().await.is_some() {}
    let rec = st
        .dispatcher
        .wait(&acc.run_id, std::time::Duration::ZERO)
        .await
        .ok();
    let (status, summary) = match rec.as_ref().map(|r| r.status.as_str()) {
        Some("completed") => ("ok", "completed".to_string()),
        Some(s @ ("aborted" | "timeout" | "interrupted")) => ("timeout", s.to_string()),
        Some(_) => (
            "error",
            rec.as_ref()
                .and_then(|r| r.error.clone())
                .unwrap_or_else(|| "failed".into()),
        ),
        None => ("error", "the run's record is gone".to_string()),
    };
    let text = rec
        .as_ref()
        .and_then(|r| r.reply.clone())
        .unwrap_or_default();
    let session_id = st
        .dispatcher
        .session(&acc.session_key)
        .ok()
        .flatten()
        .map(|s| s.id.to_string());
    let payloads: Vec<Value> = if text.is_empty() {
        vec![]
    } else {
        vec![json!({"text": text})]
    };
    let payload = json!({
        "runId": acc.run_id, "sessionKey": acc.session_key, "agentId": agent_of(&acc.session_key),
        "status": status, "summary": summary,
        "result": {"payloads": payloads, "meta": {
            "durationMs": now_ms().saturating_sub(started),
            "agentMeta": {"sessionId": session_id, "model": rec.as_ref().and_then(|r| r.model.clone()),
                "usage": rec.as_ref().map(|r| &r.usage)},
        }},
    });
    let _ = out.send(res_ok(id, &payload)).await;
}
