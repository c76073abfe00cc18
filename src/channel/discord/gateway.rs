//! The Discord Gateway connection of one bot, on its own OS thread
//! (<https://discord.com/developers/docs/events/gateway>): Hello, Identify (or Resume with
//! the session id and last sequence after a drop, so missed events are replayed), heartbeats
//! at the interval Hello gives (a heartbeat not acknowledged before the next one means a
//! zombie connection: reconnect and resume), Reconnect and Invalid Session, and
//! `MESSAGE_CREATE` handed to the gate with the message id as dedupe id.
//!
//! Discord keeps no backlog for a bot that was offline beyond a resumable session; messages
//! sent while the gateway was down longer are not fetched (no REST catch-up yet).

use super::{CHANNEL, Rest};
use crate::channel::tls::{Socket, connect, timed_out};
use crate::core::{
    Admission, ChannelInbound, HealthEvent, InboundMessage, InboundSink, Origin, PeerKind,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Settings of one gateway connection.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The channel account (`default`).
    pub account: String,
    /// The bot token (sent in Identify and Resume).
    pub token: String,
    /// Gateway intents (GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT by default).
    pub intents: u64,
    /// Show typing while a run answers.
    pub typing: bool,
}

/// Starts the connection on its own thread; it runs until `shutdown`.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn_gateway(
    rest: Rest,
    sink: Arc<dyn InboundSink>,
    opts: GatewayOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    crate::channel::worker::spawn(format!("discord-{}", opts.account), move || {
        Gateway {
            rest,
            sink,
            opts,
            rt,
            shutdown,
            session: None,
            seq: None,
            me: String::new(),
        }
        .run()
    })
}

struct Gateway {
    rest: Rest,
    sink: Arc<dyn InboundSink>,
    opts: GatewayOptions,
    rt: tokio::runtime::Handle,
    shutdown: CancellationToken,
    /// (session id, resume URL) of a resumable session.
    session: Option<(String, String)>,
    seq: Option<u64>,
    me: String,
}

/// Why a connection ended.
enum End {
    /// Reconnect (resuming if there is a session).
    Again,
    /// Reconnect after `Duration` (a fatal close: token, intents).
    Wait(Duration),
}

impl Gateway {
    fn report(&self, ev: HealthEvent) {
        self.sink.report(CHANNEL, &self.opts.account, ev);
    }

    fn run(mut self) {
        let mut wait = crate::channel::worker::Backoff::default();
        while !self.shutdown.is_cancelled() {
            let pause = match self.connection() {
                Ok(End::Again) => {
                    wait.reset();
                    Duration::from_millis(500)
                }
                Ok(End::Wait(d)) => d,
                Err(e) => {
                    tracing::warn!(
                        "Discord gateway: {e}; reconnecting in {}s",
                        wait.current().as_secs()
                    );
                    self.report(HealthEvent::Error(e));
                    wait.after_failure()
                }
            };
            crate::channel::worker::nap(&self.shutdown, pause);
        }
        tracing::info!("Discord: gateway stopped");
    }

    fn send(ws: &mut Socket, v: &Value) -> Result<(), String> {
        ws.send(tungstenite::Message::Text(v.to_string().into()))
            .map_err(|e| format!("send: {e}"))
    }

    /// One connection, from Hello to its end.
    fn connection(&mut self) -> Result<End, String> {
        let base = match &self.session {
            Some((_, url)) => url.clone(),
            None => {
                let (v, _) = self
                    .rest
                    .call("gateway", "GET", "/gateway/bot", None)
                    .map_err(|e| e.to_string())?;
                v.get("url")
                    .and_then(Value::as_str)
                    .ok_or("GET /gateway/bot gave no url")?
                    .to_string()
            }
        };
        let url = format!("{}/?v=10&encoding=json", base.trim_end_matches('/'));
        let mut ws = connect(&url, Duration::from_secs(15))?;
        let hello = read_json(&mut ws)?;
        let interval = hello
            .pointer("/d/heartbeat_interval")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("expected Hello, got {hello}"))?;
        let interval = Duration::from_millis(interval.max(100));
        match (&self.session, self.seq) {
            (Some((id, _)), Some(seq)) => Self::send(
                &mut ws,
                &json!({"op": 6, "d": {"token": self.opts.token, "session_id": id, "seq": seq}}),
            )?,
            _ => Self::send(
                &mut ws,
                &json!({"op": 2, "d": {"token": self.opts.token, "intents": self.opts.intents,
                        "properties": {"os": "linux", "browser": "hearth", "device": "hearth"}}}),
            )?,
        }
        let mut next_beat = Instant::now() + interval / 2;
        let mut acked = true;
        while !self.shutdown.is_cancelled() {
            let now = Instant::now();
            if now >= next_beat {
                if !acked {
                    return Err("no heartbeat ACK: the connection is a zombie".into());
                }
                Self::send(&mut ws, &json!({"op": 1, "d": self.seq}))?;
                acked = false;
                next_beat = now + interval;
            }
            let left = next_beat.saturating_duration_since(Instant::now());
            let _ = ws.get_ref().set_read_timeout(Some(
                left.clamp(Duration::from_millis(50), Duration::from_secs(1)),
            ));
            let msg = match ws.read() {
                Ok(m) => m,
                Err(e) if timed_out(&e) => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            let text = match msg {
                tungstenite::Message::Text(t) => t.to_string(),
                tungstenite::Message::Close(f) => {
                    let code = f.as_ref().map(|f| u16::from(f.code)).unwrap_or(1000);
                    let why = f.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Ok(self.closed(code, &why));
                }
                _ => continue,
            };
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("Discord gateway: a frame that is not JSON ({e})");
                    continue;
                }
            };
            match v.get("op").and_then(Value::as_u64) {
                Some(0) => {
                    if let Some(s) = v.get("s").and_then(Value::as_u64) {
                        self.seq = Some(s);
                    }
                    self.dispatch(v.get("t").and_then(Value::as_str).unwrap_or(""), &v["d"])?;
                }
                Some(1) => {
                    Self::send(&mut ws, &json!({"op": 1, "d": self.seq}))?;
                }
                Some(7) => return Ok(End::Again),
                Some(9) => {
                    if v["d"] != true {
                        (self.session, self.seq) = (None, None);
                    }
                    return Ok(End::Wait(Duration::from_secs(2)));
                }
                Some(11) => acked = true,
                _ => {}
            }
        }
        let _ = ws.close(None);
        Ok(End::Again)
    }

    /// What a close code means (<https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes>).
    fn closed(&mut self, code: u16, why: &str) -> End {
        match code {
            4004 => {
                let e = format!(
                    "Discord closed the gateway: authentication failed ({why}); check channels.discord.token"
                );
                tracing::error!("{e}");
                self.report(HealthEvent::Error(e));
                (self.session, self.seq) = (None, None);
                End::Wait(Duration::from_secs(60))
            }
            4010..=4014 => {
                let e = format!(
                    "Discord closed the gateway: {code} {why} (intents or shard settings; enable the Message Content intent for the bot)"
                );
                tracing::error!("{e}");
                self.report(HealthEvent::Error(e));
                (self.session, self.seq) = (None, None);
                End::Wait(Duration::from_secs(60))
            }
            4007 | 4009 => {
                (self.session, self.seq) = (None, None);
                End::Again
            }
            _ => End::Again,
        }
    }

    fn dispatch(&mut self, t: &str, d: &Value) -> Result<(), String> {
        match t {
            "READY" => {
                let id = d["session_id"].as_str().unwrap_or_default().to_string();
                let url = d["resume_gateway_url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.me = d
                    .pointer("/user/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.session = Some((id, url));
                self.report(HealthEvent::Ok);
                tracing::info!("Discord: gateway ready");
            }
            "RESUMED" => self.report(HealthEvent::Ok),
            "MESSAGE_CREATE" => {
                if let Some(m) = self.inbound(d) {
                    let chat = m.message.origin.chat.clone().unwrap_or_default();
                    self.report(HealthEvent::Message);
                    match self.rt.block_on(self.sink.accept(m))? {
                        Admission::Accepted { run_id } if self.opts.typing => {
                            self.typing(chat, run_id)
                        }
                        Admission::Ignored { reason } => {
                            tracing::info!("Discord: message not run: {reason}");
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn typing(&self, channel: String, run_id: String) {
        let (rest, sink) = (self.rest.clone(), self.sink.clone());
        self.rt.spawn(async move {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(600) {
                let (r, path) = (rest.clone(), format!("/channels/{channel}/typing"));
                let res =
                    tokio::task::spawn_blocking(move || r.call("typing", "POST", &path, None))
                        .await;
                if let Ok(Err(e)) = res {
                    tracing::debug!("{e}");
                    return;
                }
                if !matches!(
                    sink.wait_run(&run_id, Duration::from_secs(8)).await,
                    Ok(false)
                ) {
                    return;
                }
            }
        });
    }

    /// The normalised message, or `None` for the bot's own and other bots' messages.
    fn inbound(&self, d: &Value) -> Option<ChannelInbound> {
        let author = d.get("author")?;
        let author_id = author["id"].as_str()?;
        if author_id == self.me || author["bot"] == true {
            return None;
        }
        let id = d["id"].as_str()?.to_string();
        let channel = d["channel_id"].as_str()?.to_string();
        let content = d["content"].as_str().unwrap_or("").to_string();
        let kind = if d.get("guild_id").is_some_and(|g| !g.is_null()) {
            PeerKind::Channel
        } else {
            PeerKind::Direct
        };
        let me = &self.me;
        let mentioned = kind == PeerKind::Direct
            || d["mentions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|u| u["id"] == me.as_str()))
            || (!me.is_empty()
                && (content.contains(&format!("<@{me}>"))
                    || content.contains(&format!("<@!{me}>"))))
            || d.pointer("/referenced_message/author/id")
                .and_then(Value::as_str)
                == Some(me.as_str());
        Some(ChannelInbound {
            message: InboundMessage {
                origin: Origin {
                    channel: CHANNEL.into(),
                    account: self.opts.account.clone(),
                    peer: author_id.to_string(),
                    chat: Some(channel),
                    thread: None,
                    message_id: Some(id.clone()),
                    sender_name: author["username"].as_str().map(str::to_string),
                    team: d["guild_id"].as_str().map(str::to_string),
                },
                text: content,
                attachments: Vec::new(),
                ts_ms: crate::core::now_ms(),
            },
            kind,
            mentioned,
            dedupe_id: id,
            redelivered: None,
            cursor: None,
        })
    }
}

/// The next JSON text frame (within the socket's read timeout).
fn read_json(ws: &mut Socket) -> Result<Value, String> {
    loop {
        match ws.read().map_err(|e| format!("read: {e}"))? {
            tungstenite::Message::Text(t) => {
                return serde_json::from_str(&t).map_err(|e| format!("not JSON: {e}"));
            }
            tungstenite::Message::Close(f) => return Err(format!("closed: {f:?}")),
            _ => {}
        }
    }
}
