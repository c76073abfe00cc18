//! Turning a fetched body into text for `web_fetch`: content-type classification, a
//! sniff for untyped bodies, charset decoding (UTF-8, Latin-1 family) and a crude
//! HTML-to-text conversion. Pure functions, no I/O.

/// How a body is to be treated, from its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Html,
    Text,
    Binary,
    Unknown,
}

/// Classifies a `Content-Type` header value.
pub(super) fn classify(ctype: &str) -> Kind {
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "" => Kind::Unknown,
        "text/html" | "application/xhtml+xml" => Kind::Html,
        m if m.starts_with("text/") || m.ends_with("+json") || m.ends_with("+xml") => Kind::Text,
        "application/json"
        | "application/xml"
        | "application/javascript"
        | "application/x-javascript"
        | "application/ecmascript"
        | "application/x-yaml"
        | "application/yaml"
        | "application/toml" => Kind::Text,
        _ => Kind::Binary,
    }
}

/// Guesses the kind of a body sent without a content type.
pub(super) fn sniff(body: &[u8]) -> Kind {
    let head = &body[..body.len().min(1024)];
    if head.contains(&0) {
        return Kind::Binary;
    }
    let lower = String::from_utf8_lossy(head)
        .trim_start()
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        Kind::Html
    } else {
        Kind::Text
    }
}

/// Decodes a body: Latin-1 family charsets byte for byte, everything else as (lossy) UTF-8.
pub(super) fn decode(body: &[u8], ctype: &str) -> String {
    let lower = ctype.to_ascii_lowercase();
    let latin1 = ["iso-8859-1", "latin1", "latin-1", "windows-1252"]
        .iter()
        .any(|c| lower.contains(&format!("charset={c}")));
    if latin1 {
        body.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(body).into_owned()
    }
}

/// Elements whose content is dropped entirely.
const SKIP_ELEMENTS: [&str; 4] = ["script", "style", "template", "svg"];

/// Elements that start a new line, space-separated.
const BLOCK_ELEMENTS: &str = "address article aside blockquote br dd div dl dt figcaption figure \
    footer form h1 h2 h3 h4 h5 h6 header hr main nav ol p pre section table title tr ul";

/// Index just past the `>` closing the tag that opens at `start`, honouring quoted
/// attribute values; the end of input if unclosed.
fn tag_end(b: &[u8], start: usize) -> usize {
    let mut quote = None;
    let mut prev = 0u8;
    for (i, &c) in b.iter().enumerate().skip(start + 1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'>' => return i + 1,
            None if (c == b'"' || c == b'\'') && prev == b'=' => quote = Some(c),
            None => {}
        }
        if !c.is_ascii_whitespace() {
            prev = c;
        }
    }
    b.len()
}

/// Position of the ASCII `needle` in `b` at or after `from`, ignoring ASCII case.
fn find_ci(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

/// Crude HTML-to-text: drops comments, `<script>`/`<style>`/`<template>`/`<svg>` with their content, and tags; block
/// tags become line breaks and `<li>` a `- ` bullet; entities are decoded and whitespace
/// collapsed.
pub(super) fn html_to_text(html: &str) -> String {
    let b = html.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let (mut i, mut text_start) = (0, 0);
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        out.push_str(&html[text_start..i]);
        let next = b.get(i + 1).copied().unwrap_or(0);
        if b[i + 1..].starts_with(b"!--") {
            i = find_ci(b, i + 4, b"-->").map_or(b.len(), |p| p + 3);
        } else if next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?') {
            let closing = next == b'/';
            let name_start = i + 1 + usize::from(closing);
            let name_len = b[name_start..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let name = html[name_start..name_start + name_len].to_ascii_lowercase();
            i = tag_end(b, i);
            if !closing && SKIP_ELEMENTS.contains(&name.as_str()) && !b[..i].ends_with(b"/>") {
                let close = format!("</{name}");
                i = find_ci(b, i, close.as_bytes()).map_or(b.len(), |p| tag_end(b, p));
            } else if name == "li" {
                if !closing {
                    out.push_str("\n- ");
                }
            } else if BLOCK_ELEMENTS.split_whitespace().any(|e| e == name) {
                out.push('\n');
            } else if matches!(name.as_str(), "td" | "th") {
                out.push(' ');
            }
        } else {
            out.push('<');
            i += 1;
        }
        text_start = i;
    }
    out.push_str(&html[text_start.min(b.len())..]);
    tidy(&decode_entities(&out))
}

/// Decodes the common named entities and all numeric ones; others stay as written.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .map(|p| p + 1);
        let decoded = end.filter(|&e| rest[e..].starts_with(';')).and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                "hellip" => Some('…'),
                "copy" => Some('©'),
                "lsquo" | "rsquo" => Some('\''),
                "ldquo" | "rdquo" => Some('"'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Collapses runs of blanks within lines, trims lines, and keeps at most one empty line.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(&words.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_content_types() {
        assert_eq!(classify("text/html; charset=utf-8"), Kind::Html);
        assert_eq!(classify("application/ld+json"), Kind::Text);
        assert_eq!(classify("text/plain"), Kind::Text);
        assert_eq!(classify("image/png"), Kind::Binary);
        assert_eq!(classify(""), Kind::Unknown);
        assert_eq!(sniff(b"  <!DOCTYPE html><p>x"), Kind::Html);
        assert_eq!(sniff(b"\x89PNG\0\0"), Kind::Binary);
        assert_eq!(decode(b"caf\xe9", "text/plain; charset=ISO-8859-1"), "café");
    }

    #[test]
    fn html_becomes_readable_text() {
        let html = r#"<!doctype html><html><head><title>T &amp; t</title>
            <style>body { color: red }</style><script>alert("<b>x</b>")</script></head>
            <body><!-- hidden --><h1 class="a>b">Hello&nbsp;<b>world</b></h1>
            <p>one   two<br>three &lt;4&gt; &#233;&#x41; &bogus; a&b</p>
            <ul><li>first</li><li>second</li></ul><SCRIPT type="x">evil()</SCRIPT>
            <table><tr><td>c1</td><td>c2</td></tr></table> 1 < 2</body></html>"#;
        let text = html_to_text(html);
        assert_eq!(
            text,
            "T & t\n\nHello world\n\none two\nthree <4> éA &bogus; a&b\n\n- first\n- second\n\nc1 c2\n\n1 < 2"
        );
    }
}
