//! OpenClaw's agents and models → Hearth's: the default agent becomes `[agent]`, the others
//! `[agents.<id>]`, each model chain brings the `[providers.X]` it needs with the API-key
//! auth profiles found in the config, the auth store, `auth.json` or the environment.

use super::map::policy_layer;
use super::{Ctx, dotted};
use serde_json::Value;

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
    let state = cx.state;
    let store = state.auth.as_ref().unwrap_or(&Value::Null);
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
        add(cx, &mut list, name, &profile, &from, v);
    }
    if let Some(flat) = state
        .auth_flat
        .as_ref()
        .and_then(|f| f.pointer(&format!("/{name}/apiKey")))
        && list.is_empty()
    {
        add(
            cx,
            &mut list,
            name,
            "default",
            "agents/main/agent/auth.json",
            flat,
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

/// Appends the profile `profile` of provider `name` with the secret `v` to `list`, unless
/// an earlier profile holds the same key.
fn add(
    cx: &mut Ctx<'_>,
    list: &mut Vec<toml::Value>,
    name: &str,
    profile: &str,
    from: &str,
    v: &Value,
) {
    let to = format!("providers.{name}.profiles[{}].api_key", list.len());
    let Some(r) = cx.secret_ref(from, v, &to, &format!("{name}-{profile}")) else {
        return;
    };
    if list
        .iter()
        .any(|p| p.get("api_key").and_then(|k| k.as_str()) == Some(&r))
    {
        if let Some(item) = cx.report.items.last_mut() {
            item.why = "the same key as a profile before it".into();
            item.to.clear();
            item.outcome = crate::setup::Outcome::Skipped;
        }
        return;
    }
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(profile.to_string()));
    t.insert("api_key".into(), toml::Value::String(r));
    list.push(toml::Value::Table(t));
}
