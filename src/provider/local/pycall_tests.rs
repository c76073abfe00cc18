//! Unit tests for `pycall.rs`: fences, every literal kind, call shapes, malformed input with
//! its exact message, and `format_call` round trips.

use super::*;
use serde_json::json;

/// Parses `src` and renders the calls as JSON for compact comparison.
fn parsed(src: &str) -> Value {
    let calls = parse_calls(src).unwrap_or_else(|error| panic!("{src:?} failed: {error}"));
    Value::Array(
        calls
            .into_iter()
            .map(|(name, args)| json!({"name": name, "args": args}))
            .collect(),
    )
}

fn args(src: &str) -> Value {
    parsed(src)[0]["args"].clone()
}

fn failure(src: &str) -> String {
    match parse_calls(src) {
        Ok(calls) => panic!("{src:?} parsed as {calls:?}"),
        Err(error) => error,
    }
}

// --- parse_calls: shapes --------------------------------------------------------------

#[test]
fn parses_a_single_call() {
    assert_eq!(
        parsed("get_weather(city=\"Paris\", days=3)"),
        json!([{"name": "get_weather", "args": {"city": "Paris", "days": 3}}])
    );
    assert_eq!(parsed("  now( )  "), json!([{"name": "now", "args": {}}]));
}

#[test]
fn parses_calls_one_per_line_and_lists() {
    let lines = parsed("f(a=1)\ng(b='x')\n\nh()");
    assert_eq!(lines.as_array().map(Vec::len), Some(3));
    assert_eq!(lines[1], json!({"name": "g", "args": {"b": "x"}}));
    let list = parsed("[f(a=1), g(b=\"x\"),]");
    assert_eq!(
        list,
        json!([{"name": "f", "args": {"a": 1}}, {"name": "g", "args": {"b": "x"}}])
    );
    assert_eq!(parsed("f(a=1); g(b=2)").as_array().map(Vec::len), Some(2));
}

#[test]
fn dotted_names_keep_the_last_segment() {
    assert_eq!(
        parsed("default_api.get_weather(city='Oslo')")[0]["name"],
        "get_weather"
    );
}

#[test]
fn print_wrapper_is_unwrapped() {
    let calls = parsed("print(default_api.get_stock_price(ticker=\"AAPL\"))");
    assert_eq!(
        calls,
        json!([{"name": "get_stock_price", "args": {"ticker": "AAPL"}}])
    );
    assert_eq!(parsed("print(text=\"hi\")")[0]["name"], "print");
}

#[test]
fn whitespace_newlines_comments_and_trailing_commas() {
    let src = "search(\n    query = \"rust\" ,  # what to look for\n    limit=\n 5,\n)";
    assert_eq!(args(src), json!({"query": "rust", "limit": 5}));
}

// --- parse_calls: literals ------------------------------------------------------------

#[test]
fn string_literals_and_escapes() {
    let src = r#"f(a='it\'s', b="say \"hi\"", c="tab\there\nnew", d="back\\slash", e="\u00e9\x41\101", f="\q")"#;
    assert_eq!(
        args(src),
        json!({"a": "it's", "b": "say \"hi\"", "c": "tab\there\nnew", "d": "back\\slash", "e": "éAA", "f": "\\q"})
    );
    assert_eq!(
        args(r#"f(a="\U0001F600 \ud83d\ude00")"#),
        json!({"a": "😀 😀"})
    );
    assert_eq!(args("f(a=\"one \\\ntwo\")"), json!({"a": "one two"}));
    assert_eq!(args("f(a=\"one \\\r\ntwo\")"), json!({"a": "one two"}));
}

#[test]
fn triple_quoted_raw_prefixed_and_joined_strings() {
    let src = "write(content=\"\"\"line 1\nsays \"hi\"\n\"\"\", pattern=r'\\d+', u=u'x', joined=\"a\" 'b'\n \"c\")";
    assert_eq!(
        args(src),
        json!({"content": "line 1\nsays \"hi\"\n", "pattern": "\\d+", "u": "x", "joined": "abc"})
    );
    assert_eq!(args("f(a='''it's''')"), json!({"a": "it's"}));
    assert_eq!(args("f(a=\"raw\nnewline\")"), json!({"a": "raw\nnewline"}));
}

#[test]
fn numbers() {
    let src = "f(a=0, b=-7, c=1_000, d=2.5, e=-0.5e-3, f=6.02E23, g=3., h=.5, i=+4, j=18446744073709551615)";
    assert_eq!(
        args(src),
        json!({"a": 0, "b": -7, "c": 1000, "d": 2.5, "e": -0.0005, "f": 6.02e23, "g": 3.0, "h": 0.5, "i": 4, "j": u64::MAX})
    );
    assert!(args("f(a=3.0)")["a"].is_f64());
    assert!(args("f(a=3)")["a"].is_i64());
}

#[test]
fn constants_lists_tuples_and_dicts() {
    let src = "f(t=True, f=False, n=None, j=[true, false, null], l=[1, [2, 'x'],], \
               tup=(1, 2), one=(1,), empty=(), group=(5), d={\"k\": {'n': [1]}, \"e\": {}},)";
    assert_eq!(
        args(src),
        json!({"t": true, "f": false, "n": null, "j": [true, false, null], "l": [1, [2, "x"]],
               "tup": [1, 2], "one": [1], "empty": [], "group": 5, "d": {"k": {"n": [1]}, "e": {}}})
    );
    assert_eq!(args("f(d={'a': 1, 'a': 2})"), json!({"d": {"a": 2}}));
}

// --- parse_calls: malformed input -----------------------------------------------------

#[test]
fn positional_arguments_are_refused() {
    assert_eq!(
        failure("get_weather(\"Paris\", days=3)"),
        "positional arguments are not supported: use name=value at character 12: `\"Paris\", days=3)`"
    );
    assert!(
        failure("f(a=1, 2)")
            .starts_with("positional arguments are not supported: use name=value at character 7")
    );
    assert!(failure("f(x == 1)").starts_with("positional arguments"));
}

#[test]
fn unclosed_strings() {
    assert_eq!(
        failure("get_weather(city=\"Paris, days=3)"),
        "unclosed string (no closing \") at character 17: `\"Paris, days=3)`"
    );
    assert_eq!(
        failure("f(a='''abc')"),
        "unclosed string (no closing ''') at character 4: `'''abc')`"
    );
    assert_eq!(
        failure("f(a=\"abc\\"),
        "unclosed string (the input ends after `\\`) at character 4: `\"abc\\`"
    );
}

#[test]
fn unbalanced_brackets() {
    assert_eq!(
        failure("get_weather(city=\"Paris\", days=3"),
        "unclosed `(` of `get_weather(`: expected `)` at character 11: `(city=\"Paris\", days=3`"
    );
    assert_eq!(
        failure("f(a=1))"),
        "unbalanced `)`: nothing to close at character 6: `)`"
    );
    assert_eq!(
        failure("f(a=[1, 2)"),
        "expected `,` or `]` between items, found `)` at character 9: `)`"
    );
    assert_eq!(
        failure("f(a={'k': 1)"),
        "expected `,` or `}` in a dict, found `)` at character 11: `)`"
    );
    assert_eq!(
        failure("[f(a=1), g(b=2)"),
        "unclosed `[`: expected `]` at character 0: `[f(a=1), g(b=2)`"
    );
    assert_eq!(
        failure("f(a=(1, 2"),
        "unclosed bracket: expected `)` at character 4: `(1, 2`"
    );
    assert_eq!(
        failure("f(a=1 b=2)"),
        "expected `,` or `)` after an argument of `f`, found `b` at character 6: `b=2)`"
    );
}

#[test]
fn garbage_and_empty_input() {
    assert_eq!(
        failure("Sure! get_weather(city=\"Paris\")"),
        "expected `(` after the function name `Sure` at character 4: `! get_weather(city=\"Pari…`"
    );
    assert_eq!(
        failure("   "),
        "no function call found: expected name(arg=value, ...) at character 0: `   `"
    );
    assert_eq!(
        failure(""),
        "no function call found: expected name(arg=value, ...) at the end of the input (character 0)"
    );
    assert_eq!(
        failure("42"),
        "expected a function call like name(arg=value) at character 0: `42`"
    );
    assert_eq!(
        failure("f(a=)"),
        "unexpected `)`: expected a value at character 4: `)`"
    );
    assert_eq!(
        failure("f(a="),
        "expected a value at the end of the input (character 4)"
    );
}

#[test]
fn values_that_are_not_literals() {
    assert_eq!(
        failure("f(a=Paris)"),
        "`Paris` is not a Python literal (strings need quotes) at character 4: `Paris)`"
    );
    assert_eq!(
        failure("f(a=g(b=1))"),
        "`g` looks like code; argument values must be literals at character 4: `g(b=1))`"
    );
    assert_eq!(
        failure("f(a=f\"x\")"),
        "`f\"…\"` strings are not supported at character 4: `f\"x\")`"
    );
    assert_eq!(
        failure("f(a={1: 2})"),
        "dict keys must be quoted strings at character 5: `1: 2})`"
    );
    assert_eq!(
        failure("f(a={'x', 'y'})"),
        "expected `:` after a dict key (sets are not supported) at character 8: `, 'y'})`"
    );
    assert_eq!(
        failure("f(a=0x10)"),
        "unsupported number syntax (use decimal digits) at character 4: `0x10)`"
    );
    assert_eq!(
        failure("f(a=1e)"),
        "expected digits after the exponent `e` at character 4: `1e)`"
    );
    assert_eq!(failure("f(a=-)"), "expected a number at character 4: `-)`");
    assert_eq!(
        failure("f(a=1e999)"),
        "number out of range at character 4: `1e999)`"
    );
    assert_eq!(
        failure("f(a=99999999999999999999)"),
        "integer does not fit in 64 bits at character 4: `99999999999999999999)`"
    );
    assert_eq!(
        failure("f(a=1, a=2)"),
        "argument `a` is given twice at character 7: `a=2)`"
    );
    assert_eq!(
        failure("f(a=\"\\x4\")"),
        "bad escape: expected 2 hex digits at character 5: `\\x4\")`"
    );
    assert_eq!(
        failure("f(a=\"\\ud83d\")"),
        "bad escape: a high surrogate without its low half at character 5: `\\ud83d\")`"
    );
}

#[test]
fn offsets_count_characters_not_bytes() {
    assert_eq!(
        failure("f(a=\"日本\", 2)"),
        "positional arguments are not supported: use name=value at character 10: `2)`"
    );
    let multi_line = failure("f(\n  a=1,\n  b=oops,\n)");
    assert!(
        multi_line.contains("at character 14: `oops,\\n)`"),
        "{multi_line}"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!(
        "f(a={}{})",
        "[".repeat(MAX_NESTING + 1),
        "]".repeat(MAX_NESTING + 1)
    );
    assert!(failure(&deep).starts_with("values nest deeper than 64 levels"));
    let fine = format!(
        "f(a={}{})",
        "[".repeat(MAX_NESTING),
        "]".repeat(MAX_NESTING)
    );
    assert!(parse_calls(&fine).is_ok());
}

// --- format_call ----------------------------------------------------------------------

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn formats_python_literals() {
    let call = format_call(
        "get_weather",
        &object(
            json!({"city": "Paris", "days": 3, "metric": true, "note": null, "tags": ["a", 1.5], "opts": {"k": false}}),
        ),
    );
    assert_eq!(
        call,
        "get_weather(city=\"Paris\", days=3, metric=True, note=None, opts={\"k\": False}, tags=[\"a\", 1.5])"
    );
    assert_eq!(format_call("now", &Map::new()), "now()");
    let escaped = format_call("w", &object(json!({"s": "q\"b\\n\nt\tr\r\u{1}\u{7f}é"})));
    assert_eq!(escaped, r#"w(s="q\"b\\n\nt\tr\r\x01\x7fé")"#);
}

#[test]
fn format_then_parse_round_trips() {
    let cases = [
        json!({}),
        json!({"city": "Paris", "days": 3}),
        json!({"s": "quotes \" ' and \\ back\nslash\t\r\u{0}\u{1b}", "uni": "日本 😀"}),
        json!({"n": -12, "big": u64::MAX, "small": i64::MIN, "f": 0.1, "whole": 3.0, "exp": 1e300, "neg": -2.5e-8}),
        json!({"b": true, "c": false, "z": null}),
        json!({"nested": {"list": [1, [2, [3, {}]], []], "empty": "", "map": {"a b": {"c": null}}}}),
    ];
    for case in cases {
        let args = object(case.clone());
        let text = format_call("tool", &args);
        let back = parse_calls(&text).unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(back, vec![("tool".to_owned(), args)], "{text}");
    }
}
