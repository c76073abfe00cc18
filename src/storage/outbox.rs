//! The delivery outbox.
//!
//! `outbox` (key: a status byte, then the sequence number as u64 BE, so each status is one
//! key range in creation order) holds every
//! answer that has to leave the gateway: written in the same transaction as the turn's
//! outcome (or a restart's interrupted notice), then marked `sent` with the platform's
//! receipt id, or `dead` after too many failed attempts. Sent rows stay for a while so a
//! restart can tell they were sent; they are pruned by age.

use super::{InboxEntry, Rtxn, Store, StoreError, Wtxn, decode};
use crate::core::{Origin, OutboundMessage};
use serde::{Deserialize, Serialize};

const NEXT_OUTBOX_SEQ: &[u8] = b"outbox/next_seq";

/// Where a row is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Not delivered yet (never tried, or the last attempt failed and it will be retried).
    Pending,
    /// Delivered; `receipt` holds the platform's id for it.
    Sent,
    /// Given up after too many failures, or refused for good by the platform
    /// (a dead letter; `last_error` says why).
    Dead,
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// Creation order, from 1.
    pub seq: u64,
    /// The run whose answer (or notice) it carries.
    pub run_id: String,
    /// The session of that run.
    pub session_key: String,
    /// The message and its target.
    pub message: OutboundMessage,
    /// When it was written, ms since the epoch.
    pub created_ms: u64,
    /// Delivery state.
    pub status: OutboxStatus,
    /// Attempts made so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The platform's receipt (its message id) once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// When it was sent or dead-lettered, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ms: Option<u64>,
}

impl OutboxRow {
    /// A pending row for `message`, answering `run_id` of `session_key` (its `seq` is set
    /// by [`Store::delivery_push`]).
    pub fn pending(run_id: &str, session_key: &str, message: OutboundMessage) -> Self {
        Self {
            seq: 0,
            run_id: run_id.to_string(),
            session_key: session_key.to_string(),
            message,
            created_ms: crate::core::now_ms(),
            status: OutboxStatus::Pending,
            attempts: 0,
            last_error: None,
            receipt: None,
            done_ms: None,
        }
    }
}

/// Pending rows and dead letters per (channel, account).
pub type Backlog = std::collections::BTreeMap<(String, String), (u64, u64)>;

/// Rows by state, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCounts {
    /// Waiting to be delivered.
    pub pending: u64,
    /// Delivered (and not pruned yet).
    pub sent: u64,
    /// Dead letters.
    pub dead: u64,
}

impl Store {
    /// Stores `row` as the newest outbox row, giving it the next sequence number (returned
    /// and written into the row).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_push(
        &self,
        wtxn: &mut Wtxn<'_>,
        row: &mut OutboxRow,
    ) -> Result<u64, StoreError> {
        row.seq = self.bump_counter(wtxn, NEXT_OUTBOX_SEQ)?;
        self.put_json(wtxn, &self.outbox, &key(row.status, row.seq), row)?;
        Ok(row.seq)
    }

    /// Writes one pending row per conversation the answered `entries` came from (the same
    /// channel, account, peer, chat and thread get one row), each carrying `text` and
    /// replying to the newest message from there. Called inside the transaction that
    /// commits the outcome, so the answer and its delivery record are durable together.
    /// Returns the rows' sequence numbers.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_reply(
        &self,
        wtxn: &mut Wtxn<'_>,
        run_id: &str,
        session_key: &str,
        entries: &[InboxEntry],
        text: &str,
    ) -> Result<Vec<u64>, StoreError> {
        let mut targets: Vec<&Origin> = Vec::new();
        for e in entries.iter().rev() {
            let o = &e.message.origin;
            let same = |t: &&Origin| {
                (&t.channel, &t.account, &t.peer, &t.chat, &t.thread)
                    == (&o.channel, &o.account, &o.peer, &o.chat, &o.thread)
            };
            if !targets.iter().any(same) {
                targets.push(o);
            }
        }
        let mut seqs = Vec::new();
        for o in targets.into_iter().rev() {
            let mut row = OutboxRow::pending(run_id, session_key, OutboundMessage::reply(o, text));
            seqs.push(self.delivery_push(wtxn, &mut row)?);
        }
        Ok(seqs)
    }

    /// Rewrites an existing row under its (possibly new) status.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_put(&self, wtxn: &mut Wtxn<'_>, row: &OutboxRow) -> Result<(), StoreError> {
        for st in ALL {
            if st != row.status {
                self.outbox
                    .delete(wtxn, &key(st, row.seq))
                    .map_err(|e| self.lmdb(e))?;
            }
        }
        self.put_json(wtxn, &self.outbox, &key(row.status, row.seq), row)
    }

    /// Row `seq`, whatever its status.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_get(&self, rtxn: &Rtxn<'_>, seq: u64) -> Result<Option<OutboxRow>, StoreError> {
        for st in ALL {
            if let Some(row) = self.get_json(rtxn, &self.outbox, "outbox", &key(st, seq))? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    /// Rows in `status`, oldest first, at most `limit` (reads only that status's key range).
    ///
    /// # Errors
    /// [`StoreError`], naming the first row that does not decode.
    pub fn delivery_rows(
        &self,
        rtxn: &Rtxn<'_>,
        status: OutboxStatus,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut out = Vec::new();
        let iter = self
            .outbox
            .prefix_iter(rtxn, &[prefix(status)])
            .map_err(|e| self.lmdb(e))?;
        for item in iter.take(limit) {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode("outbox", k, v)?);
        }
        Ok(out)
    }

    /// The target of the newest row (any state) whose channel is not in `skip`: where the
    /// agent last talked on a platform (OpenClaw's `channel: "last"`). Rows are pruned
    /// after `keep_sent_hours`, so "last" reaches that far back.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_last_target(
        &self,
        rtxn: &Rtxn<'_>,
        skip: &[&str],
    ) -> Result<Option<Origin>, StoreError> {
        let mut best: Option<OutboxRow> = None;
        for st in ALL {
            let iter = self
                .outbox
                .rev_prefix_iter(rtxn, &[prefix(st)])
                .map_err(|e| self.lmdb(e))?;
            for item in iter {
                let (k, v) = item.map_err(|e| self.lmdb(e))?;
                let row: OutboxRow = decode("outbox", k, v)?;
                if skip.contains(&row.message.target.channel.as_str()) {
                    continue;
                }
                if best.as_ref().is_none_or(|b| b.seq < row.seq) {
                    best = Some(row);
                }
                break;
            }
        }
        Ok(best.map(|r| r.message.target))
    }

    /// Pending rows and dead letters per (channel, account) (decodes every such row; sent
    /// rows are not read).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_backlog(&self, rtxn: &Rtxn<'_>) -> Result<Backlog, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for st in [OutboxStatus::Pending, OutboxStatus::Dead] {
            let iter = self
                .outbox
                .prefix_iter(rtxn, &[prefix(st)])
                .map_err(|e| self.lmdb(e))?;
            for item in iter {
                let (k, v) = item.map_err(|e| self.lmdb(e))?;
                let row: OutboxRow = decode("outbox", k, v)?;
                let t = row.message.target;
                let e: &mut (u64, u64) = out.entry((t.channel, t.account)).or_default();
                if st == OutboxStatus::Pending {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
        Ok(out)
    }

    /// Rows by state (counts keys; decodes nothing).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_counts(&self, rtxn: &Rtxn<'_>) -> Result<OutboxCounts, StoreError> {
        let count = |st| -> Result<u64, StoreError> {
            let iter = self
                .outbox
                .prefix_iter(rtxn, &[prefix(st)])
                .map_err(|e| self.lmdb(e))?;
            Ok(iter.count() as u64)
        };
        Ok(OutboxCounts {
            pending: count(OutboxStatus::Pending)?,
            sent: count(OutboxStatus::Sent)?,
            dead: count(OutboxStatus::Dead)?,
        })
    }

    /// Deletes sent rows delivered before `before_ms` (ms since the epoch), oldest first,
    /// at most `limit` per call; pending rows and dead letters stay. Returns how many
    /// were deleted.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn delivery_prune_sent(
        &self,
        wtxn: &mut Wtxn<'_>,
        before_ms: u64,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut old = Vec::new();
        for row in self.delivery_rows(wtxn, OutboxStatus::Sent, limit)? {
            // Rows were sent roughly in sequence order: stop at the first recent one.
            if row.done_ms.is_none_or(|t| t >= before_ms) {
                break;
            }
            old.push(row.seq);
        }
        for seq in &old {
            self.outbox
                .delete(wtxn, &key(OutboxStatus::Sent, *seq))
                .map_err(|e| self.lmdb(e))?;
        }
        Ok(old.len() as u64)
    }
}

const ALL: [OutboxStatus; 3] = [
    OutboxStatus::Pending,
    OutboxStatus::Sent,
    OutboxStatus::Dead,
];

/// Rows are keyed by status, then sequence: each status is one key range, so the worker
/// reads pending rows without walking a day of sent ones.
fn prefix(st: OutboxStatus) -> u8 {
    match st {
        OutboxStatus::Pending => b'p',
        OutboxStatus::Sent => b's',
        OutboxStatus::Dead => b'd',
    }
}

fn key(st: OutboxStatus, seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix(st);
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}
