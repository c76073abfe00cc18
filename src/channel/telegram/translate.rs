//! A Telegram `Message` as a [`ChannelInbound`] (shared by long polling and the webhook):
//! who wrote, where (private chat, group, forum topic), whether the bot was mentioned or
//! replied to, and the photo, document or voice note saved into the workspace.

use super::api::{Api, Message, User};
use super::{CHANNEL, id_value};
use crate::core::{Attachment, ChannelInbound, InboundMessage, InboundSink, Origin, PeerKind};
use crate::workspace::Workspace;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often "typing…" is refreshed (Telegram shows it for 5 s), and for how long at most.
const TYPING_EVERY: Duration = Duration::from_secs(4);
const TYPING_MAX: Duration = Duration::from_secs(600);

/// Turns one bot account's messages into [`ChannelInbound`]s.
#[derive(Clone)]
pub struct Translator {
    /// The Bot API client (for files and typing).
    pub api: Api,
    /// The bot itself (`getMe`): its own messages are skipped, its name is a mention.
    pub me: User,
    /// The channel account (`default`).
    pub account: String,
    /// The workspace files are saved in, under `inbox/telegram/<chat>/`.
    pub media: Arc<Workspace>,
    /// Largest file downloaded, bytes.
    pub max_media_bytes: u64,
    /// Progress drafts, and after how long a run gets one (`None`: off).
    pub drafts: Option<(Arc<super::Drafts>, Duration)>,
}

impl Translator {
    /// What an accepted message starts beside the run: "typing…" (when `typing`) and a
    /// progress draft (when drafts are on), both until run `run_id` ends.
    pub(super) fn follow_run(
        &self,
        rt: &tokio::runtime::Handle,
        sink: Arc<dyn InboundSink>,
        typing: bool,
        origin: &crate::core::Origin,
        run_id: String,
    ) {
        let chat = origin.chat.clone().unwrap_or_else(|| origin.peer.clone());
        if let Some((drafts, after)) = &self.drafts {
            let target = super::DraftTarget {
                chat: chat.clone(),
                thread: origin.thread.clone(),
                reply_to: origin.message_id.clone(),
            };
            let show = super::draft::show(self.api.clone(), target);
            crate::channel::draft::spawn(rt, sink.clone(), drafts, &run_id, *after, show);
        }
        if typing {
            self.typing(rt, sink, chat, origin.thread.clone(), run_id);
        }
    }

    /// Shows "typing…" in `chat` until run `run_id` ends (on `rt`, asking `sink`).
    fn typing(
        &self,
        rt: &tokio::runtime::Handle,
        sink: Arc<dyn InboundSink>,
        chat: String,
        thread: Option<String>,
        run_id: String,
    ) {
        let api = self.api.clone();
        let mut p = json!({"chat_id": id_value(&chat), "action": "typing"});
        if let Some(t) = thread {
            p["message_thread_id"] = id_value(&t);
        }
        rt.spawn(async move {
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
    pub(super) fn inbound(&self, m: Message, cursor: Option<i64>) -> Option<ChannelInbound> {
        let me = &self.me;
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
            account: self.account.clone(),
            peer: from.id.to_string(),
            chat: (kind != PeerKind::Direct).then(|| m.chat.id.to_string()),
            thread,
            message_id: Some(m.message_id.to_string()),
            sender_name: Some(match &from.username {
                Some(u) => format!("{} (@{u})", from.first_name),
                None => from.first_name.clone(),
            }),
            team: None,
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
            cursor: cursor.map(|c| json!(c)),
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
        let max = self.max_media_bytes;
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
            let rel = format!("inbox/telegram/{}/{}-{safe}", m.chat.id, m.message_id);
            self.media
                .write_atomic(&rel, &bytes)
                .map_err(|e| e.to_string())?;
            Ok(Attachment {
                path: self.media.root().join(&rel),
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
