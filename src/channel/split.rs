//! One text splitter for every channel: an answer longer than a platform's message limit
//! becomes several messages, cut where a reader expects a break.
//!
//! Preference order for a cut: a blank line (paragraph) outside code, then any line end,
//! then a space, then a hard cut at a character boundary (only for a single unbroken
//! run of text longer than the limit). A fenced code block (CommonMark fences, ```` ``` ````
//! or `~~~`, <https://spec.commonmark.org/0.31.2/#fenced-code-blocks>) that fits in one
//! message is never cut: it moves whole to the next message. One longer than a message is
//! cut at line ends, and each part is closed and reopened with the same fence and info
//! string, so every message renders as code.
//!
//! Lengths are counted in UTF-16 code units, the unit Telegram's limit is counted in
//! (<https://core.telegram.org/api/entities#entity-length>); for other platforms it is at
//! least the number of characters, so it never under-counts.

/// A platform's limits for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest message, in UTF-16 code units (Telegram and Matrix 4000, Discord 2000,
    /// Slack 8000 in Hearth's adapters, each a little under the platform's hard limit).
    pub max_len: usize,
    /// Most lines in one message, if the platform folds long ones away (Discord: 17).
    pub max_lines: Option<usize>,
}

impl Limits {
    /// Telegram: 4096 characters per message (<https://core.telegram.org/bots/api#sendmessage>),
    /// cut at 4000.
    pub const TELEGRAM: Limits = Limits {
        max_len: 4000,
        max_lines: None,
    };
    /// Matrix: no hard text limit below the 64 KiB event; cut at 4000 like Telegram.
    pub const MATRIX: Limits = Limits {
        max_len: 4000,
        max_lines: None,
    };
    /// Discord: 2000 characters (<https://discord.com/developers/docs/resources/message#create-message>);
    /// clients fold messages over 17 lines.
    pub const DISCORD: Limits = Limits {
        max_len: 2000,
        max_lines: Some(17),
    };
    /// Slack: `text` is truncated after 40,000 characters; blocks of 3000; Hearth cuts at
    /// 8000 (<https://api.slack.com/methods/chat.postMessage#truncating>).
    pub const SLACK: Limits = Limits {
        max_len: 8000,
        max_lines: None,
    };
}

/// Length of `s` in UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The fence a line opens or closes: its marker (three or more backticks or tildes) and
/// its info string.
pub(crate) fn fence(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None; // indented code, not a fence
    }
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|c| *c == ch).count();
    if n < 3 {
        return None;
    }
    let (marker, rest) = t.split_at(n);
    Some((marker, rest.trim_end()))
}

/// Splits `text` into messages within `limits` (see the module docs). Empty input gives no
/// message; every message is non-empty and has no trailing whitespace.
pub fn split(text: &str, limits: Limits) -> Vec<String> {
    let max_len = limits.max_len.max(16);
    let max_lines = limits.max_lines.unwrap_or(usize::MAX).max(3);
    let mut out = Vec::new();
    let mut cur = Chunk::default();
    // The fence open at this point of the text: (marker, opening line).
    let mut open: Option<(String, String)> = None;
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let closing = open.as_ref().is_some_and(|(m, _)| {
            fence(line).is_some_and(|(mk, info)| {
                info.is_empty()
                    && mk.starts_with(m.chars().next().unwrap_or('`'))
                    && mk.len() >= m.len()
            })
        });
        let opening = open.is_none() && fence(line).is_some();
        // A block that fits in one message moves whole to the next one.
        if opening && !cur.is_empty() {
            let block = block_len(&lines[i..]);
            if block.0 <= max_len
                && block.1 <= max_lines
                && (cur.len + 1 + block.0 > max_len || cur.lines + block.1 > max_lines)
            {
                out.extend(cur.take());
            }
        }
        // Room left for this line (and, inside code, for the fence that closes the part).
        let reserve = match (&open, fence(line)) {
            (Some((m, _)), _) if !closing => 1 + utf16_len(m),
            (None, Some((m, _))) if opening => 1 + utf16_len(m),
            _ => 0,
        };
        let needed = utf16_len(line) + usize::from(!cur.is_empty());
        if !cur.is_empty()
            && (cur.len + needed + reserve > max_len
                || cur.lines + 1 + usize::from(reserve > 0) > max_lines)
        {
            match &open {
                Some((m, info_line)) => {
                    // Never end a part with an empty block: the opening line moves on.
                    if !cur.pop_if(info_line) {
                        cur.push(m);
                    }
                    out.extend(cur.take());
                    cur.push(info_line);
                }
                None => {
                    let rest = cur.cut_at_paragraph(max_len / 2);
                    out.extend(cur.take());
                    for l in rest {
                        cur.push(&l);
                    }
                }
            }
        }
        if utf16_len(line) + cur.len + usize::from(!cur.is_empty()) + reserve > max_len {
            // One line longer than a message: cut it at spaces, else at a char boundary.
            // Inside code every part also carries the reopening fence line.
            let reopen = open.as_ref().map_or(0, |(_, o)| utf16_len(o) + 1);
            let room = max_len.saturating_sub(reserve + reopen).max(8);
            for piece in cut_line(line, room) {
                if !cur.is_empty()
                    && (cur.len + 1 + utf16_len(&piece) + reserve > max_len
                        || cur.lines + 1 + usize::from(reserve > 0) > max_lines)
                {
                    if let Some((m, info_line)) = &open {
                        if !cur.pop_if(info_line) {
                            cur.push(m);
                        }
                        out.extend(cur.take());
                        cur.push(info_line);
                    } else {
                        out.extend(cur.take());
                    }
                }
                cur.push(&piece);
            }
        } else {
            cur.push(line);
        }
        if closing {
            open = None;
        } else if opening {
            let (m, _) = fence(line).unwrap_or(("```", ""));
            open = Some((m.to_string(), line.trim_end().to_string()));
        }
        i += 1;
    }
    out.extend(cur.take());
    out
}

/// UTF-16 length and line count of the fenced block starting at `lines[0]` (to its
/// closing fence, or to the end of the text if it is never closed).
fn block_len(lines: &[&str]) -> (usize, usize) {
    let marker = fence(lines[0]).map_or("```", |(m, _)| m);
    let mut len = utf16_len(lines[0]);
    for (n, l) in lines.iter().enumerate().skip(1) {
        len += 1 + utf16_len(l);
        if fence(l).is_some_and(|(m, info)| {
            info.is_empty() && m.starts_with(&marker[..1]) && m.len() >= marker.len()
        }) {
            return (len, n + 1);
        }
    }
    (len, lines.len())
}

/// `line` in pieces of at most `room` UTF-16 units, cut after a space where there is one.
fn cut_line(line: &str, room: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while utf16_len(rest) > room {
        let mut end = 0; // byte index of the hard cut
        let mut units = 0;
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > room {
                break;
            }
            units += c.len_utf16();
            end = i + c.len_utf8();
        }
        let cut = rest[..end]
            .rfind(' ')
            .filter(|&s| s > end / 2)
            .map_or(end, |s| s + 1);
        out.push(rest[..cut].trim_end().to_string());
        rest = &rest[cut..];
    }
    out.push(rest.to_string());
    out
}

/// The message being filled.
#[derive(Default)]
struct Chunk {
    lines: usize,
    len: usize,
    text: Vec<String>,
    /// Indices in `text` of blank lines outside code, where a paragraph ends.
    breaks: Vec<usize>,
    fenced: bool,
}

impl Chunk {
    fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    fn push(&mut self, line: &str) {
        if fence(line).is_some() {
            self.fenced = !self.fenced;
        }
        if !self.fenced && line.trim().is_empty() && !self.text.is_empty() {
            self.breaks.push(self.text.len());
        }
        self.len += utf16_len(line) + usize::from(!self.text.is_empty());
        self.lines += 1;
        self.text.push(line.to_string());
    }

    /// Removes the last line if it is `line`; says whether it did.
    fn pop_if(&mut self, line: &str) -> bool {
        if self.text.last().is_some_and(|l| l.trim_end() == line) {
            self.text.pop();
            self.recount();
            true
        } else {
            false
        }
    }

    /// Ends the chunk at its last paragraph break if that keeps at least `min_len` units in
    /// it; returns the lines after the break (which start the next message).
    fn cut_at_paragraph(&mut self, min_len: usize) -> Vec<String> {
        let Some(&at) = self.breaks.last() else {
            return Vec::new();
        };
        let kept: usize = self.text[..at].iter().map(|l| utf16_len(l) + 1).sum();
        if kept < min_len {
            return Vec::new();
        }
        let rest = self.text.split_off(at);
        self.recount();
        rest
    }

    fn recount(&mut self) {
        let text = std::mem::take(&mut self.text);
        *self = Chunk::default();
        for l in &text {
            self.push(l);
        }
    }

    /// The finished message (trimmed), if it has any text; the chunk is empty after.
    fn take(&mut self) -> Option<String> {
        let text = std::mem::take(&mut self.text).join("\n");
        *self = Chunk::default();
        let t = text.trim_end();
        let t = t.trim_start_matches('\n');
        (!t.trim().is_empty()).then(|| t.to_string())
    }
}

#[cfg(test)]
mod tests;
