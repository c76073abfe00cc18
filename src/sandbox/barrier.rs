//! The barrier that holds a command between `fork` and `exec` until the caller has
//! recorded it (`tool::exec` writes the marker its startup sweep of a killed gateway's
//! leftovers reads), so that no command ever runs unrecorded.
//!
//! Without it there is a window: the child runs as soon as it is forked, in a session of
//! its own, while the gateway learns its pid only when `Command::spawn` returns (after the
//! child's `execve`). A SIGKILL of the gateway in that window left a command that no
//! marker names, and nothing ever killed it.
//!
//! # Protocol
//! Two pipes (pipe(2), both ends `O_CLOEXEC`): *hello* (child → gateway) and *go*
//! (gateway → child). The child, as the last step of its `pre_exec` hook
//! ([`wait_in_child`]), closes its copies of the gateway's ends, writes its pid on hello
//! and blocks reading one byte from go. std's `Command::spawn` returns only after the
//! `execve`, so a helper thread of the gateway ([`Barrier::hold`]) reads the pid, calls
//! the caller's `record(pid)` and writes the byte only when that succeeded. If the
//! gateway dies first — or `record` fails — the last copy of go's write end closes without
//! a byte: the child's `read` returns 0 (end of file, pipe(7)), its hook fails, std's
//! child code calls `_exit` and the program never runs. The child's side makes only
//! async-signal-safe calls (`close`, `getpid`, `write`, `read`: signal-safety(7)).
//!
//! # Architecture invariant
//! One barrier at a time, process-wide ([`Barrier::new`] takes a lock that [`Barrier::hold`]
//! releases after the `execve`). A child forked while another waits at its barrier would
//! inherit the other's go write end (fork(2) copies every descriptor; `O_CLOEXEC` closes
//! it only at `execve`): two children each holding the other's write end would never see
//! end of file. Other programs the gateway forks do not wait before their `execve`, so the
//! copies they inherit close at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

/// Serialises barriers; see the module's architecture invariant.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The descriptors the child uses, as plain numbers (copied into the `pre_exec` plan).
#[derive(Debug, Clone, Copy)]
pub(super) struct ChildFds {
    hello_rx: RawFd,
    hello_tx: RawFd,
    go_rx: RawFd,
    go_tx: RawFd,
}

/// Both pipes, made before `fork`, and the process-wide lock.
pub(super) struct Barrier {
    hello_rx: OwnedFd,
    hello_tx: OwnedFd,
    go_rx: OwnedFd,
    go_tx: OwnedFd,
    _one: MutexGuard<'static, ()>,
}

/// What the helper thread saw.
pub(super) enum Recorded {
    /// `record(pid)` succeeded and the child was released.
    Released(u32),
    /// The child ended before it said hello (a setup step failed, or it was not forked).
    NoChild,
    /// `record(pid)` failed; the child saw end of file and did not run.
    Failed(io::Error),
}

impl Barrier {
    /// Takes the lock and makes both pipes (blocking, `O_CLOEXEC`).
    ///
    /// # Errors
    /// `pipe2`'s (EMFILE, ENFILE).
    pub fn new() -> io::Result<Self> {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let (hello_rx, hello_tx) = pipe()?;
        let (go_rx, go_tx) = pipe()?;
        Ok(Self {
            hello_rx,
            hello_tx,
            go_rx,
            go_tx,
            _one: one,
        })
    }

    /// The numbers the child's [`wait_in_child`] needs.
    pub fn child_fds(&self) -> ChildFds {
        ChildFds {
            hello_rx: self.hello_rx.as_raw_fd(),
            hello_tx: self.hello_tx.as_raw_fd(),
            go_rx: self.go_rx.as_raw_fd(),
            go_tx: self.go_tx.as_raw_fd(),
        }
    }

    /// Runs `spawn` (which forks the child and returns after its `execve` or its failure)
    /// while a helper thread waits for the child's pid, calls `record(pid)` and releases
    /// the child when that succeeded. `record` runs under the lock: it must not spawn.
    ///
    /// # Errors
    /// The helper thread cannot be started; then `spawn` is not called.
    pub fn hold<T>(
        self,
        spawn: impl FnOnce() -> T,
        record: impl FnOnce(u32) -> io::Result<()> + Send,
    ) -> io::Result<(T, Recorded)> {
        let Self {
            hello_rx,
            hello_tx,
            go_rx,
            go_tx,
            _one,
        } = self;
        std::thread::scope(|s| {
            let helper = std::thread::Builder::new()
                .name("sandbox-barrier".into())
                .spawn_scoped(s, move || {
                    let Some(pid) = read_pid(&hello_rx) else {
                        return Recorded::NoChild;
                    };
                    if let Err(e) = record(pid) {
                        // Dropping `go_tx` unwritten: the child reads end of file.
                        return Recorded::Failed(e);
                    }
                    // A failed write means the child is gone; `spawn` reports how.
                    let _ = write_byte(&go_tx);
                    Recorded::Released(pid)
                })?;
            let spawned = spawn();
            // The child has its copies (or was never forked): the helper's read of hello
            // now ends with the child's pid or at end of file.
            drop(hello_tx);
            drop(go_rx);
            let recorded = helper.join().unwrap_or_else(|_| {
                Recorded::Failed(io::Error::other("the record callback panicked"))
            });
            Ok((spawned, recorded))
        })
    }
}

/// The child's side, the last step of its `pre_exec` hook: says hello with its pid, then
/// waits for the go byte. Only `close`, `getpid`, `write` and `read` (signal-safety(7));
/// no allocation.
///
/// # Errors
/// ECANCELED when go reached end of file (the gateway died or did not record the
/// command); the errno of a failed `write` or `read`.
///
/// # Safety
/// Call only in the child between `fork` and `execve`, with `fds` from [`Barrier::child_fds`]
/// of the barrier that is holding this child.
pub(super) unsafe fn wait_in_child(fds: &ChildFds) -> io::Result<()> {
    // SAFETY: the numbers are this barrier's pipes, inherited across fork; the buffers
    // are locals.
    unsafe {
        // Our copy of go's write end would keep the read below from ever seeing EOF.
        libc::close(fds.go_tx);
        libc::close(fds.hello_rx);
        let pid = libc::getpid().to_ne_bytes();
        let n = libc::write(fds.hello_tx, pid.as_ptr().cast(), pid.len());
        if n != pid.len() as isize {
            return Err(io::Error::last_os_error());
        }
        libc::close(fds.hello_tx);
        let mut byte = 0u8;
        let n = loop {
            let n = libc::read(fds.go_rx, (&mut byte as *mut u8).cast(), 1);
            if n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break n;
            }
        };
        let read_error = io::Error::last_os_error();
        libc::close(fds.go_rx);
        match n {
            1 => Ok(()),
            0 => Err(io::Error::from_raw_os_error(libc::ECANCELED)),
            _ => Err(read_error),
        }
    }
}

/// The child's pid from hello, `None` at end of file (every write end closed first).
fn read_pid(rx: &OwnedFd) -> Option<u32> {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of a local buffer.
        let n = unsafe {
            libc::read(
                rx.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        match n {
            0 => return None,
            n if n > 0 => got += n as usize,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return None,
        }
    }
    u32::try_from(libc::pid_t::from_ne_bytes(buf)).ok()
}

fn write_byte(tx: &OwnedFd) -> io::Result<()> {
    loop {
        // SAFETY: writes one byte from a static.
        let n = unsafe { libc::write(tx.as_raw_fd(), b"g".as_ptr().cast(), 1) };
        if n == 1 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A blocking close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are fresh and owned here only.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
