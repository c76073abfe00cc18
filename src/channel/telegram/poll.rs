//! The long-poll loop of one bot account, on its own OS thread, and the translation of a
//! Telegram `Message` into a [`ChannelInbound`].
//!
//! Exactly-once: the loop asks for updates from the committed offset; each message is
//! handed to the sink with `update_id + 1` as its cursor and `<chat>:<message_id>` as its
//! dedupe id, and only a successful admission moves the loop's offset. If the admission
//! fails (store error, shutdown), the loop polls again from the last committed offset, so
//! the update comes back. Updates that carry nothing for the agent advance the offset and
//! are committed once per batch.

use super::api::{Api, ApiError, Message, Update, User};
use super::{CHANNEL, id_value};
use crate::core::{
    Admission, Attachment, ChannelInbound, HealthEvent, InboundMessage, InboundSink, Origin,
    PeerKind,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Settings of one poller.
#[derive(Debug, Clone)]
pub struct PollOptions {
    /// The channel account (`default`).
    pub account: String,
    /// Seconds one `getUpdates` waits (Telegram allows up to 50).
    pub timeout_secs: u64,
    /// Send "typing…" while a run answers.
    pub typing: bool,
    /// Where photos, documents and voice notes are saved (`<workspace>/inbox/telegram`).
    pub media_dir: PathBuf,
    /// Largest file downloaded, bytes.
    pub max_media_bytes: u64,
}

/// The longest a `getUpdates` exchange may take beyond its long-poll timeout before it is
/// abandoned and the poll restarted (the whole exchange stays under 120 s).
const POLL_SLACK: Duration = Duration::from_secs(20);
/// How often "typing…" is refreshed (Telegram shows it for 5 s), and for how long at most.
const TYPING_EVERY: Duration = Duration::from_secs(4);
const TYPING_MAX: Duration = Duration::from_secs(600);

/// Starts the poller of one account on its own thread. It runs until `shutdown`.
///
/// # Errors
/// A message when the thread cannot be spawned.
pub fn spawn_poller(
    api: Api,
    sink: Arc<dyn InboundSink>,
    opts: PollOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("telegram-{}", opts.account))
        .stack_size(256 << 10)
        .spawn(move || {
            Poller {
                api,
                sink,
                opts,
                rt,
                shutdown,
            }
            .run()
        })
}

struct Poller {
    api: Api,
    sink: Arc<dyn InboundSink>,
    opts: PollOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
}

impl Poller {
    /// Sleeps `d` unless shutdown comes first; false on shutdown.
    fn nap(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.shutdown.is_cancelled() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(200)));
        }
        !self.shutdown.is_cancelled()
    }

    fn report(&self, ev: HealthEvent) {
        self.sink.report(CHANNEL, &self.opts.account, ev);
    }

    fn me(&self) -> Option<User> {
        let mut wait = Duration::from_secs(1);
        loop {
            let err = match self.api.call("getMe", &json!({}), Duration::from_secs(30)) {
                Ok(v) => match serde_json::from_value::<User>(v) {
                    Ok(u) => {
                        self.report(HealthEvent::Ok);
                        return Some(u);
                    }
                    Err(e) => format!("Telegram getMe: unexpected answer: {e}"),
                },
                Err(e) => e.to_string(),
            };
            tracing::error!("{err}; retrying in {}s", wait.as_secs());
            self.report(HealthEvent::Error(err));
            if !self.nap(wait) {
                return None;
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    }

    fn run(self) {
        let Some(me) = self.me() else { return };
        let account = self.opts.account.clone();
        let mut offset = match self.rt.block_on(self.sink.cursor(CHANNEL, &account)) {
            Ok(v) => v.and_then(|v| v.as_i64()),
            Err(e) => {
                tracing::error!("Telegram: cannot read the stored offset, not polling: {e}");
                return;
            }
        };
        tracing::info!(
            bot = me.username.as_deref().unwrap_or(""),
            offset,
            "Telegram: polling for updates"
        );
        let mut wait = Duration::from_secs(1);
        while !self.shutdown.is_cancelled() {
            let params = json!({
                "offset": offset,
                "timeout": self.opts.timeout_secs,
                "limit": 100,
                "allowed_updates": ["message"],
            });
            let timeout = Duration::from_secs(self.opts.timeout_secs) + POLL_SLACK;
            let pause = match self.api.call("getUpdates", &params, timeout) {
                Ok(v) => {
                    wait = Duration::from_secs(1);
                    self.report(HealthEvent::Ok);
                    match self.batch(&me, v, &mut offset) {
                        Ok(()) => continue,
                        Err(e) => {
                            tracing::error!("Telegram: {e}; polling again from offset {offset:?}");
                            self.report(HealthEvent::Error(e));
                            Duration::from_secs(1)
                        }
                    }
                }
                Err(ApiError::Api {
                    code: 409,
                    description,
                    ..
                }) => {
                    let e = format!(
                        "Telegram getUpdates refused: {description}. Another process polls this bot token, or a webhook is set; stop it (or deleteWebhook)."
                    );
                    tracing::error!("{e} Retrying in 30 s.");
                    self.report(HealthEvent::Error(e));
                    Duration::from_secs(30)
                }
                Err(ApiError::Api {
                    code: 429,
                    retry_after,
                    ..
                }) => Duration::from_secs(retry_after.unwrap_or(5)),
                Err(ApiError::Api { code: 401, .. }) => {
                    let e = "Telegram rejected the bot token (401); check channels.telegram.token";
                    tracing::error!("{e}. Retrying in 60 s.");
                    self.report(HealthEvent::Error(e.into()));
                    Duration::from_secs(60)
                }
                Err(e) => {
                    tracing::warn!("{e}; polling again in {}s", wait.as_secs());
                    self.report(HealthEvent::Error(e.to_string()));
                    let w = wait;
                    wait = (wait * 2).min(Duration::from_secs(60));
                    w
                }
            };
            if !self.nap(pause) {
                break;
            }
        }
        tracing::info!("Telegram: polling stopped");
    }

    /// Admits one `getUpdates` result. `offset` moves past each update once it is
    /// committed.
    fn batch(&self, me: &User, result: Value, offset: &mut Option<i64>) -> Result<(), String> {
        let Value::Array(items) = result else {
            return Err(format!("getUpdates returned {result}, not an array"));
        };
        let account = &self.opts.account;
        let mut uncommitted = None;
        for item in items {
            let Some(id) = item.get("update_id").and_then(Value::as_i64) else {
                return Err(format!("an update without update_id: {item}"));
            };
            let next = id + 1;
            if offset.is_some_and(|o| id < o) {
                continue; // already committed (a server that ignores offset)
            }
            let update: Update = match serde_json::from_value(item) {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(
                        update_id = id,
                        "Telegram: skipping an update Hearth cannot read: {e}"
                    );
                    (*offset, uncommitted) = (Some(next), Some(next));
                    continue;
                }
            };
            let Some(m) = update.message.and_then(|m| self.inbound(me, m, next)) else {
                (*offset, uncommitted) = (Some(next), Some(next));
                continue;
            };
            let (chat, thread) = (
                m.message.origin.chat.clone(),
                m.message.origin.thread.clone(),
            );
            let peer = m.message.origin.peer.clone();
            self.report(HealthEvent::Message);
            match self.rt.block_on(self.sink.accept(m))? {
                Admission::Accepted { run_id } if self.opts.typing => {
                    self.typing(chat.unwrap_or(peer), thread, run_id);
                }
                Admission::Ignored { reason } => {
                    tracing::info!(update_id = id, "Telegram: message not run: {reason}");
                }
                _ => {}
            }
            (*offset, uncommitted) = (Some(next), None);
        }
        if let Some(c) = uncommitted {
            self.rt
                .block_on(self.sink.commit_cursor(CHANNEL, account, json!(c)))?;
        }
        Ok(())
    }

    /// Shows "typing…" in `chat` until run `run_id` ends.
    fn typing(&self, chat: String, thread: Option<String>, run_id: String) {
        let (api, sink) = (self.api.clone(), self.sink.clone());
        let mut p = json!({"chat_id": id_value(&chat), "action": "typing"});
        if let Some(t) = thread {
            p["message_thread_id"] = id_value(&t);
        }
        self.rt.spawn(async move {
            let start = Instant::now();
            while start.elapsed() < TYPING_MAX {
                let (api, p) = (api.clone(), p.clone());
                let r = tokio::task::spawn_blocking(move || {
                    api.call("sendChatAction", &p, Duration::from_secs(10))
                })
                .await;
                if let Ok(Err(e)) = r {
                    tracing::debug!("{e}");
                    return;
                }
                if !matches!(sink.wait_run(&run_id, TYPING_EVERY).await, Ok(false)) {
                    return;
                }
            }
        });
    }

    /// The normalised message, or `None` for what is not for the agent (the bot's own
    /// messages, channel posts without a sender).
    fn inbound(&self, me: &User, m: Message, next: i64) -> Option<ChannelInbound> {
        let from = m.from.as_ref()?;
        if from.id == me.id {
            return None;
        }
        let kind = match m.chat.kind.as_str() {
            "private" => PeerKind::Direct,
            "channel" => PeerKind::Channel,
            _ => PeerKind::Group,
        };
        let text = m
            .text
            .clone()
            .or_else(|| m.caption.clone())
            .unwrap_or_default();
        let entities = if m.text.is_some() {
            &m.entities
        } else {
            &m.caption_entities
        };
        let name = me.username.as_deref().unwrap_or("").to_ascii_lowercase();
        let named = |e: &super::api::Entity| {
            let s = utf16_slice(&text, e.offset, e.length).to_ascii_lowercase();
            match e.kind.as_str() {
                "mention" => !name.is_empty() && s == format!("@{name}"),
                "bot_command" => !name.is_empty() && s.ends_with(&format!("@{name}")),
                "text_mention" => e.user.as_ref().is_some_and(|u| u.id == me.id),
                _ => false,
            }
        };
        let mentioned = kind == PeerKind::Direct
            || entities.iter().any(named)
            || m.reply_to_message
                .as_ref()
                .and_then(|r| r.from.as_ref())
                .is_some_and(|u| u.id == me.id);
        let thread = (m.chat.is_forum && m.is_topic_message)
            .then_some(m.message_thread_id)
            .flatten()
            .map(|t| t.to_string());
        let mut text = text;
        let attachments = self.attachments(&m, &mut text);
        let origin = Origin {
            channel: CHANNEL.into(),
            account: self.opts.account.clone(),
            peer: from.id.to_string(),
            chat: (kind != PeerKind::Direct).then(|| m.chat.id.to_string()),
            thread,
            message_id: Some(m.message_id.to_string()),
            sender_name: Some(match &from.username {
                Some(u) => format!("{} (@{u})", from.first_name),
                None => from.first_name.clone(),
            }),
        };
        Some(ChannelInbound {
            message: InboundMessage {
                origin,
                text,
                attachments,
                ts_ms: (m.date.max(0) as u64) * 1000,
            },
            kind,
            mentioned,
            dedupe_id: format!("{}:{}", m.chat.id, m.message_id),
            redelivered: None,
            cursor: Some(json!(next)),
        })
    }

    /// Downloads the message's photo (largest size), document or voice note into the
    /// media directory. A file that cannot be had is named in `text` instead, so the
    /// agent knows something was sent.
    fn attachments(&self, m: &Message, text: &mut String) -> Vec<Attachment> {
        let (file, mime, name) = if let Some(p) = m.photo.last() {
            (p, "image/jpeg".to_string(), "photo.jpg".to_string())
        } else if let Some(d) = &m.document {
            let mime = d
                .mime_type
                .clone()
                .unwrap_or("application/octet-stream".into());
            (d, mime, d.file_name.clone().unwrap_or("document".into()))
        } else if let Some(v) = &m.voice {
            let mime = v.mime_type.clone().unwrap_or("audio/ogg".into());
            (v, mime, "voice.ogg".to_string())
        } else {
            return Vec::new();
        };
        let max = self.opts.max_media_bytes;
        let got = (|| {
            if file.file_size.is_some_and(|s| s > max) {
                return Err(format!("it is larger than the {max}-byte limit"));
            }
            let info = self
                .api
                .call(
                    "getFile",
                    &json!({"file_id": file.file_id}),
                    Duration::from_secs(30),
                )
                .map_err(|e| e.to_string())?;
            let path = info
                .get("file_path")
                .and_then(Value::as_str)
                .ok_or("getFile gave no file_path")?;
            let bytes = self.api.download(path, max).map_err(|e| e.to_string())?;
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || ".-_".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let dir = self.opts.media_dir.join(m.chat.id.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let dest = dir.join(format!("{}-{safe}", m.message_id));
            std::fs::write(&dest, &bytes).map_err(|e| format!("{}: {e}", dest.display()))?;
            Ok(Attachment {
                path: dest,
                mime: mime.clone(),
                size: bytes.len() as u64,
            })
        })();
        match got {
            Ok(a) => vec![a],
            Err(e) => {
                tracing::warn!("Telegram: a {mime} file was not saved: {e}");
                text.push_str(&format!("\n[{name} ({mime}) was sent but not saved: {e}]"));
                Vec::new()
            }
        }
    }
}

/// The part of `s` at UTF-16 `offset` for `len` units (Telegram's entity coordinates).
fn utf16_slice(s: &str, offset: usize, len: usize) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    let end = (offset + len).min(units.len());
    String::from_utf16_lossy(units.get(offset.min(end)..end).unwrap_or(&[]))
}
