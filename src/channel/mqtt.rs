//! MQTT (3.1.1, <https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/mqtt-v3.1.1.html>) through
//! rumqttc on the tokio runtime: requests arrive on the configured topics, answers leave on
//! the reply topic, QoS 1 both ways.
//!
//! Exactly-once in: the session is persistent (`clean_session = false`) and acks are
//! manual, so a request is acknowledged to the broker only after the gate committed it; a
//! crash before the ack makes the broker send it again (with the DUP flag) at the next
//! connection, and the gate's dedupe record answers it without a second run. The dedupe id
//! is the request's JSON `id` when it has one (checked always); a plain-text request gets
//! `<topic>:<packet id>:<payload hash>`, looked up only on a redelivery (DUP set), because
//! packet ids are reused once acknowledged.
//!
//! Out: [`MqttSink`] publishes `{"id", "text", "runId"}` at QoS 1 and reports the send done
//! only when the broker's PUBACK arrives (publishes are matched to their packet ids in
//! order). A retained `online`, with `offline` as the last will, tells Home Assistant
//! whether Hearth is there; with `discovery` on, Hearth also announces itself to Home
//! Assistant as a device (`mqtt/discovery.rs`).

mod discovery;

use crate::config::MqttConfig;
use crate::core::{
    Admission, ChannelInbound, Delivery, HealthEvent, InboundMessage, InboundSink, Origin,
    Outbound, PeerKind, SendError, SendFuture,
};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// The channel name.
pub const CHANNEL: &str = "mqtt";
/// Requests queued to the client (publishes, acks) before senders wait.
const REQUEST_CAPACITY: usize = 256;

type Waiter = oneshot::Sender<Result<u16, String>>;

/// Publishes waiting for their packet id (in publish order), then for their PUBACK.
#[derive(Default)]
struct Acks {
    /// `None` marks a publish nobody waits for (the availability message).
    queued: VecDeque<Option<Waiter>>,
    inflight: HashMap<u16, Waiter>,
}

impl Acks {
    fn fail_all(&mut self, why: &str) {
        for w in self.queued.drain(..).flatten() {
            let _ = w.send(Err(why.to_string()));
        }
        for (_, w) in self.inflight.drain() {
            let _ = w.send(Err(why.to_string()));
        }
    }
}

/// The outbound half.
pub struct MqttSink {
    client: AsyncClient,
    acks: Arc<Mutex<Acks>>,
    /// Home Assistant's view of Hearth, with `discovery` on.
    discovery: Option<Arc<discovery::Discovery>>,
}

impl MqttSink {
    /// Queues a QoS 1 publish nobody waits for; false when the client's queue is full.
    fn publish_unconfirmed(&self, topic: &str, retain: bool, payload: String) -> bool {
        let mut a = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        let queued = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .is_ok();
        if queued {
            a.queued.push_back(None);
        }
        queued
    }
}

/// A connected-to-be client: the sink now, the event loop once [`Mqtt::start`] runs it.
pub struct Mqtt {
    /// Register this with the dispatcher.
    pub sink: Arc<MqttSink>,
    eventloop: EventLoop,
    cfg: MqttConfig,
}

/// Builds the client for `cfg` (`password` resolved). Nothing connects until
/// [`Mqtt::start`].
///
/// # Errors
/// A message when the CA file cannot be read or holds no certificate.
pub fn connect(cfg: &MqttConfig, password: Option<String>) -> Result<Mqtt, String> {
    let mut o = MqttOptions::new(&cfg.client_id, &cfg.host, cfg.port);
    o.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(cfg.keep_alive_secs))
        .set_max_packet_size(1 << 20, 1 << 20);
    if let Some(u) = &cfg.username {
        o.set_credentials(u, password.unwrap_or_default());
    }
    if let Some(t) = &cfg.availability_topic {
        o.set_last_will(LastWill::new(t, "offline", QoS::AtLeastOnce, true));
    }
    if cfg.tls {
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(
                super::tls::client_config(cfg.ca_file.as_deref())
                    .map_err(|e| format!("channels.mqtt.ca_file: {e}"))?,
            )),
        ));
    }
    let (client, eventloop) = AsyncClient::new(o, REQUEST_CAPACITY);
    Ok(Mqtt {
        sink: Arc::new(MqttSink {
            client,
            acks: Arc::default(),
            discovery: cfg
                .discovery
                .then(|| Arc::new(discovery::Discovery::new(cfg))),
        }),
        eventloop,
        cfg: cfg.clone(),
    })
}

impl Outbound for MqttSink {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn send<'a>(&'a self, d: &'a Delivery) -> SendFuture<'a> {
        Box::pin(async move {
            let t = &d.message.target;
            let Some(topic) = t.chat.clone().filter(|c| !c.is_empty()) else {
                return Err(SendError::Permanent {
                    message: "the target has no reply topic".into(),
                });
            };
            let body = json!({"id": d.message.reply_to, "text": d.message.text, "runId": d.run_id});
            let (tx, rx) = oneshot::channel();
            // The waiter is queued before the publish so the event loop meets them in order.
            let publish = {
                let mut a = self.acks.lock().unwrap_or_else(|p| p.into_inner());
                a.queued.push_back(Some(tx));
                self.client
                    .try_publish(topic, QoS::AtLeastOnce, false, body.to_string())
            };
            if let Err(e) = publish {
                // Not queued: take our waiter back out (it is the newest).
                self.acks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .queued
                    .pop_back();
                return Err(SendError::Transient {
                    message: format!("MQTT publish not queued: {e}"),
                    retry_after_ms: None,
                });
            }
            match rx.await {
                Ok(Ok(pkid)) => {
                    if let Some(disc) = &self.discovery {
                        disc.replied(self, d);
                    }
                    Ok(format!("puback:{pkid}"))
                }
                Ok(Err(e)) => Err(SendError::Transient {
                    message: format!("MQTT: {e}"),
                    retry_after_ms: None,
                }),
                Err(_) => Err(SendError::Transient {
                    message: "MQTT: the connection task ended".into(),
                    retry_after_ms: None,
                }),
            }
        })
    }
}

impl Mqtt {
    /// Runs the connection on the runtime until `shutdown`: connects (and reconnects with
    /// backoff), subscribes, announces availability, admits requests, settles PUBACKs.
    pub fn start(self, inbound: Arc<dyn InboundSink>, shutdown: CancellationToken) {
        let Mqtt {
            sink,
            mut eventloop,
            cfg,
        } = self;
        if let Some(d) = &sink.discovery {
            d.clone()
                .spawn_status(sink.clone(), inbound.clone(), shutdown.clone());
        }
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                let ev = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    ev = eventloop.poll() => ev,
                };
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        wait = Duration::from_secs(1);
                        inbound.report(CHANNEL, "default", HealthEvent::Ok);
                        tracing::info!(host = %cfg.host, port = cfg.port, "MQTT: connected");
                        for t in &cfg.request_topics {
                            if let Err(e) = sink.client.try_subscribe(t, QoS::AtLeastOnce) {
                                tracing::error!("MQTT: cannot subscribe to {t}: {e}");
                            }
                        }
                        if let Some(t) = &cfg.availability_topic {
                            sink.publish_unconfirmed(t, true, "online".into());
                        }
                        if let Some(d) = &sink.discovery {
                            d.connected(&sink);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if sink.discovery.as_ref().is_some_and(|d| d.take(&sink, &p)) {
                            ack(&sink, &p);
                        } else {
                            admit(&sink, &*inbound, &cfg, p, &shutdown).await;
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        let w = sink
                            .acks
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .inflight
                            .remove(&a.pkid);
                        if let Some(w) = w {
                            let _ = w.send(Ok(a.pkid));
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        let mut a = sink.acks.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(Some(w)) = a.queued.pop_front() {
                            a.inflight.insert(pkid, w);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let msg = format!("MQTT {}:{}: {e}", cfg.host, cfg.port);
                        tracing::warn!("{msg}; reconnecting in {}s", wait.as_secs());
                        if let Some(d) = &sink.discovery {
                            d.disconnected(&msg);
                        }
                        inbound.report(CHANNEL, "default", HealthEvent::Error(msg));
                        sink.acks
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .fail_all("the connection to the broker was lost");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                }
            }
            tracing::info!("MQTT: stopped");
        });
    }
}

/// Hands one request to the gate (retrying a store failure until it commits or shutdown),
/// then acknowledges it to the broker.
async fn admit(
    sink: &MqttSink,
    inbound: &dyn InboundSink,
    cfg: &MqttConfig,
    p: rumqttc::Publish,
    shutdown: &CancellationToken,
) {
    let disc = sink.discovery.as_deref();
    let shaped = |m| match disc {
        Some(d) => d.shape(&p.topic, m),
        None => m,
    };
    if let Some(m) = request(cfg, &p).map(shaped) {
        inbound.report(CHANNEL, "default", HealthEvent::Message);
        let mut wait = Duration::from_millis(200);
        loop {
            match inbound.accept(m.clone()).await {
                Ok(Admission::Ignored { reason }) => {
                    tracing::info!(topic = %p.topic, "MQTT: request not run: {reason}");
                    break;
                }
                Ok(_) => break,
                Err(e) => {
                    // Not committed: not acknowledged; try again (the broker would resend it
                    // only after a reconnect).
                    tracing::error!(topic = %p.topic, "MQTT: cannot admit a request: {e}");
                    if let Some(d) = disc {
                        d.admitted(Err(&e));
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
        if let Some(d) = disc {
            d.admitted(Ok(()));
        }
    }
    ack(sink, &p);
}

/// Acknowledges `p` to the broker (a no-op at QoS 0).
fn ack(sink: &MqttSink, p: &rumqttc::Publish) {
    if let Err(e) = sink.client.try_ack(p) {
        tracing::warn!(
            "MQTT: cannot queue the ack (the broker will resend; it is deduplicated): {e}"
        );
    }
}

/// The normalised request, or `None` (logged) for a payload that is not UTF-8.
fn request(cfg: &MqttConfig, p: &rumqttc::Publish) -> Option<ChannelInbound> {
    let Ok(raw) = std::str::from_utf8(&p.payload) else {
        tracing::warn!(topic = %p.topic, "MQTT: ignoring a request that is not UTF-8 text");
        return None;
    };
    let json: Option<Value> = serde_json::from_str(raw).ok().filter(Value::is_object);
    let field = |k: &str| {
        json.as_ref().and_then(|j| j.get(k)).and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
    };
    let text = match &json {
        Some(_) => field("text")
            .or_else(|| field("message"))
            .unwrap_or_default(),
        None => raw.to_string(),
    };
    let id = field("id");
    let (dedupe_id, redelivered) = match &id {
        Some(id) => (format!("id:{id}"), None),
        None => {
            let h = ring::digest::digest(&ring::digest::SHA256, &p.payload);
            let hex: String = h.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
            (format!("{}:{}:{hex}", p.topic, p.pkid), Some(p.dup))
        }
    };
    let from = field("from").unwrap_or_else(|| "mqtt".into());
    let reply_to = field("reply_to").unwrap_or_else(|| cfg.reply_topic.clone());
    Some(ChannelInbound {
        message: InboundMessage {
            origin: Origin {
                channel: CHANNEL.into(),
                account: "default".into(),
                peer: from,
                chat: Some(reply_to),
                thread: None,
                message_id: id,
                sender_name: None,
                team: None,
            },
            text,
            attachments: Vec::new(),
            ts_ms: crate::core::now_ms(),
        },
        kind: PeerKind::Direct,
        mentioned: true,
        dedupe_id,
        redelivered,
        cursor: None,
    })
}
