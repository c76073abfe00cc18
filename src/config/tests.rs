use super::*;

fn p(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new("/etc/hearth/hearth.toml"))
}

#[test]
fn empty_file_is_defaults() {
    let c = p("").expect("empty config");
    assert_eq!(c.gateway.port, 18789);
    assert_eq!(
        c.agent.model,
        vec!["local/smollm2-135m-instruct".to_string()]
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = p("[gateway]\nport = 1\nbnid = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/etc/hearth/hearth.toml:3:"), "{e}");
    assert!(e.contains("gateway.bnid"), "{e}");
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn wrong_type_names_key() {
    let e = p("\n[gateway]\nport = \"eighty\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains(":3:"), "{e}");
    assert!(e.contains("gateway.port"), "{e}");
}

#[test]
fn invalid_value_names_key_and_line() {
    let e = p("[agent]\nmodel = [\"nowhere/x\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains(":2: agent.model"), "{e}");
}

#[test]
fn literal_secret_is_refused() {
    let e = p("[providers.o]\nkind = \"openai\"\nbase_url = \"http://x/v1\"\n[[providers.o.profiles]]\nname = \"a\"\napi_key = \"sk-123\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("references"), "{e}");
    assert!(!e.contains("sk-123"), "secret leaked into message: {e}");
}

#[test]
fn secret_refs_resolve() {
    let r = SecretRef::try_from("env:HEARTH_TEST_SECRET_UNSET_X".to_string()).expect("valid ref");
    assert!(r.resolve().unwrap_err().contains("not set"));
}

#[test]
fn renders_back_to_toml() {
    let c = p("[gateway]\nport = 9\n").expect("parse");
    let again = p(&c.to_toml()).expect("reparse");
    assert_eq!(again.gateway.port, 9);
}

#[test]
fn the_readme_example_config_parses() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```toml\n")
        .expect("README has a ```toml block")
        + "```toml\n".len();
    let len = readme[start..].find("```").expect("closed block");
    let cfg = p(&readme[start..start + len]).expect("README's config example");
    assert_eq!(cfg.outbox.max_attempts, 10);
    assert_eq!(cfg.queue.cap, 20);
}

#[test]
fn channel_errors_name_the_channel_and_key() {
    let err = |t: &str| p(t).unwrap_err().to_string();
    let e = err("[channels.telegram]\ndm_policy = \"pairing\"\n");
    assert!(e.contains("channels.telegram.token"), "{e}");
    let tok = "[channels.telegram]\ntoken = \"env:TG\"\n";
    let e = err(&format!("{tok}dm_policy = \"open\"\n"));
    assert!(
        e.contains("channels.telegram.allow_from") && e.contains("\"*\""),
        "{e}"
    );
    let e = err(&format!("{tok}dm_policy = \"sometimes\"\n"));
    assert!(e.contains("channels.telegram.dm_policy"), "{e}");
    let e = err(&format!("{tok}token2 = 1\n"));
    assert!(e.contains("channels.telegram.token2"), "{e}");
    let e = err("[channels.telegram]\ntoken = \"123:literal\"\n");
    assert!(e.contains("references"), "a literal token is refused: {e}");
    let e = err("[session]\nidentity_links = { alice = [\"123\"] }\n");
    assert!(e.contains("session.identity_links.alice"), "{e}");
    let c = p(&format!("{tok}dm_policy = \"open\"\nallow_from = [\"*\"]\n[session]\ndm_scope = \"per-channel-peer\"\n"))
        .expect("valid");
    assert_eq!(c.session.dm_scope, crate::core::DmScope::PerChannelPeer);
    let t = c.channels.telegram.expect("telegram");
    assert!(t.require_mention && t.enabled && t.poll_timeout_secs == 30);
}

#[test]
fn mqtt_config_is_checked() {
    let err = |t: &str| p(t).unwrap_err().to_string();
    let e = err("[channels.mqtt]\nreply_topic = \"hearth/#\"\n");
    assert!(e.contains("channels.mqtt.reply_topic"), "{e}");
    let e = err("[channels.mqtt]\nrequest_topics = []\n");
    assert!(e.contains("channels.mqtt.request_topics"), "{e}");
    let e = err("[channels.mqtt]\npassword = \"env:P\"\n");
    assert!(e.contains("channels.mqtt.username"), "{e}");
    let c = p("[channels.mqtt]\nrequest_topics = [\"home/+/ask\"]\n").expect("filters are fine");
    let m = c.channels.mqtt.expect("mqtt");
    assert_eq!((m.port, m.reply_topic.as_str()), (1883, "hearth/reply"));
    assert!(m.discovery && m.discovery_prefix == "homeassistant");
    assert_eq!((m.node(), m.device()), ("hearth".into(), "Hearth".into()));
    let e = err("[channels.mqtt]\ndiscovery_prefix = \"ha/#\"\n");
    assert!(e.contains("channels.mqtt.discovery_prefix"), "{e}");
    let e = err("[channels.mqtt]\nnode_id = \"my node\"\n");
    assert!(e.contains("channels.mqtt.node_id"), "{e}");
    let e = err("[channels.mqtt]\ndevice_name = \" \"\n");
    assert!(e.contains("channels.mqtt.device_name"), "{e}");
    let c = p("[channels.mqtt]\nclient_id = \"hearth.kitchen\"\n").expect("valid");
    let m = c.channels.mqtt.expect("mqtt");
    assert_eq!(
        (m.node(), m.device()),
        ("hearth_kitchen".into(), "Hearth hearth_kitchen".into())
    );
    p("[channels.mqtt]\ndiscovery = false\nnode_id = \"my node\"\n").expect("discovery off");
}

#[test]
fn agents_and_bindings_are_checked() {
    let err = |t: &str| p(t).unwrap_err().to_string();
    let e = err("[[bindings]]\nagent = \"work\"\nchannel = \"telegram\"\n");
    assert!(
        e.contains("bindings[0].agent") && e.contains("[agents.work]"),
        "{e}"
    );
    let e = err("[agents.Work]\n");
    assert!(e.contains("agents.Work"), "{e}");
    let e = err("[agents.work]\nmodel = [\"nowhere/x\"]\n");
    assert!(e.contains("agents.work.model"), "{e}");
    let e = err(
        "[agents.work]\n[[bindings]]\nagent = \"work\"\nchannel = \"telegram\"\npeer = \"1\"\ngroup = \"2\"\n",
    );
    assert!(
        e.contains("bindings[0]") && e.contains("one of peer, group or team"),
        "{e}"
    );
    let c =
        p("[agents.work]\n[[bindings]]\nagent = \"work\"\nchannel = \"telegram\"\npeer = \"8\"\n")
            .expect("valid");
    let b = &c.bindings[0];
    let o = |ch: &str| crate::core::Origin {
        channel: ch.into(),
        account: "default".into(),
        peer: "8".into(),
        ..Default::default()
    };
    assert_eq!(b.rank(&o("telegram"), None), Some(5));
    assert_eq!(
        b.rank(&o("telegram"), Some("-100")),
        None,
        "a peer rule is for direct chats"
    );
    assert_eq!(b.rank(&o("matrix"), None), None);
    let team = crate::core::Binding {
        agent: "work".into(),
        channel: "discord".into(),
        account: None,
        peer: None,
        group: None,
        team: Some("G1".into()),
    };
    let mut d = o("discord");
    d.team = Some("G1".into());
    assert_eq!(
        team.rank(&d, Some("C7")),
        Some(3),
        "any channel of the guild"
    );
    d.team = Some("G2".into());
    assert_eq!(team.rank(&d, Some("C7")), None);
}
