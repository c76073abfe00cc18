//! `[mcp.servers.<name>]` (MCP servers whose tools the agent may call), `[mcp_server]`
//! (Hearth's own MCP server) and `[ollama]` (the Ollama API Home Assistant's `ollama`
//! integration talks to). MCP: <https://modelcontextprotocol.io/specification/2025-06-18>;
//! Ollama API: <https://github.com/ollama/ollama/blob/main/docs/api.md>.

use super::SecretRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[mcp]`: the MCP client side.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Servers by name; the name prefixes their tools (`<name>__<tool>`), so it is
    /// `[a-z0-9_]+`.
    pub servers: BTreeMap<String, McpServerConfig>,
}

/// One MCP server: a child process over stdio (`command`) or an HTTP endpoint (`url`:
/// Streamable HTTP, falling back to the 2024-11-05 HTTP+SSE transport on a 4xx).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpServerConfig {
    /// Off keeps the table but starts nothing.
    pub enabled: bool,
    /// stdio: the program to run (looked up on `PATH`).
    pub command: Option<String>,
    /// stdio: its arguments.
    pub args: Vec<String>,
    /// stdio: extra environment variables; values are literal (not secrets) …
    pub env: BTreeMap<String, String>,
    /// … and these are secret references resolved at start (`TOKEN = "env:HA_TOKEN"`).
    pub secret_env: BTreeMap<String, SecretRef>,
    /// stdio: working directory (default: the agent's workspace).
    pub cwd: Option<std::path::PathBuf>,
    /// HTTP: the MCP endpoint (`http://ha.local:8123/api/mcp`, or an SSE endpoint such as
    /// Home Assistant 2025.4's `/mcp_server/sse`).
    pub url: Option<String>,
    /// HTTP: a bearer token sent as `Authorization: Bearer …` (Home Assistant: a
    /// long-lived access token).
    pub bearer: Option<SecretRef>,
    /// HTTP: extra headers; values are secret references.
    pub headers: BTreeMap<String, SecretRef>,
    /// Only these tools (server-side names; empty: all).
    pub include: Vec<String>,
    /// Never these tools (wins over `include`).
    pub exclude: Vec<String>,
    /// Seconds allowed for `initialize` (spawn or connect included).
    pub connect_timeout_secs: u64,
    /// Seconds allowed for one `tools/call`.
    pub call_timeout_secs: u64,
    /// Seconds between `tools/list` refreshes (beside `notifications/tools/list_changed`).
    pub refresh_secs: u64,
    /// Offer the server's resources (`resources/read`) and prompts (`prompts/get`) as tools
    /// too.
    pub resources_as_tools: bool,
}

impl Default for McpServerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            secret_env: BTreeMap::new(),
            cwd: None,
            url: None,
            bearer: None,
            headers: BTreeMap::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            connect_timeout_secs: 20,
            call_timeout_secs: 60,
            refresh_secs: 600,
            resources_as_tools: false,
        }
    }
}

/// `[mcp_server]`: Hearth's tools (`memory_search`, `memory_get`, `ask_agent`) served over
/// MCP at `/mcp` (Streamable HTTP) and `/mcp/sse` (the 2024-11-05 HTTP+SSE transport that
/// Home Assistant 2025.4's `mcp` integration speaks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpServerSide {
    /// Off by default.
    pub enabled: bool,
    /// Its own bearer token, a secret reference (required when enabled). Clients that
    /// cannot send headers (Home Assistant 2025.4) put it in the path: `/mcp/<token>/sse`.
    pub token: Option<SecretRef>,
    /// The agent `ask_agent` runs on (default `main`).
    pub agent: Option<String>,
    /// Seconds `ask_agent` waits for the answer (Home Assistant allows 10 per call).
    pub ask_timeout_secs: u64,
}

impl Default for McpServerSide {
    fn default() -> Self {
        Self {
            enabled: false,
            token: None,
            agent: None,
            ask_timeout_secs: 9,
        }
    }
}

/// `[ollama]`: the Ollama API (`/api/tags`, `/api/chat`, …) for Home Assistant's `ollama`
/// integration; each agent is offered as model `<agent id>:latest` (`main` as
/// `hearth:latest`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OllamaConfig {
    /// On by default (it answers only authenticated requests).
    pub enabled: bool,
    /// A key of its own, a secret reference, accepted beside the gateway token: as
    /// `Authorization: Bearer`, or in the path (`/ollama/<key>/api/chat`) for clients
    /// that cannot send headers — Home Assistant's integration takes only a URL.
    pub key: Option<SecretRef>,
    /// Minutes a conversation stays mapped to its session after its last request (Home
    /// Assistant forgets a conversation after 5).
    pub conversation_idle_mins: u64,
}

impl Default for OllamaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            key: None,
            conversation_idle_mins: 30,
        }
    }
}

/// The first problem, as (dotted key, message).
pub(super) fn check(
    mcp: &McpConfig,
    server: &McpServerSide,
    agents: &dyn Fn(&str) -> bool,
) -> Option<(String, String)> {
    for (name, s) in &mcp.servers {
        let at = format!("mcp.servers.{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Some((
                at,
                "server names are [a-z0-9_]+ (they prefix tool names)".into(),
            ));
        }
        match (&s.command, &s.url) {
            (Some(_), Some(_)) => {
                return Some((
                    format!("{at}.url"),
                    "give either command (stdio) or url (HTTP), not both".into(),
                ));
            }
            (None, None) => {
                return Some((
                    format!("{at}.command"),
                    "give command (a stdio server) or url (an HTTP server)".into(),
                ));
            }
            (Some(c), None) if c.trim().is_empty() => {
                return Some((format!("{at}.command"), "is empty".into()));
            }
            (None, Some(u)) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                return Some((
                    format!("{at}.url"),
                    format!("{u:?} is not an http:// or https:// URL"),
                ));
            }
            _ => {}
        }
        if s.url.is_none() && (s.bearer.is_some() || !s.headers.is_empty()) {
            return Some((
                format!("{at}.bearer"),
                "bearer and headers are for url servers".into(),
            ));
        }
        for (k, v) in [
            ("connect_timeout_secs", s.connect_timeout_secs),
            ("call_timeout_secs", s.call_timeout_secs),
            ("refresh_secs", s.refresh_secs),
        ] {
            if v == 0 {
                return Some((format!("{at}.{k}"), "must be at least 1".into()));
            }
        }
    }
    if server.enabled && server.token.is_none() {
        return Some((
            "mcp_server.token".into(),
            "an enabled MCP server needs its own token (a secret reference)".into(),
        ));
    }
    if server.ask_timeout_secs == 0 {
        return Some((
            "mcp_server.ask_timeout_secs".into(),
            "must be at least 1".into(),
        ));
    }
    if let Some(a) = &server.agent
        && !agents(a)
    {
        return Some(("mcp_server.agent".into(), format!("no agent {a:?}")));
    }
    None
}
