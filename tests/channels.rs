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
fn telegram_pairing_then_a_direct_chat_with_typing_flood_control_and_commands() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(50)]);
    let root = temp_dir("tg-pair");
    let token = "111:pairing";
    let cfg = fake_config(&[("fake", &fake.base_url())]) + &channel_config(&root, &tg, token, "");
    let gw = Gateway::start(&root, &cfg);

    // An unknown sender gets a code, once.
    tg.user_says(token, private(5), 5, "hello?", json!({}));
    let first = tg.wait_bot_messages(token, 1, 30);
    let text = first[0]["text"].as_str().unwrap_or_default().to_string();
    let code: String = text
        .split("pairing code is ")
        .nth(1)
        .expect("a pairing code")
        .chars()
        .take(8)
        .collect();
    assert!(
        code.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "{text}"
    );
    tg.user_says(token, private(5), 5, "hello again?", json!({}));
    let list = gw
        .cli()
        .args(["pairing", "list"])
        .output()
        .expect("pairing list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&code) && listed.contains("sender 5"),
        "{listed}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        tg.bot_messages(token).len(),
        1,
        "the code is sent once per request"
    );

    // A wrong code is refused with a message; the right one approves.
    let bad = gw
        .cli()
        .args(["pairing", "approve", "telegram", "AAAAAAAA"])
        .output()
        .expect("cli");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no pending pairing request"));
    let ok = gw
        .cli()
        .args(["pairing", "approve", "telegram", &code])
        .output()
        .expect("cli");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let msgs = tg.wait_bot_messages(token, 2, 30);
    assert!(
        msgs[1]["text"].as_str().unwrap_or("").contains("approved"),
        "{:?}",
        msgs[1]
    );

    // The next message runs; the first send meets flood control and waits retry_after.
    tg.flood(token, 1, 2);
    let t0 = Instant::now();
    tg.user_says(token, private(5), 5, "ping *one*", json!({}));
    let msgs = tg.wait_bot_messages(token, 3, 60);
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "retry_after was not honoured"
    );
    let reply = &msgs[2];
    assert_eq!(reply["chat_id"].as_i64(), Some(5), "{reply}");
    assert_eq!(reply["parse_mode"], "HTML");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("ping <i>one</i>"),
        "{reply}"
    );
    assert!(
        reply["reply_parameters"]["message_id"].is_i64(),
        "a reply to the message: {reply}"
    );
    let typing = tg.actions(token);
    assert!(
        typing
            .iter()
            .any(|a| a["action"] == "typing" && a["chat_id"].as_i64() == Some(5)),
        "{typing:?}"
    );

    // Chat commands answer without a turn.
    tg.user_says(token, private(5), 5, "/status", json!({}));
    let msgs = tg.wait_bot_messages(token, 4, 30);
    assert!(
        msgs[3]["text"]
            .as_str()
            .unwrap_or("")
            .contains("Session agent:main:main"),
        "{:?}",
        msgs[3]
    );
    tg.user_says(token, private(5), 5, "/new", json!({}));
    let msgs = tg.wait_bot_messages(token, 5, 30);
    assert!(
        msgs[4]["text"]
            .as_str()
            .unwrap_or("")
            .contains("new session"),
        "{:?}",
        msgs[4]
    );
    let mut ws = gw.ws();
    let h = ws.call("chat.history", json!({}));
    assert_eq!(
        h["messages"].as_array().map(Vec::len),
        Some(0),
        "/new set the transcript aside: {h}"
    );
    let n = texts_to(&tg.bot_messages(token), 5)
        .iter()
        .filter(|t| t.contains("ping"))
        .count();
    assert_eq!(n, 1, "one answer despite the 429");
}

#[test]
fn telegram_groups_need_a_mention_topics_get_their_own_session_and_peers_never_share() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("tg-groups");
    let token = "222:groups";
    let access = "dm_policy = \"allowlist\"\nallow_from = [\"7\", \"8\"]\ngroups = [\"-1001\"]\n";
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[session]\ndm_scope = \"per-channel-peer\"\n"
        + &channel_config(&root, &tg, token, access);
    let gw = Gateway::start(&root, &cfg);

    let forum = group(-1001, true);
    let topic = json!({"is_topic_message": true, "message_thread_id": 42});
    tg.user_says(token, forum.clone(), 7, "just chatting among us", topic);
    tg.user_says(
        token,
        group(-2002, false),
        7,
        "@TestNameBot not this group",
        json!({"entities": [{"type": "mention", "offset": 0, "length": 12}]}),
    );
    tg.user_says(
        token,
        private(9),
        9,
        "a stranger under allowlist",
        json!({}),
    );
    let mention = format!("@{BOT_NAME} what is up");
    tg.user_says(
        token,
        forum,
        7,
        &mention,
        json!({"entities": [{"type": "mention", "offset": 0, "length": 12}], "is_topic_message": true, "message_thread_id": 42}),
    );
    tg.user_says(token, private(7), 7, "I am seven", json!({}));
    tg.user_says(token, private(8), 8, "I am eight", json!({}));
    let msgs = tg.wait_bot_messages(token, 3, 30);
    std::thread::sleep(Duration::from_millis(1500));
    let msgs = if msgs.len() == 3 {
        tg.bot_messages(token)
    } else {
        msgs
    };
    assert_eq!(
        msgs.len(),
        3,
        "only the mention and the two allowed DMs are answered: {msgs:#?}"
    );
    let in_group: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["chat_id"].as_i64() == Some(-1001))
        .collect();
    assert_eq!(in_group.len(), 1, "{msgs:#?}");
    assert_eq!(
        in_group[0]["message_thread_id"].as_i64(),
        Some(42),
        "reply in the topic"
    );
    let answer = in_group[0]["text"].as_str().unwrap_or("");
    assert!(answer.contains("what is up"), "{answer}");
    assert!(
        answer.contains("just chatting among us") && answer.contains("[Current message]"),
        "the unmentioned message came along as context: {answer}"
    );
    assert_eq!(texts_to(&msgs, 7).len(), 1);
    assert_eq!(texts_to(&msgs, 8).len(), 1);

    let mut ws = gw.ws();
    let s = ws.call("sessions.list", json!({}));
    let keys: Vec<&str> = s["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["key"].as_str())
        .collect();
    for k in [
        "agent:main:telegram:dm:7",
        "agent:main:telegram:dm:8",
        "agent:main:telegram:group:-1001:topic:42",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    let h8 = ws
        .call(
            "chat.history",
            json!({"sessionKey": "agent:main:telegram:dm:8"}),
        )
        .to_string();
    assert!(
        h8.contains("I am eight") && !h8.contains("seven"),
        "peers never share: {h8}"
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

#[test]
fn telegram_messages_run_exactly_once_across_sigkills() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let tg = std::sync::Arc::new(TelegramEmu::start());
    let fake = FakeOpenAi::start(vec![Reply::Echo(10)]);
    let root = temp_dir("tg-chaos");
    let token = "333:chaos";
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[queue]\nmode = \"followup\"\n\n[session]\ndm_scope = \"per-channel-peer\"\n"
        + &channel_config(
            &root,
            &tg,
            token,
            "dm_policy = \"allowlist\"\nallow_from = [\"*\"]\ntyping = false\n",
        );
    let mut gw = Gateway::start(&root, &cfg);
    const USERS: i64 = 4;
    const EACH: usize = 10;
    let writers: Vec<_> = (0..USERS)
        .map(|u| {
            let tg = tg.clone();
            let mut r = Rng(seed.wrapping_add(u as u64 * 7919) | 1);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let id = 100 + u;
                    tg.user_says(token, private(id), id, &format!("u{id}-m{i}"), json!({}));
                    std::thread::sleep(Duration::from_millis(50 + r.below(300)));
                }
            })
        })
        .collect();
    let mut kills = Vec::new();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(100 + rng.below(700)));
        gw.kill();
        kills.push(crate::now_ms());
        gw.restart();
    }
    for w in writers {
        w.join().expect("writer");
    }
    let total = USERS as usize * EACH;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut by_text: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    loop {
        by_text.clear();
        for m in tg.bot_messages(token) {
            let t = m["text"].as_str().unwrap_or("").to_string();
            let Some(key) = t.strip_prefix("echo: ") else {
                continue;
            };
            by_text
                .entry(key.to_string())
                .or_default()
                .push(m["messageId"].as_u64().unwrap_or(0));
        }
        if by_text.len() >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} answered (seed {seed}): {by_text:?}",
            by_text.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    // Every message ran exactly once: once in its session's transcript.
    let mut ws = gw.ws();
    for u in 0..USERS {
        let id = 100 + u;
        let h = ws.call(
            "chat.history",
            json!({"sessionKey": format!("agent:main:telegram:dm:{id}"), "limit": 1000}),
        );
        let users: Vec<String> = h["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "user")
            .map(|m| m["content"].as_str().unwrap_or("").to_string())
            .collect();
        for i in 0..EACH {
            let t = format!("u{id}-m{i}");
            let n = users.iter().filter(|c| c.contains(&t)).count();
            assert_eq!(n, 1, "{t} ran {n} times (seed {seed}): {users:?}");
        }
    }
    // Every answer was delivered; a second copy only where a kill cut the send from its
    // commit (the outbound at-least-once window, one HTTP exchange long).
    let history = tg.bot_history_times(token);
    let mut dups = 0;
    for (t, ids) in &by_text {
        if ids.len() > 1 {
            let first = history.get(&ids[0]).copied().unwrap_or(0);
            let near_kill = kills.iter().any(|k| *k >= first && *k - first < 1500);
            assert!(
                near_kill,
                "{t} answered {} times with no kill after the first (seed {seed})",
                ids.len()
            );
            dups += ids.len() - 1;
        }
    }
    eprintln!(
        "{total} messages, 8 kills, {dups} replies sent twice by a kill between send and commit"
    );
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

#[test]
fn telegram_webhook_mode_needs_the_secret_and_answers_only_after_the_commit() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("tg-webhook");
    let token = "777:webhook";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    std::fs::write(root.join("wh.secret"), "s3cret_Hook-1").expect("secret");
    let url = format!("http://127.0.0.1:{port}/channels/telegram/webhook");
    let extra = format!(
        "dm_policy = \"allowlist\"\nallow_from = [\"5\"]\nwebhook_url = \"{url}\"\nwebhook_secret = \"file:{}\"\n",
        root.join("wh.secret").display()
    );
    let cfg =
        fake_config(&[("fake", &fake.base_url())]) + &channel_config(&root, &tg, token, &extra);
    let mut gw = Gateway::start_on(&root, &cfg, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = gw
            .cli()
            .args(["channels", "status"])
            .output()
            .expect("status");
        if String::from_utf8_lossy(&st.stdout).contains("telegram/default: connected") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook was never set: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Only Telegram (with the secret) gets in.
    let update = json!({"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "first_name": "Eve"}, "text": "forged"}});
    let (s, _) = post(&gw, "/channels/telegram/webhook", &[], &update);
    assert_eq!(s, 401);
    let (s, _) = post(
        &gw,
        "/channels/telegram/webhook",
        &[("x-telegram-bot-api-secret-token", "guess")],
        &update,
    );
    assert_eq!(s, 401);

    tg.user_says(token, private(5), 5, "via the webhook", json!({}));
    let msgs = tg.wait_bot_messages(token, 1, 30);
    assert!(
        msgs[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("via the webhook"),
        "{msgs:?}"
    );

    // While the gateway is down Telegram keeps the update and retries; it runs once.
    gw.kill();
    tg.user_says(token, private(5), 5, "sent while down", json!({}));
    std::thread::sleep(Duration::from_millis(800));
    gw.restart();
    let msgs = tg.wait_bot_messages(token, 2, 30);
    assert!(
        msgs[1]["text"]
            .as_str()
            .unwrap_or("")
            .contains("sent while down"),
        "{msgs:?}"
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(tg.bot_messages(token).len(), 2, "answered once");
    assert!(
        !msgs
            .iter()
            .any(|m| m["text"].as_str().unwrap_or("").contains("forged"))
    );
}

#[test]
fn telegram_files_are_saved_into_the_workspace_within_the_size_cap() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("tg-files");
    let token = "888:files";
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &channel_config(
            &root,
            &tg,
            token,
            "dm_policy = \"allowlist\"\nallow_from = [\"5\"]\nmax_media_bytes = 1000\n",
        );
    let _gw = Gateway::start(&root, &cfg);
    let notes = b"the spare key is under the blue flowerpot\n".repeat(10);
    tg.upload("F1", &notes);
    tg.user_says(
        token,
        private(5),
        5,
        "",
        json!({"text": null, "caption": "see my notes", "document": {"file_id": "F1", "file_name": "notes.txt", "mime_type": "text/plain", "file_size": notes.len()}}),
    );
    tg.upload("F2", &vec![0u8; 5000]);
    tg.user_says(
        token,
        private(5),
        5,
        "",
        json!({"text": null, "caption": "a big one", "document": {"file_id": "F2", "file_name": "big.bin", "mime_type": "application/octet-stream", "file_size": 5000}}),
    );
    let msgs = tg.wait_bot_messages(token, 2, 30);
    let first = msgs[0]["text"].as_str().unwrap_or("");
    assert!(
        first.contains("see my notes") && first.contains("notes.txt (text/plain, 420 bytes)"),
        "{first}"
    );
    let saved = std::fs::read_dir(root.join("data/workspace/inbox/telegram/5"))
        .expect("inbox dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with("notes.txt"))
        .expect("saved file");
    assert_eq!(std::fs::read(saved.path()).expect("read"), notes);
    let second = msgs[1]["text"].as_str().unwrap_or("");
    assert!(
        second.contains("big.bin")
            && second.contains("not saved")
            && second.contains("1000-byte limit"),
        "{second}"
    );
}

#[test]
fn the_owner_answers_pairing_requests_from_their_own_chat() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("tg-owner");
    let token = "999:owner";
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &channel_config(&root, &tg, token, "allow_from = [\"9\"]\n");
    let _gw = Gateway::start(&root, &cfg);
    tg.user_says(token, private(5), 5, "may I?", json!({}));
    let msgs = tg.wait_bot_messages(token, 1, 30);
    let text = msgs[0]["text"].as_str().unwrap_or_default();
    let code: String = text
        .split("pairing code is ")
        .nth(1)
        .expect("code")
        .chars()
        .take(8)
        .collect();
    tg.user_says(token, private(9), 9, "/pair list", json!({}));
    let msgs = tg.wait_bot_messages(token, 2, 30);
    assert!(
        msgs[1]["text"].as_str().unwrap_or("").contains(&code),
        "{:?}",
        msgs[1]
    );
    assert_eq!(msgs[1]["chat_id"].as_i64(), Some(9));
    tg.user_says(
        token,
        private(9),
        9,
        &format!("/pair approve {}", code.to_lowercase()),
        json!({}),
    );
    let msgs = tg.wait_bot_messages(token, 4, 30);
    let to_owner = texts_to(&msgs, 9);
    assert!(
        to_owner.iter().any(|t| t.contains("Approved User5")),
        "{to_owner:?}"
    );
    assert!(
        texts_to(&msgs, 5)
            .iter()
            .any(|t| t.contains("approved you"))
    );
    tg.user_says(token, private(5), 5, "thank you", json!({}));
    let msgs = tg.wait_bot_messages(token, 5, 30);
    assert!(
        texts_to(&msgs, 5)
            .iter()
            .any(|t| t.contains("echo: thank you"))
    );
    // A sender who is not an owner cannot use /pair.
    assert!(
        !texts_to(&msgs, 5)
            .iter()
            .any(|t| t.contains("Waiting for approval"))
    );
}

#[test]
fn a_slow_answer_shows_a_draft_that_becomes_the_answer() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(250)]);
    let root = temp_dir("tg-draft");
    let token = "1010:drafts";
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &channel_config(
            &root,
            &tg,
            token,
            "dm_policy = \"allowlist\"\nallow_from = [\"5\"]\ntyping = false\ndraft_after_secs = 1\n",
        );
    let _gw = Gateway::start(&root, &cfg);
    let words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";
    tg.user_says(token, private(5), 5, words, json!({}));
    let want = format!("echo: {words}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = tg.bot_messages(token);
        if m.iter().any(|x| x["text"] == want.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "no final answer: {m:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let msgs = tg.bot_messages(token);
    assert_eq!(
        msgs.len(),
        1,
        "the draft became the answer, no second message: {msgs:#?}"
    );
    assert_eq!(msgs[0]["parse_mode"], "HTML", "the final edit is formatted");
    let edits: Vec<Value> = tg
        .actions(token)
        .into_iter()
        .filter(|a| a["action"] == "editMessageText")
        .collect();
    assert!(
        edits
            .iter()
            .any(|e| e["text"].as_str().unwrap_or("").ends_with(" …")),
        "the draft grew while the answer streamed: {edits:#?}"
    );
    assert_eq!(
        edits.last().map(|e| e["text"].clone()),
        Some(json!(want)),
        "the last edit is the answer"
    );
}
