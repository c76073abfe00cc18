//! The platform tables of `[channels]`: Telegram, Matrix, MQTT, Discord and Slack, each one
//! account (`default`) with its connection settings and, but for MQTT (whose broker decides
//! who may publish), its access policy (OpenClaw's `dmPolicy`, `groupPolicy`…, in
//! snake_case).

use super::SecretRef;
use crate::core::{AccessPolicy, DmPolicy, GroupPolicy};
use serde::{Deserialize, Serialize};

/// `[channels.discord]`: one bot (`default`) on the Gateway WebSocket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Off without removing the table.
    pub enabled: bool,
    /// The bot token, as a secret reference (required).
    pub token: Option<SecretRef>,
    /// The REST base URL.
    pub api_base: String,
    /// Gateway intents (default GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT).
    pub intents: u64,
    /// Show typing while a run answers.
    pub typing: bool,
    /// Direct messages: `pairing` (default), `allowlist`, `open`, `disabled`.
    pub dm_policy: DmPolicy,
    /// User ids allowed to chat directly.
    pub allow_from: Vec<String>,
    /// Server channels: `allowlist` (default), `open`, `disabled`.
    pub group_policy: GroupPolicy,
    /// Channel ids the bot answers in (`"*"`: any).
    pub groups: Vec<String>,
    /// User ids whose channel messages count (empty: anyone in an allowed channel).
    pub group_allow_from: Vec<String>,
    /// In server channels, answer only when mentioned or replied to.
    pub require_mention: bool,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        let a = AccessPolicy::default();
        Self {
            enabled: true,
            token: None,
            api_base: "https://discord.com/api/v10".into(),
            intents: 1 | (1 << 9) | (1 << 12) | (1 << 15),
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

/// `[channels.slack]`: one app (`default`) over Socket Mode (no public URL needed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Off without removing the table.
    pub enabled: bool,
    /// The app-level token (`xapp-…`, scope `connections:write`), as a secret reference.
    pub app_token: Option<SecretRef>,
    /// The bot token (`xoxb-…`), as a secret reference.
    pub bot_token: Option<SecretRef>,
    /// The Web API base URL.
    pub api_base: String,
    /// Direct messages: `pairing` (default), `allowlist`, `open`, `disabled`.
    pub dm_policy: DmPolicy,
    /// Member ids (`U…`) allowed to chat directly.
    pub allow_from: Vec<String>,
    /// Channels: `allowlist` (default), `open`, `disabled`.
    pub group_policy: GroupPolicy,
    /// Channel ids (`C…`) the app answers in (`"*"`: any).
    pub groups: Vec<String>,
    /// Member ids whose channel messages count (empty: anyone in an allowed channel).
    pub group_allow_from: Vec<String>,
    /// In channels, answer only when mentioned.
    pub require_mention: bool,
}

impl Default for SlackConfig {
    fn default() -> Self {
        let a = AccessPolicy::default();
        Self {
            enabled: true,
            app_token: None,
            bot_token: None,
            api_base: "https://slack.com/api".into(),
            dm_policy: a.dm_policy,
            allow_from: a.allow_from,
            group_policy: a.group_policy,
            groups: a.groups,
            group_allow_from: a.group_allow_from,
            require_mention: a.require_mention,
        }
    }
}

/// The access policy from a channel table's fields.
macro_rules! access_of {
    ($t:ty) => {
        impl $t {
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
    };
}
access_of!(TelegramConfig);
access_of!(MatrixConfig);
access_of!(DiscordConfig);
access_of!(SlackConfig);

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
    /// Seconds a run streams before its answer so far is shown as a draft that is edited
    /// as it grows, then into the answer (0: no drafts).
    pub draft_after_secs: u64,
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
            draft_after_secs: 5,
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
    /// Announce Hearth to Home Assistant by MQTT discovery: one device with a status
    /// sensor, a last-reply sensor, a prompt text entity and a notify entity.
    pub discovery: bool,
    /// Home Assistant's discovery prefix (its MQTT integration's setting).
    pub discovery_prefix: String,
    /// The node id in discovery topics and the first level of the entities' own topics
    /// (`<node_id>/status`…); `A-Z a-z 0-9 _ -`. Default: `client_id` with other
    /// characters replaced by `_`.
    pub node_id: Option<String>,
    /// The device's name in Home Assistant. Default: `Hearth`, or `Hearth <node_id>` for
    /// a node id other than `hearth`.
    pub device_name: Option<String>,
}

impl MqttConfig {
    /// The node id: `node_id`, or `client_id` made safe for a discovery topic.
    pub fn node(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            self.client_id
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
                    _ => '_',
                })
                .collect()
        })
    }

    /// The device name Home Assistant shows.
    pub fn device(&self) -> String {
        self.device_name
            .clone()
            .unwrap_or_else(|| match self.node() {
                n if n == "hearth" => "Hearth".into(),
                n => format!("Hearth {n}"),
            })
    }
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
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            node_id: None,
            device_name: None,
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
    /// Seconds a run streams before its answer so far is shown as a draft message that is
    /// edited as it grows, then replaced by the answer (0: no drafts).
    pub draft_after_secs: u64,
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
            draft_after_secs: 5,
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
