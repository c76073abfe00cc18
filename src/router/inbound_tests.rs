//! The gate in process: identity links and dmScope, bindings, mention gating with group
//! context, and the cursor committed whatever the gate decides.

use super::tests::{Reply, rig};
use super::{ChannelGate, GateOptions};
use crate::core::{
    AccessPolicy, Admission, Binding, ChannelInbound, DmPolicy, DmScope, DropPolicy, GroupPolicy,
    InboundMessage, InboundSink, Origin, PeerKind, QueueMode, now_ms,
};
use std::collections::HashMap;

fn inbound(channel: &str, peer: &str, chat: Option<&str>, text: &str, id: &str) -> ChannelInbound {
    ChannelInbound {
        message: InboundMessage {
            origin: Origin {
                channel: channel.into(),
                account: "default".into(),
                peer: peer.into(),
                chat: chat.map(str::to_string),
                message_id: Some(id.into()),
                ..Origin::default()
            },
            text: text.into(),
            attachments: Vec::new(),
            ts_ms: now_ms(),
        },
        kind: if chat.is_some() {
            PeerKind::Group
        } else {
            PeerKind::Direct
        },
        mentioned: text.contains("@bot"),
        dedupe_id: id.into(),
        redelivered: None,
        cursor: Some(serde_json::json!(id)),
    }
}

fn open() -> AccessPolicy {
    AccessPolicy {
        dm_policy: DmPolicy::Open,
        allow_from: vec!["*".into()],
        group_policy: GroupPolicy::Open,
        ..AccessPolicy::default()
    }
}

#[tokio::test(start_paused = true)]
async fn identity_links_bindings_and_group_context_shape_the_session() {
    let r = rig(
        QueueMode::Followup,
        20,
        DropPolicy::Summarize,
        (0..8).map(|_| Reply::Text("ok")).collect(),
    );
    let mut accounts = HashMap::new();
    for ch in ["telegram", "matrix"] {
        accounts.insert((ch.to_string(), "default".to_string()), open());
    }
    let gate = ChannelGate::new(
        r.d.clone(),
        GateOptions {
            accounts,
            dm_scope: DmScope::PerPeer,
            identity_links: HashMap::from([
                ("telegram:7".to_string(), "alice".to_string()),
                ("matrix:@alice:hs".to_string(), "alice".to_string()),
            ]),
            agent: "main".into(),
            bindings: vec![Binding {
                agent: "work".into(),
                channel: "telegram".into(),
                account: None,
                peer: None,
                group: Some("-100".into()),
                team: None,
            }],
        },
    );
    let accepted = |a: Admission| match a {
        Admission::Accepted { run_id } => run_id,
        other => panic!("not accepted: {other:?}"),
    };
    // One person on two channels: one session.
    let a = accepted(
        gate.accept(inbound("telegram", "7", None, "hi", "t1"))
            .await
            .expect("t1"),
    );
    let b = accepted(
        gate.accept(inbound("matrix", "@alice:hs", None, "hi again", "m1"))
            .await
            .expect("m1"),
    );
    for run in [&a, &b] {
        let rec =
            r.d.wait(run, std::time::Duration::from_secs(60))
                .await
                .expect("wait");
        assert_eq!(
            rec.session_key, "agent:main:dm:alice",
            "one person, one session"
        );
    }

    // A group bound to another agent: unmentioned chatter is context for the mention.
    let ignored = gate
        .accept(inbound(
            "telegram",
            "8",
            Some("-100"),
            "the oven is on",
            "g1",
        ))
        .await
        .expect("g1");
    assert!(matches!(ignored, Admission::Ignored { .. }), "{ignored:?}");
    assert_eq!(
        r.d.cursor("telegram", "default").expect("cursor"),
        Some(serde_json::json!("g1")),
        "an ignored update still moves the cursor"
    );
    let run = accepted(
        gate.accept(inbound("telegram", "9", Some("-100"), "@bot is it?", "g2"))
            .await
            .expect("g2"),
    );
    let rec =
        r.d.wait(&run, std::time::Duration::from_secs(60))
            .await
            .expect("wait");
    assert_eq!(rec.session_key, "agent:work:telegram:group:-100");
    let h =
        r.d.history("agent:work:telegram:group:-100", 10)
            .expect("history");
    let first = &h[0].message.content;
    assert!(
        first.contains("the oven is on") && first.ends_with("@bot is it?"),
        "{first}"
    );

    // A redelivery of an accepted message is a duplicate, not a second run.
    let again = gate
        .accept(inbound("telegram", "7", None, "hi", "t1"))
        .await
        .expect("again");
    assert_eq!(again, Admission::Duplicate { run_id: a });
}
