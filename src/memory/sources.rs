//! Memory sources: the workspace's `MEMORY.md` and `memory/**/*.md` notes, and session
//! transcripts rendered as text. Each has a name (the workspace-relative path, or
//! `sessions/<session key>/<transcript id>`), a change stamp, and text checked to be
//! indexable.

use crate::core::Role;
use crate::storage::TranscriptEntry;
use crate::workspace::{Entry, EntryKind, Workspace, WorkspaceError};

/// Prefix of transcript source names.
pub const SESSION_PREFIX: &str = "sessions/";

/// A memory file found in the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    /// Workspace-relative path with `/` separators (how it is read back).
    pub name: String,
    /// Modification time, ms since the epoch.
    pub mtime_ms: u64,
    /// Size, bytes.
    pub size: u64,
}

/// How deep `memory/` is searched for notes.
const MAX_DEPTH: usize = 16;

/// Lists `MEMORY.md` (or `memory.md`) and every `*.md` under `memory/`, sorted by name,
/// through the race-free [`Workspace`]: symbolic links are never followed (a `memory/`
/// that is itself a link to somewhere else yields no notes, with a warning) and hidden
/// entries are skipped.
pub fn list_files(ws: &Workspace) -> Vec<FileSource> {
    let mut out = Vec::new();
    for name in ["MEMORY.md", "memory.md"] {
        if let Ok(e) = ws.metadata(name)
            && e.kind == EntryKind::File
        {
            out.push(source(name.to_string(), &e));
            break;
        }
    }
    match ws.walk("memory", MAX_DEPTH) {
        Ok(found) => out.extend(
            found
                .into_iter()
                .filter(|(rel, e)| {
                    e.kind == EntryKind::File
                        && rel.ends_with(".md")
                        && !rel.split('/').any(|c| c.starts_with('.'))
                })
                .map(|(rel, e)| source(rel, &e)),
        ),
        Err(WorkspaceError::NotFound { .. }) => {}
        Err(e) => tracing::warn!("memory notes not listed: {e}"),
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn source(name: String, e: &Entry) -> FileSource {
    FileSource {
        name,
        mtime_ms: e.modified_ms,
        size: e.len,
    }
}

/// Why a file's bytes are not indexed.
pub fn check_text(bytes: &[u8]) -> Result<String, String> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(format!(
            "binary file (NUL byte at offset {at}); not indexed"
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            let bad = text.matches('\u{FFFD}').count();
            // Mostly text with a few stray bytes (a Latin-1 paste): index it lossily.
            if bad * 100 <= text.chars().count() {
                tracing::warn!(
                    "memory file is not valid UTF-8 at byte {}; {bad} invalid sequence(s) replaced with U+FFFD",
                    e.valid_up_to()
                );
                Ok(text.into_owned())
            } else {
                Err(format!(
                    "not UTF-8 text (first invalid byte at offset {}, {bad} invalid sequences); save it as UTF-8 to index it",
                    e.valid_up_to()
                ))
            }
        }
    }
}

/// The date of a dated note (`memory/2026-11-21.md` or `…/2026-11-21-topic.md`) as ms since
/// the epoch at 00:00 UTC.
pub fn note_date_ms(name: &str) -> Option<u64> {
    let file = name.rsplit('/').next()?;
    let d = file.get(..10)?;
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = d[..4].parse().ok()?;
    let m: i64 = d[5..7].parse().ok()?;
    let day: i64 = d[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // days-from-civil, <https://howardhinnant.github.io/date_algorithms.html>
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|d| d * 86_400_000)
}

/// The source name of transcript `id` of session `key`.
pub fn session_source(key: &str, id: u64) -> String {
    format!("{SESSION_PREFIX}{key}/{id}")
}

/// Renders transcript entries as text, one message per paragraph (`User: …`,
/// `Assistant: …`, `Summary: …`); tool calls, tool results and system messages are left
/// out. Returns the text and, for each line, the time of its message (ms).
pub fn render_transcript(entries: &[TranscriptEntry]) -> (String, Vec<u64>) {
    let mut text = String::new();
    let mut line_ts = Vec::new();
    for e in entries {
        let who = match (e.message.role, e.compaction.is_some()) {
            (_, true) => "Summary",
            (Role::User, _) => "User",
            (Role::Assistant, _) => "Assistant",
            _ => continue,
        };
        let body = e.message.content.trim();
        if body.is_empty() {
            continue;
        }
        let para = format!("{who}: {body}\n\n");
        line_ts.extend(std::iter::repeat_n(e.ts_ms, para.matches('\n').count()));
        text.push_str(&para);
    }
    (text, line_ts)
}

/// Hex SHA-256 of `bytes` (first 16 bytes, 32 hex digits).
pub fn digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ChatMessage;

    #[test]
    fn dates_of_notes() {
        assert_eq!(note_date_ms("memory/1970-01-02.md"), Some(86_400_000));
        assert_eq!(
            note_date_ms("memory/2000-03-01-trip.md"),
            Some(951_868_800_000)
        );
        assert_eq!(note_date_ms("MEMORY.md"), None);
        assert_eq!(note_date_ms("memory/2026-13-01.md"), None);
        assert_eq!(note_date_ms("memory/notes.md"), None);
    }

    #[test]
    fn text_checks() {
        assert!(check_text(b"plain").is_ok());
        assert!(check_text("東京 🎉".as_bytes()).is_ok());
        let e = check_text(b"ab\0cd").expect_err("binary");
        assert!(e.contains("NUL byte at offset 2"), "{e}");
        let mut latin1 = b"caf".to_vec();
        latin1.push(0xE9);
        latin1.extend_from_slice(&b" au lait, ".repeat(20));
        assert!(check_text(&latin1).expect("lossy").contains('\u{FFFD}'));
        let junk: Vec<u8> = (0..4000u32).map(|i| (i * 131 % 255 + 1) as u8).collect();
        let e = check_text(&junk).expect_err("junk");
        assert!(e.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn transcripts_render_user_and_assistant_text() {
        let e = |seq, role, s: &str| TranscriptEntry {
            seq,
            ts_ms: 1000 + seq,
            run_id: None,
            message: ChatMessage::text(role, s),
            compaction: None,
        };
        let (t, ts) = render_transcript(&[
            e(0, Role::User, "hi\nthere"),
            e(1, Role::Tool, "tool output"),
            e(2, Role::Assistant, "hello"),
        ]);
        assert_eq!(t, "User: hi\nthere\n\nAssistant: hello\n\n");
        assert_eq!(ts, [1000, 1000, 1000, 1002, 1002]);
    }
}
