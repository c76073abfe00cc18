//! Home Assistant's side through the real binary, with an instant fake provider:
//!
//! 1. latency Hearth adds to a Home Assistant conversation turn: N sequential `/api/chat`
//!    requests shaped as Home Assistant's Ollama integration sends them (its system prompt,
//!    an Assist tool, stream, keep_alive, num_ctx; a new conversation each), timed to the
//!    `done` line, p50/p99, each followed by the same request straight to the fake provider
//!    (the difference per pair is what Hearth adds);
//! 2. idle RSS (VmRSS after 5 s) of a fresh bare gateway, and of one with an MCP server connected
//!    (the MCP Python SDK's FastMCP over stdio, tests/kit/mcp_server.py; its own process
//!    is not counted).
//!
//!     cargo bench --bench home_assistant [-- N]

#[path = "../tests/common/mod.rs"]
mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, fake_config, temp_dir};
use serde_json::json;
use std::io::Read;
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Milliseconds of one streamed request read to its end.
fn timed(url: &str, auth: Option<&str>, body: &serde_json::Value) -> f64 {
    let t0 = Instant::now();
    let mut req = ureq::post(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.send_json(body).expect("request");
    let mut sink = String::new();
    resp.body_mut()
        .as_reader()
        .read_to_string(&mut sink)
        .expect("body");
    assert!(
        sink.contains("\"done\":true") || sink.contains("[DONE]"),
        "unfinished answer: {sink}"
    );
    t0.elapsed().as_secs_f64() * 1000.0
}

fn summary(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
    println!(
        "{name}: p50 {p50:.2} ms, p99 {p99:.2} ms ({} requests)",
        ms.len()
    );
    (p50, p99)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let fake = FakeOpenAi::start(vec![Reply::Text("The kitchen light is on.".into())]);
    let base = fake_config(&[("fake", &fake.base_url())]);

    let root = temp_dir("bench-ha");
    let gw = Gateway::start(&root, &base);
    std::thread::sleep(Duration::from_secs(5));
    let bare_rss = gw.rss_kib();
    let system = "You are a voice assistant for Home Assistant.\nAn overview of the areas and the devices in this smart home:\n- names: Kitchen Light\n  domain: light\n  state: 'off'\n".repeat(8);
    let tool = json!({"type": "function", "function": {"name": "HassTurnOn", "description": "Turns on/opens a device or entity",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}, "domain": {"type": "array"}}}}});
    let chat = |i: usize| {
        json!({"model": "hearth:latest", "stream": true, "keep_alive": "-1s", "options": {"num_ctx": 8192},
            "tools": [tool], "messages": [{"role": "system", "content": system},
            {"role": "user", "content": format!("is the kitchen light on? ({i})")}]})
    };
    let direct = |i: usize| {
        json!({"model": "fake-model", "stream": true, "tools": [tool], "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": format!("is the kitchen light on? ({i})")}]})
    };
    let url = format!("{}/ollama/{}/api/chat", gw.http(), gw.token);
    let fake_url = format!("{}/chat/completions", fake.base_url());
    for i in 0..10 {
        timed(&url, None, &chat(i));
        timed(&fake_url, None, &direct(i));
    }
    // Interleaved, so both see the same machine load; the added latency is taken per pair.
    let (mut through, mut straight, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let h = timed(&url, None, &chat(i));
        let f = timed(&fake_url, None, &direct(i));
        through.push(h);
        straight.push(f);
        added.push(h - f);
    }
    summary("HA-shaped /api/chat through Hearth", through);
    summary("the same request straight to the fake provider", straight);
    summary(
        "latency Hearth adds to a Home Assistant turn (per pair)",
        added,
    );
    drop(gw);

    let root = temp_dir("bench-ha-mcp");
    let (py, kit) = (
        common::python::venv_python(),
        common::python::kit("mcp_server.py"),
    );
    let cfg = base.clone()
        + &format!("\n[mcp.servers.kit]\ncommand = {py:?}\nargs = [{kit:?}, \"stdio\"]\n");
    let gw = Gateway::start(&root, &cfg);
    let t0 = Instant::now();
    while !gw.log().contains("mcp server kit: connected") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the MCP server never connected:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(5));
    let mcp_rss = gw.rss_kib();
    println!(
        "idle RSS: bare gateway {bare_rss} KiB; with an MCP server (stdio) connected {mcp_rss} KiB (+{} KiB)",
        mcp_rss.saturating_sub(bare_rss)
    );
}
