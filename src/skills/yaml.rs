//! Frontmatter YAML to a small tree that keeps line numbers, built on `saphyr-parser`'s events.
//!
//! The parser is a full YAML 1.2 event parser (<https://yaml.org/spec/1.2.2/>); this file only
//! assembles its events. Refused on purpose, each with its line: aliases (`*name`, so no
//! "billion laughs" expansion), more than one document, nesting deeper than [`MAX_DEPTH`],
//! non-scalar mapping keys and duplicate keys. A tagged scalar (`!!str 1`, `!x y`) is a string;
//! plain scalars resolve by the YAML 1.2 core schema only when converted to JSON ([`to_json`]).
//! Imports nothing of Hearth.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Deepest nesting of sequences and mappings accepted.
pub(crate) const MAX_DEPTH: usize = 32;

/// One YAML node; `line` is 1-based within the parsed text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A scalar's text after YAML unescaping/folding; `plain` when it was unquoted and untagged
    /// (only then can it mean `null`, a boolean or a number).
    Scalar {
        text: String,
        plain: bool,
        line: usize,
    },
    Seq {
        items: Vec<Node>,
        line: usize,
    },
    /// Entries in file order: key, the key's line, value.
    Map {
        entries: Vec<(String, usize, Node)>,
        line: usize,
    },
}

impl Node {
    /// The 1-based line (within the parsed text) where the node starts.
    pub(crate) fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq { line, .. } | Node::Map { line, .. } => *line,
        }
    }
}

/// A YAML error at a 1-based line of the parsed text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> YamlError {
    YamlError {
        line,
        message: message.into(),
    }
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Vec<(String, usize, Node)>, usize, Option<(String, usize)>),
}

/// Parses one YAML document; `Ok(None)` when it holds no node (empty or only comments).
///
/// # Errors
/// The scanner's or parser's message, or one of the refusals in the module header, with the
/// line where it was found.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| err(e.marker().line(), e.info().to_string()))?;
        let line = span.start.line();
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(line, "more than one YAML document"));
                }
                continue;
            }
            Event::Alias(_) => return Err(err(line, "YAML aliases (`*name`) are not supported")),
            Event::Scalar(text, style, _anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.is_none();
                Node::Scalar {
                    text: text.into_owned(),
                    plain,
                    line,
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(line, format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                if matches!(event, Event::SequenceStart(..)) {
                    stack.push(Frame::Seq(Vec::new(), line));
                } else {
                    stack.push(Frame::Map(Vec::new(), line, None));
                }
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, line)) => Node::Seq { items, line },
                Some(Frame::Map(entries, line, _)) => Node::Map { entries, line },
                None => return Err(err(line, "unbalanced collection end")),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
        };
        attach(&mut stack, &mut root, done)?;
    }
    Ok(root)
}

/// Hands a finished node to its parent (or makes it the root).
fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) -> Result<(), YamlError> {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(Frame::Seq(items, _)) => items.push(node),
        Some(Frame::Map(entries, _, pending)) => match pending.take() {
            Some((key, key_line)) => entries.push((key, key_line, node)),
            None => {
                let Node::Scalar { text, line, .. } = node else {
                    return Err(err(node.line(), "mapping keys must be plain strings"));
                };
                if entries.iter().any(|(k, _, _)| *k == text) {
                    return Err(err(line, format!("duplicate key `{text}`")));
                }
                *pending = Some((text, line));
            }
        },
    }
    Ok(())
}

/// Converts a node to JSON. Plain scalars follow the YAML 1.2 core schema
/// (<https://yaml.org/spec/1.2.2/#103-core-schema>): `null`/`~`/empty, `true`/`false`,
/// integers (decimal, `0x`, `0o`) and finite floats; `.inf` and `.nan` stay strings (JSON has
/// no such numbers). Every other scalar is a string.
pub(crate) fn to_json(node: &Node) -> Value {
    match node {
        Node::Scalar {
            text, plain: true, ..
        } => plain_scalar(text),
        Node::Scalar { text, .. } => Value::String(text.clone()),
        Node::Seq { items, .. } => Value::Array(items.iter().map(to_json).collect()),
        Node::Map { entries, .. } => {
            let map: Map<String, Value> = entries
                .iter()
                .map(|(k, _, v)| (k.clone(), to_json(v)))
                .collect();
            Value::Object(map)
        }
    }
}

fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .filter(|d| !d.is_empty() && !d.starts_with(['+', '-']))
            .and_then(|d| i64::from_str_radix(d, radix).ok())
    };
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Value::from(n);
    }
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits_only = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit());
    if digits_only && let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    let float_like = body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if float_like && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_used_by_frontmatter() {
        let text = "# comment\nname: 'it''s'\ndesc: \"a\\tb\"\nlit: |\n  one\n  two\nfold: >\n  one\n  two\nflow: [a, \"b\", 3]\nmeta: {\"openclaw\": {\"always\": true,\n  \"os\": [\"linux\"]}}\nn: ~\nx: 0x1f\nf: 1.5\nv: 1.2.3\n";
        let node = parse(text).unwrap().unwrap();
        assert_eq!(
            to_json(&node),
            json!({"name": "it's", "desc": "a\tb", "lit": "one\ntwo\n", "fold": "one two\n",
                   "flow": ["a", "b", 3], "meta": {"openclaw": {"always": true, "os": ["linux"]}},
                   "n": null, "x": 31, "f": 1.5, "v": "1.2.3"})
        );
        let Node::Map { entries, .. } = node else {
            panic!("not a map")
        };
        let lines: Vec<usize> = entries.iter().map(|(_, l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4, 7, 10, 11, 13, 14, 15, 16]);
    }

    #[test]
    fn refusals_carry_lines() {
        assert_eq!(parse("a: 1\nb: &x 2\nc: *x\n").unwrap_err().line, 3);
        assert_eq!(
            parse("a: 1\na: 2\n").unwrap_err(),
            err(2, "duplicate key `a`")
        );
        assert_eq!(parse("a: 1\n? [k]\n: v\n").unwrap_err().line, 2);
        let deep = format!("a: {}{}\n", "[".repeat(40), "]".repeat(40));
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
        assert_eq!(parse("a: 1\nb: c: d\n").unwrap_err().line, 2);
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }
}
