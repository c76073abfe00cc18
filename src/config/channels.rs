//! `[session]` (how conversations map to sessions) and `[channels.*]` (the chat platforms
//! the agent is reachable on, each account with its access policy). Keys follow
//! OpenClaw's vocabulary in snake_case (`dm_policy`, `allow_from`, `require_mention`…,
//! <https://docs.openclaw.ai/channels/pairing>).

use super::SecretRef;
use crate::core::{AccessPolicy, DmPolicy, DmScope, GroupPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[session]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How direct chats map to sessions: `main` (default), `per-peer`, `per-channel-peer`,
    /// `per-account-channel-peer`.
    pub dm_scope: DmScope,
    /// One person's accounts across channels: identity → `["<channel>:<peer id>", …]`,
    /// so their direct chats share a session under the per-peer scopes.
    pub identity_links: BTreeMap<String, Vec<String>>,
}

/// `[hooks]`: inbound webhooks (`POST /hooks/agent`, `POST /hooks/wake`), OpenClaw's
/// shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HooksConfig {
    /// Off by default.
    pub enabled: bool,
    /// Their own token, a secret reference (required when enabled; not the gateway token).
    pub token: Option<SecretRef>,
    /// Let callers name the session with `sessionKey` (off: one `hook:` session per
    /// request, or per `idempotencyKey`).
    pub allow_request_session_key: bool,
}

/// `[channels]`: one table per platform; a platform without a table is off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// `[channels.telegram]`: the Telegram Bot API.
    pub telegram: Option<TelegramConfig>,
}

/// `[channels.telegram]`: one bot account (`default`), reached by long polling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Off without removing the table.
    pub enabled: bool,
    /// The bot token from @BotFather, as a secret reference (required).
    pub token: Option<SecretRef>,
    /// The Bot API base URL (a local Bot API server, or a test emulator).
    pub api_base: String,
    /// Seconds one `getUpdates` long poll waits for updates (1..=50).
    pub poll_timeout_secs: u64,
    /// Largest photo, document or voice note downloaded into the workspace, bytes.
    pub max_media_bytes: u64,
    /// Show "typing…" while a run answers (refreshed every 5 s).
    pub typing: bool,
    /// Direct chats: `pairing` (default), `allowlist`, `open` (needs `allow_from = ["*"]`),
    /// `disabled`.
    pub dm_policy: DmPolicy,
    /// Telegram user ids allowed to chat directly (`"*"`: anyone).
    pub allow_from: Vec<String>,
    /// Groups: `allowlist` (default), `open`, `disabled`.
    pub group_policy: GroupPolicy,
    /// Group chat ids the bot answers in (`"*"`: any).
    pub groups: Vec<String>,
    /// User ids whose group messages count (empty: anyone in an allowed group).
    pub group_allow_from: Vec<String>,
    /// In groups, answer only when mentioned (`@bot`) or replied to.
    pub require_mention: bool,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        let a = AccessPolicy::default();
        Self {
            enabled: true,
            token: None,
            api_base: "https://api.telegram.org".into(),
            poll_timeout_secs: 30,
            max_media_bytes: 20 << 20,
            typing: true,
            dm_policy: a.dm_policy,
            allow_from: a.allow_from,
            group_policy: a.group_policy,
            groups: a.groups,
            group_allow_from: a.group_allow_from,
            require_mention: a.require_mention,
        }
    }
}

impl TelegramConfig {
    /// The account's access policy.
    pub fn access(&self) -> AccessPolicy {
        AccessPolicy {
            dm_policy: self.dm_policy,
            allow_from: self.allow_from.clone(),
            group_policy: self.group_policy,
            groups: self.groups.clone(),
            group_allow_from: self.group_allow_from.clone(),
            require_mention: self.require_mention,
        }
    }
}

/// The first problem with an access policy at `at` (`channels.telegram`), as (key, message).
fn check_access(at: &str, a: &AccessPolicy) -> Option<(String, String)> {
    if a.dm_policy == DmPolicy::Open && !a.allow_from.iter().any(|x| x == "*") {
        return Some((
            format!("{at}.allow_from"),
            "dm_policy \"open\" lets anyone in: say so with allow_from = [\"*\"]".into(),
        ));
    }
    None
}

/// The first problem with `[session]`, `[hooks]` and `[channels]`, as (key, message).
pub(super) fn check(
    session: &SessionConfig,
    hooks: &HooksConfig,
    ch: &ChannelsConfig,
) -> Option<(String, String)> {
    if hooks.enabled && hooks.token.is_none() {
        return Some((
            "hooks.token".into(),
            "webhooks need their own token, e.g. token = \"credential:hooks-token\"".into(),
        ));
    }
    let mut seen = BTreeMap::new();
    for (who, ids) in &session.identity_links {
        for id in ids {
            if !id.contains(':') {
                return Some((
                    format!("session.identity_links.{who}"),
                    format!("{id:?} should be <channel>:<peer id>, e.g. \"telegram:123456\""),
                ));
            }
            if let Some(other) = seen.insert(id.clone(), who.clone()) {
                return Some((
                    format!("session.identity_links.{who}"),
                    format!("{id} is already linked to {other}"),
                ));
            }
        }
    }
    if let Some(t) = &ch.telegram {
        let at = "channels.telegram";
        if t.enabled && t.token.is_none() {
            return Some((
                format!("{at}.token"),
                "the bot token is required, e.g. token = \"credential:telegram-token\"".into(),
            ));
        }
        if !(t.api_base.starts_with("https://") || t.api_base.starts_with("http://")) {
            return Some((
                format!("{at}.api_base"),
                format!("{:?} is not an http(s) URL", t.api_base),
            ));
        }
        if !(1..=50).contains(&t.poll_timeout_secs) {
            return Some((
                format!("{at}.poll_timeout_secs"),
                format!("{} is outside 1..=50", t.poll_timeout_secs),
            ));
        }
        if let Some(e) = check_access(at, &t.access()) {
            return Some(e);
        }
    }
    None
}
