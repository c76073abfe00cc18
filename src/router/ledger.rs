//! The dispatcher's read and write access to the audit ledger and the cron jobs, for the
//! gateway's methods and the scheduler (neither imports the store).

use super::{DispatchError, Dispatcher};
use crate::core::AuditEntry;
use crate::storage::{AuditQuery, StoreError};

impl Dispatcher {
    /// Entries of the audit ledger matching `q`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let s = &self.inner.store;
        let r = s.read_txn()?;
        s.audit_list(&r, q)
    }

    /// Deletes audit entries older than `before_ms`; how many.
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub async fn audit_prune(&self, before_ms: u64) -> Result<usize, DispatchError> {
        Ok(self
            .inner
            .store
            .write(move |s, w| s.audit_prune(w, before_ms))
            .await?)
    }

    /// Every stored cron job (JSON; the scheduler types them).
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn cron_jobs(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let s = &self.inner.store;
        let r = s.read_txn()?;
        s.cron_jobs(&r)
    }

    /// Stores cron job `id` (committed when this returns).
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub async fn cron_put(&self, id: &str, job: serde_json::Value) -> Result<(), DispatchError> {
        let id = id.to_string();
        Ok(self
            .inner
            .store
            .write(move |s, w| s.cron_put(w, &id, &job))
            .await?)
    }

    /// Removes cron job `id` (committed when this returns).
    ///
    /// # Errors
    /// [`DispatchError::Store`].
    pub async fn cron_delete(&self, id: &str) -> Result<(), DispatchError> {
        let id = id.to_string();
        self.inner
            .store
            .write(move |s, w| s.cron_delete(w, &id))
            .await?;
        Ok(())
    }
}
