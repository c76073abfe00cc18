//! OpenClaw config keys → Hearth keys: agents and their model chains (with the providers and
//! auth profiles they need), the gateway, tools, cron and heartbeat, session, queue, hooks,
//! memory, MCP servers and skills. Channels and bindings are in `channels`.

use super::{Ctx, dotted, source};
use serde_json::Value;
use std::collections::BTreeSet;

/// Providers OpenClaw knows without a `models.providers` entry: (name, kind, base URL,
/// the environment variable OpenClaw reads its key from).
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    (
        "anthropic",
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
    ),
    (
        "openai",
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
    ),
    (
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    (
        "ollama",
        "openai",
        "http://127.0.0.1:11434/v1",
        "OLLAMA_API_KEY",
    ),
    (
        "google",
        "openai",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "GEMINI_API_KEY",
    ),
    ("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY"),
    (
        "mistral",
        "openai",
        "https://api.mistral.ai/v1",
        "MISTRAL_API_KEY",
    ),
    (
        "groq",
        "openai",
        "https://api.groq.com/openai/v1",
        "GROQ_API_KEY",
    ),
    (
        "deepseek",
        "openai",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
    ),
];

/// The agents: the default one becomes `[agent]`, the others `[agents.<id>]`.
pub(super) fn agents(cx: &mut Ctx<'_>) {
    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut from = "/agents/entries";
    if let Some(map) = cx.at("/agents/entries").and_then(Value::as_object) {
        entries = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    } else if let Some(list) = cx.at("/agents/list").and_then(Value::as_array) {
        from = "/agents/list";
        for e in list {
            if let Some(id) = e.get("id").and_then(Value::as_str) {
                entries.push((id.to_string(), e.clone()));
            }
        }
    }
    let default = entries
        .iter()
        .find(|(_, e)| e.get("default") == Some(&Value::Bool(true)))
        .map(|(id, _)| id.clone())
        .or_else(|| {
            cx.text("/agents/defaults/systemAgent/agentId")
                .filter(|id| entries.iter().any(|(e, _)| e == id))
        })
        .or_else(|| {
            entries
                .iter()
                .find(|(id, _)| id == "main")
                .map(|(i, _)| i.clone())
        })
        .or_else(|| entries.first().map(|(id, _)| id.clone()))
        .unwrap_or_else(|| "main".into());
    cx.default_agent = default.clone();
    cx.agents.push((default.clone(), "main".into()));
    let main_entry = entries
        .iter()
        .find(|(id, _)| *id == default)
        .map(|(_, e)| e.clone());
    let main_chain = chain(
        cx,
        main_entry
            .as_ref()
            .and_then(|e| e.get("model"))
            .map(|m| (m, format!("agents.entries.{default}.model"))),
        "/agents/defaults/model",
    );
    if let Some(chain) = main_chain {
        cx.set("agent.model", chain);
    }
    cx.copy(
        "/agents/defaults/bootstrapMaxChars",
        "agent.bootstrap_max_chars",
    );
    cx.copy("/agents/defaults/timeoutSeconds", "agent.run_timeout_secs");
    cx.copy(
        "/agents/defaults/maxConcurrent",
        "agent.max_concurrent_runs",
    );
    cx.copy(
        "/agents/defaults/compaction/memoryFlush/enabled",
        "agent.memory_flush",
    );
    cx.skip_keys(
        "/agents/defaults",
        &[
            "models",
            "utilityModel",
            "thinkingDefault",
            "subagents",
            "sandbox",
            "contextPruning",
            "runtime",
            "groupChat",
            "tts",
        ],
        "Hearth has no equivalent",
    );
    for (id, e) in &entries {
        if *id == default {
            continue;
        }
        let hid = id.to_ascii_lowercase();
        let ok = !hid.is_empty()
            && hid.len() <= 32
            && hid != "main"
            && hid
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let path = format!("{}.{id}", dotted(from));
        if !ok {
            cx.skip(
                &path,
                "Hearth agent ids are 1-32 of a-z, 0-9, - and _, and not `main`",
            );
            continue;
        }
        if let Some(chain) = chain(cx, e.get("model").map(|m| (m, format!("{path}.model"))), "") {
            cx.set(&format!("agents.{hid}.model"), chain);
        }
        if let Some(t) = e.get("tools") {
            let layer = policy_layer(cx, t, &format!("{path}.tools"));
            if !layer.is_empty() {
                cx.set(&format!("agents.{hid}.tools"), toml::Value::Table(layer));
            }
        }
        cx.changed(
            &path,
            &format!("agents.{hid}"),
            "its workspace is copied below",
        );
        cx.agents.push((id.clone(), hid));
    }
}

/// The model chain `[primary, …fallbacks]` of an entry's `model` (or the defaults'), with
/// a `[providers.X]` for each provider; refs whose provider cannot be carried over are left
/// out. `None` when nothing is set or nothing is left.
fn chain(cx: &mut Ctx<'_>, own: Option<(&Value, String)>, defaults: &str) -> Option<Vec<String>> {
    let (v, from) = match own {
        Some((v, from)) => (v.clone(), from),
        None if !defaults.is_empty() => (cx.at(defaults)?.clone(), dotted(defaults)),
        None => return None,
    };
    let refs: Vec<String> = match &v {
        Value::String(s) => vec![s.clone()],
        Value::Object(o) => o
            .get("primary")
            .into_iter()
            .chain(
                o.get("fallbacks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            )
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for r in refs {
        let Some((p, m)) = r.split_once('/') else {
            cx.skip(&format!("{from} {r:?}"), "not of the form provider/model");
            continue;
        };
        if m.is_empty() || !provider(cx, p) {
            continue;
        }
        out.push(r);
    }
    if out.is_empty() {
        cx.skip(
            &from,
            "no model in it can be carried over; Hearth's on-device default stays",
        );
        return None;
    }
    cx.imported(&from, "model chain");
    Some(out)
}

/// Makes `[providers.<name>]` once (from `models.providers.<name>` or a built-in), with its
/// auth profiles. Returns whether the provider is usable.
fn provider(cx: &mut Ctx<'_>, name: &str) -> bool {
    if cx.out.get("providers").and_then(|p| p.get(name)).is_some() {
        return true;
    }
    if name == "local" {
        cx.skip(
            "models.providers.local",
            "`local` is Hearth's on-device model; rename the provider",
        );
        return false;
    }
    let ptr = format!("/models/providers/{name}");
    let built_in = BUILT_IN.iter().find(|b| b.0 == name);
    let (kind, base) = if let Some(p) = cx.at(&ptr) {
        let api = p
            .get("api")
            .and_then(Value::as_str)
            .unwrap_or("openai-completions");
        let base = p
            .get("baseUrl")
            .and_then(Value::as_str)
            .map(|s| cx.src.substitute(s).0)
            .or_else(|| built_in.map(|b| b.2.to_string()));
        let kind = match api {
            "openai-completions" | "openai-responses" | "azure-openai-responses" => "openai",
            "ollama" => "openai",
            "anthropic-messages" => "anthropic",
            "google-generative-ai" => "openai",
            other => {
                cx.skip(
                    &dotted(&ptr),
                    &format!("api {other:?} is not one Hearth speaks (OpenAI chat completions, Anthropic messages)"),
                );
                return false;
            }
        };
        let Some(mut base) = base else {
            cx.skip(&dotted(&ptr), "no baseUrl");
            return false;
        };
        if api == "ollama" && !base.trim_end_matches('/').ends_with("/v1") {
            base = format!("{}/v1", base.trim_end_matches('/'));
        }
        if api == "google-generative-ai" && !base.contains("/openai") {
            base = "https://generativelanguage.googleapis.com/v1beta/openai".into();
        }
        if api != "openai-completions" && api != "anthropic-messages" {
            cx.changed(
                &format!("{}.api", dotted(&ptr)),
                &format!("providers.{name}.kind"),
                &format!("{api} is sent as OpenAI chat completions to {base}"),
            );
        }
        (kind, base)
    } else if let Some(b) = built_in {
        (b.1, b.2.to_string())
    } else {
        cx.skip(
            &format!("model provider {name}"),
            "not configured in models.providers and not one Hearth knows the address of",
        );
        return false;
    };
    cx.set(&format!("providers.{name}.kind"), kind);
    cx.set(&format!("providers.{name}.base_url"), base);
    cx.imported(&dotted(&ptr), &format!("providers.{name}"));
    let windows: Vec<i64> = cx
        .at(&format!("{ptr}/models"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("contextWindow").and_then(Value::as_i64))
        .collect();
    if let Some(w) = windows.iter().min() {
        cx.set(&format!("providers.{name}.context_window"), *w);
    }
    profiles(cx, name, &ptr, built_in.map(|b| b.3));
    true
}

/// `[[providers.<name>.profiles]]`: the provider's `apiKey`, then the auth store's API-key
/// profiles in `auth.order`, then the environment variable OpenClaw would read.
fn profiles(cx: &mut Ctx<'_>, name: &str, ptr: &str, env: Option<&str>) {
    let mut list: Vec<toml::Value> = Vec::new();
    if let Some(v) = cx.at(&format!("{ptr}/apiKey")) {
        add(
            cx,
            &mut list,
            name,
            "default",
            &format!("{}.apiKey", dotted(ptr)),
            v,
        );
    }
    let store = cx.state.auth.clone().unwrap_or(Value::Null);
    let mut ids: Vec<String> = store
        .get("profiles")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter(|k| k.split(':').next() == Some(name))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let order: Vec<String> = cx
        .at(&format!("/auth/order/{name}"))
        .or_else(|| store.pointer(&format!("/order/{name}")))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    ids.sort_by_key(|id| order.iter().position(|o| o == id).unwrap_or(usize::MAX));
    for id in ids {
        let cred = &store["profiles"][&id];
        let kind = cred
            .get("type")
            .or_else(|| cred.get("mode"))
            .and_then(Value::as_str)
            .unwrap_or("api_key");
        let from = format!("auth profile {id}");
        if kind != "api_key" && kind != "apiKey" {
            cx.skip(
                &from,
                &format!("a {kind} credential; Hearth sends API keys only"),
            );
            continue;
        }
        let Some(v) = cred
            .get("key")
            .or_else(|| cred.get("keyRef"))
            .or_else(|| cred.get("apiKey"))
        else {
            cx.skip(&from, "no key in it");
            continue;
        };
        let profile: String = id
            .split_once(':')
            .map_or("default", |(_, n)| n)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let taken = list
            .iter()
            .any(|t| t.get("name").and_then(|n| n.as_str()) == Some(&profile));
        let profile = if taken {
            format!("{profile}-2")
        } else {
            profile
        };
        add(cx, &mut list, name, &profile, &from, &v.clone());
    }
    if let Some(flat) = cx
        .state
        .auth_flat
        .as_ref()
        .and_then(|f| f.pointer(&format!("/{name}/apiKey")))
        .cloned()
        && list.is_empty()
    {
        add(
            cx,
            &mut list,
            name,
            "default",
            "agents/main/agent/auth.json",
            &flat,
        );
    }
    if list.is_empty()
        && let Some(var) = env
        && cx.src.var(var).is_some()
    {
        add(
            cx,
            &mut list,
            name,
            "default",
            &format!("${var}"),
            &Value::String(format!("${{{var}}}")),
        );
    }
    if list.is_empty() {
        if name != "ollama" {
            cx.skip(
                &format!("providers.{name} key"),
                "no API key found (config, auth profiles, auth.json or environment); add one",
            );
        }
        list.push(toml::Value::Table(toml::Table::from_iter([(
            "name".to_string(),
            toml::Value::String("default".into()),
        )])));
    }
    cx.set(
        &format!("providers.{name}.profiles"),
        toml::Value::Array(list),
    );
}

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
fn policy_layer(cx: &mut Ctx<'_>, t: &Value, from: &str) -> toml::Table {
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
            if cx.secret(
                "/plugins/entries/brave/config/webSearch/apiKey",
                "tools.web_search.api_key",
                "brave-search",
            ) {
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
    let known: BTreeSet<&str> = ["telegram", "matrix", "discord", "slack", "mqtt"].into();
    for (k, h) in [
        ("byChannel", "mode"),
        ("debounceMsByChannel", "debounce_ms"),
    ] {
        if let Some(map) = cx
            .at(&format!("/messages/queue/{k}"))
            .and_then(Value::as_object)
        {
            for (ch, v) in map {
                let from = format!("messages.queue.{k}.{ch}");
                if !known.contains(ch.as_str()) {
                    cx.skip(&from, "Hearth has no such channel");
                    continue;
                }
                cx.copy(
                    &format!("/messages/queue/{k}/{ch}"),
                    &format!("queue.channels.{ch}.{h}"),
                );
                let _ = v;
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
        let why = if hname != *name {
            "renamed: Hearth server names are a-z, 0-9 and _"
        } else {
            ""
        };
        cx.changed(&from, &key, why);
    }
}

/// Appends the profile `profile` of provider `name` with the secret `v` to `list`.
fn add(
    cx: &mut Ctx<'_>,
    list: &mut Vec<toml::Value>,
    name: &str,
    profile: &str,
    from: &str,
    v: &Value,
) {
    let key = format!("providers.{name}.__key");
    if !cx.secret_value(from, v, &key, &format!("{name}-{profile}")) {
        return;
    }
    if let Some(item) = cx.report.items.last_mut() {
        item.to = format!("providers.{name}.profiles[{}].api_key", list.len());
    }
    let r = cx
        .out
        .get_mut("providers")
        .and_then(|p| p.get_mut(name))
        .and_then(|p| p.as_table_mut())
        .and_then(|t| t.remove("__key"));
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(profile.to_string()));
    if let Some(r) = r {
        t.insert("api_key".into(), r);
    }
    list.push(toml::Value::Table(t));
}
