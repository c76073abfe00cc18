//! Telegram against npm `telegram-test-api` (tests/kit/telegram.js): pairing, a direct chat
//! with typing, flood control and commands, groups and topics, files, owner approvals and
//! progress drafts.

use super::*;

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

    // The owner writes through the channel; status shows the account.
    let sent = gw
        .cli()
        .args([
            "message",
            "send",
            "--channel",
            "telegram",
            "--to",
            "5",
            "from **the owner**",
        ])
        .output()
        .expect("message send");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let msgs = tg.wait_bot_messages(token, 6, 30);
    assert_eq!(msgs[5]["text"], "from <b>the owner</b>");
    gw.wait_channels(&["telegram/default: connected", "dead letters 0"], 30);

    // Another poller on the same token: Telegram answers 409, and status says so.
    let other: Value = ureq::get(&format!("{}/bot{token}/getUpdates?timeout=1", tg.base()))
        .call()
        .expect("second poller")
        .body_mut()
        .read_json()
        .expect("json");
    assert_eq!(other["ok"], true);
    gw.wait_channels(
        &["not connected", "Another process polls this bot token"],
        10,
    );
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
