use super::*;
use crate::core::Origin;

fn caller(channel: &str, peer: &str, chat: Option<&str>) -> Caller {
    Caller {
        agent: "main".into(),
        origin: Origin {
            channel: channel.into(),
            peer: peer.into(),
            chat: chat.map(str::to_string),
            ..Origin::gateway(channel)
        },
        ..Caller::default()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const TOOLS: &[&str] = &[
    "read",
    "write",
    "exec",
    "process",
    "web_fetch",
    "web_search",
    "memory_search",
    "message",
    "sessions_send",
    "cron",
    "skill",
    "ha__HassTurnOn",
];

fn permitted(p: &Policy, c: &Caller) -> Vec<&'static str> {
    let f = p.resolve(c);
    TOOLS.iter().copied().filter(|t| f.permits(t)).collect()
}

#[test]
fn globs_and_groups_match_as_openclaw_does() {
    assert!(glob("ha__*", "ha__hassturnon"));
    assert!(glob("*", ""));
    assert!(glob("a*b*c", "axxbyyc"));
    assert!(!glob("a*b", "ab_c"));
    assert!(matches("group:fs", "write"));
    assert!(matches("GROUP:RUNTIME", "Exec"));
    assert!(matches("group:mcp", "ha__HassTurnOn"));
    assert!(!matches("group:mcp", "exec"));
    assert!(!matches("group:nope", "exec"));
    assert!(matches("web_*", "web_fetch"));
    assert!(
        Profile::parse("root")
            .unwrap_err()
            .contains("minimal, messaging")
    );
}

#[test]
fn the_default_gives_the_owners_dm_more_than_a_group_chat() {
    let p = Policy::default();
    let dm = permitted(&p, &caller("telegram", "42", None));
    assert_eq!(
        dm,
        TOOLS
            .iter()
            .copied()
            .filter(|t| *t != "message")
            .collect::<Vec<_>>()
    );
    let group = permitted(&p, &caller("telegram", "42", Some("-100")));
    assert_eq!(group, ["message", "sessions_send", "skill"]);
    let why = p
        .resolve(&caller("telegram", "42", Some("-100")))
        .check("exec");
    assert_eq!(
        why.unwrap_err(),
        "tools.group_profile: not in the messaging profile"
    );
}

/// Profile × allow/deny × group chat vs direct chat.
#[test]
fn policy_matrix() {
    let profiles = [
        Profile::Minimal,
        Profile::Messaging,
        Profile::Coding,
        Profile::Full,
    ];
    for profile in profiles {
        for (allow, deny) in [
            (vec![], vec![]),
            (vec!["group:fs", "exec"], vec![]),
            (vec![], vec!["group:runtime"]),
            (vec!["exec", "read"], vec!["exec"]),
        ] {
            for group_chat in [false, true] {
                let mut p = Policy {
                    global: Layer {
                        allow: strings(&allow),
                        deny: strings(&deny),
                        ..Layer::default()
                    },
                    ..Policy::default()
                };
                p.direct = Layer::profile(profile);
                let c = caller("matrix", "@me:hs", group_chat.then_some("!room:hs"));
                let f = p.resolve(&c);
                for tool in TOOLS {
                    let base = if group_chat {
                        Profile::Messaging
                            .entries()
                            .iter()
                            .any(|e| matches(e, tool))
                    } else {
                        profile.entries().iter().any(|e| matches(e, tool))
                    };
                    let allowed = allow.is_empty() || allow.iter().any(|a| matches(a, tool));
                    let denied = deny.iter().any(|d| matches(d, tool));
                    assert_eq!(
                        f.permits(tool),
                        base && allowed && !denied,
                        "{profile:?} allow={allow:?} deny={deny:?} group={group_chat} {tool}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_most_specific_sender_entry_replaces_the_context_default() {
    let mut p = Policy::default();
    p.by_sender
        .insert("telegram:42".into(), Layer::profile(Profile::Full));
    p.by_sender
        .insert("*".into(), Layer::profile(Profile::Minimal));
    // The owner gets everything even in a group; anyone else gets the minimal profile.
    let owner = permitted(&p, &caller("telegram", "42", Some("-100")));
    assert_eq!(owner.len(), TOOLS.len());
    assert!(permitted(&p, &caller("telegram", "7", None)).is_empty());
    // The same peer id on another channel is not the owner.
    assert!(permitted(&p, &caller("matrix", "42", None)).is_empty());
}

#[test]
fn agent_and_channel_layers_narrow_and_deny_wins() {
    let mut p = Policy {
        agent: Layer {
            deny: strings(&["exec"]),
            ..Layer::default()
        },
        ..Policy::default()
    };
    p.by_channel.insert(
        "telegram".into(),
        Layer {
            allow: strings(&["read", "exec", "memory_*"]),
            ..Layer::default()
        },
    );
    let tg = p.resolve(&caller("telegram", "42", None));
    assert!(tg.permits("read") && tg.permits("memory_search"));
    assert_eq!(
        tg.check("exec").unwrap_err(),
        "agents.main.tools: denied by \"exec\""
    );
    assert_eq!(
        tg.check("write").unwrap_err(),
        "tools.by_channel.telegram: not in allow"
    );
    // also_allow extends a profile; deny in the same layer still wins.
    p.direct = Layer {
        profile: Some(Profile::Messaging),
        also_allow: strings(&["web_fetch", "cron"]),
        deny: strings(&["cron"]),
        ..Layer::default()
    };
    let ws = p.resolve(&caller("ws", "", None));
    assert!(ws.permits("web_fetch") && !ws.permits("cron") && !ws.permits("read"));
    assert!(ToolFilter::open().permits("anything"));
}
