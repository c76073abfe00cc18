//! Starting a confined command and supervising its process group.
//!
//! The child is started with std's `Command` and a `pre_exec` hook
//! (<https://doc.rust-lang.org/std/os/unix/process/trait.CommandExt.html#tymethod.pre_exec>)
//! that runs only raw system calls on data prepared before `fork`. The command's main
//! process leads a new session and process group; its exit is observed with
//! `waitid(WNOWAIT)` so that it stays a zombie — and its pid, the group id, cannot be
//! reused — until [`Child::kill`] has sent SIGKILL to the group and reaped it. The last
//! step of the hook waits at a [barrier](super::barrier) until the caller has recorded the
//! child's pid ([`Child::spawn_recorded`]): no command runs before it is recorded.

use super::barrier::{self, Barrier, Recorded};
use super::capture::{self, Cursor, Output, Stream};
use super::limits::{self, Rlimit64};
use super::{Confinement, Exit, Mode, SandboxError, Spec, Wait, landlock, probe, seccomp};
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest sleep between two looks at the child and the cancel callback.
const POLL: Duration = Duration::from_millis(20);

/// Names of the child's setup steps, indexed by the byte it reports on failure.
const STEPS: [&str; 7] = [
    "setsid",
    "close_range",
    "prlimit64",
    "no_new_privs",
    "landlock_restrict_self",
    "seccomp",
    "barrier",
];
const STEP_SETSID: u8 = 0;
const STEP_PRLIMIT: u8 = 2;
const STEP_NO_NEW_PRIVS: u8 = 3;
const STEP_LANDLOCK: u8 = 4;
const STEP_SECCOMP: u8 = 5;
const STEP_BARRIER: u8 = 6;

/// Everything the child needs, allocated before `fork`.
struct ChildPlan {
    filter: Vec<libc::sock_filter>,
    rlimits: Vec<(libc::c_int, Rlimit64)>,
    ruleset: Option<RawFd>,
    report: RawFd,
    barrier: barrier::ChildFds,
    /// Highest fd + 1 to mark close-on-exec one by one when `close_range` is missing.
    fd_scan_end: libc::c_int,
}

/// A running sandboxed command: the leader of its own session and process group, with
/// its output captured. Dropping it kills the group.
pub struct Child {
    pid: u32,
    started: Instant,
    state: Mutex<State>,
    pidfd: Option<OwnedFd>,
    stdin: Mutex<Option<ChildStdin>>,
    stdout: Arc<Stream>,
    stderr: Arc<Stream>,
    confinement: Confinement,
}

struct State {
    child: std::process::Child,
    exit: Option<Exit>,
    reaped: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Child {
    /// Starts `spec.argv` confined as described in the [module docs](super): Landlock (in
    /// [`Mode::Enforce`]), the seccomp filter, rlimits, `PR_SET_NO_NEW_PRIVS`, a new
    /// session, the given environment only, stdout and stderr captured.
    ///
    /// # Errors
    /// [`SandboxError::EmptyCommand`]; [`SandboxError::LandlockMissing`] in
    /// [`Mode::Enforce`] without Landlock; [`SandboxError::SeccompMissing`] without
    /// seccomp; [`SandboxError::Path`] when the workspace, tmp or a read-only path is
    /// missing; [`SandboxError::Landlock`] and [`SandboxError::Setup`] when confining
    /// fails; [`SandboxError::Spawn`] when the program cannot be executed;
    /// [`SandboxError::Thread`] when no reader or barrier thread can be started.
    pub fn spawn(spec: &Spec) -> Result<Child, SandboxError> {
        Self::spawn_recorded(spec, |_| Ok(()))
    }

    /// As [`Child::spawn`], but the command runs only after `record(pid)` returned `Ok`:
    /// the child waits between `fork` and `execve` while `record` runs on a helper thread
    /// (under a process-wide lock: `record` must not spawn). When `record` fails — or the
    /// gateway dies before it returns — the child exits without running the command.
    ///
    /// # Errors
    /// Those of [`Child::spawn`]; [`SandboxError::Record`] when `record` failed.
    pub fn spawn_recorded(
        spec: &Spec,
        record: impl FnOnce(u32) -> io::Result<()> + Send,
    ) -> Result<Child, SandboxError> {
        let program = spec.argv.first().ok_or(SandboxError::EmptyCommand)?;
        let program_name = program.to_string_lossy().into_owned();
        let probe = probe();
        probe.check(spec.mode)?;
        let arch = seccomp::NATIVE_ARCH.ok_or(SandboxError::SeccompMissing)?;
        let abi = match spec.mode {
            Mode::Enforce => probe.landlock_abi(),
            Mode::Degraded => {
                tracing::warn!(program = %program_name, "sandbox: degraded mode, files are not confined (no Landlock)");
                None
            }
        };
        let ruleset = abi.map(|abi| landlock::build(abi, spec)).transpose()?;
        let filter = seccomp::program(
            &arch,
            &seccomp::Options {
                network: spec.network,
                gateway_pid: std::process::id(),
                // SAFETY: getpgrp cannot fail.
                gateway_pgid: unsafe { libc::getpgrp() } as u32,
            },
        );
        let confinement = Confinement {
            landlock_abi: abi,
            seccomp_instructions: filter.len(),
            network: spec.network,
        };
        let spawn_error = |source| SandboxError::Spawn {
            program: program_name.clone(),
            source,
        };
        let (report_rx, report_tx) = pipe().map_err(spawn_error)?;
        let barrier = Barrier::new().map_err(spawn_error)?;
        let plan = ChildPlan {
            filter,
            rlimits: limits::rlimits(&spec.limits),
            ruleset: ruleset.as_ref().map(AsRawFd::as_raw_fd),
            report: report_tx.as_raw_fd(),
            barrier: barrier.child_fds(),
            fd_scan_end: limits::fd_scan_end(),
        };

        let mut cmd = Command::new(program);
        cmd.args(&spec.argv[1..])
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
            .stdin(if spec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !spec.env.iter().any(|(k, _)| k == OsStr::new("TMPDIR")) {
            cmd.env("TMPDIR", &spec.tmp);
        }
        // SAFETY: the hook only makes raw system calls on memory owned by `plan`, which
        // was allocated before fork (async-signal-safe, no locks, no allocation).
        unsafe { cmd.pre_exec(move || child_setup(&plan)) };
        let started = Instant::now();
        let (spawned, recorded) = barrier
            .hold(|| cmd.spawn(), record)
            .map_err(SandboxError::Thread)?;
        drop(report_tx);
        drop(ruleset);
        if let Recorded::Failed(e) = recorded {
            if let Ok(mut child) = spawned {
                // Unreachable: the child execs only after the go byte, sent after `record`
                // succeeded. Kill it all the same rather than leave it unrecorded.
                // SAFETY: plain system call on our unreaped child's group.
                unsafe { libc::killpg(child.id() as libc::pid_t, libc::SIGKILL) };
                let _ = child.wait();
            }
            return Err(SandboxError::Record(e));
        }
        let mut child = spawned.map_err(|source| match failed_step(&report_rx) {
            Some(step) => SandboxError::Setup { step, source },
            None => spawn_error(source),
        })?;
        let pid = child.id();
        debug_assert!(
            matches!(recorded, Recorded::Released(p) if p == pid),
            "the child exec'd, so its pid was recorded and it was released"
        );
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            unreachable!("stdout and stderr were requested as pipes")
        };
        let this = Child {
            pid,
            started,
            pidfd: pidfd_open(pid),
            stdin: Mutex::new(child.stdin.take()),
            state: Mutex::new(State {
                child,
                exit: None,
                reaped: false,
            }),
            stdout: Stream::new(spec.max_output_bytes),
            stderr: Stream::new(spec.max_output_bytes),
            confinement,
        };
        // On failure `this` is dropped, which kills and reaps the group.
        capture::spawn_reader(format!("sandbox-{pid}-out"), out, this.stdout.clone())
            .map_err(SandboxError::Thread)?;
        capture::spawn_reader(format!("sandbox-{pid}-err"), err, this.stderr.clone())
            .map_err(SandboxError::Thread)?;
        tracing::debug!(pid, program = %program_name, confinement = %this.confinement, "sandbox: started");
        Ok(this)
    }

    /// The main process's id, which is also the session and process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// What confines the command.
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// Writes all of `data` to the command's stdin (blocking while the pipe is full).
    ///
    /// # Errors
    /// [`SandboxError::StdinClosed`] when stdin was not piped or is closed;
    /// [`SandboxError::Stdin`] when the write fails (EPIPE: the command is gone or closed
    /// its end).
    pub fn write_stdin(&self, data: &[u8]) -> Result<(), SandboxError> {
        let mut guard = lock(&self.stdin);
        let w = guard.as_mut().ok_or(SandboxError::StdinClosed)?;
        w.write_all(data)
            .and_then(|()| w.flush())
            .map_err(SandboxError::Stdin)
    }

    /// Closes stdin (the command reads end of file). Idempotent.
    pub fn close_stdin(&self) {
        lock(&self.stdin).take();
    }

    /// Everything captured so far, both streams (head and tail, see [`super::Captured`]).
    pub fn output(&self) -> Output {
        Output {
            stdout: self.stdout.snapshot(),
            stderr: self.stderr.snapshot(),
        }
    }

    /// What arrived since `cursor` last looked, and moves the cursor on: for `process
    /// poll`. Bytes the tail ring overwrote before this poll are replaced by a drop marker
    /// and counted in [`super::Captured::dropped_bytes`]; `complete` is set once a stream
    /// has ended and all of it was returned.
    pub fn read_new(&self, cursor: &mut Cursor) -> Output {
        Output {
            stdout: self.stdout.read_from(&mut cursor.stdout),
            stderr: self.stderr.read_from(&mut cursor.stderr),
        }
    }

    /// How the main process ended, if it has; does not block. Other processes of the group
    /// may still run until [`Child::kill`].
    pub fn try_wait(&self) -> Option<Exit> {
        let mut st = lock(&self.state);
        self.observe(&mut st)
    }

    fn observe(&self, st: &mut State) -> Option<Exit> {
        if st.exit.is_some() || st.reaped {
            return st.exit;
        }
        // SAFETY: siginfo_t is plain data; waitid fills it. WNOWAIT leaves the zombie.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        let r = unsafe { libc::waitid(libc::P_PID, self.pid as libc::id_t, &mut info, flags) };
        let duration = self.started.elapsed();
        let exit = if r != 0 {
            if io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD) {
                return None;
            }
            // Reaped behind our back: report an end without a status.
            Exit {
                code: None,
                signal: None,
                duration,
            }
        } else {
            // SAFETY: waitid succeeded, so the child fields are initialised (pid 0: still running).
            let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
            if pid == 0 {
                return None;
            }
            match info.si_code {
                libc::CLD_EXITED => Exit {
                    code: Some(status),
                    signal: None,
                    duration,
                },
                _ => Exit {
                    code: None,
                    signal: Some(status),
                    duration,
                },
            }
        };
        st.exit = Some(exit);
        Some(exit)
    }

    /// Waits until the main process exits, `timeout` passes or `cancel()` returns true
    /// (asked about every 20 ms). Kills nothing by itself.
    pub fn wait(&self, timeout: Duration, cancel: &dyn Fn() -> bool) -> Wait {
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_millis(1);
        loop {
            if let Some(exit) = self.try_wait() {
                return Wait::Exited(exit);
            }
            if cancel() {
                return Wait::Cancelled;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wait::TimedOut;
            }
            let slice = POLL.min(deadline - now);
            match &self.pidfd {
                Some(fd) => poll_readable(fd, slice),
                None => {
                    std::thread::sleep(nap.min(slice));
                    nap = (nap * 2).min(POLL);
                }
            }
        }
    }

    /// Sends SIGKILL to the whole process group and reaps the main process. Idempotent;
    /// also done on drop. Background processes of the command die with it (they cannot
    /// leave the group: `setsid`/`setpgid` are refused). Returns at once unless the main
    /// process is stuck in uninterruptible I/O (a hung network filesystem).
    pub fn kill(&self) {
        let mut st = lock(&self.state);
        if st.reaped {
            return;
        }
        // The main process is unreaped (at worst a zombie), so the group id is still ours.
        // SAFETY: plain system call; ESRCH when nothing is left is fine.
        unsafe { libc::killpg(self.pid as libc::pid_t, libc::SIGKILL) };
        let status = st.child.wait();
        st.reaped = true;
        if st.exit.is_none() {
            let duration = self.started.elapsed();
            st.exit = Some(match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    Exit {
                        code: s.code(),
                        signal: s.signal(),
                        duration,
                    }
                }
                Err(_) => Exit {
                    code: None,
                    signal: None,
                    duration,
                },
            });
        }
        drop(st);
        lock(&self.stdin).take();
        tracing::debug!(pid = self.pid, "sandbox: process group killed");
    }

    /// Waits up to `max` for both output pipes to reach end of file.
    pub(crate) fn drain(&self, max: Duration) {
        let deadline = Instant::now() + max;
        self.stdout.wait_eof(deadline);
        self.stderr.wait_eof(deadline);
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("confinement", &self.confinement)
            .finish_non_exhaustive()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The child's side, between fork and exec: raw system calls only.
fn child_setup(plan: &ChildPlan) -> io::Result<()> {
    // SAFETY (whole function): system calls with integer arguments or pointers into `plan`
    // and statics, which stay valid; no allocation, no locks.
    unsafe {
        if libc::setsid() < 0 {
            return fail(plan.report, STEP_SETSID);
        }
        // Mark fds ≥ 3 close-on-exec rather than closing them: std's exec-error pipe must
        // survive until exec. close_range arrived in 5.9 (the flag in 5.11).
        let r = libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        if r != 0 {
            for fd in 3..plan.fd_scan_end {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        // The OOM killer picks the command before the gateway (raising needs no privilege).
        let oom = libc::open(
            c"/proc/self/oom_score_adj".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if oom >= 0 {
            libc::write(oom, b"1000".as_ptr().cast(), 4);
            libc::close(oom);
        }
        for (resource, lim) in &plan.rlimits {
            let r = libc::syscall(
                libc::SYS_prlimit64,
                0,
                *resource,
                lim as *const Rlimit64,
                std::ptr::null_mut::<Rlimit64>(),
            );
            if r != 0 {
                return fail(plan.report, STEP_PRLIMIT);
            }
        }
        if libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        ) != 0
        {
            return fail(plan.report, STEP_NO_NEW_PRIVS);
        }
        if let Some(fd) = plan.ruleset
            && landlock::restrict_self(fd) != 0
        {
            return fail(plan.report, STEP_LANDLOCK);
        }
        let prog = libc::sock_fprog {
            len: plan.filter.len() as libc::c_ushort,
            filter: plan.filter.as_ptr().cast_mut(),
        };
        // prctl rather than seccomp(2): systemd < 257 service filters allow only the former.
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        ) != 0
        {
            return fail(plan.report, STEP_SECCOMP);
        }
        // Last: the command runs only once the gateway has recorded it.
        if let Err(e) = barrier::wait_in_child(&plan.barrier) {
            report(plan.report, STEP_BARRIER);
            return Err(e);
        }
    }
    Ok(())
}

/// Reports step `step` on the report pipe and returns the current errno.
fn fail(report: RawFd, step: u8) -> io::Result<()> {
    let e = io::Error::last_os_error();
    self::report(report, step);
    Err(e)
}

/// Writes step `step` on the report pipe (async-signal-safe: one `write`).
fn report(report: RawFd, step: u8) {
    // SAFETY: one byte from a local; the result does not matter.
    unsafe { libc::write(report, (&step as *const u8).cast(), 1) };
}

/// The step the child reported before failing, if any.
fn failed_step(rx: &OwnedFd) -> Option<&'static str> {
    let mut b = [0u8; 1];
    // SAFETY: reads one byte into a local buffer; the pipe is non-blocking.
    let n = unsafe { libc::read(rx.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
    (n == 1)
        .then(|| STEPS.get(usize::from(b[0])).copied())
        .flatten()
}

/// A close-on-exec, non-blocking pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are fresh and owned here only.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: integer arguments; the pid is our unreaped child, so it names that process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    // SAFETY: a fresh fd owned here only.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits up to `max` for the pidfd to become readable (the process exited).
fn poll_readable(fd: &OwnedFd, max: Duration) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = max.as_millis().clamp(1, 1000) as libc::c_int;
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_child_step_is_named() {
        let (rx, tx) = pipe().expect("pipe");
        assert_eq!(failed_step(&rx), None, "nothing reported: an exec error");
        let e = fail(tx.as_raw_fd(), STEP_LANDLOCK).expect_err("fail returns the errno");
        assert!(e.raw_os_error().is_some());
        assert_eq!(failed_step(&rx), Some("landlock_restrict_self"));
        let err = SandboxError::Setup {
            step: "seccomp",
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(
            err.to_string().contains("SystemCallFilter=seccomp"),
            "{err}"
        );
    }
}
