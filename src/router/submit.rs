//! The way in: accepting a message (inbox entry, queued run, idempotency record and cursor
//! in one commit, then its lane), and ending queued messages that
//! never run (dropped by a full queue or cleared by an abort).

use super::command::ChatCommand;
use super::follow::{RunWatch, final_event};
use super::lane::{self, Dropped, Lane};
use super::{
    Accepted, DEDUPE_TTL_MS, DispatchError, Dispatcher, Follow, RunRecord, RunStatus, Submission,
    new_run_id,
};
use crate::core::QueueSettings;
use crate::storage::InboxEntry;

impl Dispatcher {
    /// Accepts a message: commits the inbox entry, its queued run, the idempotency record
    /// and the cursor in one transaction, then queues it in its lane. The returned
    /// [`Follow`] was subscribed before the lane could start, so it misses nothing.
    /// A chat command (`/new`, `/reset`, `/stop`, `/status`, `/queue …`, see `command.rs`)
    /// is answered at once with a completed run and queues nothing.
    ///
    /// # Errors
    /// [`DispatchError::Invalid`] for an empty message or a malformed directive,
    /// [`DispatchError::QueueFull`], [`DispatchError::ShuttingDown`],
    /// [`DispatchError::Store`] (then nothing was acknowledged).
    pub async fn submit(&self, sub: Submission) -> Result<(Accepted, Follow), DispatchError> {
        let inner = &self.inner;
        if inner.shutdown.is_cancelled() {
            return Err(DispatchError::ShuttingDown);
        }
        let has_results = sub
            .client
            .as_ref()
            .is_some_and(|c| !c.tool_results.is_empty());
        if sub.message.text.trim().is_empty() && sub.message.attachments.is_empty() && !has_results
        {
            return Err(DispatchError::Invalid("message is empty".into()));
        }
        if sub.stateless_history.is_none()
            && let Some(c) = ChatCommand::parse(&sub.message.text)
        {
            return self.command(sub, c.map_err(DispatchError::Invalid)?).await;
        }
        let explicit = sub.run_id.is_some();
        let run_id = match sub.run_id {
            Some(id) if super::valid_run_id(&id) => id,
            Some(id) => {
                return Err(DispatchError::Invalid(format!(
                    "run id {id:?} must be 1 to 128 characters of A-Z a-z 0-9 . _ : -"
                )));
            }
            None => new_run_id(),
        };
        let (lane_key, session_key) = match &sub.stateless_history {
            Some(_) => {
                let k = format!("agent:{}:ephemeral:{run_id}", sub.session_key.agent());
                (k.clone(), k)
            }
            None => (sub.session_key.to_string(), sub.session_key.to_string()),
        };
        {
            let lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = lanes.get(&lane_key)
                && l.refuses()
            {
                return Err(DispatchError::QueueFull {
                    session: session_key,
                    cap: l.settings.cap,
                });
            }
        }
        let dedupe_key = sub
            .idempotency_key
            .as_ref()
            .map(|k| format!("send:{}:{k}", sub.session_key));
        let entry = InboxEntry {
            seq: 0,
            run_id: run_id.clone(),
            session_key: session_key.clone(),
            lane: lane_key.clone(),
            message: sub.message,
            stateless_history: sub.stateless_history,
            client: sub.client,
            accepted_ms: crate::core::now_ms(),
            taken_by: None,
        };
        let acc = Accepted {
            run_id: run_id.clone(),
            session_key: session_key.clone(),
            deduped: false,
        };
        let (acc_w, cursor, record_only) = (acc.clone(), sub.cursor, sub.record_only);
        let committed = inner
            .store
            .write(move |s, w| {
                if let Some(c) = &cursor {
                    s.put_cursor(w, &c.channel, &c.account, &c.value)?;
                }
                if let Some(dk) = dedupe_key.as_ref().filter(|_| !record_only)
                    && let Some(first) = s.dedupe_get(w, dk)?
                {
                    return Ok((Some(first), None));
                }
                if explicit && s.run(w, &run_id)?.is_some() {
                    return Ok((None, None));
                }
                let mut entry = entry;
                s.inbox_push(w, &mut entry)?;
                s.put_run(w, &RunRecord::queued(run_id.clone(), session_key.clone()))?;
                if let Some(dk) = &dedupe_key {
                    let v = serde_json::to_value(&acc_w).unwrap_or_default();
                    s.dedupe_put(w, dk, &v, DEDUPE_TTL_MS)?;
                }
                let session = s.session(w, &entry.session_key)?;
                Ok((None, Some((entry, session))))
            })
            .await?;
        let (entry, session) = match committed {
            (Some(first), _) => return self.repeat(first),
            (None, Some(x)) => x,
            (None, None) => {
                return Err(DispatchError::Invalid(format!(
                    "run id {:?} already names a run (an idempotency key used before, in another session or too long ago to deduplicate)",
                    acc.run_id
                )));
            }
        };
        let watch = RunWatch::new();
        let follow = Follow::live(acc.run_id.clone(), &watch, inner.store.clone());
        inner
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(acc.run_id.clone(), watch);
        let settings = inner.settings_for(&entry.message.origin.channel, session.as_ref());
        crate::core::metrics::METRICS
            .messages
            .inc(&[&entry.message.origin.channel]);
        self.enqueue(entry, settings).await;
        Ok((acc, follow))
    }

    /// Puts a committed entry into its lane (creating the lane and its task if needed).
    pub(super) async fn enqueue(&self, entry: InboxEntry, settings: QueueSettings) {
        let inner = &self.inner;
        let key = entry.lane.clone();
        let (dropped, spawn) = {
            let mut lanes = inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
            let lane = lanes
                .entry(key.clone())
                .or_insert_with(|| Lane::new(settings));
            let dropped = lane.push(entry);
            let spawn = !lane.draining;
            lane.draining = true;
            (dropped, spawn)
        };
        if spawn {
            inner.tracker.spawn(lane::drain(inner.clone(), key));
        }
        if let Some(d) = dropped {
            self.drop_entries(d).await;
        }
    }

    /// Ends `d.entries` without a turn: their runs `dropped` with the reason, their inbox
    /// entries removed, followers and subscribers told.
    pub(super) async fn drop_entries(&self, d: Dropped) {
        let inner = &self.inner;
        let (entries, reason) = (d.entries, d.reason);
        let es = entries.clone();
        let recs = inner
            .store
            .write(move |s, w| {
                let mut out = Vec::new();
                for e in &es {
                    let mut r = s.run(w, &e.run_id)?.unwrap_or_else(|| {
                        RunRecord::queued(e.run_id.clone(), e.session_key.clone())
                    });
                    r.status = RunStatus::Dropped;
                    r.error = Some(reason.clone());
                    r.ended_ms = Some(crate::core::now_ms());
                    s.put_run(w, &r)?;
                    s.inbox_delete(w, e.seq)?;
                    out.push(r);
                }
                Ok(out)
            })
            .await;
        match recs {
            Ok(recs) => {
                for r in recs {
                    let ev = final_event(&r, 0);
                    super::follow::count_final(&ev.kind);
                    for w in inner.watches_of(std::slice::from_ref(&r.id)) {
                        w.send(&ev);
                    }
                    let _ = inner.finals.send(ev);
                    inner.settle(std::slice::from_ref(&r.id), &r);
                }
            }
            Err(e) => tracing::error!(
                count = entries.len(),
                "cannot record dropped messages (they stay queued for the next start): {e}"
            ),
        }
    }
}
