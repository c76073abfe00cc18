//! Client tools (the mixed-tool rule of the Ollama and OpenAI APIs): a model call of a
//! client's tool ends the turn with the call, Hearth's own tools in the same step run
//! inside Hearth, and the client's results continue the turn on the same session.

use super::tests::{Reply, events, rig};
use super::*;
use crate::core::{
    ClientToolResult, ClientTurn, DropPolicy, EventKind, Origin, QueueMode, Role, ToolSpec,
};

const K: &str = "agent:main:ollama:test";

fn assist() -> ClientTurn {
    ClientTurn {
        system: Some("Exposed entities: light.kitchen".into()),
        tools: vec![ToolSpec {
            name: "HassTurnOn".into(),
            description: "Turns on a device".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}}}),
        }],
        tool_results: Vec::new(),
    }
}

fn submission(text: &str, client: ClientTurn) -> Submission {
    Submission {
        client: Some(client),
        ..Submission::new(
            SessionKey::parse(K).expect("key"),
            Origin::gateway("ws"),
            text.into(),
        )
    }
}

#[tokio::test]
async fn a_client_tool_call_stops_the_turn_and_its_result_continues_it() {
    let script = vec![
        Reply::Calls(&["note", "HassTurnOn"]),
        Reply::Text("The kitchen light is on."),
    ];
    let mut r = rig(QueueMode::Collect, 20, DropPolicy::Summarize, script);
    let (_, f) =
        r.d.submit(submission("turn on the kitchen light", assist()))
            .await
            .expect("accepted");
    let seen = r.call().await;
    assert!(
        seen[0].role == Role::System && seen[0].content.contains("Exposed entities: light.kitchen"),
        "the client's system prompt reaches the model: {:?}",
        seen[0]
    );
    let evs = events(f).await;
    // Hearth's own tool ran inside Hearth; the client's call ends the turn.
    assert!(
        evs.iter()
            .any(|e| matches!(e, EventKind::ToolFinished(o) if o.name == "note"))
    );
    assert!(
        !evs.iter()
            .any(|e| matches!(e, EventKind::ToolStarted { name, .. } if name == "HassTurnOn"))
    );
    let Some(EventKind::Finished { tool_calls, .. }) = evs.last() else {
        panic!("the turn finished: {evs:?}");
    };
    assert_eq!(tool_calls.len(), 1);
    assert_eq!(tool_calls[0].name, "HassTurnOn");
    assert_eq!(tool_calls[0].arguments["name"], "kitchen");
    let t = r.transcript(K);
    assert_eq!(
        t.iter().map(|(role, _)| *role).collect::<Vec<_>>(),
        [Role::User, Role::Assistant, Role::Tool],
        "the step is committed with Hearth's result only: {t:?}"
    );

    // The client ran HassTurnOn and sends its result (no call id, as Ollama clients do).
    let mut more = assist();
    more.tool_results = vec![ClientToolResult {
        call_id: None,
        content: "{\"speech\": \"Turned on the light\"}".into(),
    }];
    let (_, f) = r.d.submit(submission("", more)).await.expect("accepted");
    let seen = r.call().await;
    let tools: Vec<(&str, &str)> = seen
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| (m.tool_call_id.as_deref().unwrap_or(""), m.content.as_str()))
        .collect();
    assert_eq!(
        tools,
        [
            ("call_note", "noted"),
            ("call_HassTurnOn", "{\"speech\": \"Turned on the light\"}")
        ]
    );
    assert!(
        !seen
            .iter()
            .any(|m| m.role == Role::User && m.content.is_empty()),
        "a continuation adds no empty user message"
    );
    let end = events(f).await.pop().expect("final");
    assert!(matches!(&end, EventKind::Finished { text, tool_calls, .. }
        if text == "The kitchen light is on." && tool_calls.is_empty()));
    let roles: Vec<Role> = r.transcript(K).iter().map(|(role, _)| *role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::Assistant
        ]
    );
}

#[tokio::test]
async fn a_call_the_client_never_answers_gets_a_result_saying_so() {
    let script = vec![Reply::Calls(&["HassTurnOn"]), Reply::Text("ok")];
    let mut r = rig(QueueMode::Collect, 20, DropPolicy::Summarize, script);
    let (_, f) =
        r.d.submit(submission("lights on", assist()))
            .await
            .expect("accepted");
    let _ = r.call().await;
    let _ = events(f).await;
    // The user moves on without the result: the model still gets a well-formed history.
    let (_, f) =
        r.d.submit(submission("never mind", assist()))
            .await
            .expect("accepted");
    let seen = r.call().await;
    let at = seen
        .iter()
        .position(|m| !m.tool_calls.is_empty())
        .expect("the call");
    assert_eq!(seen[at + 1].role, Role::Tool);
    assert_eq!(
        seen[at + 1].tool_call_id.as_deref(),
        Some("call_HassTurnOn")
    );
    assert!(seen[at + 1].content.contains("never run"));
    assert_eq!(seen[at + 2].content, "never mind");
    let _ = events(f).await;
}
