//! End-to-end tests of the real `hearth` binary: the WebSocket protocol, the on-device
//! model, durability across restarts and SIGKILL, the OpenAI-compatible HTTP API (with the
//! official `openai` Python client), failover with persistent cooldowns, the tool loop,
//! and configuration errors.

mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, NO_CHAT, Ws, connect_params, fake_config, last, send, temp_dir};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[cfg(feature = "local-llm")]
fn local_config(max_tokens: u32) -> String {
    format!(
        "[local]\nmodels_dir = {:?}\n\n[agent]\nmax_tokens = {max_tokens}\n",
        common::harness::models_dir()
    )
}

#[test]
#[cfg(feature = "local-llm")]
fn local_model_streams_and_greedy_decoding_repeats() {
    // The chain starts with a provider that refuses connections (as with no network); the
    // run must fail over to the on-device model.
    let offline = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "http://127.0.0.1:{}/v1",
            l.local_addr().expect("addr").port()
        )
    };
    let cfg = format!(
        "[local]\nmodels_dir = {:?}\n\n[agent]\nmax_tokens = 40\nmodel = [\"offline/gpt\", \"local/smollm2-135m-instruct\"]\n\n[providers.offline]\nkind = \"openai\"\nbase_url = \"{offline}\"\n",
        common::harness::models_dir()
    );
    let root = temp_dir("local");
    let gw = Gateway::start(&root, &cfg);
    let mut ws = gw.ws();
    let mut texts = Vec::new();
    for session in ["agent:main:a", "agent:main:b"] {
        let run = send(&mut ws, session, "What is the capital of France?");
        let events = ws.follow(&run);
        let end = last(&events);
        assert_eq!(
            end["data"]["phase"],
            "end",
            "run failed: {end}\nlog:\n{}",
            gw.log()
        );
        let text = end["data"]["text"]
            .as_str()
            .expect("final text")
            .to_string();
        assert!(!text.trim().is_empty(), "empty reply");
        let streamed = common::harness::deltas(&events);
        assert!(
            events.iter().filter(|e| e["stream"] == "assistant").count() > 1,
            "reply was not streamed in pieces"
        );
        assert_eq!(
            streamed.trim(),
            text.trim(),
            "deltas must add up to the final text"
        );
        assert_eq!(end["data"]["model"], "local/smollm2-135m-instruct");
        texts.push(text);
    }
    assert_eq!(
        texts[0], texts[1],
        "greedy decoding of the same prompt must repeat"
    );
}

#[test]
#[cfg(feature = "local-llm")]
fn history_survives_restart_and_sigkill_mid_run() {
    let root = temp_dir("durable");
    let mut gw = Gateway::start(&root, &local_config(200));
    let mut ws = gw.ws();
    let run = send(&mut ws, "agent:main:main", "Say hello.");
    let first = ws.follow(&run);
    assert_eq!(last(&first)["data"]["phase"], "end", "{}", gw.log());
    let reply = last(&first)["data"]["text"]
        .as_str()
        .expect("text")
        .to_string();
    drop(ws);

    assert!(gw.stop().success(), "graceful stop must exit 0");
    gw.restart();
    let mut ws = gw.ws();
    let h = ws.call("chat.history", json!({}));
    let msgs = h["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2, "{h}");
    assert_eq!(msgs[0]["role"], "user");
    assert_eq!(msgs[0]["text"], "Say hello.");
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["text"], reply.as_str());

    // SIGKILL while the model is generating.
    let run = send(
        &mut ws,
        "agent:main:main",
        "Write a long story about a dragon who learns to bake bread.",
    );
    loop {
        let f = ws.next_frame().expect("event");
        if f["event"] == "agent"
            && f["payload"]["runId"] == run.as_str()
            && f["payload"]["stream"] == "assistant"
        {
            break;
        }
    }
    gw.kill();
    gw.restart();
    let mut ws = gw.ws();
    // The turn had committed no tool step, so the new process runs it again: the
    // acknowledged message is answered once, the half-written reply never shown.
    let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 600_000}));
    assert_eq!(w["status"], "completed", "{w}\n{}", gw.log());
    let h = ws.call("chat.history", json!({}));
    let msgs = h["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 4, "the user turn once, then its answer: {h}");
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(msgs[3]["role"], "assistant");
    assert_eq!(msgs[3]["text"], w["text"], "{h}");

    // The session still works after the crash.
    let run = send(&mut ws, "agent:main:main", "Thanks!");
    assert_eq!(
        last(&ws.follow(&run))["data"]["phase"],
        "end",
        "{}",
        gw.log()
    );
    assert_eq!(
        ws.call("chat.history", json!({}))["messages"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
}

#[test]
#[cfg(feature = "local-llm")]
fn openai_python_client_streaming_and_not() {
    let root = temp_dir("openai-py");
    let gw = Gateway::start(&root, &local_config(24));
    let stdout = gw.run_openai_script("openai_client.py");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn protocol_rejects_frames_before_connect_and_wrong_tokens() {
    let root = temp_dir("proto");
    let gw = Gateway::start(&root, NO_CHAT);

    // Protocol v4: a challenge first, then only `connect` is accepted.
    let mut ws = Ws::open(gw.port);
    assert!(
        ws.challenge["payload"]["ts"].as_u64().unwrap() > 0,
        "{}",
        ws.challenge
    );
    ws.send_text(r#"{"type":"req","id":"1","method":"health","params":{}}"#);
    let (err, closed) = ws.refused();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("first request must be connect"),
        "{err}"
    );
    assert!(closed.starts_with("1008"), "{closed}");

    let mut ws = Ws::open(gw.port);
    let mut params = connect_params("wrong");
    ws.send_text(&json!({"type":"req","id":"1","method":"connect","params": params}).to_string());
    let (err, closed) = ws.refused();
    assert_eq!(err["code"], "INVALID_REQUEST");
    assert_eq!(err["details"]["code"], "AUTH_TOKEN_MISMATCH", "{err}");
    assert!(closed.contains("unauthorized"), "{closed}");

    // A client that speaks only protocol 3 gets OpenClaw's mismatch error and close 1002.
    let mut ws = Ws::open(gw.port);
    params["minProtocol"] = json!(3);
    params["maxProtocol"] = json!(3);
    params["auth"]["token"] = json!(gw.token);
    ws.send_text(&json!({"type":"req","id":"1","method":"connect","params": params}).to_string());
    let (err, closed) = ws.refused();
    assert_eq!(err["details"]["code"], "PROTOCOL_MISMATCH", "{err}");
    assert_eq!(err["details"]["expectedProtocol"], 4);
    assert!(closed.starts_with("1002"), "{closed}");

    let mut ws = Ws::open(gw.port);
    ws.send_text("{not json");
    assert!(ws.read().is_err(), "malformed first frame must close");

    // hello-ok: server, features, snapshot, the granted scopes, policy.
    let mut ws = Ws::open(gw.port);
    let hello = ws.call("connect", connect_params(&gw.token));
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 4);
    assert!(hello["server"]["connId"].is_string(), "{hello}");
    assert!(
        hello["features"]["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "agents.list")
    );
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["mainSessionKey"],
        "agent:main:main"
    );
    assert_eq!(
        hello["auth"]["scopes"].as_array().unwrap().len(),
        5,
        "{hello}"
    );
    assert!(hello["policy"]["tickIntervalMs"].as_u64().unwrap() > 0);
    let me = &hello["snapshot"]["presence"].as_array().unwrap()[0];
    assert_eq!(me["clientId"], "test", "{hello}");

    // A read-only client may read but not write: OpenClaw's missing-scope error.
    let mut ws = Ws::open(gw.port);
    let mut params = connect_params(&gw.token);
    params["scopes"] = json!(["operator.read"]);
    let hello = ws.call("connect", params);
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    assert_eq!(ws.call("sessions.list", json!({}))["count"], 0);
    let r = ws.request("chat.send", json!({"message": "hi", "idempotencyKey": "k"}));
    assert_eq!(r["error"]["code"], "FORBIDDEN", "{r}");
    assert_eq!(r["error"]["details"]["missingScope"], "operator.write");
    let r = ws.request("sessions.reset", json!({"key": "main"}));
    assert_eq!(r["error"]["details"]["missingScope"], "operator.admin");

    // After connect, malformed frames get error responses and the socket stays usable.
    let mut ws = gw.ws();
    ws.send_text("{oops");
    let r = ws.read().expect("error response");
    assert_eq!(r["type"], "res");
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("malformed JSON"),
        "{r}"
    );
    let r = ws.request("no.such.method", json!({}));
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r["error"]["message"], "unknown method: no.such.method");
    let r = ws.request("chat.send", json!({"message": 5}));
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(ws.call("health", json!({}))["ok"], true);

    // HTTP: health without a token, the API with one.
    let health = ureq::get(&format!("{}/healthz", gw.http()))
        .call()
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let err = ureq::get(&format!("{}/v1/models", gw.http()))
        .call()
        .expect_err("no token");
    assert!(matches!(err, ureq::Error::StatusCode(401)), "{err}");
}

#[test]
fn repeated_idempotency_key_runs_once() {
    let fake = FakeOpenAi::start(vec![
        Reply::Text("first answer".into()),
        Reply::Text("second answer".into()),
    ]);
    let root = temp_dir("idem");
    let mut gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let mut ws = gw.ws();
    let params = json!({"sessionKey": "agent:main:main", "message": "hi", "idempotencyKey": "k-1"});
    let a = ws.call("chat.send", params.clone());
    let b = ws.call("chat.send", params.clone());
    assert_eq!(a["runId"], b["runId"]);
    assert_eq!(b["deduped"], true);
    let w = ws.call(
        "agent.wait",
        json!({"runId": a["runId"], "timeoutMs": 20000}),
    );
    assert_eq!(w["text"], "first answer");
    gw.restart();
    let mut ws = gw.ws();
    let c = ws.call("chat.send", params);
    assert_eq!(c["runId"], a["runId"], "idempotency survives a restart");
    assert_eq!(
        ws.call("chat.history", json!({}))["messages"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(fake.requests().len(), 1, "the model was called once");
}

#[test]
fn failover_records_events_and_cooldown_persists() {
    let limited = FakeOpenAi::start(vec![Reply::Status(
        429,
        r#"{"error":{"message":"slow down"}}"#.into(),
        None,
    )]);
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        format!("http://127.0.0.1:{port}/v1")
    };
    let good = FakeOpenAi::start(vec![Reply::Text("from the good provider".into())]);
    let root = temp_dir("failover");
    let cfg = fake_config(&[
        ("primary", &limited.base_url()),
        ("dead", &refused),
        ("good", &good.base_url()),
    ]);
    let mut gw = Gateway::start(&root, &cfg);
    let mut ws = gw.ws();
    let run = send(&mut ws, "agent:main:main", "hello?");
    let events = ws.follow(&run);
    assert_eq!(
        last(&events)["data"]["text"],
        "from the good provider",
        "{}",
        gw.log()
    );
    let failovers: Vec<&Value> = events
        .iter()
        .filter(|e| e["stream"] == "failover")
        .collect();
    assert_eq!(failovers.len(), 2, "{events:?}");
    assert_eq!(failovers[0]["data"]["reason"], "rate_limit");
    assert_eq!(failovers[1]["data"]["reason"], "connect");
    let w = ws.call("agent.wait", json!({"runId": run}));
    assert_eq!(w["model"], "good/fake-model");
    let recorded: Vec<&Value> = w["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "failover")
        .collect();
    assert_eq!(
        recorded.len(),
        2,
        "failovers are kept in the run record: {w}"
    );

    gw.restart();
    let mut ws = gw.ws();
    let status = ws.call("status", json!({}));
    // No on-device model ran: the memory report is there, and empty.
    assert_eq!(status["loadedModels"], json!([]), "{status}");
    let primary = status["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["provider"] == "primary")
        .expect("primary")
        .clone();
    assert_eq!(
        primary["profiles"][0]["healthy"], false,
        "cooldown survives the restart: {status}"
    );
    assert!(
        primary["profiles"][0]["cooldownUntil"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    let run = send(&mut ws, "agent:main:main", "again?");
    let events = ws.follow(&run);
    assert_eq!(last(&events)["data"]["text"], "from the good provider");
    assert_eq!(
        limited.requests().len(),
        1,
        "the cooling profile was not called again"
    );
}

#[test]
fn tool_loop_writes_and_reads_inside_the_workspace_only() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![(
            "write".into(),
            r#"{"path":"notes/a.txt","content":"hello from the tool"}"#.into(),
        )]),
        Reply::ToolCalls(vec![("read".into(), r#"{"path":"notes/a.txt"}"#.into())]),
        Reply::Text("done".into()),
        Reply::ToolCalls(vec![
            ("read".into(), r#"{"path":"../../etc/passwd"}"#.into()),
            ("read".into(), r#"{"path":"escape/passwd"}"#.into()),
        ]),
        Reply::Text("refused".into()),
    ]);
    let root = temp_dir("tools");
    let gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let ws_dir = gw.data_dir().join("workspace");
    let mut ws = gw.ws();
    let run = send(&mut ws, "agent:main:main", "save a note and read it back");
    let events = ws.follow(&run);
    assert_eq!(last(&events)["data"]["text"], "done", "{}", gw.log());
    assert_eq!(
        std::fs::read_to_string(ws_dir.join("notes/a.txt")).expect("file written"),
        "hello from the tool"
    );
    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["stream"] == "tool" && e["data"]["phase"] == "end")
        .collect();
    assert_eq!(ends.len(), 2);
    assert!(
        ends[1]["data"]["result"]
            .as_str()
            .unwrap_or("")
            .contains("hello from the tool"),
        "{:?}",
        ends[1]
    );
    // The model saw the read result on its third call.
    let reqs = fake.requests();
    let third = reqs[2]["body"]["messages"].to_string();
    assert!(third.contains("hello from the tool"), "{third}");

    std::os::unix::fs::symlink("/etc", ws_dir.join("escape")).expect("symlink");
    let run = send(&mut ws, "agent:main:main", "read the password file");
    let events = ws.follow(&run);
    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["stream"] == "tool" && e["data"]["phase"] == "end")
        .collect();
    assert_eq!(ends.len(), 2);
    for e in ends {
        assert_eq!(e["data"]["isError"], true, "{e}");
        let msg = e["data"]["result"].as_str().unwrap_or("");
        assert!(
            msg.contains("outside the workspace") || msg.contains("crosses a symlink"),
            "{msg}"
        );
        assert!(!msg.contains("root:"), "file contents leaked: {msg}");
    }
    let h = ws.call("chat.history", json!({}));
    let tool_msgs = h["messages"]
        .as_array()
        .expect("msgs")
        .iter()
        .filter(|m| m["role"] == "toolResult")
        .count();
    assert_eq!(tool_msgs, 4, "tool results are kept in the transcript");
}

#[test]
fn bad_config_fails_with_file_line_key_and_exit_78() {
    let root = temp_dir("badcfg");
    let cases = [
        ("[gateway]\nport = 1\nbnid = \"x\"\n", "gateway.bnid"),
        ("[gateway]\nport = \"eighty\"\n", "gateway.port"),
        ("[agent]\nmodel = [\"nowhere/x\"]\n", "agent.model"),
    ];
    for (text, key) in cases {
        let path = root.join("bad.toml");
        std::fs::write(&path, text).expect("write");
        for args in [&["config", "validate"][..], &["gateway", "--port", "0"][..]] {
            let out = std::process::Command::new(common::harness::bin())
                .arg("--config")
                .arg(&path)
                .arg("--data-dir")
                .arg(root.join("data"))
                .args(args)
                .output()
                .expect("run");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{args:?} {text:?}: {err}");
            assert!(
                err.contains(&format!("{}:", path.display())),
                "names the file: {err}"
            );
            assert!(err.contains(key), "names the key {key}: {err}");
        }
    }
    let out = std::process::Command::new(common::harness::bin())
        .args(["--config", "/nonexistent/hearth.toml", "config", "validate"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/hearth.toml"));
}

#[test]
fn http_chat_completions_with_session_key_keeps_history() {
    let fake = FakeOpenAi::start(vec![Reply::Text("one".into()), Reply::Text("two".into())]);
    let root = temp_dir("http");
    let gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let url = format!("{}/v1/chat/completions", gw.http());
    for _ in 0..2 {
        let mut resp = ureq::post(&url)
            .header("Authorization", &format!("Bearer {}", gw.token))
            .header("x-hearth-session-key", "agent:main:http")
            .send_json(json!({"model": "hearth", "messages": [{"role": "user", "content": "hi"}]}))
            .expect("completion");
        let v: Value = resp.body_mut().read_json().expect("json");
        assert_eq!(v["object"], "chat.completion");
    }
    let mut ws = gw.ws();
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:http"}));
    assert_eq!(h["messages"].as_array().map(Vec::len), Some(4), "{h}");
    assert_eq!(h["messages"][3]["text"], "two");
    let started = Instant::now();
    let r = ureq::post(&url)
        .header("Authorization", "Bearer nope")
        .send_json(json!({"messages": []}));
    assert!(matches!(r, Err(ureq::Error::StatusCode(401))));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn cli_agent_status_and_doctor() {
    let fake = FakeOpenAi::start(vec![Reply::Text("pong".into())]);
    let root = temp_dir("cli");
    let gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let out = gw
        .cli()
        .args(["agent", "-m", "ping"])
        .output()
        .expect("run agent");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pong");
    let out = gw
        .cli()
        .args(["status", "--show-token"])
        .output()
        .expect("run status");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains("fake/fake-model") && s.contains("healthy"),
        "{s}"
    );
    assert!(s.contains(&gw.token), "--show-token prints the token");
    let out = gw
        .cli()
        .args(["sessions", "history"])
        .output()
        .expect("history");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("user: ping") && s.contains("assistant: pong"),
        "{s}"
    );
    // A wrong token is refused with a clear message and a non-zero exit.
    let out = gw
        .cli()
        .args(["agent", "-m", "x", "--token", "nope"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // doctor: the data dir is private, the gateway is running on the port.
    let out = gw.cli().arg("doctor").output().expect("doctor");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("is private and writable"), "{s}");
    let token = std::fs::metadata(gw.data_dir().join("gateway.token")).expect("token");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&token.permissions()) & 0o777,
        0o600
    );
}
