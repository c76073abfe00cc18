//! Chunking: a source's text cut into overlapping pieces of about `max_tokens` tokens on
//! paragraph, then sentence, then word boundaries, each with its line range.
//!
//! Tokens are estimated as 4 characters each (OpenClaw's memory chunker makes the same
//! approximation; <https://docs.openclaw.ai/concepts/memory>), so a 400-token chunk holds
//! about 1,600 characters and consecutive chunks share about 80 tokens (320 characters).

/// Characters per estimated token.
pub const CHARS_PER_TOKEN: usize = 4;

/// One chunk of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// First line, from 1.
    pub start_line: u32,
    /// Last line, inclusive.
    pub end_line: u32,
    /// The text (a contiguous slice of the source, trimmed).
    pub text: String,
}

/// Cuts `text` into chunks of at most about `max_tokens` tokens, each sharing up to
/// `overlap_tokens` tokens of whole paragraphs or sentences with the one before. Blank text
/// gives no chunks. Never splits inside a UTF-8 character.
pub fn chunk(text: &str, max_tokens: usize, overlap_tokens: usize) -> Vec<Piece> {
    let max = (max_tokens.max(16)) * CHARS_PER_TOKEN;
    let overlap = (overlap_tokens * CHARS_PER_TOKEN).min(max / 2);
    let units = units(text, max);
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |byte: usize| -> u32 { line_starts.partition_point(|&s| s <= byte) as u32 };

    let mut out = Vec::new();
    let mut i = 0;
    while i < units.len() {
        // Extend from unit i while the chunk stays within `max` (always take one unit).
        let start = units[i].0;
        let mut j = i;
        while j + 1 < units.len() && units[j + 1].1 - start <= max {
            j += 1;
        }
        let end = units[j].1;
        let slice = &text[start..end];
        out.push(Piece {
            start_line: line_of(start),
            end_line: line_of(end.saturating_sub(1).max(start)),
            text: slice.trim().to_string(),
        });
        if j + 1 >= units.len() {
            break;
        }
        // The next chunk starts with the trailing units of this one that fit in `overlap`,
        // but always moves forward by at least one unit.
        let mut next = j + 1;
        while next > i + 1 && units[j].1 - units[next - 1].0 <= overlap {
            next -= 1;
        }
        i = next;
    }
    out
}

/// Byte ranges of the text's units: paragraphs no longer than `max` bytes; longer paragraphs
/// are split into sentences, and longer sentences at spaces (or anywhere, for text without
/// spaces such as CJK or a base64 blob).
fn units(text: &str, max: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (s, e) in paragraphs(text) {
        if e - s <= max {
            out.push((s, e));
            continue;
        }
        for (ss, se) in sentences(text, s, e) {
            if se - ss <= max {
                out.push((ss, se));
            } else {
                hard_split(text, ss, se, max, &mut out);
            }
        }
    }
    out
}

/// Maximal runs of non-blank lines.
fn paragraphs(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        match (blank, start) {
            (false, None) => start = Some(pos),
            (true, Some(s)) => {
                out.push((s, pos));
                start = None;
            }
            _ => {}
        }
        pos += line.len();
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Sentences of `text[s..e]`: each ends after `.`, `!`, `?` followed by whitespace, after
/// `。！？`, or at a newline.
fn sentences(text: &str, s: usize, e: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = s;
    let mut it = text[s..e].char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let at = s + i + c.len_utf8();
        let ends = match c {
            '。' | '！' | '？' | '\n' => true,
            '.' | '!' | '?' => it.peek().is_none_or(|(_, n)| n.is_whitespace()),
            _ => false,
        };
        if ends && at > start {
            out.push((start, at));
            start = at;
        }
    }
    if start < e {
        out.push((start, e));
    }
    out
}

/// Splits `text[s..e]` into pieces of at most `max` bytes, preferring the last space.
fn hard_split(text: &str, s: usize, e: usize, max: usize, out: &mut Vec<(usize, usize)>) {
    let mut start = s;
    while e - start > max {
        let mut cut = start + max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(sp) = text[start..cut].rfind(char::is_whitespace)
            && sp > max / 2
        {
            cut = start + sp + 1;
        }
        if cut <= start {
            // A single character longer than `max` cannot happen (max ≥ 64), but never loop.
            cut = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
        out.push((start, cut));
        start = cut;
    }
    if start < e {
        out.push((start, e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_text_has_no_chunks() {
        assert!(chunk("", 400, 80).is_empty());
        assert!(chunk("\n\n   \n", 400, 80).is_empty());
    }

    #[test]
    fn small_text_is_one_chunk_with_lines() {
        let c = chunk("\n# Notes\n\nThe boiler code is 4412.\n", 400, 80);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].start_line, c[0].end_line), (2, 4));
        assert_eq!(c[0].text, "# Notes\n\nThe boiler code is 4412.");
    }

    #[test]
    fn long_text_is_cut_on_paragraphs_with_overlap() {
        let paras: Vec<String> = (0..40)
            .map(|i| format!("Paragraph {i} {}.", "word ".repeat(60)))
            .collect();
        let text = paras.join("\n\n");
        let c = chunk(&text, 400, 80);
        assert!(c.len() > 5, "{}", c.len());
        for p in &c {
            assert!(p.text.len() <= 1600, "{}", p.text.len());
            assert!(
                p.text.starts_with("Paragraph"),
                "cut on a paragraph boundary"
            );
        }
        // Consecutive chunks overlap by the last paragraph.
        let last_para_of_first = c[0].text.rsplit("\n\n").next().expect("paragraph");
        assert!(c[1].text.starts_with(last_para_of_first));
        // Every paragraph is in some chunk.
        for p in &paras {
            assert!(c.iter().any(|x| x.text.contains(p.as_str())));
        }
        assert_eq!(c.last().map(|p| p.end_line), Some(79));
    }

    #[test]
    fn huge_lines_and_cjk_are_split_safely() {
        let cjk = "東京都の天気は晴れです。".repeat(500);
        let c = chunk(&cjk, 400, 80);
        assert!(c.len() > 3);
        assert!(c.iter().all(|p| p.text.len() <= 1600));
        let blob = "QUJD".repeat(10_000); // no spaces, no sentences
        let c = chunk(&blob, 400, 80);
        assert!(c.len() >= 25);
        let joined: usize = c.iter().map(|p| p.text.len()).sum();
        assert!(joined >= blob.len());
        let emoji = "🎉 party ".repeat(2000);
        assert!(!chunk(&emoji, 400, 80).is_empty());
    }
}
