//! The loop of one turn: alternate model calls and tool calls until a final answer, the
//! step limit or an abort. Each tool step — the assistant's calls, all their results, and
//! any messages steered in at this boundary — is one commit, so a crash never leaves a
//! call without its results.

use super::turn::{Answered, Stop, take, user_message};
use super::{Agent, TurnHooks, compact, context};
use crate::core::metrics::METRICS;
use crate::core::{
    AuditEntry, ChatMessage, ClientTurn, EventKind, FailoverInfo, Role, ToolCall, ToolOutcome,
    ToolSpec, now_ms,
};
use crate::provider::ProviderError;
use crate::provider::failover::Answer;
use crate::storage::{RunEvent, RunRecord};
use crate::tool::policy::ToolFilter;
use crate::tool::{Caller, ToolCtx, ctx::ProgressSink};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Characters of a tool result echoed in its `ToolFinished` event.
const EVENT_RESULT_CHARS: usize = 2000;

/// What the turn's tool calls share: who asked, the abort switch (cancelled when the turn
/// ends, whichever way) and the turn's deadline.
pub(super) struct ToolScope {
    pub caller: Caller,
    pub cancel: CancellationToken,
    pub deadline: Instant,
}

/// The tools offered in this turn: the agent's that the policy permits for this caller
/// (asked now, so an MCP server's list is current) minus names a client tool takes, then
/// the client's.
fn offered(agent: &Agent, client: Option<&ClientTurn>, filter: &ToolFilter) -> Vec<ToolSpec> {
    let theirs = client.map(|c| c.tools.as_slice()).unwrap_or_default();
    let mut out: Vec<ToolSpec> = agent
        .inner
        .tools
        .specs()
        .into_iter()
        .filter(|t| filter.permits(&t.name) && !theirs.iter().any(|c| c.name == t.name))
        .collect();
    out.extend(theirs.iter().cloned());
    out
}

/// The loop proper; returns the final answer, or (with `tool_calls`) the calls of the
/// client's tools the turn stops at.
pub(super) async fn steps(
    agent: &Agent,
    rec: &mut RunRecord,
    answered: &mut Answered,
    mut stateless: Option<Vec<ChatMessage>>,
    client: Option<&ClientTurn>,
    scope: &ToolScope,
    hooks: &Arc<dyn TurnHooks>,
) -> Result<ChatMessage, Stop> {
    let cancel = &scope.cancel;
    let inner = &agent.inner;
    let store = &inner.store;
    let filter = inner.opts.policy.resolve(&scope.caller);
    let specs = offered(agent, client, &filter);
    let names: Vec<String> = specs.iter().map(|t| t.name.clone()).collect();
    let offered: Arc<[String]> = names.clone().into();
    let is_client = |name: &str| client.is_some_and(|c| c.tools.iter().any(|t| t.name == name));
    let prompts = {
        let (ws, max) = (inner.opts.workspace.clone(), inner.opts.bootstrap_max_chars);
        let skills = inner
            .opts
            .skills
            .clone()
            .filter(|_| names.iter().any(|n| n == "skill"));
        let mut p = tokio::task::spawn_blocking(move || {
            let block = skills.map(|s| s.prompt_block()).unwrap_or_default();
            context::system_prompts(&ws, max, &names, &block)
        })
        .await
        .map_err(|e| Stop::Failed(format!("reading the workspace crashed: {e}")))?;
        if let Some(sys) = client.and_then(|c| c.system.as_deref()) {
            for prompt in [&mut p.with_tools, &mut p.plain] {
                prompt.push_str("\n## Instructions of the client application\n");
                prompt.push_str(sys.trim());
                prompt.push('\n');
            }
        }
        p
    };
    for _ in 0..inner.opts.max_steps {
        let (history, sticky, summary) = match &stateless {
            Some(h) => (h.clone(), None, None),
            None => {
                let s = {
                    let r = store.read_txn()?;
                    store.run_session(&r, rec)?
                };
                let Some(s) = s else {
                    return Err(Stop::Failed("the session was reset during the run".into()));
                };
                let mut h = compact::load(store, s.id)?;
                let sys_tokens = prompts.with_tools.len().div_ceil(3);
                let emit = |k: EventKind| hooks.emit(k);
                if compact::maybe_compact(agent, rec, &h, sys_tokens, cancel, &emit).await? {
                    h = compact::load(store, s.id)?;
                }
                if cancel.is_cancelled() {
                    return Err(Stop::Cancelled);
                }
                (h.messages(), s.sticky_profile, h.summary)
            }
        };
        let step_prompts = context::SystemPrompts {
            with_tools: compact::with_summary(&prompts.with_tools, summary.as_deref()),
            plain: compact::with_summary(&prompts.plain, summary.as_deref()),
        };
        let history = context::close_dangling_calls(history);
        let call = (specs.clone(), step_prompts);
        let (answer, notes) = call_model(agent, history, sticky, call, cancel, hooks).await;
        rec.events.extend(notes);
        let answer = match answer {
            Ok(a) => a,
            Err(ProviderError::Cancelled) => return Err(Stop::Cancelled),
            Err(e) => return Err(Stop::Failed(e.to_string())),
        };
        rec.usage.prompt_tokens += answer.response.usage.prompt_tokens;
        rec.usage.completion_tokens += answer.response.usage.completion_tokens;
        rec.model = Some(answer.model.clone());
        rec.profile = Some(answer.profile.clone());
        let msg = answer.response.message;
        if msg.tool_calls.is_empty() {
            return Ok(ChatMessage::text(Role::Assistant, msg.content));
        }
        let for_client: Vec<ToolCall> = msg
            .tool_calls
            .iter()
            .filter(|c| is_client(&c.name))
            .cloned()
            .collect();
        let mut results = Vec::with_capacity(msg.tool_calls.len());
        for call in msg.tool_calls.iter().filter(|c| !is_client(&c.name)) {
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            hooks.emit(EventKind::ToolStarted {
                call_id: call.id.clone(),
                name: call.name.clone(),
                args: call.arguments.clone(),
            });
            let (text, ok) = call_tool(agent, (scope, &filter, &offered), call, hooks).await;
            hooks.emit(EventKind::ToolFinished(ToolOutcome {
                call_id: call.id.clone(),
                name: call.name.clone(),
                is_error: !ok,
                result: text.chars().take(EVENT_RESULT_CHARS).collect(),
            }));
            rec.events.push(RunEvent {
                ts_ms: now_ms(),
                kind: "tool".into(),
                detail: json!({"name": call.name, "id": call.id, "ok": ok}),
            });
            results.push(ChatMessage::tool_result(&call.id, &call.name, text));
        }
        // The step boundary: messages steered in join the turn with this commit (not when
        // the turn stops for the client's tools: they wait for the next turn).
        let steered = if for_client.is_empty() {
            hooks.steer()
        } else {
            Vec::new()
        };
        let paused = (!for_client.is_empty()).then(|| ChatMessage {
            tool_calls: for_client,
            ..ChatMessage::text(Role::Assistant, msg.content.clone())
        });
        rec.tool_steps += 1;
        match &mut stateless {
            Some(h) => {
                h.push(msg);
                h.extend(results);
                if !steered.is_empty() {
                    h.push(user_message(&steered, None));
                }
            }
            None => {
                let (r, stp) = (rec.clone(), steered.clone());
                let stored = store
                    .write(move |s, w| {
                        let Some(mut sess) = s.run_session(w, &r)? else {
                            return Ok(false);
                        };
                        s.append(w, &mut sess, Some(&r.id), msg)?;
                        for res in results {
                            s.append(w, &mut sess, Some(&r.id), res)?;
                        }
                        if !stp.is_empty() {
                            s.append(w, &mut sess, Some(&r.id), user_message(&stp, None))?;
                            take(s, w, &r.id, r.session_id, &stp)?;
                        }
                        s.put_run(w, &r)?;
                        Ok(true)
                    })
                    .await?;
                if !stored {
                    return Err(Stop::Failed("the session was reset during the run".into()));
                }
            }
        }
        if !steered.is_empty() {
            answered
                .runs
                .extend(steered.iter().map(|e| e.run_id.clone()));
            answered.seqs.extend(steered.iter().map(|e| e.seq));
            hooks.emit(EventKind::Steered {
                run_ids: steered.iter().map(|e| e.run_id.clone()).collect(),
            });
        }
        if let Some(p) = paused {
            // The step (the assistant's calls and the results of Hearth's own tools) is
            // committed; the client runs its calls and its next request brings the results.
            return Ok(p);
        }
    }
    Err(Stop::Failed(format!(
        "step limit reached: {} model calls without a final answer",
        inner.opts.max_steps
    )))
}

/// Runs one of Hearth's own tool calls on a blocking thread, unless the policy refuses it
/// for this caller; returns the result text and whether it succeeded. The call's audit
/// entry is committed on that thread when the call ends, so an aborted run (whose future
/// is dropped) still leaves its record.
async fn call_tool(
    agent: &Agent,
    (scope, filter, offered): (&ToolScope, &ToolFilter, &Arc<[String]>),
    call: &ToolCall,
    hooks: &Arc<dyn TurnHooks>,
) -> (String, bool) {
    let c = &scope.caller;
    let mut audit = AuditEntry {
        ts_ms: now_ms(),
        agent_id: c.agent.clone(),
        run_id: c.run_id.clone(),
        session_key: c.session_key.clone(),
        channel: c.origin.channel.clone(),
        sender: c.sender(),
        tool: call.name.clone(),
        outcome: "ok".into(),
        decision: Vec::new(),
        duration_ms: 0,
    };
    let store = agent.inner.store.clone();
    if let Err(why) = filter.check(&call.name) {
        audit.outcome = "denied".into();
        audit.decision.push(format!("policy: {why}"));
        METRICS.tool_calls.inc(&[&audit.tool, &audit.outcome]);
        if let Err(e) = store.write(move |s, w| s.audit_push(w, &audit)).await {
            tracing::error!("cannot record a tool call in the audit ledger: {e}");
        }
        return (
            format!("error: tool {:?} is not allowed here ({why})", call.name),
            false,
        );
    }
    let tools = agent.inner.tools.clone();
    let (name, args) = (call.name.clone(), call.arguments.clone());
    let ctx = ToolCtx::new(c.clone(), &call.id, scope.cancel.clone(), scope.deadline)
        .with_progress(progress_sink(hooks, &call.id))
        .with_offered(offered.clone());
    let out = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = tools.call(&ctx, &name, &args);
        audit.duration_ms = started.elapsed().as_millis() as u64;
        audit.decision = ctx.decisions();
        if let Err(e) = &out {
            audit.outcome = e.outcome().into();
        }
        METRICS.tool_calls.inc(&[&audit.tool, &audit.outcome]);
        if let Err(e) = store.write_blocking(move |s, w| s.audit_push(w, &audit)) {
            tracing::error!("cannot record a tool call in the audit ledger: {e}");
        }
        out
    })
    .await;
    match out {
        Ok(Ok(t)) => (t, true),
        Ok(Err(e)) => (format!("error: {e}"), false),
        Err(e) => (format!("error: the tool crashed: {e}"), false),
    }
}

/// Progress lines of call `call_id`, as `ToolUpdate` events.
fn progress_sink(hooks: &Arc<dyn TurnHooks>, call_id: &str) -> ProgressSink {
    let (hooks, call_id) = (hooks.clone(), call_id.to_string());
    Arc::new(move |line: &str| {
        hooks.emit(EventKind::ToolUpdate {
            call_id: call_id.clone(),
            text: line.to_string(),
        })
    })
}

/// One call of the model chain on a blocking thread, streaming deltas as events. A failover
/// after streamed text says the text is void.
async fn call_model(
    agent: &Agent,
    history: Vec<ChatMessage>,
    sticky: Option<String>,
    (tools, prompts): (Vec<ToolSpec>, context::SystemPrompts),
    cancel: &CancellationToken,
    hooks: &Arc<dyn TurnHooks>,
) -> (Result<Answer, ProviderError>, Vec<RunEvent>) {
    let chain = agent.inner.chain.clone();
    let mut params = agent.inner.opts.call.clone();
    params.tools = tools;
    let prune = agent.inner.opts.prune_tool_result_chars;
    let (cancel, hooks) = (cancel.clone(), hooks.clone());
    let joined = tokio::task::spawn_blocking(move || {
        let mut notes = Vec::new();
        let streamed = std::sync::atomic::AtomicBool::new(false);
        let mut sink = |d: &str| {
            if !d.is_empty() {
                streamed.store(true, std::sync::atomic::Ordering::Relaxed);
                hooks.emit(EventKind::Delta {
                    text: d.to_string(),
                });
            }
        };
        let build = |window: usize, tools: bool| {
            let sys = if tools {
                &prompts.with_tools
            } else {
                &prompts.plain
            };
            context::fit(sys, &history, window, params.max_tokens as usize, prune)
        };
        let r = chain.call(
            &params,
            sticky.as_deref(),
            &build,
            &mut sink,
            &cancel,
            &mut |n| {
                let detail = serde_json::to_value(n).unwrap_or_default();
                hooks.emit(EventKind::Failover(FailoverInfo {
                    model: n.model.clone(),
                    profile: n.profile.clone(),
                    reason: n.reason.clone(),
                    message: n.message.clone(),
                    cooldown_until_ms: n.cooldown_until_ms,
                    void_partial: streamed.swap(false, std::sync::atomic::Ordering::Relaxed),
                }));
                notes.push(RunEvent {
                    ts_ms: now_ms(),
                    kind: "failover".into(),
                    detail,
                });
            },
        );
        (r, notes)
    })
    .await;
    joined.unwrap_or_else(|e| {
        (
            Err(ProviderError::Local(format!("model call crashed: {e}"))),
            Vec::new(),
        )
    })
}
