//! The core side of the channel contract: [`ChannelGate`] admits what adapters hand in.
//! It applies the account's access policy (dmPolicy with pairing, groupPolicy, mention
//! gating), maps the conversation to a session key (dmScope, identity links), and submits
//! the message with its dedupe key and platform cursor in one commit. Whatever it decides,
//! the cursor is committed, so an ignored update is not fetched again and an accepted one
//! never twice. Also the pairing operations for operators (list, approve, reject).

use super::command::ChatCommand;
use super::{Cursor, DispatchError, Dispatcher, Followed, RunStatus, Submission};
use crate::core::{
    AccessPolicy, Activity, Admission, Binding, ChannelInbound, DmPolicy, DmScope, EventKind,
    GroupPolicy, HealthEvent, InboundSink, Origin, PeerKind, SessionKeyParts, SinkFuture,
    TextStream, listed, now_ms,
};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The channel accounts and session rules the gate applies.
#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    /// Access policy per (channel, account).
    pub accounts: HashMap<(String, String), AccessPolicy>,
    /// How direct chats map to sessions.
    pub dm_scope: DmScope,
    /// `<channel>:<peer>` → canonical identity (OpenClaw's `session.identityLinks`), so
    /// one person's accounts share a direct-chat session.
    pub identity_links: HashMap<String, String>,
    /// The agent that answers when no binding matches (`main`).
    pub agent: String,
    /// Channel conversations routed to other agents, most specific rule first.
    pub bindings: Vec<Binding>,
}

/// Unmentioned group messages kept per group session, for the next mentioned turn.
const GROUP_HISTORY: usize = 20;
/// Groups whose history is kept at once (the least recently written is dropped).
const GROUP_HISTORY_GROUPS: usize = 256;

/// Admits channel messages into the dispatcher (implements [`InboundSink`]).
pub struct ChannelGate {
    pub(super) d: Dispatcher,
    /// Replaced whole by a config reload; each message reads one snapshot.
    opts: std::sync::RwLock<Arc<GateOptions>>,
    /// Group session key → (last write, recent unmentioned messages as `name: text`).
    history: std::sync::Mutex<HashMap<String, (u64, std::collections::VecDeque<String>)>>,
}

impl ChannelGate {
    /// A gate in front of `d`.
    pub fn new(d: Dispatcher, opts: GateOptions) -> Self {
        Self {
            d,
            opts: std::sync::RwLock::new(Arc::new(opts)),
            history: Default::default(),
        }
    }

    /// Replaces the access policies, bindings and session scoping (a config reload);
    /// messages already admitted keep the session they were given.
    pub fn set_options(&self, opts: GateOptions) {
        *self.opts.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(opts);
    }

    fn opts(&self) -> Arc<GateOptions> {
        self.opts.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps an unmentioned group message (bounded: [`GROUP_HISTORY`] per group,
    /// [`GROUP_HISTORY_GROUPS`] groups). In memory only: a restart forgets the chatter.
    fn remember(&self, key: &str, m: &crate::core::InboundMessage) {
        if m.text.trim().is_empty() {
            return;
        }
        let who = m.origin.sender_name.as_deref().unwrap_or(&m.origin.peer);
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if !h.contains_key(key) && h.len() >= GROUP_HISTORY_GROUPS {
            let oldest = h
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                h.remove(&k);
            }
        }
        let e = h.entry(key.to_string()).or_default();
        e.0 = now_ms();
        e.1.push_back(format!("{who}: {}", m.text.trim()));
        while e.1.len() > GROUP_HISTORY {
            e.1.pop_front();
        }
    }

    /// `text` preceded by the group's unmentioned messages since the last turn (taken).
    fn with_context(&self, key: &str, text: &str) -> String {
        let kept = self
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        match kept {
            Some((_, lines)) if !lines.is_empty() => {
                let lines: Vec<String> = lines.into_iter().collect();
                format!(
                    "[Messages in this chat since your last reply]\n{}\n\n[Current message]\n{text}",
                    lines.join("\n")
                )
            }
            _ => text.to_string(),
        }
    }

    async fn ignore(
        &self,
        cursor: Option<Cursor>,
        reason: String,
    ) -> Result<Admission, DispatchError> {
        if let Some(c) = cursor {
            self.d.commit_cursor(c).await?;
        }
        Ok(Admission::Ignored { reason })
    }

    async fn admit(&self, mut m: ChannelInbound) -> Result<Admission, DispatchError> {
        let opts = self.opts();
        let o = m.message.origin.clone();
        let cursor = m.cursor.take().map(|value| Cursor {
            channel: o.channel.clone(),
            account: o.account.clone(),
            value,
        });
        let Some(policy) = opts.accounts.get(&(o.channel.clone(), o.account.clone())) else {
            let why = format!(
                "channel account {}/{} is not configured",
                o.channel, o.account
            );
            return self.ignore(cursor, why).await;
        };
        // An owner (named in allow_from, not by the wildcard) answers pairing requests
        // from their own chat: `/pair list`, `/pair approve CODE`, `/pair reject CODE`.
        if m.kind == PeerKind::Direct
            && policy.allow_from.contains(&o.peer)
            && let Some(reply) = self.owner_pairing(&m.message.text).await?
        {
            self.d.notice(&o, &reply, cursor).await?;
            return Ok(Admission::Command);
        }
        // An owner answers approval requests from their own chat the same way:
        // `/approve <id> allow-once|allow-always|deny`.
        if m.kind == PeerKind::Direct
            && policy.allow_from.contains(&o.peer)
            && let Some(reply) = super::approvals::approve_command(
                self.d.approvals(),
                &m.message.text,
                &format!("{}:{}", o.channel, o.peer),
            )
        {
            self.d.notice(&o, &reply, cursor).await?;
            return Ok(Admission::Command);
        }
        let denied = match m.kind {
            PeerKind::Direct => match policy.dm_policy {
                DmPolicy::Disabled => Some("direct messages are disabled".to_string()),
                DmPolicy::Open => None,
                DmPolicy::Allowlist | DmPolicy::Pairing
                    if listed(&policy.allow_from, &o.peer) || self.d.paired(&o)? =>
                {
                    None
                }
                DmPolicy::Allowlist => Some(format!("sender {} is not in allow_from", o.peer)),
                DmPolicy::Pairing => {
                    let reason = self.d.pairing_challenge(&o, cursor).await?;
                    return Ok(Admission::Ignored { reason });
                }
            },
            PeerKind::Group | PeerKind::Channel => {
                let chat = o.chat.as_deref().unwrap_or("");
                match policy.group_policy {
                    GroupPolicy::Disabled => Some("group messages are disabled".to_string()),
                    GroupPolicy::Allowlist if !listed(&policy.groups, chat) => {
                        Some(format!("group {chat} is not in groups"))
                    }
                    _ if !policy.group_allow_from.is_empty()
                        && !listed(&policy.group_allow_from, &o.peer) =>
                    {
                        Some(format!("sender {} is not in group_allow_from", o.peer))
                    }
                    _ => None,
                }
            }
        };
        if let Some(why) = denied {
            return self.ignore(cursor, why).await;
        }
        if m.message.text.trim().is_empty() && m.message.attachments.is_empty() {
            return self.ignore(cursor, "no text or files".into()).await;
        }
        let linked = format!("{}:{}", o.channel, o.peer);
        let peer = opts.identity_links.get(&linked).unwrap_or(&o.peer);
        let chat = (m.kind != PeerKind::Direct)
            .then_some(o.chat.as_deref())
            .flatten();
        let agent = opts
            .bindings
            .iter()
            .filter_map(|b| Some((b.rank(&o, chat)?, &b.agent)))
            .max_by_key(|(rank, _)| *rank)
            .map_or(opts.agent.as_str(), |(_, a)| a.as_str());
        let parts = SessionKeyParts {
            agent,
            channel: &o.channel,
            account: &o.account,
            peer,
            dm_scope: opts.dm_scope,
            kind: m.kind,
            chat_id: o.chat.as_deref().unwrap_or(&o.peer),
            thread: o.thread.as_deref(),
        };
        let session_key = match parts.key() {
            Ok(k) => k,
            Err(e) => return self.ignore(cursor, e).await,
        };

        if m.kind != PeerKind::Direct {
            if policy.require_mention && !m.mentioned {
                self.remember(session_key.as_str(), &m.message);
                let why = "not mentioned (require_mention); kept as context".to_string();
                return self.ignore(cursor, why).await;
            }
            m.message.text = self.with_context(session_key.as_str(), &m.message.text);
        }
        let is_command = ChatCommand::parse(&m.message.text).is_some();
        let sub = Submission {
            session_key,
            message: m.message,
            idempotency_key: Some(format!("{}:{}:{}", o.channel, o.account, m.dedupe_id)),
            stateless_history: None,
            cursor: cursor.clone(),
            record_only: m.redelivered == Some(false),
            client: None,
            run_id: None,
        };
        match self.d.submit(sub).await {
            Ok((acc, _)) if acc.deduped => Ok(Admission::Duplicate { run_id: acc.run_id }),
            Ok(_) if is_command => Ok(Admission::Command),
            Ok((acc, _)) => Ok(Admission::Accepted { run_id: acc.run_id }),
            Err(DispatchError::Invalid(why)) => {
                // A malformed command: tell the sender what is wrong.
                self.d.notice(&o, &why, cursor).await?;
                Ok(Admission::Command)
            }
            Err(e @ DispatchError::QueueFull { .. }) => {
                let why = e.to_string();
                self.d.notice(&o, &why, cursor).await?;
                Ok(Admission::Ignored { reason: why })
            }
            Err(e) => Err(e),
        }
    }
}

impl InboundSink for ChannelGate {
    fn accept(&self, m: ChannelInbound) -> SinkFuture<'_, Admission> {
        Box::pin(async move { self.admit(m).await.map_err(|e| e.to_string()) })
    }

    fn commit_cursor<'a>(
        &'a self,
        channel: &'a str,
        account: &'a str,
        value: serde_json::Value,
    ) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            let c = Cursor {
                channel: channel.to_string(),
                account: account.to_string(),
                value,
            };
            self.d.commit_cursor(c).await.map_err(|e| e.to_string())
        })
    }

    fn cursor<'a>(
        &'a self,
        channel: &'a str,
        account: &'a str,
    ) -> SinkFuture<'a, Option<serde_json::Value>> {
        Box::pin(async move { self.d.cursor(channel, account).map_err(|e| e.to_string()) })
    }

    fn report(&self, channel: &str, account: &str, ev: HealthEvent) {
        self.d.report_health(channel, account, ev);
    }

    fn follow_text(&self, run_id: &str) -> TextStream {
        let f = self.d.follow(run_id);
        Box::pin(futures_util::stream::unfold(
            (f, String::new()),
            |(mut f, mut text)| async move {
                loop {
                    let Followed::Event(ev) = f.next().await? else {
                        continue;
                    };
                    match ev.kind {
                        EventKind::Delta { text: t } => {
                            text.push_str(&t);
                            return Some((text.clone(), (f, text)));
                        }
                        EventKind::ToolStarted { .. } => text.clear(),
                        EventKind::Failover(i) if i.void_partial => text.clear(),
                        k if k.is_final() => return None,
                        _ => {}
                    }
                }
            },
        ))
    }

    fn activity(&self) -> Activity {
        self.d.activity()
    }

    fn run_error<'a>(&'a self, run_id: &'a str) -> SinkFuture<'a, Option<String>> {
        Box::pin(async move {
            match self.d.wait(run_id, Duration::ZERO).await {
                Ok(r) if r.status == RunStatus::Failed => {
                    Ok(Some(r.error.unwrap_or_else(|| "unknown error".into())))
                }
                Ok(_) | Err(DispatchError::UnknownRun(_)) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn wait_run<'a>(&'a self, run_id: &'a str, timeout: Duration) -> SinkFuture<'a, bool> {
        Box::pin(async move {
            match self.d.wait(run_id, timeout).await {
                Ok(r) => Ok(r.status.is_final()),
                Err(DispatchError::UnknownRun(_)) => Ok(true),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

impl Dispatcher {
    /// Commits a platform cursor alone.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub async fn commit_cursor(&self, c: Cursor) -> Result<(), DispatchError> {
        self.inner
            .store
            .write(move |s, w| s.put_cursor(w, &c.channel, &c.account, &c.value))
            .await?;
        Ok(())
    }

    /// The committed platform cursor of `channel`/`account`.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn cursor(
        &self,
        channel: &str,
        account: &str,
    ) -> Result<Option<serde_json::Value>, DispatchError> {
        let s = &self.inner.store;
        Ok(s.cursor(&*s.read_txn()?, channel, account)?)
    }

    /// Whether a sink delivers for `channel` (registered with
    /// [`Dispatcher::register_outbound`]).
    pub fn has_outbound(&self, channel: &str) -> bool {
        self.inner.outbox.has_sink(channel)
    }

    /// Where the agent last talked on a chat platform (the newest outbox row whose channel
    /// is not one of the gateway's own), for OpenClaw's `channel: "last"`.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn last_target(&self) -> Result<Option<Origin>, DispatchError> {
        let s = &self.inner.store;
        Ok(s.delivery_last_target(&*s.read_txn()?, &super::channels::GATEWAY_CHANNELS)?)
    }
}
