//! Telegram delivery guarantees: exactly-once across SIGKILLs (long polling) and webhook
//! mode (secret, 200 only after the commit, Telegram's retries across a kill).

use super::*;

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
            .map(|m| m["text"].as_str().unwrap_or("").to_string())
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
            let near_kill = kills.iter().any(|k| *k >= first && *k - first < 5000);
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
    // Connected once getMe and setWebhook succeeded.
    gw.wait_channels(&["telegram/default: connected"], 30);

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
