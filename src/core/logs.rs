//! The recent log lines of this process, for `logs.tail` and `hearth logs -f`: a bounded
//! ring that the log writer appends every formatted line to (stderr, and so journald, gets
//! the same lines). Each line has a sequence number; a reader passes the number after the
//! last line it saw (`cursor`) and gets what followed, or — when the ring already dropped
//! some of that — the oldest lines kept and `reset`, as OpenClaw's `logs.tail` does when
//! its log file was rotated.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Lines kept at most.
pub const MAX_LINES: usize = 2000;
/// Bytes of line text kept at most.
pub const MAX_BYTES: usize = 512 << 10;

/// The ring.
pub struct LogRing {
    inner: Mutex<Ring>,
}

struct Ring {
    lines: VecDeque<String>,
    /// Sequence number of `lines[0]`.
    first: u64,
    bytes: usize,
}

/// What a read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The lines, oldest first, without their line feeds.
    pub lines: Vec<String>,
    /// The cursor to pass next time (the sequence number after the last line returned).
    pub cursor: u64,
    /// Lines between the requested cursor and the first returned were dropped (or the
    /// cursor was from the future: a restarted gateway).
    pub reset: bool,
    /// More lines follow than were returned (`limit`/`max_bytes`).
    pub truncated: bool,
}

/// The process's log ring.
pub static LOGS: LogRing = LogRing {
    inner: Mutex::new(Ring {
        lines: VecDeque::new(),
        first: 0,
        bytes: 0,
    }),
};

impl LogRing {
    /// Appends formatted log output: one or more lines (a trailing line feed is dropped;
    /// ANSI colour codes are not expected — the ring gets the uncoloured text).
    pub fn push(&self, text: &str) {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.trim_end_matches('\n').split('\n') {
            r.bytes += line.len();
            r.lines.push_back(line.to_string());
            while r.lines.len() > MAX_LINES || (r.bytes > MAX_BYTES && r.lines.len() > 1) {
                if let Some(old) = r.lines.pop_front() {
                    r.bytes -= old.len();
                    r.first += 1;
                }
            }
        }
    }

    /// Lines from `cursor` on (`None`: the last `limit` lines), at most `limit` lines and
    /// `max_bytes` bytes of text (at least one line when any follows).
    pub fn tail(&self, cursor: Option<u64>, limit: usize, max_bytes: usize) -> Tail {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let end = r.first + r.lines.len() as u64;
        let (start, reset) = match cursor {
            None => (end.saturating_sub(limit as u64).max(r.first), false),
            Some(c) if c < r.first || c > end => (r.first, true),
            Some(c) => (c, false),
        };
        let mut lines = Vec::new();
        let mut bytes = 0;
        let mut next = start;
        for l in r.lines.iter().skip((start - r.first) as usize) {
            if lines.len() >= limit || (!lines.is_empty() && bytes + l.len() > max_bytes) {
                break;
            }
            bytes += l.len();
            lines.push(l.clone());
            next += 1;
        }
        Tail {
            lines,
            cursor: next,
            reset,
            truncated: next < end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> LogRing {
        LogRing {
            inner: Mutex::new(Ring {
                lines: VecDeque::new(),
                first: 0,
                bytes: 0,
            }),
        }
    }

    #[test]
    fn cursor_follows_and_reset_reports_dropped_lines() {
        let r = ring();
        r.push("a\nb\n");
        r.push("c\n");
        let t = r.tail(None, 2, 1 << 20);
        assert_eq!(t.lines, ["b", "c"]);
        assert_eq!(t.cursor, 3);
        assert!(!t.reset && !t.truncated);
        assert!(r.tail(Some(3), 10, 1 << 20).lines.is_empty());
        r.push("d");
        let t = r.tail(Some(3), 10, 1 << 20);
        assert_eq!((t.lines, t.cursor), (vec!["d".to_string()], 4));
        // A cursor from a previous process (beyond the end) starts over.
        assert!(r.tail(Some(99), 10, 1 << 20).reset);
        for i in 0..MAX_LINES {
            r.push(&format!("x{i}"));
        }
        let t = r.tail(Some(3), 5, 1 << 20);
        assert!(t.reset && t.truncated);
        assert_eq!(
            t.lines[0], "x0",
            "the oldest kept line (a to d scrolled out)"
        );
    }

    #[test]
    fn limits_in_lines_and_bytes() {
        let r = ring();
        r.push(&"y".repeat(100));
        r.push(&"z".repeat(100));
        let t = r.tail(Some(0), 10, 150);
        assert_eq!(t.lines.len(), 1);
        assert!(t.truncated);
        assert_eq!(r.tail(Some(0), 10, 10).lines.len(), 1, "one line at least");
        r.push(&"w".repeat(MAX_BYTES));
        let t = r.tail(None, 10, usize::MAX);
        assert_eq!(t.lines.len(), 1, "the byte cap drops older lines");
    }
}
