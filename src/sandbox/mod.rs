//! The sandbox the `exec` and `process` tools run commands in: an in-process Linux recipe
//! of Landlock (<https://docs.kernel.org/userspace-api/landlock.html>), a seccomp BPF filter
//! (<https://docs.kernel.org/userspace-api/seccomp_filter.html>), resource limits
//! (<https://man7.org/linux/man-pages/man2/prlimit.2.html>), `PR_SET_NO_NEW_PRIVS`, a
//! session and process group of its own that is killed as a whole, and a scrubbed
//! environment (issue 12).
//!
//! Owns: probing what the kernel offers ([`probe()`]), hardening the gateway process
//! ([`harden_gateway`]), starting a command confined ([`Child::spawn`], [`run`]) and only
//! once the caller recorded it ([`Child::spawn_recorded`]), capturing its output into
//! capped head+tail buffers, timeouts, cancellation and the group kill.
//! Must not import anything of Hearth's (only std, libc, thiserror, tracing): policy —
//! which commands may run, which mode an agent gets — belongs to `tool::exec`.
//!
//! # How a command is confined
//! Everything is prepared in the gateway before `fork` (the Landlock ruleset, the BPF
//! program, the limits); the child then runs only raw system calls (`pre_exec` must be
//! async-signal-safe): `setsid` → mark fds ≥ 3 close-on-exec → `oom_score_adj` 1000 →
//! `prlimit64` (CPU, AS, NPROC, FSIZE, NOFILE, CORE=0) → `PR_SET_NO_NEW_PRIVS` →
//! `landlock_restrict_self` → `prctl(PR_SET_SECCOMP)` → wait at the barrier until the
//! caller has recorded the pid ([`Child::spawn_recorded`]; `barrier.rs`). `landlock.rs`
//! says what the command may touch; `seccomp.rs` holds the filter: a deny-list with
//! architecture and x32 checks and a cap on system calls newer than Hearth knows, not an
//! allow-list — an agent runs arbitrary shell commands (compilers, package tools,
//! interpreters), whose system calls no list foresees and whose misses would show up as
//! mysterious EPERMs; the objects those calls reach are confined by Landlock instead. The
//! file's header gives the full argument.
//!
//! # Modes
//! [`Mode::Enforce`] refuses to run without Landlock. Raspberry Pi OS kernels are built
//! without it, so there the operator must opt out explicitly with [`Mode::Degraded`]:
//! seccomp, rlimits, the group kill and timeouts stay on, but the command can read and
//! write whatever Hearth's user can (the service's `ProtectSystem=strict` still applies).
//! Degraded does not use Landlock even where the kernel has it (the opt-out is the
//! operator's, and it lets the degraded path be tested on any kernel). Without seccomp
//! nothing runs, in either mode.
//!
//! # Shapes
//! - [`Captured`] is one stream; [`Child::output`] and [`Child::read_new`] return an
//!   [`Output`] holding both, [`Outcome`] has one per stream.
//! - [`Outcome::exit`] is `None` when the command did not finish by itself (timed out or
//!   cancelled, then killed); the outcome also carries the [`Confinement`] that applied.
//! - [`Probe::check`] says whether a mode can run here (for `hearth doctor`).
//! - `TMPDIR` is added to [`Spec::env`], pointing at [`Spec::tmp`], when the caller left it
//!   out.
//!
//! # What commands will notice
//! - No `/proc` at all: `ps`, `top`, listing `/dev/fd` fail (`/dev/stdin`, `/dev/stderr`
//!   work); no `/sys`.
//! - `setsid`/`setpgid` fail with EPERM: `setsid cmd`, job control, Python's
//!   `start_new_session`; git's detached auto-maintenance prints `fatal: setsid failed`
//!   after an otherwise successful command (set `maintenance.autoDetach=false`).
//! - Under the systemd unit, `MemoryDenyWriteExecute=yes` is inherited: JIT runtimes
//!   (node, Java, LuaJIT) fail.
//! - Landlock before ABI 2 refuses renames and links across directories.
//!
//! # Running as root
//! Hearth runs as its own user. Under root, `RLIMIT_NPROC` is never enforced (the kernel
//! exempts uid 0) and the command keeps root's capabilities (it could raise its limits);
//! Landlock and seccomp still hold.

mod barrier;
mod capture;
mod landlock;
mod limits;
mod probe;
mod seccomp;
mod spawn;

pub use capture::{Captured, Cursor, Output};
pub use probe::{LandlockStatus, Probe, harden_gateway, probe};
pub use spawn::Child;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How strictly [`Child::spawn`] confines a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Landlock, seccomp, rlimits, group kill: refuses to run when Landlock is missing.
    #[default]
    Enforce,
    /// The operator opted out of Landlock explicitly (e.g. on a Raspberry Pi OS kernel):
    /// seccomp, rlimits, group kill and timeouts still apply; files are not confined.
    Degraded,
}

/// Resource limits of one command, set soft = hard (CPU: hard one second above soft) so
/// that the command cannot raise them. Values above the gateway's own hard limits are
/// lowered to those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time per process, seconds (`RLIMIT_CPU`: SIGXCPU, then SIGKILL a second later).
    pub cpu_secs: u64,
    /// Virtual address space per process, bytes (`RLIMIT_AS`: allocations fail beyond it).
    pub address_space_bytes: u64,
    /// Processes and threads the command may add to those its user already has
    /// (`RLIMIT_NPROC` counts every task of the real uid, the gateway's threads and other
    /// commands included: set to the count — at most a second old — plus this budget; not
    /// enforced for root, where it is just the budget).
    pub processes: u64,
    /// Largest file a process may write, bytes (`RLIMIT_FSIZE`: SIGXFSZ, or EFBIG when
    /// the signal is ignored, as Python does).
    pub file_size_bytes: u64,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
}

impl Default for Limits {
    /// Sized for a Raspberry Pi: 60 s CPU, 2 GiB address space, 64 more tasks, 256 MiB
    /// files, 256 descriptors.
    fn default() -> Self {
        Self {
            cpu_secs: 60,
            address_space_bytes: 2 << 30,
            processes: 64,
            file_size_bytes: 256 << 20,
            open_files: 256,
        }
    }
}

/// What to run and how it is confined.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program and its arguments; `argv[0]` is looked up on the `PATH` of [`Spec::env`].
    pub argv: Vec<OsString>,
    /// Working directory (normally the workspace).
    pub cwd: PathBuf,
    /// Read, write, create, remove and execute beneath this directory. Must exist.
    pub workspace: PathBuf,
    /// A private writable directory for this command; `TMPDIR` points here. Must exist.
    pub tmp: PathBuf,
    /// Extra paths the command may read and execute (a toolchain under `/opt`, say).
    /// Each must exist.
    pub read_only: Vec<PathBuf>,
    /// The complete environment (nothing of the gateway's is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Whether the command may open network sockets (off: only `AF_UNIX`).
    pub network: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Enforce or degraded.
    pub mode: Mode,
    /// Whether stdin is a pipe ([`Child::write_stdin`]) or `/dev/null`.
    pub stdin: bool,
    /// Bytes kept per stream: the first half and the last half; the middle is dropped and
    /// counted.
    pub max_output_bytes: usize,
}

/// Output bytes kept per stream by [`Spec::new`] (64 KiB).
pub const DEFAULT_MAX_OUTPUT: usize = 64 << 10;

impl Spec {
    /// A spec running `argv` in `workspace` with [`default_env`], network off, default
    /// limits, [`Mode::Enforce`], stdin from `/dev/null` and [`DEFAULT_MAX_OUTPUT`].
    pub fn new(argv: Vec<OsString>, workspace: PathBuf, tmp: PathBuf) -> Self {
        Self {
            env: default_env(&workspace, &tmp),
            argv,
            cwd: workspace.clone(),
            workspace,
            tmp,
            read_only: Vec::new(),
            network: false,
            limits: Limits::default(),
            mode: Mode::Enforce,
            stdin: false,
            max_output_bytes: DEFAULT_MAX_OUTPUT,
        }
    }
}

/// A minimal environment: `PATH=/usr/local/bin:/usr/bin:/bin`, `HOME=home`, `TMPDIR=tmp`,
/// `LANG=C.UTF-8`, `TERM=dumb`.
pub fn default_env(home: &Path, tmp: &Path) -> Vec<(OsString, OsString)> {
    vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), home.into()),
        ("TMPDIR".into(), tmp.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
    ]
}

/// What confined a command, for reports (`Display`: "Landlock ABI 7 + seccomp, network off").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// The Landlock ABI applied, `None` in [`Mode::Degraded`].
    pub landlock_abi: Option<u32>,
    /// Instructions in the seccomp program.
    pub seccomp_instructions: usize,
    /// Whether network sockets were allowed.
    pub network: bool,
}

impl fmt::Display for Confinement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.landlock_abi {
            Some(abi) => write!(f, "Landlock ABI {abi} + seccomp")?,
            None => write!(f, "seccomp only (degraded: files not confined)")?,
        }
        let net = if self.network { "on" } else { "off" };
        write!(f, ", network {net}")
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exit status when it exited.
    pub code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// Wall-clock time from spawn until its exit was seen (within a few ms).
    pub duration: Duration,
}

impl Exit {
    /// Whether the seccomp filter killed it (SIGSYS): a system call of a foreign
    /// architecture or of the x32 ABI. Calls the filter merely refuses fail with EPERM
    /// and show in the command's own output.
    pub fn blocked_by_sandbox(&self) -> bool {
        self.signal == Some(libc::SIGSYS)
    }

    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Exit {
    /// "exit code 2 after 15 ms", "killed by SIGXFSZ (file size limit exceeded) after 3 ms".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.duration.as_millis();
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c} after {ms} ms"),
            (None, Some(s)) => write!(f, "killed by {} after {ms} ms", signal_text(s)),
            (None, None) => write!(f, "ended after {ms} ms"),
        }
    }
}

fn signal_text(sig: i32) -> String {
    let what = match sig {
        libc::SIGSYS => {
            "SIGSYS (blocked by the sandbox: a foreign-architecture or x32 system call)"
        }
        libc::SIGXFSZ => "SIGXFSZ (file size limit exceeded)",
        libc::SIGXCPU => "SIGXCPU (CPU time limit exceeded)",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV (segmentation fault)",
        libc::SIGABRT => "SIGABRT (aborted)",
        libc::SIGTERM => "SIGTERM",
        libc::SIGPIPE => "SIGPIPE (broken pipe)",
        _ => return format!("signal {sig}"),
    };
    what.to_string()
}

/// What [`Child::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The command's main process exited (background processes may still run until
    /// [`Child::kill`]).
    Exited(Exit),
    /// The timeout passed first.
    TimedOut,
    /// The cancel callback said so first.
    Cancelled,
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended; `None` when it was killed for a timeout or cancellation.
    pub exit: Option<Exit>,
    /// Killed because the timeout passed.
    pub timed_out: bool,
    /// Killed because the caller cancelled.
    pub cancelled: bool,
    /// Its standard output (head and tail).
    pub stdout: Captured,
    /// Its standard error (head and tail).
    pub stderr: Captured,
    /// What confined it.
    pub confinement: Confinement,
}

/// Runs `spec` to the end: spawns it, closes its stdin, waits up to `timeout` (or until
/// `cancel()` returns true, polled every ~20 ms), then always kills the whole process
/// group (no background process outlives the call) and collects the output.
///
/// # Errors
/// Those of [`Child::spawn`]; a command that fails, times out or is cancelled is an
/// [`Outcome`], not an error.
pub fn run(
    spec: &Spec,
    timeout: Duration,
    cancel: &dyn Fn() -> bool,
) -> Result<Outcome, SandboxError> {
    let child = Child::spawn(spec)?;
    child.close_stdin();
    let waited = child.wait(timeout, cancel);
    child.kill();
    child.drain(capture::DRAIN_WAIT);
    let out = child.output();
    Ok(Outcome {
        exit: match waited {
            Wait::Exited(e) => Some(e),
            Wait::TimedOut | Wait::Cancelled => None,
        },
        timed_out: waited == Wait::TimedOut,
        cancelled: waited == Wait::Cancelled,
        stdout: out.stdout,
        stderr: out.stderr,
        confinement: child.confinement(),
    })
}

/// Errors of the sandbox. Each message says what happened and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// [`Mode::Enforce`] and the kernel offers no Landlock.
    #[error(
        "exec refused: the sandbox needs Landlock, but {reason}; to run commands without \
         filesystem confinement the operator must set `sandbox = \"degraded\"` under [tools.exec]"
    )]
    LandlockMissing {
        /// Why Landlock is unavailable ([`LandlockStatus::Missing`]).
        reason: String,
    },
    /// The kernel (or emulator) offers no seccomp filters, or Hearth has no filter for
    /// this CPU architecture; there is no opt-out.
    #[error(
        "exec refused: seccomp filters are unavailable (a kernel without \
         CONFIG_SECCOMP_FILTER, qemu-user emulation, or a CPU architecture Hearth has no \
         filter for); commands cannot run without them"
    )]
    SeccompMissing,
    /// `argv` was empty.
    #[error("exec refused: the command line is empty")]
    EmptyCommand,
    /// A path of the spec cannot be opened for a Landlock rule.
    #[error("sandbox {what} {}: {source}", path.display())]
    Path {
        /// Which path: "workspace", "tmp", "read-only path".
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Building the Landlock ruleset failed in the gateway.
    #[error("cannot build the Landlock ruleset ({step}): {source}")]
    Landlock {
        /// The failing call.
        step: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// A step of confining the child failed between fork and exec; nothing ran.
    #[error("the sandbox could not be set up (child step {step}): {source}{}", setup_hint(.step, .source))]
    Setup {
        /// The failing call, e.g. `landlock_restrict_self`.
        step: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// The program could not be started (not found, not executable, not allowed).
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// `argv[0]`.
        program: String,
        /// The `execve`/`fork` error.
        #[source]
        source: io::Error,
    },
    /// A thread reading the command's output, or the barrier's, could not be started.
    #[error("cannot start a sandbox thread: {0}")]
    Thread(#[source] io::Error),
    /// The caller's record callback of [`Child::spawn_recorded`] failed; nothing ran.
    #[error("the command was not started: it could not be recorded first ({0})")]
    Record(#[source] io::Error),
    /// stdin was not requested ([`Spec::stdin`]) or is already closed.
    #[error("the command's stdin is closed (or was not requested with `stdin: true`)")]
    StdinClosed,
    /// Writing to stdin failed (the command exited or closed it).
    #[error("cannot write to the command's stdin: {0}")]
    Stdin(#[source] io::Error),
}

fn setup_hint(step: &str, source: &io::Error) -> &'static str {
    let filtered = source.raw_os_error() == Some(libc::EPERM)
        && matches!(step, "landlock_restrict_self" | "seccomp");
    if filtered {
        " (blocked by the service's own seccomp filter: add `SystemCallFilter=seccomp \
         landlock_create_ruleset landlock_add_rule landlock_restrict_self` to hearth.service)"
    } else {
        ""
    }
}
