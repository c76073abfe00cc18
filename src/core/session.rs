//! Session keys: the one place they are built from parts and canonicalised.
//!
//! Shapes follow OpenClaw (<https://docs.openclaw.ai/concepts/session>): every key starts
//! with `agent:<agentId>:`; the owner's direct chats share `agent:<agentId>:main`; a group
//! or channel of a platform is `agent:<agentId>:<channel>:group:<id>` (or `:channel:<id>`),
//! and a forum topic inside it appends `:topic:<threadId>` (Telegram) or a thread
//! `:thread:<threadId>` (every other platform). Direct chats follow the dmScope
//! ([`DmScope`]): `main`, or `…:dm:<peerId>` scoped by peer, channel and account.

use super::DmScope;
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
    /// The channel account (used by the `per-account-channel-peer` scope).
    pub account: &'a str,
    /// The sender's id, or the canonical identity it is linked to (direct chats).
    pub peer: &'a str,
    /// How direct chats map to sessions.
    pub dm_scope: DmScope,
    /// Direct chat, group or channel.
    pub kind: PeerKind,
    /// The group or channel id on the platform (unused for direct chats).
    pub chat_id: &'a str,
    /// A forum topic or thread inside the group, if any.
    pub thread: Option<&'a str>,
}

impl SessionKeyParts<'_> {
    /// The canonical key. A direct chat: `agent:<agent>:main` (dmScope `main`),
    /// `agent:<agent>:dm:<peer>` (`per-peer`), `agent:<agent>:<channel>:dm:<peer>`
    /// (`per-channel-peer`), `agent:<agent>:<channel>:<account>:dm:<peer>`
    /// (`per-account-channel-peer`). A group: `agent:<agent>:<channel>:group:<chat>`, a
    /// channel `…:channel:<chat>`, then `:topic:<thread>` on Telegram or
    /// `:thread:<thread>` elsewhere.
    ///
    /// # Errors
    /// A message naming the part when a part is empty or holds `:`-free rules' violations
    /// (whitespace or control characters), or the key exceeds 200 bytes.
    pub fn key(&self) -> Result<SessionKey, String> {
        let agent = agent_id(self.agent)?;
        let key = match self.kind {
            PeerKind::Direct => {
                let ch = self.channel.to_ascii_lowercase();
                if self.dm_scope != DmScope::Main {
                    part("peer", self.peer)?;
                }
                match self.dm_scope {
                    DmScope::Main => format!("agent:{agent}:main"),
                    DmScope::PerPeer => format!("agent:{agent}:dm:{}", self.peer),
                    DmScope::PerChannelPeer => {
                        part("channel", self.channel)?;
                        format!("agent:{agent}:{ch}:dm:{}", self.peer)
                    }
                    DmScope::PerAccountChannelPeer => {
                        part("channel", self.channel)?;
                        part("account", self.account)?;
                        format!("agent:{agent}:{ch}:{}:dm:{}", self.account, self.peer)
                    }
                }
            }
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
                    k.push_str(if self.channel.eq_ignore_ascii_case("telegram") {
                        ":topic:"
                    } else {
                        ":thread:"
                    });
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

/// The agent id of session key text (`ops` in `agent:ops:main`); `main` for a key without
/// the `agent:` prefix.
pub fn agent_of(key: &str) -> &str {
    key.strip_prefix("agent:")
        .and_then(|r| r.split(':').next())
        .unwrap_or("main")
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
        agent_of(&self.0)
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
            account: "default",
            peer: "42",
            dm_scope: DmScope::Main,
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
        let scoped = |dm_scope| {
            let mut x = p(PeerKind::Direct, None);
            x.dm_scope = dm_scope;
            x.key().map(|k| k.to_string())
        };
        assert_eq!(scoped(DmScope::PerPeer), Ok("agent:main:dm:42".into()));
        assert_eq!(
            scoped(DmScope::PerChannelPeer),
            Ok("agent:main:telegram:dm:42".into())
        );
        assert_eq!(
            scoped(DmScope::PerAccountChannelPeer),
            Ok("agent:main:telegram:default:dm:42".into())
        );
        let mut slack = p(PeerKind::Channel, Some("1700.1"));
        slack.channel = "slack";
        assert_eq!(
            slack.key().map(|k| k.to_string()),
            Ok("agent:main:slack:channel:-100123:thread:1700.1".into())
        );
        let mut nobody = p(PeerKind::Direct, None);
        (nobody.peer, nobody.dm_scope) = ("", DmScope::PerPeer);
        assert!(nobody.key().is_err());
        let mut bad = p(PeerKind::Group, None);
        bad.chat_id = "";
        assert!(bad.key().is_err());
        // A key built from parts parses back to itself.
        let k = p(PeerKind::Group, Some("7")).key().expect("key");
        assert_eq!(SessionKey::parse(k.as_str()), Ok(k));
    }
}
