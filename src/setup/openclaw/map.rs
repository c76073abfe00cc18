//! OpenClaw config keys → Hearth keys: the gateway, tools, cron and heartbeat, session,
//! queue, hooks, memory, MCP servers and skills. Agents and models are in `agents`,
//! channels and bindings in `channels`.

use super::{Ctx, dotted, source};
use serde_json::Value;

/// `[gateway]`: port, bind mode, auth.
pub(super) fn gateway(cx: &mut Ctx<'_>) {
    cx.copy("/gateway/port", "gateway.port");
    let bind = cx.text("/gateway/bind");
    let ip = match bind.as_deref() {
        None => None,
        Some("loopback" | "localhost" | "auto") => Some("127.0.0.1".to_string()),
        Some("lan" | "0.0.0.0") => Some("0.0.0.0".to_string()),
        Some("custom") => cx.text("/gateway/customBindHost"),
        Some(other) if other.parse::<std::net::IpAddr>().is_ok() => Some(other.to_string()),
        Some(other) => {
            cx.skip(
                "gateway.bind",
                &format!("{other:?}: bind to the Tailscale address by hand"),
            );
            None
        }
    };
    if let Some(ip) = ip {
        cx.set("gateway.bind", ip.clone());
        cx.changed(
            "gateway.bind",
            "gateway.bind",
            &format!("{} is {ip}", bind.unwrap_or_default()),
        );
    }
    match cx.text("/gateway/auth/mode").as_deref() {
        Some("password") => {
            if cx.secret("/gateway/auth/password", "gateway.token", "gateway-token") {
                cx.changed(
                    "gateway.auth.mode",
                    "gateway.auth",
                    "the password is now the bearer token",
                );
            }
        }
        Some("none") => {
            let loopback = cx
                .out
                .get("gateway")
                .and_then(|g| g.get("bind"))
                .and_then(|b| b.as_str())
                .is_none_or(|b| b.starts_with("127.") || b == "::1");
            if loopback {
                cx.set("gateway.auth", "none");
                cx.imported("gateway.auth.mode", "gateway.auth");
            } else {
                cx.skip(
                    "gateway.auth.mode",
                    "Hearth refuses no auth on a non-loopback bind; a token is generated",
                );
            }
        }
        Some("trusted-proxy") => cx.skip(
            "gateway.auth.mode",
            "trusted-proxy auth is not in Hearth; a token is generated",
        ),
        _ => {
            cx.secret("/gateway/auth/token", "gateway.token", "gateway-token");
        }
    }
    cx.skip_keys(
        "/gateway",
        &[
            "tailscale",
            "remote",
            "controlUi",
            "tls",
            "nodes",
            "publicOrigin",
            "trustedProxies",
        ],
        "Hearth has no equivalent",
    );
}

/// A tool policy layer: `profile`, `allow`, `alsoAllow`, `deny`.
pub(super) fn policy_layer(cx: &mut Ctx<'_>, t: &Value, from: &str) -> toml::Table {
    let mut layer = toml::Table::new();
    if let Some(p) = t.get("profile").and_then(Value::as_str) {
        if matches!(p, "minimal" | "messaging" | "coding" | "full") {
            layer.insert("profile".into(), p.into());
        } else {
            cx.skip(
                &format!("{from}.profile"),
                &format!("unknown profile {p:?}"),
            );
        }
    }
    for (k, h) in [
        ("allow", "allow"),
        ("alsoAllow", "also_allow"),
        ("deny", "deny"),
    ] {
        let names: Vec<toml::Value> = t
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(|s| toml::Value::String(s.into())))
            .collect();
        if !names.is_empty() {
            layer.insert(h.into(), toml::Value::Array(names));
        }
    }
    layer
}

/// `[tools]`: policy, per-sender layers, exec, web fetch and search.
pub(super) fn tools(cx: &mut Ctx<'_>) {
    let Some(t) = cx.at("/tools") else { return };
    let layer = policy_layer(cx, t, "tools");
    if let Some(p) = layer.get("profile").and_then(|p| p.as_str()) {
        // OpenClaw applies the profile in groups too; Hearth has a separate group profile.
        let narrower = if matches!(p, "minimal" | "messaging") {
            p
        } else {
            "messaging"
        };
        cx.set("tools.group_profile", narrower);
        cx.changed(
            "tools.profile",
            "tools.group_profile",
            &format!("groups get {narrower:?}"),
        );
    }
    for (k, v) in layer {
        cx.set(&format!("tools.{k}"), v);
        cx.imported(&format!("tools.{k}"), &format!("tools.{k}"));
    }
    if let Some(by) = t.get("toolsBySender").and_then(Value::as_object) {
        for (who, pol) in by {
            let key = who
                .strip_prefix("channel:")
                .or_else(|| who.strip_prefix("id:"))
                .unwrap_or(who);
            let layer = policy_layer(cx, pol, &format!("tools.toolsBySender.{who}"));
            cx.set_in(&["tools", "by_sender", key], toml::Value::Table(layer));
            cx.changed(
                &format!("tools.toolsBySender.{who}"),
                &format!("tools.by_sender.{key:?}"),
                "",
            );
        }
    }
    let security = cx.text("/tools/exec/security");
    let ask = cx.text("/tools/exec/ask");
    let mode = cx.text("/tools/exec/mode").or(security.clone());
    if let Some(mode) = mode {
        let hearth = match (mode.as_str(), ask.as_deref()) {
            (_, Some("always")) => "ask",
            ("deny", _) => "deny",
            ("full", _) => "full",
            ("allowlist" | "ask" | "auto", _) => "allowlist",
            (other, _) => {
                cx.skip("tools.exec.mode", &format!("unknown mode {other:?}"));
                ""
            }
        };
        if !hearth.is_empty() {
            cx.set("tools.exec.mode", hearth);
            let mut why = format!("{mode} is {hearth}");
            if mode == "allowlist" && ask.as_deref() != Some("on-miss") {
                why.push_str("; Hearth asks an owner where OpenClaw's allowlist denied silently");
            }
            cx.changed("tools.exec.mode", "tools.exec.mode", &why);
        }
    }
    if let Some(s) = cx.at("/tools/exec/timeoutSeconds").and_then(Value::as_u64) {
        cx.set("tools.exec.timeout_secs", s.clamp(1, 3600) as i64);
        cx.set(
            "tools.exec.max_timeout_secs",
            s.clamp(1, 3600).max(1800) as i64,
        );
        cx.imported("tools.exec.timeoutSeconds", "tools.exec.timeout_secs");
    }
    cx.skip_keys(
        "/tools/exec",
        &[
            "host",
            "safeBins",
            "safeBinProfiles",
            "pathPrepend",
            "notifyOnExit",
        ],
        "Hearth runs exec locally in its own sandbox (Landlock, seccomp)",
    );
    cx.copy("/tools/web/fetch/enabled", "tools.web_fetch");
    cx.copy(
        "/tools/web/fetch/timeoutSeconds",
        "tools.web_fetch_timeout_secs",
    );
    cx.copy(
        "/tools/web/fetch/maxResponseBytes",
        "tools.web_fetch_max_bytes",
    );
    match cx.text("/tools/web/search/provider").as_deref() {
        Some("brave") => {
            let key = cx.secret(
                "/plugins/entries/brave/config/webSearch/apiKey",
                "tools.web_search.api_key",
                "brave-search",
            );
            if key {
                cx.set("tools.web_search.provider", "brave");
            }
        }
        Some("searxng") => {
            if let Some(url) = cx.text("/plugins/entries/searxng/config/webSearch/baseUrl") {
                cx.set("tools.web_search.provider", "searxng");
                cx.set("tools.web_search.base_url", url);
                cx.imported("tools.web.search (searxng)", "tools.web_search");
            }
        }
        Some(other) => cx.skip(
            "tools.web.search.provider",
            &format!("{other:?}: Hearth searches with SearXNG or Brave"),
        ),
        None => {}
    }
    cx.skip_keys(
        "/tools",
        &[
            "byProvider",
            "elevated",
            "agentToAgent",
            "sessions",
            "codeMode",
            "fs",
            "loopDetection",
            "media",
        ],
        "Hearth has no equivalent",
    );
}

/// `[cron]`, `[heartbeat]`.
pub(super) fn automation(cx: &mut Ctx<'_>) {
    cx.copy("/cron/enabled", "cron.enabled");
    let hb = "/agents/defaults/heartbeat";
    if let Some(every) = cx.text(&format!("{hb}/every")) {
        let e = every.trim();
        let e = if e.chars().all(|c| c.is_ascii_digit()) {
            format!("{e}m")
        } else {
            e.to_string()
        };
        let e = if e
            .trim_start_matches('0')
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_digit())
        {
            "0".to_string()
        } else {
            e
        };
        cx.set("heartbeat.every", e);
        cx.imported(&dotted(&format!("{hb}/every")), "heartbeat.every");
    }
    if let Some(start) = cx.text(&format!("{hb}/activeHours/start")) {
        let end = cx
            .text(&format!("{hb}/activeHours/end"))
            .unwrap_or_else(|| "24:00".into());
        cx.set("heartbeat.active_hours.start", start);
        cx.set("heartbeat.active_hours.end", end);
        if let Some(tz) = cx
            .text(&format!("{hb}/activeHours/timezone"))
            .or_else(|| cx.text("/agents/defaults/userTimezone"))
        {
            cx.set("heartbeat.active_hours.timezone", tz);
        }
        cx.imported(
            &dotted(&format!("{hb}/activeHours")),
            "heartbeat.active_hours",
        );
    }
    match cx.text(&format!("{hb}/target")).as_deref() {
        Some("last") => cx.set("heartbeat.target", "last"),
        Some("none") => cx.skip(
            "agents.defaults.heartbeat.target",
            "Hearth has no silent heartbeat target",
        ),
        None | Some("owner") => {}
        Some(ch) => match cx.text(&format!("{hb}/to")) {
            Some(to) => {
                cx.set("heartbeat.target", format!("{ch}:{to}"));
                cx.imported("agents.defaults.heartbeat.target", "heartbeat.target");
            }
            None => cx.skip("agents.defaults.heartbeat.target", "a channel without `to`"),
        },
    }
    cx.skip_keys(
        hb,
        &[
            "model",
            "prompt",
            "lightContext",
            "isolatedSession",
            "directPolicy",
            "accountId",
        ],
        "Hearth's heartbeat has no such setting",
    );
}

/// `[session]`, `[queue]`, `[hooks]`, `[memory]`, `[mcp]`, `[skills]`.
pub(super) fn rest(cx: &mut Ctx<'_>) {
    cx.copy("/session/dmScope", "session.dm_scope");
    if let Some(links) = cx.at("/session/identityLinks").and_then(Value::as_object) {
        for (name, ids) in links {
            let ids: Vec<String> = ids
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(source::scalar)
                .map(|id| id.replacen("tg:", "telegram:", 1))
                .collect();
            cx.set_in(&["session", "identity_links", name], ids);
        }
        cx.imported("session.identityLinks", "session.identity_links");
    }
    cx.skip_keys(
        "/session",
        &[
            "reset",
            "resetByType",
            "resetByChannel",
            "resetTriggers",
            "groupScope",
            "sendPolicy",
            "threadBindings",
            "maintenance",
            "mainKey",
        ],
        "Hearth keeps sessions until /reset; it has no such setting",
    );
    cx.copy("/messages/queue/mode", "queue.mode");
    cx.copy("/messages/queue/cap", "queue.cap");
    cx.copy("/messages/queue/drop", "queue.drop");
    cx.copy("/messages/queue/debounceMs", "queue.debounce_ms");
    for (k, h) in [
        ("byChannel", "mode"),
        ("debounceMsByChannel", "debounce_ms"),
    ] {
        if let Some(map) = cx
            .at(&format!("/messages/queue/{k}"))
            .and_then(Value::as_object)
        {
            for ch in map.keys() {
                let from = format!("messages.queue.{k}.{ch}");
                if !super::CHANNELS.contains(&ch.as_str()) {
                    cx.skip(&from, "Hearth has no such channel");
                    continue;
                }
                cx.copy(
                    &format!("/messages/queue/{k}/{ch}"),
                    &format!("queue.channels.{ch}.{h}"),
                );
            }
        }
    }
    let hooks_on = cx.at("/hooks/enabled") == Some(&Value::Bool(true));
    if hooks_on && !cx.secret("/hooks/token", "hooks.token", "hooks-token") {
        cx.skip(
            "hooks.enabled",
            "hooks stay off: Hearth's webhooks need their own token",
        );
    } else if hooks_on {
        cx.set("hooks.enabled", true);
        cx.copy(
            "/hooks/allowRequestSessionKey",
            "hooks.allow_request_session_key",
        );
        cx.skip_keys(
            "/hooks",
            &[
                "path",
                "mappings",
                "presets",
                "gmail",
                "transformsDir",
                "defaultSessionKey",
                "allowedAgentIds",
                "allowedSessionKeyPrefixes",
            ],
            "Hearth's hooks live at /hooks/agent and /hooks/wake only",
        );
    }
    mcp_and_skills(cx);
}

/// `[memory]`, `[mcp]`, `[skills]` and the sections Hearth has nothing for.
fn mcp_and_skills(cx: &mut Ctx<'_>) {
    cx.copy("/memory/search/enabled", "memory.enabled");
    if let Some(src) = cx.at("/memory/search/sources").and_then(Value::as_array) {
        let sessions = src.iter().any(|s| s == "sessions");
        cx.set("memory.sessions", sessions);
        cx.imported("memory.search.sources", "memory.sessions");
    }
    cx.copy(
        "/memory/search/query/maxResults",
        "memory.search.max_results",
    );
    cx.copy("/memory/search/query/minScore", "memory.search.min_score");
    cx.skip_keys(
        "/memory/search",
        &["provider", "remote", "model", "extraPaths"],
        "Hearth embeds memory on the device",
    );
    mcp(cx);
    if let Some(entries) = cx.at("/skills/entries").and_then(Value::as_object) {
        let off: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.get("enabled") == Some(&Value::Bool(false)))
            .map(|(n, _)| n.clone())
            .collect();
        for (n, e) in entries {
            if e.get("apiKey").is_some() || e.get("env").is_some() {
                cx.skip(
                    &format!("skills.entries.{n}"),
                    "per-skill keys and env are not in Hearth",
                );
            }
        }
        if !off.is_empty() {
            cx.set("skills.disabled", off);
            cx.imported("skills.entries.*.enabled", "skills.disabled");
        }
    }
    if let Some(b) = cx.at("/skills/allowBundled").and_then(Value::as_array) {
        let names: Vec<String> = b.iter().filter_map(source::scalar).collect();
        cx.set("skills.allow_bundled", names);
        cx.changed(
            "skills.allowBundled",
            "skills.allow_bundled",
            "Hearth's bundled skills differ; names it lacks match nothing",
        );
    }
    for k in [
        "plugins",
        "talk",
        "tts",
        "broadcast",
        "browser",
        "canvas",
        "acp",
        "nodeHost",
        "approvals",
        "discovery",
    ] {
        if cx.at(&format!("/{k}")).is_some() {
            cx.skip(k, "Hearth has no plugin runtime or equivalent");
        }
    }
}

/// `mcp.servers.<name>` → `[mcp.servers.<name>]`; secret-looking env and headers become
/// credential files.
fn mcp(cx: &mut Ctx<'_>) {
    let Some(servers) = cx.at("/mcp/servers").and_then(Value::as_object) else {
        return;
    };
    for (name, s) in servers {
        let hname: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let from = format!("mcp.servers.{name}");
        let key = format!("mcp.servers.{hname}");
        let p = format!("/mcp/servers/{name}");
        if s.get("auth").is_some() || s.get("oauth").is_some() {
            cx.skip(&from, "MCP OAuth is not in Hearth");
            continue;
        }
        if s.get("command").is_none() && s.get("url").is_none() {
            cx.skip(&from, "neither command nor url");
            continue;
        }
        cx.copy(&format!("{p}/enabled"), &format!("{key}.enabled"));
        cx.copy(&format!("{p}/command"), &format!("{key}.command"));
        cx.copy(&format!("{p}/url"), &format!("{key}.url"));
        cx.copy(&format!("{p}/cwd"), &format!("{key}.cwd"));
        if let Some(args) = s.get("args").and_then(Value::as_array) {
            let a: Vec<String> = args.iter().filter_map(source::scalar).collect();
            cx.set(&format!("{key}.args"), a);
        }
        for (ms, h) in [
            ("connectionTimeoutMs", "connect_timeout_secs"),
            ("requestTimeoutMs", "call_timeout_secs"),
        ] {
            if let Some(ms) = s.get(ms).and_then(Value::as_u64) {
                cx.set(&format!("{key}.{h}"), ms.div_ceil(1000).max(1) as i64);
            }
        }
        for (k, h) in [("include", "include"), ("exclude", "exclude")] {
            if let Some(l) = s
                .pointer(&format!("/toolFilter/{k}"))
                .and_then(Value::as_array)
            {
                let l: Vec<String> = l.iter().filter_map(source::scalar).collect();
                cx.set(&format!("{key}.{h}"), l);
            }
        }
        for (var, v) in s
            .get("env")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let text = source::scalar(v).unwrap_or_default();
            let secretish = text.contains("${")
                || ["KEY", "TOKEN", "SECRET", "PASSWORD", "AUTH"]
                    .iter()
                    .any(|w| var.to_ascii_uppercase().contains(w));
            if secretish {
                cx.secret_value(
                    &format!("{from}.env.{var}"),
                    v,
                    &format!("{key}.secret_env.{var}"),
                    &format!("mcp-{hname}-{var}"),
                );
            } else {
                cx.set(&format!("{key}.env.{var}"), text);
            }
        }
        for (h, v) in s
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let bearer =
                source::scalar(v).and_then(|t| t.strip_prefix("Bearer ").map(str::to_string));
            match bearer {
                Some(tok) if h.eq_ignore_ascii_case("authorization") => {
                    cx.secret_value(
                        &format!("{from}.headers.{h}"),
                        &Value::String(tok),
                        &format!("{key}.bearer"),
                        &format!("mcp-{hname}-bearer"),
                    );
                }
                _ => {
                    cx.secret_value(
                        &format!("{from}.headers.{h}"),
                        v,
                        &format!("{key}.headers.{h}"),
                        &format!("mcp-{hname}-{h}"),
                    );
                }
            }
        }
        if hname != *name {
            cx.changed(
                &from,
                &key,
                "renamed: Hearth server names are a-z, 0-9 and _",
            );
        } else {
            cx.imported(&from, &key);
        }
    }
}
