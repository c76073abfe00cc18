//! Turn overhead: 1,000 turns through the real dispatcher and agent (durable inbox, lanes,
//! LMDB commits with fsync on the group-commit writer, context assembly, events) with an
//! instant in-process provider, so the figure is Hearth's own cost per turn. Prints p50/p99
//! latency (µs) and turns/s.
//!
//!     cargo bench --bench turn [-- TURNS]

use hearth::agent::{Agent, AgentOptions};
use hearth::core::{ChatMessage, InboundMessage, Origin, Role, SessionKey};
use hearth::provider::failover::{
    CallParams, Chain, CooldownStore, ModelRef, ProfileHealth, Route,
};
use hearth::provider::{
    AuthProfile, ChatRequest, ChatResponse, DeltaSink, FinishReason, Provider, ProviderError,
};
use hearth::router::{Dispatcher, DispatcherOptions, RunStatus, Submission};
use hearth::storage::{Store, StoreOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Instant0;
impl Provider for Instant0 {
    fn name(&self) -> &str {
        "instant"
    }
    fn chat(
        &self,
        _: &ChatRequest<'_>,
        _: &AuthProfile,
        sink: &mut DeltaSink<'_>,
        _: &CancellationToken,
    ) -> Result<ChatResponse, ProviderError> {
        sink("ok");
        Ok(ChatResponse {
            message: ChatMessage::text(Role::Assistant, "ok"),
            finish_reason: FinishReason::Stop,
            usage: Default::default(),
        })
    }
}

struct NoCooldowns;
impl CooldownStore for NoCooldowns {
    fn health(&self, _: &str) -> ProfileHealth {
        ProfileHealth::default()
    }
    fn set_health(&self, _: &str, _: &ProfileHealth) {}
}

fn main() {
    let turns: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("hearth-bench-turn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(
        &dir.join("store"),
        StoreOptions {
            map_size_bytes: 256 << 20,
        },
    )
    .expect("store");
    let route = Route {
        provider: Arc::new(Instant0),
        profiles: vec![AuthProfile {
            id: "instant:default".into(),
            api_key: None,
        }],
        context_window: 8192,
        tools: false,
    };
    let chain = Chain::new(
        BTreeMap::from([("instant".to_string(), route)]),
        vec![ModelRef::parse("instant/x").expect("ref")],
        Arc::new(NoCooldowns),
    )
    .expect("chain");
    let ws = hearth::workspace::Workspace::open(&dir.join("workspace")).expect("workspace");
    hearth::agent::context::seed_workspace(&ws).expect("seed");
    let opts = AgentOptions {
        id: "main".into(),
        workspace: Arc::new(ws),
        policy: hearth::tool::policy::Policy::default(),
        skills: None,
        max_steps: 4,
        run_timeout: Duration::from_secs(60),
        call: CallParams {
            tools: vec![],
            max_tokens: 64,
            temperature: 0.0,
            seed: 1,
            timeout: Duration::from_secs(10),
        },
        bootstrap_max_chars: 20_000,
        compaction_threshold: 0.7,
        compaction_keep_turns: 2,
        memory_flush: false,
        prune_tool_result_chars: 2_000,
    };
    let agent = Agent::new(store.clone(), chain, hearth::tool::Registry::new(), opts);
    let dispatcher = Dispatcher::new(
        store,
        agent,
        DispatcherOptions {
            max_concurrent_runs: 4,
            ..DispatcherOptions::default()
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut lat = Vec::with_capacity(turns);
    let started = Instant::now();
    // As in the gateway: answers leave through the outbox to the `ws` channel's sink.
    dispatcher.register_outbound(Arc::new(
        hearth::gateway::GatewaySink::all()
            .into_iter()
            .next()
            .expect("ws sink"),
    ));
    rt.block_on(async {
        dispatcher.recover().await.expect("recover");
        for i in 0..turns {
            let t = Instant::now();
            let (acc, _) = dispatcher
                .submit(Submission {
                    session_key: SessionKey::parse(&format!("agent:main:bench{}", i % 8))
                        .expect("key"),
                    message: InboundMessage {
                        origin: Origin::gateway("ws"),
                        text: format!("turn {i}"),
                        attachments: Vec::new(),
                        ts_ms: hearth::core::now_ms(),
                    },
                    idempotency_key: None,
                    stateless_history: None,
                    cursor: None,
                    record_only: false,
                    client: None,
                    run_id: None,
                })
                .await
                .expect("send");
            let rec = dispatcher
                .wait(&acc.run_id, Duration::from_secs(10))
                .await
                .expect("wait");
            assert_eq!(rec.status, RunStatus::Completed);
            lat.push(t.elapsed());
        }
    });
    let total = started.elapsed();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "turn overhead (instant provider, {turns} turns, LMDB fsync on): p50 {:.0} µs, p99 {:.0} µs, {:.0} turns/s",
        pct(0.50),
        pct(0.99),
        turns as f64 / total.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
