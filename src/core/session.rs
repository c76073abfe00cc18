//! Session keys: the one place they are built from parts and canonicalised.
//!
//! Shapes follow OpenClaw (<https://docs.openclaw.ai/concepts/session>): every key starts
//! with `agent:<agentId>:`; the owner's direct chats share `agent:<agentId>:main`; a group
//! or channel of a platform is `agent:<agentId>:<channel>:group:<id>` (or `:channel:<id>`),
//! and a forum topic or thread inside it appends `:topic:<threadId>`. Direct messages of
//! other peers are scoped by dmScope later (`…:dm:<peerId>`); the parts are ready for it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The default session key, used when a client names none.
pub const DEFAULT_SESSION_KEY: &str = "agent:main:main";

/// Longest session key, bytes.
const MAX_KEY_BYTES: usize = 200;

/// A canonical session key in OpenClaw's shape, `agent:<agentId>:<rest>`.
///
/// Only [`SessionKey::parse`] and [`SessionKeyParts::key`] make one, so every key in the
/// store is canonical: `main` and `agent:main:main` name the same session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

/// What kind of conversation a peer is on its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// A one-to-one chat with the agent.
    Direct,
    /// A group chat (Telegram group, Matrix room, Slack private channel…).
    Group,
    /// A broadcast channel or a server channel (Discord, Slack public channel).
    Channel,
}

/// The parts a session key is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeyParts<'a> {
    /// The agent id (`main` by default); lowercased in the key.
    pub agent: &'a str,
    /// The channel (`telegram`, `matrix`, …); ignored for direct chats in the main scope.
    pub channel: &'a str,
    /// Direct chat, group or channel.
    pub kind: PeerKind,
    /// The group or channel id on the platform (unused for direct chats).
    pub chat_id: &'a str,
    /// A forum topic or thread inside the group, if any.
    pub thread: Option<&'a str>,
}

impl SessionKeyParts<'_> {
    /// The canonical key: `agent:<agent>:main` for a direct chat (OpenClaw's default dmScope
    /// `main`), `agent:<agent>:<channel>:group:<chat>[:topic:<thread>]` for a group,
    /// `…:channel:<chat>…` for a channel.
    ///
    /// # Errors
    /// A message naming the part when a part is empty or holds `:`-free rules' violations
    /// (whitespace or control characters), or the key exceeds 200 bytes.
    pub fn key(&self) -> Result<SessionKey, String> {
        let agent = agent_id(self.agent)?;
        let key = match self.kind {
            PeerKind::Direct => format!("agent:{agent}:main"),
            PeerKind::Group | PeerKind::Channel => {
                let kind = if self.kind == PeerKind::Group {
                    "group"
                } else {
                    "channel"
                };
                part("channel", self.channel)?;
                part("chat id", self.chat_id)?;
                let mut k = format!(
                    "agent:{agent}:{}:{kind}:{}",
                    self.channel.to_ascii_lowercase(),
                    self.chat_id
                );
                if let Some(t) = self.thread {
                    part("thread", t)?;
                    k.push_str(":topic:");
                    k.push_str(t);
                }
                k
            }
        };
        SessionKey::checked(key)
    }
}

fn part(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("session key: {what} is empty"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "session key: {what} {s:?} holds whitespace or control characters"
        ));
    }
    Ok(())
}

fn agent_id(a: &str) -> Result<String, String> {
    part("agent id", a)?;
    if a.contains(':') {
        return Err(format!("session key: agent id {a:?} must not contain ':'"));
    }
    Ok(a.to_ascii_lowercase())
}

impl SessionKey {
    /// Validates and canonicalises a key given by a client: `main` (or an empty agent-less
    /// rest such as `work`) becomes `agent:main:main` / `agent:main:work`, as OpenClaw does;
    /// the agent id is lowercased.
    ///
    /// # Errors
    /// A message naming the problem when the key is empty, longer than 200 bytes, holds
    /// whitespace or control characters, or is `agent:<id>` without a rest.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        part("key", s)?;
        let canonical = match s.strip_prefix("agent:") {
            Some(rest) => {
                let Some((agent, tail)) = rest.split_once(':') else {
                    return Err(format!(
                        "session key {s:?} names an agent but no session (want agent:<id>:<rest>)"
                    ));
                };
                if tail.is_empty() {
                    return Err(format!("session key {s:?} ends after the agent id"));
                }
                format!("agent:{}:{tail}", agent_id(agent)?)
            }
            None => format!("agent:main:{s}"),
        };
        Self::checked(canonical)
    }

    fn checked(s: String) -> Result<Self, String> {
        if s.len() > MAX_KEY_BYTES {
            return Err(format!(
                "session key must be at most {MAX_KEY_BYTES} bytes, got {}",
                s.len()
            ));
        }
        Ok(Self(s))
    }

    /// The default key `agent:main:main`.
    pub fn main() -> Self {
        Self(DEFAULT_SESSION_KEY.to_string())
    }

    /// The agent id of the key (`main` in `agent:main:main`).
    pub fn agent(&self) -> &str {
        self.0
            .strip_prefix("agent:")
            .and_then(|r| r.split(':').next())
            .unwrap_or("main")
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_are_canonicalised() {
        let k = |s| SessionKey::parse(s).map(|k| k.to_string());
        assert_eq!(k("main").as_deref(), Ok("agent:main:main"));
        assert_eq!(k("agent:main:main").as_deref(), Ok("agent:main:main"));
        assert_eq!(k(" agent:Work:main ").as_deref(), Ok("agent:work:main"));
        assert_eq!(k("notes").as_deref(), Ok("agent:main:notes"));
        assert!(k("agent:main").is_err());
        assert!(k("agent:main:").is_err());
        assert!(k("a b").is_err());
        assert!(k("").is_err());
        assert!(k(&"x".repeat(300)).is_err());
        assert_eq!(
            SessionKey::parse("agent:ops:x").map(|k| k.agent().to_string()),
            Ok("ops".into())
        );
    }

    #[test]
    fn keys_are_built_from_parts() {
        let p = |kind, thread| SessionKeyParts {
            agent: "Main",
            channel: "Telegram",
            kind,
            chat_id: "-100123",
            thread,
        };
        assert_eq!(
            p(PeerKind::Direct, None).key().map(|k| k.to_string()),
            Ok("agent:main:main".into())
        );
        assert_eq!(
            p(PeerKind::Group, Some("7")).key().map(|k| k.to_string()),
            Ok("agent:main:telegram:group:-100123:topic:7".into())
        );
        assert_eq!(
            p(PeerKind::Channel, None).key().map(|k| k.to_string()),
            Ok("agent:main:telegram:channel:-100123".into())
        );
        let mut bad = p(PeerKind::Group, None);
        bad.chat_id = "";
        assert!(bad.key().is_err());
        // A key built from parts parses back to itself.
        let k = p(PeerKind::Group, Some("7")).key().expect("key");
        assert_eq!(SessionKey::parse(k.as_str()), Ok(k));
    }
}
