//! Wiring of the channel adapters: their outbound sinks are registered with the dispatcher
//! before recovery starts the delivery worker, and their inbound loops start once the
//! gateway is ready, behind one [`ChannelGate`] that applies `[channels.*]` access
//! policies and `[session]` scoping.

use crate::config::{Config, ConfigError};
use crate::router::{ChannelGate, Dispatcher, GateOptions};
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// The configured adapters between their two start steps.
#[derive(Default)]
pub struct Channels {
    #[cfg(feature = "telegram")]
    telegram: Option<crate::channel::telegram::Api>,
}

/// The gate's options from `[channels.*]` and `[session]`.
fn gate_options(cfg: &Config) -> GateOptions {
    let mut o = GateOptions {
        dm_scope: cfg.session.dm_scope,
        agent: "main".into(),
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
    o
}

/// Resolves the adapters' secrets and registers their outbound sinks.
///
/// # Errors
/// [`ConfigError::Secret`] when a token reference cannot be read;
/// [`ConfigError::Unsupported`] when a configured channel is not in this build.
pub fn register(cfg: &Config, dispatcher: &Dispatcher) -> Result<Channels, ConfigError> {
    #[allow(unused_mut)]
    let mut ch = Channels::default();
    if let Some(t) = cfg.channels.telegram.as_ref().filter(|t| t.enabled) {
        #[cfg(feature = "telegram")]
        {
            use crate::channel::telegram::{Api, TelegramSink};
            let token = t
                .token
                .as_ref()
                .ok_or_else(|| ConfigError::Secret("channels.telegram.token is not set".into()))?
                .resolve()
                .map_err(|m| ConfigError::Secret(format!("channels.telegram.token: {m}")))?;
            let api = Api::new(&t.api_base, &token);
            dispatcher.register_outbound(TelegramSink::new(api.clone()));
            dispatcher.declare_channel("telegram", "default");
            ch.telegram = Some(api);
        }
        #[cfg(not(feature = "telegram"))]
        {
            let _ = (t, dispatcher);
            return Err(ConfigError::Unsupported {
                key: "channels.telegram".into(),
                message: "this build has no Telegram adapter (cargo feature `telegram`)".into(),
            });
        }
    }
    Ok(ch)
}

/// Starts the adapters' inbound loops; they stop when `shutdown` fires.
///
/// # Errors
/// A message when a thread cannot be started.
pub fn start(
    #[allow(unused_mut)] ch: Channels,
    cfg: &Config,
    dispatcher: &Dispatcher,
    workspace: &Path,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    let gate = std::sync::Arc::new(ChannelGate::new(dispatcher.clone(), gate_options(cfg)));
    #[cfg(feature = "telegram")]
    if let (Some(api), Some(t)) = (ch.telegram, &cfg.channels.telegram) {
        use crate::channel::telegram::{PollOptions, spawn_poller};
        let opts = PollOptions {
            account: "default".into(),
            timeout_secs: t.poll_timeout_secs,
            typing: t.typing,
            media_dir: workspace.join("inbox").join("telegram"),
            max_media_bytes: t.max_media_bytes,
        };
        let rt = tokio::runtime::Handle::current();
        spawn_poller(api, gate.clone(), opts, rt, shutdown.child_token())?;
    }
    #[cfg(not(feature = "telegram"))]
    let _ = (ch, gate, workspace, shutdown);
    Ok(())
}
