//! The OS threads adapters run their long polls and sockets on: a small stack, naps that
//! end at shutdown, and exponential backoff between failed attempts.

use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Stack of an adapter thread: they parse JSON and call the gate, nothing deep.
const STACK: usize = 256 << 10;

/// Spawns `f` on a named thread.
///
/// # Errors
/// When the OS refuses the thread.
pub fn spawn(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .stack_size(STACK)
        .spawn(f)
}

/// Sleeps `d` unless `shutdown` fires first; false on shutdown.
pub fn nap(shutdown: &CancellationToken, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shutdown.is_cancelled() {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
    }
    !shutdown.is_cancelled()
}

/// Waits between failed attempts: 1 s, doubling, at most 60 s; reset after a success.
#[derive(Debug)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_secs(1))
    }
}

impl Backoff {
    /// After a success: the next failure waits 1 s again.
    pub fn reset(&mut self) {
        self.0 = Duration::from_secs(1);
    }

    /// The wait the next failure gets.
    pub fn current(&self) -> Duration {
        self.0
    }

    /// The wait after this failure (and doubles the next one).
    pub fn after_failure(&mut self) -> Duration {
        let w = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(60));
        w
    }
}
