//! Channels, bindings and who may talk: OpenClaw's `channels.<id>` (the default account),
//! `bindings[]`, `commands.ownerAllowFrom` and its pairing approvals.
//!
//! The two differ on `allowFrom`. In OpenClaw it lists who may talk; in Hearth `allow_from`
//! lists the owners, who may also approve pairings and exec requests
//! (docs/gateway/security/access-control.md). So Hearth's `allow_from` gets the owners
//! (`commands.ownerAllowFrom`, or OpenClaw's `allowFrom` when no owners are named), and
//! everyone else OpenClaw lets talk becomes a pairing approval in Hearth's store.

use super::{Ctx, dotted, source};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A token field: (OpenClaw key, Hearth key, the env var OpenClaw falls back to).
type TokenField = (&'static str, &'static str, &'static str);

/// The channels Hearth has, with their token fields.
const TOKENS: &[(&str, &[TokenField])] = &[
    ("telegram", &[("botToken", "token", "TELEGRAM_BOT_TOKEN")]),
    ("discord", &[("token", "token", "DISCORD_BOT_TOKEN")]),
    (
        "slack",
        &[
            ("botToken", "bot_token", "SLACK_BOT_TOKEN"),
            ("appToken", "app_token", "SLACK_APP_TOKEN"),
        ],
    ),
    ("matrix", &[("accessToken", "access_token", "")]),
];

/// An id as Hearth's channels see it: without `tg:`/`telegram:`-style prefixes.
fn bare(channel: &str, id: &str) -> String {
    let id = id.trim();
    for p in [
        format!("{channel}:"),
        "tg:".to_string(),
        "user:".to_string(),
    ] {
        if let Some(rest) = id.strip_prefix(&p) {
            return rest.to_string();
        }
    }
    id.to_string()
}

/// The default account's settings: the channel's root keys with
/// `accounts[defaultAccount|"default"]` laid over them. Other accounts are reported.
fn effective(cx: &mut Ctx<'_>, ch: &str, root: &Map<String, Value>) -> Map<String, Value> {
    let mut eff = root.clone();
    eff.remove("accounts");
    let default = root
        .get("defaultAccount")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    for (id, acc) in root
        .get("accounts")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if *id == default {
            for (k, v) in acc.as_object().into_iter().flatten() {
                eff.insert(k.clone(), v.clone());
            }
        } else {
            cx.skip(
                &format!("channels.{ch}.accounts.{id}"),
                "Hearth runs one account per channel (the default one)",
            );
        }
    }
    eff
}

fn ids(v: Option<&Value>, ch: &str) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(source::scalar)
        .map(|s| bare(ch, &s))
        .collect()
}

/// Maps each channel; returns who may talk but is no owner, per channel.
pub(super) fn channels(cx: &mut Ctx<'_>) -> BTreeMap<String, Vec<String>> {
    let mut talkers = BTreeMap::new();
    let Some(all) = cx.at("/channels").and_then(Value::as_object) else {
        return talkers;
    };
    let owner_list: Option<Vec<String>> = cx
        .at("/commands/ownerAllowFrom")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(source::scalar).collect());
    let mut targets = Vec::new();
    for (ch, root) in all {
        let Some(&(_, tokens)) = TOKENS.iter().find(|(n, _)| n == ch) else {
            cx.skip(
                &format!("channels.{ch}"),
                "Hearth has Telegram, Matrix, Discord, Slack and MQTT",
            );
            continue;
        };
        let Some(root) = root.as_object() else {
            continue;
        };
        let eff = effective(cx, ch, root);
        let at = format!("channels.{ch}");
        let mut enabled = eff.get("enabled") != Some(&Value::Bool(false));
        for (oc, h, env) in tokens {
            let hkey = format!("{at}.{h}");
            let from = format!("{at}.{oc}");
            let v = eff.get(*oc).cloned().or_else(|| {
                (!env.is_empty() && cx.src.var(env).is_some())
                    .then(|| Value::String(format!("${{{env}}}")))
            });
            let have = match v {
                Some(v) => cx.secret_value(&from, &v, &hkey, &format!("{ch}-{h}")),
                None if *oc == "botToken" && eff.get("tokenFile").is_some() => {
                    let path = cx.src.path(eff["tokenFile"].as_str().unwrap_or_default());
                    match std::fs::read_to_string(&path) {
                        Ok(t) => {
                            let t = Value::String(t.trim().to_string());
                            let from = format!("{at}.tokenFile");
                            cx.secret_value(&from, &t, &hkey, &format!("{ch}-{h}"))
                        }
                        Err(e) => {
                            let why = format!("{}: {e}", path.display());
                            cx.skip(&format!("{at}.tokenFile"), &why);
                            false
                        }
                    }
                }
                None => false,
            };
            if !have && enabled {
                enabled = false;
                cx.skip(
                    &from,
                    &format!(
                        "no usable token, so the channel is off: set {hkey} and enabled = true"
                    ),
                );
            }
        }
        cx.set(&format!("{at}.enabled"), enabled);
        let legacy_dm = eff.get("dm").and_then(Value::as_object);
        let dm_policy = eff
            .get("dmPolicy")
            .or_else(|| legacy_dm.and_then(|d| d.get("policy")))
            .and_then(Value::as_str)
            .unwrap_or("pairing")
            .to_string();
        let allow = ids(
            eff.get("allowFrom")
                .or_else(|| legacy_dm.and_then(|d| d.get("allowFrom"))),
            ch,
        );
        let owners: Vec<String> = match &owner_list {
            Some(list) => list
                .iter()
                .filter_map(|o| {
                    o.split_once(':')
                        .filter(|(c, _)| c == ch || (*c == "tg" && ch == "telegram"))
                })
                .map(|(_, id)| id.to_string())
                .collect(),
            None => allow.iter().filter(|a| *a != "*").cloned().collect(),
        };
        let mut allow_from: Vec<String> = owners.clone();
        if dm_policy == "open" {
            allow_from.insert(0, "*".into());
        }
        if matches!(
            dm_policy.as_str(),
            "pairing" | "allowlist" | "open" | "disabled"
        ) {
            cx.set(&format!("{at}.dm_policy"), dm_policy.clone());
        }
        if !allow_from.is_empty() {
            cx.set(&format!("{at}.allow_from"), allow_from);
        }
        let others: Vec<String> = allow
            .iter()
            .filter(|a| *a != "*" && !owners.contains(a))
            .cloned()
            .collect();
        if !others.is_empty() {
            cx.changed(
                &format!("{at}.allowFrom"),
                "pairing approvals",
                &format!("{} sender(s) may talk but are not owners", others.len()),
            );
        }
        if owner_list.is_some() {
            cx.changed(
                "commands.ownerAllowFrom",
                &format!("{at}.allow_from"),
                "owners",
            );
            targets.extend(owners.iter().map(|o| format!("{ch}:default:{o}")));
        } else if !owners.is_empty() {
            cx.changed(
                &format!("{at}.allowFrom"),
                &format!("{at}.allow_from"),
                "no ownerAllowFrom, so these senders become owners (they may approve pairings and exec)",
            );
        }
        talkers.insert(ch.clone(), others);
        groups(cx, ch, &eff);
        extras(cx, ch, &eff);
    }
    if !targets.is_empty() {
        cx.set("tools.approvals.targets", targets);
    }
    talkers
}

/// Group policy, the groups and who may speak in them, mention gating.
fn groups(cx: &mut Ctx<'_>, ch: &str, eff: &Map<String, Value>) {
    let at = format!("channels.{ch}");
    if let Some(p) = eff.get("groupPolicy").and_then(Value::as_str) {
        cx.set(&format!("{at}.group_policy"), p);
    }
    let mut group_allow = ids(eff.get("groupAllowFrom"), ch);
    let mut groups = Vec::new();
    let mut mention = eff.get("requireMention").and_then(Value::as_bool);
    let map = match ch {
        "telegram" => eff.get("groups"),
        "slack" => eff.get("channels"),
        _ => None,
    };
    for (id, g) in map.and_then(Value::as_object).into_iter().flatten() {
        if id == "*" {
            mention = g.get("requireMention").and_then(Value::as_bool).or(mention);
        }
        group_allow.extend(ids(g.get("allowFrom").or_else(|| g.get("users")), ch));
        if g.get("enabled") != Some(&Value::Bool(false)) {
            groups.push(id.clone());
        }
        for k in ["systemPrompt", "skills", "tools", "topics"] {
            if g.get(k).is_some() {
                cx.skip(
                    &format!("{at}.groups.{id}.{k}"),
                    "Hearth has no per-group setting",
                );
            }
        }
    }
    if ch == "discord" {
        for (gid, guild) in eff
            .get("guilds")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            group_allow.extend(ids(guild.get("users"), ch));
            mention = guild
                .get("requireMention")
                .and_then(Value::as_bool)
                .or(mention);
            let chans = guild.get("channels").and_then(Value::as_object);
            if chans.is_none() {
                cx.skip(
                    &format!("{at}.guilds.{gid}"),
                    "a whole guild; list its channel ids in groups",
                );
            }
            for (cid, c) in chans.into_iter().flatten() {
                if !cid.chars().all(|c| c.is_ascii_digit()) {
                    cx.skip(
                        &format!("{at}.guilds.{gid}.channels.{cid}"),
                        "a channel name; Hearth needs the numeric id",
                    );
                    continue;
                }
                if c.get("enabled") != Some(&Value::Bool(false)) {
                    groups.push(cid.clone());
                }
                group_allow.extend(ids(c.get("users"), ch));
            }
        }
    }
    group_allow.sort();
    group_allow.dedup();
    if !groups.is_empty() {
        cx.set(&format!("{at}.groups"), groups);
        cx.imported(&format!("{at} groups"), &format!("{at}.groups"));
    }
    if !group_allow.is_empty() {
        cx.set(&format!("{at}.group_allow_from"), group_allow);
    }
    if let Some(m) = mention {
        cx.set(&format!("{at}.require_mention"), m);
    }
}

/// Channel-specific keys.
fn extras(cx: &mut Ctx<'_>, ch: &str, eff: &Map<String, Value>) {
    let at = format!("channels.{ch}");
    let text = |k: &str| {
        eff.get(k)
            .and_then(source::scalar)
            .map(|s| cx.src.substitute(&s).0)
    };
    match ch {
        "telegram" => {
            if let Some(api) = text("apiRoot") {
                cx.set(&format!("{at}.api_base"), api);
            }
            if let Some(mb) = eff.get("mediaMaxMb").and_then(Value::as_f64) {
                cx.set(&format!("{at}.max_media_bytes"), (mb * 1_048_576.0) as i64);
            }
            if let Some(url) = text("webhookUrl") {
                let secret = eff.get("webhookSecret").cloned().unwrap_or(Value::Null);
                if cx.secret_value(
                    &format!("{at}.webhookSecret"),
                    &secret,
                    &format!("{at}.webhook_secret"),
                    "telegram-webhook",
                ) {
                    cx.set(&format!("{at}.webhook_url"), url);
                    cx.changed(
                        &format!("{at}.webhookUrl"),
                        &format!("{at}.webhook_url"),
                        "Hearth serves it at /channels/telegram/webhook; repoint the proxy",
                    );
                } else {
                    cx.skip(&format!("{at}.webhookUrl"), "webhook mode needs a secret Hearth can read; the channel long-polls instead");
                }
            }
            if eff
                .get("streaming")
                .and_then(|s| s.get("mode"))
                .and_then(Value::as_str)
                == Some("off")
            {
                cx.set(&format!("{at}.draft_after_secs"), 0);
            }
        }
        "slack" if eff.get("signingSecret").is_some() && eff.get("appToken").is_none() => {
            cx.skip(
                &format!("{at}.signingSecret"),
                "Slack's HTTP mode; Hearth uses Socket Mode (an app token)",
            );
        }
        "matrix" => {
            let (hs, user) = (text("homeserver"), text("userId"));
            if let Some(h) = &hs {
                cx.set(&format!("{at}.homeserver"), h.clone());
            }
            if let Some(u) = &user {
                cx.set(&format!("{at}.user_id"), u.clone());
            }
            if hs.is_none() || user.is_none() {
                cx.set(&format!("{at}.enabled"), false);
                cx.skip(
                    &at,
                    "homeserver or userId is missing, so the channel is off",
                );
            }
            if let Some(a) = text("autoJoin") {
                let a = if a == "allowlist" || a == "off" {
                    a
                } else {
                    "always".into()
                };
                cx.set(&format!("{at}.auto_join"), a);
            }
            if eff.get("password").is_some() && eff.get("accessToken").is_none() {
                cx.skip(
                    &format!("{at}.password"),
                    "Hearth logs in with an access token; mint one and set access_token",
                );
            }
            if eff.get("encryption") == Some(&Value::Bool(true)) {
                cx.skip(
                    &format!("{at}.encryption"),
                    "Hearth has no end-to-end encryption; encrypted rooms stay unread",
                );
            }
        }
        _ => {}
    }
    for k in [
        "streaming",
        "replyToMode",
        "actions",
        "historyLimit",
        "textChunkLimit",
        "execApprovals",
        "proxy",
        "customCommands",
    ] {
        if eff.get(k).is_some() && !(k == "streaming" && ch == "telegram") {
            cx.skip(&format!("{at}.{k}"), "Hearth has no such channel setting");
        }
    }
}

/// `bindings[]` → `[[bindings]]` for the channels and agents carried over.
pub(super) fn bindings(cx: &mut Ctx<'_>) {
    let Some(list) = cx.at("/bindings").and_then(Value::as_array) else {
        return;
    };
    let mut out = Vec::new();
    for (i, b) in list.iter().enumerate() {
        let from = format!("bindings[{i}]");
        if b.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "route")
        {
            cx.skip(&from, "an ACP binding");
            continue;
        }
        let agent = b.get("agentId").and_then(Value::as_str).unwrap_or_default();
        let Some((_, hid)) = cx.agents.iter().find(|(oc, _)| oc == agent).cloned() else {
            cx.skip(&from, &format!("agent {agent:?} was not carried over"));
            continue;
        };
        let m = b.get("match").cloned().unwrap_or(Value::Null);
        let Some(ch) = m.get("channel").and_then(Value::as_str) else {
            cx.skip(&from, "no match.channel");
            continue;
        };
        if !super::CHANNELS.contains(&ch) {
            cx.skip(&from, &format!("channel {ch:?} is not in Hearth"));
            continue;
        }
        let mut t = toml::Table::new();
        t.insert("agent".into(), hid.into());
        t.insert("channel".into(), ch.into());
        match m.get("accountId").and_then(Value::as_str) {
            None | Some("*") => {}
            Some("default") => {
                t.insert("account".into(), "default".into());
            }
            Some(other) => {
                cx.skip(&from, &format!("account {other:?} is not carried over"));
                continue;
            }
        }
        if let Some(p) = m.get("peer") {
            let id = p.get("id").and_then(source::scalar).unwrap_or_default();
            let id = bare(ch, &id);
            match p.get("kind").and_then(Value::as_str) {
                Some("direct" | "dm") => t.insert("peer".into(), id.into()),
                _ => {
                    let chat = id.split(":topic:").next().unwrap_or(&id).to_string();
                    t.insert("group".into(), chat.into())
                }
            };
        } else if let Some(team) = m
            .get("guildId")
            .or_else(|| m.get("teamId"))
            .and_then(source::scalar)
        {
            t.insert("team".into(), team.into());
        }
        if m.get("roles").is_some() || b.get("session").is_some() {
            cx.changed(
                &from,
                "bindings",
                "match.roles and session overrides are dropped",
            );
        } else {
            cx.imported(&from, "bindings");
        }
        out.push(toml::Value::Table(t));
    }
    if !out.is_empty() {
        cx.set("bindings", toml::Value::Array(out));
    }
}

/// Pairing approvals for Hearth's store: OpenClaw's approvals of the default accounts,
/// plus the senders its `allowFrom` let talk who are not owners.
pub(super) fn approvals(
    cx: &mut Ctx<'_>,
    talkers: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut push = |ch: &str, id: String| {
        let row = (ch.to_string(), "default".to_string(), id);
        if !out.contains(&row) {
            out.push(row);
        }
    };
    for (ch, ids) in talkers {
        for id in ids {
            push(ch, id.clone());
        }
    }
    let mut skipped = 0;
    for (ch, account, entry) in &cx.state.pairing {
        let known = TOKENS.iter().any(|(n, _)| n == ch);
        if !known || !(account.is_empty() || account == "default") {
            skipped += 1;
            continue;
        }
        push(ch, bare(ch, entry));
    }
    if skipped > 0 {
        cx.skip(
            "pairing approvals",
            &format!("{skipped} of other accounts or channels Hearth does not have"),
        );
    }
    if !out.is_empty() {
        cx.imported(
            &dotted("/pairing approvals"),
            &format!("{} approvals in Hearth's store", out.len()),
        );
    }
    out
}
