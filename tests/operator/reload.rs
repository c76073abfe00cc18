//! Live config reload: `config.apply` refuses a bad config naming the key and line and
//! changes nothing; a good one re-wires agents and starts an added channel (MQTT, against a
//! real mosquitto) while a turn runs and another waits, and both are answered; SIGHUP
//! re-reads the file.

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{Gateway, fake_config, send, temp_dir};
use crate::common::mqtt::{Broker, channel_config};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn agent_ids(v: &Value) -> Vec<String> {
    v["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn config_apply_and_sighup_rewire_without_dropping_turns() {
    let root = temp_dir("reload");
    let broker = Broker::start(&root);
    let fake = FakeOpenAi::start(vec![Reply::Echo(300)]);
    let base = fake_config(&[("fake", &fake.base_url())]);
    let gw = Gateway::start(&root, &base);
    let file = root.join("config.toml");
    let mut ws = gw.ws();

    // A bad config: refused, with the key and line; the file and the gateway unchanged.
    let got = ws.call("config.get", json!({}));
    let hash = got["hash"].as_str().expect("hash").to_string();
    let bad = format!("{base}\n[gateway]\nport = \"eighty\"\n");
    let r = ws.request("config.apply", json!({"raw": bad, "baseHash": hash}));
    assert_eq!(r["ok"], false, "{r}");
    let issue = &r["error"]["details"]["issues"][0];
    assert_eq!(r["error"]["details"]["code"], "INVALID_CONFIG", "{r}");
    assert_eq!(issue["path"], "gateway.port", "{r}");
    assert_eq!(issue["line"], base.lines().count() + 3, "{r}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        base,
        "the file is untouched"
    );
    let stale = ws.request(
        "config.apply",
        json!({"raw": base, "baseHash": "0".repeat(64)}),
    );
    assert_eq!(
        stale["error"]["details"]["code"], "BASE_HASH_MISMATCH",
        "{stale}"
    );

    // A turn runs and another waits while a good config adds an agent and a channel.
    let a = send(&mut ws, "agent:main:main", "first, while reloading");
    let b = send(&mut ws, "agent:main:main", "second, queued behind it");
    let good = format!(
        "{base}\n[agents.ops]\n{}\n[gateway]\ntick_secs = 7\n",
        channel_config(&broker, "")
    );
    let applied = ws.call("config.apply", json!({"raw": good, "baseHash": hash}));
    assert_eq!(applied["ok"], true, "{applied}");
    let changed: Vec<&str> = applied["changed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        changed.contains(&"agents") && changed.contains(&"channels"),
        "{applied}"
    );
    assert_eq!(applied["restartRequired"], json!(["gateway"]), "{applied}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), good);
    for (run, text) in [
        (&a, "first, while reloading"),
        (&b, "second, queued behind it"),
    ] {
        let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 30000}));
        assert_eq!(w["status"], "completed", "{w}");
        assert!(w["text"].as_str().unwrap().contains(text), "{w}");
    }
    assert_eq!(
        agent_ids(&ws.call("agents.list", json!({}))),
        ["main", "ops"]
    );

    // The added channel connected: availability online, a request answered.
    broker.wait_retained("hearth/availability", 20, |m| m == "online");
    let replies = broker.subscribe("hearth/reply");
    broker.publish(
        "hearth/request",
        r#"{"id": "after-reload", "text": "hello mqtt"}"#,
    );
    let got = replies.wait(1, 30);
    assert!(got[0].contains("hello mqtt"), "{got:?}");

    // SIGHUP: the file is read again.
    let again = format!(
        "{}\n[agents.night]\n",
        std::fs::read_to_string(&file).unwrap()
    );
    std::fs::write(&file, again).unwrap();
    let pid = std::fs::read_to_string(gw.data_dir().join("gateway.json")).unwrap();
    let pid = serde_json::from_str::<Value>(&pid).unwrap()["pid"]
        .as_u64()
        .unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids = agent_ids(&ws.call("agents.list", json!({})));
        if ids.contains(&"night".to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload: {ids:?}\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gw.log().contains("configuration reloaded"));
}
