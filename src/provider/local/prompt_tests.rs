//! Tool-call formats per family: detection, tools written into templates without them, and
//! the compact tool list.

use super::*;
use crate::core::{ChatMessage, Role, ToolCall};
use crate::provider::local::template::tests::{GEMMA, LLAMA3, QWEN, write_tool};
use serde_json::json;

const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

fn conversation() -> Vec<ChatMessage> {
    let mut call = ChatMessage::text(Role::Assistant, "Saving.");
    call.tool_calls = vec![ToolCall {
        id: "c1".into(),
        name: "write".into(),
        arguments: json!({"path": "note.txt", "content": "blue flowerpot"}),
    }];
    vec![
        ChatMessage::text(Role::User, "Note where the key is."),
        call,
        ChatMessage::tool_result("c1", "write", "wrote 14 bytes"),
    ]
}

fn render(src: &str, msgs: &[ChatMessage]) -> (PromptFormat, String) {
    let t = ChatTemplate::new(Some(src), "<bos>", "<eos>").expect("compiles");
    let f = PromptFormat::detect(src, ToolOffer::Always);
    let r = f.render(&t, msgs, &[write_tool()]).expect("renders");
    (f, r.text)
}

#[test]
fn formats_are_read_from_the_template() {
    let fmt = |s: &str| {
        let f = PromptFormat::detect(s, ToolOffer::Auto);
        (f.tools, f.native_tools, f.offer_tools)
    };
    assert_eq!(fmt(QWEN), (ToolFormat::Hermes, true, true));
    assert_eq!(fmt(LLAMA3), (ToolFormat::Llama3Json, true, true));
    assert_eq!(fmt(GEMMA), (ToolFormat::GemmaToolCode, false, true));
    assert_eq!(fmt(SMOLLM2), (ToolFormat::Hermes, false, false));
    assert!(!PromptFormat::detect(QWEN, ToolOffer::Never).offer_tools);
    assert!(PromptFormat::detect(SMOLLM2, ToolOffer::Always).offer_tools);
}

#[test]
fn chatml_without_tools_gets_hermes_instructions_after_its_default_system() {
    let (_, text) = render(SMOLLM2, &conversation());
    assert!(text.starts_with(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face\n\n# Tools"
    ), "{text}");
    assert!(
        text.contains(
            r#"<tool_call>
{"name": "write", "arguments": {"content": "blue flowerpot", "path": "note.txt"}}
</tool_call><|im_end|>"#
        ),
        "{text}"
    );
    assert!(text.contains("<|im_start|>user\n<tool_response>\n{\"name\": \"write\", \"content\": \"wrote 14 bytes\"}\n</tool_response><|im_end|>"), "{text}");
    assert!(text.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"write\", \"description\": "), "{text}");
    assert!(text.ends_with("<|im_start|>assistant\n"));
}

#[test]
fn gemma_gets_tool_code_instructions_and_alternating_turns() {
    let mut msgs = vec![ChatMessage::text(Role::System, "You keep notes.")];
    msgs.extend(conversation());
    // Two results in a row and a user message after them still alternate.
    msgs.push(ChatMessage::tool_result("c2", "write", "wrote 3 bytes"));
    msgs.push(ChatMessage::text(Role::User, "Thanks"));
    let (f, text) = render(GEMMA, &msgs);
    assert!(
        text.starts_with("<bos><start_of_turn>user\nYou keep notes.\n\nYou can call functions."),
        "{text}"
    );
    assert!(text.contains("<start_of_turn>model\nSaving.\n```tool_code\nwrite(content=\"blue flowerpot\", path=\"note.txt\")\n```<end_of_turn>"), "{text}");
    assert!(text.contains("<start_of_turn>user\n```tool_output\nwrote 14 bytes\n```\n```tool_output\nwrote 3 bytes\n```\nThanks<end_of_turn>"), "{text}");
    assert!(text.ends_with("<start_of_turn>model\n"));
    assert!(
        f.reask(&["bad".into()])
            .contains("```tool_code\ntool_name(argument=\"value\")\n```")
    );
}

#[test]
fn llama3_gets_one_call_per_assistant_message() {
    let mut msgs = conversation();
    msgs[1].tool_calls.push(ToolCall {
        id: "c2".into(),
        name: "write".into(),
        arguments: json!({"path": "b.txt", "content": "x"}),
    });
    let (f, text) = render(LLAMA3, &msgs);
    assert_eq!(
        text.matches("<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"write\"")
            .count(),
        2,
        "{text}"
    );
    assert_eq!(
        f.call_text("write", &json!({"path": "a"})),
        r#"{"name": "write", "parameters": {"path": "a"}}"#
    );
}

#[test]
fn compact_tools_keep_names_types_and_first_sentences() {
    let small = compact(&[write_tool()]);
    assert_eq!(small[0].description, "Write a file in the workspace.");
    assert_eq!(
        small[0].parameters,
        json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]})
    );
}

#[test]
fn tool_history_without_tools_still_alternates_for_gemma() {
    let t = ChatTemplate::new(Some(GEMMA), "<bos>", "<eos>").expect("compiles");
    let f = PromptFormat::detect(GEMMA, ToolOffer::Auto);
    let r = f
        .render(&t, &conversation(), &[])
        .expect("renders without tools");
    assert!(!r.text.contains("You can call functions"), "{}", r.text);
    assert!(
        r.text.contains("```tool_output\nwrote 14 bytes\n```"),
        "{}",
        r.text
    );
}

#[test]
fn compact_tools_keep_an_argument_called_description() {
    let mut t = write_tool();
    t.parameters = json!({"type": "object", "properties": {"description": {"type": "string", "description": "Body."}}});
    let small = compact(&[t]);
    assert_eq!(
        small[0].parameters,
        json!({"type": "object", "properties": {"description": {"type": "string"}}})
    );
}
