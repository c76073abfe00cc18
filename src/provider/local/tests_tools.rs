//! Tool calls through the real SmolLM2 model and template, driven by a token script (the
//! model's forward pass runs on every scripted token; only the choice is fixed): a call to
//! `write` then an answer, a re-ask after an unusable call, failover after two, stop texts.

use super::generate::{self, Generated, Limits};
use super::gguf::LoadedModel;
use super::tests::{load_model, model_path, request};
use super::*;
use crate::core::{ChatMessage, Role, ToolCall, ToolSpec};
use crate::provider::FinishReason;
use std::collections::VecDeque;
use std::sync::Mutex;

fn write_tool() -> ToolSpec {
    ToolSpec {
        name: "write".into(),
        description: "Write a text file in the workspace.".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
            "additionalProperties": false,
        }),
    }
}

/// Token ids of `text` followed by `<|im_end|>`.
fn said(model: &LoadedModel, text: &str) -> Vec<u32> {
    let mut ids = model.tokenizer.encode_literal(text);
    ids.push(model.tokenizer.token_id("<|im_end|>").expect("ChatML"));
    ids
}

fn run(
    model: &mut LoadedModel,
    msgs: &[ChatMessage],
    tools: &[ToolSpec],
    script: Vec<Vec<u32>>,
    stop: &[String],
) -> (Result<Generated, ProviderError>, String) {
    let queue = Mutex::new(VecDeque::from(script));
    let limits = Limits {
        window: 2048,
        deadline: Instant::now() + Duration::from_secs(300),
        next_call_id: 0,
        sampling: Sampling::default(),
        stop,
        forced: Some(&queue),
    };
    let mut streamed = String::new();
    let r = generate::generate(
        model,
        &request(msgs, tools, 128),
        &mut |d: &str| streamed.push_str(d),
        &CancellationToken::new(),
        &limits,
    );
    assert!(
        queue.lock().expect("script").is_empty(),
        "every attempt ran"
    );
    (r, streamed)
}

#[test]
fn a_scripted_write_call_then_an_answer() {
    let mut model = load_model(&model_path());
    let tools = [write_tool()];
    let mut msgs = vec![
        ChatMessage::text(Role::System, "You keep notes."),
        ChatMessage::text(
            Role::User,
            "Remember: the spare key is under the blue flowerpot.",
        ),
    ];
    let call = said(
        &model,
        "<tool_call>\n{\"name\": \"write\", \"arguments\": {\"path\": \"key.txt\", \"content\": \"under the blue flowerpot\"}}\n</tool_call>",
    );
    let (r, streamed) = run(&mut model, &msgs, &tools, vec![call], &[]);
    let first = r.expect("a call");
    assert_eq!(streamed, "");
    assert_eq!(first.response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        first.response.message.tool_calls,
        vec![ToolCall {
            id: "call_local_0".into(),
            name: "write".into(),
            arguments: serde_json::json!({"path": "key.txt", "content": "under the blue flowerpot"}),
        }]
    );
    msgs.push(first.response.message.clone());
    msgs.push(ChatMessage::tool_result(
        "call_local_0",
        "write",
        "wrote 24 bytes to key.txt",
    ));
    let answer = said(
        &model,
        "Noted: the key is under the blue flowerpot (saved in key.txt).",
    );
    let (r, streamed) = run(&mut model, &msgs, &tools, vec![answer], &[]);
    let second = r.expect("an answer");
    assert_eq!(second.response.finish_reason, FinishReason::Stop);
    assert_eq!(
        second.response.message.content,
        "Noted: the key is under the blue flowerpot (saved in key.txt)."
    );
    assert_eq!(streamed, second.response.message.content);
    assert!(second.response.message.tool_calls.is_empty());
    // The system prompt with its tool list and the first user turn come from the cache.
    assert!(
        second.reused_tokens > 100,
        "reused {}",
        second.reused_tokens
    );
}

#[test]
fn an_unusable_call_is_asked_again_once_then_fails_over() {
    let mut model = load_model(&model_path());
    let tools = [write_tool()];
    let msgs = [ChatMessage::text(Role::User, "Save 'hi' to a.txt")];
    let bad = said(
        &model,
        "<tool_call>\n{\"name\": \"write\", \"arguments\": {\"path\": 5}}\n</tool_call>",
    );
    let unknown = said(
        &model,
        "<tool_call>{\"name\": \"save\", \"arguments\": {}}</tool_call>",
    );
    let good = said(
        &model,
        "<tool_call>{\"name\": \"write\", \"arguments\": {\"path\": \"a.txt\", \"content\": \"hi\"}}</tool_call>",
    );

    let mut bad_with_text = said(&model, "Saving it.\n");
    bad_with_text.pop();
    bad_with_text.extend(&bad);
    let (r, streamed) = run(&mut model, &msgs, &tools, vec![bad_with_text, good], &[]);
    let g = r.expect("the re-ask got a valid call");
    // What the first attempt showed stays the start of the answer.
    assert_eq!(streamed, "Saving it.");
    assert_eq!(g.response.message.content, streamed);
    assert_eq!(g.response.message.tool_calls.len(), 1);
    assert_eq!(g.response.message.tool_calls[0].arguments["content"], "hi");

    let (r, _) = run(&mut model, &msgs, &tools, vec![bad, unknown], &[]);
    match r {
        Err(ProviderError::BadResponse { provider, detail }) => {
            assert_eq!(provider, "local");
            assert!(detail.contains("after a re-ask"), "{detail}");
            assert!(
                detail.contains("there is no tool `save` (the tools are: write)"),
                "{detail}"
            );
        }
        other => panic!(
            "expected a failover error, got {:?}",
            other.map(|g| g.response)
        ),
    }
}

#[test]
fn a_stop_text_ends_the_answer_before_it() {
    let mut model = load_model(&model_path());
    let msgs = [ChatMessage::text(Role::User, "Count.")];
    let script = said(&model, "one two\nUser: three");
    let (r, streamed) = run(
        &mut model,
        &msgs,
        &[],
        vec![script],
        &["\nUser:".to_string()],
    );
    let g = r.expect("answer");
    assert_eq!(g.response.message.content, "one two");
    assert_eq!(streamed, "one two");
    assert_eq!(g.response.finish_reason, FinishReason::Stop);
}
