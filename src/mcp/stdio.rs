//! The stdio transport
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#stdio>): the
//! server is a child process in a process group of its own; messages are newline-delimited
//! JSON on its stdin and stdout; its stderr lines are logged at debug level. Closing ends
//! stdin, sends SIGTERM to the whole group, and SIGKILL to it after [`CLOSE_GRACE`].
//!
//! The child gets a small inherited environment ([`INHERITED_ENV`]: no API keys of the
//! gateway leak into third-party servers), then the configured `env`, then `secret_env`.

use super::McpError;
use super::session::{Inbox, Transport, lock};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio as Pipe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Time a child has between SIGTERM and SIGKILL.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Longest message line read from a server, in bytes (16 MiB: tool results may carry images).
pub const MAX_LINE: usize = 16 << 20;

/// Environment variables passed on from the gateway (the MCP Python SDK passes a similar
/// set); everything else must be named in `env` or `secret_env`.
pub const INHERITED_ENV: &[&str] = &[
    "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct StdioOptions {
    /// The program (looked up on `PATH`).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment added to [`INHERITED_ENV`], secrets already resolved.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
}

/// A running stdio server.
pub struct StdioTransport {
    server: String,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    child: Arc<Mutex<Child>>,
    pgid: Pid,
    closed: AtomicBool,
}

impl StdioTransport {
    /// Spawns the server and starts the threads reading its stdout (into `inbox`) and stderr.
    ///
    /// # Errors
    /// [`McpError::Spawn`] when the program cannot be started.
    pub fn spawn(server: &str, opts: &StdioOptions, inbox: Arc<Inbox>) -> Result<Self, McpError> {
        let mut cmd = Command::new(&opts.command);
        cmd.args(&opts.args)
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
            )
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&opts.cwd)
            .stdin(Pipe::piped())
            .stdout(Pipe::piped())
            .stderr(Pipe::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| McpError::Spawn {
            command: opts.command.clone(),
            detail: format!("{e} (cwd {})", opts.cwd.display()),
        })?;
        let pid = i32::try_from(child.id()).map_err(|_| McpError::Spawn {
            command: opts.command.clone(),
            detail: "pid out of range".into(),
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("all three streams were requested as pipes")
        };
        tracing::debug!(server, pid, command = %opts.command, "mcp: started a stdio server");
        let t = Self {
            server: server.to_string(),
            stdin: Arc::new(Mutex::new(Some(stdin))),
            child: Arc::new(Mutex::new(child)),
            pgid: Pid::from_raw(pid),
            closed: AtomicBool::new(false),
        };
        let name = server.to_string();
        std::thread::Builder::new()
            .name(format!("mcp-{server}-err"))
            .spawn(move || log_stderr(&name, stderr))
            .map_err(|e| spawn_thread_error(&opts.command, &e))?;
        let (name, stdin, child) = (server.to_string(), t.stdin.clone(), t.child.clone());
        std::thread::Builder::new()
            .name(format!("mcp-{server}-out"))
            .spawn(move || read_stdout(&name, stdout, &inbox, &stdin, &child))
            .map_err(|e| spawn_thread_error(&opts.command, &e))?;
        Ok(t)
    }

    /// The child's process id (its process group id too).
    pub fn pid(&self) -> u32 {
        self.pgid.as_raw().unsigned_abs()
    }
}

fn spawn_thread_error(command: &str, e: &std::io::Error) -> McpError {
    McpError::Spawn {
        command: command.to_string(),
        detail: format!("cannot start a reader thread: {e}"),
    }
}

impl Transport for StdioTransport {
    fn kind(&self) -> &'static str {
        "stdio"
    }

    fn send(&self, msg: &Value, _timeout: Duration) -> Result<(), McpError> {
        write_line(&self.stdin, msg)
            .map_err(|e| McpError::Closed(format!("cannot write to the server's stdin: {e}")))
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        lock(&self.stdin).take();
        let mut child = lock(&self.child);
        if matches!(child.try_wait(), Ok(None)) {
            let _ = killpg(self.pgid, Signal::SIGTERM);
            let deadline = Instant::now() + CLOSE_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Whatever is left of the group (the server's own children, a child ignoring
        // SIGTERM) goes now; ESRCH when nothing is left.
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let _ = child.wait();
        let (server, pid) = (&self.server, self.pgid.as_raw());
        tracing::debug!(server, pid, "mcp: stdio server stopped");
    }
}

impl Drop for StdioTransport {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_line(stdin: &Mutex<Option<ChildStdin>>, msg: &Value) -> std::io::Result<()> {
    let mut line = msg.to_string();
    line.push('\n');
    let mut guard = lock(stdin);
    let w = guard
        .as_mut()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdin is closed"))?;
    w.write_all(line.as_bytes())?;
    w.flush()
}

/// Reads messages until end of file, then reports the loss with the exit status if the
/// process is gone by then.
fn read_stdout(
    server: &str,
    stdout: impl Read,
    inbox: &Inbox,
    stdin: &Mutex<Option<ChildStdin>>,
    child: &Mutex<Child>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::new();
    let reason = loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => break "the server closed its stdout".to_string(),
            Ok(_) if line.len() > MAX_LINE => {
                break format!("the server sent a line longer than {MAX_LINE} bytes");
            }
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                for reply in inbox.dispatch_text(&text) {
                    if let Err(e) = write_line(stdin, &reply) {
                        tracing::debug!(server, "mcp: cannot answer the server: {e}");
                    }
                }
            }
            Err(e) => break format!("reading the server's stdout: {e}"),
        }
    };
    // The pipe closes a moment before the process is reaped; give it that moment.
    let deadline = Instant::now() + Duration::from_millis(500);
    let status = loop {
        match child.try_lock().ok().map(|mut c| c.try_wait()) {
            Some(Ok(Some(st))) => break Some(st),
            Some(Err(_)) => break None,
            _ if Instant::now() >= deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let reason = match status {
        Some(st) => format!("the server process exited ({st})"),
        None => reason,
    };
    if inbox.closed().is_none() {
        tracing::warn!(server, "mcp: {reason}");
    }
    inbox.lost(&reason);
}

fn log_stderr(server: &str, stderr: impl Read) {
    let reader = BufReader::new(stderr);
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if !text.is_empty() {
            tracing::debug!(server, "mcp stderr: {text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::session::SessionEvent;

    fn inbox() -> (Arc<Inbox>, Arc<Mutex<Vec<SessionEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        (
            Inbox::new("t", Box::new(move |e| lock(&ev).push(e))),
            events,
        )
    }

    fn sh(script: &str) -> StdioOptions {
        StdioOptions {
            command: "sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("GREETING".into(), "hi".into())],
            cwd: std::env::temp_dir(),
        }
    }

    #[test]
    fn a_server_that_exits_is_reported_with_its_status() {
        let (inbox, events) = inbox();
        let t = StdioTransport::spawn("t", &sh("read line; exit 3"), inbox.clone()).unwrap();
        t.send(
            &serde_json::json!({"jsonrpc": "2.0", "method": "x"}),
            Duration::from_secs(1),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while inbox.closed().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let reason = inbox.closed().expect("loss reported");
        assert!(reason.contains("exit status: 3"), "{reason}");
        assert!(matches!(&lock(&events)[..], [SessionEvent::Lost(_)]));
    }

    #[test]
    fn close_kills_the_whole_process_group() {
        let (inbox, _) = inbox();
        // The shell ignores SIGTERM (only SIGKILL ends it); its `sleep`s share its group.
        let ready = std::env::temp_dir().join(format!("mcp-trap-{}", std::process::id()));
        let script = format!(
            "trap '' TERM; touch {}; while :; do sleep 1; done",
            ready.display()
        );
        let t = StdioTransport::spawn("t", &sh(&script), inbox).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(&ready);
        let pgid = t.pgid;
        t.close();
        // Killed members the shell left behind are reaped by init in their own time:
        // zombies do not count.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !live_members(pgid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            live_members(pgid),
            Vec::<String>::new(),
            "the group is gone"
        );
    }

    /// `/proc/<pid>/stat` lines of the group's processes that are not zombies.
    fn live_members(pgid: Pid) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 2 && f[2] == pgid.as_raw().to_string() && f[0] != "Z" {
                out.push(stat);
            }
        }
        out
    }

    #[test]
    fn the_child_gets_only_the_named_environment() {
        let (inbox, _) = inbox();
        let out = std::env::temp_dir().join(format!("mcp-env-{}", std::process::id()));
        // A variable of this process that the child must not see.
        let secret = std::env::vars()
            .map(|(k, _)| k)
            .find(|k| {
                !INHERITED_ENV.contains(&k.as_str())
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .unwrap_or_else(|| "NOT_SET_ANYWAY".into());
        let script = format!("echo \"$GREETING:${secret}\" > {}", out.display());
        let t = StdioTransport::spawn("t", &sh(&script), inbox.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while inbox.closed().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(t);
        let text = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        assert_eq!(text.trim(), "hi:", "{secret} must not be inherited");
    }
}
