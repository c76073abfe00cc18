//! The `exec` and `process` tools.

use super::analyze::{self, Analysis, Segment};
use super::gate::{self, Verdict};
use super::scratch::Scratch;
use super::{Approvals, ExecOptions, Jobs, environment, forbidden_env, one_line};
use crate::core::{ApprovalRequest, ToolSpec, now_ms};
use crate::sandbox::{self, Child, Cursor, Output, Spec, Wait};
use crate::tool::fs::{pos_arg, str_arg};
use crate::tool::{Tool, ToolCtx, ToolError};
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `exec`: runs a command in the sandbox.
pub struct ExecTool {
    opts: ExecOptions,
    approvals: Arc<dyn Approvals>,
    jobs: Jobs,
}

/// `process`: manages the background jobs `exec` left running.
pub struct ProcessTool {
    jobs: Jobs,
}

impl ExecTool {
    /// The tool with `opts`, asking `approvals`, keeping background jobs in `jobs`.
    pub fn new(opts: ExecOptions, approvals: Arc<dyn Approvals>, jobs: Jobs) -> Self {
        Self {
            opts,
            approvals,
            jobs,
        }
    }
}

impl ProcessTool {
    /// The tool over `jobs` (the same as the agent's `exec`).
    pub fn new(jobs: Jobs) -> Self {
        Self { jobs }
    }
}

/// The command of a call: a shell line (run by `/bin/sh -c`) or an argv (run directly).
fn command_of(args: &Value) -> Result<(Vec<OsString>, String), ToolError> {
    if let Some(argv) = args.get("argv").and_then(Value::as_array) {
        let words: Vec<String> = argv
            .iter()
            .map(|w| w.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ToolError::InvalidArgs("`argv` must be an array of strings".into()))?;
        if words.is_empty() {
            return Err(ToolError::InvalidArgs("`argv` is empty".into()));
        }
        let line = words.join(" ");
        return Ok((words.into_iter().map(OsString::from).collect(), line));
    }
    let line = str_arg(args, "command")?.to_string();
    if line.trim().is_empty() {
        return Err(ToolError::InvalidArgs("`command` is empty".into()));
    }
    Ok((
        vec!["/bin/sh".into(), "-c".into(), line.clone().into()],
        line,
    ))
}

fn env_of(args: &Value) -> Result<Vec<(String, String)>, ToolError> {
    let Some(map) = args.get("env").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    map.iter()
        .map(|(k, v)| {
            if forbidden_env(k) {
                return Err(ToolError::InvalidArgs(format!("`env` may not set {k}")));
            }
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            Ok((k.clone(), v))
        })
        .collect()
}

/// Output of a finished or polled command as the model reads it.
fn render(out: &Output, status: &str) -> String {
    let mut text = out.stdout.text.clone();
    let err = out.stderr.text.clone();
    if !err.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("[stderr]\n");
        text.push_str(&err);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("[{status}]"));
    text
}

impl ExecTool {
    /// The working directory: `workdir` under the workspace (which must exist and stay in).
    fn workdir(&self, args: &Value) -> Result<PathBuf, ToolError> {
        let Some(rel) = args.get("workdir").and_then(Value::as_str) else {
            return Ok(self.opts.workspace.clone());
        };
        let root =
            std::fs::canonicalize(&self.opts.workspace).map_err(|e| ToolError::io(".", e))?;
        let dir = std::fs::canonicalize(root.join(rel)).map_err(|e| ToolError::io(rel, e))?;
        if !dir.starts_with(&root) || !dir.is_dir() {
            return Err(ToolError::OutsideWorkspace { path: rel.into() });
        }
        Ok(dir)
    }

    /// Decides whether the command runs; asks a human when the gate says so.
    fn admit(
        &self,
        ctx: &ToolCtx,
        a: &Analysis,
        line: &str,
        cwd: &std::path::Path,
    ) -> Result<(), ToolError> {
        let agent = &ctx.caller.agent;
        let list = self.approvals.allowlist(agent);
        let (reason, decisions) = match gate::decide(self.opts.mode, a, &list) {
            Verdict::Refuse(why) => {
                ctx.note_decision(format!("refused: {why}"));
                return Err(ToolError::Denied(why));
            }
            Verdict::Run { notes, matched } => {
                for n in notes {
                    ctx.note_decision(n);
                }
                if !matched.is_empty() {
                    let used: Vec<_> = matched.iter().map(|&i| list[i].clone()).collect();
                    self.approvals.record(agent, &used, Vec::new(), line);
                }
                return Ok(());
            }
            Verdict::Ask { reason, decisions } => (reason, decisions),
        };
        let now = now_ms();
        let req = ApprovalRequest {
            id: super::short_id(4),
            tool: "exec".into(),
            command: one_line(line, 400),
            resolved_path: a
                .segments
                .first()
                .and_then(|s| s.resolved.as_ref())
                .map(|p| p.display().to_string()),
            reason: format!("{reason} (cwd {})", cwd.display()),
            agent_id: agent.clone(),
            session_key: ctx.caller.session_key.clone(),
            requested_by: ctx.caller.sender(),
            created_at_ms: now,
            expires_at_ms: now
                + self
                    .approvals
                    .timeout_ms()
                    .min(ctx.remaining().as_millis() as u64),
            allowed_decisions: decisions,
        };
        if super::ask_human(self.approvals.as_ref(), ctx, req, "the command")? {
            let added = gate::entries_for(a, &list, now_ms());
            self.approvals.record(agent, &[], added, line);
        }
        Ok(())
    }
}

impl Tool for ExecTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "exec".into(),
            description: "Run a shell command in the workspace, in a sandbox (no access outside \
                the workspace, network off unless enabled). Commands not on the allow-list ask \
                the owner first. A command still running after yieldMs becomes a background \
                job: use the process tool with its sessionId."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "Shell command line (run by /bin/sh -c)."},
                    "argv": {"type": "array", "items": {"type": "string"}, "description": "Instead of command: program and arguments, run without a shell."},
                    "workdir": {"type": "string", "description": "Working directory relative to the workspace (default: the workspace)."},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra environment variables (not PATH or LD_*)."},
                    "yieldMs": {"type": "integer", "minimum": 0, "description": "Wait this long before backgrounding (default 10000)."},
                    "background": {"type": "boolean", "description": "Start as a background job at once."},
                    "timeout": {"type": "integer", "minimum": 1, "description": "Kill after this many seconds."}
                },
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let (argv, line) = command_of(args)?;
        let env = env_of(args)?;
        let cwd = self.workdir(args)?;
        sandbox::probe()
            .check(self.opts.sandbox)
            .map_err(|e| ToolError::Denied(e.to_string()))?;
        let a = if args.get("argv").is_some() {
            let argv: Vec<String> = argv
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect();
            let resolved = analyze::resolve(&argv[0], &cwd);
            Analysis {
                segments: vec![Segment { argv, resolved }],
                opaque: None,
            }
        } else {
            analyze::analyze(&line, &cwd)
        };
        self.admit(ctx, &a, &line, &cwd)?;
        let timeout = pos_arg(args, "timeout")?
            .map(|s| Duration::from_secs(s as u64))
            .unwrap_or(self.opts.timeout)
            .min(self.opts.max_timeout);
        // Without `process` nothing could poll a background job: run to the end (OpenClaw).
        let yield_after = match args.get("background").and_then(Value::as_bool) {
            _ if !ctx.offers("process") => timeout,
            Some(true) => Duration::ZERO,
            _ => pos_arg(args, "yieldMs")?
                .map(|ms| Duration::from_millis(ms as u64))
                .unwrap_or(self.opts.yield_after),
        };
        let scratch = Scratch::new(&self.opts.tmp_root).map_err(|e| ToolError::io("tmp", e))?;
        let tmp = scratch.dir.clone();
        let spec = Spec {
            argv,
            cwd,
            workspace: self.opts.workspace.clone(),
            tmp: tmp.clone(),
            read_only: self.opts.read_only.clone(),
            env: environment(&self.opts, &tmp, &env),
            network: self.opts.network,
            limits: self.opts.limits,
            mode: self.opts.sandbox,
            stdin: true,
            max_output_bytes: self.opts.max_output_bytes,
        };
        // The command waits before `execve` until its marker is written (see `scratch`).
        let child = Child::spawn_recorded(&spec, |pid| scratch.mark(pid))
            .map_err(|e| ToolError::Denied(e.to_string()))?;
        ctx.note_decision(format!("sandbox: {}", child.confinement()));
        let cancelled = || ctx.cancelled();
        // A command sent to the background becomes a job at once, even when its shell has
        // already exited: its group may hold processes it started (`a & b & exit 0`), which
        // the exited-command path below would kill.
        let waited = if yield_after.is_zero() {
            Wait::TimedOut
        } else {
            child.wait(yield_after.min(timeout), &cancelled)
        };
        match waited {
            Wait::Exited(exit) => {
                child.kill();
                child.drain(Duration::from_millis(200));
                let out = child.output();
                let mut status = exit.to_string();
                if exit.blocked_by_sandbox() {
                    status.push_str("; the sandbox blocked a system call");
                }
                Ok(render(&out, &status))
            }
            Wait::Cancelled => {
                child.kill();
                Err(ToolError::Cancelled)
            }
            Wait::TimedOut if yield_after >= timeout => {
                child.kill();
                child.drain(Duration::from_millis(200));
                let out = child.output();
                Ok(render(
                    &out,
                    &format!("killed: timed out after {} s", timeout.as_secs()),
                ))
            }
            Wait::TimedOut => {
                let mut cursor = Cursor::default();
                let so_far = child.read_new(&mut cursor);
                let pid = child.pid();
                let left = timeout.saturating_sub(yield_after);
                let id = self
                    .jobs
                    .adopt(&ctx.caller.agent, &line, child, cursor, scratch, left)
                    .map_err(ToolError::Denied)?;
                ctx.note_decision(format!("background job {id}"));
                Ok(render(
                    &so_far,
                    &format!(
                        "still running as background job {id} (pid {pid}); use the process tool with sessionId {id:?}"
                    ),
                ))
            }
        }
    }
}

impl Tool for ProcessTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "process".into(),
            description: "Manage background jobs started by exec: list, poll (new output and \
                status), log (all output kept), write (to stdin), kill, remove."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["list", "poll", "log", "write", "kill", "remove"]},
                    "sessionId": {"type": "string", "description": "The job id exec gave."},
                    "data": {"type": "string", "description": "For write: text sent to stdin."},
                    "eof": {"type": "boolean", "description": "For write: close stdin afterwards."},
                    "timeout": {"type": "integer", "minimum": 0, "maximum": 30000, "description": "For poll: wait up to this many ms for the job to end."}
                },
                "required": ["action"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let agent = &ctx.caller.agent;
        let action = str_arg(args, "action")?;
        if action == "list" {
            let jobs = self.jobs.list(agent);
            if jobs.is_empty() {
                return Ok("No background jobs.".into());
            }
            let now = now_ms();
            let lines: Vec<String> = jobs
                .iter()
                .map(|j| {
                    let secs = now.saturating_sub(j.started_ms) / 1000;
                    format!(
                        "{} — {} — {secs} s — {}",
                        j.id,
                        j.status(),
                        one_line(&j.command, 80)
                    )
                })
                .collect();
            return Ok(lines.join("\n"));
        }
        let id = str_arg(args, "sessionId")?;
        let job = self
            .jobs
            .get(agent, id)
            .ok_or_else(|| ToolError::InvalidArgs(format!("no background job {id:?}")))?;
        match action {
            "poll" => {
                let wait = pos_arg(args, "timeout")?.unwrap_or(0).min(30_000) as u64;
                let until = std::time::Instant::now() + Duration::from_millis(wait);
                while job.status() == "running"
                    && std::time::Instant::now() < until
                    && !ctx.cancelled()
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(render(&job.poll(), &job.status()))
            }
            "log" => Ok(render(&job.child.output(), &job.status())),
            "write" => {
                let data = str_arg(args, "data")?;
                job.child
                    .write_stdin(data.as_bytes())
                    .map_err(|e| ToolError::InvalidArgs(e.to_string()))?;
                if args.get("eof").and_then(Value::as_bool) == Some(true) {
                    job.child.close_stdin();
                }
                Ok(format!("wrote {} bytes to {id}", data.len()))
            }
            "kill" => {
                job.child.kill();
                Ok(format!("killed {id} and its process group"))
            }
            "remove" => {
                self.jobs.remove(agent, id);
                Ok(format!("removed {id}"))
            }
            other => Err(ToolError::InvalidArgs(format!(
                "unknown action {other:?} (list, poll, log, write, kill, remove)"
            ))),
        }
    }
}
