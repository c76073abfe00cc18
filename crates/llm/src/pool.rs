//! A small persistent thread pool for the decoder's matrix products: `threads − 1` workers
//! that spin briefly for the next job and then park on a condition variable, each running
//! its share while the calling thread runs share 0. One job at a time: [`Pool::run`] returns
//! only when every share is done, which is what lets a job borrow the caller's stack.
//!
//! Decoding one token runs about seven products per layer (a few hundred per token), each
//! tens of microseconds long, so waking a parked thread per job would cost more than the
//! work; workers therefore spin for `SPIN` iterations after a job before parking.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// A job as the workers see it: `f(share, shares)`.
type Job = dyn Fn(usize, usize) + Sync;

/// Spin iterations (each a `spin_loop` hint, tens of ns) before a waiting thread parks.
const SPIN: u32 = 20_000;

struct Shared {
    /// Incremented per job (after `job` is written); a worker runs each generation once.
    generation: AtomicU64,
    /// The current job; written by `run` before `generation` moves, read by workers after.
    job: UnsafeCell<Option<*const Job>>,
    /// Worker shares not finished yet.
    pending: AtomicUsize,
    quit: AtomicBool,
    lock: Mutex<()>,
    start: Condvar,
    done: Condvar,
}

// SAFETY: `job` is written only by `Pool::run` while no worker reads it (all shares of the
// previous job are done, `pending` is 0) and read by workers only after they observe the new
// generation (Release/Acquire on `generation`); the job itself is `Sync` and outlives the run.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// The pool; dropping it stops and joins the workers.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
}

impl Pool {
    /// A pool running jobs on `threads` threads (the caller's included; at least 1).
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            generation: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            pending: AtomicUsize::new(0),
            quit: AtomicBool::new(false),
            lock: Mutex::new(()),
            start: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (1..threads)
            .map(|share| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("hearth-llm-{share}"))
                    .spawn(move || worker(&shared, share, threads))
                    .expect("spawn decoder worker")
            })
            .collect();
        Pool {
            shared,
            workers,
            threads,
        }
    }

    /// Threads a job runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(share, shares)` for every share `0..threads` (share 0 on the caller) and
    /// returns when all are done. A panic in a worker's share aborts the process (the matrix
    /// code does not panic on checked shapes).
    pub fn run(&self, f: &(dyn Fn(usize, usize) + Sync)) {
        if self.threads == 1 {
            f(0, 1);
            return;
        }
        let s = &*self.shared;
        // SAFETY: the lifetime is erased so workers can hold the pointer; `run` does not
        // return before `pending` is 0, i.e. before every worker finished with it.
        let ptr: *const Job =
            unsafe { std::mem::transmute::<&(dyn Fn(usize, usize) + Sync), &'static Job>(f) };
        // SAFETY: no worker reads `job` now (the previous run ended with pending = 0).
        unsafe { *s.job.get() = Some(ptr) };
        s.pending.store(self.threads - 1, Ordering::Relaxed);
        s.generation.fetch_add(1, Ordering::Release);
        {
            let _g = s.lock.lock().expect("pool lock");
            s.start.notify_all();
        }
        f(0, self.threads);
        let mut spins = 0;
        while s.pending.load(Ordering::Acquire) > 0 {
            if spins < SPIN {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let g = s.lock.lock().expect("pool lock");
            if s.pending.load(Ordering::Acquire) > 0 {
                drop(s.done.wait(g).expect("pool wait"));
            }
        }
    }
}

fn worker(s: &Shared, share: usize, shares: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0;
        loop {
            if s.quit.load(Ordering::Acquire) {
                return;
            }
            let g = s.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            if spins < SPIN {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let guard = s.lock.lock().expect("pool lock");
            if s.generation.load(Ordering::Acquire) == seen && !s.quit.load(Ordering::Acquire) {
                drop(s.start.wait(guard).expect("pool wait"));
            }
        }
        // SAFETY: the generation moved after `run` wrote the job (Acquire above), and `run`
        // keeps it alive until this share decrements `pending`.
        let f = unsafe { &*(*s.job.get()).expect("job set with the generation") };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(share, shares))).is_err() {
            std::process::abort();
        }
        if s.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _g = s.lock.lock().expect("pool lock");
            s.done.notify_one();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::Release);
        {
            let _g = self.shared.lock.lock().expect("pool lock");
            self.shared.start.notify_all();
        }
        for w in self.workers.drain(..) {
            w.join().ok();
        }
    }
}

/// The part `share` of `shares` gets of `0..n`, in contiguous ranges that differ by at most
/// one unit of `align` (the last may be shorter).
pub fn split(n: usize, share: usize, shares: usize, align: usize) -> std::ops::Range<usize> {
    let units = n.div_ceil(align);
    let (q, r) = (units / shares, units % shares);
    let start = share * q + share.min(r);
    let end = start + q + usize::from(share < r);
    (start * align).min(n)..(end * align).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_share_runs_once_per_job() {
        let pool = Pool::new(3);
        let hits = AtomicUsize::new(0);
        for i in 0..2000 {
            if i % 500 == 0 {
                // Let the workers park, so the condition-variable path runs too.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            pool.run(&|share, shares| {
                assert_eq!(shares, 3);
                hits.fetch_add(1 << (16 * share), Ordering::SeqCst);
            });
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2000 * (1 + (1 << 16) + (1 << 32))
        );
    }

    #[test]
    fn split_covers_the_range_without_overlap() {
        for n in [0, 1, 7, 64, 1000] {
            for shares in 1..5 {
                let parts: Vec<_> = (0..shares).map(|s| split(n, s, shares, 4)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[shares - 1].end, n);
                assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }
}
