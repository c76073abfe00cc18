//! From MCP shapes to Hearth's tools and back: a server's `Tool` objects
//! (<https://modelcontextprotocol.io/specification/2025-06-18/server/tools#tool>) become
//! [`ToolSpec`]s named `<server>__<tool>`, and a `CallToolResult`
//! (<https://modelcontextprotocol.io/specification/2025-06-18/server/tools#tool-result>)
//! becomes the text handed to the model. Resources
//! (<https://modelcontextprotocol.io/specification/2025-06-18/server/resources>) and prompts
//! (<https://modelcontextprotocol.io/specification/2025-06-18/server/prompts>) can be offered
//! as two more tools. Pure: no I/O.

use crate::core::ToolSpec;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Longest tool name, in characters (OpenAI's limit for function names).
pub const MAX_NAME: usize = 64;

/// Longest result text handed to the model, in characters.
pub const MAX_RESULT_CHARS: usize = 50_000;

/// Resources and prompts named in the descriptions of `read_resource` and `get_prompt`.
const MAX_LISTED: usize = 20;

/// What a Hearth tool name stands for on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A server tool, by its server-side name.
    Tool(String),
    /// `resources/read`.
    ReadResource,
    /// `prompts/get`.
    GetPrompt,
}

/// A tool offered to the agents.
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    /// Name (`<server>__<tool>`), description, argument schema.
    pub spec: ToolSpec,
    /// What a call runs.
    pub target: Target,
}

/// `<server>__<tool>`, the tool's name with every character outside `[A-Za-z0-9_-]` made
/// `_`; a result longer than [`MAX_NAME`] is cut and ends in `_` and 8 hex digits of a hash
/// of the original name, so long names stay distinct.
pub fn tool_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let full = format!("{server}__{clean}");
    if full.len() <= MAX_NAME {
        return full;
    }
    // FNV-1a, 32 bits: stable across builds and platforms.
    let hash = tool.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let suffix = format!("_{hash:08x}");
    let mut cut = full;
    cut.truncate(MAX_NAME - suffix.len());
    cut + &suffix
}

/// The tools of `server` from its `tools/list` items, filtered by `include` (empty: all)
/// and `exclude` (server-side names). Items without a name, and names that clash after
/// cleaning, are left out with a warning.
pub fn offer(
    server: &str,
    tools: &[Value],
    include: &[String],
    exclude: &[String],
) -> Vec<Offered> {
    let mut out: Vec<Offered> = Vec::new();
    for t in tools {
        let Some(name) = t.get("name").and_then(Value::as_str) else {
            tracing::warn!(
                server,
                "mcp: a tool without a name: {}",
                super::jsonrpc::preview(&t.to_string())
            );
            continue;
        };
        if (!include.is_empty() && !include.iter().any(|i| i == name))
            || exclude.iter().any(|e| e == name)
        {
            continue;
        }
        let spec_name = tool_name(server, name);
        if out.iter().any(|o| o.spec.name == spec_name) {
            tracing::warn!(
                server,
                tool = name,
                "mcp: tool name {spec_name} is taken; leaving it out"
            );
            continue;
        }
        let text = |k: &str| {
            t.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
        };
        let about = text("description")
            .or_else(|| text("title"))
            .unwrap_or(name);
        let parameters = match t.get("inputSchema") {
            Some(s @ Value::Object(_)) => s.clone(),
            _ => json!({"type": "object", "properties": {}}),
        };
        out.push(Offered {
            spec: ToolSpec {
                name: spec_name,
                description: format!("{server}: {about}"),
                parameters,
            },
            target: Target::Tool(name.to_string()),
        });
    }
    out
}

/// `<server>__read_resource` and `<server>__get_prompt`, for the capabilities the server
/// declared, naming up to 20 of its resources and prompts; added to `out` unless a server
/// tool already has the name.
pub fn offer_extras(
    server: &str,
    capabilities: &Value,
    resources: &[Value],
    prompts: &[Value],
    out: &mut Vec<Offered>,
) {
    let mut add = |o: Offered| {
        if !out.iter().any(|x| x.spec.name == o.spec.name) {
            out.push(o);
        }
    };
    if capabilities.get("resources").is_some() {
        let mut description = format!("{server}: reads a resource of this MCP server by its URI.");
        let listed: Vec<String> = resources
            .iter()
            .take(MAX_LISTED)
            .filter_map(|r| {
                let uri = r.get("uri")?.as_str()?;
                Some(match r.get("name").and_then(Value::as_str) {
                    Some(n) => format!("{uri} ({n})"),
                    None => uri.to_string(),
                })
            })
            .collect();
        if !listed.is_empty() {
            let _ = write!(description, " Resources: {}.", listed.join(", "));
        }
        add(Offered {
            spec: ToolSpec {
                name: tool_name(server, "read_resource"),
                description,
                parameters: json!({
                    "type": "object",
                    "properties": {"uri": {"type": "string", "description": "The resource URI."}},
                    "required": ["uri"],
                }),
            },
            target: Target::ReadResource,
        });
    }
    if capabilities.get("prompts").is_some() {
        let mut description = format!(
            "{server}: gets a prompt template of this MCP server, filled in with the arguments."
        );
        let listed: Vec<String> = prompts
            .iter()
            .take(MAX_LISTED)
            .filter_map(|p| {
                let name = p.get("name")?.as_str()?;
                let args: Vec<&str> = p
                    .get("arguments")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| x.get("name")?.as_str()).collect())
                    .unwrap_or_default();
                Some(if args.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}({})", args.join(", "))
                })
            })
            .collect();
        if !listed.is_empty() {
            let _ = write!(description, " Prompts: {}.", listed.join(", "));
        }
        add(Offered {
            spec: ToolSpec {
                name: tool_name(server, "get_prompt"),
                description,
                parameters: json!({"type": "object", "properties": {
                    "name": {"type": "string", "description": "The prompt's name."},
                    "arguments": {
                        "type": "object",
                        "description": "Its arguments, as strings.",
                        "additionalProperties": {"type": "string"},
                    }
                }, "required": ["name"]}),
            },
            target: Target::GetPrompt,
        });
    }
}

/// The text of a `CallToolResult`: text parts joined by newlines, other parts summarised
/// (`[image: image/png, 1234 bytes]`, resource links by URI), `structuredContent` as JSON
/// when there is no text part; cut at [`MAX_RESULT_CHARS`].
///
/// # Errors
/// The same text when the result says `isError: true`.
pub fn render_call(result: &Value) -> Result<String, String> {
    let parts = result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut lines: Vec<String> = parts.iter().map(render_part).collect();
    let has_text = parts
        .iter()
        .any(|p| p.get("type").and_then(Value::as_str) == Some("text"));
    if !has_text && let Some(s) = result.get("structuredContent").filter(|s| !s.is_null()) {
        lines.push(s.to_string());
    }
    let text = if lines.is_empty() {
        "(no content)".to_string()
    } else {
        cap(lines.join("\n"))
    };
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        Err(text)
    } else {
        Ok(text)
    }
}

/// The text of a `ReadResourceResult`: each content's text, blobs summarised.
pub fn render_resource(result: &Value) -> String {
    let contents = result
        .get("contents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let many = contents.len() > 1;
    let lines: Vec<String> = contents
        .iter()
        .map(|c| {
            let uri = c.get("uri").and_then(Value::as_str).unwrap_or("?");
            match c.get("text").and_then(Value::as_str) {
                Some(t) if many => format!("[{uri}]\n{t}"),
                Some(t) => t.to_string(),
                None => blob_summary("resource", uri, c),
            }
        })
        .collect();
    if lines.is_empty() {
        "(no content)".into()
    } else {
        cap(lines.join("\n"))
    }
}

/// The text of a `GetPromptResult`: its description, then `role: text` per message.
pub fn render_prompt(result: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(d) = result.get("description").and_then(Value::as_str) {
        lines.push(d.to_string());
    }
    for m in result
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("?");
        let content = m.get("content").map(render_part).unwrap_or_default();
        lines.push(format!("{role}: {content}"));
    }
    cap(lines.join("\n"))
}

fn render_part(p: &Value) -> String {
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    match s("type").unwrap_or("") {
        "text" => s("text").unwrap_or("").to_string(),
        kind @ ("image" | "audio") => format!(
            "[{kind}: {}, {} bytes]",
            s("mimeType").unwrap_or("unknown type"),
            base64_len(s("data").unwrap_or(""))
        ),
        "resource_link" => match s("name") {
            Some(n) => format!("[resource link: {} ({n})]", s("uri").unwrap_or("?")),
            None => format!("[resource link: {}]", s("uri").unwrap_or("?")),
        },
        "resource" => {
            let r = p.get("resource").unwrap_or(&Value::Null);
            let uri = r.get("uri").and_then(Value::as_str).unwrap_or("?");
            match r.get("text").and_then(Value::as_str) {
                Some(t) => format!("[resource: {uri}]\n{t}"),
                None => blob_summary("resource", uri, r),
            }
        }
        other => format!(
            "[{} content]",
            if other.is_empty() { "untyped" } else { other }
        ),
    }
}

fn blob_summary(kind: &str, uri: &str, c: &Value) -> String {
    let mime = c
        .get("mimeType")
        .and_then(Value::as_str)
        .unwrap_or("unknown type");
    let n = base64_len(c.get("blob").and_then(Value::as_str).unwrap_or(""));
    format!("[{kind}: {uri}, {mime}, {n} bytes]")
}

/// Bytes encoded by base64 text (whitespace ignored).
fn base64_len(data: &str) -> usize {
    let chars = data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let pad = data
        .bytes()
        .rev()
        .filter(|b| !b.is_ascii_whitespace())
        .take_while(|b| *b == b'=')
        .count();
    (chars / 4 * 3 + (chars % 4).saturating_sub(1)).saturating_sub(pad.min(2))
}

fn cap(text: String) -> String {
    match text.char_indices().nth(MAX_RESULT_CHARS) {
        Some((at, _)) => {
            let more = text[at..].chars().count();
            format!("{}… [cut: {more} more characters]", &text[..at])
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_prefixed_and_kept_within_64_characters() {
        assert_eq!(tool_name("ha", "HassTurnOn"), "ha__HassTurnOn");
        assert_eq!(tool_name("fs", "read file/v2.x"), "fs__read_file_v2_x");
        assert_eq!(tool_name("k", "été-ok"), "k___t_-ok");
        let long = "x".repeat(100);
        let a = tool_name("srv", &long);
        let b = tool_name("srv", &format!("{long}y"));
        assert_eq!(a.len(), MAX_NAME);
        assert_ne!(a, b, "long names stay distinct");
        assert!(a.starts_with("srv__xxx"));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        );
    }

    #[test]
    fn tools_are_filtered_and_described() {
        let tools = [
            json!({"name": "add", "description": "Adds.", "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}}}}),
            json!({"name": "echo", "title": "Echo"}),
            json!({"name": "secret"}),
            json!({"description": "nameless"}),
            json!({"name": "a.b"}),
            json!({"name": "a_b"}),
        ];
        let got = offer("kit", &tools, &[], &["secret".into()]);
        let names: Vec<&str> = got.iter().map(|o| o.spec.name.as_str()).collect();
        assert_eq!(names, ["kit__add", "kit__echo", "kit__a_b"]);
        assert_eq!(got[0].spec.description, "kit: Adds.");
        assert_eq!(got[0].spec.parameters["properties"]["a"]["type"], "number");
        assert_eq!(got[1].spec.description, "kit: Echo");
        assert_eq!(
            got[1].spec.parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(got[2].target, Target::Tool("a.b".into()));
        let only = offer(
            "kit",
            &tools,
            &["echo".into(), "secret".into()],
            &["secret".into()],
        );
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].target, Target::Tool("echo".into()));
    }

    #[test]
    fn extras_follow_the_capabilities() {
        let mut out = offer("kit", &[json!({"name": "get_prompt"})], &[], &[]);
        let caps = json!({"resources": {}, "prompts": {}});
        let res = [json!({"uri": "file:///a", "name": "A"})];
        let prompts = [json!({"name": "greet", "arguments": [{"name": "who"}]})];
        offer_extras("kit", &caps, &res, &prompts, &mut out);
        assert_eq!(out.len(), 2, "the server's own get_prompt wins");
        assert_eq!(out[1].target, Target::ReadResource);
        assert!(out[1].spec.description.contains("file:///a (A)"));
        let mut out = Vec::new();
        offer_extras("kit", &caps, &[], &prompts, &mut out);
        assert!(out[1].spec.description.contains("greet(who)"));
        let mut none = Vec::new();
        offer_extras("kit", &json!({"tools": {}}), &[], &[], &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn results_become_text() {
        let r = json!({"content": [
            {"type": "text", "text": "one"},
            {"type": "image", "mimeType": "image/png", "data": "aGVsbG8="},
            {"type": "resource_link", "uri": "file:///x", "name": "x"},
            {"type": "resource", "resource": {"uri": "mem://n", "text": "note"}},
            {"type": "resource", "resource": {"uri": "mem://b", "mimeType": "application/pdf", "blob": "AAAA"}},
            {"type": "text", "text": "two"}
        ], "structuredContent": {"ignored": true}});
        assert_eq!(
            render_call(&r).unwrap(),
            "one\n[image: image/png, 5 bytes]\n[resource link: file:///x (x)]\n[resource: mem://n]\nnote\n[resource: mem://b, application/pdf, 3 bytes]\ntwo"
        );
        let r = json!({"content": [], "structuredContent": {"sum": 5}});
        assert_eq!(render_call(&r).unwrap(), r#"{"sum":5}"#);
        let r = json!({"content": [{"type": "text", "text": "boom"}], "isError": true});
        assert_eq!(render_call(&r).unwrap_err(), "boom");
        assert_eq!(render_call(&json!({})).unwrap(), "(no content)");
        let big = json!({"content": [{"type": "text", "text": "é".repeat(MAX_RESULT_CHARS + 3)}]});
        assert!(
            render_call(&big)
                .unwrap()
                .ends_with("… [cut: 3 more characters]")
        );
    }

    #[test]
    fn resources_and_prompts_become_text() {
        let r = json!({"contents": [{"uri": "a", "text": "A"}, {"uri": "b", "blob": "AAA=", "mimeType": "x/y"}]});
        assert_eq!(render_resource(&r), "[a]\nA\n[resource: b, x/y, 2 bytes]");
        assert_eq!(
            render_resource(&json!({"contents": [{"uri": "a", "text": "A"}]})),
            "A"
        );
        let p = json!({"description": "Greets", "messages": [{"role": "user", "content": {"type": "text", "text": "hi Bo"}}]});
        assert_eq!(render_prompt(&p), "Greets\nuser: hi Bo");
    }

    #[test]
    fn base64_lengths() {
        for (s, n) in [
            ("", 0),
            ("AA==", 1),
            ("AAA=", 2),
            ("AAAA", 3),
            ("aGVsbG8=", 5),
            ("aGVs\nbG8=", 5),
        ] {
            assert_eq!(base64_len(s), n, "{s:?}");
        }
    }
}
