//! Gemma-style tool calls written as Python: finding them in a reply, parsing them into a
//! name and JSON arguments, and writing them back.
//!
//! Gemma 3 has no tool tokens; it is prompted to answer with Python calls. Google's guide
//! <https://ai.google.dev/gemma/docs/capabilities/function-calling> asks for a list,
//! `[func_name1(params_name1=params_value1, ...), func_name2(params)]`, and its worked example
//! <https://ai.google.dev/gemma/docs/meme-generator> has the model wrap calls in a
//! ```` ```tool_code ```` fence and get results back in a ```` ```tool_output ```` fence.
//! This module accepts both shapes, one call per line or a list.
//!
//! Owns [`parse_calls`] and [`format_call`] (the fence itself is found by `toolcall.rs`). Pure: no I/O, imports only
//! `std` and `serde_json`; it must not import any other Hearth module, and it never evaluates
//! anything: the input is parsed as data.
//!
//! # Accepted syntax
//!
//! A call is `name(key=value, ...)` with keyword arguments only. The name may be dotted
//! (`default_api.get_weather`); only the last segment is kept. `print(call)` is read as
//! `call`. Values are Python literals
//! (<https://docs.python.org/3/reference/lexical_analysis.html#literals>):
//!
//! - strings in `'…'`, `"…"`, `'''…'''` or `"""…"""`, optionally prefixed `r` (raw) or `u`,
//!   with the escapes `\n \t \r \\ \' \" \a \b \f \v \xHH \uXXXX \UXXXXXXXX`, octal `\ooo`
//!   and backslash-newline; other backslashes are kept, as Python does; adjacent literals are
//!   joined; a raw newline inside a one-quote string is tolerated;
//! - integers and floats with an optional sign, `_` separators, a fraction and an exponent
//!   (`-2`, `1_000`, `3.`, `.5`, `6.02e23`); an integer must fit in 64 bits;
//! - `True`, `False`, `None` (and, leniently, JSON's `true`, `false`, `null`);
//! - lists `[…]`, tuples `(…,)` (both become JSON arrays), dicts `{"key": value}` with string
//!   keys (a repeated key keeps the last value, as in Python).
//!
//! Trailing commas, whitespace and newlines between tokens, and `#` comments are allowed.
//! Calls may be separated by newlines, `,` or `;`.

use serde_json::{Map, Value};
use std::fmt::Write as _;

mod parser;

/// How deeply lists, tuples and dicts may nest inside one argument before the parser gives up
/// (protects the stack from hostile input).
pub const MAX_NESTING: usize = 64;

/// One parsed call: the function name (last segment of a dotted name) and its keyword
/// arguments as JSON, in the order the map keeps them.
pub type Call = (String, Map<String, Value>);

/// Parses one or more Python calls (see the module documentation for the syntax) into
/// `(name, arguments)` pairs, in order. Arguments are JSON values ready for
/// `schema::coerce` and `schema::validate`.
///
/// # Errors
///
/// A message naming what is wrong and where: a 0-based character offset into `src` and an
/// excerpt of the text there, for example
/// ``unclosed string (no closing ") at character 17: `"Paris, days=3)` `` or
/// ``positional arguments are not supported: use name=value at character 12: `"Paris", days=3)` ``.
/// Also an error when `src` holds no call at all.
pub fn parse_calls(src: &str) -> Result<Vec<Call>, String> {
    parser::parse(src)
}

/// Writes a call in the syntax [`parse_calls`] reads, as Python would print it: strings in
/// double quotes with backslash escapes (`\\ \" \n \r \t`, other control characters as
/// `\xHH`), `True`, `False`, `None`, lists and dicts; for example
/// `get_weather(city="Paris", days=3)`. Arguments appear in the map's order.
///
/// Parsing the result gives back the same name and arguments as long as the name and the
/// argument names are Python identifiers (any name the parser produced is).
pub fn format_call(name: &str, args: &Map<String, Value>) -> String {
    let mut out = format!("{name}(");
    for (index, (key, value)) in args.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push('=');
        write_value(&mut out, value);
    }
    out.push(')');
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (index, (key, member)) in members.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, member);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || c == '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[path = "pycall_tests.rs"]
mod tests;
