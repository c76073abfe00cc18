//! SKILL.md frontmatter: splitting the file at its `---` lines and reading the fields of the
//! AgentSkills specification (<https://agentskills.io/specification>) and of OpenClaw
//! (<https://docs.openclaw.ai/tools/skills>).
//!
//! Every error and warning carries a line number of the file (line 1 is the opening `---`).
//! Imports nothing of Hearth.

use super::gate::OpenClawMeta;
use super::yaml::{self, Node};
use serde_json::{Map, Value};

/// Longest `name` (AgentSkills).
pub const NAME_MAX_CHARS: usize = 64;
/// Longest `description` (AgentSkills); longer ones load with a warning and are cut in the prompt.
pub const DESCRIPTION_MAX_CHARS: usize = 1024;
/// Longest `compatibility` (AgentSkills); longer ones load with a warning.
pub const COMPATIBILITY_MAX_CHARS: usize = 500;

/// The fields of a SKILL.md frontmatter that Hearth reads. Unknown keys are ignored, as in
/// OpenClaw.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontmatter {
    /// `name` (required): 1–64 of `a-z`, `0-9`, `-`, no leading, trailing or doubled hyphen.
    pub name: String,
    /// `description` (required, non-empty), trimmed.
    pub description: String,
    /// `license`.
    pub license: Option<String>,
    /// `compatibility`: free-text environment requirements.
    pub compatibility: Option<String>,
    /// `allowed-tools` (experimental in AgentSkills): a space-separated string or a list.
    pub allowed_tools: Vec<String>,
    /// `homepage` (OpenClaw).
    pub homepage: Option<String>,
    /// `user-invocable` (OpenClaw, default true): may be run as a slash command.
    pub user_invocable: bool,
    /// `disable-model-invocation` (OpenClaw, default false): left out of the prompt.
    pub disable_model_invocation: bool,
    /// `metadata` as JSON: AgentSkills' string map or OpenClaw's nested object (a YAML map, a
    /// flow/JSON object, or a string holding a JSON object). Empty when absent.
    pub metadata: Map<String, Value>,
    /// The gating block `metadata.openclaw`, if any.
    pub openclaw: Option<OpenClawMeta>,
}

/// A problem at a line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineMsg {
    pub line: usize,
    pub message: String,
}

fn at(line: usize, message: impl Into<String>) -> LineMsg {
    LineMsg {
        line,
        message: message.into(),
    }
}

/// A SKILL.md cut at its frontmatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// The YAML between the `---` lines; its line 1 is line 2 of the file.
    pub yaml: &'a str,
    /// Everything after the closing `---` line.
    pub body: &'a str,
    /// The file line where `body` starts.
    pub body_line: usize,
}

/// Finds the frontmatter: the file (after an optional UTF-8 BOM) must start with a `---` line
/// and the frontmatter ends at the next line that is `---` (trailing spaces and `\r` allowed).
///
/// # Errors
/// At line 1: no opening `---`, or no closing `---` ("unterminated").
pub(crate) fn split(text: &str) -> Result<Split<'_>, LineMsg> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_fence = |line: &str| line.trim_end_matches(['\n', '\r', ' ', '\t']) == "---";
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if !is_fence(first) {
        return Err(at(
            1,
            "SKILL.md must start with a `---` line opening the YAML frontmatter",
        ));
    }
    let mut offset = first.len();
    for (index, line) in lines.enumerate() {
        if is_fence(line) {
            return Ok(Split {
                yaml: &text[first.len()..offset],
                body: &text[offset + line.len()..],
                body_line: index + 3,
            });
        }
        offset += line.len();
    }
    Err(at(1, "unterminated frontmatter: no closing `---` line"))
}

/// A parsed frontmatter with its warnings (problems that do not stop the skill loading).
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub frontmatter: Frontmatter,
    pub warnings: Vec<LineMsg>,
}

/// Parses a whole SKILL.md of the skill folder `folder`.
///
/// Refused (error): no or unterminated frontmatter, bad YAML, a frontmatter that is not a
/// mapping, missing or empty `name`/`description`, a `name` breaking the AgentSkills
/// character rules, a field of the wrong type, a `metadata` string that is not a JSON object,
/// gating fields of the wrong type. Warned: `name` differing from `folder` (AgentSkills
/// requires them equal, OpenClaw does not), over-long `description` or `compatibility`,
/// unreadable booleans.
///
/// # Errors
/// The first refusal, with its file line.
pub(crate) fn parse(text: &str, folder: &str) -> Result<Parsed, LineMsg> {
    let split = split(text)?;
    // YAML line n is file line n + 1 (line 1 is the opening `---`).
    let root = yaml::parse(split.yaml).map_err(|e| {
        let hint = if e.message.contains("mapping values are not allowed") {
            " (quote a value that contains `: `)"
        } else {
            ""
        };
        at(e.line + 1, format!("invalid YAML: {}{hint}", e.message))
    })?;
    let entries = match root {
        None => Vec::new(),
        Some(Node::Map { entries, .. }) => entries,
        Some(other) => {
            return Err(at(
                other.line() + 1,
                "frontmatter must be a mapping of `key: value` lines",
            ));
        }
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, line, node)| (line + 1, node))
    };
    let mut warnings = Vec::new();

    let text_field = |key: &str| -> Result<Option<(usize, String)>, LineMsg> {
        match get(key) {
            None => Ok(None),
            Some((
                _,
                Node::Scalar {
                    plain: true, text, ..
                },
            )) if text.is_empty() || text == "~" || text == "null" => Ok(None),
            Some((line, Node::Scalar { text, .. })) => Ok(Some((line, text.trim().to_string()))),
            Some((line, _)) => Err(at(line, format!("`{key}` must be a string"))),
        }
    };
    let Some((name_line, name)) = text_field("name")? else {
        return Err(at(
            1,
            "missing `name` (required by https://agentskills.io/specification)",
        ));
    };
    if let Some(rule) = name_problem(&name) {
        return Err(at(
            name_line,
            format!("invalid name `{name}`: {rule} (https://agentskills.io/specification)"),
        ));
    }
    if name != folder {
        warnings.push(at(
            name_line,
            format!(
                "name `{name}` differs from its folder `{folder}` (AgentSkills requires them equal)"
            ),
        ));
    }
    let description = match text_field("description")? {
        Some((_, d)) if !d.is_empty() => d,
        Some((line, _)) => return Err(at(line, "`description` is empty")),
        None => {
            return Err(at(
                1,
                "missing `description` (required by https://agentskills.io/specification)",
            ));
        }
    };
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        let line = get("description").map_or(1, |(l, _)| l);
        warnings.push(at(
            line,
            format!("`description` is longer than {DESCRIPTION_MAX_CHARS} characters"),
        ));
    }
    let compatibility = text_field("compatibility")?.map(|(line, c)| {
        if c.chars().count() > COMPATIBILITY_MAX_CHARS {
            warnings.push(at(
                line,
                format!("`compatibility` is longer than {COMPATIBILITY_MAX_CHARS} characters"),
            ));
        }
        c
    });
    let allowed_tools = match get("allowed-tools") {
        None => Vec::new(),
        Some((_, Node::Scalar { text, .. })) => {
            text.split_whitespace().map(str::to_string).collect()
        }
        Some((line, Node::Seq { items, .. })) => items
            .iter()
            .map(|item| match item {
                Node::Scalar { text, .. } => Ok(text.trim().to_string()),
                _ => Err(at(
                    line,
                    "`allowed-tools` must be a string or a list of strings",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some((line, _)) => {
            return Err(at(
                line,
                "`allowed-tools` must be a string or a list of strings",
            ));
        }
    };
    let mut flag = |key: &str, default: bool| -> Result<bool, LineMsg> {
        Ok(match text_field(key)? {
            None => default,
            Some((line, v)) => parse_bool(&v).unwrap_or_else(|| {
                warnings.push(at(
                    line,
                    format!("`{key}: {v}` is not a boolean; using {default}"),
                ));
                default
            }),
        })
    };
    let user_invocable = flag("user-invocable", true)?;
    let disable_model_invocation = flag("disable-model-invocation", false)?;

    let (metadata, metadata_line) = match get("metadata") {
        None => (Map::new(), 1),
        Some((line, node)) => (metadata_object(node).map_err(|m| at(line, m))?, line),
    };
    let openclaw = OpenClawMeta::from_metadata(&metadata).map_err(|m| at(metadata_line, m))?;
    let frontmatter = Frontmatter {
        name,
        description,
        license: text_field("license")?.map(|(_, v)| v),
        compatibility,
        allowed_tools,
        homepage: text_field("homepage")?.map(|(_, v)| v),
        user_invocable,
        disable_model_invocation,
        metadata,
        openclaw,
    };
    Ok(Parsed {
        frontmatter,
        warnings,
    })
}

/// `metadata` as a JSON object: a YAML mapping, or a string holding a JSON object (what
/// OpenClaw's line parser passes on when YAML fails). A null value is the empty object.
fn metadata_object(node: &Node) -> Result<Map<String, Value>, String> {
    match node {
        Node::Map { .. } => match yaml::to_json(node) {
            Value::Object(map) => Ok(map),
            _ => Err("`metadata` must be a mapping".to_string()),
        },
        Node::Scalar {
            plain: true, text, ..
        } if text.is_empty() || text == "~" || text == "null" => Ok(Map::new()),
        Node::Scalar { text, .. } => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("`metadata` must be a mapping or a JSON object".to_string()),
            Err(e) => Err(format!("`metadata` is a string but not a JSON object: {e}")),
        },
        Node::Seq { .. } => Err("`metadata` must be a mapping, not a list".to_string()),
    }
}

/// `true`/`false` and the spellings OpenClaw's `parseBooleanValue` takes (`yes`/`no`,
/// `on`/`off`, `1`/`0`), any case.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Which AgentSkills `name` rule `name` breaks, if any.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.chars().count() > NAME_MAX_CHARS {
        Some("longer than 64 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("only lowercase letters a-z, digits and hyphens are allowed")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("it must not start or end with a hyphen")
    } else if name.contains("--") {
        Some("it must not contain two hyphens in a row")
    } else {
        None
    }
}
