//! Telegram's webhook mode (<https://core.telegram.org/bots/api#setwebhook>): Telegram POSTs
//! each `Update` to `/channels/telegram/webhook` with the secret given to `setWebhook` in
//! `X-Telegram-Bot-Api-Secret-Token`. A request without the right secret gets 401; an update
//! is answered 200 only once admitted (committed, or deliberately ignored), and 503 while
//! the bot is not set up or the store fails, so Telegram delivers it again.

use super::CHANNEL;
use super::api::{Api, Update, User};
use super::translate::Translator;
use crate::core::{Admission, HealthEvent, InboundSink, WebhookFuture, WebhookHandler};
use crate::workspace::Workspace;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The webhook of one bot account.
pub struct TelegramWebhook {
    secret: String,
    sink: Arc<dyn InboundSink>,
    account: String,
    typing: bool,
    /// Set once `getMe` and `setWebhook` succeeded.
    ready: OnceLock<Translator>,
}

/// Settings of the webhook setup.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// The public URL Telegram POSTs to (ends in `/channels/telegram/webhook`).
    pub url: String,
    /// The secret Telegram sends back (1-256 of `A-Z a-z 0-9 _ -`).
    pub secret: String,
    /// The channel account (`default`).
    pub account: String,
    /// Show "typing…" while a run answers.
    pub typing: bool,
    /// The workspace files are saved in, under `inbox/telegram/<chat>/`.
    pub media: Arc<Workspace>,
    /// Largest file downloaded, bytes.
    pub max_media_bytes: u64,
    /// Progress drafts, and after how long a run gets one (`None`: off).
    pub drafts: Option<(Arc<super::Drafts>, Duration)>,
}

impl TelegramWebhook {
    /// The handler for `opts`; it answers 503 until [`TelegramWebhook::setup`] is done.
    pub fn new(sink: Arc<dyn InboundSink>, opts: &WebhookOptions) -> Arc<Self> {
        Arc::new(Self {
            secret: opts.secret.clone(),
            sink,
            account: opts.account.clone(),
            typing: opts.typing,
            ready: OnceLock::new(),
        })
    }

    /// On its own thread: `getMe`, then `setWebhook` with the URL and secret, retried with
    /// backoff until both succeed or `shutdown`.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn setup(
        self: &Arc<Self>,
        api: Api,
        opts: WebhookOptions,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let me = self.clone();
        crate::channel::worker::spawn("telegram-webhook".into(), move || {
                let mut wait = crate::channel::worker::Backoff::default();
                while !shutdown.is_cancelled() {
                    let t = Duration::from_secs(30);
                    let done = api
                        .call("getMe", &json!({}), t)
                        .and_then(|u| {
                            let params = json!({"url": opts.url, "secret_token": opts.secret, "allowed_updates": ["message"]});
                            api.call("setWebhook", &params, t).map(|_| u)
                        });
                    match done.map(serde_json::from_value::<User>) {
                        Ok(Ok(bot)) => {
                            let tr = Translator {
                                api: api.clone(),
                                me: bot,
                                account: opts.account.clone(),
                                media: opts.media.clone(),
                                max_media_bytes: opts.max_media_bytes,
                                drafts: opts.drafts.clone(),
                            };
                            let _ = me.ready.set(tr);
                            me.sink.report(CHANNEL, &opts.account, HealthEvent::Ok);
                            tracing::info!(url = %opts.url, "Telegram: webhook set");
                            return;
                        }
                        Ok(Err(e)) => tracing::error!("Telegram getMe: unexpected answer: {e}"),
                        Err(e) => {
                            tracing::error!("{e}; retrying in {}s", wait.current().as_secs());
                            me.sink.report(CHANNEL, &opts.account, HealthEvent::Error(e.to_string()));
                        }
                    }
                    crate::channel::worker::nap(&shutdown, wait.after_failure());
                }
            })
            .map(|_| ())
    }

    async fn take(&self, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
        let got = headers
            .iter()
            .find(|(k, _)| k == "x-telegram-bot-api-secret-token")
            .map(|(_, v)| v.as_str());
        if !got.is_some_and(|g| same(g, &self.secret)) {
            return (
                401,
                json!({"ok": false, "error": "wrong or missing secret token"}).to_string(),
            );
        }
        let Some(tr) = self.ready.get() else {
            return (
                503,
                json!({"ok": false, "error": "the bot is not set up yet"}).to_string(),
            );
        };
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    400,
                    json!({"ok": false, "error": format!("not JSON: {e}")}).to_string(),
                );
            }
        };
        let id = v.get("update_id").and_then(Value::as_i64);
        let update: Update = match serde_json::from_value(v) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(
                    update_id = id,
                    "Telegram: skipping an update Hearth cannot read: {e}"
                );
                return (200, "{}".into());
            }
        };
        // Files are downloaded with the blocking client: off the runtime's workers.
        let tr2 = tr.clone();
        let m = match tokio::task::spawn_blocking(move || {
            update.message.and_then(|m| tr2.inbound(m, None))
        })
        .await
        {
            Ok(Some(m)) => m,
            Ok(None) => return (200, "{}".into()),
            Err(e) => {
                return (
                    503,
                    json!({"ok": false, "error": e.to_string()}).to_string(),
                );
            }
        };
        let origin = m.message.origin.clone();
        self.sink
            .report(CHANNEL, &self.account, HealthEvent::Message);
        match self.sink.accept(m).await {
            Ok(Admission::Accepted { run_id }) => {
                let rt = tokio::runtime::Handle::current();
                tr.follow_run(&rt, self.sink.clone(), self.typing, &origin, run_id);
                (200, "{}".into())
            }
            Ok(Admission::Ignored { reason }) => {
                tracing::info!(update_id = id, "Telegram: message not run: {reason}");
                (200, "{}".into())
            }
            Ok(_) => (200, "{}".into()),
            Err(e) => (503, json!({"ok": false, "error": e}).to_string()),
        }
    }
}

/// Constant-time equality of two secrets (ring's HMAC verification, as the gateway token).
fn same(a: &str, b: &str) -> bool {
    use ring::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"hearth webhook secret comparison");
    hmac::verify(&key, a.as_bytes(), hmac::sign(&key, b.as_bytes()).as_ref()).is_ok()
}

impl WebhookHandler for TelegramWebhook {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn handle<'a>(&'a self, headers: &'a [(String, String)], body: &'a [u8]) -> WebhookFuture<'a> {
        Box::pin(self.take(headers, body))
    }
}
