//! The long-poll loop of one bot account, on its own OS thread.
//!
//! Exactly-once: the loop asks for updates from the committed offset; each message is
//! handed to the sink with `update_id + 1` as its cursor and `<chat>:<message_id>` as its
//! dedupe id, and only a successful admission moves the loop's offset. If the admission
//! fails (store error, shutdown), the loop polls again from the last committed offset, so
//! the update comes back. Updates that carry nothing for the agent advance the offset and
//! are committed once per batch.

use super::CHANNEL;
use super::api::{Api, ApiError, Update, User};
use super::translate::Translator;
use crate::core::{Admission, HealthEvent, InboundSink};
use crate::workspace::Workspace;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
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
    /// The workspace files are saved in, under `inbox/telegram/<chat>/`.
    pub media: Arc<Workspace>,
    /// Largest file downloaded, bytes.
    pub max_media_bytes: u64,
    /// Progress drafts, and after how long a run gets one (`None`: off).
    pub drafts: Option<(Arc<super::Drafts>, Duration)>,
}

/// The longest a `getUpdates` exchange may take beyond its long-poll timeout before it is
/// abandoned and the poll restarted (the whole exchange stays under 120 s).
const POLL_SLACK: Duration = Duration::from_secs(20);

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
    crate::channel::worker::spawn(format!("telegram-{}", opts.account), move || {
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
    fn report(&self, ev: HealthEvent) {
        self.sink.report(CHANNEL, &self.opts.account, ev);
    }

    fn me(&self) -> Option<User> {
        let mut wait = crate::channel::worker::Backoff::default();
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
            tracing::error!("{err}; retrying in {}s", wait.current().as_secs());
            self.report(HealthEvent::Error(err));
            if !crate::channel::worker::nap(&self.shutdown, wait.after_failure()) {
                return None;
            }
        }
    }

    fn run(self) {
        let Some(me) = self.me() else { return };
        // A webhook left from webhook mode would make every poll a 409.
        if let Err(e) = self
            .api
            .call("deleteWebhook", &json!({}), Duration::from_secs(30))
        {
            tracing::warn!("{e}");
        }
        let tr = Translator {
            api: self.api.clone(),
            me: me.clone(),
            account: self.opts.account.clone(),
            media: self.opts.media.clone(),
            max_media_bytes: self.opts.max_media_bytes,
            drafts: self.opts.drafts.clone(),
        };
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
        let mut wait = crate::channel::worker::Backoff::default();
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
                    wait.reset();
                    self.report(HealthEvent::Ok);
                    match self.batch(&tr, v, &mut offset) {
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
                    tracing::warn!("{e}; polling again in {}s", wait.current().as_secs());
                    self.report(HealthEvent::Error(e.to_string()));
                    wait.after_failure()
                }
            };
            if !crate::channel::worker::nap(&self.shutdown, pause) {
                break;
            }
        }
        tracing::info!("Telegram: polling stopped");
    }

    /// Admits one `getUpdates` result. `offset` moves past each update once it is
    /// committed.
    fn batch(
        &self,
        tr: &Translator,
        result: Value,
        offset: &mut Option<i64>,
    ) -> Result<(), String> {
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
            let Some(m) = update.message.and_then(|m| tr.inbound(m, Some(next))) else {
                (*offset, uncommitted) = (Some(next), Some(next));
                continue;
            };
            let origin = m.message.origin.clone();
            self.report(HealthEvent::Message);
            match self.rt.block_on(self.sink.accept(m))? {
                Admission::Accepted { run_id } => {
                    let typing = self.opts.typing;
                    tr.follow_run(&self.rt, self.sink.clone(), typing, &origin, run_id);
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
}
