//! MQTT against a real mosquitto: requests in, answers on the reply topic, availability as
//! a retained message with the last will, and exactly-once across SIGKILLs.

use super::*;
use common::mqtt::{Broker, channel_config as mqtt_config};

#[test]
fn mqtt_requests_get_answers_on_the_reply_topic_and_availability_follows_the_gateway() {
    let root = temp_dir("mqtt");
    let broker = Broker::start(&root);
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let replies = broker.subscribe("hearth/reply");
    let custom = broker.subscribe("kitchen/answers");
    let cfg = fake_config(&[("fake", &fake.base_url())]) + &mqtt_config(&broker, "");
    let mut gw = Gateway::start(&root, &cfg);
    broker.wait_retained("hearth/availability", 10, |m| m == "online");

    broker.publish(
        "hearth/request",
        r#"{"id": "r1", "text": "is the oven on?", "from": "kitchen-panel"}"#,
    );
    broker.publish("hearth/request", "plain words work too");
    broker.publish(
        "hearth/request",
        r#"{"id": 7, "text": "answer elsewhere", "reply_to": "kitchen/answers"}"#,
    );
    let got = replies.wait(2, 30);
    let parsed: Vec<Value> = got
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON reply"))
        .collect();
    let r1 = parsed
        .iter()
        .find(|v| v["id"] == "r1")
        .expect("reply to r1");
    assert!(
        r1["text"]
            .as_str()
            .unwrap_or("")
            .contains("is the oven on?"),
        "{r1}"
    );
    assert!(
        r1["runId"].as_str().unwrap_or("").starts_with("run_"),
        "{r1}"
    );
    let plain = parsed
        .iter()
        .find(|v| v["id"].is_null())
        .expect("reply to the plain request");
    assert!(
        plain["text"]
            .as_str()
            .unwrap_or("")
            .contains("plain words work too"),
        "{plain}"
    );
    let other = custom.wait(1, 30);
    let v: Value = serde_json::from_str(&other[0]).expect("JSON");
    assert_eq!(v["id"], "7");
    assert!(
        v["text"]
            .as_str()
            .unwrap_or("")
            .contains("answer elsewhere")
    );

    // Status names the account; a kill leaves the last will, a restart says online again.
    let st = gw
        .cli()
        .args(["channels", "status"])
        .output()
        .expect("status");
    assert!(String::from_utf8_lossy(&st.stdout).contains("mqtt/default: connected"));
    gw.kill();
    broker.wait_retained("hearth/availability", 20, |m| m == "offline");
    // Published while the gateway is down: kept by the broker for its persistent session.
    broker.publish(
        "hearth/request",
        r#"{"id": "while-down", "text": "anyone home?"}"#,
    );
    gw.restart();
    let got = replies.wait(3, 30);
    assert!(
        got.iter()
            .any(|l| l.contains("while-down") && l.contains("anyone home?")),
        "{got:?}"
    );
    broker.wait_retained("hearth/availability", 10, |m| m == "online");
}

#[test]
fn mqtt_requests_run_exactly_once_across_sigkills() {
    let seed = crate::now_ms() | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let root = temp_dir("mqtt-chaos");
    let broker = std::sync::Arc::new(Broker::start(&root));
    let fake = FakeOpenAi::start(vec![Reply::Echo(10)]);
    let replies = broker.subscribe("hearth/reply");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[queue]\nmode = \"followup\"\n"
        + &mqtt_config(&broker, "");
    let mut gw = Gateway::start(&root, &cfg);
    const N: usize = 40;
    let b = broker.clone();
    let mut r = Rng(seed.wrapping_mul(31) | 1);
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            // Half carry an id (always deduplicated), half are plain text (deduplicated on
            // a redelivery, by packet id and payload).
            if i % 2 == 0 {
                b.publish(
                    "hearth/request",
                    &format!(r#"{{"id": "q{i}", "text": "req-{i}"}}"#),
                );
            } else {
                b.publish("hearth/request", &format!("req-{i}"));
            }
            std::thread::sleep(Duration::from_millis(30 + r.below(150)));
        }
    });
    let mut kills = Vec::new();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
        gw.kill();
        kills.push(crate::now_ms());
        gw.restart();
    }
    writer.join().expect("writer");
    let deadline = Instant::now() + Duration::from_secs(120);
    let answered = |p: &[String]| {
        (0..N)
            .filter(|i| p.iter().any(|l| l.contains(&format!("echo: req-{i}\""))))
            .count()
    };
    loop {
        let p = replies.payloads();
        if answered(&p) == N {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {N} answered (seed {seed})",
            answered(&p)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut ws = gw.ws();
    let h = ws.call("chat.history", json!({"limit": 1000}));
    let users: Vec<String> = h["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .collect();
    for i in 0..N {
        let n = users.iter().filter(|c| **c == format!("req-{i}")).count();
        assert_eq!(n, 1, "req-{i} ran {n} times (seed {seed}): {users:?}");
    }
    let extra = replies.payloads().len() - N;
    eprintln!(
        "{N} requests, 8 kills, {extra} answers published twice by a kill between PUBACK and commit"
    );
    assert!(
        extra <= kills.len(),
        "more repeats ({extra}) than kills (seed {seed})"
    );
}

#[test]
fn mqtt_over_tls_with_a_user_and_password() {
    let root = temp_dir("mqtt-tls");
    let (broker, ca) = Broker::start_tls(&root, "hearth", "s3cret");
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    std::fs::write(root.join("mqtt.pw"), "s3cret").expect("password");
    let extra = format!(
        "tls = true\nca_file = \"{}\"\nusername = \"hearth\"\npassword = \"file:{}\"\n",
        ca.display(),
        root.join("mqtt.pw").display()
    );
    let cfg = fake_config(&[("fake", &fake.base_url())]) + &mqtt_config(&broker, &extra);
    let gw = Gateway::start(&root, &cfg);
    gw.wait_channels(&["mqtt/default: connected"], 30);

    // A wrong password is refused by the broker, and status says so.
    let root2 = temp_dir("mqtt-tls-bad");
    std::fs::write(root2.join("mqtt.pw"), "wrong").expect("password");
    let bad = extra.replace(
        &root.join("mqtt.pw").display().to_string(),
        &root2.join("mqtt.pw").display().to_string(),
    );
    let cfg2 = fake_config(&[("fake", &fake.base_url())])
        + &mqtt_config(&broker, &format!("client_id = \"hearth-2\"\n{bad}"));
    let gw2 = Gateway::start(&root2, &cfg2);
    gw2.wait_channels(&["mqtt/default: not connected", "last error"], 30);
}
