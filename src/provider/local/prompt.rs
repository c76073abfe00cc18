//! From a conversation to the model's prompt: which tool-call format the model speaks, how
//! tools, calls and results are written when its template has no tool support of its own,
//! and the compact tool list for small windows.
//!
//! Formats (read from the template text):
//! - Hermes / Qwen (`<tool_call>{"name": …, "arguments": {…}}</tool_call>`, results in
//!   `<tool_response>` tags): Qwen2.5 and Qwen3 templates write tools themselves; ChatML
//!   templates without tools (SmolLM2) get the same instructions in the system message.
//! - Llama 3.1-3.3 JSON (`{"name": …, "parameters": {…}}` as the whole answer): the template
//!   writes the tools (<https://www.llama.com/docs/model-cards-and-prompt-formats/llama3_1/>).
//! - Gemma (a ```` ```tool_code ```` block holding `name(arg=value)`, results in a
//!   ```` ```tool_output ```` block; <https://ai.google.dev/gemma/docs/capabilities/function-calling>):
//!   Gemma's template has no tools, so the instructions go into the system message, which
//!   the template folds into the first user turn.

use super::pycall;
use super::template::{
    ChatTemplate, Rendered, Shield, named_json, template_values, tool_value, value_json,
};
use crate::core::{ChatMessage, Role, ToolSpec};
use serde_json::Value as Json;

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ToolFormat {
    /// `<tool_call>` tags around a JSON object (Hermes, Qwen, SmolLM2 as instructed).
    Hermes,
    /// The whole answer is a JSON object `{"name", "parameters"}` (Llama 3.x).
    Llama3Json,
    /// A ```` ```tool_code ```` block holding a Python call (Gemma).
    GemmaToolCode,
}

/// When a model is offered tools ([`super::LocalOptions::tools`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolOffer {
    /// When it has a tool-call format: its template writes tools (Qwen, Llama 3), or it is a
    /// Gemma (the `tool_code` convention). A ChatML template without tools (SmolLM2) is not
    /// offered any: such small models mostly answer tool lists with malformed calls.
    #[default]
    Auto,
    /// Always; models without a format are taught the Hermes one in the system prompt.
    Always,
    /// Never.
    Never,
}

/// The prompt conventions of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PromptFormat {
    /// How calls are written.
    pub tools: ToolFormat,
    /// Whether the template renders `tools`, tool calls and tool results itself.
    pub native_tools: bool,
    /// Whether requests' tools are offered to this model at all (see [`ToolOffer`]).
    pub offer_tools: bool,
    /// A system prompt written literally in a ChatML template (SmolLM2's), kept when tool
    /// instructions create a system message.
    default_system: Option<String>,
}

impl PromptFormat {
    /// Reads the conventions from the template text; `offer` decides whether tools are
    /// offered.
    pub(super) fn detect(source: &str, offer: ToolOffer) -> Self {
        let mentions_tools = source.contains("tools");
        let (tools, native_tools) = if source.contains("<tool_call>") {
            (ToolFormat::Hermes, mentions_tools)
        } else if source.contains("<|start_header_id|>") {
            (ToolFormat::Llama3Json, mentions_tools)
        } else if source.contains("<start_of_turn>") {
            (ToolFormat::GemmaToolCode, false)
        } else {
            (ToolFormat::Hermes, false)
        };
        let offer_tools = match offer {
            ToolOffer::Auto => native_tools || tools == ToolFormat::GemmaToolCode,
            ToolOffer::Always => true,
            ToolOffer::Never => false,
        };
        PromptFormat {
            tools,
            native_tools,
            offer_tools,
            default_system: literal_default_system(source),
        }
    }

    /// Renders the conversation (and `tools`, when any) with the model's template.
    ///
    /// # Errors
    /// The template's own error, e.g. roles that do not alternate.
    pub(super) fn render(
        &self,
        template: &ChatTemplate,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<Rendered, String> {
        let mut shield = Shield::default();
        let tool_history = messages
            .iter()
            .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty());
        if self.native_tools || (tools.is_empty() && !tool_history) {
            let msgs = if self.tools == ToolFormat::Llama3Json {
                one_call_per_message(messages)
            } else {
                messages.to_vec()
            };
            let (msgs, specs) = template_values(&msgs, tools, &mut shield);
            let specs = (!tools.is_empty()).then_some(&specs[..]);
            return template.render(&msgs, specs, &shield);
        }
        let msgs = self.inject(messages, tools);
        let (msgs, _) = template_values(&msgs, &[], &mut shield);
        template.render(&msgs, None, &shield)
    }

    /// The conversation with tools, calls and results written as text, for templates that
    /// know nothing of tools: instructions in the system message (none when `tools` is empty:
    /// earlier calls are still written out), calls in the assistant's text, results as user
    /// turns (consecutive ones merged, so roles still alternate).
    fn inject(&self, messages: &[ChatMessage], tools: &[ToolSpec]) -> Vec<ChatMessage> {
        let instructions = match self.tools {
            _ if tools.is_empty() => String::new(),
            ToolFormat::GemmaToolCode => gemma_instructions(tools),
            _ => hermes_instructions(tools),
        };
        let mut out: Vec<ChatMessage> = Vec::with_capacity(messages.len() + 1);
        let mut rest = messages;
        let mut system = match messages.first() {
            Some(m) if m.role == Role::System => {
                rest = &messages[1..];
                m.content.clone()
            }
            _ => self.default_system.clone().unwrap_or_default(),
        };
        if !system.is_empty() && !instructions.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str(&instructions);
        if !system.is_empty() {
            out.push(ChatMessage::text(Role::System, system));
        }
        for m in rest {
            let (role, text) = match m.role {
                Role::Tool => (Role::User, self.result_text(m)),
                Role::Assistant => (Role::Assistant, self.assistant_text(m)),
                r => (r, m.content.clone()),
            };
            match out.last_mut() {
                Some(last) if last.role == role && role != Role::System => {
                    last.content.push('\n');
                    last.content.push_str(&text);
                }
                _ => out.push(ChatMessage::text(role, text)),
            }
        }
        out
    }

    /// An assistant message's text with its calls written out.
    fn assistant_text(&self, m: &ChatMessage) -> String {
        let mut text = m.content.clone();
        for c in &m.tool_calls {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&self.call_text(&c.name, &c.arguments));
        }
        text
    }

    /// One call as the model writes it.
    pub(super) fn call_text(&self, name: &str, args: &Json) -> String {
        match self.tools {
            ToolFormat::GemmaToolCode => {
                let empty = serde_json::Map::new();
                let args = args.as_object().unwrap_or(&empty);
                format!("```tool_code\n{}\n```", pycall::format_call(name, args))
            }
            ToolFormat::Llama3Json => named_json(name, "parameters", args),
            ToolFormat::Hermes => {
                format!(
                    "<tool_call>\n{}\n</tool_call>",
                    named_json(name, "arguments", args)
                )
            }
        }
    }

    /// A tool result as the model expects to read it.
    fn result_text(&self, m: &ChatMessage) -> String {
        match self.tools {
            ToolFormat::GemmaToolCode => format!("```tool_output\n{}\n```", m.content),
            _ => {
                let name = m.name.as_deref().unwrap_or("tool");
                let json = named_json(name, "content", &Json::from(m.content.as_str()));
                format!("<tool_response>\n{json}\n</tool_response>")
            }
        }
    }

    /// The instruction sent with a re-ask after an unusable call.
    pub(super) fn reask(&self, problems: &[String]) -> String {
        let example = self.call_text("tool_name", &serde_json::json!({"argument": "value"}));
        format!(
            "Your tool call could not be used: {}. Call the tool again with valid arguments, \
             written exactly like this:\n{example}\nor answer in plain text without a call.",
            problems.join("; ")
        )
    }
}

/// Llama 3's template takes one call per assistant message: several become several messages.
fn one_call_per_message(messages: &[ChatMessage]) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        if m.role == Role::Assistant && m.tool_calls.len() > 1 {
            for (i, c) in m.tool_calls.iter().enumerate() {
                let mut one = ChatMessage::text(
                    Role::Assistant,
                    if i == 0 {
                        m.content.clone()
                    } else {
                        String::new()
                    },
                );
                one.tool_calls = vec![c.clone()];
                out.push(one);
            }
        } else {
            out.push(m.clone());
        }
    }
    out
}

/// One tool spec as the JSON line models are shown.
fn spec_json(t: &ToolSpec) -> String {
    value_json(&tool_value(t, None))
}

/// Tool instructions in the Hermes shape (as Qwen2.5's template writes them).
fn hermes_instructions(tools: &[ToolSpec]) -> String {
    let specs: Vec<String> = tools.iter().map(spec_json).collect();
    format!(
        "# Tools\n\nYou may call one or more functions to help with the user's request. Their \
         signatures are listed inside <tools></tools> XML tags:\n<tools>\n{}\n</tools>\n\nTo call \
         a function, answer with a JSON object holding its name and arguments inside \
         <tool_call></tool_call> XML tags, one call per tag:\n<tool_call>\n{{\"name\": \
         <function-name>, \"arguments\": <args-json-object>}}\n</tool_call>",
        specs.join("\n")
    )
}

/// Tool instructions in Gemma's function-calling shape.
fn gemma_instructions(tools: &[ToolSpec]) -> String {
    let specs: Vec<String> = tools.iter().map(spec_json).collect();
    format!(
        "You can call functions. To call one, answer with only a Python call inside a \
         tool_code block, keyword arguments only:\n```tool_code\nfunction_name(argument=\"value\")\n\
         ```\nThe result comes back in a tool_output block. The functions:\n{}",
        specs.join("\n")
    )
}

/// The tools with their text cut down for a small window: each description to its first
/// sentence (at most 120 characters) and the argument schemas without descriptions.
pub(super) fn compact(tools: &[ToolSpec]) -> Vec<ToolSpec> {
    // Schema keywords `description` and `examples` go; under `properties` the keys are
    // argument names, which stay whatever they are called.
    fn strip(v: &Json) -> Json {
        match v {
            Json::Object(o) => Json::Object(
                o.iter()
                    .filter(|(k, _)| k.as_str() != "description" && k.as_str() != "examples")
                    .map(|(k, x)| {
                        let x = match (k.as_str(), x) {
                            ("properties", Json::Object(props)) => Json::Object(
                                props.iter().map(|(n, p)| (n.clone(), strip(p))).collect(),
                            ),
                            _ => strip(x),
                        };
                        (k.clone(), x)
                    })
                    .collect(),
            ),
            Json::Array(a) => Json::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    tools
        .iter()
        .map(|t| {
            let first = t.description.split(". ").next().unwrap_or("");
            let mut description: String = first.chars().take(120).collect();
            if description.len() < t.description.len() && !description.ends_with('.') {
                description.push('.');
            }
            ToolSpec {
                name: t.name.clone(),
                description,
                parameters: strip(&t.parameters),
            }
        })
        .collect()
}

/// A default system prompt written literally in a ChatML template as
/// `'<|im_start|>system\n…<|im_end|>` (no template expressions inside); the newline may be a
/// real one or the escape `\n` inside the Jinja string.
fn literal_default_system(template: &str) -> Option<String> {
    let opener = "<|im_start|>system";
    let after = &template[template.find(opener)? + opener.len()..];
    let after = after
        .strip_prefix('\n')
        .or_else(|| after.strip_prefix("\\n"))?;
    let text = &after[..after.find("<|im_end|>")?];
    let templated =
        text.contains("{{") || text.contains("{%") || text.contains('\'') || text.contains('"');
    (!templated && !text.is_empty()).then(|| text.replace("\\n", "\n"))
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
