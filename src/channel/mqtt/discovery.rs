//! Home Assistant MQTT discovery (<https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery>):
//! Hearth announces itself as one device with four entities, each by a retained JSON config
//! on `<prefix>/<component>/<node_id>/<object_id>/config`, sent at every connection and
//! again whenever Home Assistant says `online` on `<prefix>/status` (its birth message):
//!
//! - `sensor` *Status*: `online`, `busy` (turns running or waiting anywhere in the gateway)
//!   or `error` (the last request from this account failed, or could not be admitted),
//!   with active runs, the last error and the last reply time as attributes;
//! - `sensor` *Last reply*: the last answer sent on this account, cut to Home Assistant's
//!   255-character state limit, the whole text in the `text` attribute;
//! - `text` *Prompt*: its command topic is a request topic: the value enters the gate as a
//!   plain-text MQTT request does (persistent session, QoS 1, acknowledged after the commit,
//!   deduplicated on redelivery) and the answer goes to the reply topic;
//! - `notify` *Notification*: the same path, the message marked as a notification from Home
//!   Assistant, so the agent treats it as news about the house, not as a question.
//!
//! Every entity is available while the retained availability topic (the client's last
//! will) says `online`. States are retained, so Home Assistant has them after a restart.
//! Like the rest of `channel/`, this imports `core` and `config` only.

use super::MqttSink;
use crate::config::MqttConfig;
use crate::core::{Activity, ChannelInbound, Delivery, InboundSink, now_ms, rfc3339_utc};
use rumqttc::QoS;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest state Home Assistant keeps, characters.
const MAX_STATE_CHARS: usize = 255;
/// How often the status is looked at when nothing wakes its task.
const TICK: Duration = Duration::from_secs(2);
/// What a notify message is prefixed with before it reaches the agent.
const NOTICE: &str = "Notification from Home Assistant: ";

/// The topics of the device's entities.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Topics {
    /// `<prefix>/status`: Home Assistant's birth (`online`) and last will.
    ha_status: String,
    status: String,
    status_attributes: String,
    last_reply: String,
    last_reply_attributes: String,
    /// The text entity's command topic.
    prompt: String,
    /// The notify entity's command topic.
    notify: String,
}

impl Topics {
    fn new(cfg: &MqttConfig) -> Self {
        let n = cfg.node();
        Self {
            ha_status: format!("{}/status", cfg.discovery_prefix),
            status: format!("{n}/status"),
            status_attributes: format!("{n}/status/attributes"),
            last_reply: format!("{n}/last_reply"),
            last_reply_attributes: format!("{n}/last_reply/attributes"),
            prompt: format!("{n}/prompt"),
            notify: format!("{n}/notify"),
        }
    }
}

/// The last answer sent on this account.
#[derive(Debug, Clone)]
struct Reply {
    text: String,
    run_id: String,
    topic: Option<String>,
    at_ms: u64,
}

/// What the status sensor is derived from.
#[derive(Debug, Default)]
struct State {
    /// Between a CONNACK and the next connection error.
    connected: bool,
    /// Runs whose answers were published since the status task last looked, oldest first.
    replied: Vec<String>,
    last_reply: Option<Reply>,
    /// The last request failed (its run, or its admission) and none answered since.
    failed: bool,
    /// The last error seen (a failed run, an admission, the connection), with its time.
    last_error: Option<(String, u64)>,
    /// The status state and attributes last published (`None`: publish at the next look).
    published: Option<(String, String)>,
}

/// The device, its entities and their state.
pub(super) struct Discovery {
    topics: Topics,
    /// `(config topic, JSON config)` per entity.
    configs: Vec<(String, String)>,
    state: Mutex<State>,
    wake: Notify,
}

impl Discovery {
    /// The device of `cfg` (pure: nothing is sent until [`Discovery::connected`]).
    pub(super) fn new(cfg: &MqttConfig) -> Self {
        let topics = Topics::new(cfg);
        Self {
            configs: configs(cfg, &topics),
            topics,
            state: Mutex::default(),
            wake: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a CONNACK: subscribes to Home Assistant's status and the command topics,
    /// publishes the configs and the last reply, and has the status published again.
    pub(super) fn connected(&self, sink: &MqttSink) {
        let t = &self.topics;
        for topic in [&t.ha_status, &t.prompt, &t.notify] {
            if let Err(e) = sink.client.try_subscribe(topic, QoS::AtLeastOnce) {
                tracing::error!("MQTT discovery: cannot subscribe to {topic}: {e}");
            }
        }
        self.announce(sink);
        let reply = {
            let mut s = self.state();
            s.connected = true;
            s.published = None;
            s.last_reply.clone()
        };
        if let Some(r) = reply {
            self.publish_reply(sink, &r);
        }
        self.wake.notify_one();
    }

    /// After a connection error: nothing is published until the next CONNACK.
    pub(super) fn disconnected(&self, why: &str) {
        let mut s = self.state();
        s.connected = false;
        s.last_error = Some((why.to_string(), now_ms()));
    }

    /// Publishes every entity's config, retained.
    fn announce(&self, sink: &MqttSink) {
        for (topic, config) in &self.configs {
            if !sink.publish_unconfirmed(topic, true, config.clone()) {
                tracing::warn!("MQTT discovery: the client's queue is full; {topic} not sent");
            }
        }
    }

    /// Handles `p` when it is not a request: Home Assistant's status (`online` has the
    /// configs and the status published again), or one of the device's own state topics
    /// coming back through a request filter (ignored, so answers never loop). Returns
    /// whether it handled `p`; the caller acknowledges it either way.
    pub(super) fn take(&self, sink: &MqttSink, p: &rumqttc::Publish) -> bool {
        let t = &self.topics;
        if p.topic == t.ha_status {
            if p.payload.as_ref() == b"online" {
                tracing::info!("MQTT discovery: Home Assistant is online; announcing again");
                self.announce(sink);
                self.state().published = None;
                self.wake.notify_one();
            }
            return true;
        }
        let own = [
            &t.status,
            &t.status_attributes,
            &t.last_reply,
            &t.last_reply_attributes,
        ];
        own.iter().any(|o| **o == p.topic) || self.configs.iter().any(|(c, _)| *c == p.topic)
    }

    /// A request as the gate gets it: a notify message is marked as a notification from
    /// Home Assistant; anything else is left as it is.
    pub(super) fn shape(&self, topic: &str, mut m: ChannelInbound) -> ChannelInbound {
        if topic == self.topics.notify && !m.message.text.trim().is_empty() {
            m.message.text = format!("{NOTICE}{}", m.message.text);
            m.message.origin.sender_name = Some("Home Assistant".into());
        }
        m
    }

    /// A request was handed to the gate (`Err`: it could not be admitted, it is tried
    /// again); the status is looked at soon.
    pub(super) fn admitted(&self, r: Result<(), &str>) {
        if let Err(e) = r {
            let mut s = self.state();
            s.failed = true;
            s.last_error = Some((format!("cannot admit a request: {e}"), now_ms()));
        }
        self.wake.notify_one();
    }

    /// An answer was published (its PUBACK came): it becomes the last reply, and its run
    /// is checked for failure by the status task.
    pub(super) fn replied(&self, sink: &MqttSink, d: &Delivery) {
        let r = Reply {
            text: d.message.text.clone(),
            run_id: d.run_id.clone(),
            topic: d.message.target.chat.clone(),
            at_ms: now_ms(),
        };
        {
            let mut s = self.state();
            s.replied.push(r.run_id.clone());
            s.last_reply = Some(r.clone());
        }
        self.publish_reply(sink, &r);
        self.wake.notify_one();
    }

    fn publish_reply(&self, sink: &MqttSink, r: &Reply) {
        let attributes = json!({
            "text": r.text,
            "run_id": r.run_id,
            "topic": r.topic,
            "at": rfc3339_utc(r.at_ms),
        });
        let t = &self.topics;
        let ok = sink.publish_unconfirmed(&t.last_reply, true, truncate(&r.text))
            && sink.publish_unconfirmed(&t.last_reply_attributes, true, attributes.to_string());
        if !ok {
            tracing::warn!("MQTT discovery: the client's queue is full; last reply not sent");
        }
    }

    /// The status sensor's state and attributes (JSON) for `a`.
    fn status(&self, a: Activity) -> (String, String) {
        let s = self.state();
        let active = a.running + a.queued;
        let state = match (active, s.failed) {
            (1.., _) => "busy",
            (0, true) => "error",
            (0, false) => "online",
        };
        let attributes = json!({
            "active_runs": active,
            "running": a.running,
            "queued": a.queued,
            "last_error": s.last_error.as_ref().map(|e| &e.0),
            "last_error_at": s.last_error.as_ref().map(|e| rfc3339_utc(e.1)),
            "last_reply_at": s.last_reply.as_ref().map(|r| rfc3339_utc(r.at_ms)),
        });
        (state.to_string(), attributes.to_string())
    }

    /// Publishes the status when it changed (or was asked for) and the client is connected.
    fn publish_status(&self, sink: &MqttSink, a: Activity) {
        let now = self.status(a);
        {
            let s = self.state();
            if !s.connected || s.published.as_ref() == Some(&now) {
                return;
            }
        }
        let t = &self.topics;
        let ok = sink.publish_unconfirmed(&t.status, true, now.0.clone())
            && sink.publish_unconfirmed(&t.status_attributes, true, now.1.clone());
        if ok {
            self.state().published = Some(now);
        }
    }

    /// Starts the task that keeps the status sensor current until `shutdown`: it wakes on
    /// a request, a reply or a (re)connection, and every [`TICK`] for runs from other
    /// channels. Answered runs are checked in order: a failed one sets `error`, a good one
    /// clears it.
    pub(super) fn spawn_status(
        self: Arc<Self>,
        sink: Arc<MqttSink>,
        inbound: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(TICK) => {}
                }
                let runs = std::mem::take(&mut self.state().replied);
                for run in runs {
                    match inbound.run_error(&run).await {
                        Ok(error) => {
                            let mut s = self.state();
                            s.failed = error.is_some();
                            if let Some(e) = error {
                                s.last_error = Some((format!("run {run} failed: {e}"), now_ms()));
                            }
                        }
                        Err(e) => tracing::warn!("MQTT discovery: cannot read run {run}: {e}"),
                    }
                }
                self.publish_status(&sink, inbound.activity());
            }
        });
    }
}

/// `text` cut to Home Assistant's state limit, with an ellipsis when cut.
fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_STATE_CHARS {
        return text.to_string();
    }
    let mut t: String = text.chars().take(MAX_STATE_CHARS - 1).collect();
    t.push('…');
    t
}

/// The discovery configs of the device's entities, as `(topic, JSON)`.
fn configs(cfg: &MqttConfig, t: &Topics) -> Vec<(String, String)> {
    let node = cfg.node();
    let version = env!("CARGO_PKG_VERSION");
    let common = json!({
        "device": {
            "identifiers": [format!("hearth_{node}")],
            "name": cfg.device(),
            "manufacturer": "Hearth",
            "model": "Hearth agent gateway",
            "sw_version": version,
        },
        "origin": {"name": "Hearth", "sw_version": version},
        "availability": cfg.availability_topic.as_ref().map(|a| json!([{
            "topic": a,
            "payload_available": "online",
            "payload_not_available": "offline",
        }])),
    });
    let entity = |component: &str, object: &str, name: &str, own: Value| {
        let mut v = common.clone();
        let map = v.as_object_mut().expect("common is a JSON object literal");
        if map.get("availability").is_some_and(Value::is_null) {
            map.remove("availability");
        }
        map.insert("name".into(), name.into());
        map.insert("unique_id".into(), format!("hearth_{node}_{object}").into());
        if let Value::Object(o) = own {
            map.extend(o);
        }
        let topic = format!(
            "{}/{component}/{node}/{object}/config",
            cfg.discovery_prefix
        );
        (topic, v.to_string())
    };
    vec![
        entity(
            "sensor",
            "status",
            "Status",
            json!({
                "state_topic": t.status,
                "json_attributes_topic": t.status_attributes,
                "device_class": "enum",
                "options": ["online", "busy", "error"],
                "icon": "mdi:robot",
            }),
        ),
        entity(
            "sensor",
            "last_reply",
            "Last reply",
            json!({
                "state_topic": t.last_reply,
                "json_attributes_topic": t.last_reply_attributes,
                "icon": "mdi:message-reply-text",
            }),
        ),
        entity(
            "text",
            "prompt",
            "Prompt",
            json!({
                "command_topic": t.prompt,
                "qos": 1,
                "max": MAX_STATE_CHARS,
                "icon": "mdi:message-arrow-right",
            }),
        ),
        entity(
            "notify",
            "notify",
            "Notification",
            json!({"command_topic": t.notify, "qos": 1, "icon": "mdi:bell-ring"}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{InboundMessage, Origin, PeerKind};

    fn cfg(extra: impl FnOnce(&mut MqttConfig)) -> MqttConfig {
        let mut c = MqttConfig::default();
        extra(&mut c);
        c
    }

    #[test]
    fn configs_name_the_device_its_entities_and_their_topics() {
        let d = Discovery::new(&cfg(|_| {}));
        let topics: Vec<&str> = d.configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/hearth/status/config",
                "homeassistant/sensor/hearth/last_reply/config",
                "homeassistant/text/hearth/prompt/config",
                "homeassistant/notify/hearth/notify/config",
            ]
        );
        for (topic, config) in &d.configs {
            let v: Value = serde_json::from_str(config).expect("JSON");
            for k in ["name", "unique_id", "device", "origin", "availability"] {
                assert!(!v[k].is_null(), "{topic}: no {k}");
            }
            assert_eq!(v["device"]["identifiers"], json!(["hearth_hearth"]));
            assert_eq!(v["device"]["manufacturer"], "Hearth");
            assert_eq!(v["device"]["name"], "Hearth");
            assert_eq!(v["availability"][0]["topic"], "hearth/availability");
        }
        let text: Value = serde_json::from_str(&d.configs[2].1).expect("JSON");
        assert_eq!(
            (text["command_topic"].as_str(), text["qos"].as_u64()),
            (Some("hearth/prompt"), Some(1))
        );
    }

    #[test]
    fn another_node_has_its_own_topics_and_no_availability_without_a_topic() {
        let d = Discovery::new(&cfg(|c| {
            c.client_id = "den".into();
            c.discovery_prefix = "ha".into();
            c.availability_topic = None;
        }));
        assert_eq!(d.configs[0].0, "ha/sensor/den/status/config");
        assert_eq!(d.topics.ha_status, "ha/status");
        let v: Value = serde_json::from_str(&d.configs[0].1).expect("JSON");
        assert_eq!(v["state_topic"], "den/status");
        assert_eq!(v["device"]["name"], "Hearth den");
        assert!(v.get("availability").is_none(), "{v}");
    }

    #[test]
    fn status_is_busy_while_runs_are_active_then_error_after_a_failure() {
        let d = Discovery::new(&cfg(|_| {}));
        let idle = Activity::default();
        let busy = Activity {
            running: 1,
            queued: 2,
        };
        assert_eq!(d.status(idle).0, "online");
        let (state, attributes) = d.status(busy);
        assert_eq!(state, "busy");
        let a: Value = serde_json::from_str(&attributes).expect("JSON");
        assert_eq!(a["active_runs"], 3);
        d.admitted(Err("the store is full"));
        assert_eq!(d.status(idle).0, "error");
        assert_eq!(d.status(busy).0, "busy");
        let a: Value = serde_json::from_str(&d.status(idle).1).expect("JSON");
        assert!(
            a["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("store is full"),
            "{a}"
        );
    }

    #[test]
    fn long_replies_are_cut_to_the_state_limit() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(300);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), MAX_STATE_CHARS);
        assert!(t.ends_with('…'));
        assert_eq!(truncate(&"x".repeat(255)).chars().count(), 255);
    }

    #[test]
    fn notify_messages_are_marked_and_prompts_are_not() {
        let d = Discovery::new(&cfg(|_| {}));
        let m = |text: &str| ChannelInbound {
            message: InboundMessage {
                origin: Origin::default(),
                text: text.into(),
                attachments: Vec::new(),
                ts_ms: 0,
            },
            kind: PeerKind::Direct,
            mentioned: true,
            dedupe_id: "x".into(),
            redelivered: Some(false),
            cursor: None,
        };
        let n = d.shape("hearth/notify", m("the washer is done"));
        assert_eq!(n.message.text, format!("{NOTICE}the washer is done"));
        assert_eq!(
            n.message.origin.sender_name.as_deref(),
            Some("Home Assistant")
        );
        assert_eq!(d.shape("hearth/prompt", m("hi")).message.text, "hi");
    }
}
