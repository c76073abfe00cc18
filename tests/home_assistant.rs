//! Home Assistant's side of Hearth, with the client libraries Home Assistant itself uses:
//! the official `ollama` Python client (0.4.7, pinned by HA 2025.4) against Hearth's
//! Ollama API — list, show, ps, pull, chat streamed and not, and HA's mixed-tool turn over
//! two requests with a follow-up on the same session — and `/v1/chat/completions` with
//! client tools; Hearth's MCP server used by the MCP Python SDK; and (`real.rs`) a real
//! Home Assistant using Hearth and used by it. The Python packages live in venvs outside the
//! clone (scripts/test.sh).

mod common;
#[path = "home_assistant/real.rs"]
mod real;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, fake_config, temp_dir};
use common::python::{kit, venv_python};
use serde_json::{Value, json};
use std::process::Command;

/// The messages of fake request `i`, and its tool names.
fn request(fake: &FakeOpenAi, i: usize) -> (Vec<Value>, Vec<String>) {
    let reqs = fake.requests();
    let body = &reqs[i]["body"];
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    let tools = body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|x| x["function"]["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    (msgs, tools)
}

#[test]
fn the_ollama_client_home_assistant_uses_drives_a_hearth_agent() {
    let fake = FakeOpenAi::start(vec![
        Reply::Text("Hello from Hearth".into()),
        Reply::Text("Streaming hello back".into()),
        Reply::ToolCalls(vec![
            ("ls".into(), "{}".into()),
            (
                "HassTurnOn".into(),
                r#"{"name":"Kitchen Light","domain":["light"]}"#.into(),
            ),
        ]),
        Reply::Text("The kitchen light is on.".into()),
        Reply::Text("Yes, it is on.".into()),
    ]);
    let root = temp_dir("ollama");
    let gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let url = format!("http://127.0.0.1:{}/ollama/{}", gw.port, gw.token);
    let out = Command::new(venv_python())
        .arg(kit("ollama_client.py"))
        .arg(&url)
        .output()
        .expect("run the ollama client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ollama client failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    let r: Value = serde_json::from_str(stdout.trim()).expect("client output is JSON");

    assert_eq!(r["list"], json!(["hearth:latest"]));
    assert_eq!(r["show"]["hearth.agent"], "main");
    assert_eq!(r["ps"], json!(["hearth:latest"]));
    assert!(r["version"]["version"].is_string());
    assert_eq!(r["pull"], "success");
    assert_eq!(
        r["pull_stream"].as_array().and_then(|a| a.last()),
        Some(&json!("success"))
    );
    assert_eq!(r["pull_unknown"]["status"], 404, "{}", r["pull_unknown"]);
    assert!(
        r["pull_unknown"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("hearth:latest"),
        "the error names what is offered: {}",
        r["pull_unknown"]
    );
    assert_eq!(r["chat"]["content"], "Hello from Hearth");
    assert_eq!(r["chat"]["done"], true);
    assert_eq!(r["stream"]["content"], "Streaming hello back");
    assert_eq!(r["stream"]["last_done"], true);
    assert_eq!(r["stream"]["reason"], "stop");
    assert!(r["stream"]["lines"].as_u64().unwrap_or(0) >= 2);
    assert_eq!(r["no_key"]["status"], 401, "{}", r["no_key"]);

    // HA's turn: Hearth ran `ls` itself and handed HassTurnOn to HA, arguments an object.
    let turn = r["ha_turn"].as_array().expect("turn messages");
    assert_eq!(
        turn.len(),
        3,
        "assistant calls, tool result, answer: {turn:?}"
    );
    let calls = turn[0]["tool_calls"].as_array().expect("calls");
    assert_eq!(
        calls.len(),
        1,
        "only the client's tool goes to the client: {calls:?}"
    );
    assert_eq!(calls[0]["function"]["name"], "HassTurnOn");
    assert_eq!(calls[0]["function"]["arguments"]["name"], "Kitchen Light");
    assert_eq!(turn[2]["content"], "The kitchen light is on.");
    assert_eq!(r["ha_followup"][0]["content"], "Yes, it is on.");

    // What the model saw: HA's system prompt and both tool sets on the first call ...
    let (msgs, tools) = request(&fake, 2);
    assert!(
        msgs[0]["content"]
            .as_str()
            .unwrap_or("")
            .contains("Kitchen Light")
    );
    assert!(
        tools.contains(&"HassTurnOn".to_string()) && tools.contains(&"ls".to_string()),
        "{tools:?}"
    );
    // ... both results on the second (Hearth's own and HA's, matched to their calls) ...
    let (msgs, _) = request(&fake, 3);
    let results: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 2, "{msgs:?}");
    assert!(
        results[1]["content"]
            .as_str()
            .unwrap_or("")
            .contains("action_done")
    );
    // ... and the follow-up continues the same Hearth session: the earlier exchange comes
    // from Hearth's transcript (once, not also as the client's copy).
    let (msgs, _) = request(&fake, 4);
    let text = serde_json::to_string(&msgs).unwrap_or_default();
    assert_eq!(
        text.matches("turn on the kitchen light").count(),
        1,
        "{text}"
    );
    assert!(text.contains("The kitchen light is on."), "{text}");
    assert!(text.contains("is it on now?"), "{text}");
    let mut ws = gw.ws();
    let sessions = ws.call("sessions.list", json!({}));
    let ollama: Vec<&Value> = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| {
            s["key"]
                .as_str()
                .unwrap_or("")
                .starts_with("agent:main:ollama:")
        })
        .collect();
    assert_eq!(
        ollama.len(),
        3,
        "two single chats and one HA conversation: {sessions}"
    );
}

#[test]
fn chat_completions_hands_client_tools_back_in_openai_shape() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![("get_weather".into(), r#"{"city":"Oslo"}"#.into())]),
        Reply::Text("It is sunny in Oslo.".into()),
    ]);
    let root = temp_dir("oai-client-tools");
    let gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let post = |body: Value| -> Value {
        ureq::post(&format!("{}/v1/chat/completions", gw.http()))
            .header("Authorization", &format!("Bearer {}", gw.token))
            .send_json(&body)
            .expect("request")
            .body_mut()
            .read_json()
            .expect("json")
    };
    let first = post(json!({"model": "hearth", "tools": tools,
        "messages": [{"role": "user", "content": "weather in Oslo?"}]}));
    let choice = &first["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{first}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("string"))
        .expect("json");
    assert_eq!(args["city"], "Oslo");
    let second = post(json!({"model": "hearth", "tools": tools, "messages": [
        {"role": "user", "content": "weather in Oslo?"},
        choice["message"].clone(),
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"}
    ]}));
    assert_eq!(
        second["choices"][0]["message"]["content"], "It is sunny in Oslo.",
        "{second}"
    );
    let (msgs, _) = request(&fake, 1);
    let result = msgs
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool result");
    assert_eq!(result["content"], "sunny, 21 C");
    assert_eq!(result["tool_call_id"], call["id"]);
}

#[test]
fn the_mcp_sdk_uses_hearths_tools_over_streamable_http_and_legacy_sse() {
    let fake = FakeOpenAi::start(vec![
        Reply::Text("Hearth here.".into()),
        Reply::Text("Still here.".into()),
    ]);
    let root = temp_dir("mcp-server");
    let ws_dir = root.join("data/workspace");
    std::fs::create_dir_all(&ws_dir).expect("workspace");
    std::fs::write(
        ws_dir.join("MEMORY.md"),
        "# Memory\n\nThe spare key is under the blue flowerpot.\n",
    )
    .expect("memory file");
    std::fs::write(root.join("mcp.token"), "mcp-secret-42\n").expect("token");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &format!(
            "\n[local]\nmodels_dir = {:?}\n\n[memory]\nsync_interval_secs = 1\n\n[mcp_server]\nenabled = true\ntoken = \"file:{}\"\n",
            common::harness::models_dir(),
            root.join("mcp.token").display()
        );
    let gw = Gateway::start(&root, &cfg);
    let mut ws = gw.ws();
    let t0 = std::time::Instant::now();
    while ws.call("memory.status", json!({}))["chunks"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            t0.elapsed().as_secs() < 240,
            "memory never indexed:\n{}",
            gw.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    // Refusals before any tool runs: no token, the gateway's token, a foreign origin.
    let status = |path: &str, headers: &[(&str, &str)]| -> u16 {
        let mut req = ureq::post(&format!("{}{path}", gw.http()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.send_json(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})) {
            Ok(r) => r.status().as_u16(),
            Err(ureq::Error::StatusCode(c)) => c,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(status("/mcp", &[]), 401);
    let gw_bearer = format!("Bearer {}", gw.token);
    assert_eq!(status("/mcp", &[("authorization", &gw_bearer)]), 401);
    let evil = [
        ("authorization", "Bearer mcp-secret-42"),
        ("origin", "http://evil.example"),
    ];
    assert_eq!(status("/mcp", &evil), 403);
    assert_eq!(
        status("/mcp", &[("authorization", "Bearer mcp-secret-42")]),
        200
    );

    let out = Command::new(venv_python())
        .arg(kit("mcp_client.py"))
        .arg(gw.http())
        .arg("mcp-secret-42")
        .output()
        .expect("run the MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "MCP client failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    let r: Value = serde_json::from_str(stdout.trim()).expect("client output is JSON");
    let want = json!(["ask_agent", "memory_get", "memory_search"]);
    for t in ["streamable", "sse"] {
        assert_eq!(r[t]["tools"], want, "{t}: {r}");
    }
    assert_eq!(r["streamable"]["protocol"], "2025-06-18");
    assert_eq!(r["streamable"]["server"], "hearth");
    assert_eq!(
        r["streamable"]["ask"],
        json!({"isError": false, "text": "Hearth here."})
    );
    assert!(
        r["streamable"]["search"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("blue flowerpot"),
        "{}",
        r["streamable"]["search"]
    );
    assert_eq!(
        r["streamable"]["bad"]["isError"], true,
        "{}",
        r["streamable"]["bad"]
    );
    assert_eq!(
        r["sse"]["ask"],
        json!({"isError": false, "text": "Still here."})
    );
    // Both questions went to one session, named by the caller.
    let h = ws.call("chat.history", json!({"sessionKey": "agent:main:mcp:ha"}));
    let n = h["messages"].as_array().map_or(0, Vec::len);
    assert_eq!(n, 4, "{h}");
}
