//! Typed run events as OpenClaw-shaped JSON (<https://docs.openclaw.ai/gateway/protocol>):
//! the `agent` event payload `{runId, sessionKey, seq, stream, ts, data}` with streams
//! `lifecycle` | `assistant` | `tool` | `failover` | `compaction`, and the `chat` event
//! payload for a run's final state. The only place events become JSON.

use crate::core::{AgentEvent, EventKind};
use serde_json::{Value, json};

/// The `agent` event payload of `ev`.
pub fn agent_payload(ev: &AgentEvent) -> Value {
    let (stream, data) = match &ev.kind {
        EventKind::Started { run_ids } => {
            ("lifecycle", json!({"phase": "start", "runIds": run_ids}))
        }
        EventKind::Steered { run_ids } => {
            ("lifecycle", json!({"phase": "steered", "runIds": run_ids}))
        }
        EventKind::Delta { text } => ("assistant", json!({"delta": text})),
        EventKind::ToolStarted {
            call_id,
            name,
            args,
        } => (
            "tool",
            json!({"phase": "start", "name": name, "toolCallId": call_id, "args": args}),
        ),
        EventKind::ToolUpdate { call_id, text } => (
            "tool",
            json!({"phase": "update", "toolCallId": call_id, "partialResult": text}),
        ),
        EventKind::ToolFinished(t) => (
            "tool",
            json!({"phase": "end", "name": t.name, "toolCallId": t.call_id, "isError": t.is_error, "result": t.result}),
        ),
        EventKind::Failover(f) => (
            "failover",
            json!({
                "model": f.model, "profile": f.profile, "reason": f.reason, "message": f.message,
                "cooldownUntilMs": f.cooldown_until_ms, "voidPartial": f.void_partial,
            }),
        ),
        EventKind::Compaction { done, summarized } => (
            "compaction",
            json!({"phase": if *done { "end" } else { "start" }, "compacted": *summarized > 0, "summarized": summarized}),
        ),
        EventKind::Finished {
            text,
            model,
            usage,
            tool_calls,
        } => (
            "lifecycle",
            json!({"phase": "end", "status": "completed", "text": text, "model": model, "usage": usage, "toolCalls": tool_calls, "endedAt": ev.ts_ms}),
        ),
        EventKind::Failed { status, reason } => (
            "lifecycle",
            json!({"phase": "error", "status": status, "error": reason, "endedAt": ev.ts_ms}),
        ),
    };
    json!({
        "runId": ev.run_id, "sessionKey": ev.session_key, "seq": ev.seq,
        "stream": stream, "ts": ev.ts_ms, "data": data,
    })
}

/// The `chat` event payload for a run's final state (OpenClaw: `state` = final | error |
/// aborted), or `None` for other events.
pub fn chat_payload(ev: &AgentEvent) -> Option<Value> {
    let (state, message, error) = match &ev.kind {
        EventKind::Finished { text, .. } => (
            "final",
            Some(json!({"role": "assistant", "content": text})),
            None,
        ),
        EventKind::Failed { status, reason } if status == "aborted" => {
            ("aborted", None, Some(reason))
        }
        EventKind::Failed { reason, .. } => ("error", None, Some(reason)),
        _ => return None,
    };
    Some(json!({
        "runId": ev.run_id, "sessionKey": ev.session_key, "state": state,
        "message": message, "errorMessage": error,
    }))
}
