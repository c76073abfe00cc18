//! The streaming splitter per format.

use super::*;
use serde_json::json;

/// Feeds `text` in chunks of `n` characters and checks that the deltas make the content.
fn run(format: Option<ToolFormat>, text: &str, n: usize) -> Filtered {
    let mut f = OutputFilter::new(format);
    let mut streamed = String::new();
    let chars: Vec<char> = text.chars().collect();
    for chunk in chars.chunks(n) {
        streamed.push_str(&f.push(&chunk.iter().collect::<String>()));
    }
    let out = f.finish();
    streamed.push_str(&out.last);
    assert_eq!(streamed, out.content, "deltas concatenate to the content");
    out
}

const H: Option<ToolFormat> = Some(ToolFormat::Hermes);

#[test]
fn hermes_calls_parse_and_keep_surrounding_text() {
    let text = "Let me look.\n<tool_call>\n{\"name\": \"read\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call>\n";
    for n in [1, 3, 7, 100] {
        let out = run(H, text, n);
        assert_eq!(out.content, "Let me look.");
        assert_eq!(
            out.calls,
            vec![("read".to_string(), json!({"path": "a.txt"}))]
        );
        assert!(out.malformed.is_empty());
    }
    let text = "<tool_call>[{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}, {\"name\": \"b\"}]</tool_call>";
    let out = run(H, text, 4);
    assert_eq!(
        out.calls,
        vec![("a".into(), json!({"x": 1})), ("b".into(), json!({}))]
    );
    // Cut off before the closing tag: accepted when the body is whole.
    let out = run(H, "<tool_call>{\"name\": \"c\", \"arguments\": {}}", 5);
    assert_eq!(out.calls, vec![("c".into(), json!({}))]);
}

#[test]
fn malformed_calls_are_reported_not_shown() {
    let out = run(
        H,
        "Hi <tool_call>{\"name\": \"read\", \"arguments\": {\"path\": }</tool_call> there",
        2,
    );
    assert!(out.calls.is_empty());
    assert_eq!(out.content, "Hi  there");
    assert_eq!(out.malformed.len(), 1);
    assert!(
        out.malformed[0].starts_with("the call is not valid JSON"),
        "{:?}",
        out.malformed
    );
    let out = run(H, "<tool_call>{\"arguments\": {}}</tool_call>", 3);
    assert!(
        out.malformed[0].starts_with("the call has no \"name\""),
        "{:?}",
        out.malformed
    );
    let out = run(H, "a <tool b <tool_c", 1);
    assert_eq!(out.content, "a <tool b <tool_c");
}

#[test]
fn llama3_json_is_a_call_only_as_the_whole_answer() {
    let l = Some(ToolFormat::Llama3Json);
    let out = run(
        l,
        " {\"name\": \"write\", \"parameters\": {\"path\": \"a\"}}",
        3,
    );
    assert_eq!(out.calls, vec![("write".into(), json!({"path": "a"}))]);
    assert_eq!(out.content, "");
    let out = run(
        l,
        "{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {}}",
        5,
    );
    assert_eq!(out.calls.len(), 2);
    let out = run(l, "{\"host\": \"a\", \"port\": 1}", 4);
    assert!(
        out.calls.is_empty() && out.malformed.is_empty(),
        "JSON asked for is text"
    );
    assert_eq!(out.content, "{\"host\": \"a\", \"port\": 1}");
    let out = run(l, "Use {braces} like this.", 2);
    assert!(out.calls.is_empty() && out.malformed.is_empty());
    assert_eq!(out.content, "Use {braces} like this.");
}

#[test]
fn gemma_tool_code_blocks_parse_as_python_calls() {
    let g = Some(ToolFormat::GemmaToolCode);
    let text = "Sure.\n```tool_code\nwrite(path=\"note.txt\", content='blue flowerpot')\n```";
    for n in [1, 4, 50] {
        let out = run(g, text, n);
        assert_eq!(out.content, "Sure.");
        assert_eq!(
            out.calls,
            vec![(
                "write".into(),
                json!({"path": "note.txt", "content": "blue flowerpot"})
            )]
        );
    }
    let code = "```tool_code\nwrite(path=\"a.md\", content=\"```rust\\nfn main() {}\\n```\")\n```";
    let out = run(g, code, 5);
    assert_eq!(out.calls[0].1["content"], "```rust\nfn main() {}\n```");
    let out = run(g, "```tool_code\nwrite(\"note.txt\")\n```", 3);
    assert_eq!(out.malformed.len(), 1, "positional arguments are refused");
    let out = run(g, "```python\nprint(1)\n```", 3);
    assert_eq!(
        out.content, "```python\nprint(1)\n```",
        "other code blocks are text"
    );
}

#[test]
fn a_leading_think_block_is_dropped_and_no_tools_means_text() {
    let out = run(H, "<think>\nhmm\n</think>\n\nParis.", 2);
    assert_eq!(out.content, "Paris.");
    let out = run(None, "\n  <tool_call>{\"name\": \"x\"}</tool_call>  \n", 3);
    assert!(out.calls.is_empty());
    assert_eq!(out.content, "<tool_call>{\"name\": \"x\"}</tool_call>");
    let out = run(None, "Paris.\n\nYes. \n", 1);
    assert_eq!(out.content, "Paris.\n\nYes.");
}
