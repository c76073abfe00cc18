//! [`DispatcherLink`]: the dispatcher for tools built before it (an agent's tools are made
//! first, then the agent, then the dispatcher that runs it). It holds the dispatcher
//! weakly — the dispatcher owns the agents that own the tools — and implements
//! [`Conversations`] for `message` and the session tools.

use super::{Dispatcher, Inner, RunStatus, Submission};
use crate::core::{Origin, SessionKey};
use crate::tool::sessions::{Conversations, SendOutcome, SessionInfo};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// A late-bound handle to the dispatcher.
#[derive(Clone, Default)]
pub struct DispatcherLink {
    inner: Arc<OnceLock<Weak<Inner>>>,
    rt: Arc<OnceLock<tokio::runtime::Handle>>,
    /// `channel:peer` pairs `message` may write to besides the run's own chat.
    allowed: Arc<BTreeSet<String>>,
}

impl DispatcherLink {
    /// A link that lets `message` write to the targets in `allowed` besides the run's own
    /// chat: the owners and `[tools] message_targets` (`channel:peer`, or `telegram:*`
    /// for any peer on a channel).
    pub fn new(allowed: BTreeSet<String>) -> Self {
        Self {
            allowed: Arc::new(allowed),
            ..Self::default()
        }
    }

    /// Binds the link to `d` (inside the runtime).
    pub fn attach(&self, d: &Dispatcher) {
        let _ = self.inner.set(Arc::downgrade(&d.inner));
        let _ = self.rt.set(tokio::runtime::Handle::current());
    }

    fn get(&self) -> Result<(Dispatcher, tokio::runtime::Handle), String> {
        let inner = self
            .inner
            .get()
            .and_then(Weak::upgrade)
            .ok_or("the gateway is not running")?;
        let rt = self.rt.get().cloned().ok_or("the gateway is not running")?;
        Ok((Dispatcher { inner }, rt))
    }
}

impl Conversations for DispatcherLink {
    fn send(&self, channel: &str, to: &str, text: &str) -> Result<(), String> {
        let (d, rt) = self.get()?;
        rt.block_on(d.message_send(channel, to, text))
            .map_err(|e| e.to_string())
    }

    fn may_message(&self, channel: &str, to: &str) -> bool {
        self.allowed.contains(&format!("{channel}:{to}"))
            || self.allowed.contains(&format!("{channel}:*"))
    }

    fn sessions(&self, agent: &str, limit: usize) -> Result<Vec<SessionInfo>, String> {
        let (d, _) = self.get()?;
        let prefix = format!("agent:{agent}:");
        let mut out: Vec<SessionInfo> = d
            .sessions()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|s| s.key.starts_with(&prefix))
            .map(|s| SessionInfo {
                key: s.key,
                updated_ms: s.updated_ms,
                messages: s.next_seq,
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
        out.truncate(limit);
        Ok(out)
    }

    fn history(&self, key: &str, limit: usize) -> Result<Vec<(String, String)>, String> {
        let (d, _) = self.get()?;
        let entries = d.history(key, limit).map_err(|e| e.to_string())?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let role = serde_json::to_value(e.message.role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                (role, e.message.content)
            })
            .collect())
    }

    fn send_to_session(
        &self,
        key: &str,
        text: &str,
        wait: Duration,
    ) -> Result<SendOutcome, String> {
        let (d, rt) = self.get()?;
        let key = SessionKey::parse(key)?;
        let sub = Submission::new(key, Origin::gateway("cron"), text.to_string());
        rt.block_on(async {
            let (acc, _) = d.submit(sub).await.map_err(|e| e.to_string())?;
            if wait.is_zero() {
                return Ok(SendOutcome::Pending(acc.run_id));
            }
            let rec = d.wait(&acc.run_id, wait).await.map_err(|e| e.to_string())?;
            Ok(match rec.status {
                RunStatus::Completed => SendOutcome::Reply(rec.reply.unwrap_or_default()),
                RunStatus::Queued | RunStatus::Running => SendOutcome::Pending(acc.run_id),
                other => SendOutcome::Failed(rec.error.unwrap_or_else(|| format!("{other:?}"))),
            })
        })
    }
}
