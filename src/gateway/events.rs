//! Typed run events as OpenClaw-shaped JSON (<https://docs.openclaw.ai/gateway/protocol>):
//! the `agent` event payload `{runId, sessionKey, agentId, seq, stream, ts, data}` with
//! streams `lifecycle` | `assistant` | `tool` | `failover` | `compaction`, and the `chat`
//! event payload: `delta` (the new text in `deltaText`, the whole text so far in
//! `message`), then `final`, `error` or `aborted`. The only place events become JSON.

use crate::core::{AgentEvent, EventKind, agent_of};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Runs whose text a connection accumulates at once; the oldest is forgotten past this
/// (its final event still carries the whole answer).
const MAX_STREAMS: usize = 64;

/// A connection's view of the runs it follows: the text each has streamed so far, so
/// `chat` deltas carry the whole message as OpenClaw's clients render it.
#[derive(Default)]
pub struct Relay {
    text: HashMap<String, String>,
}

impl Relay {
    /// The `agent` payload and, when the event changes the chat, the `chat` payload.
    pub fn payloads(&mut self, ev: &AgentEvent) -> (Value, Option<Value>) {
        let mut agent = agent_payload(ev);
        let chat = match &ev.kind {
            EventKind::Delta { text } => {
                if !self.text.contains_key(&ev.run_id) && self.text.len() >= MAX_STREAMS {
                    self.text.clear();
                }
                let all = self.text.entry(ev.run_id.clone()).or_default();
                all.push_str(text);
                agent["data"]["text"] = json!(all);
                Some(chat_delta(ev, text, all, false))
            }
            EventKind::Failover(f) if f.void_partial => {
                self.text.remove(&ev.run_id);
                Some(chat_delta(ev, "", "", true))
            }
            k if k.is_final() => {
                self.text.remove(&ev.run_id);
                chat_payload(ev)
            }
            _ => None,
        };
        (agent, chat)
    }
}

/// An assistant message with one text part, as OpenClaw's transcripts hold it.
pub fn assistant_message(text: &str, ts_ms: u64) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": ts_ms})
}

fn chat_delta(ev: &AgentEvent, delta: &str, all: &str, replace: bool) -> Value {
    let mut v = json!({
        "runId": ev.run_id, "sessionKey": ev.session_key, "agentId": agent_of(&ev.session_key),
        "seq": ev.seq, "state": "delta", "deltaText": if replace { all } else { delta },
        "message": assistant_message(all, ev.ts_ms),
    });
    if replace {
        v["replace"] = json!(true);
    }
    v
}

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
        "runId": ev.run_id, "sessionKey": ev.session_key, "agentId": agent_of(&ev.session_key),
        "seq": ev.seq, "stream": stream, "ts": ev.ts_ms, "data": data,
    })
}

/// The `chat` event payload for a run's final state (OpenClaw: `state` = final | error |
/// aborted), or `None` for other events.
pub fn chat_payload(ev: &AgentEvent) -> Option<Value> {
    let (state, message, error) = match &ev.kind {
        EventKind::Finished { text, .. } => {
            ("final", Some(assistant_message(text, ev.ts_ms)), None)
        }
        EventKind::Failed { status, reason } if status == "aborted" => {
            ("aborted", None, Some(reason))
        }
        EventKind::Failed { reason, .. } => ("error", None, Some(reason)),
        _ => return None,
    };
    let mut v = json!({
        "runId": ev.run_id, "sessionKey": ev.session_key, "agentId": agent_of(&ev.session_key),
        "seq": ev.seq, "state": state,
    });
    if let Some(m) = message {
        v["message"] = m;
        v["stopReason"] = json!("stop");
    }
    if let Some(e) = error {
        v["errorMessage"] = json!(e);
    }
    if let EventKind::Finished { usage: u, .. } = &ev.kind {
        v["usage"] = json!(u);
    }
    Some(v)
}
