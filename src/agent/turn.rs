//! One turn from its first commit to its last: take the messages (they enter the
//! transcript), run the loop (`run.rs`), commit the outcome for every run the turn
//! answers, then report it.

use super::{Agent, run};
use crate::core::{ChatMessage, ClientTurn, EventKind, Origin, Role, ToolCall, now_ms};
use crate::storage::{InboxEntry, RunRecord, RunStatus, Store, StoreError, Wtxn};
use crate::tool::Caller;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Transcript entries read back to find the calls a client's tool results answer.
const PENDING_LOOKBACK: usize = 64;

/// A turn a lane hands to the agent.
pub struct Turn {
    /// The turn's run id (the first message's run).
    pub run_id: String,
    /// The session.
    pub session_key: String,
    /// The messages it answers, oldest first (already taken when `resume` is set).
    pub entries: Vec<InboxEntry>,
    /// After a crash: the messages are already in the transcript and the runs running;
    /// run the loop again from there.
    pub resume: bool,
    /// A line the model should see before the messages (what a full queue dropped).
    pub note: Option<String>,
    /// Aborts the turn (recorded as `aborted`).
    pub cancel: CancellationToken,
    /// Stops the turn without recording an outcome (gateway shutdown).
    pub shutdown: CancellationToken,
}

/// What the turn reports back to its lane while it runs.
pub trait TurnHooks: Send + Sync {
    /// An event of the turn (the lane adds run id, session key, sequence and time).
    fn emit(&self, kind: EventKind);
    /// Messages waiting to be steered into the turn at this step boundary (empty unless
    /// the lane is in `steer` mode). They are committed with the step.
    fn steer(&self) -> Vec<InboxEntry>;
}

/// How a turn ended.
#[derive(Debug)]
pub enum TurnEnd {
    /// The outcome is committed; the turn's own run record.
    Done(Box<RunRecord>),
    /// Stopped by shutdown; nothing was recorded, the next start picks it up.
    Suspended,
}

/// Why the loop stopped without an answer.
pub(super) enum Stop {
    Cancelled,
    Shutdown,
    Failed(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(format!("store: {e}"))
    }
}

/// The runs a turn answers and their inbox entries, growing as messages are steered in.
#[derive(Default, Clone)]
pub(super) struct Answered {
    pub runs: Vec<String>,
    pub seqs: Vec<u64>,
}

/// The user message for `entries`: their texts in order (one blank line apart), each
/// attachment as a line naming its path, type and size, after the optional `note`.
pub(super) fn user_message(entries: &[InboxEntry], note: Option<&str>) -> ChatMessage {
    let mut parts: Vec<String> = note.map(str::to_string).into_iter().collect();
    for e in entries {
        let mut t = e.message.text.clone();
        for a in &e.message.attachments {
            t.push_str(&format!(
                "\n[attachment: {} ({}, {} bytes)]",
                a.path.display(),
                a.mime,
                a.size
            ));
        }
        parts.push(t);
    }
    ChatMessage::text(Role::User, parts.join("\n\n"))
}

/// The messages `entries` add to the conversation: first the results of client tool
/// calls they carry, matched to `pending` (by call id when the client gives one, else in
/// order), then the user message — left out when the entries only carry tool results.
/// Results with no pending call left are shown to the model as a user message instead.
pub(super) fn turn_messages(
    entries: &[InboxEntry],
    note: Option<&str>,
    pending: &[ToolCall],
) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    let mut open: Vec<&ToolCall> = pending.iter().collect();
    let mut unmatched = Vec::new();
    let mut any_result = false;
    for r in entries
        .iter()
        .filter_map(|e| e.client.as_ref())
        .flat_map(|c| &c.tool_results)
    {
        any_result = true;
        let at = r
            .call_id
            .as_ref()
            .and_then(|id| open.iter().position(|c| &c.id == id))
            .or_else(|| (!open.is_empty()).then_some(0));
        match at {
            Some(i) => {
                let call = open.remove(i);
                out.push(ChatMessage::tool_result(
                    &call.id,
                    &call.name,
                    r.content.clone(),
                ));
            }
            None => unmatched.push(r.content.clone()),
        }
    }
    let has_text = note.is_some()
        || entries
            .iter()
            .any(|e| !e.message.text.trim().is_empty() || !e.message.attachments.is_empty());
    if has_text || !any_result {
        out.push(user_message(entries, note));
    }
    if !unmatched.is_empty() {
        out.push(ChatMessage::text(
            Role::User,
            format!(
                "[results of tools the client ran]\n{}",
                unmatched.join("\n\n")
            ),
        ));
    }
    out
}

/// The calls of the last assistant message of `history` that have no result after it.
pub(super) fn pending_calls(history: &[ChatMessage]) -> Vec<ToolCall> {
    let Some(at) = history.iter().rposition(|m| m.role == Role::Assistant) else {
        return Vec::new();
    };
    let answered: Vec<&str> = history[at + 1..]
        .iter()
        .filter_map(|m| m.tool_call_id.as_deref())
        .collect();
    history[at]
        .tool_calls
        .iter()
        .filter(|c| !answered.contains(&c.id.as_str()))
        .cloned()
        .collect()
}

/// The client context of a turn: the newest entry's system prompt and tools (a merged
/// turn answers its latest request), every entry's tool results.
fn client_of(entries: &[InboxEntry]) -> Option<ClientTurn> {
    let newest = entries.iter().rev().find_map(|e| e.client.as_ref())?;
    Some(ClientTurn {
        system: newest.system.clone(),
        tools: newest.tools.clone(),
        tool_results: Vec::new(),
    })
}

/// Marks `entries` taken by `turn` and their runs running (inside the caller's commit).
pub(super) fn take(
    s: &Store,
    w: &mut Wtxn<'_>,
    turn: &str,
    session_id: u64,
    entries: &[InboxEntry],
) -> Result<(), StoreError> {
    for e in entries {
        let mut e = e.clone();
        e.taken_by = Some(turn.to_string());
        s.inbox_put(w, &e)?;
        let mut r = s
            .run(w, &e.run_id)?
            .unwrap_or_else(|| RunRecord::queued(e.run_id.clone(), e.session_key.clone()));
        r.status = RunStatus::Running;
        r.session_id = session_id;
        r.turn = (e.run_id != turn).then(|| turn.to_string());
        s.put_run(w, &r)?;
    }
    Ok(())
}

/// What the origins of a finished turn are sent: the answer, or for a failed turn a short
/// notice with the reason; nothing for an aborted one (the user stopped it).
fn delivered_text(rec: &RunRecord) -> Option<String> {
    if !rec.tool_calls.is_empty() {
        // The client that owns the tools reads them from the run; nothing to deliver.
        return None;
    }
    match rec.status {
        RunStatus::Completed => rec.reply.clone().filter(|t| !t.trim().is_empty()),
        RunStatus::Failed => Some(format!(
            "I could not answer this: {}",
            rec.error.as_deref().unwrap_or("unknown error")
        )),
        _ => None,
    }
}

impl Agent {
    /// Runs `turn` to its end: commits its messages, runs the loop, commits the outcome for
    /// every run it answers, then emits `Finished` or `Failed`.
    pub async fn run_turn(&self, turn: Turn, hooks: Arc<dyn TurnHooks>) -> TurnEnd {
        let mut answered = Answered {
            runs: turn.entries.iter().map(|e| e.run_id.clone()).collect(),
            seqs: turn.entries.iter().map(|e| e.seq).collect(),
        };
        let rec = match self.begin(&turn).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(run = %turn.run_id, "cannot start the turn: {e}");
                // Nothing was taken: the entries stay queued for the next start.
                return TurnEnd::Suspended;
            }
        };
        hooks.emit(EventKind::Started {
            run_ids: answered.runs.clone(),
        });
        let stateless = turn
            .entries
            .first()
            .and_then(|e| e.stateless_history.clone())
            .map(|mut h| {
                let pending = pending_calls(&h);
                h.extend(turn_messages(&turn.entries, turn.note.as_deref(), &pending));
                h
            });
        let client = client_of(&turn.entries);
        let mut rec = rec;
        let timeout = self.inner.opts.run_timeout;
        // Tools run on blocking threads the select below cannot drop: they are told to stop
        // (an `exec` kills its process group) whichever way the turn ends.
        let tools = run::ToolScope {
            caller: self.caller(&turn),
            cancel: turn.cancel.child_token(),
            deadline: std::time::Instant::now() + timeout,
        };
        let outcome = tokio::select! {
            biased;
            _ = turn.shutdown.cancelled() => Err(Stop::Shutdown),
            _ = turn.cancel.cancelled() => Err(Stop::Cancelled),
            r = run::steps(self, &mut rec, &mut answered, stateless, client.as_ref(), &tools, &hooks) => r,
            _ = tokio::time::sleep(timeout) => {
                turn.cancel.cancel();
                Err(Stop::Failed(format!("run timed out after {}s", timeout.as_secs())))
            }
        };
        tools.cancel.cancel();
        if matches!(outcome, Err(Stop::Shutdown)) {
            return TurnEnd::Suspended;
        }
        let rec = self.finish(rec, answered, outcome).await;
        hooks.emit(rec.outcome());
        TurnEnd::Done(Box::new(rec))
    }

    /// Who the turn's tool calls are attributed to: its session, this agent, and the
    /// origin of its first message (a resumed turn's entries keep theirs).
    fn caller(&self, turn: &Turn) -> Caller {
        Caller {
            run_id: turn.run_id.clone(),
            session_key: turn.session_key.clone(),
            agent: self.inner.opts.id.clone(),
            origin: turn
                .entries
                .first()
                .map(|e| e.message.origin.clone())
                .unwrap_or_else(|| Origin::gateway("ws")),
        }
    }

    /// The turn's first commit: the user message into the transcript, the entries taken,
    /// the runs running. Returns the turn's run record.
    async fn begin(&self, turn: &Turn) -> Result<RunRecord, StoreError> {
        let (id, key, resume) = (turn.run_id.clone(), turn.session_key.clone(), turn.resume);
        let entries = turn.entries.clone();
        let note = turn.note.clone();
        self.inner
            .store
            .write(move |s, w| {
                if resume && let Some(rec) = s.run(w, &id)? {
                    return Ok(rec);
                }
                let stateless = entries
                    .first()
                    .is_some_and(|e| e.stateless_history.is_some());
                let mut session_id = 0;
                if !stateless {
                    let mut session = s.session_or_create(w, &key)?;
                    let tail: Vec<ChatMessage> = s
                        .transcript_tail(w, session.id, PENDING_LOOKBACK)?
                        .into_iter()
                        .map(|e| e.message)
                        .collect();
                    for m in turn_messages(&entries, note.as_deref(), &pending_calls(&tail)) {
                        s.append(w, &mut session, Some(&id), m)?;
                    }
                    session_id = session.id;
                }
                take(s, w, &id, session_id, &entries)?;
                let mut rec = s
                    .run(w, &id)?
                    .unwrap_or_else(|| RunRecord::queued(id.clone(), key.clone()));
                rec.started_ms = now_ms();
                s.put_run(w, &rec)?;
                Ok(rec)
            })
            .await
    }

    /// The turn's last commit: the answer (if any), every answered run final, the inbox
    /// entries gone, and the outbox rows that deliver the answer to their origins. Returns the turn's final record (status `failed` when the commit
    /// itself failed).
    async fn finish(
        &self,
        mut rec: RunRecord,
        answered: Answered,
        outcome: Result<ChatMessage, Stop>,
    ) -> RunRecord {
        rec.ended_ms = Some(now_ms());
        let answer = match outcome {
            // Stopped for the client's tools: the calls are in the transcript already.
            Ok(paused) if !paused.tool_calls.is_empty() => {
                rec.status = RunStatus::Completed;
                rec.reply = Some(paused.content);
                rec.tool_calls = paused.tool_calls;
                None
            }
            Ok(answer) => {
                rec.status = RunStatus::Completed;
                rec.reply = Some(answer.content.clone());
                Some(answer)
            }
            Err(stop) => {
                (rec.status, rec.error) = match stop {
                    Stop::Cancelled => (RunStatus::Aborted, Some("aborted".into())),
                    Stop::Failed(m) => (RunStatus::Failed, Some(m)),
                    // Not reached: a shutdown returns before `finish`.
                    Stop::Shutdown => (RunStatus::Aborted, Some("gateway shutdown".into())),
                };
                None
            }
        };
        let out = rec.clone();
        let committed = self
            .inner
            .store
            .write(move |s, w| {
                if let Some(mut session) = s.run_session(w, &rec)? {
                    if let Some(msg) = answer {
                        s.append(w, &mut session, Some(&rec.id), msg)?;
                    }
                    if rec.status == RunStatus::Completed {
                        session.sticky_profile = rec.profile.clone();
                        session.last_model = rec.model.clone();
                        s.put_session(w, &session)?;
                    }
                }
                for id in &answered.runs {
                    if *id == rec.id {
                        continue;
                    }
                    if let Some(mut r) = s.run(w, id)? {
                        r.status = rec.status;
                        r.reply = rec.reply.clone();
                        r.tool_calls = rec.tool_calls.clone();
                        r.error = rec.error.clone();
                        r.ended_ms = rec.ended_ms;
                        r.model = rec.model.clone();
                        r.turn = Some(rec.id.clone());
                        s.put_run(w, &r)?;
                    }
                }
                s.put_run(w, &rec)?;
                let mut entries = Vec::with_capacity(answered.seqs.len());
                for seq in &answered.seqs {
                    entries.extend(s.inbox_get(w, *seq)?);
                    s.inbox_delete(w, *seq)?;
                }
                if let Some(text) = delivered_text(&rec) {
                    s.delivery_reply(w, &rec.id, &rec.session_key, &entries, &text)?;
                }
                Ok(())
            })
            .await;
        let mut out = out;
        if let Err(e) = committed {
            tracing::error!(run = %out.id, "cannot commit the turn's outcome: {e}");
            out.status = RunStatus::Failed;
            out.reply = None;
            out.error = Some(format!("the outcome could not be saved: {e}"));
        }
        out
    }
}
