//! End-to-end tests of the channels on the real binary against real peers: Telegram
//! through npm `telegram-test-api` (tests/kit/telegram.js). Pairing, a direct chat round
//! trip with typing and flood control, groups with mention gating and forum topics, dmScope
//! isolation, and exactly-once under SIGKILL.

mod common;
#[path = "channels/fakes.rs"]
mod fakes;
#[path = "channels/matrix.rs"]
mod matrix;
#[path = "channels/mqtt.rs"]
mod mqtt;
#[path = "channels/mqtt_discovery.rs"]
mod mqtt_discovery;
#[path = "channels/telegram.rs"]
mod telegram;
#[path = "channels/telegram_delivery.rs"]
mod telegram_delivery;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, fake_config, temp_dir};
use common::telegram::{BOT_NAME, TelegramEmu, channel_config, group, private};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The texts of the bot's messages to `chat`.
fn texts_to(msgs: &[Value], chat: i64) -> Vec<String> {
    msgs.iter()
        .filter(|m| m["chat_id"].as_i64() == Some(chat))
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn webhooks_run_with_their_own_token_and_deliver_to_telegram() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("hooks");
    let token = "444:hooks";
    std::fs::write(root.join("hooks.token"), "hook-secret-123\n").expect("hook token");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &format!(
            "\n[hooks]\nenabled = true\ntoken = \"file:{}\"\n",
            root.join("hooks.token").display()
        )
        + &channel_config(
            &root,
            &tg,
            token,
            "dm_policy = \"allowlist\"\nallow_from = [\"5\"]\n",
        );
    let gw = Gateway::start(&root, &cfg);
    let auth = [("authorization", "Bearer hook-secret-123")];

    // Refusals: wrong token, the gateway's own token, a token in the query, bad bodies.
    let (s, _) = post(
        &gw,
        "/hooks/agent",
        &[("authorization", "Bearer nope")],
        &json!({"message": "x"}),
    );
    assert_eq!(s, 401);
    let gw_token = format!("Bearer {}", gw.token);
    let (s, _) = post(
        &gw,
        "/hooks/agent",
        &[("authorization", &gw_token)],
        &json!({"message": "x"}),
    );
    assert_eq!(s, 401, "the gateway token is not the hook token");
    let (s, b) = post(
        &gw,
        "/hooks/agent?token=hook-secret-123",
        &[],
        &json!({"message": "x"}),
    );
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"].as_str().unwrap_or("").contains("query string"),
        "{b}"
    );
    let (s, b) = post(&gw, "/hooks/agent", &auth, &json!({"mesage": "typo"}));
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().unwrap_or("").contains("mesage"),
        "names the field: {b}"
    );
    let (s, b) = post(
        &gw,
        "/hooks/agent",
        &auth,
        &json!({"message": "x", "sessionKey": "mine"}),
    );
    assert_eq!(s, 400, "{b}");
    let (s, b) = post(
        &gw,
        "/hooks/agent",
        &auth,
        &json!({"message": "x", "channel": "fax", "to": "1"}),
    );
    assert_eq!(s, 400, "{b}");

    // Delivered to an explicit Telegram chat; the same idempotency key runs once.
    let body = json!({"message": "the door opened", "name": "Doorbell", "channel": "telegram", "to": "5", "idempotencyKey": "door-1"});
    let (s, first) = post(
        &gw,
        "/hooks/agent",
        &[("x-hearth-token", "hook-secret-123")],
        &body,
    );
    assert_eq!(s, 200, "{first}");
    let (s, again) = post(&gw, "/hooks/agent", &auth, &body);
    assert_eq!(
        (s, &again["runId"], again["deduped"].as_bool()),
        (200, &first["runId"], Some(true))
    );
    let msgs = tg.wait_bot_messages(token, 1, 30);
    assert!(
        msgs[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("[Doorbell] the door opened"),
        "{msgs:?}"
    );
    assert_eq!(msgs[0]["chat_id"].as_i64(), Some(5));

    // Not delivered: the run completes and is read back over WebSocket.
    let (s, quiet) = post(
        &gw,
        "/hooks/agent",
        &auth,
        &json!({"message": "log this", "deliver": false}),
    );
    assert_eq!(s, 200, "{quiet}");
    let mut ws = gw.ws();
    let w = ws.call(
        "agent.wait",
        json!({"runId": quiet["runId"], "timeoutMs": 30000}),
    );
    assert_eq!(w["status"], "completed", "{w}");

    // A wake runs in the main session and answers where the agent last talked (Telegram).
    let (s, b) = post(
        &gw,
        "/hooks/wake",
        &auth,
        &json!({"text": "mail from the bank", "mode": "now"}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["sessionKey"], "agent:main:main");
    let msgs = tg.wait_bot_messages(token, 2, 30);
    assert!(
        msgs[1]["text"]
            .as_str()
            .unwrap_or("")
            .contains("System event: mail from the bank"),
        "{msgs:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tg.bot_messages(token).len(), 2, "nothing else was sent");
}

#[test]
fn a_binding_sends_one_telegram_peer_to_a_second_agent_with_its_own_workspace() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("tg-bindings");
    let token = "666:bindings";
    let work = root.join("work-ws");
    std::fs::create_dir_all(&work).expect("workspace");
    std::fs::write(
        work.join("AGENTS.md"),
        "You are the WORK agent of the household.\n",
    )
    .expect("AGENTS.md");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &format!(
            "\n[session]\ndm_scope = \"per-channel-peer\"\n\n[agents.work]\nworkspace = \"{}\"\n\n[[bindings]]\nagent = \"work\"\nchannel = \"telegram\"\npeer = \"8\"\n",
            work.display()
        )
        + &channel_config(
            &root,
            &tg,
            token,
            "dm_policy = \"allowlist\"\nallow_from = [\"7\", \"8\"]\n",
        );
    let gw = Gateway::start(&root, &cfg);
    tg.user_says(token, private(7), 7, "hi from seven", json!({}));
    tg.user_says(token, private(8), 8, "hi from eight", json!({}));
    tg.wait_bot_messages(token, 2, 30);

    let system_for = |text: &str| -> String {
        let bodies: Vec<Value> = fake
            .requests()
            .iter()
            .map(|r| match r["body"].as_str() {
                Some(t) => serde_json::from_str(t).unwrap_or(Value::Null),
                None => r["body"].clone(),
            })
            .collect();
        let last_user = |b: &Value| {
            b["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|x| x["role"] == "user"))
                .map(|m| m["content"].clone())
        };
        let b = bodies
            .iter()
            .find(|b| last_user(b).is_some_and(|c| c == text))
            .unwrap_or_else(|| panic!("no model request for {text:?}: {bodies:#?}"));
        b["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        system_for("hi from eight").contains("WORK agent"),
        "peer 8 runs on the work agent"
    );
    assert!(
        !system_for("hi from seven").contains("WORK agent"),
        "peer 7 stays on main"
    );
    assert!(
        work.join("SOUL.md").exists(),
        "the work workspace was seeded"
    );
    let mut ws = gw.ws();
    let s = ws.call("sessions.list", json!({})).to_string();
    assert!(
        s.contains("agent:work:telegram:dm:8") && s.contains("agent:main:telegram:dm:7"),
        "{s}"
    );
}

/// xorshift64*.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// POSTs `body` to the gateway's `path` with `headers`; returns the status and JSON body.
fn post(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut r = ureq::post(&format!("{}{path}", gw.http()))
        .config()
        .http_status_as_error(false)
        .build();
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut resp = r.send_json(body).expect("POST");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}
