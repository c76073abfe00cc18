//! One run of the agent loop: wait for the session's lane and a global permit, then
//! alternate model calls and tool calls until a final answer, the step limit, the deadline
//! or an abort; commit the outcome, then announce it.

use super::{Agent, AgentEvent, Stream, compact, context};
use crate::core::{ChatMessage, Role, now_ms};
use crate::provider::ProviderError;
use crate::provider::failover::Answer;
use crate::storage::{RunEvent, RunRecord, RunStatus, Store, StoreError};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Characters of a tool result echoed in its `end` event.
const EVENT_RESULT_CHARS: usize = 2000;

/// Publishes the events of one run with a per-run sequence number.
#[derive(Clone)]
pub(super) struct Emitter {
    tx: broadcast::Sender<AgentEvent>,
    run_id: Arc<str>,
    session_key: Arc<str>,
    seq: Arc<AtomicU64>,
}

impl Emitter {
    fn emit(&self, stream: Stream, data: serde_json::Value) {
        let ev = AgentEvent {
            run_id: self.run_id.to_string(),
            session_key: self.session_key.to_string(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            stream,
            ts: now_ms(),
            data,
        };
        // No subscribers is fine: events are a view; the store is the record.
        let _ = self.tx.send(ev);
    }
}

/// Why the loop stopped without an answer.
enum Stop {
    Cancelled,
    Failed(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(format!("store: {e}"))
    }
}

/// Runs `rec` to its end and returns the committed final record.
pub(super) async fn execute(
    agent: &Agent,
    mut rec: RunRecord,
    stateless: Option<Vec<ChatMessage>>,
    cancel: CancellationToken,
) -> RunRecord {
    let inner = &agent.inner;
    let em = Emitter {
        tx: inner.events.clone(),
        run_id: rec.id.as_str().into(),
        session_key: rec.session_key.as_str().into(),
        seq: Arc::new(AtomicU64::new(0)),
    };
    let lane = agent.lane(&rec.session_key);
    let outcome = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Stop::Cancelled),
        r = async {
            let _lane = lane.lock().await;
            let _permit = inner.permits.acquire().await.map_err(|_| Stop::Cancelled)?;
            em.emit(Stream::Lifecycle, json!({"phase": "start", "startedAt": rec.started_ms}));
            tokio::select! {
                r = steps(agent, &mut rec, stateless, &cancel, &em) => r,
                _ = tokio::time::sleep(inner.opts.run_timeout) => {
                    cancel.cancel();
                    Err(Stop::Failed(format!("run timed out after {}s", inner.opts.run_timeout.as_secs())))
                }
            }
        } => r,
    };
    finish(&inner.store, &mut rec, outcome, &em);
    rec
}

/// Commits the outcome, then announces it.
fn finish(store: &Store, rec: &mut RunRecord, outcome: Result<ChatMessage, Stop>, em: &Emitter) {
    rec.ended_ms = Some(now_ms());
    let committed = match outcome {
        Ok(answer) => {
            rec.status = RunStatus::Completed;
            rec.reply = Some(answer.content.clone());
            commit_final(store, rec, Some(answer))
        }
        Err(stop) => {
            (rec.status, rec.error) = match stop {
                Stop::Cancelled => (RunStatus::Aborted, Some("aborted".into())),
                Stop::Failed(m) => (RunStatus::Failed, Some(m)),
            };
            commit_final(store, rec, None)
        }
    };
    if let Err(e) = committed {
        tracing::error!(run = %rec.id, "cannot commit the run's outcome: {e}");
        rec.status = RunStatus::Failed;
        rec.reply = None;
        rec.error = Some(format!("the outcome could not be saved: {e}"));
    }
    match rec.status {
        RunStatus::Completed => em.emit(
            Stream::Lifecycle,
            json!({"phase": "end", "status": "completed", "endedAt": rec.ended_ms, "text": rec.reply, "model": rec.model}),
        ),
        s => em.emit(Stream::Lifecycle, json!({"phase": "error", "status": s, "endedAt": rec.ended_ms, "error": rec.error})),
    }
}

fn commit_final(
    store: &Store,
    rec: &RunRecord,
    answer: Option<ChatMessage>,
) -> Result<(), StoreError> {
    let mut w = store.write_txn()?;
    if rec.session_id != 0
        && let Some(mut session) = store.session(&w, &rec.session_key)?
        && session.id == rec.session_id
    {
        if let Some(msg) = answer {
            store.append(&mut w, &mut session, Some(&rec.id), msg)?;
        }
        if rec.status == RunStatus::Completed {
            session.sticky_profile = rec.profile.clone();
            session.last_model = rec.model.clone();
            store.put_session(&mut w, &session)?;
        }
    }
    store.put_run(&mut w, rec)?;
    store.commit(w)
}

/// The loop proper. Each tool step is committed (assistant call + all results in one
/// transaction) so a crash never leaves a call without its results.
async fn steps(
    agent: &Agent,
    rec: &mut RunRecord,
    mut stateless: Option<Vec<ChatMessage>>,
    cancel: &CancellationToken,
    em: &Emitter,
) -> Result<ChatMessage, Stop> {
    let inner = &agent.inner;
    let store = &inner.store;
    let names: Vec<String> = inner
        .opts
        .call
        .tools
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let prompts = context::system_prompts(
        &inner.opts.workspace,
        inner.opts.bootstrap_max_chars,
        &names,
    );
    for _ in 0..inner.opts.max_steps {
        let (history, sticky, summary) = match &stateless {
            Some(h) => (h.clone(), None, None),
            None => {
                let s = {
                    let r = store.read_txn()?;
                    store
                        .session(&r, &rec.session_key)?
                        .filter(|s| s.id == rec.session_id)
                };
                let Some(s) = s else {
                    return Err(Stop::Failed("the session was reset during the run".into()));
                };
                let mut h = compact::load(store, s.id)?;
                let sys_tokens = prompts.with_tools.len().div_ceil(3);
                let emit = |st: Stream, d: serde_json::Value| em.emit(st, d);
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
        let (answer, notes) = call_model(agent, history, sticky, step_prompts, cancel, em).await;
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
        let mut results = Vec::with_capacity(msg.tool_calls.len());
        for call in &msg.tool_calls {
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            em.emit(Stream::Tool, json!({"phase": "start", "name": call.name, "toolCallId": call.id, "args": call.arguments}));
            let tools = inner.tools.clone();
            let (name, args) = (call.name.clone(), call.arguments.clone());
            let out = tokio::task::spawn_blocking(move || tools.call(&name, &args)).await;
            let (text, ok) = match out {
                Ok(Ok(t)) => (t, true),
                Ok(Err(e)) => (format!("error: {e}"), false),
                Err(e) => (format!("error: the tool crashed: {e}"), false),
            };
            let shown: String = text.chars().take(EVENT_RESULT_CHARS).collect();
            em.emit(Stream::Tool, json!({"phase": "end", "name": call.name, "toolCallId": call.id, "isError": !ok, "result": shown}));
            rec.events.push(RunEvent {
                ts_ms: now_ms(),
                kind: "tool".into(),
                detail: json!({"name": call.name, "id": call.id, "ok": ok}),
            });
            results.push(ChatMessage::tool_result(&call.id, &call.name, text));
        }
        match &mut stateless {
            Some(h) => {
                h.push(msg);
                h.extend(results);
            }
            None => {
                let mut w = store.write_txn()?;
                let Some(mut s) = store
                    .session(&w, &rec.session_key)?
                    .filter(|s| s.id == rec.session_id)
                else {
                    return Err(Stop::Failed("the session was reset during the run".into()));
                };
                store.append(&mut w, &mut s, Some(&rec.id), msg)?;
                for r in results {
                    store.append(&mut w, &mut s, Some(&rec.id), r)?;
                }
                store.put_run(&mut w, rec)?;
                store.commit(w)?;
            }
        }
    }
    Err(Stop::Failed(format!(
        "step limit reached: {} model calls without a final answer",
        inner.opts.max_steps
    )))
}

/// One call of the model chain on a blocking thread, streaming deltas as events.
async fn call_model(
    agent: &Agent,
    history: Vec<ChatMessage>,
    sticky: Option<String>,
    prompts: context::SystemPrompts,
    cancel: &CancellationToken,
    em: &Emitter,
) -> (Result<Answer, ProviderError>, Vec<RunEvent>) {
    let chain = agent.inner.chain.clone();
    let params = agent.inner.opts.call.clone();
    let prune = agent.inner.opts.prune_tool_result_chars;
    let (cancel, em) = (cancel.clone(), em.clone());
    let joined = tokio::task::spawn_blocking(move || {
        let mut notes = Vec::new();
        let mut sink = |d: &str| em.emit(Stream::Assistant, json!({"delta": d}));
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
                em.emit(Stream::Failover, detail.clone());
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
