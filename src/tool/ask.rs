//! Tools the policy marks (`[tools] ask`) ask a human before each call, as `exec` does:
//! [`AskFirst`] wraps such a tool, [`AskFirstSource`] an MCP server's. An `allow-always`
//! answer adds `tool:<name>` to the agent's allow-list, and the tool then runs unasked.

use super::exec::{Approvals, ask_human, short_id};
use super::{Tool, ToolCtx, ToolError, ToolSource};
use crate::core::{AllowEntry, ApprovalRequest, Decision, ToolSpec, now_ms};
use serde_json::Value;
use std::sync::Arc;

/// Characters of the arguments shown in the request.
const SHOWN_ARGS: usize = 300;

/// Asks `approvals` about a call of `name` with `args`; `Ok` when it may run.
fn ask(
    approvals: &dyn Approvals,
    ctx: &ToolCtx,
    name: &str,
    args: &Value,
) -> Result<(), ToolError> {
    let agent = &ctx.caller.agent;
    let pattern = format!("tool:{name}");
    let list = approvals.allowlist(agent);
    if let Some(e) = list.iter().find(|e| e.pattern == pattern) {
        ctx.note_decision(format!("allowlist: {pattern}"));
        approvals.record(agent, std::slice::from_ref(e), Vec::new(), name);
        return Ok(());
    }
    let shown: String = args.to_string().chars().take(SHOWN_ARGS).collect();
    let now = now_ms();
    let req = ApprovalRequest {
        id: short_id(4),
        tool: name.to_string(),
        command: format!("{name} {shown}"),
        resolved_path: None,
        reason: format!("{name} asks before every call ([tools] ask)"),
        agent_id: agent.clone(),
        session_key: ctx.caller.session_key.clone(),
        requested_by: ctx.caller.sender(),
        created_at_ms: now,
        expires_at_ms: now
            + approvals
                .timeout_ms()
                .min(ctx.remaining().as_millis() as u64),
        allowed_decisions: vec![Decision::AllowOnce, Decision::AllowAlways, Decision::Deny],
    };
    if ask_human(approvals, ctx, req, name)? {
        let entry = AllowEntry {
            id: Some(short_id(8)),
            pattern,
            source: Some("allow-always".into()),
            last_used_at: Some(now_ms()),
            ..AllowEntry::default()
        };
        approvals.record(agent, &[], vec![entry], name);
    }
    Ok(())
}

/// A tool that asks before every call.
pub struct AskFirst {
    inner: Arc<dyn Tool>,
    approvals: Arc<dyn Approvals>,
}

impl AskFirst {
    /// `inner`, asking `approvals` first.
    pub fn new(inner: Arc<dyn Tool>, approvals: Arc<dyn Approvals>) -> Self {
        Self { inner, approvals }
    }
}

impl Tool for AskFirst {
    fn spec(&self) -> ToolSpec {
        self.inner.spec()
    }

    fn call(&self, ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        ask(self.approvals.as_ref(), ctx, &self.inner.spec().name, args)?;
        self.inner.call(ctx, args)
    }
}

/// A tool source whose tools named in `names` (names or `*` globs) ask first.
pub struct AskFirstSource {
    inner: Arc<dyn ToolSource>,
    names: Vec<String>,
    approvals: Arc<dyn Approvals>,
}

impl AskFirstSource {
    /// `inner`, its tools matching `names` asking `approvals` first.
    pub fn new(
        inner: Arc<dyn ToolSource>,
        names: Vec<String>,
        approvals: Arc<dyn Approvals>,
    ) -> Self {
        Self {
            inner,
            names,
            approvals,
        }
    }
}

impl ToolSource for AskFirstSource {
    fn specs(&self) -> Vec<ToolSpec> {
        self.inner.specs()
    }

    fn call(&self, ctx: &ToolCtx, name: &str, args: &Value) -> Option<Result<String, ToolError>> {
        if self.names.iter().any(|n| super::policy::matches(n, name))
            && self.inner.specs().iter().any(|s| s.name == name)
            && let Err(e) = ask(self.approvals.as_ref(), ctx, name, args)
        {
            return Some(Err(e));
        }
        self.inner.call(ctx, name, args)
    }
}

impl super::Registry {
    /// Makes the tools matching `names` (names or `*` globs; `exec` has its own gate) ask
    /// `approvals` before every call, the sources' tools included.
    pub fn ask_first(&mut self, names: &[String], approvals: Arc<dyn Approvals>) {
        if names.is_empty() {
            return;
        }
        let marked = |t: &str| t != "exec" && names.iter().any(|n| super::policy::matches(n, t));
        for (name, tool) in self.tools.iter_mut() {
            if marked(name) {
                *tool = Arc::new(AskFirst::new(tool.clone(), approvals.clone()));
            }
        }
        for s in self.sources.iter_mut() {
            *s = Arc::new(AskFirstSource::new(
                s.clone(),
                names.to_vec(),
                approvals.clone(),
            ));
        }
    }
}
