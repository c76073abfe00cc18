//! `GET /metrics` after a turn with a tool call and a denied one, parsed by
//! `prometheus_client.parser` (tests/kit/prom_parse.py); token and loopback access.

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{Gateway, fake_config, send, temp_dir};
use crate::common::python::{kit, venv_python};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// The exposition parsed: family name → `{type, samples: [[name, labels, value]]}`.
fn parse(text: &str) -> Value {
    let mut child = Command::new(venv_python())
        .arg(kit("prom_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parser output")
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(m: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m[family]["samples"].as_array()?.iter().find_map(|s| {
        let ok = s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v);
        ok.then(|| s[2].as_f64()).flatten()
    })
}

fn scrape(gw: &Gateway, token: Option<&str>) -> Result<String, ureq::Error> {
    let mut req = ureq::get(&format!("{}/metrics", gw.http()));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call()?;
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    Ok(r.body_mut().read_to_string().expect("body"))
}

#[test]
fn metrics_parse_and_count_runs_tools_and_lanes() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![
            ("write".into(), r#"{"path":"a.txt","content":"x"}"#.into()),
            ("exec".into(), r#"{"command":"true"}"#.into()),
        ]),
        Reply::Text("done".into()),
    ]);
    let root = temp_dir("metrics");
    let config = format!(
        "{}\n[tools]\ndeny = [\"exec\"]\n",
        fake_config(&[("fake", &fake.base_url())])
    );
    let gw = Gateway::start(&root, &config);
    let mut ws = gw.ws();
    let run = send(&mut ws, "agent:main:main", "write a file");
    let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 20000}));
    assert_eq!(w["status"], "completed", "{w}");

    let err = scrape(&gw, None).expect_err("no token");
    assert!(matches!(err, ureq::Error::StatusCode(401)), "{err}");
    let m = parse(&scrape(&gw, Some(&gw.token)).expect("metrics"));

    let runs = |s: &str| sample(&m, "hearth_runs", "hearth_runs_total", &[("status", s)]);
    assert_eq!(runs("completed"), Some(1.0), "{m}");
    assert_eq!(m["hearth_turn_duration_seconds"]["type"], "histogram");
    let count = sample(
        &m,
        "hearth_turn_duration_seconds",
        "hearth_turn_duration_seconds_count",
        &[],
    );
    assert_eq!(count, Some(1.0));
    let inf = sample(
        &m,
        "hearth_turn_duration_seconds",
        "hearth_turn_duration_seconds_bucket",
        &[("le", "+Inf")],
    );
    assert_eq!(inf, Some(1.0));
    let tools = |t: &str, o: &str| {
        sample(
            &m,
            "hearth_tool_calls",
            "hearth_tool_calls_total",
            &[("tool", t), ("outcome", o)],
        )
    };
    assert_eq!(tools("write", "ok"), Some(1.0), "{m}");
    assert_eq!(tools("exec", "denied"), Some(1.0), "{m}");
    let msgs = sample(
        &m,
        "hearth_messages",
        "hearth_messages_total",
        &[("channel", "ws")],
    );
    assert_eq!(msgs, Some(1.0));
    assert_eq!(
        sample(&m, "hearth_inbox_backlog", "hearth_inbox_backlog", &[]),
        Some(0.0)
    );
    let cooldown = sample(
        &m,
        "hearth_provider_profile_cooldown",
        "hearth_provider_profile_cooldown",
        &[],
    );
    assert_eq!(cooldown, Some(0.0), "{m}");
    let rss = sample(
        &m,
        "process_resident_memory_bytes",
        "process_resident_memory_bytes",
        &[],
    )
    .expect("rss");
    assert!(rss > 1e6, "{rss}");
    assert!(sample(&m, "process_open_fds", "process_open_fds", &[]).unwrap() >= 3.0);
    assert_eq!(m["hearth_memory_index_lag"]["type"], "gauge");

    // `loopback`: no token needed from the box itself.
    let root = temp_dir("metrics-loop");
    let gw = Gateway::start(&root, "[gateway]\nmetrics = \"loopback\"\n");
    let m = parse(&scrape(&gw, None).expect("loopback scrape"));
    assert_eq!(m["process_open_fds"]["type"], "gauge");
}
