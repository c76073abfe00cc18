//! The durable inbox and the platform cursors.
//!
//! `inbox` (key: sequence number, u64 BE, so entries sort in arrival order) holds every
//! accepted message until the turn that answers it has committed its outcome: `queued`
//! while it waits for its lane, `taken` (by a turn, named by the turn's run id) while the
//! turn runs. `cursors` (key: `<channel>/<account>`) holds each channel account's platform
//! offset, written in the same transaction as the inbox entries it covers.

use super::{Rtxn, Store, StoreError, Wtxn, decode};
use crate::core::{ChatMessage, InboundMessage};
use serde::{Deserialize, Serialize};

const NEXT_INBOX_SEQ: &[u8] = b"inbox/next_seq";

/// One accepted message waiting for, or being answered by, a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Arrival order, from 1.
    pub seq: u64,
    /// The run id acknowledged to the sender.
    pub run_id: String,
    /// The session the message belongs to.
    pub session_key: String,
    /// The lane it waits in: the session key, or a one-off lane of a stateless request.
    pub lane: String,
    /// The message.
    pub message: InboundMessage,
    /// For stateless HTTP requests: the conversation the client sent before the message
    /// (nothing is kept in a transcript).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless_history: Option<Vec<ChatMessage>>,
    /// An API client's system prompt, tools and tool results for the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<crate::core::ClientTurn>,
    /// When it was accepted, ms since the epoch.
    pub accepted_ms: u64,
    /// The run id of the turn that took it; `None` while it is queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<String>,
}

impl Store {
    /// Stores `entry` as the newest inbox entry, giving it the next sequence number (which
    /// is returned and written into the entry).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn inbox_push(
        &self,
        wtxn: &mut Wtxn<'_>,
        entry: &mut InboxEntry,
    ) -> Result<u64, StoreError> {
        entry.seq = self.bump_counter(wtxn, NEXT_INBOX_SEQ)?;
        self.put_json(wtxn, &self.inbox, &entry.seq.to_be_bytes(), entry)?;
        Ok(entry.seq)
    }

    /// Rewrites an existing entry (to mark it taken).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn inbox_put(&self, wtxn: &mut Wtxn<'_>, entry: &InboxEntry) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.inbox, &entry.seq.to_be_bytes(), entry)
    }

    /// The entry `seq`, if still in the inbox.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn inbox_get(&self, rtxn: &Rtxn<'_>, seq: u64) -> Result<Option<InboxEntry>, StoreError> {
        self.get_json(rtxn, &self.inbox, "inbox", &seq.to_be_bytes())
    }

    /// Removes entry `seq` (its turn committed an outcome). Returns whether it existed.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn inbox_delete(&self, wtxn: &mut Wtxn<'_>, seq: u64) -> Result<bool, StoreError> {
        self.inbox
            .delete(wtxn, &seq.to_be_bytes())
            .map_err(|e| self.lmdb(e))
    }

    /// Every inbox entry in arrival order.
    ///
    /// # Errors
    /// [`StoreError`], naming the first entry that does not decode.
    pub fn inbox_all(&self, rtxn: &Rtxn<'_>) -> Result<Vec<InboxEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.inbox.iter(rtxn).map_err(|e| self.lmdb(e))? {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode("inbox", k, v)?);
        }
        Ok(out)
    }

    /// Number of inbox entries.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn inbox_len(&self, rtxn: &Rtxn<'_>) -> Result<u64, StoreError> {
        self.inbox.len(rtxn).map_err(|e| self.lmdb(e))
    }

    /// The platform cursor of `channel`/`account` (e.g. Telegram's next `getUpdates`
    /// offset), as the adapter stored it.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn cursor(
        &self,
        rtxn: &Rtxn<'_>,
        channel: &str,
        account: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let key = format!("{channel}/{account}");
        self.get_json(rtxn, &self.cursors, "cursors", key.as_bytes())
    }

    /// Stores the platform cursor of `channel`/`account`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_cursor(
        &self,
        wtxn: &mut Wtxn<'_>,
        channel: &str,
        account: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let key = format!("{channel}/{account}");
        self.put_json(wtxn, &self.cursors, key.as_bytes(), value)
    }
}
