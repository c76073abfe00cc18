//! Wiring of the channel adapters: their outbound sinks are registered with the dispatcher
//! before recovery starts the delivery worker, and their inbound loops start once the
//! gateway is ready, behind one [`ChannelGate`] that applies `[channels.*]` access
//! policies and `[session]` scoping.

use crate::config::{Config, ConfigError};
use crate::core::{AccessPolicy, DmPolicy, WebhookHandler};
use crate::router::{ChannelGate, Dispatcher, GateOptions};
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A channel's progress drafts and after how long a run gets one (`None`: off).
#[allow(dead_code)]
type DraftOpts = Option<(Arc<crate::channel::draft::Drafts>, std::time::Duration)>;

/// The configured adapters between their two start steps.
pub struct Channels {
    /// The gate every adapter hands its messages to.
    gate: Arc<ChannelGate>,
    /// Channels in webhook mode, for the gateway's `/channels/<name>/webhook`.
    pub webhooks: HashMap<String, Arc<dyn WebhookHandler>>,
    #[cfg(feature = "telegram")]
    telegram: Option<(crate::channel::telegram::Api, DraftOpts)>,
    #[cfg(feature = "telegram")]
    telegram_webhook: Option<(
        Arc<crate::channel::telegram::TelegramWebhook>,
        crate::channel::telegram::WebhookOptions,
    )>,
    #[cfg(feature = "mqtt")]
    mqtt: Option<crate::channel::mqtt::Mqtt>,
    #[cfg(feature = "matrix")]
    matrix: Option<(crate::channel::matrix::Api, DraftOpts)>,
    #[cfg(feature = "discord")]
    discord: Option<(crate::channel::discord::Rest, String)>,
    #[cfg(feature = "slack")]
    slack: Option<(crate::channel::slack::Web, crate::channel::slack::Web)>,
}

/// Resolves the secret at `key`, or says which one is missing.
pub(super) fn secret(
    r: Option<&crate::config::SecretRef>,
    key: &str,
) -> Result<String, ConfigError> {
    r.ok_or_else(|| ConfigError::Secret(format!("{key} is not set")))?
        .resolve()
        .map_err(|m| ConfigError::Secret(format!("{key}: {m}")))
}

/// The refusal for a configured channel this build lacks. (Unused in a build with them all.)
#[allow(dead_code)]
fn missing(name: &str) -> ConfigError {
    ConfigError::Unsupported {
        key: format!("channels.{name}"),
        message: format!("this build has no {name} adapter (cargo feature `{name}`)"),
    }
}

/// Each channel's settings as JSON (`null` when absent or disabled), to tell which changed.
pub fn settings(cfg: &Config) -> Vec<(&'static str, serde_json::Value)> {
    fn v<T: serde::Serialize>(on: bool, x: &T) -> serde_json::Value {
        match on {
            true => serde_json::to_value(x).unwrap_or_default(),
            false => serde_json::Value::Null,
        }
    }
    let c = &cfg.channels;
    vec![
        (
            "telegram",
            v(c.telegram.as_ref().is_some_and(|t| t.enabled), &c.telegram),
        ),
        (
            "matrix",
            v(c.matrix.as_ref().is_some_and(|t| t.enabled), &c.matrix),
        ),
        (
            "discord",
            v(c.discord.as_ref().is_some_and(|t| t.enabled), &c.discord),
        ),
        (
            "slack",
            v(c.slack.as_ref().is_some_and(|t| t.enabled), &c.slack),
        ),
        (
            "mqtt",
            v(c.mqtt.as_ref().is_some_and(|t| t.enabled), &c.mqtt),
        ),
    ]
}

/// The gate's options from `[channels.*]` and `[session]`.
pub(super) fn gate_options(cfg: &Config) -> GateOptions {
    let mut o = GateOptions {
        dm_scope: cfg.session.dm_scope,
        agent: "main".into(),
        bindings: cfg.bindings.clone(),
        ..GateOptions::default()
    };
    for (who, ids) in &cfg.session.identity_links {
        for id in ids {
            o.identity_links.insert(id.clone(), who.clone());
        }
    }
    if let Some(t) = cfg.channels.telegram.as_ref().filter(|t| t.enabled) {
        o.accounts
            .insert(("telegram".into(), "default".into()), t.access());
    }
    if let Some(d) = cfg.channels.discord.as_ref().filter(|d| d.enabled) {
        o.accounts
            .insert(("discord".into(), "default".into()), d.access());
    }
    if let Some(sl) = cfg.channels.slack.as_ref().filter(|s| s.enabled) {
        o.accounts
            .insert(("slack".into(), "default".into()), sl.access());
    }
    if let Some(m) = cfg.channels.matrix.as_ref().filter(|m| m.enabled) {
        o.accounts
            .insert(("matrix".into(), "default".into()), m.access());
    }
    if cfg.channels.mqtt.as_ref().is_some_and(|m| m.enabled) {
        // Whoever may publish to the request topics may talk: the broker's users and ACLs
        // are the access control.
        let open = AccessPolicy {
            dm_policy: DmPolicy::Open,
            allow_from: vec!["*".into()],
            ..AccessPolicy::default()
        };
        o.accounts.insert(("mqtt".into(), "default".into()), open);
    }
    o
}

/// Resolves the adapters' secrets and registers their outbound sinks.
///
/// # Errors
/// [`ConfigError::Secret`] when a token reference cannot be read;
/// [`ConfigError::Unsupported`] when a configured channel is not in this build.
pub fn register(
    cfg: &Config,
    dispatcher: &Dispatcher,
    workspace: &Arc<Workspace>,
    gate: &Arc<ChannelGate>,
    only: &[&str],
) -> Result<Channels, ConfigError> {
    #[allow(unused_mut)]
    let mut ch = Channels {
        gate: gate.clone(),
        webhooks: HashMap::new(),
        #[cfg(feature = "telegram")]
        telegram: None,
        #[cfg(feature = "telegram")]
        telegram_webhook: None,
        #[cfg(feature = "mqtt")]
        mqtt: None,
        #[cfg(feature = "matrix")]
        matrix: None,
        #[cfg(feature = "discord")]
        discord: None,
        #[cfg(feature = "slack")]
        slack: None,
    };
    let wanted = |name: &str| only.contains(&name);
    if let Some(d) = cfg
        .channels
        .discord
        .as_ref()
        .filter(|d| d.enabled && wanted("discord"))
    {
        #[cfg(feature = "discord")]
        {
            use crate::channel::discord::{DiscordSink, Rest};
            let token = secret(d.token.as_ref(), "channels.discord.token")?;
            let rest = Rest::new(&d.api_base, &token);
            dispatcher.register_outbound(DiscordSink::new(rest.clone()));
            dispatcher.declare_channel("discord", "default");
            ch.discord = Some((rest, token));
        }
        #[cfg(not(feature = "discord"))]
        {
            let _ = d;
            return Err(missing("discord"));
        }
    }
    if let Some(sl) = cfg
        .channels
        .slack
        .as_ref()
        .filter(|s| s.enabled && wanted("slack"))
    {
        #[cfg(feature = "slack")]
        {
            use crate::channel::slack::{SlackSink, Web};
            let app = Web::new(
                &sl.api_base,
                &secret(sl.app_token.as_ref(), "channels.slack.app_token")?,
            );
            let bot = Web::new(
                &sl.api_base,
                &secret(sl.bot_token.as_ref(), "channels.slack.bot_token")?,
            );
            dispatcher.register_outbound(SlackSink::new(bot.clone()));
            dispatcher.declare_channel("slack", "default");
            ch.slack = Some((app, bot));
        }
        #[cfg(not(feature = "slack"))]
        {
            let _ = sl;
            return Err(missing("slack"));
        }
    }
    if let Some(t) = cfg
        .channels
        .telegram
        .as_ref()
        .filter(|t| t.enabled && wanted("telegram"))
    {
        #[cfg(feature = "telegram")]
        {
            use crate::channel::telegram::{Api, TelegramSink};
            let token = secret(t.token.as_ref(), "channels.telegram.token")?;
            let api = Api::new(&t.api_base, &token);
            let drafts = std::sync::Arc::new(crate::channel::telegram::Drafts::default());
            let draft_opts = (t.draft_after_secs > 0).then(|| {
                (
                    drafts.clone(),
                    std::time::Duration::from_secs(t.draft_after_secs),
                )
            });
            dispatcher.register_outbound(TelegramSink::new(api.clone(), drafts));
            dispatcher.declare_channel("telegram", "default");
            ch.telegram = Some((api, draft_opts.clone()));
            if let (Some(url), Some(r)) = (&t.webhook_url, &t.webhook_secret) {
                use crate::channel::telegram::{TelegramWebhook, WebhookOptions};
                let secret = r.resolve().map_err(|m| {
                    ConfigError::Secret(format!("channels.telegram.webhook_secret: {m}"))
                })?;
                let ok = (1..=256).contains(&secret.len())
                    && secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    return Err(ConfigError::Secret(
                        "channels.telegram.webhook_secret: Telegram takes 1-256 of A-Z a-z 0-9 _ -"
                            .into(),
                    ));
                }
                let opts = WebhookOptions {
                    url: url.clone(),
                    secret,
                    account: "default".into(),
                    typing: t.typing,
                    media: workspace.clone(),
                    max_media_bytes: t.max_media_bytes,
                    drafts: draft_opts.clone(),
                };
                let h = TelegramWebhook::new(ch.gate.clone(), &opts);
                ch.webhooks.insert("telegram".into(), h.clone());
                ch.telegram_webhook = Some((h, opts));
            }
        }
        #[cfg(not(feature = "telegram"))]
        {
            let _ = (t, dispatcher, workspace);
            return Err(missing("telegram"));
        }
    }
    if let Some(m) = cfg
        .channels
        .matrix
        .as_ref()
        .filter(|m| m.enabled && wanted("matrix"))
    {
        #[cfg(feature = "matrix")]
        {
            use crate::channel::matrix::{Api, MatrixSink};
            let token = secret(m.access_token.as_ref(), "channels.matrix.access_token")?;
            let api = Api::new(&m.homeserver, &m.user_id, &token);
            let drafts = Arc::new(crate::channel::draft::Drafts::default());
            dispatcher.register_outbound(MatrixSink::new(api.clone(), drafts.clone()));
            dispatcher.declare_channel("matrix", "default");
            let after = std::time::Duration::from_secs(m.draft_after_secs);
            ch.matrix = Some((api, (m.draft_after_secs > 0).then_some((drafts, after))));
        }
        #[cfg(not(feature = "matrix"))]
        {
            let _ = m;
            return Err(missing("matrix"));
        }
    }
    if let Some(m) = cfg
        .channels
        .mqtt
        .as_ref()
        .filter(|m| m.enabled && wanted("mqtt"))
    {
        #[cfg(feature = "mqtt")]
        {
            let password = match &m.password {
                Some(r) => Some(
                    r.resolve()
                        .map_err(|e| ConfigError::Secret(format!("channels.mqtt.password: {e}")))?,
                ),
                None => None,
            };
            let client = crate::channel::mqtt::connect(m, password).map_err(|message| {
                ConfigError::Invalid {
                    file: Default::default(),
                    line: None,
                    key: "channels.mqtt".into(),
                    message,
                }
            })?;
            dispatcher.register_outbound(client.sink.clone());
            dispatcher.declare_channel("mqtt", "default");
            ch.mqtt = Some(client);
        }
        #[cfg(not(feature = "mqtt"))]
        {
            let _ = m;
            return Err(missing("mqtt"));
        }
    }
    Ok(ch)
}

/// Starts the adapters' inbound loops; each stops when its token from `stop` (by channel
/// name) fires.
///
/// # Errors
/// A message when a thread cannot be started.
pub fn start(
    #[allow(unused_variables, unused_mut)] ch: Channels,
    cfg: &Config,
    workspace: &Arc<Workspace>,
    stop: &dyn Fn(&str) -> CancellationToken,
) -> std::io::Result<()> {
    let gate = ch.gate.clone();
    #[cfg(feature = "telegram")]
    if let (Some((api, _)), Some((h, opts))) = (ch.telegram.clone(), ch.telegram_webhook) {
        h.setup(api, opts, stop("telegram"))?;
    } else if let (Some((api, drafts)), Some(t)) = (ch.telegram, &cfg.channels.telegram) {
        use crate::channel::telegram::{PollOptions, spawn_poller};
        let opts = PollOptions {
            account: "default".into(),
            timeout_secs: t.poll_timeout_secs,
            typing: t.typing,
            media: workspace.clone(),
            max_media_bytes: t.max_media_bytes,
            drafts,
        };
        let rt = tokio::runtime::Handle::current();
        spawn_poller(api, gate.clone(), opts, rt, stop("telegram"))?;
    }
    #[cfg(feature = "matrix")]
    if let (Some((api, drafts)), Some(m)) = (ch.matrix, &cfg.channels.matrix) {
        use crate::channel::matrix::{AutoJoin, SyncOptions, spawn_syncer};
        let auto_join = match m.auto_join.as_str() {
            "off" => AutoJoin::Off,
            "allowlist" => {
                AutoJoin::From([m.allow_from.clone(), m.group_allow_from.clone()].concat())
            }
            _ => AutoJoin::Always,
        };
        let opts = SyncOptions {
            account: "default".into(),
            timeout_secs: m.sync_timeout_secs,
            typing: m.typing,
            auto_join,
            drafts,
        };
        let rt = tokio::runtime::Handle::current();
        spawn_syncer(api, gate.clone(), opts, rt, stop("matrix"))?;
    }
    #[cfg(feature = "discord")]
    if let (Some((rest, token)), Some(d)) = (ch.discord, &cfg.channels.discord) {
        use crate::channel::discord::{GatewayOptions, spawn_gateway};
        let opts = GatewayOptions {
            account: "default".into(),
            token,
            intents: d.intents,
            typing: d.typing,
        };
        let rt = tokio::runtime::Handle::current();
        spawn_gateway(rest, gate.clone(), opts, rt, stop("discord"))?;
    }
    #[cfg(feature = "slack")]
    if let Some((app, bot)) = ch.slack {
        use crate::channel::slack::{SocketOptions, spawn_socket};
        let opts = SocketOptions {
            account: "default".into(),
        };
        let rt = tokio::runtime::Handle::current();
        spawn_socket(app, bot, gate.clone(), opts, rt, stop("slack"))?;
    }
    #[cfg(feature = "mqtt")]
    if let Some(m) = ch.mqtt {
        m.start(gate.clone(), stop("mqtt"));
    }
    #[cfg(not(all(
        feature = "telegram",
        feature = "mqtt",
        feature = "matrix",
        feature = "discord",
        feature = "slack"
    )))]
    let _ = (gate, cfg, workspace, stop);
    Ok(())
}
