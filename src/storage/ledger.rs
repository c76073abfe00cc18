//! The exec approvals document, the audit ledger and the cron jobs.
//!
//! `approvals` holds one value, the [`ApprovalsDoc`] (key `doc`). `audit` keys are the
//! entry's start time (8 bytes big-endian, ms since the epoch) then a 4-byte big-endian
//! sequence number, so the ledger is one time-ordered range; values are [`AuditEntry`]
//! JSON. Entries older than the retention are deleted by [`Store::audit_prune`]. `cron`
//! keys are job ids; values are the jobs' JSON, typed by the scheduler.

use super::{Rtxn, Store, StoreError, Wtxn, decode};
use crate::core::{ApprovalsDoc, AuditEntry};
use std::ops::Bound;

const DOC: &[u8] = b"doc";

/// A query of the audit ledger.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries that started at or after this, ms since the epoch.
    pub since_ms: u64,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this agent.
    pub agent: Option<String>,
    /// At most this many, the newest (0 = 100).
    pub limit: usize,
}

impl Store {
    /// The approvals document (empty, version 1, when none was stored).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn approvals(&self, rtxn: &Rtxn<'_>) -> Result<ApprovalsDoc, StoreError> {
        Ok(self
            .get_json(rtxn, &self.approvals, "approvals", DOC)?
            .unwrap_or_default())
    }

    /// Replaces the approvals document.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn put_approvals(&self, wtxn: &mut Wtxn<'_>, doc: &ApprovalsDoc) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.approvals, DOC, doc)
    }

    /// Appends `entry` to the audit ledger.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn audit_push(&self, wtxn: &mut Wtxn<'_>, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut key = entry.ts_ms.to_be_bytes().to_vec();
        let prefix = key.clone();
        let next = self
            .audit
            .prefix_iter(wtxn, &prefix)
            .map_err(|e| self.lmdb(e))?
            .count() as u32;
        key.extend_from_slice(&next.to_be_bytes());
        self.put_json(wtxn, &self.audit, &key, entry)
    }

    /// Entries matching `q`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn audit_list(
        &self,
        rtxn: &Rtxn<'_>,
        q: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = if q.limit == 0 { 100 } else { q.limit };
        let from = q.since_ms.to_be_bytes();
        let iter = self
            .audit
            .rev_range(rtxn, &(Bound::Included(&from[..]), Bound::Unbounded))
            .map_err(|e| self.lmdb(e))?;
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            let e: AuditEntry = decode("audit", k, v)?;
            if q.tool.as_ref().is_some_and(|t| *t != e.tool)
                || q.agent.as_ref().is_some_and(|a| *a != e.agent_id)
            {
                continue;
            }
            out.push(e);
            if out.len() >= limit {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Deletes entries that started before `before_ms`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn audit_prune(&self, wtxn: &mut Wtxn<'_>, before_ms: u64) -> Result<usize, StoreError> {
        let to = before_ms.to_be_bytes();
        let n = self
            .audit
            .delete_range(wtxn, &(Bound::Unbounded, Bound::Excluded(&to[..])))
            .map_err(|e| self.lmdb(e))?;
        Ok(n)
    }

    /// Every cron job, by id.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn cron_jobs(&self, rtxn: &Rtxn<'_>) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut out = Vec::new();
        for item in self.cron.iter(rtxn).map_err(|e| self.lmdb(e))? {
            let (k, v) = item.map_err(|e| self.lmdb(e))?;
            out.push(decode("cron", k, v)?);
        }
        Ok(out)
    }

    /// Stores cron job `id`.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn cron_put(
        &self,
        wtxn: &mut Wtxn<'_>,
        id: &str,
        job: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.put_json(wtxn, &self.cron, id.as_bytes(), job)
    }

    /// Removes cron job `id`; whether it existed.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn cron_delete(&self, wtxn: &mut Wtxn<'_>, id: &str) -> Result<bool, StoreError> {
        self.cron
            .delete(wtxn, id.as_bytes())
            .map_err(|e| self.lmdb(e))
    }
}
