//! Chat commands, answered by the dispatcher without a turn in every channel: `/new` and
//! `/reset` (a fresh transcript), `/stop` (abort the running turn, clear the queue),
//! `/status` (session, models, queue, lane) and `/queue …` (OpenClaw's queue directive,
//! <https://docs.openclaw.ai/concepts/queue>). A command's reply, its completed run record,
//! its outbox row, its idempotency record and the platform cursor are one commit, so a
//! redelivered command is answered once. Also [`Dispatcher::notice`]: a reply with no run
//! (pairing codes, refusals).

use super::{Accepted, Cursor, DEDUPE_TTL_MS, DispatchError, Dispatcher, Follow, new_run_id};
use super::{RunRecord, RunStatus, Submission};
use crate::core::{Origin, OutboundMessage, QueueDirective};
use crate::storage::{OutboxRow, Store, StoreError, Wtxn};

/// The chat commands every channel answers: name, description, whether it takes
/// arguments (`commands.list`; `/approve` and `/pair` are answered from an owner's chat).
pub const COMMANDS: [(&str, &str, bool); 7] = [
    (
        "/new",
        "Start a new session (the old transcript is kept, unlisted).",
        false,
    ),
    ("/reset", "Same as /new.", false),
    (
        "/stop",
        "Abort the running turn and drop the queued messages.",
        false,
    ),
    ("/status", "Model, queue and session status.", false),
    (
        "/queue",
        "Show or set this session's queue mode, debounce, cap and drop policy.",
        true,
    ),
    (
        "/approve",
        "Answer an approval request: /approve <id> allow-once|allow-always|deny.",
        true,
    ),
    (
        "/pair",
        "Pairing requests: /pair list | /pair approve CODE | /pair reject CODE.",
        true,
    ),
];

/// A chat command.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatCommand {
    /// `/new` or `/reset`.
    Reset,
    /// `/stop`.
    Stop,
    /// `/status`.
    Status,
    /// `/queue …`.
    Queue(QueueDirective),
}

impl ChatCommand {
    /// Parses `text` when it is a command. The command word may carry the bot's name as
    /// Telegram sends it in groups (`/status@hearth_bot`). `None` for ordinary text.
    ///
    /// # Errors
    /// A message saying what is wrong with a malformed `/queue` directive.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let t = text.trim_start();
        let word = t.split_whitespace().next()?;
        let name = word.split('@').next().unwrap_or(word);
        let rest = &t[word.len()..];
        match name {
            "/new" | "/reset" if rest.trim().is_empty() => Some(Ok(Self::Reset)),
            "/stop" if rest.trim().is_empty() => Some(Ok(Self::Stop)),
            "/status" if rest.trim().is_empty() => Some(Ok(Self::Status)),
            "/queue" => QueueDirective::parse(&format!("/queue{rest}")).map(|r| r.map(Self::Queue)),
            _ => None,
        }
    }
}

/// Writes a pending outbox row answering `origin` with `text`, and the cursor, if any.
fn reply_row(
    s: &Store,
    w: &mut Wtxn<'_>,
    run_id: &str,
    session_key: &str,
    origin: &Origin,
    text: &str,
    cursor: Option<&Cursor>,
) -> Result<(), StoreError> {
    let mut row = OutboxRow::pending(run_id, session_key, OutboundMessage::reply(origin, text));
    s.delivery_push(w, &mut row)?;
    if let Some(c) = cursor {
        s.put_cursor(w, &c.channel, &c.account, &c.value)?;
    }
    Ok(())
}

impl Dispatcher {
    /// Runs `cmd` for `sub`'s session and answers it with a completed run (its reply is the
    /// command's answer, delivered through the outbox to the origin).
    pub(super) async fn command(
        &self,
        sub: Submission,
        cmd: ChatCommand,
    ) -> Result<(Accepted, Follow), DispatchError> {
        let inner = self.inner.clone();
        let key = sub.session_key.to_string();
        let dedupe_key = sub
            .idempotency_key
            .as_ref()
            .map(|k| format!("send:{key}:{k}"));
        let lookup = dedupe_key.clone().filter(|_| !sub.record_only);
        if let Some(dk) = &lookup
            && let Some(first) = inner.store.dedupe_get(&*inner.store.read_txn()?, dk)?
        {
            return self.repeat(first);
        }
        match cmd {
            ChatCommand::Reset | ChatCommand::Stop => {
                self.abort(&key, None, true).await;
            }
            ChatCommand::Status | ChatCommand::Queue(_) => {}
        }
        let status = self.status().ok();
        let lane = {
            let lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes
                .get(&key)
                .map(|l| (l.running.is_some(), l.queue.len()))
        };
        let models: Vec<String> = inner
            .agent_for(&key)
            .chain()
            .models()
            .iter()
            .map(|m| m.to_string())
            .collect();
        let channel = sub.message.origin.channel.clone();
        let base = inner.settings_for(&channel, None);
        let run_id = new_run_id();
        let acc = Accepted {
            run_id: run_id.clone(),
            session_key: key.clone(),
            deduped: false,
        };
        let (acc_w, origin, cursor) = (acc.clone(), sub.message.origin, sub.cursor);
        let (session, first) = inner
            .store
            .write(move |s, w| {
                if let Some(dk) = &lookup
                    && let Some(first) = s.dedupe_get(w, dk)?
                {
                    if let Some(c) = &cursor {
                        s.put_cursor(w, &c.channel, &c.account, &c.value)?;
                    }
                    return Ok((None, Some(first)));
                }
                let reply = match cmd {
                    ChatCommand::Reset => {
                        s.reset_session(w, &key)?;
                        "Started a new session: the conversation so far is set aside.".into()
                    }
                    ChatCommand::Stop => "Stopped: the running turn was aborted and the \
                                          queue cleared."
                        .into(),
                    ChatCommand::Status => {
                        let session = s.session(w, &key)?;
                        let eff = session
                            .as_ref()
                            .and_then(|x| x.queue.as_ref())
                            .map_or(base, |p| base.with(p));
                        let (running, queued) = lane.unwrap_or((false, 0));
                        format!(
                            "Session {key} ({} messages). Models: {}. Queue: {:?}, debounce {} ms, \
                             cap {}. Now: {}, {queued} waiting.{}",
                            session.map_or(0, |x| x.next_seq),
                            if models.is_empty() {
                                "none".to_string()
                            } else {
                                models.join(" → ")
                            },
                            eff.mode,
                            eff.debounce_ms,
                            eff.cap,
                            if running { "a turn is running" } else { "idle" },
                            status.map_or(String::new(), |st| format!(
                                " Outbox: {} pending, {} dead.",
                                st.outbox.pending, st.outbox.dead
                            )),
                        )
                    }
                    ChatCommand::Queue(d) => queue_reply(s, w, &key, d, base)?,
                };
                let mut rec = RunRecord::queued(run_id.clone(), key.clone());
                rec.status = RunStatus::Completed;
                rec.ended_ms = Some(crate::core::now_ms());
                rec.reply = Some(reply.clone());
                s.put_run(w, &rec)?;
                reply_row(s, w, &run_id, &key, &origin, &reply, cursor.as_ref())?;
                if let Some(dk) = &dedupe_key {
                    let v = serde_json::to_value(&acc_w).unwrap_or_default();
                    s.dedupe_put(w, dk, &v, DEDUPE_TTL_MS)?;
                }
                Ok((s.session(w, &key)?, None))
            })
            .await?;
        if let Some(first) = first {
            return self.repeat(first);
        }
        inner.outbox.wake();
        let eff = inner.settings_for(&channel, session.as_ref());
        if let Some(l) = inner
            .lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&acc.session_key)
        {
            l.settings = eff;
        }
        let follow = Follow::finished(acc.run_id.clone(), inner.store.clone());
        Ok((acc, follow))
    }

    /// The acknowledgement of a repeated idempotency key: the first run.
    pub(super) fn repeat(
        &self,
        first: serde_json::Value,
    ) -> Result<(Accepted, Follow), DispatchError> {
        let mut first: Accepted = serde_json::from_value(first).map_err(|e| {
            DispatchError::Invalid(format!("stored idempotency record is unreadable: {e}"))
        })?;
        first.deduped = true;
        let follow = self.follow(&first.run_id);
        Ok((first, follow))
    }

    /// Sends `text` to `origin` through the outbox without a run (a pairing code, a
    /// refusal), committing `cursor` with it.
    ///
    /// # Errors
    /// [`DispatchError::Store`] (then nothing was written).
    pub async fn notice(
        &self,
        origin: &Origin,
        text: &str,
        cursor: Option<Cursor>,
    ) -> Result<(), DispatchError> {
        let (o, t) = (origin.clone(), text.to_string());
        self.inner
            .store
            .write(move |s, w| reply_row(s, w, "notice", "", &o, &t, cursor.as_ref()))
            .await?;
        self.inner.outbox.wake();
        Ok(())
    }
}

/// Applies a `/queue` directive to session `key` and describes the effective settings.
fn queue_reply(
    s: &Store,
    w: &mut Wtxn<'_>,
    key: &str,
    d: QueueDirective,
    base: crate::core::QueueSettings,
) -> Result<String, StoreError> {
    let mut session = s.session_or_create(w, key)?;
    match d {
        QueueDirective::Set(p) => {
            let mut cur = session.queue.unwrap_or_default();
            cur.mode = p.mode.or(cur.mode);
            cur.debounce_ms = p.debounce_ms.or(cur.debounce_ms);
            cur.cap = p.cap.or(cur.cap);
            cur.drop = p.drop.or(cur.drop);
            session.queue = Some(cur);
        }
        QueueDirective::Reset => session.queue = None,
        QueueDirective::Show => {}
    }
    s.put_session(w, &session)?;
    let eff = session.queue.as_ref().map_or(base, |p| base.with(p));
    Ok(format!(
        "Queue for this session: {:?}, debounce {} ms, cap {}, drop {:?}{}.",
        eff.mode,
        eff.debounce_ms,
        eff.cap,
        eff.drop,
        if session.queue.is_some() {
            " (session override)"
        } else {
            ""
        }
    )
    .to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::ChatCommand;

    #[test]
    fn commands_parse_with_and_without_the_bot_name() {
        let p = |t| ChatCommand::parse(t).map(|r| r.is_ok());
        assert_eq!(ChatCommand::parse("/new"), Some(Ok(ChatCommand::Reset)));
        assert_eq!(
            ChatCommand::parse("/status@hearth_bot"),
            Some(Ok(ChatCommand::Status))
        );
        assert_eq!(ChatCommand::parse(" /stop "), Some(Ok(ChatCommand::Stop)));
        assert_eq!(p("/queue followup"), Some(true));
        assert_eq!(p("/queue sideways"), Some(false));
        assert_eq!(p("/new plan for today"), None, "not a bare command");
        assert_eq!(p("/newsletter"), None);
        assert_eq!(p("hello /stop"), None);
    }
}
