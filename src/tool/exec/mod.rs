//! `exec` and `process`: commands in the workspace, run in Hearth's sandbox
//! ([`crate::sandbox`]: Landlock, seccomp, rlimits, no_new_privs, a process group of their
//! own, a scrubbed environment, network off unless the policy turns it on), gated by the
//! approvals of [`gate`], with OpenClaw's tool shapes (<https://docs.openclaw.ai/tools/exec>,
//! <https://docs.openclaw.ai/tools/process>).
//!
//! A foreground `exec` waits up to `yieldMs` (10 s): a command still running then goes on
//! as a background job the `process` tool polls, writes to and kills. A cancelled run kills
//! its foreground command's whole process group; background jobs die by `process kill`,
//! their own timeout, or the gateway's shutdown.

pub mod analyze;
pub mod gate;
mod jobs;
mod scratch;
mod tools;

pub use jobs::Jobs;
pub use scratch::sweep;
pub use tools::{ExecTool, ProcessTool};

use crate::core::{AllowEntry, ApprovalRequest, Decision, ExecMode};
use crate::sandbox;
use crate::tool::ToolCtx;
use std::path::PathBuf;
use std::time::Duration;

/// Where an approval request goes and how the allow-list is kept: implemented by the
/// gateway's approvals broker (LMDB document, chat and WebSocket delivery).
pub trait Approvals: Send + Sync {
    /// Agent `agent`'s allow-list as it is now.
    fn allowlist(&self, agent: &str) -> Vec<AllowEntry>;

    /// Records that `used` entries matched `command` now, and adds `added` (an
    /// `allow-always`); both persist.
    fn record(&self, agent: &str, used: &[AllowEntry], added: Vec<AllowEntry>, command: &str);

    /// Asks a human about `req` and blocks until they answer, the request expires, or
    /// `ctx` is cancelled. `None` means no answer (the caller denies). The answer comes
    /// with who gave it (`telegram:42`, `ws`, `cli`).
    fn ask(&self, ctx: &ToolCtx, req: ApprovalRequest) -> Option<(Decision, String)>;

    /// How long a request waits for an answer, ms.
    fn timeout_ms(&self) -> u64;
}

/// Settings of `exec` and `process` for one agent (from `[tools.exec]`).
#[derive(Clone)]
pub struct ExecOptions {
    /// The workspace: the command's working directory, writable.
    pub workspace: PathBuf,
    /// A folder for the per-command private tmp directories (emptied per command).
    pub tmp_root: PathBuf,
    /// How commands are gated.
    pub mode: ExecMode,
    /// `Degraded` only when the operator opted out of Landlock explicitly.
    pub sandbox: sandbox::Mode,
    /// Whether commands may open network sockets.
    pub network: bool,
    /// Resource limits per command.
    pub limits: sandbox::Limits,
    /// Default wall-clock limit.
    pub timeout: Duration,
    /// The most a call may ask for with `timeout`.
    pub max_timeout: Duration,
    /// Default foreground wait before a command becomes a background job.
    pub yield_after: Duration,
    /// Bytes of stdout and of stderr kept per command (head and tail).
    pub max_output_bytes: usize,
    /// Extra read-only paths (e.g. a toolchain under /opt).
    pub read_only: Vec<PathBuf>,
}

/// Environment names a call may not set.
fn forbidden_env(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n == "PATH" || n.starts_with("LD_") || n.starts_with("DYLD_") || n == "BASH_ENV" || n == "ENV"
}

/// The complete environment of a command: nothing of the gateway's (no secrets), a fixed
/// PATH, HOME at the workspace, TMPDIR at the private tmp, then the call's own names.
fn environment(
    opts: &ExecOptions,
    tmp: &std::path::Path,
    extra: &[(String, String)],
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), analyze::SANDBOX_PATH.into()),
        ("HOME".into(), opts.workspace.display().to_string()),
        ("TMPDIR".into(), tmp.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
        ("HEARTH_SHELL".into(), "exec".into()),
    ];
    if let Ok(tz) = std::env::var("TZ") {
        env.push(("TZ".into(), tz));
    }
    for (k, v) in extra {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
    env.into_iter().map(|(k, v)| (k.into(), v.into())).collect()
}

/// Asks `approvals` about `req` (for `what`, named in refusals) and notes each step in
/// `ctx`: `Ok(false)` for allow-once, `Ok(true)` for allow-always (the caller adds the
/// allow-list entry), else the refusal — denied, expired or cancelled.
///
/// # Errors
/// [`ToolError::Denied`] naming who denied or that the request expired;
/// [`ToolError::Cancelled`] when the run ended while waiting.
pub(crate) fn ask_human(
    approvals: &dyn Approvals,
    ctx: &ToolCtx,
    req: ApprovalRequest,
    what: &str,
) -> Result<bool, crate::tool::ToolError> {
    use crate::tool::ToolError;
    let id = req.id.clone();
    match approvals.ask(ctx, req) {
        Some((d @ (Decision::AllowOnce | Decision::AllowAlways), by)) => {
            ctx.note_decision(format!("approval {id}: {} by {by}", d.as_str()));
            Ok(d == Decision::AllowAlways)
        }
        Some((Decision::Deny, by)) => {
            ctx.note_decision(format!("approval {id}: deny by {by}"));
            Err(ToolError::Denied(format!(
                "{what} was denied by {by} (approval {id})"
            )))
        }
        None if ctx.cancel.is_cancelled() => Err(ToolError::Cancelled),
        None => {
            ctx.note_decision(format!("approval {id}: expired"));
            Err(ToolError::Denied(format!(
                "nobody approved {what} in time (approval {id} expired); it did not run"
            )))
        }
    }
}

/// A line of `text` for prompts and summaries, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// `2 * bytes` random hex digits (ids of approvals, jobs, temp dirs), falling back to the
/// clock and a counter when the OS generator fails.
pub(crate) fn short_id(bytes: usize) -> String {
    crate::core::random_hex(bytes).unwrap_or_else(|_| {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:x}{n:x}", crate::core::now_ms())
    })
}
