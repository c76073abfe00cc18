//! Splits generated text into visible content and Hermes-style tool calls
//! (`<tool_call>{"name": …, "arguments": {…}}</tool_call>`, or a JSON array of such objects
//! inside one tag, as SmolLM2 was trained to write), while streaming.
//!
//! Visible text is released as soon as it cannot be the start of a tag; a call's body is held
//! until its closing tag. A body that is not a valid call is released as plain text at its
//! place, so the streamed deltas always concatenate to the final content. Leading and trailing
//! whitespace of the answer is dropped (whitespace is released only before further text).

use serde_json::Value;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// Whether tool-call tags are parsed or passed through as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ToolParsing {
    /// Tools were offered: parse `<tool_call>` tags out of the text.
    On,
    /// No tools: everything is content.
    Off,
}

/// One parsed call: tool name and arguments object.
pub(super) type ParsedCall = (String, Value);

/// The streaming splitter; feed it decoded text, emit what it returns.
pub(super) struct OutputFilter {
    parsing: ToolParsing,
    /// Text received but not yet classified (a possible tag start, or a call body).
    held: String,
    /// Whether `held` is inside an open `<tool_call>` tag.
    inside: bool,
    /// Whitespace waiting for further visible text.
    pending_ws: String,
    /// Everything released so far.
    content: String,
    calls: Vec<ParsedCall>,
}

impl OutputFilter {
    /// A filter that parses tool calls or not.
    pub(super) fn new(parsing: ToolParsing) -> Self {
        Self {
            parsing,
            held: String::new(),
            inside: false,
            pending_ws: String::new(),
            content: String::new(),
            calls: Vec::new(),
        }
    }

    /// Adds decoded text; returns the visible text that can be streamed now (maybe empty).
    pub(super) fn push(&mut self, text: &str) -> String {
        self.held.push_str(text);
        let mut out = String::new();
        loop {
            if self.inside {
                let Some(end) = self.held.find(CLOSE) else {
                    break;
                };
                let body: String = self.held[..end].to_string();
                self.held.drain(..end + CLOSE.len());
                self.inside = false;
                self.close_call(&body, &mut out);
            } else if self.parsing == ToolParsing::Off {
                let text = std::mem::take(&mut self.held);
                self.release(&text, &mut out);
                break;
            } else if let Some(start) = self.held.find(OPEN) {
                let before: String = self.held[..start].to_string();
                self.held.drain(..start + OPEN.len());
                self.inside = true;
                self.release(&before, &mut out);
            } else {
                // Keep the longest tail that could still grow into `<tool_call>`.
                let keep = (1..OPEN.len())
                    .rev()
                    .find(|&n| self.held.ends_with(&OPEN[..n]))
                    .unwrap_or(0);
                let cut = self.held.len() - keep;
                let text: String = self.held.drain(..cut).collect();
                self.release(&text, &mut out);
                break;
            }
        }
        out
    }

    /// Ends the stream: returns the last visible text, the whole content and the calls.
    pub(super) fn finish(mut self) -> (String, String, Vec<ParsedCall>) {
        let mut out = String::new();
        let held = std::mem::take(&mut self.held);
        if self.inside {
            // Generation stopped inside a tag: accept the body if it is complete JSON.
            self.close_call(&held, &mut out);
        } else {
            self.release(&held, &mut out);
        }
        (out, self.content, self.calls)
    }

    fn close_call(&mut self, body: &str, out: &mut String) {
        match parse_calls(body) {
            Some(calls) => self.calls.extend(calls),
            None => self.release(&format!("{OPEN}{body}{CLOSE}"), out),
        }
    }

    /// Releases visible text, holding trailing whitespace back and dropping leading whitespace.
    fn release(&mut self, text: &str, out: &mut String) {
        let text = if self.content.is_empty() {
            text.trim_start()
        } else {
            text
        };
        let body = text.trim_end();
        if body.is_empty() {
            if !self.content.is_empty() {
                self.pending_ws.push_str(text);
            }
            return;
        }
        let ws = std::mem::take(&mut self.pending_ws);
        out.push_str(&ws);
        out.push_str(body);
        self.content.push_str(&ws);
        self.content.push_str(body);
        self.pending_ws.push_str(&text[body.len()..]);
    }
}

/// Parses a tag body: one call object or an array of them. `None` when it is not valid.
pub(super) fn parse_calls(body: &str) -> Option<Vec<ParsedCall>> {
    match serde_json::from_str::<Value>(body.trim()).ok()? {
        Value::Array(items) if !items.is_empty() => items.iter().map(parse_call).collect(),
        obj @ Value::Object(_) => parse_call(&obj).map(|c| vec![c]),
        _ => None,
    }
}

/// `{"name": "…", "arguments": {…}}`; `parameters` is accepted for `arguments`, a string
/// holding a JSON object is unwrapped, and missing arguments mean `{}`.
fn parse_call(v: &Value) -> Option<ParsedCall> {
    let obj = v.as_object()?;
    let name = obj.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let args = match obj.get("arguments").or_else(|| obj.get("parameters")) {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s).ok()? {
            a @ Value::Object(_) => a,
            _ => return None,
        },
        Some(_) => return None,
    };
    Some((name.to_string(), args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Feeds `text` in chunks of `n` bytes (on char boundaries) and checks the stream.
    fn run(parsing: ToolParsing, text: &str, n: usize) -> (String, Vec<ParsedCall>) {
        let mut f = OutputFilter::new(parsing);
        let mut streamed = String::new();
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(n) {
            streamed.push_str(&f.push(&chunk.iter().collect::<String>()));
        }
        let (last, content, calls) = f.finish();
        streamed.push_str(&last);
        assert_eq!(streamed, content, "deltas concatenate to the content");
        (content, calls)
    }

    #[test]
    fn parses_a_valid_call_and_keeps_surrounding_text() {
        let text = "Let me look.\n<tool_call>\n{\"name\": \"read\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call>\n";
        for n in [1, 3, 7, 100] {
            let (content, calls) = run(ToolParsing::On, text, n);
            assert_eq!(content, "Let me look.");
            assert_eq!(calls, vec![("read".to_string(), json!({"path": "a.txt"}))]);
        }
    }

    #[test]
    fn parses_arrays_string_arguments_and_unclosed_tags() {
        let text = "<tool_call>[{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}, {\"name\": \"b\"}]</tool_call>";
        let (content, calls) = run(ToolParsing::On, text, 4);
        assert_eq!(content, "");
        assert_eq!(
            calls,
            vec![("a".into(), json!({"x": 1})), ("b".into(), json!({}))]
        );
        let (_, calls) = run(
            ToolParsing::On,
            "<tool_call>{\"name\": \"c\", \"arguments\": {}}",
            5,
        );
        assert_eq!(calls, vec![("c".into(), json!({}))]);
    }

    #[test]
    fn malformed_json_stays_text() {
        let text =
            "Hi <tool_call>{\"name\": \"read\", \"arguments\": {\"path\": }</tool_call> there";
        let (content, calls) = run(ToolParsing::On, text, 2);
        assert!(calls.is_empty());
        assert_eq!(content, text);
        let (content, calls) = run(
            ToolParsing::On,
            "<tool_call>{\"arguments\": {}}</tool_call>",
            3,
        );
        assert!(calls.is_empty());
        assert_eq!(content, "<tool_call>{\"arguments\": {}}</tool_call>");
        let (content, calls) = run(ToolParsing::On, "x <tool_call>{\"name\": \"cut", 3);
        assert!(calls.is_empty());
        assert_eq!(content, "x <tool_call>{\"name\": \"cut</tool_call>");
    }

    #[test]
    fn partial_tag_prefix_is_released_when_it_is_not_a_tag() {
        let (content, calls) = run(ToolParsing::On, "a <tool b <tool_c", 1);
        assert!(calls.is_empty());
        assert_eq!(content, "a <tool b <tool_c");
    }

    #[test]
    fn without_tools_tags_are_text_and_whitespace_is_trimmed() {
        let text = "\n  <tool_call>{\"name\": \"x\"}</tool_call>  \n";
        let (content, calls) = run(ToolParsing::Off, text, 3);
        assert!(calls.is_empty());
        assert_eq!(content, "<tool_call>{\"name\": \"x\"}</tool_call>");
        let (content, _) = run(ToolParsing::Off, "Paris.\n\nYes. \n", 1);
        assert_eq!(content, "Paris.\n\nYes.");
    }
}
