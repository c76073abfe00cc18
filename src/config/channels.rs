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
    /// `[channels.mqtt]`: an MQTT broker (Home Assistant's, say).
    pub mqtt: Option<MqttConfig>,
    /// `[channels.matrix]`: a Matrix account on a homeserver.
    pub matrix: Option<MatrixConfig>,
}

/// `[channels.matrix]`: one bot account (`default`), reached by `/sync` long polling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatrixConfig {
    /// Off without removing the table.
    pub enabled: bool,
    /// The homeserver's client-server base URL (`https://matrix.example.org`).
    pub homeserver: String,
    /// The bot's user id (`@hearth:example.org`).
    pub user_id: String,
    /// Its access token, as a secret reference (required).
    pub access_token: Option<SecretRef>,
    /// Seconds one `/sync` waits for events (1..=120).
    pub sync_timeout_secs: u64,
    /// Show typing while a run answers.
    pub typing: bool,
    /// Which invites to accept: `always` (default), `allowlist` (from `allow_from` and
    /// `group_allow_from`), `off`.
    pub auto_join: String,
    /// Direct chats: `pairing` (default), `allowlist`, `open` (needs `allow_from = ["*"]`),
    /// `disabled`.
    pub dm_policy: DmPolicy,
    /// User ids allowed to chat directly (`"*"`: anyone).
    pub allow_from: Vec<String>,
    /// Rooms: `allowlist` (default), `open`, `disabled`.
    pub group_policy: GroupPolicy,
    /// Room ids (`!abc:example.org`) the bot answers in (`"*"`: any).
    pub groups: Vec<String>,
    /// User ids whose room messages count (empty: anyone in an allowed room).
    pub group_allow_from: Vec<String>,
    /// In rooms, answer only when mentioned.
    pub require_mention: bool,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        let a = AccessPolicy::default();
        Self {
            enabled: true,
            homeserver: String::new(),
            user_id: String::new(),
            access_token: None,
            sync_timeout_secs: 30,
            typing: true,
            auto_join: "always".into(),
            dm_policy: a.dm_policy,
            allow_from: a.allow_from,
            group_policy: a.group_policy,
            groups: a.groups,
            group_allow_from: a.group_allow_from,
            require_mention: a.require_mention,
        }
    }
}

impl MatrixConfig {
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

/// `[channels.mqtt]`: requests arrive on topics, answers leave on a reply topic (MQTT
/// 3.1.1, QoS 1, a persistent session so nothing published while the gateway restarts is
/// lost). Anyone who may publish to the request topics may talk to the agent: access is the
/// broker's (its users and ACLs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Off without removing the table.
    pub enabled: bool,
    /// Broker host name or address.
    pub host: String,
    /// Broker port (1883 plain, 8883 TLS by convention).
    pub port: u16,
    /// TLS to the broker (the system's roots, or `ca_file`).
    pub tls: bool,
    /// PEM file of the CA that signed the broker's certificate.
    pub ca_file: Option<std::path::PathBuf>,
    /// The client id; the broker keeps this session's queued messages under it.
    pub client_id: String,
    /// Broker user name.
    pub username: Option<String>,
    /// Broker password, as a secret reference.
    pub password: Option<SecretRef>,
    /// Topics (filters allowed) carrying requests: plain text, or JSON
    /// `{"text", "id", "from", "reply_to"}`.
    pub request_topics: Vec<String>,
    /// Where answers go (a request's `reply_to` overrides it).
    pub reply_topic: String,
    /// Retained `online`/`offline` (the last will) for Home Assistant's availability.
    pub availability_topic: Option<String>,
    /// Seconds between keep-alive pings.
    pub keep_alive_secs: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 1883,
            tls: false,
            ca_file: None,
            client_id: "hearth".into(),
            username: None,
            password: None,
            request_topics: vec!["hearth/request".into()],
            reply_topic: "hearth/reply".into(),
            availability_topic: Some("hearth/availability".into()),
            keep_alive_secs: 30,
        }
    }
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
    /// Webhook mode instead of long polling: the public HTTPS URL that reaches this
    /// gateway's `/channels/telegram/webhook` (through a reverse proxy or tunnel).
    pub webhook_url: Option<String>,
    /// The secret Telegram sends with each webhook call (required with `webhook_url`;
    /// 1-256 of `A-Z a-z 0-9 _ -`), as a secret reference.
    pub webhook_secret: Option<SecretRef>,
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
            webhook_url: None,
            webhook_secret: None,
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
