//! Compaction: when a session's history nears the smallest context window of the model
//! chain, older turns are summarised by the model into one transcript entry (a
//! [`CompactionMark`]) and the model sees the summary instead of them. Tool-call/result
//! pairs stay intact because the cut is at a user message. Before compacting, a memory
//! flush asks the model, silently, for durable facts and appends them to today's
//! `memory/YYYY-MM-DD.md`, so nothing worth keeping is lost with the summarised turns
//! (OpenClaw's compaction and memory flush: <https://docs.openclaw.ai/concepts/compaction>).

use super::Agent;
use super::context::{self, estimate_tokens};
use crate::core::{ChatMessage, EventKind, Role, now_ms};
use crate::provider::ProviderError;
use crate::storage::{CompactionMark, RunEvent, RunRecord, Store, StoreError, TranscriptEntry};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Transcript entries read per step before compaction and fitting.
const HISTORY_READ_LIMIT: usize = 400;
/// Most tokens a summary or a memory flush may generate.
const SUMMARY_MAX_TOKENS: u32 = 256;
/// The flush's answer when there is nothing to save.
const NOTHING: &str = "NONE";

/// The history the model sees: the latest compaction summary, if any, and the entries
/// after what it summarised.
pub(super) struct History {
    /// Entries shown verbatim, oldest first (compaction entries excluded).
    pub entries: Vec<TranscriptEntry>,
    /// The latest compaction summary.
    pub summary: Option<String>,
}

impl History {
    /// The messages of [`History::entries`].
    pub fn messages(&self) -> Vec<ChatMessage> {
        self.entries.iter().map(|e| e.message.clone()).collect()
    }
}

/// Reads the model-visible history of transcript `session_id`.
pub(super) fn load(store: &Store, session_id: u64) -> Result<History, StoreError> {
    let r = store.read_txn()?;
    let tail = store.transcript_tail(&r, session_id, HISTORY_READ_LIMIT)?;
    let last = tail.iter().rposition(|e| e.compaction.is_some());
    let Some(at) = last else {
        return Ok(History {
            entries: tail,
            summary: None,
        });
    };
    let (summary, first_kept) = match &tail[at].compaction {
        Some(m) => (tail[at].message.content.clone(), m.first_kept_seq),
        None => unreachable!("found by rposition"),
    };
    let entries = tail
        .into_iter()
        .filter(|e| e.compaction.is_none() && e.seq >= first_kept)
        .collect();
    Ok(History {
        entries,
        summary: Some(summary),
    })
}

/// The system prompt with the compaction summary appended.
pub(super) fn with_summary(system: &str, summary: Option<&str>) -> String {
    match summary {
        None => system.to_string(),
        Some(s) => format!("{system}\n## Summary of the earlier conversation\n{s}\n"),
    }
}

/// Compacts the session of `rec` if its history exceeds the threshold; returns whether it
/// did. Failures of the summary call are logged and leave the history as it was (`fit`
/// still trims it to the window).
pub(super) async fn maybe_compact(
    agent: &Agent,
    rec: &mut RunRecord,
    history: &History,
    system_tokens: usize,
    cancel: &CancellationToken,
    emit: &(dyn Fn(EventKind) + Sync),
) -> Result<bool, StoreError> {
    let inner = &agent.inner;
    let opts = &inner.opts;
    let window = inner.chain.min_context_window();
    let budget = (window as f32 * opts.compaction_threshold) as usize;
    let msgs = history.messages();
    let summary_tokens = history
        .summary
        .as_deref()
        .map_or(0, |s| s.len().div_ceil(3));
    let total: usize = system_tokens
        + summary_tokens
        + opts.call.max_tokens as usize
        + msgs.iter().map(estimate_tokens).sum::<usize>();
    if total <= budget {
        return Ok(false);
    }
    // Keep the newest `keep_turns` turns (a turn starts at a user message).
    let starts: Vec<usize> = msgs
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i)
        .collect();
    let keep = opts.compaction_keep_turns.max(1);
    if starts.len() <= keep {
        return Ok(false);
    }
    let cut = starts[starts.len() - keep];
    let old = &history.entries[..cut];
    let first_kept_seq = history.entries[cut].seq;
    let mut text = String::new();
    if let Some(s) = &history.summary {
        text.push_str(&format!("Earlier summary: {s}\n\n"));
    }
    for e in old {
        let who = match e.message.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::Tool => "Tool result",
            Role::System => continue,
        };
        let body = context::prune(&e.message.content, opts.prune_tool_result_chars);
        if !body.trim().is_empty() {
            text.push_str(&format!("{who}: {}\n", body.trim()));
        }
    }
    // The input must itself fit the window: keep its head and tail.
    let input_chars = window.saturating_sub(SUMMARY_MAX_TOKENS as usize + 200) * 3 / 2;
    let text = context::prune(&text, input_chars.max(400));

    emit(EventKind::Compaction {
        done: false,
        summarized: 0,
    });
    if opts.memory_flush {
        flush(agent, rec, &text, cancel).await;
    }
    let summary = match plain_call(
        agent,
        "You compress conversations. Summarise the conversation below for your own future \
         reference in at most 150 words: keep names, facts, numbers, decisions, preferences \
         and open tasks. Write the summary only.",
        &text,
        cancel,
    )
    .await
    {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        Ok(_) | Err(_) => {
            tracing::warn!(session = %rec.session_key, "compaction: the summary call gave nothing; history left as is");
            emit(EventKind::Compaction {
                done: true,
                summarized: 0,
            });
            return Ok(false);
        }
    };
    let mark = CompactionMark {
        first_kept_seq,
        summarized: old.len() as u64,
        tokens_before: total as u64,
    };
    rec.events.push(RunEvent {
        ts_ms: now_ms(),
        kind: "compaction".into(),
        detail: json!({"firstKeptSeq": mark.first_kept_seq, "summarized": mark.summarized, "tokensBefore": mark.tokens_before}),
    });
    let (r, m) = (rec.clone(), mark.clone());
    let stored = inner
        .store
        .write(move |s, w| {
            let Some(mut sess) = s.run_session(w, &r)? else {
                return Ok(false);
            };
            s.append_compaction(
                w,
                &mut sess,
                Some(&r.id),
                ChatMessage::text(Role::System, summary),
                m,
            )?;
            s.put_run(w, &r)?;
            Ok(true)
        })
        .await?;
    if !stored {
        return Ok(false);
    }
    tracing::info!(session = %rec.session_key, summarized = mark.summarized, tokens_before = total, "compacted");
    emit(EventKind::Compaction {
        done: true,
        summarized: mark.summarized,
    });
    Ok(true)
}

/// The memory flush: asks for durable facts in `text` and appends them to today's note.
async fn flush(agent: &Agent, rec: &mut RunRecord, text: &str, cancel: &CancellationToken) {
    let ask = format!(
        "List the durable facts in this conversation worth remembering later (names, \
         preferences, decisions, dates, tasks) as short bullet lines starting with \"- \". \
         If there is nothing worth keeping, answer exactly {NOTHING}."
    );
    let facts = match plain_call(agent, &ask, text, cancel).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("memory flush: model call failed: {e}");
            return;
        }
    };
    let bullets: Vec<&str> = facts
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("- ") || l.starts_with("* "))
        .collect();
    if bullets.is_empty() || facts.trim() == NOTHING {
        return;
    }
    let now = context::utc_now();
    let rel = format!("memory/{}.md", &now[..10]);
    let body = format!(
        "\n## Memory flush {} UTC (session {})\n{}\n",
        &now[11..],
        rec.session_key,
        bullets.join("\n")
    );
    let (ws, at) = (agent.inner.opts.workspace.clone(), rel.clone());
    let written = tokio::task::spawn_blocking(move || {
        ws.append(&at, body.as_bytes())
            .map_err(std::io::Error::from)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    match written {
        Ok(()) => rec.events.push(RunEvent {
            ts_ms: now_ms(),
            kind: "memory_flush".into(),
            detail: json!({"path": rel, "facts": bullets.len()}),
        }),
        Err(e) => tracing::warn!("memory flush: cannot append to {rel}: {e}"),
    }
}

/// One silent model call (no events, no tools): `system` + `user` → the answer's text.
async fn plain_call(
    agent: &Agent,
    system: &str,
    user: &str,
    cancel: &CancellationToken,
) -> Result<String, ProviderError> {
    let chain = agent.inner.chain.clone();
    let mut params = agent.inner.opts.call.clone();
    params.max_tokens = params.max_tokens.min(SUMMARY_MAX_TOKENS);
    params.tools.clear();
    let prune = agent.inner.opts.prune_tool_result_chars;
    let (system, user, cancel) = (system.to_string(), user.to_string(), cancel.clone());
    tokio::task::spawn_blocking(move || {
        let history = [ChatMessage::text(Role::User, user)];
        let build = |window: usize, _tools: bool| {
            context::fit(&system, &history, window, params.max_tokens as usize, prune)
        };
        chain
            .call(&params, None, &build, &mut |_| {}, &cancel, &mut |_| {})
            .map(|a| a.response.message.content)
    })
    .await
    .unwrap_or_else(|e| Err(ProviderError::Local(format!("model call crashed: {e}"))))
}
