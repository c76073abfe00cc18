//! Opening a session with one configured server: a stdio child (secrets resolved into its
//! environment, the workspace as its default working directory), or an HTTP endpoint tried
//! with Streamable HTTP first and, when the `initialize` POST gets a 4xx that says "not
//! here" ([`falls_back`]), with the 2024-11-05 HTTP+SSE transport
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#backwards-compatibility>).

use super::McpError;
use super::http::{Endpoint, StreamableHttp};
use super::legacy::LegacySse;
use super::session::{Inbox, Session, Transport};
use super::stdio::{StdioOptions, StdioTransport};
use crate::config::McpServerConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Makes the inbox of a new connection.
pub type NewInbox<'a> = &'a dyn Fn() -> Arc<Inbox>;

/// Wraps a transport in a session its owner can close while it is being set up (fails when
/// the owner is shutting down).
pub type Adopt<'a> = &'a dyn Fn(Box<dyn Transport>, Arc<Inbox>) -> Result<Arc<Session>, McpError>;

/// Opens and initializes a session with server `name` as `cfg` says, within
/// `cfg.connect_timeout_secs` for each step (spawn or connect, then `initialize`).
///
/// # Errors
/// [`McpError::Config`] for a secret that does not resolve; the transports' and
/// `initialize`'s errors.
pub fn open(
    name: &str,
    cfg: &McpServerConfig,
    workspace: &Path,
    new_inbox: NewInbox<'_>,
    adopt: Adopt<'_>,
) -> Result<Arc<Session>, McpError> {
    let timeout = Duration::from_secs(cfg.connect_timeout_secs.max(1));
    if let Some(command) = &cfg.command {
        let mut env: Vec<(String, String)> = cfg
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, r) in &cfg.secret_env {
            let v = r
                .resolve()
                .map_err(|e| McpError::Config(format!("secret_env.{k}: {e}")))?;
            env.push((k.clone(), v));
        }
        let opts = StdioOptions {
            command: command.clone(),
            args: cfg.args.clone(),
            env,
            cwd: cfg.cwd.clone().unwrap_or_else(|| workspace.to_path_buf()),
        };
        let inbox = new_inbox();
        let t = StdioTransport::spawn(name, &opts, inbox.clone())?;
        let s = adopt(Box::new(t), inbox)?;
        s.initialize(timeout)?;
        return Ok(s);
    }
    let url = cfg
        .url
        .clone()
        .ok_or_else(|| McpError::Config("neither command nor url is set".into()))?;
    let mut headers = Vec::new();
    if let Some(b) = &cfg.bearer {
        let token = b
            .resolve()
            .map_err(|e| McpError::Config(format!("bearer: {e}")))?;
        headers.push(("authorization".to_string(), format!("Bearer {token}")));
    }
    for (k, r) in &cfg.headers {
        let v = r
            .resolve()
            .map_err(|e| McpError::Config(format!("headers.{k}: {e}")))?;
        headers.push((k.clone(), v));
    }
    let endpoint = Endpoint {
        url: url.clone(),
        headers,
    };
    let inbox = new_inbox();
    let t = StreamableHttp::new(name, endpoint.clone(), inbox.clone());
    let s = adopt(Box::new(t), inbox)?;
    match s.initialize(timeout) {
        Ok(_) => Ok(s),
        Err(McpError::Http { status, .. }) if falls_back(status) => {
            s.close();
            tracing::info!(
                "mcp server {name}: POST {url} answered HTTP {status}; trying the 2024-11-05 HTTP+SSE transport"
            );
            let inbox = new_inbox();
            let t = LegacySse::connect(name, endpoint, inbox.clone(), timeout)?;
            let s = adopt(Box::new(t), inbox)?;
            s.initialize(timeout)?;
            Ok(s)
        }
        Err(e) => Err(e),
    }
}

/// Whether a 4xx answer to the `initialize` POST means "no Streamable HTTP here" (rather
/// than a refusal that the legacy transport would get too).
pub fn falls_back(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 407 | 429)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_found_style_answers_fall_back_to_sse() {
        for s in [400, 404, 405, 406, 415] {
            assert!(falls_back(s), "{s}");
        }
        for s in [401, 403, 429, 500, 200] {
            assert!(!falls_back(s), "{s}");
        }
    }
}
