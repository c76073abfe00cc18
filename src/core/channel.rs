//! The channel contract: what a channel adapter hands the core ([`ChannelInbound`] through
//! an [`InboundSink`]), what it is told back ([`Admission`]), what it can do
//! ([`Capabilities`]), and the access and session-scoping vocabulary the core applies to
//! it (OpenClaw's `dmPolicy`, `groupPolicy` and `dmScope`,
//! <https://docs.openclaw.ai/channels/pairing>, <https://docs.openclaw.ai/concepts/session>).
//! Adapters decide nothing about access or sessions: they report who wrote what where, and
//! whether the bot was mentioned; the core decides.

use super::{InboundMessage, PeerKind};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Who may start a direct chat with the agent on a channel account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicy {
    /// Unknown senders get a one-time pairing code; the owner approves it (default).
    #[default]
    Pairing,
    /// Only senders in `allow_from` (or approved by pairing earlier); others are ignored.
    Allowlist,
    /// Anyone (`allow_from` must hold `"*"`, as OpenClaw requires, so it is deliberate).
    Open,
    /// Direct messages are ignored.
    Disabled,
}

/// Which groups (and senders in them) the agent answers on a channel account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    /// Only groups in `groups` (default), and in them only senders in
    /// `group_allow_from` when that list is not empty.
    #[default]
    Allowlist,
    /// Any group the bot is in.
    Open,
    /// Group messages are ignored.
    Disabled,
}

/// How direct chats map to sessions (OpenClaw's `session.dmScope`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DmScope {
    /// Every direct chat shares `agent:<agent>:main` (default; one owner).
    #[default]
    Main,
    /// `agent:<agent>:dm:<peer>`: one session per person across channels.
    PerPeer,
    /// `agent:<agent>:<channel>:dm:<peer>`.
    PerChannelPeer,
    /// `agent:<agent>:<channel>:<account>:dm:<peer>`.
    PerAccountChannelPeer,
}

/// The access rules of one channel account, as the core applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessPolicy {
    /// Direct chats: `pairing` (default), `allowlist`, `open`, `disabled`.
    pub dm_policy: DmPolicy,
    /// Sender ids allowed to chat directly (`"*"`: anyone).
    pub allow_from: Vec<String>,
    /// Groups: `allowlist` (default), `open`, `disabled`.
    pub group_policy: GroupPolicy,
    /// Group or chat ids the agent answers in (`"*"`: any).
    pub groups: Vec<String>,
    /// Sender ids whose group messages count (empty: anyone in an allowed group).
    pub group_allow_from: Vec<String>,
    /// In groups, answer only when the bot is mentioned or replied to (default on).
    pub require_mention: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            dm_policy: DmPolicy::Pairing,
            allow_from: Vec::new(),
            group_policy: GroupPolicy::Allowlist,
            groups: Vec::new(),
            group_allow_from: Vec::new(),
            require_mention: true,
        }
    }
}

/// A rule sending a channel's conversations to an agent (OpenClaw's bindings,
/// <https://docs.openclaw.ai/concepts/multi-agent>): the most specific matching rule wins —
/// a peer, then a group, then a team (Discord guild, Slack workspace), then a channel
/// account, then a whole channel; none: `main`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The agent id.
    pub agent: String,
    /// The channel (`telegram`, …).
    pub channel: String,
    /// Only this channel account.
    #[serde(default)]
    pub account: Option<String>,
    /// Only direct chats with this sender id.
    #[serde(default)]
    pub peer: Option<String>,
    /// Only this group, room or channel id.
    #[serde(default)]
    pub group: Option<String>,
    /// Only this Discord guild or Slack team (workspace) id.
    #[serde(default)]
    pub team: Option<String>,
}

impl Binding {
    /// How specifically the rule matches a message from `o` (`chat` is `None` for a direct
    /// chat): 5 peer, 4 group, 3 team, 2 account, 1 channel; `None` when it does not match.
    pub fn rank(&self, o: &super::Origin, chat: Option<&str>) -> Option<u8> {
        if self.channel != o.channel || self.account.as_deref().is_some_and(|a| a != o.account) {
            return None;
        }
        match (&self.peer, &self.group, &self.team) {
            (Some(p), _, _) => (chat.is_none() && *p == o.peer).then_some(5),
            (None, Some(g), _) => (chat == Some(g.as_str())).then_some(4),
            (None, None, Some(t)) => (o.team.as_deref() == Some(t.as_str())).then_some(3),
            (None, None, None) if self.account.is_some() => Some(2),
            (None, None, None) => Some(1),
        }
    }
}

/// True when `list` holds `id` or the wildcard `"*"`.
pub fn listed(list: &[String], id: &str) -> bool {
    list.iter().any(|x| x == "*" || x == id)
}

/// The text format a platform renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Plain text: markdown is flattened.
    Plain,
    /// Telegram's HTML subset (<https://core.telegram.org/bots/api#html-style>).
    TelegramHtml,
    /// CommonMark-ish markdown as Discord and Matrix (`body`) take it.
    Markdown,
    /// Slack's mrkdwn (<https://api.slack.com/reference/surfaces/formatting>).
    SlackMrkdwn,
}

/// What a channel can do, so the core and the splitter treat each platform right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Longest text of one message, UTF-16 code units (Telegram 4096, with margin 4000).
    pub max_text_len: usize,
    /// Most lines in one message (Discord's client folds long ones: 17), if limited.
    pub max_lines: Option<usize>,
    /// Sent messages can be edited (progress drafts).
    pub edit: bool,
    /// A typing indicator can be shown.
    pub typing: bool,
    /// Threads or forum topics exist.
    pub threads: bool,
    /// Files come in and can go out.
    pub media: bool,
    /// The text format.
    pub markup: Markup,
}

/// One platform message as an adapter hands it to the core.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelInbound {
    /// The normalised message; `origin.message_id` identifies it on the platform.
    pub message: InboundMessage,
    /// Direct chat, group or channel.
    pub kind: PeerKind,
    /// The bot was mentioned or replied to (group mention gating).
    pub mentioned: bool,
    /// The platform's unique id of this event within the account (Telegram's
    /// `update_id`, Matrix's event id, MQTT's correlation data): a redelivery with the same
    /// id is acknowledged and runs nothing.
    pub dedupe_id: String,
    /// Whether `dedupe_id` may name another message later: `None` — it never does
    /// (Telegram's chat and message id), always looked up; `Some(false)` — a first
    /// delivery (MQTT without the DUP flag; packet ids are reused), recorded only;
    /// `Some(true)` — the platform says this may be a redelivery, looked up.
    pub redelivered: Option<bool>,
    /// The account's platform cursor after this event (Telegram's next offset, Matrix's
    /// `next_batch`), committed in the same transaction as the message.
    pub cursor: Option<serde_json::Value>,
}

/// What the core did with a [`ChannelInbound`]. Whatever it did, its cursor is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Committed to the inbox as run `run_id`; the answer arrives through the outbox.
    Accepted {
        /// The run.
        run_id: String,
    },
    /// A redelivery of a message already accepted as `run_id`.
    Duplicate {
        /// The first run.
        run_id: String,
    },
    /// A chat command (`/status`, `/reset`, `/queue …`…) answered at once; the reply
    /// is in the outbox.
    Command,
    /// Not for the agent (access policy, unmentioned in a group, empty): `reason` says
    /// why, for the log; a pairing reply, if any, is in the outbox.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// How a channel account is doing, as its adapter reports it (`channels.status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelHealth {
    /// The last exchange with the platform succeeded.
    pub connected: bool,
    /// The last successful exchange (a poll, a sync), ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok_ms: Option<u64>,
    /// The last message handed in, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message_ms: Option<u64>,
    /// The last error, as the adapter logged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it happened, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_ms: Option<u64>,
    /// Errors reported since the gateway started.
    #[serde(default)]
    pub errors: u64,
}

/// What an adapter reports about its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEvent {
    /// An exchange with the platform succeeded.
    Ok,
    /// A message was handed in.
    Message,
    /// An exchange failed (`connected` false from now on).
    Error(String),
}

/// What the agent is doing, for an adapter that shows it (Home Assistant's status sensor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Turns running now, across all sessions.
    pub running: usize,
    /// Messages waiting in the lanes for their turn.
    pub queued: usize,
}

/// Snapshots of a run's answer as it streams: each item is the whole text so far (text a
/// tool call or a failover voided is dropped); the stream ends with the run.
pub type TextStream = Pin<Box<dyn futures_util::Stream<Item = String> + Send>>;

/// The future the [`InboundSink`] methods return.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The receiving half of the channel contract: the core behind it applies access policy,
/// session scoping and chat commands, and commits each message with its cursor and dedupe
/// key in one transaction before it answers. Errors are the store's or the shutdown's,
/// as text: the adapter must not advance its platform cursor past the message (it will
/// come again).
pub trait InboundSink: Send + Sync {
    /// Admits one platform message.
    fn accept(&self, m: ChannelInbound) -> SinkFuture<'_, Admission>;
    /// Commits `cursor` for `channel`/`account` alone (events that carry no message).
    fn commit_cursor<'a>(
        &'a self,
        channel: &'a str,
        account: &'a str,
        cursor: serde_json::Value,
    ) -> SinkFuture<'a, ()>;
    /// The committed cursor of `channel`/`account`, if any.
    fn cursor<'a>(
        &'a self,
        channel: &'a str,
        account: &'a str,
    ) -> SinkFuture<'a, Option<serde_json::Value>>;
    /// Waits up to `timeout` for run `run_id` to end; true once it has (or is unknown).
    fn wait_run<'a>(&'a self, run_id: &'a str, timeout: Duration) -> SinkFuture<'a, bool>;
    /// Records how `channel`/`account` is doing (for `channels.status`).
    fn report(&self, channel: &str, account: &str, ev: HealthEvent);
    /// The answer of run `run_id` as it streams (for progress drafts); empty for a run
    /// that already ended.
    fn follow_text(&self, run_id: &str) -> TextStream;
    /// Turns running and messages waiting now (no store read).
    fn activity(&self) -> Activity;
    /// Why run `run_id` failed; `None` when it did not (still going, answered, stopped,
    /// or unknown).
    fn run_error<'a>(&'a self, run_id: &'a str) -> SinkFuture<'a, Option<String>>;
}

/// The future [`WebhookHandler::handle`] returns: the HTTP status and JSON body to answer.
pub type WebhookFuture<'a> = Pin<Box<dyn Future<Output = (u16, String)> + Send + 'a>>;

/// A channel that receives its platform's events over HTTP (Telegram's webhook, Slack's
/// Events API): the gateway routes `POST /channels/<name>/webhook` here. The handler checks
/// the platform's own secret and answers 2xx only once the event is committed, so the
/// platform retries anything not taken.
pub trait WebhookHandler: Send + Sync {
    /// The channel name in the route.
    fn channel(&self) -> &str;
    /// Handles one request: `headers` with lowercase names, `body` as sent.
    fn handle<'a>(&'a self, headers: &'a [(String, String)], body: &'a [u8]) -> WebhookFuture<'a>;
}
