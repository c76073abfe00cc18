//! `message` (send text to a chat on a channel) and the session tools `sessions_list`,
//! `sessions_history` and `sessions_send`, in OpenClaw's shapes
//! (<https://docs.openclaw.ai/concepts/session-tool>, `message-tool.ts`). They reach the
//! dispatcher through [`Conversations`], which the router implements.
//!
//! `message` may send only to the run's own conversation, to an owner (a channel
//! account's `allow_from`), or to a target named in `[tools] message_targets`: an agent
//! that a group chat can talk to must not be able to write to anyone else.

use super::fs::{pos_arg, str_arg};
use super::{Tool, ToolCtx, ToolError};
use crate::core::ToolSpec;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A session as `sessions_list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// Its key.
    pub key: String,
    /// Last activity, ms since the epoch.
    pub updated_ms: u64,
    /// Transcript entries.
    pub messages: u64,
}

/// What `sessions_send` saw.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The turn answered.
    Reply(String),
    /// The turn did not end in time; it goes on.
    Pending(String),
    /// The turn failed.
    Failed(String),
}

/// The dispatcher as the conversation tools need it. Blocking: tools run on blocking
/// threads.
pub trait Conversations: Send + Sync {
    /// Queues `text` for `to` on `channel` (account `default`) through the outbox.
    ///
    /// # Errors
    /// An unknown channel, empty text, or a store failure, as a message.
    fn send(&self, channel: &str, to: &str, text: &str) -> Result<(), String>;

    /// Whether `to` on `channel` is an owner (named in an account's `allow_from`) or a
    /// target the operator allowed for `message`.
    fn may_message(&self, channel: &str, to: &str) -> bool;

    /// Sessions of agent `agent`, most recently active first, at most `limit`.
    ///
    /// # Errors
    /// A store failure, as a message.
    fn sessions(&self, agent: &str, limit: usize) -> Result<Vec<SessionInfo>, String>;

    /// The last `limit` messages of session `key` as (role, text).
    ///
    /// # Errors
    /// An unknown session or a store failure, as a message.
    fn history(&self, key: &str, limit: usize) -> Result<Vec<(String, String)>, String>;

    /// Runs `text` as a turn on session `key` and waits up to `wait` for its answer.
    ///
    /// # Errors
    /// A refused submission, as a message.
    fn send_to_session(&self, key: &str, text: &str, wait: Duration)
    -> Result<SendOutcome, String>;
}

/// `message`.
pub struct MessageTool(pub Arc<dyn Conversations>);
/// `sessions_list`.
pub struct SessionsListTool(pub Arc<dyn Conversations>);
/// `sessions_history`.
pub struct SessionsHistoryTool(pub Arc<dyn Conversations>);
/// `sessions_send`.
pub struct SessionsSendTool(pub Arc<dyn Conversations>);

fn spec(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    }
}

impl Tool for MessageTool {
    fn spec(&self) -> ToolSpec {
        spec(
            "message",
            "Send a message to a chat on a channel (the current conversation, the owner, or an \
             allowed target). If this delivers your whole reply, answer with NO_REPLY.",
            json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["send"]},
                    "channel": {"type": "string", "description": "telegram, matrix, discord, slack, mqtt… (default: the current one)."},
                    "target": {"type": "string", "description": "Chat, room or user id on that channel (default: the current conversation)."},
                    "message": {"type": "string", "description": "The text."}
                },
                "required": ["message"],
                "additionalProperties": false
            }),
        )
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        if let Some(a) = args.get("action").and_then(Value::as_str)
            && a != "send"
        {
            return Err(ToolError::InvalidArgs(format!(
                "action {a:?}: only \"send\""
            )));
        }
        let text = str_arg(args, "message")?;
        let o = &ctx.caller.origin;
        let channel = args
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or(&o.channel);
        let here = o.chat.clone().unwrap_or_else(|| o.peer.clone());
        let target = args.get("target").and_then(Value::as_str).unwrap_or(&here);
        if target.is_empty() {
            return Err(ToolError::InvalidArgs(
                "`target` is required outside a chat conversation".into(),
            ));
        }
        let own = channel == o.channel && target == here;
        if !own && !self.0.may_message(channel, target) {
            ctx.note_decision(format!(
                "refused: {channel}:{target} is not an allowed target"
            ));
            return Err(ToolError::Denied(format!(
                "{target} on {channel} is neither this conversation, an owner, nor in [tools] message_targets"
            )));
        }
        self.0
            .send(channel, target, text)
            .map_err(ToolError::External)?;
        Ok(format!("queued for {target} on {channel}"))
    }
}

impl Tool for SessionsListTool {
    fn spec(&self) -> ToolSpec {
        spec(
            "sessions_list",
            "List this agent's sessions, most recent first: key, last activity, size.",
            json!({
                "type": "object",
                "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 200}},
                "additionalProperties": false
            }),
        )
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let limit = pos_arg(args, "limit")?.unwrap_or(20).min(200);
        let list = self
            .0
            .sessions(&ctx.caller.agent, limit)
            .map_err(ToolError::External)?;
        if list.is_empty() {
            return Ok("No sessions.".into());
        }
        Ok(list
            .iter()
            .map(|s| {
                format!(
                    "{} — {} messages — last active {}",
                    s.key,
                    s.messages,
                    crate::core::rfc3339_utc(s.updated_ms)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// Characters of one message `sessions_history` shows.
const HISTORY_CHARS: usize = 4000;

impl Tool for SessionsHistoryTool {
    fn spec(&self) -> ToolSpec {
        spec(
            "sessions_history",
            "Read the last messages of one of this agent's sessions.",
            json!({
                "type": "object",
                "properties": {
                    "sessionKey": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100}
                },
                "required": ["sessionKey"],
                "additionalProperties": false
            }),
        )
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let key = own_session(ctx, str_arg(args, "sessionKey")?)?;
        let limit = pos_arg(args, "limit")?.unwrap_or(20).min(100);
        let msgs = self.0.history(&key, limit).map_err(ToolError::External)?;
        if msgs.is_empty() {
            return Ok(format!("{key} has no messages."));
        }
        Ok(msgs
            .iter()
            .map(|(role, text)| {
                let t: String = text.chars().take(HISTORY_CHARS).collect();
                format!("[{role}] {t}")
            })
            .collect::<Vec<_>>()
            .join("\n\n"))
    }
}

/// `key` if it is one of the caller's agent's sessions (`agent:<agent>:…`).
fn own_session(ctx: &ToolCtx, key: &str) -> Result<String, ToolError> {
    let agent = if ctx.caller.agent.is_empty() {
        "main"
    } else {
        &ctx.caller.agent
    };
    let key = if key == "main" {
        format!("agent:{agent}:main")
    } else {
        key.to_string()
    };
    if !key.starts_with(&format!("agent:{agent}:")) {
        return Err(ToolError::Denied(format!(
            "{key} is not a session of agent {agent}"
        )));
    }
    Ok(key)
}

impl Tool for SessionsSendTool {
    fn spec(&self) -> ToolSpec {
        spec(
            "sessions_send",
            "Send a message into another of this agent's sessions; waits for its reply \
             (timeoutSeconds, default 30; 0 = do not wait).",
            json!({
                "type": "object",
                "properties": {
                    "sessionKey": {"type": "string"},
                    "message": {"type": "string"},
                    "timeoutSeconds": {"type": "integer", "minimum": 0, "maximum": 300}
                },
                "required": ["sessionKey", "message"],
                "additionalProperties": false
            }),
        )
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let key = own_session(ctx, str_arg(args, "sessionKey")?)?;
        if key == ctx.caller.session_key {
            return Err(ToolError::InvalidArgs(
                "that is this session; answer directly instead".into(),
            ));
        }
        let text = str_arg(args, "message")?;
        let secs = args
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30)
            .min(300);
        let wait = Duration::from_secs(secs).min(ctx.remaining());
        match self
            .0
            .send_to_session(&key, text, wait)
            .map_err(ToolError::External)?
        {
            SendOutcome::Reply(r) => Ok(format!("{key} replied:\n{r}")),
            SendOutcome::Pending(run) => Ok(format!("accepted as {run}; no reply yet")),
            SendOutcome::Failed(e) => Err(ToolError::External(format!("{key}: {e}"))),
        }
    }
}
