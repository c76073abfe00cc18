//! Discord and Slack against the faked platforms of the test kit (tests/kit/chat-fakes.js):
//! the Gateway with heartbeats and resume, Socket Mode with acks and redelivery, replies,
//! mention gating, splitting at the platform's limits, threads and rate limits.

use super::*;
use common::fakes::{DISCORD_BOT_ID, Fakes, SLACK_BOT_USER};

#[test]
fn discord_gateway_dms_channels_splitting_rate_limits_and_resume() {
    let fakes = Fakes::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("discord");
    std::fs::write(root.join("discord.token"), "discord-bot-token").expect("token");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &format!(
            "\n[channels.discord]\ntoken = \"file:{}\"\napi_base = \"{}/discord/api/v10\"\ndm_policy = \"allowlist\"\nallow_from = [\"111\"]\ngroups = [\"C1\"]\n",
            root.join("discord.token").display(),
            fakes.base()
        );
    let gw = Gateway::start(&root, &cfg);
    gw.wait_channels(&["discord/default: connected"], 30);

    let asked = fakes.discord_says("D111", None, "111", "hello discord", &[]);
    let sent = fakes.wait_calls("createMessage", 1, 30);
    assert_eq!(sent[0]["channel"], "D111");
    assert_eq!(sent[0]["body"]["content"], "echo: hello discord");
    assert_eq!(
        sent[0]["body"]["message_reference"]["message_id"],
        asked.as_str()
    );
    assert_eq!(sent[0]["body"]["allowed_mentions"]["parse"], json!([]));
    assert!(!fakes.calls("typing").is_empty(), "typing was shown");

    // A server channel: only mentions count; a stranger's DM is not answered.
    fakes.discord_says("C1", Some("G1"), "222", "chatter without a mention", &[]);
    fakes.discord_says("D333", None, "333", "a stranger", &[]);
    fakes.discord_says(
        "C1",
        Some("G1"),
        "222",
        &format!("<@{DISCORD_BOT_ID}> status?"),
        &[DISCORD_BOT_ID],
    );
    let sent = fakes.wait_calls("createMessage", 2, 30);
    assert_eq!(sent[1]["channel"], "C1");
    assert!(
        sent[1]["body"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("status?")
    );

    // 2000 characters and 17 lines per message; a 429's retry_after is waited out.
    fakes.flood("discord", 1, 1);
    let long: String = (0..40)
        .map(|i| format!("line {i} {}\n", "word ".repeat(12)))
        .collect();
    let t0 = Instant::now();
    fakes.discord_says("D111", None, "111", &long, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let parts = loop {
        let c = fakes.calls("createMessage");
        let parts: Vec<String> = c[2..]
            .iter()
            .map(|x| x["body"]["content"].as_str().unwrap_or("").to_string())
            .collect();
        if parts.join("\n").contains("line 39") {
            break parts;
        }
        assert!(
            Instant::now() < deadline,
            "the long answer did not arrive: {parts:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "retry_after was not honoured"
    );
    assert!(parts.len() >= 3, "{} parts", parts.len());
    for p in &parts {
        assert!(
            p.chars().count() <= 2000 && p.lines().count() <= 17,
            "{} chars, {} lines",
            p.chars().count(),
            p.lines().count()
        );
    }

    // Reconnect (op 7): the session is resumed and the next message is answered once.
    fakes.discord_reconnect();
    std::thread::sleep(Duration::from_millis(800));
    fakes.discord_says("D111", None, "111", "after the resume", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fakes
        .calls("createMessage")
        .iter()
        .any(|c| c["body"]["content"] == "echo: after the resume")
    {
        assert!(
            Instant::now() < deadline,
            "nothing after the resume: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let all = fakes.calls("createMessage");
    let n = all
        .iter()
        .filter(|c| c["body"]["content"] == "echo: after the resume")
        .count();
    assert_eq!(n, 1);
    assert!(
        !all.iter().any(|c| c["channel"] == "D333"),
        "the stranger got nothing"
    );
    assert!(gw.log().contains("gateway ready"));
}

#[test]
fn slack_socket_mode_acks_after_commit_threads_mentions_and_rate_limits() {
    let fakes = Fakes::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("slack");
    std::fs::write(root.join("app.token"), "xapp-1-test").expect("token");
    std::fs::write(root.join("bot.token"), "xoxb-test").expect("token");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &format!(
            "\n[channels.slack]\napp_token = \"file:{}\"\nbot_token = \"file:{}\"\napi_base = \"{}/slack/api\"\ndm_policy = \"allowlist\"\nallow_from = [\"U111\"]\ngroups = [\"C9\"]\n",
            root.join("app.token").display(),
            root.join("bot.token").display(),
            fakes.base()
        );
    let gw = Gateway::start(&root, &cfg);
    gw.wait_channels(&["slack/default: connected"], 30);

    fakes.slack_event(json!({"type": "message", "channel": "D9", "channel_type": "im", "user": "U111", "text": "hello slack", "ts": "1700000000.000100"}));
    let sent = fakes.wait_calls("chat.postMessage", 1, 30);
    assert_eq!(sent[0]["body"]["channel"], "D9");
    assert_eq!(sent[0]["body"]["text"], "echo: hello slack");

    // A mention arrives as `message` and as `app_mention` (same ts): one run. Markdown
    // becomes mrkdwn.
    let text = format!("<@{SLACK_BOT_USER}> **bold** question");
    let base = json!({"channel": "C9", "channel_type": "channel", "user": "U222", "text": text, "ts": "1700000001.000200"});
    let mut m = base.clone();
    m["type"] = json!("message");
    let mut a = base.clone();
    a["type"] = json!("app_mention");
    fakes.slack_event(m);
    fakes.slack_event(a);
    fakes.slack_event(json!({"type": "message", "channel": "C9", "channel_type": "channel", "user": "U222", "text": "no mention here", "ts": "1700000002.000300"}));
    // In a thread, the answer stays in the thread.
    fakes.slack_event(json!({"type": "message", "channel": "C9", "channel_type": "channel", "user": "U222", "thread_ts": "1700000001.000200",
        "text": format!("<@{SLACK_BOT_USER}> in the thread"), "ts": "1700000003.000400"}));
    let sent = fakes.wait_calls("chat.postMessage", 3, 30);
    std::thread::sleep(Duration::from_millis(800));
    let sent_now = fakes.calls("chat.postMessage");
    assert_eq!(
        sent_now.len(),
        3,
        "one answer per mention, none for chatter: {sent_now:#?}"
    );
    let q = sent
        .iter()
        .find(|c| {
            c["body"]["text"]
                .as_str()
                .unwrap_or("")
                .contains("question")
        })
        .expect("answer");
    assert!(
        q["body"]["text"].as_str().unwrap_or("").contains("*bold*"),
        "{q}"
    );
    let t = sent
        .iter()
        .find(|c| {
            c["body"]["text"]
                .as_str()
                .unwrap_or("")
                .contains("in the thread")
        })
        .expect("thread answer");
    assert_eq!(t["body"]["thread_ts"], "1700000001.000200");
    assert_eq!(fakes.slack_pending(), 0, "every envelope was acknowledged");

    // A new connection on request; Retry-After is honoured.
    fakes.slack_disconnect();
    std::thread::sleep(Duration::from_millis(800));
    fakes.flood("slack", 1, 1);
    let t0 = Instant::now();
    fakes.slack_event(json!({"type": "message", "channel": "D9", "channel_type": "im", "user": "U111", "text": "after reconnect", "ts": "1700000004.000500"}));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fakes
        .calls("chat.postMessage")
        .iter()
        .any(|c| c["body"]["text"] == "echo: after reconnect")
    {
        assert!(
            Instant::now() < deadline,
            "nothing after the reconnect: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
}
