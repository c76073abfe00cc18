//! The Model Context Protocol (<https://modelcontextprotocol.io/specification/2025-06-18>):
//! the client that offers MCP servers' tools to the agents.
//!
//! [`start`] gives an [`McpHub`] holding one [`McpTools`] per enabled `[mcp.servers.<name>]`,
//! each a [`ToolSource`] the daemon attaches to every agent's registry. The layers, bottom
//! up: `jsonrpc` (messages), the transports `stdio`, `http` (Streamable HTTP) and `legacy`
//! (2024-11-05 HTTP+SSE, Home Assistant 2025.4), `session` (lifecycle, requests, the server's
//! requests and notifications), `connect` (a configured server to a session, with the
//! fallback from Streamable HTTP to HTTP+SSE), `tools` (names, specs, result text) and
//! `source` (the background connection of one server).
//!
//! Everything here is blocking (std threads, ureq), as tools are. Imports `core`, `config`,
//! `tool`, and `provider::sse` (the SSE parser and the HTTP agent builder); never `agent`,
//! `gateway`, `router` or `storage`.

pub mod connect;
pub mod http;
pub mod jsonrpc;
pub mod legacy;
pub mod session;
pub mod source;
pub mod stdio;
pub mod tools;

pub use source::McpTools;

use crate::config::McpConfig;
use crate::tool::ToolSource;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The revision Hearth offers in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The revisions Hearth accepts from a server (the newest first).
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// How long [`McpHub::shutdown`] waits for the background threads, after the connections
/// are closed (a thread stuck in an HTTP request is left to finish on its own).
const JOIN_WAIT: Duration = Duration::from_secs(3);

/// A failure talking to an MCP server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The stdio server could not be started.
    #[error("cannot start {command:?}: {detail}")]
    Spawn {
        /// The program.
        command: String,
        /// The OS error.
        detail: String,
    },
    /// A secret could not be resolved, or the server entry is unusable.
    #[error("{0}")]
    Config(String),
    /// The HTTP server could not be reached (refused, DNS, TLS).
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// ureq's error.
        detail: String,
    },
    /// The HTTP server answered a non-2xx status.
    #[error("{url} answered HTTP {status}: {detail}")]
    Http {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        detail: String,
    },
    /// No answer in time.
    #[error("{what} timed out after {} s", after.as_secs())]
    Timeout {
        /// The method (or the step) that timed out.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// The connection is gone (the process exited, the event stream ended).
    #[error("connection lost: {0}")]
    Closed(String),
    /// The server answered with a JSON-RPC error.
    #[error("{method} failed: {message} (JSON-RPC error {code})")]
    Rpc {
        /// Our request's method.
        method: String,
        /// The error code.
        code: i64,
        /// The server's message.
        message: String,
    },
    /// The server broke the protocol (unsupported revision, malformed result).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Streamable HTTP: 404 on a request carrying our session id; the server ended the
    /// session and a new `initialize` is needed.
    #[error("the server ended the session (HTTP 404)")]
    SessionExpired,
}

/// The MCP servers of one gateway.
pub struct McpHub {
    servers: Vec<Arc<McpTools>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts one background connection per enabled server of `cfg` and returns at once: a
/// server that is down or slow never delays the caller (its tools appear once its first
/// `tools/list` succeeds; failures are logged as warnings naming the server). Stdio servers
/// run in `workspace` unless their `cwd` says otherwise.
pub fn start(cfg: &McpConfig, workspace: &Path) -> McpHub {
    let mut servers = Vec::new();
    let mut threads = Vec::new();
    for (name, s) in cfg.servers.iter().filter(|(_, s)| s.enabled) {
        let tools = Arc::new(McpTools::new(name, s, workspace));
        match tools.spawn() {
            Ok(h) => threads.push(h),
            Err(e) => tracing::warn!("mcp server {name}: cannot start its thread: {e}"),
        }
        servers.push(tools);
    }
    McpHub {
        servers,
        threads: Mutex::new(threads),
    }
}

impl McpHub {
    /// One tool source per server, to attach to each agent's registry.
    pub fn sources(&self) -> Vec<Arc<dyn ToolSource>> {
        self.servers
            .iter()
            .map(|s| s.clone() as Arc<dyn ToolSource>)
            .collect()
    }

    /// Per server, `{name, transport, connected, tools, lastError, protocolVersion,
    /// serverInfo}`: `transport` is `stdio`, `streamable-http`, `sse` (2024-11-05), or
    /// `http` before the first connection; `tools` the number offered.
    pub fn status(&self) -> Vec<serde_json::Value> {
        self.servers.iter().map(|s| s.status()).collect()
    }

    /// Stops every server: closes the connections (each stdio server's process group gets
    /// SIGTERM, then SIGKILL after 2 s) and waits up to 3 s for the background threads.
    /// Idempotent; blocking, so call it from a blocking context.
    pub fn shutdown(&self) {
        for s in &self.servers {
            s.stop();
        }
        let threads = std::mem::take(&mut *session::lock(&self.threads));
        let deadline = Instant::now() + JOIN_WAIT;
        for h in threads {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for McpHub {
    fn drop(&mut self) {
        self.shutdown();
    }
}
