//! The CPU worker pool that candle runs on, shared by the on-device chat model
//! (`provider/local/`, feature `local-llm`) and the sentence embedder (`embed/`, feature
//! `embedder`). A build with neither has no pool, and [`init_cpu_threads`] does nothing.
//!
//! Architecture invariant: this module imports nothing from the crate; besides it, only
//! `provider/local/` and `embed/` may import candle.

/// Sizes candle's CPU worker pool for this process, once, and returns the thread count in
/// effect (the calling thread included); 0 in a build without candle.
///
/// candle 0.11 runs quantized matmuls on a process-wide pool of spin-waiting workers sized on
/// first use from `CANDLE_NUM_THREADS` (else `RAYON_NUM_THREADS`, else the physical cores).
/// This sets `CANDLE_NUM_THREADS` to `threads` unless the environment already sets it or
/// `threads` is 0, then builds the pool. Later calls return the first answer. Call it early in
/// `main`, before other threads start; the local provider calls it before its first
/// generation otherwise.
#[cfg(any(feature = "local-llm", feature = "embedder"))]
pub fn init_cpu_threads(threads: usize) -> usize {
    static IN_EFFECT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *IN_EFFECT.get_or_init(|| {
        if threads > 0 && std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            // SAFETY: set_var is unsafe only because another thread may read the environment
            // at the same time through libc (getenv) rather than std, which serialises its own
            // readers and writers. This runs once per process (OnceLock), ideally from `main`
            // before any other thread exists. When it runs later, the residual risk is a libc
            // getenv in another thread (resolver, locale) racing this one write; Hearth calls
            // it from `main` (cli::gateway) so that window does not occur in the daemon.
            unsafe { std::env::set_var("CANDLE_NUM_THREADS", threads.to_string()) };
        }
        let n = candle_core::utils::barrier_pool().n_workers() + 1;
        if threads > 0 && n != threads {
            tracing::warn!(
                wanted = threads,
                in_effect = n,
                "candle CPU threads fixed elsewhere (CANDLE_NUM_THREADS)"
            );
        }
        n
    })
}

/// Without an on-device model there is no candle pool to size: returns 0.
#[cfg(not(any(feature = "local-llm", feature = "embedder")))]
pub fn init_cpu_threads(_threads: usize) -> usize {
    0
}
