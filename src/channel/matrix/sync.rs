//! The `/sync` loop of one Matrix account, on its own OS thread, and the translation of a
//! timeline event into a [`ChannelInbound`].

use super::CHANNEL;
use super::api::{Api, ApiError, Sync, seg};
use crate::core::{
    Admission, ChannelInbound, HealthEvent, InboundMessage, InboundSink, Origin, PeerKind, listed,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Which invites the bot accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoJoin {
    /// Every invite (access is still decided per message).
    Always,
    /// Invites from these user ids (`"*"`: anyone).
    From(Vec<String>),
    /// None; rooms are joined by hand.
    Off,
}

/// Settings of one syncer.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The channel account (`default`).
    pub account: String,
    /// Seconds one `/sync` waits for events.
    pub timeout_secs: u64,
    /// Show typing while a run answers.
    pub typing: bool,
    /// Which invites to accept.
    pub auto_join: AutoJoin,
    /// Progress drafts, and after how long a run gets one (`None`: off).
    pub drafts: Option<(Arc<crate::channel::draft::Drafts>, Duration)>,
}

/// The first sync only learns where "now" is: no history is answered.
const FIRST_FILTER: &str = r#"{"room":{"timeline":{"limit":0}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}"#;
/// Later syncs: up to 100 new timeline events per room.
const FILTER: &str = r#"{"room":{"timeline":{"limit":100},"state":{"lazy_load_members":true}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}"#;
/// How long a room's member count is trusted.
const MEMBERS_TTL: Duration = Duration::from_secs(600);

/// Starts the syncer of one account on its own thread; it runs until `shutdown`.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_syncer(
    api: Api,
    sink: Arc<dyn InboundSink>,
    opts: SyncOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::channel::worker::spawn(format!("matrix-{}", opts.account), move || {
        Syncer {
            api,
            sink,
            opts,
            rt,
            shutdown,
            members: HashMap::new(),
            declined: HashSet::new(),
        }
        .run()
    })
}

struct Syncer {
    api: Api,
    sink: Arc<dyn InboundSink>,
    opts: SyncOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
    /// Room → (joined members, when counted).
    members: HashMap<String, (usize, Instant)>,
    /// Invites not accepted (logged once).
    declined: HashSet<String>,
}

impl Syncer {
    fn report(&self, ev: HealthEvent) {
        self.sink.report(CHANNEL, &self.opts.account, ev);
    }

    fn run(mut self) {
        let account = self.opts.account.clone();
        let mut since = match self.rt.block_on(self.sink.cursor(CHANNEL, &account)) {
            Ok(v) => v.and_then(|v| v.as_str().map(str::to_string)),
            Err(e) => {
                tracing::error!("Matrix: cannot read the stored sync token, not syncing: {e}");
                return;
            }
        };
        tracing::info!(user = %self.api.user_id, resume = since.is_some(), "Matrix: syncing");
        let mut wait = crate::channel::worker::Backoff::default();
        while !self.shutdown.is_cancelled() {
            let (filter, timeout) = match since {
                None => (FIRST_FILTER, 0),
                Some(_) => (FILTER, self.opts.timeout_secs * 1000),
            };
            let pause = match self.api.sync(since.as_deref(), timeout, filter) {
                Ok(s) => {
                    wait.reset();
                    self.report(HealthEvent::Ok);
                    let first = since.is_none();
                    match self.batch(s, first) {
                        Ok(next) => {
                            since = Some(next);
                            continue;
                        }
                        Err(e) => {
                            tracing::error!("Matrix: {e}; syncing again from the last token");
                            self.report(HealthEvent::Error(e));
                            Duration::from_secs(1)
                        }
                    }
                }
                Err(ApiError::Api {
                    status: 429,
                    retry_after_ms,
                    ..
                }) => Duration::from_millis(retry_after_ms.unwrap_or(5000)),
                Err(e @ ApiError::Api { status: 401, .. }) => {
                    let m = format!("{e}: check channels.matrix.access_token");
                    tracing::error!("{m}; retrying in 60 s");
                    self.report(HealthEvent::Error(m));
                    Duration::from_secs(60)
                }
                Err(e) => {
                    tracing::warn!("{e}; syncing again in {}s", wait.current().as_secs());
                    self.report(HealthEvent::Error(e.to_string()));
                    wait.after_failure()
                }
            };
            if !crate::channel::worker::nap(&self.shutdown, pause) {
                break;
            }
        }
        tracing::info!("Matrix: syncing stopped");
    }

    /// Handles one sync answer; returns its `next_batch` once committed.
    fn batch(&mut self, s: Sync, first: bool) -> Result<String, String> {
        for (room, inv) in &s.rooms.invite {
            self.invite(room, &inv.invite_state.events);
        }
        if !first {
            for (room, joined) in &s.rooms.join {
                for ev in &joined.timeline.events {
                    let Some(m) = self.inbound(room, ev) else {
                        continue;
                    };
                    let origin = m.message.origin.clone();
                    self.report(HealthEvent::Message);
                    match self.rt.block_on(self.sink.accept(m))? {
                        Admission::Accepted { run_id } => {
                            self.draft(&origin, &run_id);
                            if self.opts.typing {
                                self.typing(room.clone(), run_id);
                            }
                        }
                        Admission::Ignored { reason } => {
                            tracing::info!(room = %room, "Matrix: message not run: {reason}");
                        }
                        _ => {}
                    }
                }
            }
        }
        self.rt.block_on(self.sink.commit_cursor(
            CHANNEL,
            &self.opts.account,
            json!(s.next_batch),
        ))?;
        Ok(s.next_batch)
    }

    /// Joins `room` if the inviter may invite the bot.
    fn invite(&mut self, room: &str, state: &[Value]) {
        let me = &self.api.user_id;
        let inviter = state
            .iter()
            .find(|e| {
                e["type"] == "m.room.member"
                    && e["state_key"] == me.as_str()
                    && e["content"]["membership"] == "invite"
            })
            .and_then(|e| e["sender"].as_str())
            .unwrap_or("")
            .to_string();
        let ok = match &self.opts.auto_join {
            AutoJoin::Always => true,
            AutoJoin::From(list) => listed(list, &inviter),
            AutoJoin::Off => false,
        };
        if !ok {
            if self.declined.insert(room.to_string()) {
                tracing::info!(room, inviter, "Matrix: invite not accepted (auto_join)");
            }
            return;
        }
        let r = self.api.call(
            "join",
            "POST",
            &format!("/join/{}", seg(room)),
            Some(&json!({})),
            Duration::from_secs(30),
        );
        match r {
            Ok(_) => tracing::info!(room, inviter, "Matrix: joined on invite"),
            Err(e) => tracing::warn!(room, "{e}"),
        }
    }

    /// Whether `room` is a direct chat (two joined members).
    fn direct(&mut self, room: &str) -> bool {
        if let Some((n, at)) = self.members.get(room)
            && at.elapsed() < MEMBERS_TTL
        {
            return *n <= 2;
        }
        match self.api.joined_members(room) {
            Ok(n) => {
                self.members.insert(room.to_string(), (n, Instant::now()));
                n <= 2
            }
            Err(e) => {
                tracing::warn!(room, "cannot count members, treating it as a group: {e}");
                false
            }
        }
    }

    /// Keeps a progress draft of run `run_id`'s answer in the origin's room (when drafts
    /// are on): sent once as the answer would be (reply, thread), then edited.
    fn draft(&self, origin: &Origin, run_id: &str) {
        let Some((drafts, after)) = &self.opts.drafts else {
            return;
        };
        let api = self.api.clone();
        let room = origin.chat.clone().unwrap_or_default();
        let rel = super::relation(origin.thread.as_deref(), origin.message_id.as_deref());
        let run = run_id.to_string();
        let n = std::sync::atomic::AtomicU32::new(0);
        let show: crate::channel::draft::Show = Arc::new(move |d, body| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let txn = format!("hearth-draft-{run}-{i}");
            let mut content = json!({"msgtype": "m.text", "body": body});
            match &d.message_id {
                Some(of) => content = super::replacement(of, content),
                None => {
                    if let Some(r) = &rel {
                        content["m.relates_to"] = r.clone();
                    }
                }
            }
            let id = super::put_event(&api, &room, &txn, &content).map_err(|e| e.to_string())?;
            d.message_id.get_or_insert(id);
            Ok(())
        });
        crate::channel::draft::spawn(&self.rt, self.sink.clone(), drafts, run_id, *after, show);
    }

    /// Shows typing in `room` until run `run_id` ends.
    fn typing(&self, room: String, run_id: String) {
        let (api, sink) = (self.api.clone(), self.sink.clone());
        let path = format!("/rooms/{}/typing/{}", seg(&room), seg(&api.user_id));
        self.rt.spawn(async move {
            let start = Instant::now();
            let put = |on: bool| {
                let (api, path) = (api.clone(), path.clone());
                tokio::task::spawn_blocking(move || {
                    let body = json!({"typing": on, "timeout": 10_000});
                    api.call("typing", "PUT", &path, Some(&body), Duration::from_secs(10))
                })
            };
            while start.elapsed() < Duration::from_secs(600) {
                if let Ok(Err(e)) = put(true).await {
                    tracing::debug!("{e}");
                    return;
                }
                if !matches!(
                    sink.wait_run(&run_id, Duration::from_secs(8)).await,
                    Ok(false)
                ) {
                    break;
                }
            }
            let _ = put(false).await;
        });
    }

    /// The normalised message of a timeline event, or `None` for what is not a message
    /// for the agent (state, edits, notices, the bot's own events).
    fn inbound(&mut self, room: &str, ev: &Value) -> Option<ChannelInbound> {
        let me = self.api.user_id.clone();
        let sender = ev["sender"].as_str()?;
        if ev["type"] != "m.room.message" || sender == me {
            return None;
        }
        let c = &ev["content"];
        let rel = &c["m.relates_to"];
        if rel["rel_type"] == "m.replace"
            || !matches!(c["msgtype"].as_str(), Some("m.text" | "m.emote"))
        {
            return None;
        }
        let event_id = ev["event_id"].as_str()?.to_string();
        let mut body = c["body"].as_str().unwrap_or("").to_string();
        if !rel["m.in_reply_to"].is_null() {
            body = strip_reply_fallback(&body);
        }
        let kind = if self.direct(room) {
            PeerKind::Direct
        } else {
            PeerKind::Group
        };
        let local = me
            .trim_start_matches('@')
            .split(':')
            .next()
            .unwrap_or("")
            .to_lowercase();
        let mentioned = kind == PeerKind::Direct
            || c["m.mentions"]["user_ids"]
                .as_array()
                .is_some_and(|a| a.iter().any(|u| u == me.as_str()))
            || body.contains(me.as_str())
            || (!local.is_empty()
                && body
                    .to_lowercase()
                    .split(|ch: char| !ch.is_alphanumeric() && ch != '_' && ch != '-')
                    .any(|w| w == local));
        let thread = (rel["rel_type"] == "m.thread")
            .then(|| rel["event_id"].as_str().map(str::to_string))
            .flatten();
        Some(ChannelInbound {
            message: InboundMessage {
                origin: Origin {
                    channel: CHANNEL.into(),
                    account: self.opts.account.clone(),
                    peer: sender.to_string(),
                    chat: Some(room.to_string()),
                    thread,
                    message_id: Some(event_id.clone()),
                    sender_name: None,
                    team: None,
                },
                text: body,
                attachments: Vec::new(),
                ts_ms: ev["origin_server_ts"]
                    .as_u64()
                    .unwrap_or_else(crate::core::now_ms),
            },
            kind,
            mentioned,
            dedupe_id: event_id,
            redelivered: None,
            cursor: None,
        })
    }
}

/// A reply's body without the quoted fallback (`> <@user> …` lines, then a blank line)
/// that older clients put in front of it.
fn strip_reply_fallback(body: &str) -> String {
    let mut lines = body.lines().peekable();
    let mut quoted = false;
    while lines.peek().is_some_and(|l| l.starts_with('>')) {
        lines.next();
        quoted = true;
    }
    if quoted && lines.peek().is_some_and(|l| l.is_empty()) {
        lines.next();
    }
    if !quoted {
        return body.to_string();
    }
    lines.collect::<Vec<_>>().join("\n")
}
