//! End to end through the dispatcher, the agent loop and the real `write` tool with the
//! on-device provider on real weights (SmolLM2-135M, `HEARTH_TEST_MODELS`; the test fails
//! without them). The model's choices are scripted token by token (a 135M model does not
//! call tools reliably), but every token still runs through the forward pass, the template,
//! the tool-call parser and the schema check: the call is parsed out of the model's stream,
//! the agent runs it in the workspace, and the result goes back into the next prompt.

use super::tests::{agent, open_store, temp_dir};
use super::*;
use crate::core::{DropPolicy, EventKind, Origin, QueueMode, Role};
use crate::provider::local::tests::{MODEL, model_path, options};
use crate::provider::local::{LocalProvider, ToolOffer};
use crate::tool::Registry;
use crate::tool::fs::WriteTool;

#[tokio::test]
async fn the_local_model_calls_write_then_answers() {
    let dir = temp_dir();
    let store = open_store(&dir);
    let provider = Arc::new(LocalProvider::new(crate::provider::local::LocalOptions {
        tools: ToolOffer::Always, // SmolLM2's ChatML template has no tool format of its own
        ..options(model_path(), 2048)
    }));
    provider.script(&[
        "<tool_call>\n{\"name\": \"write\", \"arguments\": {\"path\": \"notes/key.txt\", \"content\": \"The spare key is under the blue flowerpot.\"}}\n</tool_call>",
        "Saved: the spare key is under the blue flowerpot (notes/key.txt).",
    ]);
    let model = format!("local/{MODEL}");
    let agent = agent(&store, &dir, (&model, provider.clone(), 2048), |ws| {
        let mut tools = Registry::new();
        tools.insert(Arc::new(WriteTool::new(ws)));
        tools
    });
    let queue = QueueSettings {
        mode: QueueMode::Followup,
        debounce_ms: 0,
        cap: 20,
        drop: DropPolicy::Old,
    };
    let d = Dispatcher::new(
        store,
        agent,
        DispatcherOptions {
            queue,
            by_channel: BTreeMap::new(),
            max_concurrent_runs: 1,
            delivery: DeliveryOptions::default(),
        },
    );
    let key = "agent:main:main";
    let (_, follow) = d
        .submit(Submission::new(
            SessionKey::parse(key).expect("key"),
            Origin::gateway("ws"),
            "Remember: the spare key is under the blue flowerpot.".into(),
        ))
        .await
        .expect("accepted");
    let events = super::tests::events(follow).await;

    let tool = events.iter().find_map(|e| match e {
        EventKind::ToolFinished(o) => Some(o),
        _ => None,
    });
    let tool = tool.unwrap_or_else(|| panic!("no tool ran: {events:?}"));
    assert_eq!(tool.name, "write");
    assert!(!tool.is_error, "{}", tool.result);
    assert_eq!(
        std::fs::read_to_string(dir.join("workspace/notes/key.txt")).expect("written"),
        "The spare key is under the blue flowerpot."
    );
    match events.last() {
        Some(EventKind::Finished { text, model: m, .. }) => {
            assert_eq!(
                text,
                "Saved: the spare key is under the blue flowerpot (notes/key.txt)."
            );
            assert_eq!(m.as_deref(), Some(model.as_str()));
        }
        other => panic!("the turn did not finish: {other:?}"),
    }
    let transcript: Vec<_> = d
        .history(key, 100)
        .expect("history")
        .into_iter()
        .map(|e| e.message)
        .collect();
    let roles: Vec<_> = transcript.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    assert_eq!(transcript[1].tool_calls[0].name, "write");
    assert_eq!(
        transcript[1].tool_calls[0].arguments["path"],
        "notes/key.txt"
    );
    assert_eq!(provider.loaded_model().as_deref(), Some(MODEL));
    let _ = std::fs::remove_dir_all(&dir);
}
