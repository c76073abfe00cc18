//! The approvals broker: where a tool's request for a human's decision goes, and where the
//! answer comes from. Requests are delivered to the owners' direct chats (or configured
//! targets) in OpenClaw's prompt shape and published to WebSocket clients
//! (`exec.approval.requested` / `exec.approval.resolved`,
//! <https://docs.openclaw.ai/gateway/protocol>); answers come from `/approve <id>
//! allow-once|allow-always|deny` in an owner's chat, the `exec.approval.resolve` method or
//! `hearth approvals resolve`. A request nobody answers before it expires is denied.
//!
//! Pending requests live in memory only: after a restart the run that asked is run again
//! (or reported interrupted) and asks again. The allow-list lives in LMDB
//! ([`crate::storage::Store::approvals`]).

use super::Dispatcher;
use crate::core::{AllowEntry, ApprovalRequest, ApprovalsDoc, Decision, Origin, now_ms};
use crate::storage::{Store, StoreError};
use crate::tool::ToolCtx;
use crate::tool::exec::Approvals;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Something WebSocket clients are told about approvals.
#[derive(Debug, Clone)]
pub enum ApprovalEvent {
    /// A request waits for a decision.
    Requested(ApprovalRequest),
    /// A request was decided (or expired: `deny` by `timeout`).
    Resolved {
        /// The request.
        id: String,
        /// The decision.
        decision: Decision,
        /// Who decided (`telegram:42`, `ws`, `cli`, `timeout`).
        by: String,
        /// When, ms since the epoch.
        ts_ms: u64,
    },
}

/// Settings of the broker (`[approvals]`).
#[derive(Debug, Clone)]
pub struct ApprovalOptions {
    /// How long a request waits, ms.
    pub timeout_ms: u64,
    /// Direct chats every request is sent to (the owners'); a request is never posted
    /// into a group chat.
    pub targets: Vec<Origin>,
}

struct Pending {
    req: ApprovalRequest,
    answer: mpsc::Sender<(Decision, String)>,
}

struct Inner {
    store: Store,
    opts: ApprovalOptions,
    pending: Mutex<HashMap<String, Pending>>,
    events: broadcast::Sender<ApprovalEvent>,
    dispatcher: OnceLock<Weak<super::Inner>>,
    rt: tokio::runtime::Handle,
}

/// Cheap cloneable handle to the broker.
#[derive(Clone)]
pub struct ApprovalBroker {
    inner: Arc<Inner>,
}

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No request with that id is waiting (answered, expired, or never made).
    #[error("no approval request {0:?} is waiting")]
    Unknown(String),
    /// The decision is not one the request offers.
    #[error("{decision} is not offered for {id} (offered: {offered})")]
    NotOffered {
        /// The request.
        id: String,
        /// The decision given.
        decision: &'static str,
        /// The decisions it offers.
        offered: String,
    },
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ApprovalBroker {
    /// A broker over `store`, delivering through the dispatcher attached later
    /// ([`ApprovalBroker::attach`]); must be made inside the tokio runtime.
    pub fn new(store: Store, opts: ApprovalOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                opts,
                pending: Mutex::new(HashMap::new()),
                events: broadcast::channel(64).0,
                dispatcher: OnceLock::new(),
                rt: tokio::runtime::Handle::current(),
            }),
        }
    }

    /// Delivers requests through `d` from now on, and makes itself `d`'s broker for
    /// `/approve` (the dispatcher is built after the tools that ask). The broker holds the
    /// dispatcher weakly: the dispatcher owns it.
    pub fn attach(&self, d: &Dispatcher) {
        let _ = self.inner.dispatcher.set(Arc::downgrade(&d.inner));
        let _ = d.inner.approvals.set(self.clone());
    }

    /// Approval events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.inner.events.subscribe()
    }

    /// The requests waiting, oldest first.
    pub fn pending(&self) -> Vec<ApprovalRequest> {
        let mut out: Vec<ApprovalRequest> = lock(&self.inner.pending)
            .values()
            .map(|p| p.req.clone())
            .collect();
        out.sort_by_key(|r| r.created_at_ms);
        out
    }

    /// Answers request `id` with `decision`, given by `by`.
    ///
    /// # Errors
    /// [`ResolveError`] for an unknown id or a decision the request does not offer.
    pub fn resolve(&self, id: &str, decision: Decision, by: &str) -> Result<(), ResolveError> {
        let mut pending = lock(&self.inner.pending);
        let p = pending
            .get(id)
            .ok_or_else(|| ResolveError::Unknown(id.to_string()))?;
        if !p.req.allowed_decisions.contains(&decision) {
            let offered: Vec<&str> = p.req.allowed_decisions.iter().map(|d| d.as_str()).collect();
            return Err(ResolveError::NotOffered {
                id: id.to_string(),
                decision: decision.as_str(),
                offered: offered.join(", "),
            });
        }
        let p = pending.remove(id).expect("looked up above");
        let _ = p.answer.send((decision, by.to_string()));
        Ok(())
    }

    /// The approvals document.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn document(&self) -> Result<ApprovalsDoc, StoreError> {
        let r = self.inner.store.read_txn()?;
        self.inner.store.approvals(&r)
    }

    /// Replaces the approvals document (an import).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn set_document(&self, doc: ApprovalsDoc) -> Result<(), StoreError> {
        self.inner
            .store
            .write(move |s, w| s.put_approvals(w, &doc))
            .await
    }

    /// Changes the document on the store's writer (called from tools' blocking threads).
    fn update(&self, f: impl FnOnce(&mut ApprovalsDoc) + Send + 'static) {
        let r = self.inner.store.write_blocking(move |s, w| {
            let mut doc = s.approvals(w)?;
            f(&mut doc);
            s.put_approvals(w, &doc)
        });
        if let Err(e) = r {
            tracing::error!("cannot update the approvals document: {e}");
        }
    }

    /// Sends `text` to every target, in the background.
    fn tell(&self, text: String) {
        let Some(inner) = self.inner.dispatcher.get().and_then(Weak::upgrade) else {
            return;
        };
        let d = Dispatcher { inner };
        let targets = self.inner.opts.targets.clone();
        self.inner.rt.spawn(async move {
            for t in targets {
                if let Err(e) = d.notice(&t, &text, None).await {
                    tracing::warn!(channel = %t.channel, "cannot deliver an approval message: {e}");
                }
            }
        });
    }
}

/// The reply to an owner's `/approve …` (OpenClaw's parser, `commands-approve.ts`:
/// `/approve <id> <decision>` or `/approve <decision> <id>`, the command word optionally
/// carrying the bot's name), answered as `by`; `None` when `text` is not `/approve`.
pub fn approve_command(broker: Option<&ApprovalBroker>, text: &str, by: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let cmd = words.next()?;
    if !cmd.split('@').next()?.eq_ignore_ascii_case("/approve") {
        return None;
    }
    let usage = "Usage: /approve <id> allow-once|allow-always|deny".to_string();
    let (Some(a), Some(b), None) = (words.next(), words.next(), words.next()) else {
        return Some(usage);
    };
    let (id, decision) = match (Decision::parse(a), Decision::parse(b)) {
        (Some(d), None) => (b, d),
        (None, Some(d)) => (a, d),
        _ => return Some(usage),
    };
    let Some(broker) = broker else {
        return Some("No approvals are handled here.".into());
    };
    Some(match broker.resolve(id, decision, by) {
        Ok(()) => format!("✅ Approval {} submitted for {id}.", decision.as_str()),
        Err(e) => format!("❌ {e}."),
    })
}

/// OpenClaw's prompt (`buildExecApprovalRequestMessage`), line by line.
fn prompt_text(req: &ApprovalRequest) -> String {
    let command = if req.command.contains('\n') || req.command.contains('`') {
        format!("```\n{}\n```", req.command)
    } else {
        format!("`{}`", req.command)
    };
    let decisions: Vec<&str> = req.allowed_decisions.iter().map(|d| d.as_str()).collect();
    let mins = (req.expires_at_ms.saturating_sub(req.created_at_ms)).div_ceil(60_000);
    let title = if req.tool == "exec" {
        "Exec approval required".to_string()
    } else {
        format!("Approval required for {}", req.tool)
    };
    format!(
        "🔒 {title}\nID: {}\nCommand: {command}\nWhy: {}\nAgent: {}\nRequested by: {}\nExpires in: {mins} min\nReply with: /approve {} {}",
        req.id,
        req.reason,
        req.agent_id,
        req.requested_by,
        req.id,
        decisions.join("|")
    )
}

impl Approvals for ApprovalBroker {
    fn allowlist(&self, agent: &str) -> Vec<AllowEntry> {
        match self.document() {
            Ok(doc) => doc
                .agents
                .get(agent)
                .map(|a| a.allowlist.clone())
                .unwrap_or_default(),
            Err(e) => {
                tracing::error!("cannot read the approvals document: {e}");
                Vec::new()
            }
        }
    }

    fn record(&self, agent: &str, used: &[AllowEntry], added: Vec<AllowEntry>, command: &str) {
        let now = now_ms();
        let (agent, used, command) = (agent.to_string(), used.to_vec(), command.to_string());
        self.update(move |doc| {
            let list = &mut doc.agents.entry(agent).or_default().allowlist;
            for e in list.iter_mut() {
                if used
                    .iter()
                    .any(|u| u.pattern == e.pattern && u.arg_pattern == e.arg_pattern)
                {
                    e.last_used_at = Some(now);
                    e.last_used_command = Some(command.clone());
                }
            }
            list.extend(added);
        });
    }

    fn ask(&self, ctx: &ToolCtx, req: ApprovalRequest) -> Option<(Decision, String)> {
        let (tx, rx) = mpsc::channel();
        let id = req.id.clone();
        lock(&self.inner.pending).insert(
            id.clone(),
            Pending {
                req: req.clone(),
                answer: tx,
            },
        );
        let _ = self
            .inner
            .events
            .send(ApprovalEvent::Requested(req.clone()));
        self.tell(prompt_text(&req));
        ctx.progress(&format!("waiting for approval {id}: {}", req.reason));
        let answer = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(a) => break Some(a),
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if ctx.cancelled() || now_ms() >= req.expires_at_ms {
                        break None;
                    }
                }
            }
        };
        lock(&self.inner.pending).remove(&id);
        let (decision, by) = answer
            .clone()
            .unwrap_or((Decision::Deny, "timeout".to_string()));
        let _ = self.inner.events.send(ApprovalEvent::Resolved {
            id: id.clone(),
            decision,
            by: by.clone(),
            ts_ms: now_ms(),
        });
        self.tell(match &answer {
            None if ctx.cancel.is_cancelled() => {
                format!("⏹️ Approval {id} withdrawn: the run ended.")
            }
            None => format!("⏱️ Approval expired. ID: {id}"),
            Some((d, by)) => format!("✅ Approval {}. Resolved by {by}. ID: {id}", d.as_str()),
        });
        answer
    }

    fn timeout_ms(&self) -> u64 {
        self.inner.opts.timeout_ms
    }
}

#[cfg(test)]
mod tests {
    use super::approve_command;

    #[test]
    fn approve_takes_either_order_and_the_aliases() {
        let usage = "Usage: /approve <id> allow-once|allow-always|deny";
        for bad in [
            "/approve",
            "/approve abc",
            "/approve abc maybe",
            "/approve a b c",
        ] {
            assert_eq!(
                approve_command(None, bad, "t:1").as_deref(),
                Some(usage),
                "{bad}"
            );
        }
        for good in [
            "/approve ab12 allow-once",
            "/approve deny ab12",
            "/APPROVE@hearth_bot ab12 always",
        ] {
            assert_eq!(
                approve_command(None, good, "t:1").as_deref(),
                Some("No approvals are handled here."),
                "{good}"
            );
        }
        assert_eq!(approve_command(None, "/approved ab12 deny", "t:1"), None);
        assert_eq!(approve_command(None, "hello", "t:1"), None);
    }
}
