//! Approvals and the audit ledger over WebSocket, in OpenClaw's method names
//! (<https://docs.openclaw.ai/gateway/protocol>): `exec.approval.list` (pending requests),
//! `exec.approval.resolve` `{id, decision}`, `exec.approvals.get` / `exec.approvals.set`
//! `{file}` (the allow-list document), `audit.list` `{sinceMs?, tool?, agentId?, limit?}`,
//! and the `exec.approval.requested` / `exec.approval.resolved` events.

use super::GatewayState;
use super::methods::params;
use super::protocol::ErrorShape;
use crate::core::{ApprovalsDoc, Decision};
use crate::router::{ApprovalBroker, ApprovalEvent, AuditQuery};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveParams {
    id: String,
    decision: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetParams {
    file: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    since_ms: u64,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn broker(st: &GatewayState) -> Result<&ApprovalBroker, ErrorShape> {
    st.dispatcher
        .approvals()
        .ok_or_else(|| ErrorShape::unavailable("approvals are not handled by this gateway"))
}

/// The event name and payload WebSocket clients get for `ev`.
pub fn event_payload(ev: &ApprovalEvent) -> (&'static str, Value) {
    match ev {
        ApprovalEvent::Requested(r) => (
            "exec.approval.requested",
            json!({
                "id": r.id,
                "request": r,
                "createdAtMs": r.created_at_ms,
                "expiresAtMs": r.expires_at_ms,
            }),
        ),
        ApprovalEvent::Resolved {
            id,
            decision,
            by,
            ts_ms,
        } => (
            "exec.approval.resolved",
            json!({"id": id, "decision": decision, "resolvedBy": by, "ts": ts_ms}),
        ),
    }
}

/// Handles the approvals and audit methods; `None` for other methods.
pub async fn dispatch(
    st: &GatewayState,
    method: &str,
    p: Value,
) -> Option<Result<Value, ErrorShape>> {
    Some(match method {
        "exec.approval.list" => broker(st).map(|b| json!({"pending": b.pending()})),
        "exec.approval.resolve" => resolve(st, p),
        "exec.approvals.get" => broker(st).and_then(|b| {
            b.document()
                .map(|doc| json!({"file": doc}))
                .map_err(|e| ErrorShape::internal(format!("store: {e}")))
        }),
        "exec.approvals.set" => set(st, p).await,
        "audit.list" => audit(st, p),
        _ => return None,
    })
}

fn resolve(st: &GatewayState, p: Value) -> Result<Value, ErrorShape> {
    let r: ResolveParams = params(p)?;
    let decision = Decision::parse(&r.decision).ok_or_else(|| {
        ErrorShape::invalid(format!(
            "params.decision: {:?} is not allow-once, allow-always or deny",
            r.decision
        ))
    })?;
    broker(st)?
        .resolve(&r.id, decision, "ws")
        .map_err(|e| ErrorShape::not_found(e.to_string()))?;
    Ok(json!({"ok": true, "id": r.id, "decision": decision}))
}

async fn set(st: &GatewayState, p: Value) -> Result<Value, ErrorShape> {
    let s: SetParams = params(p)?;
    let doc = ApprovalsDoc::from_json(&s.file.to_string())
        .map_err(|e| ErrorShape::invalid(format!("params.file: {e}")))?;
    let agents = doc.agents.len();
    broker(st)?
        .set_document(doc)
        .await
        .map_err(|e| ErrorShape::internal(format!("store: {e}")))?;
    Ok(json!({"ok": true, "agents": agents}))
}

fn audit(st: &GatewayState, p: Value) -> Result<Value, ErrorShape> {
    let a: AuditParams = params(p)?;
    let q = AuditQuery {
        since_ms: a.since_ms,
        tool: a.tool,
        agent: a.agent_id,
        limit: a.limit.unwrap_or(100).clamp(1, 1000),
    };
    let entries = st
        .dispatcher
        .audit(&q)
        .map_err(|e| ErrorShape::internal(format!("store: {e}")))?;
    Ok(json!({"entries": entries}))
}
