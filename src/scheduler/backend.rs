//! The scheduler's production [`Backend`]: jobs in the LMDB store, payloads run as turns
//! through the dispatcher (origin channel `cron`, whose replies the outbox does not
//! deliver), replies and heartbeat alerts sent through the outbox to their channel target
//! or the last conversation.

use super::{Backend, BoxFuture, RunReply};
use crate::core::{Origin, SessionKey};
use crate::cron::{ActiveHours, ErrorKind, heartbeat_file_is_empty};
use crate::cron::{CronJob, DeliveryMode, Payload};
use crate::router::{DispatchError, Dispatcher, RunStatus, Submission};
use crate::workspace::{Workspace, WorkspaceError};
use std::sync::Arc;
use std::time::Duration;

/// The heartbeat's settings (`[heartbeat]`).
#[derive(Debug, Clone)]
pub struct HeartbeatOptions {
    /// Interval, ms.
    pub every_ms: u64,
    /// When heartbeats may run; `None`: always.
    pub active: Option<ActiveHours>,
    /// Text allowed beside `HEARTBEAT_OK` in an ack, characters.
    pub ack_max_chars: usize,
    /// Where alerts go: `(channel, to)`, or `None` for the last conversation.
    pub target: Option<(String, String)>,
    /// The prompt of each beat.
    pub prompt: String,
}

/// Jobs in the store, turns through `dispatcher`.
pub struct DispatchBackend {
    /// The dispatcher.
    pub dispatcher: Dispatcher,
    /// The main agent's workspace (HEARTBEAT.md).
    pub workspace: Arc<Workspace>,
    /// The heartbeat, if configured.
    pub heartbeat: Option<HeartbeatOptions>,
    /// How long a turn may take before the run counts as failed.
    pub turn_timeout: Duration,
}

fn cron_origin(label: &str) -> Origin {
    Origin {
        sender_name: Some(label.to_string()),
        ..Origin::gateway("cron")
    }
}

/// Rate limits, overloads, network errors and restarts may pass; the rest will not.
fn kind_of(error: &str) -> ErrorKind {
    let e = error.to_ascii_lowercase();
    let transient = [
        "rate",
        "429",
        "overload",
        "timeout",
        "timed out",
        "network",
        "connect",
        "503",
        "502",
        "500",
        "interrupted",
        "unavailable",
        "cooldown",
    ];
    if transient.iter().any(|t| e.contains(t)) {
        ErrorKind::Transient
    } else {
        ErrorKind::Permanent
    }
}

impl DispatchBackend {
    /// Runs `text` as a turn on `key` and waits for its answer.
    async fn turn(&self, key: SessionKey, label: &str, text: String) -> RunReply {
        let sub = Submission::new(key, cron_origin(label), text);
        let (accepted, _) = self
            .dispatcher
            .submit(sub)
            .await
            .map_err(|e| (ErrorKind::Transient, e.to_string()))?;
        let rec = self
            .dispatcher
            .wait(&accepted.run_id, self.turn_timeout)
            .await
            .map_err(|e: DispatchError| (ErrorKind::Transient, e.to_string()))?;
        match rec.status {
            RunStatus::Completed => Ok(rec.reply.unwrap_or_default()),
            RunStatus::Queued | RunStatus::Running => Err((
                ErrorKind::Transient,
                format!(
                    "run {} still running after {} s",
                    rec.id,
                    self.turn_timeout.as_secs()
                ),
            )),
            other => {
                let why = rec.error.unwrap_or_else(|| format!("{other:?}"));
                Err((kind_of(&why), why))
            }
        }
    }

    /// Sends `text` to `(channel, to)`, or to the last conversation.
    async fn send(&self, target: Option<(String, String)>, text: &str) {
        let to = match target {
            Some((channel, to)) if channel != "last" => Origin {
                account: "default".into(),
                peer: to,
                ..Origin::gateway(&channel)
            },
            _ => match self.dispatcher.last_target() {
                Ok(Some(mut o)) => {
                    o.message_id = None;
                    o
                }
                Ok(None) => {
                    tracing::info!("a scheduled message had no conversation to go to yet");
                    return;
                }
                Err(e) => {
                    tracing::warn!("cannot find the last conversation: {e}");
                    return;
                }
            },
        };
        if let Err(e) = self.dispatcher.notice(&to, text, None).await {
            tracing::warn!(channel = %to.channel, "cannot queue a scheduled message: {e}");
        }
    }
}

impl Backend for DispatchBackend {
    fn load(&self) -> Vec<CronJob> {
        let raw = match self.dispatcher.cron_jobs() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("cannot read the cron jobs: {e}");
                return Vec::new();
            }
        };
        raw.into_iter()
            .filter_map(|v| match serde_json::from_value::<CronJob>(v.clone()) {
                Ok(j) => Some(j),
                Err(e) => {
                    tracing::error!("a stored cron job does not parse ({e}); it is skipped: {v}");
                    None
                }
            })
            .collect()
    }

    fn save(&self, job: &CronJob) -> BoxFuture<'_, Result<(), String>> {
        let (id, v) = (job.id.clone(), serde_json::to_value(job));
        Box::pin(async move {
            let v = v.map_err(|e| e.to_string())?;
            self.dispatcher
                .cron_put(&id, v)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn delete(&self, id: &str) -> BoxFuture<'_, Result<(), String>> {
        let id = id.to_string();
        Box::pin(async move {
            self.dispatcher
                .cron_delete(&id)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn run(&self, job: &CronJob) -> BoxFuture<'_, RunReply> {
        let job = job.clone();
        Box::pin(async move {
            let label = format!(
                "cron job {}",
                if job.name.is_empty() {
                    &job.id
                } else {
                    &job.name
                }
            );
            match &job.payload {
                Payload::AgentTurn { message, .. } => {
                    let key = SessionKey::parse(&format!("agent:main:cron:{}", job.id))
                        .map_err(|e| (ErrorKind::Permanent, e.to_string()))?;
                    self.turn(key, &label, message.clone()).await
                }
                Payload::SystemEvent { text } => {
                    self.turn(SessionKey::main(), &label, format!("System event: {text}"))
                        .await
                }
            }
        })
    }

    fn deliver(&self, job: &CronJob, text: &str) -> BoxFuture<'_, ()> {
        let target = match &job.delivery {
            Some(d) if d.mode == DeliveryMode::None => return Box::pin(async {}),
            Some(d) => match (&d.channel, &d.to) {
                (Some(c), Some(t)) => Some((c.clone(), t.clone())),
                _ => None,
            },
            None => None,
        };
        let text = text.to_string();
        Box::pin(async move { self.send(target, &text).await })
    }

    fn heartbeat(&self) -> Option<super::HeartbeatOptions> {
        self.heartbeat.clone()
    }

    fn beat(&self, events: Vec<String>) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(async move {
            let ws = self.workspace.clone();
            let file =
                tokio::task::spawn_blocking(move || ws.read_to_string("HEARTBEAT.md", 64 << 10))
                    .await
                    .map_err(|e| e.to_string())?;
            let file = match file {
                Ok(t) => Some(t),
                Err(WorkspaceError::NotFound { .. }) => None,
                Err(e) => return Err(e.to_string()),
            };
            // Nothing to check and nothing to tell: no model call (OpenClaw runs a missing
            // HEARTBEAT.md with its default prompt; on a Pi each beat costs a model call).
            if events.is_empty() && file.as_deref().is_none_or(heartbeat_file_is_empty) {
                return Ok(None);
            }
            let Some(h) = &self.heartbeat else {
                return Ok(None);
            };
            let mut prompt = h.prompt.clone();
            if let Some(f) = file.filter(|f| !heartbeat_file_is_empty(f)) {
                prompt.push_str("\n\nHEARTBEAT.md:\n");
                prompt.push_str(f.trim());
            }
            for e in &events {
                prompt.push_str(&format!("\n\nSystem event: {e}"));
            }
            self.turn(SessionKey::main(), "heartbeat", prompt)
                .await
                .map(Some)
                .map_err(|(_, e)| e)
        })
    }

    fn alert(&self, text: &str) -> BoxFuture<'_, ()> {
        let (target, text) = (
            self.heartbeat.as_ref().and_then(|h| h.target.clone()),
            text.to_string(),
        );
        Box::pin(async move { self.send(target, &text).await })
    }
}
