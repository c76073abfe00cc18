//! Matrix against a real Synapse: a direct chat, a room with mention gating and a thread,
//! invites joined, an unknown sender ignored, and exactly-once (both ways) across SIGKILLs.

use super::*;
use common::matrix::{Synapse, channel_config as matrix_config};

fn body(e: &Value) -> String {
    e["content"]["body"].as_str().unwrap_or("").to_string()
}

fn wait_joined(u: &common::matrix::User, room: &str, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !u.is_joined(room, who) {
        assert!(Instant::now() < deadline, "{who} did not join {room}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn matrix_direct_chats_and_rooms_with_mentions_threads_and_invites() {
    let root = temp_dir("matrix");
    let hs = Synapse::start(&root);
    let (bot, alice, bob) = (
        hs.register("hearth"),
        hs.register("alice"),
        hs.register("bob"),
    );
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let access = format!(
        "dm_policy = \"allowlist\"\nallow_from = [\"{}\"]\ngroup_policy = \"open\"\n",
        alice.id
    );
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[session]\ndm_scope = \"per-channel-peer\"\n"
        + &matrix_config(&root, &hs, &bot, &access);
    let gw = Gateway::start(&root, &cfg);
    gw.wait_channels(&["matrix/default: connected"], 30);

    // A direct chat: invited, joined, answered as a reply with HTML.
    let dm = alice.create_room(&[&bot.id], true);
    wait_joined(&alice, &dm, &bot.id);
    let asked = alice.say(&dm, "hello from **alice**");
    let got = alice.wait_messages(&dm, &bot.id, 1, 30);
    assert!(
        body(&got[0]).contains("echo: hello from **alice**"),
        "{:?}",
        got[0]
    );
    assert_eq!(
        got[0]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        asked.as_str()
    );
    assert!(
        got[0]["content"]["formatted_body"]
            .as_str()
            .unwrap_or("")
            .contains("<b>alice</b>"),
        "{:?}",
        got[0]
    );

    // A room: only mentions count; a thread gets its answer in the thread.
    let room = alice.create_room(&[&bot.id, &bob.id], false);
    bob.join(&room);
    wait_joined(&alice, &room, &bot.id);
    bob.say(&room, "no one is talking to the bot");
    bob.say(&room, "hearth: what is the time?");
    let root_ev = alice.say(&room, "a thread starts here");
    alice.send(
        &room,
        json!({"msgtype": "m.text", "body": "in the thread, hearth?", "m.mentions": {"user_ids": [bot.id]},
               "m.relates_to": {"rel_type": "m.thread", "event_id": root_ev, "is_falling_back": true, "m.in_reply_to": {"event_id": root_ev}}}),
    );
    let got = alice.wait_messages(&room, &bot.id, 2, 30);
    assert!(
        got.iter().any(|e| body(e).contains("what is the time?")),
        "{got:#?}"
    );
    let in_thread = got
        .iter()
        .find(|e| body(e).contains("in the thread"))
        .expect("thread answer");
    assert_eq!(in_thread["content"]["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(
        in_thread["content"]["m.relates_to"]["event_id"],
        root_ev.as_str()
    );

    // Bob is not on the DM allowlist: his direct chat is joined but not answered.
    let bob_dm = bob.create_room(&[&bot.id], true);
    wait_joined(&bob, &bob_dm, &bot.id);
    bob.say(&bob_dm, "let me in");
    std::thread::sleep(Duration::from_secs(3));
    assert!(bob.messages_from(&bob_dm, &bot.id).is_empty());
    assert_eq!(
        alice.messages_from(&room, &bot.id).len(),
        2,
        "the unmentioned message was not answered"
    );

    let mut ws = gw.ws();
    let s = ws.call("sessions.list", json!({})).to_string();
    assert!(
        s.contains(&format!("agent:main:matrix:dm:{}", alice.id)),
        "{s}"
    );
    assert!(
        s.contains(&format!("agent:main:matrix:group:{room}:thread:{root_ev}")),
        "{s}"
    );
}

#[test]
fn matrix_messages_run_and_are_answered_exactly_once_across_sigkills() {
    let seed = crate::now_ms() | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let root = temp_dir("matrix-chaos");
    let hs = Synapse::start(&root);
    let (bot, alice) = (hs.register("hearth"), hs.register("alice"));
    let fake = FakeOpenAi::start(vec![Reply::Echo(10)]);
    let access = format!(
        "dm_policy = \"allowlist\"\nallow_from = [\"{}\"]\ntyping = false\n",
        alice.id
    );
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[queue]\nmode = \"followup\"\n"
        + &matrix_config(&root, &hs, &bot, &access);
    let mut gw = Gateway::start(&root, &cfg);
    gw.wait_channels(&["matrix/default: connected"], 30);
    let dm = alice.create_room(&[&bot.id], true);
    wait_joined(&alice, &dm, &bot.id);
    const N: usize = 30;
    let a = alice.clone();
    let room = dm.clone();
    let mut r = Rng(seed.wrapping_mul(17) | 1);
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            a.say(&room, &format!("msg-{i}"));
            std::thread::sleep(Duration::from_millis(40 + r.below(200)));
        }
    });
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(200 + rng.below(700)));
        gw.kill();
        gw.restart();
    }
    writer.join().expect("writer");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = alice.messages_from(&dm, &bot.id);
        let answered = (0..N)
            .filter(|i| got.iter().any(|e| body(e) == format!("echo: msg-{i}")))
            .count();
        if answered == N {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{answered} of {N} answered (seed {seed})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let got = alice.messages_from(&dm, &bot.id);
    for i in 0..N {
        let n = got
            .iter()
            .filter(|e| body(e) == format!("echo: msg-{i}"))
            .count();
        assert_eq!(
            n, 1,
            "msg-{i} answered {n} times (seed {seed}): the transaction id de-duplicates resends"
        );
    }
    let mut ws = gw.ws();
    let h = ws.call("chat.history", json!({"limit": 1000}));
    let msgs = h["messages"].as_array().expect("messages");
    for i in 0..N {
        let t = format!("msg-{i}");
        let n = msgs
            .iter()
            .filter(|m| m["role"] == "user" && m["text"] == t.as_str())
            .count();
        assert_eq!(n, 1, "msg-{i} ran {n} times (seed {seed})");
    }
}

#[test]
fn matrix_a_slow_answer_is_a_draft_edited_into_the_answer() {
    let root = temp_dir("matrix-draft");
    let hs = Synapse::start(&root);
    let (bot, alice) = (hs.register("hearth"), hs.register("alice"));
    let fake = FakeOpenAi::start(vec![Reply::Echo(250)]);
    let access = format!(
        "dm_policy = \"allowlist\"\nallow_from = [\"{}\"]\ntyping = false\ndraft_after_secs = 1\n",
        alice.id
    );
    let cfg =
        fake_config(&[("fake", &fake.base_url())]) + &matrix_config(&root, &hs, &bot, &access);
    let gw = Gateway::start(&root, &cfg);
    gw.wait_channels(&["matrix/default: connected"], 30);
    let dm = alice.create_room(&[&bot.id], true);
    wait_joined(&alice, &dm, &bot.id);
    let words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";
    alice.say(&dm, words);
    let want = format!("echo: {words}");
    let is_edit = |e: &Value| e["content"]["m.relates_to"]["rel_type"] == "m.replace";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = alice.messages_from(&dm, &bot.id);
        if got
            .iter()
            .any(|e| is_edit(e) && e["content"]["m.new_content"]["body"] == want.as_str())
        {
            break;
        }
        assert!(Instant::now() < deadline, "no final edit: {got:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let got = alice.messages_from(&dm, &bot.id);
    let originals: Vec<&Value> = got.iter().filter(|e| !is_edit(e)).collect();
    assert_eq!(originals.len(), 1, "one message, edited: {got:#?}");
    assert!(
        body(originals[0]).ends_with(" …"),
        "it started as a draft: {:?}",
        originals[0]
    );
    let last = got.iter().rev().find(|e| is_edit(e)).expect("an edit");
    assert_eq!(
        last["content"]["m.new_content"]["body"],
        want.as_str(),
        "the last edit is the answer"
    );
    assert_eq!(
        last["content"]["m.relates_to"]["event_id"],
        originals[0]["event_id"]
    );
}
