//! Operating the channels: adapters' health reports, `channels.status` (health with the
//! outbox backlog and dead letters of each account), and sending a message to a platform
//! conversation without a run (`message.send`).

use super::{DispatchError, Dispatcher};
use crate::core::{Activity, ChannelHealth, HealthEvent, Origin, now_ms};
use serde::Serialize;

/// The gateway's own channels (WebSocket, HTTP, webhooks): not chat platforms, so never a
/// `channels.status` account, a `message.send` target or the "last" conversation.
pub(super) const GATEWAY_CHANNELS: [&str; 4] = ["ws", "http", "hooks", "cron"];

/// One channel account in `channels.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    /// The channel (`telegram`, …).
    pub channel: String,
    /// The account (`default`).
    pub account: String,
    /// What its adapter last reported.
    #[serde(flatten)]
    pub health: ChannelHealth,
    /// Outbox rows waiting to be delivered to it.
    pub backlog: u64,
    /// Outbox rows given up on.
    pub dead_letters: u64,
}

impl Dispatcher {
    /// Declares `channel`/`account` so it shows in `channels.status` before it reports.
    pub fn declare_channel(&self, channel: &str, account: &str) {
        self.inner
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((channel.to_string(), account.to_string()))
            .or_default();
    }

    /// Records an adapter's report.
    pub fn report_health(&self, channel: &str, account: &str, ev: HealthEvent) {
        let now = now_ms();
        let mut map = self.inner.health.lock().unwrap_or_else(|p| p.into_inner());
        let h = map
            .entry((channel.to_string(), account.to_string()))
            .or_default();
        match ev {
            HealthEvent::Ok => {
                h.connected = true;
                h.last_ok_ms = Some(now);
            }
            HealthEvent::Message => {
                h.connected = true;
                h.last_message_ms = Some(now);
            }
            HealthEvent::Error(e) => {
                h.connected = false;
                h.errors += 1;
                h.last_error = Some(e);
                h.last_error_ms = Some(now);
            }
        }
    }

    /// Turns running and messages waiting in the lanes now.
    pub fn activity(&self) -> Activity {
        let lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        Activity {
            running: lanes.values().filter(|l| l.running.is_some()).count(),
            queued: lanes.values().map(|l| l.queue.len()).sum(),
        }
    }

    /// Each lane now: its key (a session key), messages waiting, whether a turn runs;
    /// sorted by key. Idle lanes are dropped, so this lists the busy ones.
    pub fn lanes(&self) -> Vec<(String, usize, bool)> {
        let lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = lanes
            .iter()
            .map(|(k, l)| (k.clone(), l.queue.len(), l.running.is_some()))
            .collect();
        v.sort();
        v
    }

    /// Every declared channel account (and any with outbox rows) with its health,
    /// backlog and dead letters, sorted.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub fn channels_status(&self) -> Result<Vec<ChannelStatus>, DispatchError> {
        let s = &self.inner.store;
        let backlog = s.delivery_backlog(&*s.read_txn()?)?;
        let mut health = self
            .inner
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (k, _) in backlog.iter() {
            if !GATEWAY_CHANNELS.contains(&k.0.as_str()) {
                health.entry(k.clone()).or_default();
            }
        }
        Ok(health
            .into_iter()
            .map(|((channel, account), health)| {
                let (b, d) = backlog
                    .get(&(channel.clone(), account.clone()))
                    .copied()
                    .unwrap_or((0, 0));
                ChannelStatus {
                    channel,
                    account,
                    health,
                    backlog: b,
                    dead_letters: d,
                }
            })
            .collect())
    }

    /// Queues `text` for `to` on `channel` (account `default`) through the outbox, with no
    /// run (`hearth message send`).
    ///
    /// # Errors
    /// [`DispatchError::Invalid`] for an unknown channel or empty text;
    /// [`DispatchError::Store`].
    pub async fn message_send(
        &self,
        channel: &str,
        to: &str,
        text: &str,
    ) -> Result<(), DispatchError> {
        if !self.has_outbound(channel) || GATEWAY_CHANNELS.contains(&channel) {
            return Err(DispatchError::Invalid(format!(
                "channel {channel:?} is not a configured chat channel"
            )));
        }
        if text.trim().is_empty() || to.trim().is_empty() {
            return Err(DispatchError::Invalid(
                "to and text must not be empty".into(),
            ));
        }
        let o = Origin {
            channel: channel.to_string(),
            account: "default".into(),
            peer: to.to_string(),
            ..Origin::default()
        };
        self.notice(&o, text, None).await
    }
}
