//! In-process tests of the dispatcher: a real LMDB store in a temp dir, a scripted provider
//! (it can hold a model call until the test releases it, so a turn is busy exactly as long
//! as the test needs), a `note` tool, and paused tokio time for the debounce. Tokio does not
//! auto-advance paused time while a blocking task (the provider) runs, so timers stay put.

use super::*;
use crate::agent::AgentOptions;
use crate::core::{DropPolicy, EventKind, Origin, QueueMode, Role, ToolCall, ToolSpec, now_ms};
use crate::provider::failover::{CallParams, CooldownStore, ModelRef, ProfileHealth, Route};
use crate::provider::{
    AuthProfile, ChatRequest, ChatResponse, DeltaSink, FinishReason, Provider, ProviderError,
};
use crate::storage::StoreOptions;
use crate::tool::{Registry, Tool, ToolError};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

#[derive(Clone)]
pub(super) enum Reply {
    Text(&'static str),
    Tool,
    /// Calls these tools (ids `call_<name>`).
    Calls(&'static [&'static str]),
    /// Wait for the test's release (or the cancel switch), then reply.
    Hold(Box<Reply>),
}

struct Scripted {
    script: Mutex<VecDeque<Reply>>,
    calls: UnboundedSender<Vec<ChatMessage>>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Provider for Scripted {
    fn name(&self) -> &str {
        "fake"
    }
    fn chat(
        &self,
        req: &ChatRequest<'_>,
        _auth: &AuthProfile,
        sink: &mut DeltaSink<'_>,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, ProviderError> {
        let _ = self.calls.send(req.messages.to_vec());
        let mut reply = self.script.lock().expect("script").pop_front();
        while let Some(Reply::Hold(next)) = reply {
            let rx = self.release.lock().expect("release");
            loop {
                if cancel.is_cancelled() {
                    return Err(ProviderError::Cancelled);
                }
                match rx.recv_timeout(std::time::Duration::from_millis(5)) {
                    Ok(()) => break,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(_) => return Err(ProviderError::Cancelled),
                }
            }
            reply = Some(*next);
        }
        let message = match reply {
            Some(Reply::Tool) => ChatMessage {
                tool_calls: vec![ToolCall {
                    id: format!("call_{}", now_ms()),
                    name: "note".into(),
                    arguments: serde_json::json!({}),
                }],
                ..ChatMessage::text(Role::Assistant, "")
            },
            Some(Reply::Calls(names)) => ChatMessage {
                tool_calls: names
                    .iter()
                    .map(|n| ToolCall {
                        id: format!("call_{n}"),
                        name: n.to_string(),
                        arguments: serde_json::json!({"name": "kitchen"}),
                    })
                    .collect(),
                ..ChatMessage::text(Role::Assistant, "")
            },
            Some(Reply::Text(t)) => {
                sink(t);
                ChatMessage::text(Role::Assistant, t)
            }
            _ => {
                let last = req.messages.iter().rev().find(|m| m.role == Role::User);
                let t = format!("echo: {}", last.map_or("", |m| m.content.as_str()));
                sink(&t);
                ChatMessage::text(Role::Assistant, t)
            }
        };
        Ok(ChatResponse {
            finish_reason: if message.tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            },
            message,
            usage: Default::default(),
        })
    }
}

struct Note;
impl Tool for Note {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "note".into(),
            description: "Takes a note.".into(),
            parameters: serde_json::json!({"type": "object"}),
        }
    }
    fn call(
        &self,
        _ctx: &crate::tool::ToolCtx,
        _args: &serde_json::Value,
    ) -> Result<String, ToolError> {
        Ok("noted".into())
    }
}

struct NoCooldowns;
impl CooldownStore for NoCooldowns {
    fn health(&self, _: &str) -> ProfileHealth {
        ProfileHealth::default()
    }
    fn set_health(&self, _: &str, _: &ProfileHealth) {}
}

pub(super) struct Rig {
    pub(super) d: Dispatcher,
    calls: UnboundedReceiver<Vec<ChatMessage>>,
    release: std::sync::mpsc::Sender<()>,
}

pub(super) fn temp_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "hearth-router-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The store under `dir/store`, waiting for a dropped dispatcher's writer thread that may
/// still hold the environment for a moment.
pub(super) fn open_store(dir: &Path) -> Store {
    let mut tries = 0;
    loop {
        match Store::open(
            &dir.join("store"),
            StoreOptions {
                map_size_bytes: 64 << 20,
            },
        ) {
            Ok(s) => break s,
            Err(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("store: {e}"),
        }
    }
}

/// The agent `main` over `store`, workspace `dir/workspace`, every tool allowed, one model
/// (`provider/model`, its provider, its context window in tokens), the tools `tools` makes
/// over the workspace.
pub(super) fn agent(
    store: &Store,
    dir: &Path,
    (model, provider, context_window): (&str, Arc<dyn Provider>, usize),
    tools: impl FnOnce(Arc<crate::workspace::Workspace>) -> Registry,
) -> Agent {
    let workspace =
        Arc::new(crate::workspace::Workspace::open(&dir.join("workspace")).expect("workspace"));
    let name = model.split('/').next().expect("provider/model");
    let route = Route {
        provider,
        profiles: vec![AuthProfile {
            id: format!("{name}:default"),
            api_key: None,
        }],
        context_window,
        tools: true,
    };
    let chain = Chain::new(
        [(name.to_string(), route)].into(),
        vec![ModelRef::parse(model).expect("ref")],
        Arc::new(NoCooldowns),
    )
    .expect("chain");
    Agent::new(
        store.clone(),
        chain,
        tools(workspace.clone()),
        AgentOptions {
            id: "main".into(),
            workspace,
            max_steps: 8,
            run_timeout: Duration::from_secs(600),
            call: CallParams {
                tools: Vec::new(),
                max_tokens: 256,
                temperature: 0.0,
                seed: 0,
                timeout: Duration::from_secs(60),
            },
            bootstrap_max_chars: 2000,
            compaction_threshold: 0.9,
            compaction_keep_turns: 4,
            memory_flush: false,
            prune_tool_result_chars: 4000,
            skills: None,
            policy: crate::tool::policy::Policy {
                direct: crate::tool::policy::Layer::profile(crate::tool::policy::Profile::Full),
                group: crate::tool::policy::Layer::profile(crate::tool::policy::Profile::Full),
                ..Default::default()
            },
        },
    )
}

pub(super) fn rig_in(dir: PathBuf, queue: QueueSettings, script: Vec<Reply>) -> Rig {
    rig_with(dir, queue, script, DeliveryOptions::default())
}

/// A rig with its own delivery settings.
pub(super) fn rig_with(
    dir: PathBuf,
    queue: QueueSettings,
    script: Vec<Reply>,
    delivery: DeliveryOptions,
) -> Rig {
    let store = open_store(&dir);
    let (calls_tx, calls) = unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let provider = Arc::new(Scripted {
        script: Mutex::new(script.into()),
        calls: calls_tx,
        release: Mutex::new(release_rx),
    });
    let agent = agent(&store, &dir, ("fake/m", provider, 8192), |_| {
        let mut tools = Registry::new();
        tools.insert(Arc::new(Note));
        tools
    });
    let opts = DispatcherOptions {
        queue,
        by_channel: BTreeMap::new(),
        max_concurrent_runs: 4,
        delivery,
    };
    Rig {
        d: Dispatcher::new(store, agent, opts),
        calls,
        release,
    }
}

pub(super) fn rig(mode: QueueMode, cap: usize, drop: DropPolicy, script: Vec<Reply>) -> Rig {
    let q = QueueSettings {
        mode,
        debounce_ms: 500,
        cap,
        drop,
    };
    rig_in(temp_dir(), q, script)
}

pub(super) fn hold(r: Reply) -> Reply {
    Reply::Hold(Box::new(r))
}

pub(super) fn msg(text: &str) -> InboundMessage {
    InboundMessage {
        origin: Origin::gateway("ws"),
        text: text.into(),
        attachments: Vec::new(),
        ts_ms: now_ms(),
    }
}

impl Rig {
    pub(super) async fn send(
        &self,
        key: &str,
        text: &str,
    ) -> Result<(Accepted, Follow), DispatchError> {
        self.d
            .submit(Submission::new(
                SessionKey::parse(key).expect("key"),
                Origin::gateway("ws"),
                text.into(),
            ))
            .await
    }

    pub(super) async fn call(&mut self) -> Vec<ChatMessage> {
        self.calls.recv().await.expect("the provider was called")
    }

    pub(super) fn transcript(&self, key: &str) -> Vec<(Role, String)> {
        self.d
            .history(key, 100)
            .expect("history")
            .into_iter()
            .map(|e| (e.message.role, e.message.content))
            .collect()
    }
}

/// Every event up to the final one.
pub(super) async fn events(mut f: Follow) -> Vec<EventKind> {
    let mut out = Vec::new();
    while let Some(x) = f.next().await {
        if let Followed::Event(ev) = x {
            out.push(ev.kind);
        }
    }
    out
}

pub(super) async fn outcome(f: Follow) -> EventKind {
    events(f).await.pop().expect("a final event")
}

pub(super) fn text(k: &EventKind) -> &str {
    match k {
        EventKind::Finished { text, .. } => text,
        EventKind::Failed { status, .. } => status,
        _ => "",
    }
}

const K: &str = "agent:main:main";

fn roles(t: &[(Role, String)]) -> Vec<Role> {
    t.iter().map(|(r, _)| *r).collect()
}

#[tokio::test(start_paused = true)]
async fn followup_runs_one_turn_per_message_in_order() {
    let mut r = rig(
        QueueMode::Followup,
        20,
        DropPolicy::Old,
        vec![hold(Reply::Tool), Reply::Text("a1"), Reply::Text("a2")],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    let (_, f2) = r.send(K, "u2").await.expect("u2");
    r.release.send(()).expect("release");
    assert_eq!(text(&outcome(f1).await), "a1");
    assert_eq!(text(&outcome(f2).await), "a2");
    let t = r.transcript(K);
    use Role::*;
    assert_eq!(
        roles(&t),
        [User, Assistant, Tool, Assistant, User, Assistant],
        "{t:?}"
    );
    assert_eq!(
        (
            t[0].1.as_str(),
            t[3].1.as_str(),
            t[4].1.as_str(),
            t[5].1.as_str()
        ),
        ("u1", "a1", "u2", "a2")
    );
    assert_eq!(
        r.d.status().expect("status").inbox,
        0,
        "answered entries leave the inbox"
    );
}

#[tokio::test(start_paused = true)]
async fn collect_merges_arrivals_into_one_turn_after_the_debounce() {
    let mut r = rig(
        QueueMode::Collect,
        20,
        DropPolicy::Summarize,
        vec![hold(Reply::Text("a1")), Reply::Text("a2")],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    let (a2, f2) = r.send(K, "u2").await.expect("u2");
    tokio::time::advance(Duration::from_millis(200)).await;
    let (a3, f3) = r.send(K, "u3").await.expect("u3");
    let last_arrival = tokio::time::Instant::now();
    r.release.send(()).expect("release");
    assert_eq!(text(&outcome(f1).await), "a1");
    let seen = r.call().await;
    assert!(
        tokio::time::Instant::now() >= last_arrival + Duration::from_millis(500),
        "debounce"
    );
    assert_eq!(seen.last().map(|m| m.content.as_str()), Some("u2\n\nu3"));
    assert_eq!(text(&outcome(f2).await), "a2");
    assert_eq!(text(&outcome(f3).await), "a2");
    let w3 =
        r.d.wait(&a3.run_id, Duration::from_secs(1))
            .await
            .expect("wait");
    assert_eq!(
        w3.turn.as_deref(),
        Some(a2.run_id.as_str()),
        "u3 was answered by u2's turn"
    );
    let t = r.transcript(K);
    assert_eq!(
        t.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        ["u1", "a1", "u2\n\nu3", "a2"]
    );
}

#[tokio::test(start_paused = true)]
async fn steer_injects_at_the_next_step_boundary() {
    let mut r = rig(
        QueueMode::Steer,
        20,
        DropPolicy::Old,
        vec![hold(Reply::Tool), Reply::Text("done")],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    let (_, f2) = r.send(K, "u2").await.expect("u2");
    r.release.send(()).expect("release");
    let seen = r.call().await;
    assert_eq!(
        seen.last().map(|m| (m.role, m.content.as_str())),
        Some((Role::User, "u2"))
    );
    let ev = events(f1).await;
    assert!(
        ev.iter().any(|e| matches!(e, EventKind::Steered { .. })),
        "{ev:?}"
    );
    assert_eq!(text(ev.last().expect("final")), "done");
    assert_eq!(text(&outcome(f2).await), "done");
    use Role::*;
    assert_eq!(
        roles(&r.transcript(K)),
        [User, Assistant, Tool, User, Assistant]
    );
}

#[tokio::test(start_paused = true)]
async fn interrupt_aborts_the_running_turn_and_runs_the_newest() {
    let mut r = rig(
        QueueMode::Interrupt,
        20,
        DropPolicy::Old,
        vec![hold(Reply::Text("never")), Reply::Text("a2")],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    let (_, f2) = r.send(K, "u2").await.expect("u2");
    assert_eq!(text(&outcome(f1).await), "aborted");
    assert_eq!(text(&outcome(f2).await), "a2");
    let t = r.transcript(K);
    assert_eq!(
        t.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        ["u1", "u2", "a2"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_by_policy() {
    // old: the oldest waiting message is dropped.
    let mut r = rig(
        QueueMode::Followup,
        2,
        DropPolicy::Old,
        vec![hold(Reply::Text("a1"))],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    let (_, f2) = r.send(K, "u2").await.expect("u2");
    let (_, f3) = r.send(K, "u3").await.expect("u3");
    let (_, f4) = r.send(K, "u4").await.expect("u4");
    assert_eq!(text(&outcome(f2).await), "dropped");
    r.release.send(()).expect("release");
    assert_eq!(text(&outcome(f1).await), "a1");
    assert_eq!(text(&outcome(f3).await), "echo: u3");
    assert_eq!(text(&outcome(f4).await), "echo: u4");

    // new: the arriving message is refused before it is acknowledged.
    let mut r = rig(
        QueueMode::Followup,
        2,
        DropPolicy::New,
        vec![hold(Reply::Text("a1"))],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    r.send(K, "u2").await.expect("u2");
    r.send(K, "u3").await.expect("u3");
    assert!(matches!(
        r.send(K, "u4").await,
        Err(DispatchError::QueueFull { cap: 2, .. })
    ));
    r.release.send(()).expect("release");
    assert_eq!(text(&outcome(f1).await), "a1");

    // summarize: the oldest is dropped and the next turn is told about it.
    let mut r = rig(
        QueueMode::Collect,
        2,
        DropPolicy::Summarize,
        vec![hold(Reply::Text("a1")), Reply::Text("a2")],
    );
    let (_, f1) = r.send(K, "u1").await.expect("u1");
    r.call().await;
    for u in ["u2", "u3", "u4"] {
        r.send(K, u).await.expect("queued");
    }
    r.release.send(()).expect("release");
    assert_eq!(text(&outcome(f1).await), "a1");
    let seen = r.call().await;
    let last = seen.last().map(|m| m.content.clone()).unwrap_or_default();
    assert!(
        last.starts_with("[1 earlier queued message(s) were dropped"),
        "{last}"
    );
    assert!(
        last.contains("- u2") && last.ends_with("u3\n\nu4"),
        "{last}"
    );
}

#[tokio::test(start_paused = true)]
async fn queue_directive_sets_the_session_mode() {
    let r = rig(QueueMode::Collect, 20, DropPolicy::Summarize, vec![]);
    let (_, f) = r
        .send("main", "/queue followup cap:3")
        .await
        .expect("directive");
    let reply = text(&outcome(f).await).to_string();
    assert!(
        reply.contains("followup") && reply.contains("cap 3"),
        "{reply}"
    );
    let s = r.d.sessions().expect("sessions");
    assert_eq!(s[0].queue.and_then(|q| q.mode), Some(QueueMode::Followup));
    assert!(matches!(
        r.send(K, "/queue sideways").await,
        Err(DispatchError::Invalid(_))
    ));
    assert!(
        r.transcript(K).is_empty(),
        "directives are not conversation"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stateless_request_does_not_wait_for_the_main_session() {
    let mut r = rig(
        QueueMode::Collect,
        20,
        DropPolicy::Summarize,
        vec![hold(Reply::Text("long"))],
    );
    let (_, f1) = r.send(K, "write a long poem").await.expect("u1");
    r.call().await;
    let (acc, f2) =
        r.d.submit(Submission {
            session_key: SessionKey::main(),
            message: msg("2+2?"),
            idempotency_key: None,
            stateless_history: Some(Vec::new()),
            cursor: None,
            record_only: false,
            client: None,
            run_id: None,
        })
        .await
        .expect("stateless");
    assert_ne!(acc.session_key, K);
    assert_eq!(text(&outcome(f2).await), "echo: 2+2?");
    assert!(r.d.abort(K, None, false).await.aborted.len() == 1);
    assert_eq!(text(&outcome(f1).await), "aborted");
}
