//! `[session]` (how conversations map to sessions) and `[channels.*]` (the chat platforms
//! the agent is reachable on, each account with its access policy). Keys follow
//! OpenClaw's vocabulary in snake_case (`dm_policy`, `allow_from`, `require_mention`…,
//! <https://docs.openclaw.ai/channels/pairing>).

use super::SecretRef;
use super::platforms::{DiscordConfig, MatrixConfig, MqttConfig, SlackConfig, TelegramConfig};
use crate::core::{AccessPolicy, DmPolicy, DmScope};
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
    /// `[channels.mqtt]`: an MQTT broker (Home Assistant's, say).
    pub mqtt: Option<MqttConfig>,
    /// `[channels.matrix]`: a Matrix account on a homeserver.
    pub matrix: Option<MatrixConfig>,
    /// `[channels.discord]`: a Discord bot.
    pub discord: Option<DiscordConfig>,
    /// `[channels.slack]`: a Slack app in Socket Mode.
    pub slack: Option<SlackConfig>,
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
    if let Some(m) = &ch.mqtt {
        let at = "channels.mqtt";
        if m.request_topics.is_empty() {
            return Some((
                format!("{at}.request_topics"),
                "name at least one topic".into(),
            ));
        }
        let bad_filter = |t: &str| t.is_empty() || t.contains('\0');
        let bad_topic = |t: &str| bad_filter(t) || t.contains(['+', '#']);
        if let Some(t) = m.request_topics.iter().find(|t| bad_filter(t)) {
            return Some((
                format!("{at}.request_topics"),
                format!("{t:?} is not a topic filter"),
            ));
        }
        for (k, t) in [
            ("reply_topic", Some(&m.reply_topic)),
            ("availability_topic", m.availability_topic.as_ref()),
        ] {
            if let Some(t) = t.filter(|t| bad_topic(t)) {
                return Some((
                    format!("{at}.{k}"),
                    format!("{t:?} is not a topic one can publish to (no wildcards)"),
                ));
            }
        }
        if m.client_id.is_empty() || m.client_id.len() > 23 {
            return Some((
                format!("{at}.client_id"),
                "1 to 23 characters (MQTT 3.1.1)".into(),
            ));
        }
        if m.password.is_some() && m.username.is_none() {
            return Some((
                format!("{at}.username"),
                "a password needs a user name".into(),
            ));
        }
        if !(5..=3600).contains(&m.keep_alive_secs) {
            return Some((
                format!("{at}.keep_alive_secs"),
                format!("{} is outside 5..=3600", m.keep_alive_secs),
            ));
        }
        let p = &m.discovery_prefix;
        if m.discovery && (bad_topic(p) || p.starts_with('/') || p.ends_with('/')) {
            return Some((
                format!("{at}.discovery_prefix"),
                format!("{p:?} is not a topic prefix (no wildcards, no / at either end)"),
            ));
        }
        let node = m.node();
        let node_ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if m.discovery && (node.is_empty() || !node.chars().all(node_ok)) {
            return Some((
                format!("{at}.node_id"),
                format!("{node:?}: Home Assistant takes 1 or more of A-Z a-z 0-9 _ -"),
            ));
        }
        if m.discovery && m.device().trim().is_empty() {
            return Some((format!("{at}.device_name"), "must not be empty".into()));
        }
    }
    if let Some(m) = ch.matrix.as_ref().filter(|m| m.enabled) {
        let at = "channels.matrix";
        if !(m.homeserver.starts_with("https://") || m.homeserver.starts_with("http://")) {
            return Some((
                format!("{at}.homeserver"),
                format!("{:?} is not an http(s) URL", m.homeserver),
            ));
        }
        let uid = m.user_id.strip_prefix('@').and_then(|r| r.split_once(':'));
        if !uid.is_some_and(|(l, s)| !l.is_empty() && !s.is_empty()) {
            return Some((
                format!("{at}.user_id"),
                format!(
                    "{:?} is not a user id like \"@hearth:example.org\"",
                    m.user_id
                ),
            ));
        }
        if m.access_token.is_none() {
            return Some((
                format!("{at}.access_token"),
                "required, e.g. access_token = \"credential:matrix-token\"".into(),
            ));
        }
        if !(1..=120).contains(&m.sync_timeout_secs) {
            return Some((
                format!("{at}.sync_timeout_secs"),
                format!("{} is outside 1..=120", m.sync_timeout_secs),
            ));
        }
        if !["always", "allowlist", "off"].contains(&m.auto_join.as_str()) {
            return Some((
                format!("{at}.auto_join"),
                format!("{:?}: want always, allowlist or off", m.auto_join),
            ));
        }
        if let Some(e) = check_access(at, &m.access()) {
            return Some(e);
        }
    }
    if let Some(d) = ch.discord.as_ref().filter(|d| d.enabled) {
        let at = "channels.discord";
        if d.token.is_none() {
            return Some((
                format!("{at}.token"),
                "required, e.g. token = \"credential:discord-token\"".into(),
            ));
        }
        if !d.api_base.starts_with("http") {
            return Some((
                format!("{at}.api_base"),
                format!("{:?} is not an http(s) URL", d.api_base),
            ));
        }
        if let Some(e) = check_access(at, &d.access()) {
            return Some(e);
        }
    }
    if let Some(sl) = ch.slack.as_ref().filter(|s| s.enabled) {
        let at = "channels.slack";
        if sl.app_token.is_none() || sl.bot_token.is_none() {
            let k = if sl.app_token.is_none() {
                "app_token"
            } else {
                "bot_token"
            };
            return Some((format!("{at}.{k}"), "Socket Mode needs both app_token (xapp-…) and bot_token (xoxb-…) as secret references".into()));
        }
        if !sl.api_base.starts_with("http") {
            return Some((
                format!("{at}.api_base"),
                format!("{:?} is not an http(s) URL", sl.api_base),
            ));
        }
        if let Some(e) = check_access(at, &sl.access()) {
            return Some(e);
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
        if let Some(u) = &t.webhook_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Some((
                    format!("{at}.webhook_url"),
                    format!("{u:?} is not an http(s) URL"),
                ));
            }
            if t.webhook_secret.is_none() {
                return Some((
                    format!("{at}.webhook_secret"),
                    "webhook mode needs a secret, e.g. webhook_secret = \"credential:telegram-webhook\"".into(),
                ));
            }
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
