//! [`coerce`]: repairing the unambiguous mistakes of small models before validation.
//!
//! A child of `schema` so it can walk schemas with the same `$ref` resolution and branch checks
//! as [`super::validate`]; imports nothing beyond its parent, `std` and `serde_json`.

use super::{Walker, is_integral, item_schema, member_schema};
use serde_json::{Number, Value};

/// Repairs, in place, the mistakes small models make that have exactly one reading, so that
/// [`validate`](super::validate) (which should run right after) sees the value the model meant:
///
/// - a string where the schema's `type` wants `integer`, `number` or `boolean` and does not
///   allow `string`, when the whole string is exactly such a literal: `"5"` becomes `5`,
///   `"2.5"` becomes `2.5` (only if `number` is allowed), `"true"`/`"True"` become `true`;
///   JSON number syntax is required, so `" 5"`, `"+5"`, `"0x10"` and `"NaN"` stay strings;
/// - a string where the schema wants an `object` or `array` (and not a string) that parses as
///   JSON of that kind: `"{\"a\": 1}"` becomes `{"a": 1}`; the parsed value is then repaired
///   in turn.
///
/// Descends through `properties`, `additionalProperties`, `items`, `prefixItems`, `$ref` and
/// `allOf`. Under `anyOf`/`oneOf` it changes the value only when it matches no branch as is,
/// and then takes the first branch that the repaired value matches. Anything it cannot repair
/// is left for [`validate`](super::validate) to report. Never fails.
pub fn coerce(schema: &Value, value: &mut Value) {
    Walker { root: schema }.repair(schema, value, 0);
}

impl<'s> Walker<'s> {
    fn repair(&self, schema: &'s Value, value: &mut Value, refs: usize) {
        let Value::Object(rules) = schema else {
            return;
        };
        if let Some(Value::String(reference)) = rules.get("$ref")
            && let Ok(target) = self.resolve(reference, "", refs)
        {
            self.repair(target, value, refs + 1);
        }
        if let Some(types) = rules.get("type") {
            repair_scalar(types, value);
        }
        match value {
            Value::Object(members) => {
                for (name, member) in members.iter_mut() {
                    if let Some(schema) = member_schema(rules, name) {
                        self.repair(schema, member, refs);
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    if let Some(schema) = item_schema(rules, index) {
                        self.repair(schema, item, refs);
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Array(branches)) = rules.get("allOf") {
            for branch in branches {
                self.repair(branch, value, refs);
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = rules.get(keyword) {
                self.repair_first_fitting(branches, value, refs);
            }
        }
    }

    fn repair_first_fitting(&self, branches: &'s [Value], value: &mut Value, refs: usize) {
        let fits =
            |branch: &'s Value, candidate: &Value| self.check(branch, candidate, "", refs).is_ok();
        if branches.iter().any(|branch| fits(branch, value)) {
            return;
        }
        for branch in branches {
            let mut candidate = value.clone();
            self.repair(branch, &mut candidate, refs);
            if fits(branch, &candidate) {
                *value = candidate;
                return;
            }
        }
    }
}

fn repair_scalar(types: &Value, value: &mut Value) {
    let Value::String(text) = value else {
        return;
    };
    let allows = |name: &str| match types {
        Value::String(only) => only == name,
        Value::Array(names) => names.iter().any(|n| n.as_str() == Some(name)),
        _ => false,
    };
    if allows("string") {
        return;
    }
    let trimmed = text.trim() == text.as_str();
    if (allows("integer") || allows("number"))
        && trimmed
        && let Ok(number) = serde_json::from_str::<Number>(text)
        && (allows("number") || is_integral(&number))
    {
        *value = Value::Number(number);
        return;
    }
    if allows("boolean") {
        let flag = match text.as_str() {
            "true" | "True" => Some(true),
            "false" | "False" => Some(false),
            _ => None,
        };
        if let Some(flag) = flag {
            *value = Value::Bool(flag);
            return;
        }
    }
    if allows("object") || allows("array") {
        match serde_json::from_str::<Value>(text) {
            Ok(parsed @ Value::Object(_)) if allows("object") => *value = parsed,
            Ok(parsed @ Value::Array(_)) if allows("array") => *value = parsed,
            _ => {}
        }
    }
}
