//! The model's own chat template (`tokenizer.chat_template`, Jinja as Hugging Face renders
//! it: <https://huggingface.co/docs/transformers/main/en/chat_templating>), run by minijinja
//! with the same settings (`trim_blocks`, `lstrip_blocks`, loop controls) and the helpers such
//! templates call: `raise_exception`, `strftime_now`, Python string methods, and a `tojson`
//! that writes what Python's `json.dumps` writes (`", "` and `": "` separators, non-ASCII
//! kept, `indent`).
//!
//! Text from users, tools and the web must never become control tokens. Every message's
//! content (and every string inside tool calls and tool specs) goes into the template as a
//! placeholder, the output is rendered, then the placeholders are replaced by the real text
//! and their byte ranges recorded as untrusted: the tokenizer recognises `<|im_start|>` and
//! the like only in the template's own text ([`Rendered::untrusted`]).
//!
//! A GGUF without a template is rendered as ChatML, as llama.cpp does.

use crate::core::{ChatMessage, Role, ToolSpec};
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::Value as Json;
use std::ops::Range;
use std::sync::Arc;

/// ChatML, used when the GGUF carries no template.
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + \
    message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}\
    {{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Instructions a template may run per render (minijinja "fuel"): a template that loops
/// forever fails with an error instead of hanging the provider.
const FUEL: u64 = 20_000_000;

/// Placeholder delimiters (Unicode private-use characters): `OPEN n CLOSE` stands for the raw
/// text of entry `n`, `JSON_OPEN n JSON_CLOSE` for the same text escaped inside a JSON string.
const OPEN: char = '\u{F0001}';
const CLOSE: char = '\u{F0002}';
const JSON_OPEN: char = '\u{F0003}';
const JSON_CLOSE: char = '\u{F0004}';

/// A compiled chat template.
pub(super) struct ChatTemplate {
    env: Environment<'static>,
    /// The template text (for detecting its tool-call format).
    pub source: String,
    bos: String,
    eos: String,
}

/// A rendered prompt: the text, and the byte ranges that hold untrusted text (message
/// contents, tool arguments and specs), where special-token spellings stay plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rendered {
    /// The prompt.
    pub text: String,
    /// Untrusted byte ranges of `text`, in order, not overlapping.
    pub untrusted: Vec<Range<usize>>,
}

impl Rendered {
    /// Whether bytes `start..end` lie wholly in the template's own text.
    pub(super) fn trusted(&self, start: usize, end: usize) -> bool {
        let i = self.untrusted.partition_point(|r| r.end <= start);
        self.untrusted.get(i).is_none_or(|r| r.start >= end)
    }
}

/// Holds the texts hidden behind placeholders while a template renders.
#[derive(Default)]
pub(super) struct Shield {
    texts: Vec<String>,
}

impl Shield {
    /// The placeholder for `text`.
    pub(super) fn hide(&mut self, text: &str) -> String {
        self.texts.push(text.to_string());
        format!("{OPEN}{}{CLOSE}", self.texts.len() - 1)
    }

    /// `v` as a template value with every string inside it, keys included, replaced by a
    /// placeholder (maps keep their order).
    pub(super) fn hide_json(&mut self, v: &Json) -> Value {
        match v {
            Json::String(s) => Value::from(self.hide(s)),
            Json::Array(a) => Value::from(a.iter().map(|x| self.hide_json(x)).collect::<Vec<_>>()),
            Json::Object(o) => Value::from_object(Ordered(
                o.iter()
                    .map(|(k, x)| (self.hide(k), self.hide_json(x)))
                    .collect(),
            )),
            other => to_value(other),
        }
    }

    /// Puts the hidden texts back (raw, or JSON-escaped where `tojson` wrote them).
    fn reveal(&self, rendered: &str) -> Result<Rendered, String> {
        let mut text = String::with_capacity(rendered.len());
        let mut untrusted = Vec::new();
        let mut rest = rendered;
        // Only the template's own text is checked for stray delimiters: the revealed texts
        // may hold these private-use characters themselves (icon fonts use them).
        let stray = || Err("the template left a placeholder half-written".to_string());
        while let Some(at) = rest.find([OPEN, JSON_OPEN]) {
            if rest[..at].contains([CLOSE, JSON_CLOSE]) {
                return stray();
            }
            text.push_str(&rest[..at]);
            let json = rest[at..].starts_with(JSON_OPEN);
            let body = &rest[at + OPEN.len_utf8()..];
            let close = if json { JSON_CLOSE } else { CLOSE };
            let end = body
                .find(close)
                .ok_or("the template cut a message apart (unbalanced placeholder)")?;
            let n: usize = body[..end]
                .parse()
                .map_err(|_| "the template altered a message placeholder")?;
            let raw = self.texts.get(n).ok_or("unknown placeholder")?;
            let start = text.len();
            if json {
                let quoted = Json::String(raw.clone()).to_string();
                text.push_str(&quoted[1..quoted.len() - 1]);
            } else {
                text.push_str(raw);
            }
            if text.len() > start {
                untrusted.push(start..text.len());
            }
            rest = &body[end + close.len_utf8()..];
        }
        if rest.contains([CLOSE, JSON_CLOSE]) {
            return stray();
        }
        text.push_str(rest);
        Ok(Rendered { text, untrusted })
    }
}

impl ChatTemplate {
    /// Compiles `source` (ChatML when `None`); `bos` and `eos` are the texts of the model's
    /// BOS and EOS tokens (the template's `bos_token` and `eos_token`).
    ///
    /// # Errors
    /// The template's syntax error, with its line.
    pub(super) fn new(source: Option<&str>, bos: &str, eos: &str) -> Result<Self, String> {
        let source = source.unwrap_or(CHATML).to_string();
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |fmt: String| -> Result<String, Error> {
            let now = jiff::tz::TimeZone::system().to_datetime(jiff::Timestamp::now());
            jiff::fmt::strtime::format(fmt.as_bytes(), now)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
        });
        env.add_template_owned("chat", source.clone())
            .map_err(|e| format!("tokenizer.chat_template does not compile: {e:#}"))?;
        Ok(Self {
            env,
            source,
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    /// Renders `messages` (in the template's shape, strings hidden by `shield`; see
    /// [`template_values`]) with `tools` (or `None`) and the generation prompt.
    ///
    /// # Errors
    /// The template's own error (`raise_exception`, e.g. "Conversation roles must
    /// alternate"), or a message when it mangled a placeholder.
    pub(super) fn render(
        &self,
        messages: &[Value],
        tools: Option<&[Value]>,
        shield: &Shield,
    ) -> Result<Rendered, String> {
        let tmpl = self.env.get_template("chat").map_err(|e| e.to_string())?;
        let ctx = minijinja::context! {
            messages => Value::from(messages.to_vec()),
            tools => tools.map(|t| Value::from(t.to_vec())),
            add_generation_prompt => true,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
            // Qwen3: answer without a reasoning block (faster on a small board).
            enable_thinking => false,
        };
        let out = tmpl
            .render(ctx)
            .map_err(|e| format!("the chat template failed: {e:#}"))?;
        shield.reveal(&out)
    }
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)`, as Hugging Face's
/// `tojson` filter calls it; placeholders inside strings are re-marked so that the text they
/// stand for is put back JSON-escaped.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _ = kwargs.get::<Option<bool>>("ensure_ascii")?;
    let _ = kwargs.get::<Option<bool>>("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut s = String::new();
    write_json(&value, indent, 0, &mut s);
    let s: String = s
        .chars()
        .map(|c| match c {
            OPEN => JSON_OPEN,
            CLOSE => JSON_CLOSE,
            c => c,
        })
        .collect();
    Ok(Value::from_safe_string(s))
}

/// JSON text as Python's `json.dumps` writes it: `", "`/`": "` between items without
/// `indent`, one item per line indented by `indent` spaces with it; maps in their own order.
#[cfg(test)]
pub(super) fn python_json(v: &Json, indent: Option<usize>) -> String {
    let mut out = String::new();
    write_json(&to_value(v), indent, 0, &mut out);
    out
}

fn write_json(v: &Value, indent: Option<usize>, level: usize, out: &mut String) {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * level));
        }
    };
    let sep = if indent.is_some() { "," } else { ", " };
    let is_map = v.kind() == ValueKind::Map;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => match v.as_i64() {
            Some(i) if v.is_integer() => out.push_str(&i.to_string()),
            _ => {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(n) => out.push_str(&n.to_string()),
                    None => out.push_str("NaN"),
                }
            }
        },
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter().map(Iterator::collect).unwrap_or_default();
            let (open, close) = if is_map { ('{', '}') } else { ('[', ']') };
            out.push(open);
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, level + 1);
                if is_map {
                    let key = x.as_str().map_or_else(|| x.to_string(), str::to_string);
                    out.push_str(&Json::String(key).to_string());
                    out.push_str(": ");
                    let item = v.get_item(x).unwrap_or_default();
                    write_json(&item, indent, level + 1, out);
                } else {
                    write_json(x, indent, level + 1, out);
                }
            }
            if !items.is_empty() {
                newline(out, level);
            }
            out.push(close);
        }
        _ => {
            let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            out.push_str(&Json::String(s).to_string());
        }
    }
}

/// A map that keeps its keys in the order given (Python dicts do; minijinja's and
/// serde_json's own maps sort them), so `tojson` writes `{"name": …, "arguments": …}` in the
/// order models were trained on.
#[derive(Debug)]
struct Ordered(Vec<(String, Value)>);

impl Object for Ordered {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.0
                .iter()
                .map(|(k, _)| Value::from(k.as_str()))
                .collect(),
        )
    }
}

/// An ordered map value.
fn ordered(pairs: Vec<(&str, Value)>) -> Value {
    Value::from_object(Ordered(
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}

/// A JSON value as a template value (maps keep serde_json's order).
fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::from(a.iter().map(to_value).collect::<Vec<_>>()),
        Json::Object(o) => Value::from_object(Ordered(
            o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
        )),
    }
}

/// The messages and tools in the shape templates expect
/// (<https://huggingface.co/docs/transformers/main/en/chat_templating#tool-use--function-calling>):
/// `{"role", "content", "tool_calls": [{"id", "type": "function", "function": {"name",
/// "arguments"}}], "tool_call_id", "name"}` and `{"type": "function", "function": {"name",
/// "description", "parameters"}}`, in that key order, every string hidden behind `shield`.
pub(super) fn template_values(
    messages: &[ChatMessage],
    tools: &[ToolSpec],
    shield: &mut Shield,
) -> (Vec<Value>, Vec<Value>) {
    let msgs = messages
        .iter()
        .map(|m| {
            let mut o = vec![("role", Value::from(role_name(m.role)))];
            // Trimmed as templates trim (`| trim`), which they cannot do through a placeholder;
            // empty content stays empty, so `{% if message.content %}` still reads it so.
            let content = m.content.trim();
            let content = if content.is_empty() {
                String::new()
            } else {
                shield.hide(content)
            };
            o.push(("content", Value::from(content)));
            if !m.tool_calls.is_empty() {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let function = ordered(vec![
                            ("name", Value::from(shield.hide(&c.name))),
                            ("arguments", shield.hide_json(&c.arguments)),
                        ]);
                        ordered(vec![
                            ("id", Value::from(shield.hide(&c.id))),
                            ("type", Value::from("function")),
                            ("function", function),
                        ])
                    })
                    .collect();
                o.push(("tool_calls", Value::from(calls)));
            }
            if let Some(id) = &m.tool_call_id {
                o.push(("tool_call_id", Value::from(shield.hide(id))));
            }
            if let Some(n) = &m.name {
                o.push(("name", Value::from(shield.hide(n))));
            }
            ordered(o)
        })
        .collect();
    let tools = tools.iter().map(|t| tool_value(t, Some(shield))).collect();
    (msgs, tools)
}

/// A tool spec as `{"type": "function", "function": {"name", "description",
/// "parameters"}}`; its strings hidden behind `shield` when one is given.
pub(super) fn tool_value(t: &ToolSpec, shield: Option<&mut Shield>) -> Value {
    let (name, description, parameters) = match shield {
        Some(s) => (
            s.hide(&t.name),
            s.hide(&t.description),
            s.hide_json(&t.parameters),
        ),
        None => (
            t.name.clone(),
            t.description.clone(),
            to_value(&t.parameters),
        ),
    };
    ordered(vec![
        ("type", Value::from("function")),
        (
            "function",
            ordered(vec![
                ("name", Value::from(name)),
                ("description", Value::from(description)),
                ("parameters", parameters),
            ]),
        ),
    ])
}

/// Python-`json.dumps` text of a template value.
pub(super) fn value_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, None, 0, &mut out);
    out
}

/// An ordered `{"name": name, key: value}` object as JSON text (tool calls and results).
pub(super) fn named_json(name: &str, key: &str, value: &Json) -> String {
    value_json(&ordered(vec![
        ("name", Value::from(name)),
        (key, to_value(value)),
    ]))
}

/// The role as templates spell it.
fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
pub(super) mod tests;
