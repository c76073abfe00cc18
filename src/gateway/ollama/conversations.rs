//! Which Hearth session an Ollama `/api/chat` request continues. Ollama's API carries no
//! conversation id: Home Assistant sends the whole history (its system prompt rewritten
//! every turn) on every request, tool rounds included. So each answer is remembered by a
//! fingerprint of the exchange it ended — the last user message and everything after it,
//! up to and including the assistant message Hearth sent — and a request whose history
//! ends with that exchange continues that session. Only the last exchange is hashed, so
//! a client that trims old turns (Home Assistant's `max_history`) still matches; two
//! conversations that end with the same exchange share a session, which for one
//! household's assistant is harmless.
//!
//! Entries expire after an idle time (Home Assistant forgets a conversation after 5
//! minutes) and the map is bounded; a miss starts a new session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Conversations remembered at most; the least recently used is forgotten first.
const MAX_CONVERSATIONS: usize = 1024;

/// One message as the fingerprint sees it: role, trimmed text, and the names of the tools
/// it calls (arguments are left out: clients rewrite them, Home Assistant drops falsy
/// values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said<'a> {
    /// `user`, `assistant` or `tool` (system messages are never part of it).
    pub role: &'a str,
    /// The text.
    pub text: &'a str,
    /// Names of the tools an assistant message calls.
    pub calls: Vec<&'a str>,
}

/// FNV-1a's 64-bit offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// `h` advanced over `bytes` by 64-bit FNV-1a
/// (<http://www.isthe.com/chongo/tech/comp/fnv/>).
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The fingerprint of the exchange `msgs` ends with: from its last user message on.
/// `None` when there is no user message.
pub fn exchange_fingerprint(model: &str, msgs: &[Said<'_>]) -> Option<u64> {
    let from = msgs.iter().rposition(|m| m.role == "user")?;
    // Stable across processes, unlike std's randomly keyed hasher; collisions only merge
    // sessions. Each field ends with 0xff, a byte UTF-8 text never holds.
    let mut h = FNV_OFFSET;
    let mut eat = |bytes: &[u8]| h = fnv1a(fnv1a(h, bytes), &[0xff]);
    eat(model.as_bytes());
    for m in &msgs[from..] {
        eat(m.role.as_bytes());
        eat(m.text.trim().as_bytes());
        for c in &m.calls {
            eat(c.as_bytes());
        }
    }
    Some(h)
}

/// The remembered exchanges and their sessions.
pub struct Conversations {
    idle: Duration,
    map: Mutex<HashMap<u64, (String, Instant)>>,
}

impl Conversations {
    /// An empty map whose entries live `idle` after their last use.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The session of the exchange with fingerprint `fp`, if remembered and not idle too
    /// long.
    pub fn find(&self, fp: u64) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match map.get(&fp) {
            Some((key, at)) if now.duration_since(*at) <= self.idle => Some(key.clone()),
            Some(_) => {
                map.remove(&fp);
                None
            }
            None => None,
        }
    }

    /// Remembers that the exchange `fp` belongs to `session_key`.
    pub fn remember(&self, fp: u64, session_key: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, at)| now.duration_since(*at) <= self.idle);
        if map.len() >= MAX_CONVERSATIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(fp, (session_key.to_string(), now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said<'a>(role: &'a str, text: &'a str, calls: &[&'a str]) -> Said<'a> {
        Said {
            role,
            text,
            calls: calls.to_vec(),
        }
    }

    #[test]
    fn only_the_last_exchange_counts() {
        let long = [
            said("user", "hi", &[]),
            said("assistant", "hello", &[]),
            said("user", "lights on", &[]),
            said("assistant", "", &["HassTurnOn"]),
        ];
        let trimmed = &long[2..];
        assert_eq!(
            exchange_fingerprint("hearth:latest", &long),
            exchange_fingerprint("hearth:latest", trimmed)
        );
        assert_ne!(
            exchange_fingerprint("hearth:latest", &long),
            exchange_fingerprint("other:latest", &long)
        );
        let other_call = [
            said("user", "lights on", &[]),
            said("assistant", "", &["HassTurnOff"]),
        ];
        assert_ne!(
            exchange_fingerprint("hearth:latest", trimmed),
            exchange_fingerprint("hearth:latest", &other_call)
        );
        // Whitespace around the text does not matter; no user message, no fingerprint.
        let spaced = [
            said("user", " lights on\n", &[]),
            said("assistant", "", &["HassTurnOn"]),
        ];
        assert_eq!(
            exchange_fingerprint("hearth:latest", trimmed),
            exchange_fingerprint("hearth:latest", &spaced)
        );
        assert_eq!(
            exchange_fingerprint("m", &[said("assistant", "x", &[])]),
            None
        );
    }

    #[test]
    fn entries_expire_and_the_map_is_bounded() {
        let c = Conversations::new(Duration::from_secs(3600));
        c.remember(1, "agent:main:ollama:a");
        assert_eq!(c.find(1).as_deref(), Some("agent:main:ollama:a"));
        assert_eq!(c.find(2), None);
        for i in 0..(MAX_CONVERSATIONS as u64 + 10) {
            c.remember(100 + i, "k");
        }
        assert!(c.map.lock().unwrap().len() <= MAX_CONVERSATIONS);
        let gone = Conversations::new(Duration::ZERO);
        gone.remember(1, "k");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(gone.find(1), None);
    }
}
