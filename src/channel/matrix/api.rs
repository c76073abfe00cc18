//! The slice of the Matrix client-server API Hearth uses
//! (<https://spec.matrix.org/v1.11/client-server-api/>): `/sync` and the shapes of its
//! answer, joining, sending events, typing, and room membership counts, over the blocking
//! ureq client with the access token as a bearer.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// A client-server API failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The homeserver answered with an error object (`errcode`, `error`).
    #[error("Matrix {what}: HTTP {status} {errcode}: {message}")]
    Api {
        /// What was being done.
        what: String,
        /// The HTTP status.
        status: u16,
        /// `errcode` (`M_FORBIDDEN`, `M_LIMIT_EXCEEDED`, `M_UNKNOWN_TOKEN`…).
        errcode: String,
        /// `error`.
        message: String,
        /// `retry_after_ms` of a rate limit.
        retry_after_ms: Option<u64>,
    },
    /// No usable answer (connection, timeout, not JSON).
    #[error("Matrix {what}: {message}")]
    Transport {
        /// What was being done.
        what: String,
        /// What failed.
        message: String,
    },
}

/// The parts of a `/sync` answer Hearth reads.
#[derive(Debug, Default, Deserialize)]
pub struct Sync {
    /// The `since` of the next sync.
    pub next_batch: String,
    /// Rooms by membership.
    #[serde(default)]
    pub rooms: Rooms,
}

/// `rooms` of a sync.
#[derive(Debug, Default, Deserialize)]
pub struct Rooms {
    /// Joined rooms' new events.
    #[serde(default)]
    pub join: HashMap<String, JoinedRoom>,
    /// Rooms the bot is invited to.
    #[serde(default)]
    pub invite: HashMap<String, InvitedRoom>,
}

/// A joined room's part of a sync.
#[derive(Debug, Default, Deserialize)]
pub struct JoinedRoom {
    /// New timeline events.
    #[serde(default)]
    pub timeline: Timeline,
}

/// A room timeline slice.
#[derive(Debug, Default, Deserialize)]
pub struct Timeline {
    /// The events, oldest first.
    #[serde(default)]
    pub events: Vec<Value>,
}

/// An invited room's part of a sync.
#[derive(Debug, Default, Deserialize)]
pub struct InvitedRoom {
    /// Stripped state, including the invite itself.
    #[serde(default)]
    pub invite_state: Timeline,
}

/// A client for one account.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
    /// The bot's own user id.
    pub user_id: String,
}

/// Percent-encodes a path segment (room ids hold `!` and `:`, event types `.`).
pub fn seg(s: &str) -> String {
    let mut o = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

impl Api {
    /// A client of `homeserver` (`https://matrix.example.org`) for `user_id` with `token`.
    pub fn new(homeserver: &str, user_id: &str, token: &str) -> Self {
        let agent = crate::channel::send::http_agent(crate::channel::send::USER_AGENT, None);
        Self {
            agent,
            base: homeserver.trim_end_matches('/').to_string(),
            token: token.to_string(),
            user_id: user_id.to_string(),
        }
    }

    /// Calls `method` on `path` (under `/_matrix/client/v3`) with an optional JSON body.
    ///
    /// # Errors
    /// [`ApiError::Api`] for an error answer, [`ApiError::Transport`] otherwise.
    pub fn call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let transport = |message: String| ApiError::Transport {
            what: what.to_string(),
            message,
        };
        let url = format!("{}/_matrix/client/v3{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let resp = match method {
            "GET" => self
                .agent
                .get(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header("authorization", &auth)
                .call(),
            m => {
                let b = body.map(Value::to_string).unwrap_or_else(|| "{}".into());
                let r = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                r.config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .send(b)
            }
        }
        .map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| transport(format!("HTTP {status}: {e}")))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            let head: String = text.chars().take(200).collect();
            transport(format!("HTTP {status}: not JSON ({e}): {head:?}"))
        })?;
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Err(ApiError::Api {
            what: what.to_string(),
            status,
            errcode: s("errcode"),
            message: s("error"),
            retry_after_ms: v.get("retry_after_ms").and_then(Value::as_u64),
        })
    }

    /// `GET /sync` from `since` (none: the first sync), waiting up to `timeout_ms` for
    /// events; `filter` is a filter JSON (URL-encoded here).
    ///
    /// # Errors
    /// [`ApiError`]; a body that is not a sync answer is a transport error.
    pub fn sync(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
        filter: &str,
    ) -> Result<Sync, ApiError> {
        let mut path = format!("/sync?timeout={timeout_ms}&filter={}", seg(filter));
        if let Some(s) = since {
            path.push_str(&format!("&since={}", seg(s)));
        }
        let total = Duration::from_millis(timeout_ms) + Duration::from_secs(20);
        let v = self.call("sync", "GET", &path, None, total)?;
        serde_json::from_value(v).map_err(|e| ApiError::Transport {
            what: "sync".into(),
            message: format!("unexpected answer: {e}"),
        })
    }

    /// How many members `room` has joined (to tell a direct chat from a group).
    ///
    /// # Errors
    /// [`ApiError`].
    pub fn joined_members(&self, room: &str) -> Result<usize, ApiError> {
        let v = self.call(
            "joined_members",
            "GET",
            &format!("/rooms/{}/joined_members", seg(room)),
            None,
            Duration::from_secs(30),
        )?;
        Ok(v.get("joined")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len()))
    }
}
