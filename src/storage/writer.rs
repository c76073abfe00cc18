//! The single writer with group commit.
//!
//! [`Store::write`] queues a closure and awaits its result; one drain task at a time (a
//! tokio blocking-pool task, started when work arrives and ended when the queue is empty;
//! inline on the caller's thread outside a runtime) runs the writes, so an LMDB commit and
//! its fsync never run on a tokio worker. The drain takes every write waiting (up to
//! [`MAX_BATCH`]), runs each in its own nested transaction inside one parent transaction —
//! a write that fails is rolled back alone — and commits the parent once: concurrent turns
//! share one fsync. A write's result is delivered only after that commit returned, so
//! "acknowledged" still means "durable". A blocking-pool task (not a private thread) also
//! keeps tokio's paused test clock from jumping while a commit is under way.
//! LMDB's nested transactions: <http://www.lmdb.tech/doc/group__mdb.html#gad7ea55da06b77513609efebd44b26920>.

use super::{Store, StoreError, Wtxn};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Writes waiting for the drain before [`Store::write`] callers wait for room.
const QUEUE: usize = 1024;
/// Most writes committed together.
const MAX_BATCH: usize = 256;

/// What the writer calls after the batch commit: `Ok` when the batch committed.
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// One write: runs inside its nested transaction and says how to report the outcome. An
/// `Err` rolls the nested transaction back.
type Job = Box<dyn FnOnce(&Store, &mut Wtxn<'_>) -> Result<Done, Done> + Send>;

/// The queue of writes and whether a drain task runs, shared by every clone of a store.
#[derive(Clone, Default)]
pub(super) struct Handle(Arc<Shared>);

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Job>>,
    active: AtomicBool,
}

fn job<T: Send + 'static>(
    f: impl FnOnce(&Store, &mut Wtxn<'_>) -> Result<T, StoreError> + Send + 'static,
    reply: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Job {
    Box::new(move |store, wtxn| match f(store, wtxn) {
        Ok(v) => Ok(Box::new(move |committed: Result<(), StoreError>| {
            reply(committed.map(|()| v))
        })),
        Err(e) => Err(Box::new(move |_| reply(Err(e)))),
    })
}

impl Store {
    /// Runs `f` in a write transaction on the writer and returns its result after the
    /// transaction committed durably (fsync), possibly together with other writers'.
    /// When `f` fails, its changes are rolled back and nothing else of the batch is.
    ///
    /// # Errors
    /// `f`'s error; [`StoreError::Commit`] when the batch commit failed (nothing of `f`
    /// was stored); [`StoreError::WriterGone`] when the writer dropped the write.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &mut Wtxn<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let mut pending = job(f, move |r| {
            let _ = tx.send(r);
        });
        loop {
            match self.enqueue(pending) {
                Ok(()) => break,
                Err(back) => {
                    pending = back;
                    // Backpressure: the writer is QUEUE writes behind.
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
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
        let mut pending = job(f, move |r| {
            let _ = tx.send(r);
        });
        while let Err(back) = self.enqueue(pending) {
            pending = back;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        rx.recv().map_err(|_| self.gone())?
    }

    fn gone(&self) -> StoreError {
        StoreError::WriterGone {
            path: self.path.clone(),
        }
    }

    /// Queues `job` and starts a drain if none runs; gives the job back when full.
    fn enqueue(&self, job: Job) -> Result<(), Job> {
        {
            let mut q = self
                .writer
                .0
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if q.len() >= QUEUE {
                return Err(job);
            }
            q.push_back(job);
        }
        if !self.writer.0.active.swap(true, Ordering::AcqRel) {
            let store = self.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || store.drain());
                }
                Err(_) => store.drain(),
            }
        }
        Ok(())
    }

    /// Runs batches until the queue is empty; exactly one drain runs at a time.
    fn drain(&self) {
        let shared = &self.writer.0;
        loop {
            let jobs: Vec<Job> = {
                let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if jobs.is_empty() {
                shared.active.store(false, Ordering::Release);
                let more = !shared
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_empty();
                // Work queued after the check above: take the drain back unless a new
                // drain already did.
                if more && !shared.active.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            }
            run_batch(self, jobs);
        }
    }
}

fn run_batch(store: &Store, jobs: Vec<Job>) {
    let mut parent = match store.write_txn() {
        Ok(w) => w,
        Err(e) => {
            // Dropping a job drops its reply channel: its writer sees `WriterGone`.
            tracing::error!(
                count = jobs.len(),
                "store writer: cannot begin a transaction: {e}"
            );
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
