//! What a start does with the inbox the last process left (after a crash, a power cut, or
//! a graceful stop that suspended its turns):
//!
//! - every `queued` entry is queued again in its lane, in arrival order;
//! - a turn that was running and had committed no tool step runs again (its messages are
//!   already in the transcript), before anything queued in its lane;
//! - a turn that had committed a tool step (its side effects may have happened) is marked
//!   `interrupted`, and its origin is told so in the transcript, the run's outcome and an
//!   outbox row (delivered like an answer):
//!   "I was restarted while working on …; ask again if it is still needed";
//! - runs still marked running without inbox entries (a store written by an older build)
//!   are marked `interrupted`.

use super::follow::RunWatch;
use super::lane::{Lane, Resume};
use super::{DispatchError, Dispatcher};
use crate::core::{ChatMessage, Role, now_ms};
use crate::storage::{InboxEntry, RunRecord, RunStatus, Store, StoreError, Wtxn};
use std::collections::BTreeMap;

/// Characters of the first message quoted in an interrupted notice.
const QUOTE_CHARS: usize = 60;

/// What [`Dispatcher::recover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Queued messages requeued.
    pub queued: usize,
    /// Turns run again (no tool step had committed).
    pub resumed: usize,
    /// Runs marked interrupted (a tool step had committed) and told so.
    pub interrupted: Vec<String>,
}

/// The notice an interrupted turn's origin gets.
fn notice(first: &str) -> String {
    let mut quote: String = first.chars().take(QUOTE_CHARS).collect();
    if first.chars().count() > QUOTE_CHARS {
        quote.push('…');
    }
    format!(
        "I was restarted while working on \u{201c}{quote}\u{201d}; ask again if it is still needed."
    )
}

fn interrupt(
    s: &Store,
    w: &mut Wtxn<'_>,
    turn: &str,
    entries: &[InboxEntry],
) -> Result<Vec<String>, StoreError> {
    let text = notice(entries.first().map_or("", |e| e.message.text.as_str()));
    let mut ids = Vec::new();
    let Some(mut rec) = s.run(w, turn)? else {
        return Ok(ids);
    };
    if let Some(mut session) = s.run_session(w, &rec)? {
        s.append(
            w,
            &mut session,
            Some(turn),
            ChatMessage::text(Role::Assistant, text.clone()),
        )?;
    }
    let mut runs: Vec<String> = entries.iter().map(|e| e.run_id.clone()).collect();
    if !runs.iter().any(|r| r == turn) {
        runs.push(turn.to_string());
    }
    rec.status = RunStatus::Interrupted;
    rec.ended_ms = Some(now_ms());
    rec.error = Some(text.clone());
    for id in &runs {
        let mut r = if *id == rec.id {
            rec.clone()
        } else {
            let Some(mut r) = s.run(w, id)? else { continue };
            r.status = rec.status;
            r.error = rec.error.clone();
            r.ended_ms = rec.ended_ms;
            r
        };
        if r.id != rec.id {
            r.turn = Some(rec.id.clone());
        }
        s.put_run(w, &r)?;
        ids.push(r.id);
    }
    for e in entries {
        s.inbox_delete(w, e.seq)?;
    }
    s.delivery_reply(w, turn, &rec.session_key, entries, &text)?;
    Ok(ids)
}

impl Dispatcher {
    /// Applies the crash rules above to what the store holds, starts the lanes that have
    /// work and the delivery worker (which sends what the last process left pending). Call
    /// once, before accepting messages.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub async fn recover(&self) -> Result<Recovered, DispatchError> {
        let inner = &self.inner;
        let (queued, turns, orphans) = {
            let store = &inner.store;
            let r = store.read_txn()?;
            let mut queued = Vec::new();
            let mut turns: BTreeMap<String, (Vec<InboxEntry>, Option<RunRecord>)> = BTreeMap::new();
            for e in store.inbox_all(&r)? {
                match e.taken_by.clone() {
                    None => queued.push(e),
                    Some(t) => turns.entry(t).or_default().0.push(e),
                }
            }
            for (t, (_, rec)) in turns.iter_mut() {
                *rec = store.run(&r, t)?;
            }
            let orphans: Vec<String> = store
                .running_runs(&r)?
                .into_iter()
                .filter(|id| {
                    !turns.contains_key(id)
                        && !turns
                            .values()
                            .any(|(es, _)| es.iter().any(|e| &e.run_id == id))
                })
                .collect();
            (queued, turns, orphans)
        };
        let mut out = Recovered::default();
        let mut resume = Vec::new();
        let mut dead = Vec::new();
        for (turn, (entries, rec)) in turns {
            match rec {
                Some(r) if r.tool_steps == 0 && r.status == RunStatus::Running => {
                    resume.push((turn, entries));
                }
                _ => dead.push((turn, entries)),
            }
        }
        if !dead.is_empty() || !orphans.is_empty() {
            let orphans_w = orphans.clone();
            let ids = inner
                .store
                .write(move |s, w| {
                    let mut ids = Vec::new();
                    for (turn, entries) in &dead {
                        ids.extend(interrupt(s, w, turn, entries)?);
                    }
                    for id in &orphans_w {
                        if let Some(mut r) = s.run(w, id)? {
                            r.status = RunStatus::Interrupted;
                            r.ended_ms = Some(now_ms());
                            r.error = Some("the gateway stopped before this run finished; its partial output was discarded".into());
                            s.put_run(w, &r)?;
                            ids.push(r.id);
                        }
                    }
                    Ok(ids)
                })
                .await?;
            out.interrupted = ids;
        }
        // Register every run that will run again, then fill the lanes.
        {
            let mut runs = inner.runs.lock().unwrap_or_else(|p| p.into_inner());
            for e in queued
                .iter()
                .chain(resume.iter().flat_map(|(_, es)| es.iter()))
            {
                runs.insert(e.run_id.clone(), RunWatch::new());
            }
        }
        let sessions = self.sessions()?;
        let mut keys = Vec::new();
        {
            let mut lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            let mut lane_for = |e: &InboxEntry| -> String {
                let key = e.lane.clone();
                lanes.entry(key.clone()).or_insert_with(|| {
                    let session = sessions.iter().find(|s| s.key == e.session_key);
                    Lane::new(inner.settings_for(&e.message.origin.channel, session))
                });
                key
            };
            let mut plan: Vec<(String, Option<Resume>, Option<InboxEntry>)> = Vec::new();
            for (_turn, entries) in resume {
                let key = lane_for(&entries[0]);
                plan.push((key, Some(Resume { entries }), None));
            }
            for e in queued {
                let key = lane_for(&e);
                plan.push((key, None, Some(e)));
            }
            for (key, r, e) in plan {
                let Some(l) = lanes.get_mut(&key) else {
                    continue;
                };
                if let Some(r) = r {
                    out.resumed += 1;
                    l.resume.push_back(r);
                }
                if let Some(e) = e {
                    out.queued += 1;
                    l.queue.push_back(e);
                }
                if !l.draining {
                    l.draining = true;
                    keys.push(key);
                }
            }
        }
        for key in keys {
            inner.tracker.spawn(super::lane::drain(inner.clone(), key));
        }
        inner.tracker.spawn(super::outbox::run(
            inner.outbox.clone(),
            inner.shutdown.clone(),
        ));
        if out.queued + out.resumed + out.interrupted.len() > 0 {
            tracing::warn!(
                queued = out.queued,
                resumed = out.resumed,
                interrupted = out.interrupted.len(),
                "recovered the inbox of the previous run"
            );
        }
        Ok(out)
    }
}
