//! Splits generated text into visible content and tool calls while streaming, in the model's
//! format ([`ToolFormat`]): Hermes `<tool_call>…</tool_call>` tags (a JSON object, or an array
//! of them as SmolLM2 writes), Llama 3's bare JSON answer, or Gemma's ```` ```tool_code ````
//! block. A leading `<think>…</think>` block (Qwen3's reasoning) is dropped.
//!
//! Visible text is released as soon as it cannot be the start of a call; a call's body is held
//! until it closes. A body that does not parse is kept out of the content and reported in
//! [`Filtered::malformed`], so the caller can re-ask the model. The streamed deltas always
//! concatenate to the final content. Leading and trailing whitespace of the answer is dropped
//! (whitespace is released only before further text).

use super::prompt::ToolFormat;
use super::pycall;
use serde_json::Value;

/// One parsed call: tool name and arguments object.
pub(super) type ParsedCall = (String, Value);

/// Where calls start and end in a format.
struct Markers {
    open: &'static str,
    /// `None`: the call runs to the end of the answer.
    close: Option<&'static str>,
    /// Whether a call may only start the answer (Llama 3's bare JSON).
    at_start: bool,
}

fn markers(format: ToolFormat) -> Markers {
    match format {
        ToolFormat::Hermes => Markers {
            open: "<tool_call>",
            close: Some("</tool_call>"),
            at_start: false,
        },
        // The closing fence starts a line: a string argument may hold backticks.
        ToolFormat::GemmaToolCode => Markers {
            open: "```tool_code",
            close: Some("\n```"),
            at_start: false,
        },
        ToolFormat::Llama3Json => Markers {
            open: "{",
            close: None,
            at_start: true,
        },
    }
}

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// What a finished stream held.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Filtered {
    /// Visible text not yet streamed.
    pub last: String,
    /// All visible text.
    pub content: String,
    /// Calls that parsed.
    pub calls: Vec<ParsedCall>,
    /// Calls that did not, each as "what is wrong: the text".
    pub malformed: Vec<String>,
}

/// The streaming splitter; feed it decoded text, emit what it returns.
pub(super) struct OutputFilter {
    markers: Option<(Markers, ToolFormat)>,
    /// Text received but not yet classified (a possible marker start, or a call body).
    held: String,
    /// Whether `held` is inside an open call.
    inside: bool,
    /// Whether `held` is inside a leading `<think>` block.
    thinking: bool,
    /// Whether anything but whitespace has been seen (a think block or call may not start
    /// the answer any more).
    started: bool,
    /// Whitespace waiting for further visible text.
    pending_ws: String,
    out: Filtered,
}

impl OutputFilter {
    /// A filter for `format`, or one that passes everything as text (`None`: no tools).
    pub(super) fn new(format: Option<ToolFormat>) -> Self {
        Self {
            markers: format.map(|f| (markers(f), f)),
            held: String::new(),
            inside: false,
            thinking: false,
            started: false,
            pending_ws: String::new(),
            out: Filtered::default(),
        }
    }

    /// Adds decoded text; returns the visible text that can be streamed now (maybe empty).
    pub(super) fn push(&mut self, text: &str) -> String {
        self.held.push_str(text);
        let mut out = String::new();
        loop {
            if !self.started {
                let t = self.held.trim_start();
                if t.is_empty() {
                    break;
                }
                if THINK_OPEN.starts_with(t) && t.len() < THINK_OPEN.len() {
                    break; // could still become `<think>`
                }
                if let Some(rest) = t.strip_prefix(THINK_OPEN) {
                    self.held = rest.to_string();
                    self.thinking = true;
                }
                self.started = true;
            }
            if self.thinking {
                let Some(end) = self.held.find(THINK_CLOSE) else {
                    break;
                };
                self.held.drain(..end + THINK_CLOSE.len());
                self.thinking = false;
                self.held = self.held.trim_start().to_string();
                continue;
            }
            let Some((m, _)) = &self.markers else {
                let text = std::mem::take(&mut self.held);
                self.release(&text, &mut out);
                break;
            };
            let (open, close, at_start) = (m.open, m.close, m.at_start);
            if self.inside {
                let Some(close) = close else { break };
                let Some(end) = self.held.find(close) else {
                    break;
                };
                let body: String = self.held[..end].to_string();
                self.held.drain(..end + close.len());
                self.inside = false;
                self.close_call(&body);
                continue;
            }
            let may_open = !at_start || self.out.content.is_empty();
            if may_open && let Some(start) = self.held.find(open) {
                let before: String = self.held[..start].to_string();
                if at_start && !before.trim().is_empty() {
                    let text = std::mem::take(&mut self.held);
                    self.release(&text, &mut out);
                    break;
                }
                self.held.drain(..start + open.len());
                self.inside = true;
                if at_start {
                    self.held.insert_str(0, open); // the brace belongs to the JSON
                }
                self.release(&before, &mut out);
                continue;
            }
            if !may_open {
                let text = std::mem::take(&mut self.held);
                self.release(&text, &mut out);
                break;
            }
            // Keep the longest tail that could still grow into the opening marker.
            let keep = (1..open.len())
                .rev()
                .find(|&n| self.held.ends_with(&open[..n]))
                .unwrap_or(0);
            let cut = self.held.len() - keep;
            let text: String = self.held.drain(..cut).collect();
            self.release(&text, &mut out);
            break;
        }
        out
    }

    /// Ends the stream.
    pub(super) fn finish(mut self) -> Filtered {
        let mut last = String::new();
        let held = std::mem::take(&mut self.held);
        if self.inside {
            // Generation stopped inside a call: accept the body if it is complete.
            self.close_call(&held);
        } else if !self.thinking {
            self.release(&held, &mut last);
        }
        self.out.last.push_str(&last);
        self.out
    }

    fn close_call(&mut self, body: &str) {
        let Some(format) = self.markers.as_ref().map(|(_, f)| *f) else {
            return;
        };
        let parsed = match format {
            ToolFormat::GemmaToolCode => pycall::parse_calls(body.trim().trim_end_matches("```"))
                .and_then(|calls| {
                    if calls.is_empty() {
                        Err("the tool_code block holds no call".into())
                    } else {
                        Ok(calls
                            .into_iter()
                            .map(|(n, a)| (n, Value::Object(a)))
                            .collect())
                    }
                }),
            // Llama 3: an answer that merely starts with a brace (JSON the user asked for)
            // is text, not a broken call.
            ToolFormat::Llama3Json if !body.contains("\"name\"") => {
                let text = body.to_string();
                let mut out = String::new();
                self.release(&text, &mut out);
                self.out.last.push_str(&out);
                return;
            }
            _ => parse_json_calls(body),
        };
        match parsed {
            Ok(calls) => self.out.calls.extend(calls),
            Err(why) => {
                let excerpt: String = body.trim().chars().take(200).collect();
                self.out.malformed.push(format!("{why}: {excerpt}"));
            }
        }
    }

    /// Releases visible text, holding trailing whitespace back and dropping leading whitespace.
    fn release(&mut self, text: &str, out: &mut String) {
        let content = &mut self.out.content;
        let text = if content.is_empty() {
            text.trim_start()
        } else {
            text
        };
        let body = text.trim_end();
        if body.is_empty() {
            if !content.is_empty() {
                self.pending_ws.push_str(text);
            }
            return;
        }
        let ws = std::mem::take(&mut self.pending_ws);
        out.push_str(&ws);
        out.push_str(body);
        content.push_str(&ws);
        content.push_str(body);
        self.pending_ws.push_str(&text[body.len()..]);
    }
}

/// Parses a JSON call body: one call object, an array of them, or objects separated by `;`
/// or new lines (Llama 3.2 writes several that way).
///
/// # Errors
/// What is wrong, in words a model can act on.
pub(super) fn parse_json_calls(body: &str) -> Result<Vec<ParsedCall>, String> {
    let body = body.trim();
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(items)) if !items.is_empty() => items.iter().map(parse_call).collect(),
        Ok(obj @ Value::Object(_)) => parse_call(&obj).map(|c| vec![c]),
        Ok(_) => Err("a call must be a JSON object with \"name\" and \"arguments\"".into()),
        Err(e) => {
            let mut calls = Vec::new();
            let mut rest = body;
            loop {
                rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
                if rest.is_empty() {
                    break;
                }
                let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
                match values.next() {
                    Some(Ok(v)) => calls.push(parse_call(&v)?),
                    _ => return Err(format!("the call is not valid JSON ({e})")),
                }
                rest = &rest[values.byte_offset()..];
            }
            Ok(calls)
        }
    }
}

/// `{"name": "…", "arguments": {…}}`; `parameters` is accepted for `arguments`, a string
/// holding a JSON object is unwrapped, and missing arguments mean `{}`.
fn parse_call(v: &Value) -> Result<ParsedCall, String> {
    let obj = v
        .as_object()
        .ok_or("a call must be a JSON object with \"name\" and \"arguments\"")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or("the call has no \"name\"")?;
    let args = match obj.get("arguments").or_else(|| obj.get("parameters")) {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(a @ Value::Object(_)) => a,
            _ => return Err("\"arguments\" must be a JSON object".into()),
        },
        Some(_) => return Err("\"arguments\" must be a JSON object".into()),
    };
    Ok((name.to_string(), args))
}

#[cfg(test)]
#[path = "toolcall_tests.rs"]
mod tests;
