//! The recursive-descent parser behind [`super::parse_calls`]. Private to `pycall`; imports
//! only its parent, `std` and `serde_json`.

use super::{Call, MAX_NESTING};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses every call in `src`; see [`super::parse_calls`].
pub(super) fn parse(src: &str) -> Result<Vec<Call>, String> {
    let mut parser = Parser {
        src,
        pos: 0,
        depth: 0,
    };
    let mut calls = Vec::new();
    loop {
        parser.skip_blank();
        match parser.peek() {
            None => break,
            Some('[') => {
                let open = parser.pos;
                parser.bump();
                parser.call_list(open, &mut calls)?;
            }
            Some(c @ (')' | ']' | '}')) => {
                return Err(parser.fail(parser.pos, format!("unbalanced `{c}`: nothing to close")));
            }
            Some(_) => calls.push(parser.call()?),
        }
        parser.skip_blank();
        if matches!(parser.peek(), Some(',' | ';')) {
            parser.bump();
        }
    }
    if calls.is_empty() {
        return Err(parser.fail(0, "no function call found: expected name(arg=value, ...)"));
    }
    Ok(calls)
}

/// Whether backslash escapes in a string literal are decoded, or kept as written (`r"…"`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escapes {
    Decoded,
    Kept,
}

/// A cursor over the source; `pos` is a byte offset, always on a char boundary.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    /// Skips whitespace (newlines included) and `#` comments.
    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                let line_end = self.rest().find('\n').unwrap_or(self.rest().len());
                self.pos += line_end;
            } else if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    /// An error message: `what`, the 0-based character offset of `at`, and the text there.
    fn fail(&self, at: usize, what: impl fmt::Display) -> String {
        let offset = self.src[..at].chars().count();
        let rest = &self.src[at..];
        if rest.is_empty() {
            return format!("{what} at the end of the input (character {offset})");
        }
        let mut excerpt: String = rest.chars().take(24).collect();
        if excerpt.len() < rest.len() {
            excerpt.push('…');
        }
        let excerpt = excerpt
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t");
        format!("{what} at character {offset}: `{excerpt}`")
    }

    fn identifier(&mut self) -> Option<&str> {
        let start = self.pos;
        if !self.peek().is_some_and(|c| c.is_alphabetic() || c == '_') {
            return None;
        }
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        Some(&self.src[start..self.pos])
    }

    /// `a.b.c` → `c`.
    fn dotted_name(&mut self) -> Option<String> {
        let mut last = self.identifier()?.to_owned();
        while self.peek() == Some('.') {
            let dot = self.pos;
            self.bump();
            let Some(segment) = self.identifier() else {
                self.pos = dot;
                break;
            };
            last = segment.to_owned();
        }
        Some(last)
    }

    fn call_list(&mut self, open: usize, calls: &mut Vec<Call>) -> Result<(), String> {
        loop {
            self.skip_blank();
            match self.peek() {
                Some(']') => break,
                None => return Err(self.fail(open, "unclosed `[`: expected `]`")),
                _ => calls.push(self.call()?),
            }
            self.skip_blank();
            match self.peek() {
                Some(',') => self.bump(),
                Some(']') => break,
                None => return Err(self.fail(open, "unclosed `[`: expected `]`")),
                Some(c) => {
                    let what = format!("expected `,` or `]` after a call in the list, found `{c}`");
                    return Err(self.fail(self.pos, what));
                }
            }
        }
        self.bump();
        Ok(())
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.pos;
        let Some(name) = self.dotted_name() else {
            return Err(self.fail(start, "expected a function call like name(arg=value)"));
        };
        self.skip_blank();
        if self.peek() != Some('(') {
            let what = format!("expected `(` after the function name `{name}`");
            return Err(self.fail(self.pos, what));
        }
        let open = self.pos;
        self.bump();
        if name == "print" && self.call_follows() {
            let inner = self.call()?;
            self.skip_blank();
            if self.peek() == Some(',') {
                self.bump();
                self.skip_blank();
            }
            if self.peek() != Some(')') {
                return Err(self.fail(open, "unclosed `(` of `print(`: expected `)`"));
            }
            self.bump();
            return Ok(inner);
        }
        let args = self.arguments(&name, open)?;
        Ok((name, args))
    }

    /// Whether a (possibly dotted) name followed by `(` comes next; consumes nothing.
    fn call_follows(&mut self) -> bool {
        let saved = self.pos;
        self.skip_blank();
        let follows = self.dotted_name().is_some() && {
            self.skip_blank();
            self.peek() == Some('(')
        };
        self.pos = saved;
        follows
    }

    /// The keyword arguments after `name(`, through the closing `)`.
    fn arguments(&mut self, name: &str, open: usize) -> Result<Map<String, Value>, String> {
        let unclosed =
            |parser: &Self| parser.fail(open, format!("unclosed `(` of `{name}(`: expected `)`"));
        let mut args = Map::new();
        loop {
            self.skip_blank();
            match self.peek() {
                Some(')') => break,
                None => return Err(unclosed(self)),
                _ => {}
            }
            let arg_start = self.pos;
            let Some(key) = self.keyword() else {
                let what = "positional arguments are not supported: use name=value";
                return Err(self.fail(arg_start, what));
            };
            let value = self.value()?;
            if args.contains_key(&key) {
                return Err(self.fail(arg_start, format!("argument `{key}` is given twice")));
            }
            args.insert(key, value);
            self.skip_blank();
            match self.peek() {
                Some(',') => self.bump(),
                Some(')') => break,
                None => return Err(unclosed(self)),
                Some(c) => {
                    let what =
                        format!("expected `,` or `)` after an argument of `{name}`, found `{c}`");
                    return Err(self.fail(self.pos, what));
                }
            }
        }
        self.bump();
        Ok(args)
    }

    /// `name =` (not `==`): returns the name and leaves the cursor after `=`; otherwise
    /// consumes nothing.
    fn keyword(&mut self) -> Option<String> {
        let saved = self.pos;
        let name = self.identifier().map(str::to_owned);
        self.skip_blank();
        if name.is_some() && self.peek() == Some('=') && !self.rest().starts_with("==") {
            self.bump();
            return name;
        }
        self.pos = saved;
        None
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_blank();
        let start = self.pos;
        match self.peek() {
            None => Err(self.fail(start, "expected a value")),
            Some('"' | '\'') => self.strings(Escapes::Decoded).map(Value::String),
            Some('[') => self.nested(|p| p.sequence(']').map(Value::Array)),
            Some('{') => self.nested(Parser::dict),
            Some('(') => self.nested(Parser::parenthesized),
            Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => self.word(start),
            Some(c) => Err(self.fail(start, format!("unexpected `{c}`: expected a value"))),
        }
    }

    /// A bare word: a constant, or a string prefix such as `r"…"`.
    fn word(&mut self, start: usize) -> Result<Value, String> {
        let word = self.identifier().unwrap_or_default().to_owned();
        let quoted = matches!(self.peek(), Some('"' | '\''));
        match word.as_str() {
            "True" | "true" => Ok(Value::Bool(true)),
            "False" | "false" => Ok(Value::Bool(false)),
            "None" | "null" => Ok(Value::Null),
            "r" | "R" if quoted => self.strings(Escapes::Kept).map(Value::String),
            "u" | "U" if quoted => self.strings(Escapes::Decoded).map(Value::String),
            _ if quoted => {
                Err(self.fail(start, format!("`{word}\"…\"` strings are not supported")))
            }
            _ => {
                self.skip_blank();
                let what = if matches!(self.peek(), Some('(' | '.')) {
                    format!("`{word}` looks like code; argument values must be literals")
                } else {
                    format!("`{word}` is not a Python literal (strings need quotes)")
                };
                Err(self.fail(start, what))
            }
        }
    }

    /// Runs `inner` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<Value, String>,
    ) -> Result<Value, String> {
        if self.depth >= MAX_NESTING {
            let what = format!("values nest deeper than {MAX_NESTING} levels");
            return Err(self.fail(self.pos, what));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    /// An opening bracket at the cursor, its items, and `close`.
    fn sequence(&mut self, close: char) -> Result<Vec<Value>, String> {
        let open = self.pos;
        self.bump();
        self.items(open, close, Vec::new())
    }

    /// The remaining items of a bracket opened at `open`, through `close`, after `items`.
    fn items(
        &mut self,
        open: usize,
        close: char,
        mut items: Vec<Value>,
    ) -> Result<Vec<Value>, String> {
        let unclosed =
            |parser: &Self| parser.fail(open, format!("unclosed bracket: expected `{close}`"));
        loop {
            self.skip_blank();
            match self.peek() {
                Some(c) if c == close => break,
                None => return Err(unclosed(self)),
                _ => {}
            }
            items.push(self.value()?);
            self.skip_blank();
            match self.peek() {
                Some(',') => self.bump(),
                Some(c) if c == close => break,
                None => return Err(unclosed(self)),
                Some(c) => {
                    let what = format!("expected `,` or `{close}` between items, found `{c}`");
                    return Err(self.fail(self.pos, what));
                }
            }
        }
        self.bump();
        Ok(items)
    }

    /// `(x)` is `x`; `()`, `(x,)` and `(x, y)` are tuples, returned as arrays.
    fn parenthesized(&mut self) -> Result<Value, String> {
        let open = self.pos;
        self.bump();
        self.skip_blank();
        if self.peek() == Some(')') {
            self.bump();
            return Ok(Value::Array(Vec::new()));
        }
        let first = self.value()?;
        self.skip_blank();
        if self.peek() == Some(')') {
            self.bump();
            return Ok(first);
        }
        if self.peek() != Some(',') {
            return Err(self.fail(self.pos, "expected `,` or `)` in a tuple"));
        }
        self.bump();
        self.items(open, ')', vec![first]).map(Value::Array)
    }

    fn dict(&mut self) -> Result<Value, String> {
        let open = self.pos;
        self.bump();
        let mut members = Map::new();
        let unclosed = |parser: &Self| parser.fail(open, "unclosed `{`: expected `}`");
        loop {
            self.skip_blank();
            match self.peek() {
                Some('}') => break,
                Some('"' | '\'') => {}
                None => return Err(unclosed(self)),
                Some(_) => return Err(self.fail(self.pos, "dict keys must be quoted strings")),
            }
            let key = self.strings(Escapes::Decoded)?;
            self.skip_blank();
            if self.peek() != Some(':') {
                let what = "expected `:` after a dict key (sets are not supported)";
                return Err(self.fail(self.pos, what));
            }
            self.bump();
            let value = self.value()?;
            members.insert(key, value);
            self.skip_blank();
            match self.peek() {
                Some(',') => self.bump(),
                Some('}') => break,
                None => return Err(unclosed(self)),
                Some(c) => {
                    let what = format!("expected `,` or `}}` in a dict, found `{c}`");
                    return Err(self.fail(self.pos, what));
                }
            }
        }
        self.bump();
        Ok(Value::Object(members))
    }

    /// One string literal, then any literals that directly follow it (Python joins them).
    fn strings(&mut self, escapes: Escapes) -> Result<String, String> {
        let mut text = self.string(escapes)?;
        loop {
            let saved = self.pos;
            self.skip_blank();
            if matches!(self.peek(), Some('"' | '\'')) {
                text.push_str(&self.string(Escapes::Decoded)?);
            } else {
                self.pos = saved;
                return Ok(text);
            }
        }
    }

    fn string(&mut self, escapes: Escapes) -> Result<String, String> {
        let start = self.pos;
        let Some(quote @ ('"' | '\'')) = self.peek() else {
            return Err(self.fail(start, "expected a string"));
        };
        let triple: String = [quote; 3].iter().collect();
        let delimiter = if self.rest().starts_with(&triple) {
            triple.as_str()
        } else {
            &triple[..1]
        };
        self.pos += delimiter.len();
        let mut text = String::new();
        loop {
            if self.rest().starts_with(delimiter) {
                self.pos += delimiter.len();
                return Ok(text);
            }
            let Some(c) = self.peek() else {
                return Err(self.fail(start, format!("unclosed string (no closing {delimiter})")));
            };
            self.bump();
            if c != '\\' {
                text.push(c);
            } else if escapes == Escapes::Kept {
                text.push('\\');
                if let Some(next) = self.peek() {
                    text.push(next);
                    self.bump();
                }
            } else {
                self.escape(&mut text, start)?;
            }
        }
    }

    /// The escape after a backslash; `start` is where the string began.
    fn escape(&mut self, text: &mut String, start: usize) -> Result<(), String> {
        let at = self.pos - 1;
        let Some(c) = self.peek() else {
            return Err(self.fail(start, "unclosed string (the input ends after `\\`)"));
        };
        self.bump();
        let decoded = match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '\\' | '\'' | '"' => c,
            '\n' => return Ok(()),
            '\r' if self.peek() == Some('\n') => {
                self.bump();
                return Ok(());
            }
            'x' => self.hex_escape(2, at)?,
            'u' => self.unicode_escape(at)?,
            'U' => self.hex_escape(8, at)?,
            '0'..='7' => {
                let mut code = c.to_digit(8).unwrap_or_default();
                for _ in 0..2 {
                    let Some(digit) = self.peek().and_then(|d| d.to_digit(8)) else {
                        break;
                    };
                    code = code * 8 + digit;
                    self.bump();
                }
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            other => {
                text.push('\\');
                other
            }
        };
        text.push(decoded);
        Ok(())
    }

    /// `count` hex digits as a code point; `at` is the backslash.
    fn hex_code(&mut self, count: usize, at: usize) -> Result<u32, String> {
        let code = self
            .rest()
            .get(..count)
            .filter(|digits| digits.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|digits| u32::from_str_radix(digits, 16).ok());
        let Some(code) = code else {
            return Err(self.fail(at, format!("bad escape: expected {count} hex digits")));
        };
        self.pos += count;
        Ok(code)
    }

    fn hex_escape(&mut self, count: usize, at: usize) -> Result<char, String> {
        let code = self.hex_code(count, at)?;
        char::from_u32(code)
            .ok_or_else(|| self.fail(at, format!("bad escape: U+{code:X} is not a character")))
    }

    /// `\uXXXX`, joining a UTF-16 surrogate pair written as two escapes (a JSON habit).
    fn unicode_escape(&mut self, at: usize) -> Result<char, String> {
        let high = self.hex_code(4, at)?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high)
                .ok_or_else(|| self.fail(at, "bad escape: a lone low surrogate"));
        }
        if self.rest().starts_with("\\u") {
            self.pos += 2;
            let low = self.hex_code(4, at)?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(code).ok_or_else(|| self.fail(at, "bad escape"));
            }
        }
        Err(self.fail(at, "bad escape: a high surrogate without its low half"))
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let mut literal = String::new();
        if let Some(sign @ ('-' | '+')) = self.peek() {
            if sign == '-' {
                literal.push('-');
            }
            self.bump();
            self.skip_blank();
        }
        let mut digits = self.digits(&mut literal);
        let mut float = false;
        if self.peek() == Some('.') {
            float = true;
            literal.push('.');
            self.bump();
            digits += self.digits(&mut literal);
        }
        if digits == 0 {
            return Err(self.fail(start, "expected a number"));
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            float = true;
            literal.push('e');
            self.bump();
            if let Some(sign @ ('-' | '+')) = self.peek() {
                literal.push(sign);
                self.bump();
            }
            if self.digits(&mut literal) == 0 {
                return Err(self.fail(start, "expected digits after the exponent `e`"));
            }
        }
        if self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            return Err(self.fail(start, "unsupported number syntax (use decimal digits)"));
        }
        let (number, problem) = if float {
            let float = literal.parse::<f64>().ok().and_then(Number::from_f64);
            (float, "number out of range")
        } else {
            let integer = literal.parse::<i64>().map(Number::from);
            let integer = integer.or_else(|_| literal.parse::<u64>().map(Number::from));
            (integer.ok(), "integer does not fit in 64 bits")
        };
        number
            .map(Value::Number)
            .ok_or_else(|| self.fail(start, problem))
    }

    /// Decimal digits (dropping `_` separators) appended to `literal`; returns how many.
    fn digits(&mut self, literal: &mut String) -> usize {
        let mut count = 0;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                literal.push(c);
                count += 1;
            } else if c != '_' || count == 0 {
                break;
            }
            self.bump();
        }
        count
    }
}
