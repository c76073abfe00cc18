//! Checking a tool call's arguments against the tool's JSON Schema, and repairing the two
//! mistakes small models make that have only one possible meaning.
//!
//! Owns [`validate`], [`coerce`] and [`SchemaError`]. The error is written so that it can be
//! shown to the model as is ("`/path`: expected a string, got a number") and the call re-asked.
//!
//! Pure: no I/O, no global state. Imports only `std` and `serde_json`; it must not import any
//! other Hearth module (tools import it, not the other way round).
//!
//! # Supported subset of JSON Schema 2020-12
//!
//! Keywords follow <https://json-schema.org/draft/2020-12/json-schema-validation> and the core
//! document <https://json-schema.org/draft/2020-12/json-schema-core>:
//!
//! - `type` (a name or an array of names; `"integer"` accepts a number with a zero fractional
//!   part such as `3.0`), `enum`, `const` (numbers compare by value, so `1` equals `1.0`);
//! - `properties`, `required`, `additionalProperties` (`false` or a schema);
//! - `items` (a schema; an array of schemas is read as the older tuple form), `prefixItems`,
//!   `minItems`, `maxItems`;
//! - `minLength`, `maxLength`, counted in Unicode scalar values (Rust `char`s);
//! - `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (the 2020-12 number form and
//!   the draft-04 boolean form);
//! - `allOf`, `anyOf`, `oneOf`;
//! - `$ref` to a JSON Pointer inside the same schema (`#`, `#/$defs/…`, `#/definitions/…`),
//!   nested at most [`MAX_REF_DEPTH`] deep so a self-referencing schema cannot loop forever.
//!
//! Everything else is ignored, as the specification asks of unknown keywords: notably
//! `pattern` and `patternProperties` (there is no regex engine here, so they are NOT
//! checked), `format`, `multipleOf`, `uniqueItems`, and the OpenAPI-only `nullable`. A schema
//! `true` or `{}` accepts every value; `false` rejects every value. A keyword whose own value
//! is malformed (say `"minLength": "3"`) is ignored too.
//!
//! # Order of errors
//!
//! [`validate`] stops at the first error, so the order is part of the contract. Within one
//! schema the checks run as: `$ref`, `type`, `const`, `enum`, number bounds, string length,
//! array length, `required` (in the order of the `required` array), then the children (array
//! items by index, object members in the order the value's map yields them: document order
//! when `serde_json` has its `preserve_order` feature, otherwise sorted by key), and last
//! `allOf`, `anyOf`, `oneOf`. The same input always gives the same error.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt;

mod repair;

pub use repair::coerce;

/// How many `$ref`s may be followed inside one another before validation gives up with an
/// invalid-schema error. Bounds the work on a schema that refers to itself without consuming
/// any of the value (`{"$ref": "#"}`); a legitimate recursive schema (a tree) can describe
/// values nested this many levels deep.
pub const MAX_REF_DEPTH: usize = 32;

/// Why a value does not match a schema: where, and what is wrong, in plain English.
///
/// `Display` writes "`/items/2/name`: expected a string, got a number", or only the message
/// when the problem is at the root ("missing required property `content`").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    path: String,
    message: String,
    schema_fault: bool,
}

impl SchemaError {
    fn value(path: &str, message: impl Into<String>) -> Self {
        SchemaError {
            path: path.to_owned(),
            message: message.into(),
            schema_fault: false,
        }
    }

    fn schema(path: &str, message: impl Into<String>) -> Self {
        SchemaError {
            path: path.to_owned(),
            message: format!("invalid schema: {}", message.into()),
            schema_fault: true,
        }
    }

    /// The location of the offending value as a JSON Pointer (RFC 6901,
    /// <https://www.rfc-editor.org/rfc/rfc6901>): `""` for the whole value, `/path`, or
    /// `/items/2/name`. `~` and `/` inside member names are written `~0` and `~1`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, in one English sentence without a trailing period, for example
    /// `expected a string, got a number` or `unknown property `pth` (allowed: content, path)`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when the value is at fault, so showing the error to the model and asking again can
    /// help. False when the schema itself is broken (an unresolvable `$ref`, or `$ref`s nested
    /// deeper than [`MAX_REF_DEPTH`]); that is a bug in the tool, not in the call.
    pub fn is_retryable(&self) -> bool {
        !self.schema_fault
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SchemaError {}

/// Checks `value` against `schema` (JSON Schema 2020-12, the subset listed in the module
/// documentation) and returns the first mismatch.
///
/// Run [`coerce`] on the value first: validation itself never changes anything.
///
/// # Errors
///
/// [`SchemaError`] for the first mismatch in the order the module documentation gives; its
/// [`SchemaError::is_retryable`] is false when the schema, not the value, is at fault.
pub fn validate(schema: &Value, value: &Value) -> Result<(), SchemaError> {
    Walker { root: schema }.check(schema, value, "", 0)
}

/// Walks a schema and a value together; `root` is where `$ref` pointers are resolved.
struct Walker<'s> {
    root: &'s Value,
}

impl<'s> Walker<'s> {
    fn check(
        &self,
        schema: &'s Value,
        value: &Value,
        path: &str,
        refs: usize,
    ) -> Result<(), SchemaError> {
        let rules = match schema {
            Value::Object(rules) => rules,
            Value::Bool(false) => return Err(SchemaError::value(path, "no value is allowed here")),
            _ => return Ok(()),
        };
        if let Some(Value::String(reference)) = rules.get("$ref") {
            let target = self.resolve(reference, path, refs)?;
            self.check(target, value, path, refs + 1)?;
        }
        if let Some(types) = rules.get("type") {
            check_type(types, value, path)?;
        }
        if let Some(expected) = rules.get("const")
            && !json_eq(expected, value)
        {
            return Err(SchemaError::value(
                path,
                format!("must be exactly {expected}"),
            ));
        }
        if let Some(Value::Array(options)) = rules.get("enum")
            && !options.iter().any(|option| json_eq(option, value))
        {
            let listed: Vec<String> = options.iter().map(Value::to_string).collect();
            let message = format!("must be one of {}", listed.join(", "));
            return Err(SchemaError::value(path, message));
        }
        match value {
            Value::Number(number) => check_number(rules, number, path)?,
            Value::String(text) => check_length(rules, text, path)?,
            Value::Array(items) => self.check_array(rules, items, path, refs)?,
            Value::Object(members) => self.check_object(rules, members, path, refs)?,
            Value::Null | Value::Bool(_) => {}
        }
        if let Some(Value::Array(branches)) = rules.get("allOf") {
            for branch in branches {
                self.check(branch, value, path, refs)?;
            }
        }
        if let Some(Value::Array(branches)) = rules.get("anyOf") {
            self.check_any_of(branches, value, path, refs)?;
        }
        if let Some(Value::Array(branches)) = rules.get("oneOf") {
            self.check_one_of(branches, value, path, refs)?;
        }
        Ok(())
    }

    fn resolve(&self, reference: &str, path: &str, refs: usize) -> Result<&'s Value, SchemaError> {
        if refs >= MAX_REF_DEPTH {
            let message = format!(
                "`$ref` \"{reference}\" nested more than {MAX_REF_DEPTH} deep (a schema that refers to itself?)"
            );
            return Err(SchemaError::schema(path, message));
        }
        let Some(pointer) = reference.strip_prefix('#') else {
            let message =
                format!("`$ref` \"{reference}\" is not local; only \"#/...\" is supported");
            return Err(SchemaError::schema(path, message));
        };
        self.root.pointer(pointer).ok_or_else(|| {
            SchemaError::schema(path, format!("`$ref` \"{reference}\" points at nothing"))
        })
    }

    fn check_array(
        &self,
        rules: &'s Map<String, Value>,
        items: &[Value],
        path: &str,
        refs: usize,
    ) -> Result<(), SchemaError> {
        let count = items.len();
        check_bounds(rules, ("minItems", "maxItems"), count, ("item", ""), path)?;
        for (index, item) in items.iter().enumerate() {
            if let Some(schema) = item_schema(rules, index) {
                self.check(schema, item, &format!("{path}/{index}"), refs)?;
            }
        }
        Ok(())
    }

    fn check_object(
        &self,
        rules: &'s Map<String, Value>,
        members: &Map<String, Value>,
        path: &str,
        refs: usize,
    ) -> Result<(), SchemaError> {
        let declared = match rules.get("properties") {
            Some(Value::Object(declared)) => Some(declared),
            _ => None,
        };
        let closed = matches!(rules.get("additionalProperties"), Some(Value::Bool(false)));
        let is_unknown = |name: &str| closed && !declared.is_some_and(|d| d.contains_key(name));
        if let Some(Value::Array(required)) = rules.get("required") {
            let missing = required
                .iter()
                .filter_map(Value::as_str)
                .find(|name| !members.contains_key(*name));
            if let Some(name) = missing {
                let mut message = format!("missing required property `{name}`");
                if let Some(stray) = members.keys().find(|key| is_unknown(key)) {
                    message.push_str(&format!(" (unknown property `{stray}` was given instead)"));
                }
                return Err(SchemaError::value(path, message));
            }
        }
        for (name, member) in members {
            let child = format!("{path}/{}", escape_pointer(name));
            if let Some(schema) = declared.and_then(|d| d.get(name)) {
                self.check(schema, member, &child, refs)?;
            } else if is_unknown(name) {
                let allowed: Vec<&str> = declared
                    .map(|d| d.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let message = if allowed.is_empty() {
                    format!("unknown property `{name}` (no properties are allowed)")
                } else {
                    format!(
                        "unknown property `{name}` (allowed: {})",
                        allowed.join(", ")
                    )
                };
                return Err(SchemaError::value(path, message));
            } else if let Some(extra) = rules.get("additionalProperties") {
                self.check(extra, member, &child, refs)?;
            }
        }
        Ok(())
    }

    fn check_any_of(
        &self,
        branches: &'s [Value],
        value: &Value,
        path: &str,
        refs: usize,
    ) -> Result<(), SchemaError> {
        let mut failures = Vec::with_capacity(branches.len());
        for branch in branches {
            match self.check(branch, value, path, refs) {
                Ok(()) => return Ok(()),
                Err(error) if !error.is_retryable() => return Err(error),
                Err(error) => failures.push(error),
            }
        }
        match closest(failures, path) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn check_one_of(
        &self,
        branches: &'s [Value],
        value: &Value,
        path: &str,
        refs: usize,
    ) -> Result<(), SchemaError> {
        let mut matched = Vec::new();
        let mut failures = Vec::new();
        for (index, branch) in branches.iter().enumerate() {
            match self.check(branch, value, path, refs) {
                Ok(()) => matched.push(index + 1),
                Err(error) if !error.is_retryable() => return Err(error),
                Err(error) => failures.push(error),
            }
        }
        match matched.as_slice() {
            [] => match closest(failures, path) {
                Some(error) => Err(error),
                None => Ok(()),
            },
            [_] => Ok(()),
            [first, second, ..] => {
                let message =
                    format!("matches alternatives {first} and {second} but must match exactly one");
                Err(SchemaError::value(path, message))
            }
        }
    }
}

/// Picks the error to report when no branch of `anyOf`/`oneOf` matched (a broken schema was
/// already reported by the caller): the branch that got deepest into the value (the first
/// one on a tie), or, when every branch failed right at `path`, a summary of all of them.
fn closest(failures: Vec<SchemaError>, path: &str) -> Option<SchemaError> {
    let depth = |error: &SchemaError| error.path.matches('/').count();
    let deepest = failures.iter().map(depth).max()?;
    if deepest > depth_of(path) || failures.len() == 1 {
        return failures.into_iter().find(|error| depth(error) == deepest);
    }
    let reasons: Vec<String> = failures
        .iter()
        .enumerate()
        .map(|(index, error)| format!("({}) {}", index + 1, error.message))
        .collect();
    let message = format!(
        "matches none of the allowed alternatives: {}",
        reasons.join("; ")
    );
    Some(SchemaError::value(path, message))
}

fn depth_of(path: &str) -> usize {
    path.matches('/').count()
}

fn check_type(types: &Value, value: &Value, path: &str) -> Result<(), SchemaError> {
    let names: Vec<&str> = match types {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    if names.is_empty() || names.iter().any(|name| type_matches(name, value)) {
        return Ok(());
    }
    let wanted: Vec<String> = names.iter().map(|name| type_phrase(name)).collect();
    let message = format!("expected {}, got {}", either(&wanted), kind_of(value));
    Err(SchemaError::value(path, message))
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => value.as_number().is_some_and(is_integral),
        _ => false,
    }
}

fn is_integral(number: &Number) -> bool {
    number.is_i64()
        || number.is_u64()
        || number
            .as_f64()
            .is_some_and(|float| float.is_finite() && float.fract() == 0.0)
}

fn type_phrase(name: &str) -> String {
    match name {
        "null" => "null".to_owned(),
        "boolean" => "a boolean".to_owned(),
        "string" => "a string".to_owned(),
        "array" => "an array".to_owned(),
        "object" => "an object".to_owned(),
        "number" => "a number".to_owned(),
        "integer" => "an integer".to_owned(),
        other => format!("`{other}` (not a JSON Schema type)"),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "a", "a or b", "a, b or c".
fn either(phrases: &[String]) -> String {
    match phrases {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn check_number(
    rules: &Map<String, Value>,
    number: &Number,
    path: &str,
) -> Result<(), SchemaError> {
    let bound = |key: &str| rules.get(key).and_then(Value::as_number);
    let exclusive_flag = |key: &str| matches!(rules.get(key), Some(Value::Bool(true)));
    let below = |limit: &Number| compare(number, limit) == Some(Ordering::Less);
    let above = |limit: &Number| compare(number, limit) == Some(Ordering::Greater);
    let fail = |text: String| Err(SchemaError::value(path, format!("{text}, got {number}")));
    if let Some(min) = bound("minimum") {
        if exclusive_flag("exclusiveMinimum") && !above(min) {
            return fail(format!("must be greater than {min}"));
        }
        if below(min) {
            return fail(format!("must be at least {min}"));
        }
    }
    if let Some(max) = bound("maximum") {
        if exclusive_flag("exclusiveMaximum") && !below(max) {
            return fail(format!("must be less than {max}"));
        }
        if above(max) {
            return fail(format!("must be at most {max}"));
        }
    }
    if let Some(min) = bound("exclusiveMinimum")
        && !above(min)
    {
        return fail(format!("must be greater than {min}"));
    }
    if let Some(max) = bound("exclusiveMaximum")
        && !below(max)
    {
        return fail(format!("must be less than {max}"));
    }
    Ok(())
}

/// Numeric order of two JSON numbers: exact for integers, `f64` otherwise.
fn compare(left: &Number, right: &Number) -> Option<Ordering> {
    let exact = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (exact(left), exact(right)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => left.as_f64()?.partial_cmp(&right.as_f64()?),
    }
}

/// JSON Schema equality (for `enum` and `const`): like `==`, but `1` equals `1.0`.
fn json_eq(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => compare(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => left == right,
    }
}

/// A count against a pair of bounds (`minItems`/`maxItems`, `minLength`/`maxLength`):
/// "must have at least 2 items, got 1" / "must be at most 3 characters long, got 5".
fn check_bounds(
    rules: &Map<String, Value>,
    (min_key, max_key): (&str, &str),
    count: usize,
    (noun, tail): (&str, &str),
    path: &str,
) -> Result<(), SchemaError> {
    let verb = if tail.is_empty() { "have" } else { "be" };
    if let Some(min) = limit(rules, min_key)
        && count < min
    {
        let message = format!(
            "must {verb} at least {min} {}{tail}, got {count}",
            plural(min, noun)
        );
        return Err(SchemaError::value(path, message));
    }
    if let Some(max) = limit(rules, max_key)
        && count > max
    {
        let message = format!(
            "must {verb} at most {max} {}{tail}, got {count}",
            plural(max, noun)
        );
        return Err(SchemaError::value(path, message));
    }
    Ok(())
}

fn check_length(rules: &Map<String, Value>, text: &str, path: &str) -> Result<(), SchemaError> {
    let length = text.chars().count();
    check_bounds(
        rules,
        ("minLength", "maxLength"),
        length,
        ("character", " long"),
        path,
    )
}

/// A non-negative integer keyword such as `minItems`; `None` when absent or malformed.
fn limit(rules: &Map<String, Value>, key: &str) -> Option<usize> {
    let number = rules.get(key)?.as_number()?;
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })?;
    Some(usize::try_from(whole).unwrap_or(usize::MAX))
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

/// The schema for array element `index`: `prefixItems[index]` (or the tuple form
/// `items[index]`), else `items` when it is a single schema.
fn item_schema(rules: &Map<String, Value>, index: usize) -> Option<&Value> {
    let prefix = match (rules.get("prefixItems"), rules.get("items")) {
        (Some(Value::Array(prefix)), _) | (None, Some(Value::Array(prefix))) => prefix.as_slice(),
        _ => &[],
    };
    match (prefix.get(index), rules.get("items")) {
        (Some(schema), _) => Some(schema),
        (None, Some(Value::Array(_))) | (None, None) => None,
        (None, Some(schema)) => Some(schema),
    }
}

/// The schema for object member `name`: its `properties` entry, else `additionalProperties`.
fn member_schema<'a>(rules: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    rules
        .get("properties")
        .and_then(|declared| declared.get(name))
        .or_else(|| rules.get("additionalProperties"))
}

/// One JSON Pointer reference token (RFC 6901 section 4): `~` → `~0`, `/` → `~1`.
fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
