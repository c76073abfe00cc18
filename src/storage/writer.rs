//! The single writer thread with group commit.
//!
//! [`Store::write`] hands a closure to one dedicated OS thread (started on first use) and
//! awaits its result, so an LMDB commit and its fsync never run on a tokio worker. The
//! thread takes every write waiting when it wakes (up to [`MAX_BATCH`]), runs each in its
//! own nested transaction inside one parent transaction — a write that fails is rolled back
//! alone — and commits the parent once: concurrent turns share one fsync. A write's result
//! is delivered only after that commit returned, so "acknowledged" still means "durable".
//! LMDB's nested transactions: <http://www.lmdb.tech/doc/group__mdb.html#gad7ea55da06b77513609efebd44b26920>.

use super::{Store, StoreError, Wtxn};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};

/// Writes waiting for the writer thread before [`Store::write`] callers wait for room.
const QUEUE: usize = 1024;
/// Most writes committed together.
const MAX_BATCH: usize = 256;

/// What the writer calls after the batch commit: `Ok` when the batch committed.
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// One write: runs inside its nested transaction and says how to report the outcome. An
/// `Err` rolls the nested transaction back.
type Job = Box<dyn FnOnce(&Store, &mut Wtxn<'_>) -> Result<Done, Done> + Send>;

/// The sending side, shared by every clone of a [`Store`]; the thread stops when the last
/// clone is dropped.
#[derive(Clone, Default)]
pub(super) struct Handle(Arc<OnceLock<SyncSender<Job>>>);

impl Store {
    /// Runs `f` in a write transaction on the writer thread and returns its result after
    /// the transaction committed durably (fsync), possibly together with other writers'.
    /// When `f` fails, its changes are rolled back and nothing else of the batch is.
    ///
    /// # Errors
    /// `f`'s error; [`StoreError::Commit`] when the batch commit failed (nothing of `f`
    /// was stored); [`StoreError::WriterGone`] when the writer thread could not be started.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &mut Wtxn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |store, wtxn| match f(store, wtxn) {
            Ok(v) => Ok(Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.map(|()| v));
            })),
            Err(e) => Err(Box::new(move |_| {
                let _ = tx.send(Err(e));
            })),
        });
        let sender = self.writer_sender()?;
        let mut job = Some(job);
        loop {
            match sender.try_send(job.take().expect("set before each try")) {
                Ok(()) => break,
                Err(TrySendError::Full(j)) => {
                    job = Some(j);
                    // Backpressure: the writer is QUEUE writes behind.
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(self.gone()),
            }
        }
        rx.await.map_err(|_| self.gone())?
    }

    /// Like [`Store::write`], for callers on a plain thread (blocks until committed).
    ///
    /// # Errors
    /// As [`Store::write`].
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &mut Wtxn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<T, StoreError>>(1);
        let job: Job = Box::new(move |store, wtxn| match f(store, wtxn) {
            Ok(v) => Ok(Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.map(|()| v));
            })),
            Err(e) => Err(Box::new(move |_| {
                let _ = tx.send(Err(e));
            })),
        });
        self.writer_sender()?
            .send(job)
            .map_err(|_| self.gone())?;
        rx.recv().map_err(|_| self.gone())?
    }

    fn gone(&self) -> StoreError {
        StoreError::WriterGone {
            path: self.path.clone(),
        }
    }

    fn writer_sender(&self) -> Result<&SyncSender<Job>, StoreError> {
        if let Some(s) = self.writer.0.get() {
            return Ok(s);
        }
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        // The thread's own copy has an empty handle, so it does not keep itself alive.
        let mut mine = self.clone();
        mine.writer = Handle::default();
        let spawned = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(&mine, &rx));
        if let Err(e) = spawned {
            tracing::error!("cannot start the store writer thread: {e}");
            return Err(self.gone());
        }
        // Another caller may have won the race; its thread is used, ours ends at once
        // (its receiver's only sender is dropped here).
        let _ = self.writer.0.set(tx);
        self.writer.0.get().ok_or_else(|| self.gone())
    }
}

fn writer_loop(store: &Store, rx: &Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        run_batch(store, jobs);
    }
}

fn run_batch(store: &Store, jobs: Vec<Job>) {
    let mut parent = match store.write_txn() {
        Ok(w) => w,
        Err(e) => {
            let msg = e.to_string();
            for j in jobs {
                // Report without running: each job's closure needs a transaction.
                drop(j);
                tracing::error!("store writer: cannot begin a transaction: {msg}");
            }
            return;
        }
    };
    let mut done: Vec<(Done, bool)> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let nested = store.env.nested_write_txn(&mut parent);
        let mut child = match nested {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("store writer: cannot begin a nested transaction: {e}");
                continue;
            }
        };
        match job(store, &mut child) {
            Ok(d) => match child.commit() {
                Ok(()) => done.push((d, true)),
                Err(e) => {
                    let err = store.lmdb(e);
                    d(Err(err));
                }
            },
            Err(d) => {
                child.abort();
                done.push((d, false));
            }
        }
    }
    let committed = parent.commit().map_err(|e| e.to_string());
    for (d, ok) in done {
        match (&committed, ok) {
            (Ok(()), _) | (_, false) => d(Ok(())),
            (Err(m), true) => d(Err(StoreError::Commit {
                path: store.path.clone(),
                message: m.clone(),
            })),
        }
    }
}
