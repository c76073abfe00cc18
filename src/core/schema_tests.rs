//! Unit tests for `schema.rs`: one group per keyword, then paths, composition, `$ref`,
//! coercion and the order in which errors are reported.

use super::*;
use serde_json::json;

/// The error `validate` reports, rendered with `Display`, or "ok".
fn outcome(schema: Value, value: Value) -> String {
    match validate(&schema, &value) {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.to_string(),
    }
}

fn error(schema: Value, value: Value) -> SchemaError {
    validate(&schema, &value).expect_err("the value should not match")
}

#[test]
fn boolean_and_empty_schemas() {
    assert_eq!(outcome(json!(true), json!({"any": [1, "thing"]})), "ok");
    assert_eq!(outcome(json!({}), json!(null)), "ok");
    assert_eq!(outcome(json!(false), json!(1)), "no value is allowed here");
    let schema = json!({"type": "object", "properties": {"x": false}});
    assert_eq!(
        outcome(schema, json!({"x": 1})),
        "`/x`: no value is allowed here"
    );
}

#[test]
fn type_single_and_list() {
    let string = json!({"type": "object", "properties": {"path": {"type": "string"}}});
    assert_eq!(outcome(string.clone(), json!({"path": "a"})), "ok");
    assert_eq!(
        outcome(string, json!({"path": 5})),
        "`/path`: expected a string, got a number"
    );
    let list = json!({"type": ["string", "integer", "null"]});
    assert_eq!(outcome(list.clone(), json!(null)), "ok");
    assert_eq!(outcome(list.clone(), json!(7)), "ok");
    assert_eq!(
        outcome(list, json!([1])),
        "expected a string, an integer or null, got an array"
    );
    assert_eq!(
        outcome(json!({"type": "boolean"}), json!("true")),
        "expected a boolean, got a string"
    );
    assert_eq!(
        outcome(json!({"type": "object"}), json!([])),
        "expected an object, got an array"
    );
    assert_eq!(
        outcome(json!({"type": "array"}), json!({})),
        "expected an array, got an object"
    );
    assert_eq!(
        outcome(json!({"type": "null"}), json!(false)),
        "expected null, got a boolean"
    );
}

#[test]
fn integer_accepts_whole_floats_only() {
    let schema = json!({"type": "integer"});
    assert_eq!(outcome(schema.clone(), json!(3)), "ok");
    assert_eq!(outcome(schema.clone(), json!(3.0)), "ok");
    assert_eq!(outcome(schema.clone(), json!(-4)), "ok");
    assert_eq!(outcome(schema.clone(), json!(u64::MAX)), "ok");
    assert_eq!(
        outcome(schema, json!(3.5)),
        "expected an integer, got a number"
    );
    assert_eq!(outcome(json!({"type": "number"}), json!(3)), "ok");
}

#[test]
fn unknown_type_name_never_matches() {
    assert_eq!(
        outcome(json!({"type": "str"}), json!("a")),
        "expected `str` (not a JSON Schema type), got a string"
    );
}

#[test]
fn enum_and_const() {
    let mode = json!({"type": "object", "properties": {"mode": {"enum": ["a", "b"]}}});
    assert_eq!(outcome(mode.clone(), json!({"mode": "b"})), "ok");
    assert_eq!(
        outcome(mode, json!({"mode": "c"})),
        "`/mode`: must be one of \"a\", \"b\""
    );
    let mixed = json!({"enum": [1, null, [true]]});
    assert_eq!(outcome(mixed.clone(), json!(1.0)), "ok");
    assert_eq!(outcome(mixed.clone(), json!([true])), "ok");
    assert_eq!(outcome(mixed, json!(2)), "must be one of 1, null, [true]");
    assert_eq!(outcome(json!({"const": {"k": 2}}), json!({"k": 2.0})), "ok");
    assert_eq!(
        outcome(json!({"const": "x"}), json!("y")),
        "must be exactly \"x\""
    );
}

#[test]
fn required_properties_and_additional_properties() {
    let schema = json!({
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
        "additionalProperties": false
    });
    assert_eq!(
        outcome(schema.clone(), json!({"path": "a", "content": "b"})),
        "ok"
    );
    assert_eq!(
        outcome(schema.clone(), json!({"path": "a"})),
        "missing required property `content`"
    );
    assert_eq!(
        outcome(
            schema.clone(),
            json!({"path": "a", "content": "b", "pth": "c"})
        ),
        "unknown property `pth` (allowed: content, path)"
    );
    assert_eq!(
        outcome(schema, json!({"pth": "a", "content": "b"})),
        "missing required property `path` (unknown property `pth` was given instead)"
    );
    let open = json!({"properties": {"a": {"type": "string"}}});
    assert_eq!(outcome(open, json!({"zzz": 1})), "ok");
    let none = json!({"additionalProperties": false});
    assert_eq!(
        outcome(none, json!({"x": 1})),
        "unknown property `x` (no properties are allowed)"
    );
}

#[test]
fn additional_properties_as_schema() {
    let schema = json!({
        "properties": {"name": {"type": "string"}},
        "additionalProperties": {"type": "integer"}
    });
    assert_eq!(
        outcome(schema.clone(), json!({"name": "n", "a": 1, "b": 2})),
        "ok"
    );
    assert_eq!(
        outcome(schema, json!({"name": "n", "b": "2"})),
        "`/b`: expected an integer, got a string"
    );
}

#[test]
fn required_ignores_non_objects() {
    assert_eq!(outcome(json!({"required": ["a"]}), json!("text")), "ok");
}

#[test]
fn items_and_item_counts() {
    let schema =
        json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2});
    assert_eq!(outcome(schema.clone(), json!(["a"])), "ok");
    assert_eq!(
        outcome(schema.clone(), json!([])),
        "must have at least 1 item, got 0"
    );
    assert_eq!(
        outcome(schema.clone(), json!(["a", "b", "c"])),
        "must have at most 2 items, got 3"
    );
    assert_eq!(
        outcome(schema, json!(["a", 2])),
        "`/1`: expected a string, got a number"
    );
}

#[test]
fn prefix_items_and_tuple_form() {
    let modern = json!({"prefixItems": [{"type": "string"}], "items": {"type": "integer"}});
    assert_eq!(outcome(modern.clone(), json!(["a", 1, 2])), "ok");
    assert_eq!(
        outcome(modern, json!([1])),
        "`/0`: expected a string, got a number"
    );
    let tuple = json!({"items": [{"type": "string"}, {"type": "boolean"}]});
    assert_eq!(outcome(tuple.clone(), json!(["a", true, "anything"])), "ok");
    assert_eq!(
        outcome(tuple, json!(["a", 1])),
        "`/1`: expected a boolean, got a number"
    );
}

#[test]
fn string_length_counts_scalar_values() {
    let schema = json!({"minLength": 2, "maxLength": 3});
    assert_eq!(outcome(schema.clone(), json!("éé")), "ok");
    assert_eq!(outcome(schema.clone(), json!("日本語")), "ok");
    assert_eq!(
        outcome(schema.clone(), json!("é")),
        "must be at least 2 characters long, got 1"
    );
    assert_eq!(
        outcome(schema, json!("abcd")),
        "must be at most 3 characters long, got 4"
    );
    assert_eq!(
        outcome(json!({"maxLength": 1}), json!("ab")),
        "must be at most 1 character long, got 2"
    );
    assert_eq!(outcome(json!({"minLength": "3"}), json!("")), "ok");
}

#[test]
fn numeric_bounds() {
    let schema = json!({"minimum": 1, "maximum": 10});
    assert_eq!(outcome(schema.clone(), json!(1)), "ok");
    assert_eq!(outcome(schema.clone(), json!(10.0)), "ok");
    assert_eq!(
        outcome(schema.clone(), json!(0)),
        "must be at least 1, got 0"
    );
    assert_eq!(outcome(schema, json!(10.5)), "must be at most 10, got 10.5");
    let exclusive = json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1.5});
    assert_eq!(outcome(exclusive.clone(), json!(1)), "ok");
    assert_eq!(
        outcome(exclusive.clone(), json!(0)),
        "must be greater than 0, got 0"
    );
    assert_eq!(
        outcome(exclusive, json!(1.5)),
        "must be less than 1.5, got 1.5"
    );
    let draft4 =
        json!({"minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true});
    assert_eq!(
        outcome(draft4.clone(), json!(0)),
        "must be greater than 0, got 0"
    );
    assert_eq!(outcome(draft4, json!(5)), "must be less than 5, got 5");
    assert_eq!(
        outcome(json!({"minimum": -1}), json!(i64::MIN)),
        format!("must be at least -1, got {}", i64::MIN)
    );
    assert_eq!(
        outcome(json!({"maximum": 0}), json!(u64::MAX)),
        format!("must be at most 0, got {}", u64::MAX)
    );
}

#[test]
fn unsupported_and_unknown_keywords_are_ignored() {
    let schema =
        json!({"type": "string", "pattern": "^[0-9]+$", "format": "email", "nullable": true});
    assert_eq!(outcome(schema.clone(), json!("not digits")), "ok");
    assert_eq!(outcome(schema, json!(null)), "expected a string, got null");
}

#[test]
fn nested_paths_are_json_pointers() {
    let schema = json!({
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}}
            }},
            "a/b~c": {"type": "integer"}
        }
    });
    let bad_name = json!({"items": [{"name": "x"}, {"name": "y"}, {"name": 3}]});
    let failure = error(schema.clone(), bad_name);
    assert_eq!(failure.path(), "/items/2/name");
    assert_eq!(failure.message(), "expected a string, got a number");
    assert_eq!(
        failure.to_string(),
        "`/items/2/name`: expected a string, got a number"
    );
    assert!(failure.is_retryable());
    assert_eq!(error(schema, json!({"a/b~c": "1"})).path(), "/a~1b~0c");
}

#[test]
fn all_of_needs_every_branch() {
    let schema = json!({"allOf": [{"type": "integer"}, {"minimum": 5}]});
    assert_eq!(outcome(schema.clone(), json!(6)), "ok");
    assert_eq!(
        outcome(schema.clone(), json!(4)),
        "must be at least 5, got 4"
    );
    assert_eq!(
        outcome(schema, json!("x")),
        "expected an integer, got a string"
    );
}

#[test]
fn any_of_summarises_when_all_branches_fail_at_the_same_place() {
    let schema = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
    assert_eq!(outcome(schema.clone(), json!("a")), "ok");
    assert_eq!(outcome(schema.clone(), json!(2)), "ok");
    assert_eq!(
        outcome(schema, json!(true)),
        "matches none of the allowed alternatives: \
         (1) expected a string, got a boolean; (2) expected an integer, got a boolean"
    );
}

#[test]
fn any_of_reports_the_branch_that_got_deepest() {
    let schema = json!({"anyOf": [
        {"type": "string"},
        {"type": "object", "properties": {"size": {"type": "integer"}}}
    ]});
    assert_eq!(
        outcome(schema, json!({"size": "big"})),
        "`/size`: expected an integer, got a string"
    );
}

#[test]
fn one_of_needs_exactly_one() {
    let schema = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    assert_eq!(outcome(schema.clone(), json!(1.5)), "ok");
    assert_eq!(
        outcome(schema.clone(), json!(1)),
        "matches alternatives 1 and 2 but must match exactly one"
    );
    assert_eq!(
        outcome(schema, json!("1")),
        "matches none of the allowed alternatives: \
         (1) expected an integer, got a string; (2) expected a number, got a string"
    );
    let shapes = json!({"oneOf": [
        {"type": "object", "required": ["url"]},
        {"type": "object", "required": ["path"]}
    ]});
    assert_eq!(outcome(shapes.clone(), json!({"path": "/tmp"})), "ok");
    assert_eq!(
        outcome(shapes, json!({})),
        "matches none of the allowed alternatives: \
         (1) missing required property `url`; (2) missing required property `path`"
    );
}

#[test]
fn ref_into_defs_and_definitions() {
    let schema = json!({
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/small"}, "b": {"$ref": "#/definitions/flag"}},
        "$defs": {"small": {"type": "integer", "maximum": 3}},
        "definitions": {"flag": {"type": "boolean"}}
    });
    assert_eq!(outcome(schema.clone(), json!({"a": 2, "b": false})), "ok");
    assert_eq!(
        outcome(schema.clone(), json!({"a": 4})),
        "`/a`: must be at most 3, got 4"
    );
    assert_eq!(
        outcome(schema, json!({"b": 1})),
        "`/b`: expected a boolean, got a number"
    );
}

#[test]
fn recursive_ref_follows_the_value() {
    let tree = json!({
        "$ref": "#/$defs/node",
        "$defs": {"node": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["name"]
        }}
    });
    let good = json!({"name": "r", "children": [{"name": "c", "children": [{"name": "g"}]}]});
    assert_eq!(outcome(tree.clone(), good), "ok");
    let bad = json!({"name": "r", "children": [{"name": "c", "children": [{}]}]});
    assert_eq!(
        outcome(tree, bad),
        "`/children/0/children/0`: missing required property `name`"
    );
}

#[test]
fn self_referencing_ref_hits_the_depth_limit() {
    for schema in [
        json!({"$ref": "#"}),
        json!({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}),
    ] {
        let failure = error(schema, json!(1));
        assert!(!failure.is_retryable());
        assert!(
            failure.message().starts_with("invalid schema: `$ref`"),
            "{failure}"
        );
        assert!(
            failure.message().contains("nested more than 32 deep"),
            "{failure}"
        );
    }
}

#[test]
fn unresolvable_refs_are_schema_faults() {
    let missing = error(json!({"$ref": "#/$defs/nope"}), json!(1));
    assert_eq!(
        missing.message(),
        "invalid schema: `$ref` \"#/$defs/nope\" points at nothing"
    );
    assert!(!missing.is_retryable());
    let remote = error(json!({"$ref": "https://example.com/s.json"}), json!(1));
    assert!(remote.message().contains("is not local"), "{remote}");
    let inside_any_of = json!({"anyOf": [{"$ref": "#/nope"}, {"type": "integer"}]});
    assert!(!error(inside_any_of, json!(1)).is_retryable());
}

#[test]
fn first_error_in_order() {
    let schema = json!({
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "array", "items": {"type": "integer"}},
            "c": {"type": "string"}
        },
        "required": ["a", "c"]
    });
    let both_bad = json!({"a": 1, "b": [1, "x", "y"], "c": 2});
    assert_eq!(
        outcome(schema.clone(), both_bad),
        "`/a`: expected a string, got a number"
    );
    let later_bad = json!({"a": "ok", "b": [1, "x", "y"], "c": 2});
    assert_eq!(
        outcome(schema.clone(), later_bad),
        "`/b/1`: expected an integer, got a string"
    );
    let missing_wins = json!({"a": 1});
    assert_eq!(
        outcome(schema.clone(), missing_wins),
        "missing required property `c`"
    );
    let type_wins = json!({"type": "string", "minLength": 3, "enum": ["abcd"]});
    assert_eq!(
        outcome(type_wins, json!(1)),
        "expected a string, got a number"
    );
    let first = outcome(schema.clone(), json!({"a": 1, "c": 2}));
    assert_eq!(first, outcome(schema, json!({"c": 2, "a": 1})));
}

#[test]
fn error_traits() {
    let failure = error(json!({"type": "string"}), json!(1));
    let boxed: Box<dyn std::error::Error> = Box::new(failure.clone());
    assert_eq!(boxed.to_string(), "expected a string, got a number");
    assert_eq!(failure.path(), "");
}

// --- coerce ---------------------------------------------------------------------------

fn coerced(schema: Value, mut value: Value) -> Value {
    coerce(&schema, &mut value);
    value
}

#[test]
fn coerce_numeric_and_boolean_strings() {
    let schema = json!({"type": "object", "properties": {
        "n": {"type": "integer"}, "x": {"type": "number"}, "b": {"type": "boolean"},
        "s": {"type": "string"}
    }});
    let value = json!({"n": "5", "x": "-2.5e1", "b": "true", "s": "7"});
    assert_eq!(
        coerced(schema.clone(), value),
        json!({"n": 5, "x": -25.0, "b": true, "s": "7"})
    );
    assert_eq!(
        coerced(schema.clone(), json!({"b": "False"})),
        json!({"b": false})
    );
    assert_eq!(coerced(schema, json!({"n": "4.0"})), json!({"n": 4.0}));
}

#[test]
fn coerce_leaves_ambiguous_strings_alone() {
    let integer = json!({"type": "integer"});
    for text in [" 5", "5 ", "+5", "0x10", "5.5", "five", "", "NaN", "1e999"] {
        assert_eq!(
            coerced(integer.clone(), json!(text)),
            json!(text),
            "{text:?}"
        );
    }
    assert_eq!(
        coerced(json!({"type": ["string", "integer"]}), json!("5")),
        json!("5")
    );
    assert_eq!(
        coerced(json!({"type": "boolean"}), json!("yes")),
        json!("yes")
    );
    assert_eq!(coerced(json!({}), json!("5")), json!("5"));
    assert_eq!(coerced(json!({"type": "integer"}), json!(5)), json!(5));
}

#[test]
fn coerce_json_encoded_objects_and_arrays() {
    let schema = json!({"type": "object", "properties": {
        "opts": {"type": "object", "properties": {"depth": {"type": "integer"}}},
        "tags": {"type": "array", "items": {"type": "integer"}}
    }});
    let value = json!({"opts": "{\"depth\": \"3\"}", "tags": "[1, \"2\"]"});
    assert_eq!(
        coerced(schema.clone(), value),
        json!({"opts": {"depth": 3}, "tags": [1, 2]})
    );
    let wrong_kind = json!({"opts": "[1]", "tags": "{}"});
    assert_eq!(coerced(schema.clone(), wrong_kind.clone()), wrong_kind);
    assert_eq!(
        coerced(schema, json!("{\"opts\": {}}")),
        json!({"opts": {}})
    );
}

#[test]
fn coerce_through_ref_items_additional_and_all_of() {
    let schema = json!({
        "type": "object",
        "properties": {"list": {"type": "array", "items": {"$ref": "#/$defs/count"}}},
        "additionalProperties": {"type": "boolean"},
        "allOf": [{"properties": {"n": {"type": "number"}}}],
        "$defs": {"count": {"type": "integer"}}
    });
    let value = json!({"list": ["1", "2"], "flag": "true", "n": "1.5"});
    assert_eq!(
        coerced(schema, value),
        json!({"list": [1, 2], "flag": true, "n": 1.5})
    );
}

#[test]
fn coerce_any_of_picks_the_first_branch_that_then_validates() {
    let schema = json!({"anyOf": [{"type": "boolean"}, {"type": "integer"}]});
    assert_eq!(coerced(schema.clone(), json!("12")), json!(12));
    assert_eq!(coerced(schema.clone(), json!("true")), json!(true));
    assert_eq!(coerced(schema, json!("maybe")), json!("maybe"));
    let with_string = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
    assert_eq!(coerced(with_string, json!("12")), json!("12"));
}

#[test]
fn coerce_survives_recursive_refs() {
    let schema = json!({"$ref": "#"});
    assert_eq!(coerced(schema, json!("1")), json!("1"));
}

#[test]
fn coerce_then_validate() {
    let schema = json!({
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
        "required": ["path"],
        "additionalProperties": false
    });
    let mut value = json!({"path": "notes.md", "limit": "0"});
    coerce(&schema, &mut value);
    assert_eq!(value, json!({"path": "notes.md", "limit": 0}));
    assert_eq!(
        validate(&schema, &value).map_err(|e| e.to_string()),
        Err("`/limit`: must be at least 1, got 0".to_owned())
    );
}
