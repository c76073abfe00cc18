//! The HTTP providers against real sockets: `OpenAiProvider` driven through the scripted
//! fake OpenAI server of `tests/common/fake_openai.rs` (which these tests exercise too),
//! alone and inside a failover `Chain`.

mod common;

use common::fake_openai::{FAKE_MODEL, FakeOpenAi, Reply};
use hearth::core::{ChatMessage, Role, ToolCall, ToolSpec};
use hearth::provider::failover::{
    CallParams, Chain, CooldownStore, FailoverNote, ModelRef, ProfileHealth, Route,
};
use hearth::provider::openai::OpenAiProvider;
use hearth::provider::{
    AuthProfile, ChatRequest, ChatResponse, FinishReason, Provider, ProviderError, Secret,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn provider(fake: &FakeOpenAi) -> OpenAiProvider {
    OpenAiProvider::new(
        "fake".into(),
        fake.base_url(),
        vec![("x-title".into(), "hearth-tests".into())],
    )
}

fn key(value: Option<&str>) -> AuthProfile {
    AuthProfile {
        id: "fake:default".into(),
        api_key: value.map(Secret::new),
    }
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "read".into(),
        description: "Reads a file.".into(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    }]
}

/// One call with a short conversation; returns the result and the deltas the sink saw.
/// `cancel_after` cancels the token once that many deltas arrived.
fn call_with(
    p: &OpenAiProvider,
    auth: &AuthProfile,
    timeout: Duration,
    cancel_after: Option<usize>,
) -> (Result<ChatResponse, ProviderError>, Vec<String>) {
    let messages = [
        ChatMessage::text(Role::System, "You are terse."),
        ChatMessage::text(Role::User, "say hello"),
    ];
    let tools = tools();
    let req = ChatRequest {
        model: "gpt-test",
        messages: &messages,
        tools: &tools,
        max_tokens: 50,
        temperature: 0.0,
        seed: 7,
        timeout,
    };
    let cancel = CancellationToken::new();
    let mut deltas = Vec::new();
    let result = p.chat(
        &req,
        auth,
        &mut |d: &str| {
            deltas.push(d.to_string());
            if cancel_after.is_some_and(|n| deltas.len() >= n) {
                cancel.cancel();
            }
        },
        &cancel,
    );
    (result, deltas)
}

fn call(fake: &FakeOpenAi) -> (Result<ChatResponse, ProviderError>, Vec<String>) {
    call_with(
        &provider(fake),
        &key(Some("sk-test")),
        Duration::from_secs(10),
        None,
    )
}

#[test]
fn openai_streams_text_in_chunks_and_reads_usage() {
    let fake = FakeOpenAi::start(vec![Reply::Text("Hello there, friend.".into())]);
    let (result, deltas) = call(&fake);
    let reply = result.unwrap();
    assert_eq!(deltas, ["Hello ", "there, ", "friend."]);
    assert_eq!(reply.message.role, Role::Assistant);
    assert_eq!(reply.message.content, "Hello there, friend.");
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    assert_eq!(
        (reply.usage.prompt_tokens, reply.usage.completion_tokens),
        (5, 3)
    );
}

#[test]
fn openai_sends_the_chat_completions_request() {
    let fake = FakeOpenAi::start(vec![Reply::Text("ok".into())]);
    call(&fake).0.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r["method"].as_str(), r["path"].as_str()),
        (Some("POST"), Some("/v1/chat/completions"))
    );
    assert_eq!(r["authorization"], "Bearer sk-test");
    assert_eq!(r["headers"]["x-title"], "hearth-tests");
    let body = &r["body"];
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(
        (
            body["stream"].as_bool(),
            body["stream_options"]["include_usage"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(
        (
            body["max_tokens"].as_u64(),
            body["seed"].as_u64(),
            body["temperature"].as_f64()
        ),
        (Some(50), Some(7), Some(0.0))
    );
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"][0],
        "path"
    );
}

#[test]
fn openai_without_a_key_sends_no_authorization() {
    let fake = FakeOpenAi::start(vec![Reply::Text("ok".into())]);
    call_with(&provider(&fake), &key(None), Duration::from_secs(10), None)
        .0
        .unwrap();
    assert!(fake.requests()[0]["authorization"].is_null());
}

#[test]
fn openai_tool_calls_with_split_arguments() {
    let fake = FakeOpenAi::start(vec![Reply::ToolCalls(vec![
        ("read".into(), r#"{"path": "notes/today.md"}"#.into()),
        ("read".into(), r#"{"path": "a b/ü.txt"}"#.into()),
    ])]);
    let (result, deltas) = call(&fake);
    let reply = result.unwrap();
    assert!(deltas.is_empty(), "{deltas:?}");
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    let calls: Vec<(&str, &serde_json::Value)> = reply
        .message
        .tool_calls
        .iter()
        .map(|c: &ToolCall| (c.name.as_str(), &c.arguments))
        .collect();
    assert_eq!(
        calls,
        [
            ("read", &json!({"path": "notes/today.md"})),
            ("read", &json!({"path": "a b/ü.txt"}))
        ]
    );
    let ids: Vec<&str> = reply
        .message
        .tool_calls
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["call_fake0_0", "call_fake0_1"]);
}

#[test]
fn openai_accepts_a_non_streaming_answer() {
    let fake = FakeOpenAi::start(vec![Reply::TextNoStream("Whole answer.".into())]);
    let (result, deltas) = call(&fake);
    let reply = result.unwrap();
    assert_eq!(deltas, ["Whole answer."]);
    assert_eq!(
        (reply.finish_reason, reply.usage.completion_tokens),
        (FinishReason::Stop, 2)
    );
}

#[test]
fn openai_rate_limit_with_retry_after() {
    let fake = FakeOpenAi::start(vec![Reply::Status(
        429,
        r#"{"error":{"message":"slow down"}}"#.into(),
        Some(12),
    )]);
    let err = call(&fake).0.unwrap_err();
    assert!(
        matches!(&err, ProviderError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(12)),
        "{err:?}"
    );
}

#[test]
fn openai_http_statuses_map_to_errors() {
    let fake = FakeOpenAi::start(vec![
        Reply::Status(500, r#"{"error":{"message":"boom"}}"#.into(), None),
        Reply::Status(401, r#"{"error":{"message":"bad key"}}"#.into(), None),
        Reply::Status(400, r#"{"error":{"message":"bad model"}}"#.into(), None),
    ]);
    let err = call(&fake).0.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Server { status: 500, detail, .. } if detail.contains("boom")),
        "{err:?}"
    );
    let err = call(&fake).0.unwrap_err();
    assert!(
        matches!(err, ProviderError::Auth { status: 401, .. }),
        "{err:?}"
    );
    let err = call(&fake).0.unwrap_err();
    assert!(
        matches!(&err, ProviderError::BadRequest { status: 400, detail, .. } if detail.contains("bad model")),
        "{err:?}"
    );
}

#[test]
fn openai_script_repeats_its_last_reply() {
    let fake = FakeOpenAi::start(vec![
        Reply::Status(503, "{}".into(), None),
        Reply::Text("again".into()),
    ]);
    assert!(call(&fake).0.is_err());
    assert_eq!(call(&fake).0.unwrap().message.content, "again");
    assert_eq!(call(&fake).0.unwrap().message.content, "again");
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn openai_connection_refused_is_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let p = OpenAiProvider::new("gone".into(), format!("http://{addr}/v1"), Vec::new());
    let err = call_with(&p, &key(None), Duration::from_secs(5), None)
        .0
        .unwrap_err();
    assert!(matches!(err, ProviderError::Connect { .. }), "{err:?}");
    assert!(err.cools_down());
}

#[test]
fn openai_hang_times_out() {
    let fake = FakeOpenAi::start(vec![Reply::Hang]);
    let started = Instant::now();
    let timeout = Duration::from_millis(300);
    let err = call_with(&provider(&fake), &key(None), timeout, None)
        .0
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Timeout { after, .. } if after == timeout),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn openai_garbage_is_bad_response() {
    let fake = FakeOpenAi::start(vec![Reply::Garbage]);
    let err = call(&fake).0.unwrap_err();
    let ProviderError::BadResponse { detail, .. } = &err else {
        panic!("expected BadResponse, got {err:?}")
    };
    assert!(detail.starts_with("chunk 1: expected JSON"), "{detail}");
}

#[test]
fn openai_stream_without_any_choice_is_bad_response() {
    let fake = FakeOpenAi::start(vec![Reply::NoChoices]);
    let (result, deltas) = call(&fake);
    let err = result.unwrap_err();
    let ProviderError::BadResponse { detail, .. } = &err else {
        panic!("expected BadResponse, got {err:?}")
    };
    assert!(detail.contains("without any choice"), "{detail}");
    assert!(!err.cools_down());
    assert!(deltas.is_empty());
}

/// An in-memory [`CooldownStore`].
#[derive(Default)]
struct Cooldowns(Mutex<BTreeMap<String, ProfileHealth>>);

impl CooldownStore for Cooldowns {
    fn health(&self, profile_id: &str) -> ProfileHealth {
        let map = self.0.lock().unwrap();
        map.get(profile_id).cloned().unwrap_or_default()
    }
    fn set_health(&self, profile_id: &str, health: &ProfileHealth) {
        let mut map = self.0.lock().unwrap();
        map.insert(profile_id.to_string(), health.clone());
    }
}

#[test]
fn the_failover_chain_moves_on_from_an_empty_stream() {
    let empty = FakeOpenAi::start(vec![Reply::NoChoices]);
    let good = FakeOpenAi::start(vec![Reply::Text("from the second".into())]);
    let route = |fake: &FakeOpenAi, name: &str| Route {
        provider: Arc::new(OpenAiProvider::new(
            name.into(),
            fake.base_url(),
            Vec::new(),
        )),
        profiles: vec![AuthProfile {
            id: format!("{name}:default"),
            api_key: None,
        }],
        context_window: 4096,
        tools: false,
    };
    let routes = BTreeMap::from([
        ("empty".to_string(), route(&empty, "empty")),
        ("good".to_string(), route(&good, "good")),
    ]);
    let models = vec![
        ModelRef::parse("empty/m").unwrap(),
        ModelRef::parse("good/m").unwrap(),
    ];
    let chain = Chain::new(routes, models, Arc::new(Cooldowns::default())).unwrap();
    let params = CallParams {
        tools: Vec::new(),
        max_tokens: 50,
        temperature: 0.0,
        seed: 1,
        timeout: Duration::from_secs(10),
    };
    let mut notes = Vec::new();
    let answer = chain
        .call(
            &params,
            None,
            &|_, _| vec![ChatMessage::text(Role::User, "hi")],
            &mut |_: &str| {},
            &CancellationToken::new(),
            &mut |n: &FailoverNote| notes.push(n.clone()),
        )
        .unwrap();
    assert_eq!(answer.model, "good/m");
    assert_eq!(answer.response.message.content, "from the second");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].model.as_str(), notes[0].reason.as_str()),
        ("empty/m", "bad_response")
    );
    assert_eq!(notes[0].cooldown_until_ms, None);
}

#[test]
fn openai_cancel_between_chunks() {
    let fake = FakeOpenAi::start(vec![Reply::Text("one two three four five six".into())]);
    let (result, deltas) = call_with(
        &provider(&fake),
        &key(None),
        Duration::from_secs(10),
        Some(2),
    );
    assert!(
        matches!(result, Err(ProviderError::Cancelled)),
        "{result:?}"
    );
    assert_eq!(deltas.len(), 2);
}

#[test]
fn fake_lists_models_and_answers_non_streaming_requests() {
    let fake = FakeOpenAi::start(vec![Reply::Text("plain".into())]);
    let agent = ureq::Agent::new_with_defaults();
    let text = agent
        .get(format!("{}/models", fake.base_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let models: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(models["data"][0]["id"], FAKE_MODEL);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let mut response = agent
        .post(format!("{}/chat/completions", fake.base_url()))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let completion: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["choices"][0]["message"]["content"], "plain");
    assert!(fake.requests()[0]["body"]["stream"].is_null());
}
