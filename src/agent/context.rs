//! Context assembly: the system prompt from the workspace bootstrap files (AGENTS.md,
//! SOUL.md, USER.md, IDENTITY.md — OpenClaw's workspace layout,
//! <https://docs.openclaw.ai/concepts/agent-workspace>), each capped with a truncation
//! notice, and the transcript tail fitted to a model's context window.
//!
//! Token counts here are estimates (3 characters per token, plus 4 per message), biased
//! high so a small local model's window is not overrun.

use crate::core::{ChatMessage, Role};
use crate::workspace::{Workspace, WorkspaceError};

/// Bootstrap files, in the order they enter the system prompt, with their seeded contents.
pub const BOOTSTRAP_FILES: [(&str, &str); 4] = [
    (
        "AGENTS.md",
        "# AGENTS.md\n\nAnswer briefly and accurately. If you do not know, say so.\nUse the workspace files to remember things the user asks you to keep.\n",
    ),
    (
        "SOUL.md",
        "# SOUL.md\n\nYou are calm, helpful and honest.\n",
    ),
    (
        "USER.md",
        "# USER.md\n\n(Nothing is known about the user yet.)\n",
    ),
    (
        "IDENTITY.md",
        "# IDENTITY.md\n\nYour name is Hearth, a personal assistant running on the user's own device.\n",
    ),
];

/// Characters per estimated token.
const CHARS_PER_TOKEN: usize = 3;
/// Estimated per-message overhead of chat templates, tokens.
const MESSAGE_OVERHEAD: usize = 4;
/// Safety margin kept free in every window, tokens.
const MARGIN: usize = 32;

/// Estimated tokens of one message.
pub fn estimate_tokens(m: &ChatMessage) -> usize {
    let args: usize = m
        .tool_calls
        .iter()
        .map(|c| c.name.len() + c.arguments.to_string().len())
        .sum();
    (m.content.len() + args).div_ceil(CHARS_PER_TOKEN) + MESSAGE_OVERHEAD
}

/// The seeded `HEARTBEAT.md`: headings only, so heartbeats make no model call until the
/// user adds a check (OpenClaw's template does the same). Not part of the system prompt.
pub const HEARTBEAT_TEMPLATE: &str = "# HEARTBEAT.md\n\n\
# Checks the heartbeat runs every [heartbeat] every, within its active hours.\n\
# While this file holds only headings, no heartbeat model call is made.\n\
# Add short items below, e.g. \"- Tell me if the backup is older than a day.\"\n";

/// Writes any missing bootstrap file (and `HEARTBEAT.md`) with its default contents (never
/// overwrites).
///
/// # Errors
/// The error of the first file that cannot be written.
pub fn seed_workspace(ws: &Workspace) -> Result<(), WorkspaceError> {
    for (name, body) in BOOTSTRAP_FILES
        .into_iter()
        .chain([("HEARTBEAT.md", HEARTBEAT_TEMPLATE)])
    {
        if !ws.exists(name)? {
            ws.write_atomic(name, body.as_bytes())?;
        }
    }
    Ok(())
}

/// The system prompt in its two forms: for routes offered the tools, and for routes that
/// are not (which must not be told about tools they cannot call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPrompts {
    /// Names the tools the model may call.
    pub with_tools: String,
    /// Mentions no tools.
    pub plain: String,
}

/// Reads the bootstrap files once into both system prompts; each file is capped at
/// `max_chars` characters with a notice saying how much was left out. Missing files are
/// skipped, and so (with a warning) are links, non-UTF-8 files and files over four bytes
/// per allowed character. With no `tools`, both prompts are the same; `skills` (the
/// `<available_skills>` block) is added to the prompt with tools only.
pub fn system_prompts(
    ws: &Workspace,
    max_chars: usize,
    tools: &[String],
    skills: &str,
) -> SystemPrompts {
    let mut head = String::from("You are a personal assistant running on the user's own device.\n");
    // The date only (not the time): the prompt stays identical within a day, so greedy
    // decoding repeats and prompt caches of remote providers keep hitting.
    head.push_str(&format!("Today's date (UTC): {}.\n", &utc_now()[..10]));
    let mut files = String::new();
    for (name, _) in BOOTSTRAP_FILES {
        let text = match ws.read_to_string(name, (max_chars as u64).saturating_mul(4)) {
            Ok(t) => t,
            Err(WorkspaceError::NotFound { .. }) => continue,
            Err(e) => {
                tracing::warn!("bootstrap file skipped: {e}");
                continue;
            }
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        files.push_str(&format!("\n## {name}\n"));
        files.push_str(&cap_chars(text, max_chars, name));
        files.push('\n');
    }
    let plain = format!("{head}{files}");
    let with_tools = if tools.is_empty() {
        plain.clone()
    } else {
        format!(
            "{head}You can call these tools: {}. File paths are relative to your workspace.\n{skills}{files}",
            tools.join(", ")
        )
    };
    SystemPrompts { with_tools, plain }
}

/// `history` with a result for every tool call: a call left without one (a client that
/// never sent the results of its tools, a crash mid-step) gets a result saying so, right
/// after its assistant message, since providers refuse a call without its result.
pub fn close_dangling_calls(history: Vec<ChatMessage>) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = Vec::with_capacity(history.len());
    let mut open: Vec<(String, String)> = Vec::new();
    let flush = |out: &mut Vec<ChatMessage>, open: &mut Vec<(String, String)>| {
        for (id, name) in open.drain(..) {
            out.push(ChatMessage::tool_result(
                &id,
                &name,
                "error: no result: the tool was never run (the client did not send its result)",
            ));
        }
    };
    for m in history {
        match m.role {
            Role::Tool => {
                if let Some(id) = &m.tool_call_id {
                    open.retain(|(o, _)| o != id);
                }
            }
            _ => flush(&mut out, &mut open),
        }
        if m.role == Role::Assistant {
            open = m
                .tool_calls
                .iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect();
        }
        out.push(m);
    }
    flush(&mut out, &mut open);
    out
}

/// `text` cut to `max` characters with a truncation notice naming `what`.
pub fn cap_chars(text: &str, max: usize, what: &str) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}\n[… truncated: {what} has {total} characters; only the first {max} are shown]")
}

/// Builds the messages for one model call: `system` first, then the newest turns of
/// `history` that fit in `window` tokens minus `reserve` (the answer's budget).
///
/// First, tool results outside the newest turn that are longer than `prune_chars`
/// characters are pruned to their head and tail (old tool output is rarely needed whole,
/// and a small model's window cannot afford it).
///
/// Turns are cut only at user messages, so an assistant tool call is never separated from
/// its tool results. The newest turn is always kept; if it alone is too large, its longest
/// messages are shortened (head and tail kept). The system prompt is capped at half the
/// window.
pub fn fit(
    system: &str,
    history: &[ChatMessage],
    window: usize,
    reserve: usize,
    prune_chars: usize,
) -> Vec<ChatMessage> {
    let avail = window.saturating_sub(reserve + MARGIN).max(64);
    let sys_cap_chars = (avail / 2) * CHARS_PER_TOKEN;
    let sys = ChatMessage::text(
        Role::System,
        cap_chars(system, sys_cap_chars, "the system prompt"),
    );
    let mut budget = avail.saturating_sub(estimate_tokens(&sys));

    // Turn boundaries: indices where a user message starts a turn.
    let mut starts: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::User)
        .map(|(i, _)| i)
        .collect();
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut keep_from = history.len();
    for (n, &s) in starts.iter().enumerate().rev() {
        let end = starts.get(n + 1).copied().unwrap_or(history.len());
        let cost: usize = history[s..end].iter().map(estimate_tokens).sum();
        let newest = end == history.len();
        if cost > budget && !newest {
            break;
        }
        budget = budget.saturating_sub(cost);
        keep_from = s;
    }
    let newest_turn = starts.last().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(history.len() - keep_from + 1);
    out.push(sys);
    for (i, m) in history.iter().enumerate().skip(keep_from) {
        let mut m = m.clone();
        if m.role == Role::Tool && i < newest_turn {
            m.content = prune(&m.content, prune_chars);
        }
        out.push(m);
    }
    shrink_to(&mut out, avail);
    out
}

/// `text` cut to its first and last `max / 2` characters with a notice, if longer than
/// `max` characters.
pub fn prune(text: &str, max: usize) -> String {
    let len = text.chars().count();
    if len <= max {
        return text.to_string();
    }
    let half = max / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(len - half).collect();
    format!(
        "{head}\n[… {} characters of this old tool result pruned …]\n{tail}",
        len - 2 * half
    )
}

/// Shortens the longest non-system messages (keeping head and tail) until the estimate fits.
fn shrink_to(msgs: &mut [ChatMessage], avail: usize) {
    for _ in 0..16 {
        let total: usize = msgs.iter().map(estimate_tokens).sum();
        if total <= avail {
            return;
        }
        let Some(longest) = msgs.iter_mut().skip(1).max_by_key(|m| m.content.len()) else {
            return;
        };
        let over_chars = (total - avail) * CHARS_PER_TOKEN + 64;
        let len = longest.content.chars().count();
        if len <= 128 {
            return;
        }
        let keep = len.saturating_sub(over_chars).max(128);
        let head: String = longest.content.chars().take(keep / 2).collect();
        let tail: String = longest.content.chars().skip(len - keep / 2).collect();
        longest.content = format!(
            "{head}\n[… {} characters cut to fit the context window …]\n{tail}",
            len - keep
        );
    }
}

/// `YYYY-MM-DD HH:MM` in UTC, from the system clock.
pub fn utc_now() -> String {
    let t = crate::core::rfc3339_utc(crate::core::now_ms());
    format!("{} {}", &t[..10], &t[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ToolCall;

    fn u(s: &str) -> ChatMessage {
        ChatMessage::text(Role::User, s)
    }
    fn a(s: &str) -> ChatMessage {
        ChatMessage::text(Role::Assistant, s)
    }

    #[test]
    fn keeps_newest_turns_that_fit() {
        let hist: Vec<ChatMessage> = (0..100)
            .flat_map(|i| [u(&format!("question {i} {}", "x".repeat(90))), a("answer")])
            .collect();
        let out = fit("sys", &hist, 1000, 200, 2000);
        assert_eq!(out[0].role, Role::System);
        assert!(out.len() < hist.len());
        assert_eq!(out.last(), hist.last());
        assert_eq!(out[1].role, Role::User, "cut at a turn boundary");
        let total: usize = out.iter().map(estimate_tokens).sum();
        assert!(total <= 1000 - 200, "{total}");
    }

    #[test]
    fn never_splits_tool_pairs() {
        let mut call = a("");
        call.tool_calls.push(ToolCall {
            id: "c1".into(),
            name: "read".into(),
            arguments: serde_json::json!({"path": "a"}),
        });
        let hist = vec![
            u("old"),
            a("x"),
            u("read a"),
            call,
            ChatMessage::tool_result("c1", "read", "y".repeat(300)),
            a("done"),
        ];
        let out = fit("s", &hist, 400, 100, 2000);
        let first = out
            .iter()
            .position(|m| m.role != Role::System)
            .expect("some history");
        assert_eq!(out[first].role, Role::User);
        let has_call = out.iter().any(|m| !m.tool_calls.is_empty());
        let has_result = out.iter().any(|m| m.role == Role::Tool);
        assert_eq!(has_call, has_result);
    }

    #[test]
    fn oversized_newest_turn_is_shortened() {
        let hist = vec![u(&"z".repeat(50_000))];
        let out = fit("s", &hist, 2048, 512, 2000);
        let total: usize = out.iter().map(estimate_tokens).sum();
        assert!(total <= 2048 - 512, "{total}");
        assert!(out[1].content.contains("cut to fit"));
    }

    #[test]
    fn old_tool_results_are_pruned_but_the_newest_turn_is_not() {
        let mut call = a("");
        call.tool_calls.push(ToolCall {
            id: "c1".into(),
            name: "read".into(),
            arguments: serde_json::json!({"path": "a"}),
        });
        let big = format!("HEAD{}TAIL", "x".repeat(5000));
        let hist = vec![
            u("read a"),
            call.clone(),
            ChatMessage::tool_result("c1", "read", big.clone()),
            a("done"),
            u("again"),
            call,
            ChatMessage::tool_result("c1", "read", big.clone()),
        ];
        let out = fit("s", &hist, 100_000, 100, 200);
        assert!(out[3].content.starts_with("HEAD") && out[3].content.ends_with("TAIL"));
        assert!(out[3].content.contains("pruned"), "{}", out[3].content);
        assert!(out[3].content.len() < 400);
        assert_eq!(out[7].content, big, "the newest turn keeps its tool result");
    }

    #[test]
    fn caps_bootstrap_files_with_notice() {
        let c = cap_chars(&"é".repeat(30), 10, "AGENTS.md");
        assert!(c.starts_with(&"é".repeat(10)));
        assert!(c.contains("AGENTS.md has 30 characters"));
    }

    #[test]
    fn prompts_share_the_bootstrap_files_and_only_one_names_tools() {
        let dir = std::env::temp_dir().join(format!("hearth-ctx-{}", std::process::id()));
        let ws = Workspace::open(&dir).expect("open");
        seed_workspace(&ws).expect("seed");
        let p = system_prompts(&ws, 20_000, &["read".to_string(), "write".to_string()], "");
        assert!(
            p.with_tools
                .contains("You can call these tools: read, write.")
        );
        assert!(!p.plain.contains("tools"), "{}", p.plain);
        for (name, _) in BOOTSTRAP_FILES {
            assert!(
                p.plain.contains(&format!("## {name}"))
                    && p.with_tools.contains(&format!("## {name}"))
            );
        }
        assert_eq!(system_prompts(&ws, 20_000, &[], "").with_tools, p.plain);
        std::fs::remove_dir_all(dir).expect("clean up");
    }

    #[test]
    fn date_format() {
        let s = utc_now();
        assert_eq!(s.len(), 16, "{s}");
        assert!(s.starts_with("20"), "{s}");
    }
}
