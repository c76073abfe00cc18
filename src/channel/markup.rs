//! Markdown (as models write it) converted to a platform's format. Telegram gets its HTML
//! subset (<https://core.telegram.org/bots/api#html-style>): `<b>`, `<i>`, `<s>`,
//! `<code>`, `<pre><code class="language-…">`, `<a href>`, `<blockquote>`, everything
//! else escaped (`&lt;`, `&gt;`, `&amp;`). Headings become bold lines and list bullets `•`.
//! Unclosed markers stay as text, so the output is always well-formed: a chunk from the
//! splitter (whose code fences are balanced) converts on its own.

/// Escapes `&`, `<`, `>` for Telegram HTML.
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            _ => o.push(c),
        }
    }
    o
}

/// Converts markdown to Telegram HTML.
pub fn telegram_html(md: &str) -> String {
    let mut out = String::with_capacity(md.len() + 16);
    // The marker of the open code fence (```` ``` ```` or `~~~`, three or more).
    let mut open: Option<String> = None;
    let mut quote: Vec<String> = Vec::new();
    let flush_quote = |out: &mut String, quote: &mut Vec<String>| {
        if !quote.is_empty() {
            out.push_str("<blockquote>");
            out.push_str(&quote.join("\n"));
            out.push_str("</blockquote>\n");
            quote.clear();
        }
    };
    for line in md.split('\n') {
        let trimmed = line.trim_start();
        if let Some((marker, info)) = super::split::fence(line) {
            let closes = open
                .as_ref()
                .map(|m| info.is_empty() && marker.starts_with(&m[..1]) && marker.len() >= m.len());
            if closes == Some(false) {
                out.push_str(&escape_html(line));
                out.push('\n');
                continue;
            }
            flush_quote(&mut out, &mut quote);
            if closes == Some(true) {
                out.push_str("</code></pre>\n");
                open = None;
            } else {
                open = Some(marker.to_string());
                let lang: String = info
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(*c))
                    .collect();
                if lang.is_empty() {
                    out.push_str("<pre><code>");
                } else {
                    out.push_str(&format!("<pre><code class=\"language-{lang}\">"));
                }
            }
            continue;
        }
        if open.is_some() {
            out.push_str(&escape_html(line));
            out.push('\n');
            continue;
        }
        if let Some(q) = trimmed.strip_prefix('>') {
            quote.push(inline(q.strip_prefix(' ').unwrap_or(q), &HTML));
            continue;
        }
        flush_quote(&mut out, &mut quote);
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            out.push_str("<b>");
            out.push_str(&inline(trimmed[hashes..].trim(), &HTML));
            out.push_str("</b>\n");
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
            .or_else(|| trimmed.strip_prefix("+ "))
        {
            out.push_str(indent);
            out.push_str("• ");
            out.push_str(&inline(item, &HTML));
        } else {
            out.push_str(&inline(line, &HTML));
        }
        out.push('\n');
    }
    flush_quote(&mut out, &mut quote);
    if open.is_some() {
        out.push_str("</code></pre>\n");
    }
    // One trailing newline was added per line; drop the one the input did not have.
    if !md.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Converts markdown to the HTML of a Matrix `formatted_body`
/// (<https://spec.matrix.org/v1.11/client-server-api/#mroommessage-msgtypes>): the tags of
/// [`telegram_html`] (all in Matrix's allowed set), with line breaks as `<br>` outside
/// code blocks.
pub fn matrix_html(md: &str) -> String {
    let html = telegram_html(md);
    let mut out = String::with_capacity(html.len() + 32);
    let mut in_pre = false;
    let mut rest = html.as_str();
    while let Some(i) = rest.find(['\n', '<']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('\n') {
            out.push_str(if in_pre { "\n" } else { "<br>" });
            rest = &rest[1..];
        } else {
            if rest.starts_with("<pre>") {
                in_pre = true;
            } else if rest.starts_with("</pre>") {
                in_pre = false;
            }
            out.push('<');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    // A block element already breaks the line.
    out.replace("</pre><br>", "</pre>")
        .replace("</blockquote><br>", "</blockquote>")
}

/// Converts markdown to Slack's mrkdwn (<https://api.slack.com/reference/surfaces/formatting>):
/// `*bold*`, `_italic_`, `~strike~`, `` `code` ``, fenced blocks kept (without the language),
/// `<url|text>` links, headings as bold lines, `•` bullets; `&`, `<`, `>` escaped.
pub fn slack_mrkdwn(md: &str) -> String {
    let esc = escape_html;
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for line in md.split('\n') {
        let trimmed = line.trim_start();
        if let Some((marker, info)) = super::split::fence(line) {
            let closes = open
                .as_ref()
                .map(|m| info.is_empty() && marker.starts_with(&m[..1]) && marker.len() >= m.len());
            match closes {
                Some(true) => {
                    open = None;
                    out.push("```".to_string());
                }
                Some(false) => out.push(esc(line)),
                None => {
                    open = Some(marker.to_string());
                    out.push("```".to_string());
                }
            }
            continue;
        }
        if open.is_some() {
            out.push(esc(line));
            continue;
        }
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            out.push(format!("*{}*", inline(trimmed[hashes..].trim(), &MRKDWN)));
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        match trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
            .or_else(|| trimmed.strip_prefix("+ "))
        {
            Some(item) => out.push(format!("{indent}• {}", inline(item, &MRKDWN))),
            None => out.push(inline(line, &MRKDWN)),
        }
    }
    if open.is_some() {
        out.push("```".to_string());
    }
    out.join("\n")
}

/// The byte index of the first `pat` in `s[from..]` whose content before it is non-empty
/// and does not end in whitespace.
fn closer(s: &str, from: usize, pat: &str) -> Option<usize> {
    let mut at = from;
    while let Some(i) = s[at..].find(pat) {
        let end = at + i;
        let content = &s[from..end];
        if !content.is_empty() && !content.ends_with(char::is_whitespace) {
            return Some(end);
        }
        at = end + pat.len().max(1);
    }
    None
}

/// An emphasis style.
#[derive(Clone, Copy)]
enum Style {
    Bold,
    Italic,
    Strike,
}

/// How one target format writes inline markdown.
struct Dialect {
    escape: fn(&str) -> String,
    code: fn(&str) -> String,
    wrap: fn(Style, &str) -> String,
    /// `(url, text)`, the URL already checked; the text still markdown.
    link: fn(&str, &str) -> String,
    /// URL schemes a link may have.
    schemes: &'static [&'static str],
    /// Characters a URL may not hold (whitespace always).
    url_forbids: &'static [char],
}

const HTML: Dialect = Dialect {
    escape: escape_html,
    code: |t| format!("<code>{}</code>", escape_html(t)),
    wrap: |st, inner| {
        let tag = match st {
            Style::Bold => "b",
            Style::Italic => "i",
            Style::Strike => "s",
        };
        format!("<{tag}>{inner}</{tag}>")
    },
    link: |url, text| {
        let href = escape_html(url).replace('"', "&quot;");
        format!("<a href=\"{href}\">{}</a>", inline(text, &HTML))
    },
    schemes: &["https://", "http://", "tg://", "mailto:"],
    url_forbids: &[],
};

const MRKDWN: Dialect = Dialect {
    escape: escape_html,
    code: |t| format!("`{}`", escape_html(t)),
    wrap: |st, inner| {
        let m = match st {
            Style::Bold => '*',
            Style::Italic => '_',
            Style::Strike => '~',
        };
        format!("{m}{inner}{m}")
    },
    link: |url, text| format!("<{url}|{}>", escape_html(text)),
    schemes: &["https://", "http://", "mailto:"],
    url_forbids: &['|', '>'],
};

/// Converts one line's inline markdown in dialect `d`.
fn inline(s: &str, d: &Dialect) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let prev_alnum = s[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        if rest.starts_with('`')
            && let Some(j) = rest[1..].find('`').filter(|j| *j > 0)
        {
            out.push_str(&(d.code)(&rest[1..1 + j]));
            i += j + 2;
            continue;
        }
        let mut wrapped = false;
        for (pat, st) in [
            ("**", Style::Bold),
            ("__", Style::Bold),
            ("~~", Style::Strike),
            ("*", Style::Italic),
            ("_", Style::Italic),
        ] {
            let starts = rest.starts_with(pat)
                && rest[pat.len()..].starts_with(|c: char| !c.is_whitespace())
                && !(pat.starts_with('_') && prev_alnum);
            if !starts {
                continue;
            }
            let from = i + pat.len();
            if let Some(end) = closer(s, from, pat) {
                let after_alnum = s[end + pat.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric);
                if pat.starts_with('_') && after_alnum {
                    continue;
                }
                out.push_str(&(d.wrap)(st, &inline(&s[from..end], d)));
                i = end + pat.len();
                wrapped = true;
                break;
            }
        }
        if wrapped {
            continue;
        }
        if rest.starts_with('[')
            && let Some(mid) = rest.find("](")
            && let Some(close) = rest[mid + 2..].find(')')
        {
            let (text, url) = (&rest[1..mid], &rest[mid + 2..mid + 2 + close]);
            let ok = d.schemes.iter().any(|p| url.starts_with(p))
                && !url.contains(char::is_whitespace)
                && !url.contains(d.url_forbids);
            if ok && !text.is_empty() {
                out.push_str(&(d.link)(url, text));
                i += mid + 3 + close;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push_str(&(d.escape)(c.encode_utf8(&mut [0; 4])));
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::telegram_html as h;

    #[test]
    fn inline_markers_become_tags() {
        assert_eq!(
            h("**bold** and *it* and _it_"),
            "<b>bold</b> and <i>it</i> and <i>it</i>"
        );
        assert_eq!(h("~~gone~~ `a<b>`"), "<s>gone</s> <code>a&lt;b&gt;</code>");
        assert_eq!(h("**bold _nested_**"), "<b>bold <i>nested</i></b>");
        assert_eq!(
            h("[docs](https://example.org/a?b=1&c=\"2\")"),
            "<a href=\"https://example.org/a?b=1&amp;c=&quot;2&quot;\">docs</a>"
        );
        assert_eq!(h("[x](javascript:alert(1))"), "[x](javascript:alert(1))");
    }

    #[test]
    fn text_that_only_looks_like_markdown_stays() {
        assert_eq!(
            h("snake_case_name and 2*3*4"),
            "snake_case_name and 2<i>3</i>4"
        );
        assert_eq!(h("a * b * c"), "a * b * c");
        assert_eq!(h("unclosed **bold"), "unclosed **bold");
        assert_eq!(h("x < y && y > z"), "x &lt; y &amp;&amp; y &gt; z");
    }

    #[test]
    fn blocks_convert() {
        assert_eq!(
            h("# Title\n- one\n- two\n```rust\nfn main() { a < b }\n```\ndone"),
            "<b>Title</b>\n• one\n• two\n<pre><code class=\"language-rust\">fn main() { a &lt; b }\n</code></pre>\ndone"
        );
        assert_eq!(
            h("> quoted\n> more\nafter"),
            "<blockquote>quoted\nmore</blockquote>\nafter"
        );
        assert_eq!(h("```\nopen fence"), "<pre><code>open fence\n</code></pre>");
    }

    #[test]
    fn matrix_gets_breaks_outside_code() {
        assert_eq!(
            super::matrix_html("**a**\nb\n```\nx\ny\n```\nc"),
            "<b>a</b><br>b<br><pre><code>x\ny\n</code></pre>c"
        );
    }

    #[test]
    fn slack_gets_mrkdwn() {
        use super::slack_mrkdwn as m;
        assert_eq!(
            m("**bold** and *it* ~~x~~ `a<b`"),
            "*bold* and _it_ ~x~ `a&lt;b`"
        );
        assert_eq!(
            m("[docs](https://example.org/a) & <b>"),
            "<https://example.org/a|docs> &amp; &lt;b&gt;"
        );
        assert_eq!(
            m("# Title\n- one\n```rust\nx < y\n```"),
            "*Title*\n• one\n```\nx &lt; y\n```"
        );
        assert_eq!(m("snake_case_name"), "snake_case_name");
    }

    #[test]
    fn output_is_always_balanced() {
        // Every opened tag is closed, whatever the input.
        let samples = [
            "**a _b** c_",
            "*a **b* c**",
            "__a__b__",
            "`a",
            "[a](https://x",
            "~~~~",
            "_*_*",
        ];
        for s in samples {
            let o = h(s);
            for tag in ["b", "i", "s", "code", "pre", "a", "blockquote"] {
                let opens =
                    o.matches(&format!("<{tag}>")).count() + o.matches(&format!("<{tag} ")).count();
                assert_eq!(
                    opens,
                    o.matches(&format!("</{tag}>")).count(),
                    "{s:?} -> {o:?}"
                );
            }
        }
    }
}
