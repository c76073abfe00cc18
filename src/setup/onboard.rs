//! `hearth onboard`: the first-run answers — model and provider key, gateway listener, a
//! Telegram or Matrix account with its owner, the Home Assistant link, the service — and the
//! installation they make. The interactive wizard (`src/cli/onboard.rs`) only collects
//! [`Answers`]; `hearth onboard --answers FILE` reads the same thing from TOML, so an image
//! build replays exactly what a person would have typed.
//!
//! Re-runnable: the answers are laid over the existing `hearth.toml` (kept as `.bak`); keys
//! onboarding does not own (other agents, tools, bindings, …) stay as they were.
//!
//! A secret answer is `env:NAME` (read now), `file:/path` (read now) or the value itself; it
//! is stored as a credential file either way ([`super::Secrets`]).

use super::{Item, Plan, Report, Secrets, SetupError, Target, table_at};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything onboarding asks, as `--answers FILE` holds it (TOML).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// The user read and accepted the security note (personal by default; lock down before
    /// sharing). Required.
    #[serde(default)]
    pub accept_risk: bool,
    /// The model chain.
    #[serde(default)]
    pub model: ModelAnswers,
    /// The gateway listener.
    #[serde(default)]
    pub gateway: GatewayAnswers,
    /// A Telegram bot.
    #[serde(default)]
    pub telegram: Option<TelegramAnswers>,
    /// A Matrix account.
    #[serde(default)]
    pub matrix: Option<MatrixAnswers>,
    /// The Home Assistant link.
    #[serde(default)]
    pub home_assistant: Option<HomeAssistantAnswers>,
    /// Install as a systemd service.
    #[serde(default)]
    pub service: ServiceAnswers,
}

/// `[model]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelAnswers {
    /// `local` (on the device), `openai`, `anthropic`, `openrouter`, `ollama`, or `custom`
    /// (any OpenAI- or Anthropic-compatible server at `base_url`).
    pub provider: String,
    /// The model: an id at the provider, or for `local` a name from `hearth models list`.
    pub model: String,
    /// The API base URL (`custom`; overrides the provider's for the others).
    pub base_url: Option<String>,
    /// `custom`'s wire protocol: `openai` (chat completions) or `anthropic` (messages).
    pub kind: Option<String>,
    /// The API key: `env:NAME`, `file:/path` or the key.
    pub api_key: Option<String>,
    /// A remote chain ends with this on-device model as the fallback.
    pub local_fallback: Option<String>,
}

impl Default for ModelAnswers {
    fn default() -> Self {
        Self {
            provider: "local".into(),
            model: "smollm2-135m-instruct".into(),
            base_url: None,
            kind: None,
            api_key: None,
            local_fallback: None,
        }
    }
}

/// `[gateway]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayAnswers {
    /// Listen address: `127.0.0.1` (this box only) or `0.0.0.0` (the LAN; token auth stays).
    pub bind: String,
    /// TCP port.
    pub port: u16,
}

impl Default for GatewayAnswers {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 18789,
        }
    }
}

/// `[telegram]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramAnswers {
    /// The bot token from @BotFather: `env:NAME`, `file:/path` or the token.
    pub token: String,
    /// The owner's numeric user id (they may approve pairings and exec requests).
    pub owner: String,
    /// The Bot API base URL (a local Bot API server, or a test emulator).
    #[serde(default)]
    pub api_base: Option<String>,
}

/// `[matrix]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixAnswers {
    /// Homeserver URL, e.g. `https://matrix.example.org`.
    pub homeserver: String,
    /// The bot's user id, `@bot:example.org`.
    pub user_id: String,
    /// Its access token: `env:NAME`, `file:/path` or the token.
    pub access_token: String,
    /// The owner's user id, `@me:example.org`.
    pub owner: String,
}

/// `[home_assistant]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeAssistantAnswers {
    /// Home Assistant's URL, e.g. `http://homeassistant.local:8123`.
    pub url: String,
    /// A long-lived access token (for its MCP server): `env:NAME`, `file:/path` or the
    /// token. Without it Hearth does not control Home Assistant.
    #[serde(default)]
    pub token: Option<String>,
    /// The key Home Assistant's Ollama integration puts in its URL (Hearth as its
    /// conversation agent); generated when absent.
    #[serde(default)]
    pub ollama_key: Option<String>,
}

/// `[service]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceAnswers {
    /// Install the systemd service (A/B layout, `hearth service install`).
    pub install: bool,
    /// Start it now (on this machine only).
    pub start: bool,
}

/// Providers onboarding offers by name: (name, kind, base URL, key needed).
pub const PROVIDERS: &[(&str, &str, &str, bool)] = &[
    ("openai", "openai", "https://api.openai.com/v1", true),
    ("anthropic", "anthropic", "https://api.anthropic.com", true),
    ("openrouter", "openai", "https://openrouter.ai/api/v1", true),
    ("ollama", "openai", "http://127.0.0.1:11434/v1", false),
];

/// Reads a secret answer now: `env:NAME`, `file:/path`, or the value itself.
///
/// # Errors
/// [`SetupError::Input`] naming the answer when the variable is unset or the file unreadable.
pub fn read_secret(what: &str, answer: &str) -> Result<String, SetupError> {
    let v = if let Some(name) = answer.strip_prefix("env:") {
        std::env::var(name).map_err(|_| SetupError::Input(format!("{what}: ${name} is not set")))?
    } else if let Some(path) = answer.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map_err(|e| SetupError::Input(format!("{what}: {path}: {e}")))?
    } else {
        answer.to_string()
    };
    let v = v.trim().to_string();
    if v.is_empty() {
        return Err(SetupError::Input(format!("{what} is empty")));
    }
    Ok(v)
}

/// Reads `--answers FILE`.
///
/// # Errors
/// [`SetupError::Input`] with the file, line and the TOML error.
pub fn read_answers(path: &Path) -> Result<Answers, SetupError> {
    let text = std::fs::read_to_string(path).map_err(|source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| SetupError::Input(format!("{}: {e}", path.display())))
}

/// The `(provider name, kind, base URL)` the model answers name, or why not.
///
/// # Errors
/// [`SetupError::Input`] for an unknown provider or a `custom` one without URL or kind.
pub fn provider_of(m: &ModelAnswers) -> Result<Option<(String, String, String)>, SetupError> {
    if m.provider == "local" {
        return Ok(None);
    }
    if m.provider == "custom" {
        let base = m.base_url.clone().ok_or_else(|| {
            SetupError::Input("model.base_url: a custom provider needs its URL".into())
        })?;
        let kind = m.kind.clone().unwrap_or_else(|| "openai".into());
        if kind != "openai" && kind != "anthropic" {
            return Err(SetupError::Input(format!(
                "model.kind: {kind:?} is neither \"openai\" nor \"anthropic\""
            )));
        }
        return Ok(Some(("custom".into(), kind, base)));
    }
    let Some(p) = PROVIDERS.iter().find(|p| p.0 == m.provider) else {
        return Err(SetupError::Input(format!(
            "model.provider: {:?} is not local, openai, anthropic, openrouter, ollama or custom",
            m.provider
        )));
    };
    let base = m.base_url.clone().unwrap_or_else(|| p.2.to_string());
    Ok(Some((p.0.to_string(), p.1.to_string(), base)))
}

/// The installation the answers make, laid over `existing` (the current config's table).
///
/// # Errors
/// [`SetupError::Input`] for answers that cannot work (no accepted risk, a missing key, an
/// owner id that is not one), [`SetupError::Invalid`] if the result does not validate.
pub fn plan(
    a: &Answers,
    target: &Target,
    existing: Option<toml::Table>,
    report: &mut Report,
) -> Result<Plan, SetupError> {
    if !a.accept_risk {
        return Err(SetupError::Input(
            "accept_risk: Hearth acts for whoever it lets talk; read the security note and set \
             accept_risk = true"
                .into(),
        ));
    }
    let mut out = existing.unwrap_or_default();
    let mut secrets = Secrets::default();
    // Model chain and provider.
    let m = &a.model;
    let mut chain = Vec::new();
    match provider_of(m)? {
        None => chain.push(format!("local/{}", m.model)),
        Some((name, kind, base)) => {
            let p = table_at(&mut out, &["providers", &name]);
            p.insert("kind".into(), kind.into());
            p.insert("base_url".into(), base.into());
            let mut profile = toml::Table::new();
            profile.insert("name".into(), "default".into());
            if let Some(k) = &m.api_key {
                let key = read_secret("model.api_key", k)?;
                let r = secrets.put(target, &format!("{name}-api-key"), &key);
                profile.insert("api_key".into(), r.as_str().into());
                report.push(Item::changed(
                    "model.api_key",
                    r.as_str(),
                    "stored as a credential file",
                ));
            } else if PROVIDERS.iter().any(|p| p.0 == name && p.3) {
                return Err(SetupError::Input(format!(
                    "model.api_key: {name} needs an API key"
                )));
            }
            p.insert(
                "profiles".into(),
                toml::Value::Array(vec![toml::Value::Table(profile)]),
            );
            chain.push(format!("{name}/{}", m.model));
            if let Some(l) = &m.local_fallback {
                chain.push(format!("local/{l}"));
            }
        }
    }
    table_at(&mut out, &["agent"]).insert("model".into(), chain.clone().into());
    report.push(Item::imported("model", &format!("agent.model = {chain:?}")));
    // Gateway.
    let g = table_at(&mut out, &["gateway"]);
    g.insert("bind".into(), a.gateway.bind.clone().into());
    g.insert("port".into(), i64::from(a.gateway.port).into());
    // Channels.
    let mut targets = Vec::new();
    if let Some(t) = &a.telegram {
        if t.owner.is_empty() || !t.owner.chars().all(|c| c.is_ascii_digit()) {
            return Err(SetupError::Input(format!(
                "telegram.owner: {:?} is not a numeric Telegram user id",
                t.owner
            )));
        }
        let tok = read_secret("telegram.token", &t.token)?;
        let r = secrets.put(target, "telegram-token", &tok);
        let c = table_at(&mut out, &["channels", "telegram"]);
        c.insert("enabled".into(), true.into());
        c.insert("token".into(), r.as_str().into());
        c.insert("dm_policy".into(), "pairing".into());
        c.insert("allow_from".into(), vec![t.owner.clone()].into());
        if let Some(b) = &t.api_base {
            c.insert("api_base".into(), b.clone().into());
        }
        targets.push(format!("telegram:default:{}", t.owner));
        report.push(Item::imported(
            "telegram",
            "channels.telegram (owner in allow_from)",
        ));
    }
    if let Some(mx) = &a.matrix {
        let owner_ok = mx.owner.starts_with('@') && mx.owner.contains(':');
        if !owner_ok {
            return Err(SetupError::Input(format!(
                "matrix.owner: {:?} is not a Matrix user id (@name:server)",
                mx.owner
            )));
        }
        let tok = read_secret("matrix.access_token", &mx.access_token)?;
        let r = secrets.put(target, "matrix-token", &tok);
        let c = table_at(&mut out, &["channels", "matrix"]);
        c.insert("enabled".into(), true.into());
        c.insert("homeserver".into(), mx.homeserver.clone().into());
        c.insert("user_id".into(), mx.user_id.clone().into());
        c.insert("access_token".into(), r.as_str().into());
        c.insert("allow_from".into(), vec![mx.owner.clone()].into());
        targets.push(format!("matrix:default:{}", mx.owner));
        report.push(Item::imported(
            "matrix",
            "channels.matrix (owner in allow_from)",
        ));
    }
    if !targets.is_empty() {
        let prev: Vec<String> = out
            .get("tools")
            .and_then(|t| t.get("approvals"))
            .and_then(|a| a.get("targets"))
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut all = prev;
        for t in targets {
            if !all.contains(&t) {
                all.push(t);
            }
        }
        table_at(&mut out, &["tools", "approvals"]).insert("targets".into(), all.into());
    }
    // Home Assistant.
    if let Some(ha) = &a.home_assistant {
        let url = ha.url.trim_end_matches('/').to_string();
        if let Some(tok) = &ha.token {
            let tok = read_secret("home_assistant.token", tok)?;
            let r = secrets.put(target, "ha-token", &tok);
            let s = table_at(&mut out, &["mcp", "servers", "home_assistant"]);
            s.insert("url".into(), format!("{url}/api/mcp").into());
            s.insert("bearer".into(), r.as_str().into());
            report.push(Item::imported(
                "home_assistant.token",
                "mcp.servers.home_assistant (Hearth controls what Home Assistant exposes)",
            ));
        }
        let key = match &ha.ollama_key {
            Some(k) => read_secret("home_assistant.ollama_key", k)?,
            None => crate::core::random_hex(32).map_err(SetupError::Input)?,
        };
        let r = secrets.put(target, "ollama-key", &key);
        let o = table_at(&mut out, &["ollama"]);
        o.insert("enabled".into(), true.into());
        o.insert("key".into(), r.as_str().into());
        report.push(Item::changed(
            "home_assistant",
            "ollama.key",
            &format!(
                "in Home Assistant add the Ollama integration with URL \
                 http://<this box>:{}/ollama/{key} and model hearth:latest",
                a.gateway.port
            ),
        ));
        if a.gateway.bind.starts_with("127.") {
            report.push(Item::skipped(
                "gateway.bind",
                "127.0.0.1 is this box only: Home Assistant on another machine needs 0.0.0.0",
            ));
        }
    }
    Plan::new(
        target.clone(),
        &format!("Written by hearth onboard {}.", env!("CARGO_PKG_VERSION")),
        out,
        secrets,
        Vec::new(),
    )
}

/// The existing config's table, if there is one and it is TOML (it need not validate: a
/// re-run may be the fix).
///
/// # Errors
/// [`SetupError::Input`] when the file exists but is not TOML (say where), so a re-run does
/// not silently drop it.
pub fn existing(target: &Target) -> Result<Option<toml::Table>, SetupError> {
    let p = target.host(&target.config);
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text).map(Some).map_err(|e| {
            SetupError::Input(format!(
                "{}: {e}(fix it or move it away before onboarding again)",
                p.display()
            ))
        }),
        Err(_) => Ok(None),
    }
}
