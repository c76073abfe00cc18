//! Home Assistant MQTT discovery against a real mosquitto: the device's retained configs,
//! the prompt (text) and notification (notify) entities answered like MQTT requests, the
//! last-reply and status sensors, re-announcing on Home Assistant's birth message, and the
//! availability the entities follow flipping to `offline` when the gateway is killed.

use super::*;
use common::mqtt::{Broker, channel_config as mqtt_config};

/// The discovery config topics of the default node (`hearth`).
const CONFIGS: [&str; 4] = [
    "homeassistant/sensor/hearth/status/config",
    "homeassistant/sensor/hearth/last_reply/config",
    "homeassistant/text/hearth/prompt/config",
    "homeassistant/notify/hearth/notify/config",
];

/// The retained JSON on `topic` (waits up to `secs` for one).
fn retained_json(broker: &Broker, topic: &str, secs: u64) -> Value {
    let m = broker.wait_retained(topic, secs, |m| serde_json::from_str::<Value>(m).is_ok());
    serde_json::from_str(&m).expect("checked above")
}

#[test]
fn ha_discovery_announces_the_device_and_its_prompt_and_notify_entities_answer() {
    let root = temp_dir("mqtt-ha");
    let broker = Broker::start(&root);
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let replies = broker.subscribe("hearth/reply");
    let cfg = fake_config(&[("fake", &fake.base_url())]) + &mqtt_config(&broker, "");
    let _gw = Gateway::start(&root, &cfg);
    broker.wait_retained("hearth/availability", 30, |m| m == "online");

    // Every config is retained, valid JSON, and names the device, its origin and the
    // availability topic with the last will.
    let mut unique = Vec::new();
    for topic in CONFIGS {
        let v = retained_json(&broker, topic, 10);
        for k in ["name", "unique_id", "device", "origin", "availability"] {
            assert!(!v[k].is_null(), "{topic} has no {k}: {v}");
        }
        let d = &v["device"];
        assert_eq!(d["identifiers"], json!(["hearth_hearth"]), "{topic}: {v}");
        assert_eq!(d["manufacturer"], "Hearth", "{v}");
        assert_eq!(d["name"], "Hearth", "{v}");
        for k in ["model", "sw_version"] {
            assert!(d[k].as_str().is_some_and(|s| !s.is_empty()), "{k}: {v}");
        }
        assert_eq!(v["origin"]["name"], "Hearth", "{v}");
        assert_eq!(v["availability"][0]["topic"], "hearth/availability", "{v}");
        assert_eq!(v["availability"][0]["payload_not_available"], "offline");
        unique.push(v["unique_id"].as_str().expect("unique_id").to_string());
    }
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), CONFIGS.len(), "unique ids repeat: {unique:?}");
    let text = retained_json(&broker, CONFIGS[2], 10);
    assert_eq!(text["command_topic"], "hearth/prompt");
    let notify = retained_json(&broker, CONFIGS[3], 10);
    assert_eq!(notify["command_topic"], "hearth/notify");
    let status = retained_json(&broker, CONFIGS[0], 10);
    let status_topic = status["state_topic"].as_str().expect("state_topic");
    broker.wait_retained(status_topic, 30, |m| m == "online");

    // What Home Assistant's text entity publishes (the value as it is) is answered on the
    // reply topic and becomes the last reply.
    broker.publish("hearth/prompt", "what is for dinner?");
    let got = replies.wait(1, 60);
    let v: Value = serde_json::from_str(&got[0]).expect("JSON reply");
    assert_eq!(v["text"], "echo: what is for dinner?", "{v}");
    let run = v["runId"].as_str().expect("runId").to_string();
    let reply_topic = retained_json(&broker, CONFIGS[1], 10)["state_topic"]
        .as_str()
        .expect("state_topic")
        .to_string();
    broker.wait_retained(&reply_topic, 30, |m| m == "echo: what is for dinner?");
    let attrs = retained_json(&broker, "hearth/last_reply/attributes", 10);
    assert_eq!(attrs["run_id"], run.as_str(), "{attrs}");
    assert_eq!(attrs["text"], "echo: what is for dinner?", "{attrs}");

    // A notification reaches the agent marked as one, through the same path.
    broker.publish("hearth/notify", "the washing machine is done");
    let got = replies.wait(2, 60);
    assert!(
        got.iter()
            .any(|l| l
                .contains("echo: Notification from Home Assistant: the washing machine is done")),
        "{got:?}"
    );

    // The status sensor says when the last reply went out.
    let attrs = retained_json(&broker, "hearth/status/attributes", 10);
    assert!(attrs["last_reply_at"].as_str().is_some(), "{attrs}");
    broker.wait_retained(status_topic, 30, |m| m == "online");
}

#[test]
fn ha_birth_message_re_announces_and_the_last_will_makes_the_entities_unavailable() {
    let root = temp_dir("mqtt-ha-birth");
    let broker = Broker::start(&root);
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let cfg = fake_config(&[("fake", &fake.base_url())]) + &mqtt_config(&broker, "");
    let mut gw = Gateway::start(&root, &cfg);
    broker.wait_retained("hearth/availability", 30, |m| m == "online");
    for topic in CONFIGS {
        retained_json(&broker, topic, 10);
    }

    // Gone from the broker (as after a broker reset without persistence)...
    for topic in CONFIGS {
        broker.clear_retained(topic);
    }
    for topic in CONFIGS {
        assert_eq!(broker.retained(topic), None, "{topic} still retained");
    }
    // ...and back once Home Assistant says it is online.
    broker.publish("homeassistant/status", "online");
    for topic in CONFIGS {
        let v = retained_json(&broker, topic, 30);
        assert!(v["unique_id"].is_string(), "{v}");
    }

    // The entities follow the availability topic, which the last will turns offline.
    let avail = retained_json(&broker, CONFIGS[0], 10)["availability"][0]["topic"]
        .as_str()
        .expect("availability topic")
        .to_string();
    gw.kill();
    broker.wait_retained(&avail, 30, |m| m == "offline");
}

#[test]
fn ha_status_sensor_says_error_when_the_model_fails_and_busy_while_a_run_goes_on() {
    let root = temp_dir("mqtt-ha-error");
    let broker = Broker::start(&root);
    let fake = FakeOpenAi::start(vec![
        Reply::Status(400, r#"{"error":{"message":"bad model"}}"#.into(), None),
        Reply::Hang,
    ]);
    let replies = broker.subscribe("hearth/reply");
    let cfg = fake_config(&[("fake", &fake.base_url())]) + &mqtt_config(&broker, "");
    let _gw = Gateway::start(&root, &cfg);
    broker.wait_retained("hearth/status", 30, |m| m == "online");

    broker.publish("hearth/prompt", "are you there?");
    let got = replies.wait(1, 60);
    assert!(got[0].contains("I could not answer this"), "{got:?}");
    broker.wait_retained("hearth/status", 30, |m| m == "error");
    let attrs = retained_json(&broker, "hearth/status/attributes", 10);
    let last = attrs["last_error"].as_str().unwrap_or_default();
    assert!(last.contains("failed"), "{attrs}");
    assert_eq!(attrs["active_runs"], 0, "{attrs}");

    // The next request's model call never answers: busy, with the run counted, for as
    // long as it runs.
    broker.publish("hearth/prompt", "still there?");
    broker.wait_retained("hearth/status", 30, |m| m == "busy");
    let attrs = retained_json(&broker, "hearth/status/attributes", 10);
    assert_eq!(attrs["active_runs"], 1, "{attrs}");
}
