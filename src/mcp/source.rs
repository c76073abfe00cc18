//! [`McpTools`]: one configured MCP server as a [`ToolSource`]. A background thread
//! connects (stdio, or HTTP: Streamable HTTP falling back to the 2024-11-05 HTTP+SSE
//! transport on a 4xx), lists the tools, refreshes the list every `refresh_secs` and on
//! `notifications/tools/list_changed`, and reconnects a lost connection with a backoff
//! ([`backoff`]). The list is empty until the first `tools/list` succeeds; a server that is
//! down only costs a warning in the log.

use super::McpError;
use super::connect;
use super::session::{Inbox, ServerInfo, Session, SessionEvent, Transport, lock};
use super::tools::{self, Offered, Target};
use crate::config::McpServerConfig;
use crate::core::ToolSpec;
use crate::tool::{ToolError, ToolSource};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// A connection that lived at least this long was stable: its loss reconnects at once.
const STABLE: Duration = Duration::from_secs(30);

/// Longest backoff between connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A tool call waits this long at most for the backoff to pass before reconnecting.
const CALL_WAITS: Duration = Duration::from_secs(5);

/// The wait before the next connection attempt after `streak` failures in a row
/// (connections that failed to start or died within 30 s): none after the first, then 2, 4,
/// 8 … seconds, at most [`MAX_BACKOFF`].
pub fn backoff(streak: u32) -> Duration {
    match streak {
        0 | 1 => Duration::ZERO,
        n => Duration::from_secs(1 << (n - 1).min(6)).min(MAX_BACKOFF),
    }
}

/// The tools of one MCP server (see the module docs).
pub struct McpTools {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    cfg: McpServerConfig,
    workspace: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
    /// Held while connecting, so a call and the background thread do not both connect.
    connecting: Mutex<()>,
    generations: AtomicU64,
}

struct State {
    /// The initialized session, if any (it may have closed since).
    session: Option<(u64, Arc<Session>)>,
    /// A session being set up (closed by `stop`).
    pending: Option<Arc<Session>>,
    offered: Vec<Offered>,
    info: Option<ServerInfo>,
    transport: &'static str,
    last_error: Option<String>,
    streak: u32,
    next_attempt: Instant,
    connected_at: Instant,
    listed_at: Instant,
    stale: bool,
    stop: bool,
}

impl McpTools {
    /// The source for server `name`; nothing runs until [`McpTools::spawn`]. A stdio server's
    /// working directory defaults to `workspace`.
    pub fn new(name: &str, cfg: &McpServerConfig, workspace: &Path) -> Self {
        let now = Instant::now();
        Self {
            shared: Arc::new(Shared {
                name: name.to_string(),
                cfg: cfg.clone(),
                workspace: workspace.to_path_buf(),
                state: Mutex::new(State {
                    session: None,
                    pending: None,
                    offered: Vec::new(),
                    info: None,
                    transport: if cfg.command.is_some() {
                        "stdio"
                    } else {
                        "http"
                    },
                    last_error: None,
                    streak: 0,
                    next_attempt: now,
                    connected_at: now,
                    listed_at: now,
                    stale: false,
                    stop: false,
                }),
                wake: Condvar::new(),
                connecting: Mutex::new(()),
                generations: AtomicU64::new(0),
            }),
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Starts the background thread (connect, list, refresh, reconnect).
    ///
    /// # Errors
    /// The OS error when the thread cannot be started.
    pub fn spawn(&self) -> std::io::Result<std::thread::JoinHandle<()>> {
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name(format!("mcp-{}", self.shared.name))
            .spawn(move || shared.run())
    }

    /// Stops the background thread and closes the connection (a stdio server's process
    /// group is killed before this returns).
    pub fn stop(&self) {
        let (a, b) = {
            let mut st = lock(&self.shared.state);
            st.stop = true;
            (st.session.take(), st.pending.take())
        };
        self.shared.wake.notify_all();
        if let Some((_, s)) = a {
            s.close();
        }
        if let Some(s) = b {
            s.close();
        }
    }

    /// `{name, transport, connected, tools, lastError, protocolVersion, serverInfo}`.
    pub fn status(&self) -> Value {
        let st = lock(&self.shared.state);
        let connected = st
            .session
            .as_ref()
            .is_some_and(|(_, s)| s.closed().is_none());
        json!({
            "name": self.shared.name,
            "transport": st.transport,
            "connected": connected,
            "tools": st.offered.len(),
            "lastError": st.last_error,
            "protocolVersion": st.info.as_ref().map(|i| i.protocol_version.clone()),
            "serverInfo": st.info.as_ref().map(|i| i.server_info.clone()),
        })
    }
}

impl ToolSource for McpTools {
    fn specs(&self) -> Vec<ToolSpec> {
        lock(&self.shared.state)
            .offered
            .iter()
            .map(|o| o.spec.clone())
            .collect()
    }

    fn call(
        &self,
        _ctx: &crate::tool::ToolCtx,
        name: &str,
        args: &Value,
    ) -> Option<Result<String, ToolError>> {
        let target = lock(&self.shared.state)
            .offered
            .iter()
            .find(|o| o.spec.name == name)
            .map(|o| o.target.clone())?;
        Some(self.shared.call(&target, args))
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n.max(1))
}

/// Why the connection is gone, when `e` says it is.
fn loss(e: &McpError) -> Option<String> {
    match e {
        McpError::Closed(reason) => Some(reason.clone()),
        McpError::Unreachable { .. } | McpError::SessionExpired => Some(e.to_string()),
        _ => None,
    }
}

impl Shared {
    fn run(self: Arc<Self>) {
        loop {
            let refresh = {
                let mut st = lock(&self.state);
                loop {
                    if st.stop {
                        return;
                    }
                    let now = Instant::now();
                    let live = st
                        .session
                        .as_ref()
                        .is_some_and(|(_, s)| s.closed().is_none());
                    let due = if live {
                        st.listed_at + secs(self.cfg.refresh_secs)
                    } else {
                        st.next_attempt
                    };
                    if (live && st.stale) || now >= due {
                        st.stale = false;
                        break live;
                    }
                    st = self
                        .wake
                        .wait_timeout(st, due - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            };
            if refresh {
                self.refresh();
            } else {
                let _ = self.connect();
            }
        }
    }

    /// The live session, if any.
    fn live(&self) -> Option<(u64, Arc<Session>)> {
        lock(&self.state)
            .session
            .clone()
            .filter(|(_, s)| s.closed().is_none())
    }

    /// Connects (unless another thread just did), lists the tools and publishes both.
    fn connect(self: &Arc<Self>) -> Result<(u64, Arc<Session>), String> {
        let _one = lock(&self.connecting);
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let opened = self.open(generation).and_then(|s| {
            let info = s
                .info()
                .ok_or_else(|| McpError::Protocol("not initialized".into()))?;
            let offered = self.list(&s, &info)?;
            Ok((s, info, offered))
        });
        let mut st = lock(&self.state);
        let pending = st.pending.take();
        let out = match opened {
            Ok((s, info, offered)) if !st.stop => {
                let names: Vec<&str> = offered.iter().map(|o| o.spec.name.as_str()).collect();
                let who = info
                    .server_info
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("unnamed");
                tracing::info!(
                    "mcp server {}: connected over {} (MCP {}, {who}); {} tools: {}",
                    self.name,
                    s.kind(),
                    info.protocol_version,
                    offered.len(),
                    names.join(", ")
                );
                let now = Instant::now();
                st.transport = s.kind();
                st.session = Some((generation, s.clone()));
                st.offered = offered;
                st.info = Some(info);
                st.last_error = None;
                st.connected_at = now;
                st.listed_at = now;
                st.stale = false;
                Ok((generation, s))
            }
            Ok(_) => Err("shutting down".into()),
            Err(e) => {
                st.streak += 1;
                let wait = backoff(st.streak);
                st.next_attempt = Instant::now() + wait;
                let reason = e.to_string();
                if st.last_error.as_deref() != Some(reason.as_str()) && !st.stop {
                    tracing::warn!(
                        "mcp server {}: cannot connect: {reason} (next attempt in {} s)",
                        self.name,
                        wait.as_secs()
                    );
                } else {
                    tracing::debug!("mcp server {}: cannot connect: {reason}", self.name);
                }
                st.last_error = Some(reason.clone());
                Err(reason)
            }
        };
        drop(st);
        // Closing a failed stdio server may take its grace period: not under the lock.
        drop(pending);
        out
    }

    /// Opens a transport and initializes a session on it (see [`connect::open`]).
    fn open(self: &Arc<Self>, generation: u64) -> Result<Arc<Session>, McpError> {
        connect::open(
            &self.name,
            &self.cfg,
            &self.workspace,
            &|| self.inbox(generation),
            &|t, inbox| self.pending(t, inbox),
        )
    }

    /// A session in setup, published so that `stop` can close it.
    fn pending(&self, t: Box<dyn Transport>, inbox: Arc<Inbox>) -> Result<Arc<Session>, McpError> {
        let s = Arc::new(Session::new(&self.name, t, inbox));
        let mut st = lock(&self.state);
        if st.stop {
            drop(st);
            s.close();
            return Err(McpError::Closed("shutting down".into()));
        }
        let old = st.pending.replace(s.clone());
        drop(st);
        drop(old);
        Ok(s)
    }

    /// An inbox reporting to this source, tagged with the connection's generation.
    fn inbox(self: &Arc<Self>, generation: u64) -> Arc<Inbox> {
        let weak: Weak<Self> = Arc::downgrade(self);
        Inbox::new(
            &self.name,
            Box::new(move |ev| {
                if let Some(me) = weak.upgrade() {
                    me.on_event(generation, ev);
                }
            }),
        )
    }

    fn on_event(&self, generation: u64, ev: SessionEvent) {
        match ev {
            SessionEvent::ToolsChanged => {
                let mut st = lock(&self.state);
                if st.session.as_ref().is_some_and(|(g, _)| *g == generation) {
                    tracing::debug!("mcp server {}: tool list changed", self.name);
                    st.stale = true;
                    drop(st);
                    self.wake.notify_all();
                }
            }
            SessionEvent::Lost(reason) => self.lost(generation, &reason),
        }
    }

    /// Forgets session `generation` after its connection was lost and schedules the next
    /// attempt; the tool list stays (calls reconnect).
    fn lost(&self, generation: u64, reason: &str) {
        let mut st = lock(&self.state);
        if st.stop || st.session.as_ref().is_none_or(|(g, _)| *g != generation) {
            return;
        }
        let Some((_, s)) = st.session.take() else {
            return;
        };
        st.streak = if st.connected_at.elapsed() >= STABLE {
            0
        } else {
            st.streak + 1
        };
        let wait = backoff(st.streak);
        st.next_attempt = Instant::now() + wait;
        st.last_error = Some(format!("connection lost: {reason}"));
        drop(st);
        tracing::warn!(
            "mcp server {}: connection lost: {reason} (reconnecting in {} s)",
            self.name,
            wait.as_secs()
        );
        self.wake.notify_all();
        s.close();
    }

    /// The tools of session `s`, with the extras when configured.
    fn list(&self, s: &Session, info: &ServerInfo) -> Result<Vec<Offered>, McpError> {
        let timeout = secs(self.cfg.connect_timeout_secs);
        let listed = s.list_tools(timeout)?;
        let mut offered = tools::offer(&self.name, &listed, &self.cfg.include, &self.cfg.exclude);
        if self.cfg.resources_as_tools {
            let caps = &info.capabilities;
            let optional = |method: &str, key: &str, cap: &str| {
                if caps.get(cap).is_none() {
                    return Vec::new();
                }
                s.list_all(method, key, timeout).unwrap_or_else(|e| {
                    tracing::debug!("mcp server {}: {method}: {e}", self.name);
                    Vec::new()
                })
            };
            let resources = optional("resources/list", "resources", "resources");
            let prompts = optional("prompts/list", "prompts", "prompts");
            tools::offer_extras(&self.name, caps, &resources, &prompts, &mut offered);
        }
        Ok(offered)
    }

    fn refresh(&self) {
        let Some((generation, s)) = self.live() else {
            return;
        };
        let Some(info) = s.info() else { return };
        let result = self.list(&s, &info);
        let mut st = lock(&self.state);
        st.listed_at = Instant::now();
        match result {
            Ok(offered) => {
                if offered != st.offered {
                    let names: Vec<&str> = offered.iter().map(|o| o.spec.name.as_str()).collect();
                    tracing::info!(
                        "mcp server {}: {} tools: {}",
                        self.name,
                        offered.len(),
                        names.join(", ")
                    );
                    st.offered = offered;
                }
            }
            Err(e) if loss(&e).is_some() => {
                drop(st);
                self.lost(generation, &loss(&e).unwrap_or_default());
            }
            Err(e) => {
                tracing::warn!("mcp server {}: tools/list failed: {e}", self.name);
                st.last_error = Some(format!("tools/list: {e}"));
            }
        }
    }

    /// A live session for a call: the current one, or a new connection once the backoff
    /// has passed (waiting up to [`CALL_WAITS`] for it).
    fn session_for_call(self: &Arc<Self>) -> Result<(u64, Arc<Session>), ToolError> {
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let (wait, last) = {
            let st = lock(&self.state);
            (
                st.next_attempt.saturating_duration_since(Instant::now()),
                st.last_error.clone(),
            )
        };
        let last = last.unwrap_or_else(|| "not connected yet".into());
        if wait > CALL_WAITS {
            return Err(ToolError::External(format!(
                "mcp server {} is unavailable ({last}); the next connection attempt is in {} s",
                self.name,
                wait.as_secs()
            )));
        }
        std::thread::sleep(wait);
        self.connect().map_err(|e| {
            ToolError::External(format!("mcp server {}: cannot reconnect: {e}", self.name))
        })
    }

    fn call(self: &Arc<Self>, target: &Target, args: &Value) -> Result<String, ToolError> {
        let (generation, s) = self.session_for_call()?;
        let timeout = secs(self.cfg.call_timeout_secs);
        let arg = |k: &str| args.get(k).cloned().unwrap_or(Value::Null);
        let (what, result) = match target {
            Target::Tool(t) => (format!("tools/call {t}"), s.call_tool(t, args, timeout)),
            Target::ReadResource => (
                "resources/read".to_string(),
                s.request("resources/read", json!({"uri": arg("uri")}), timeout),
            ),
            Target::GetPrompt => {
                let arguments = if args.get("arguments").is_some_and(Value::is_object) {
                    arg("arguments")
                } else {
                    json!({})
                };
                (
                    "prompts/get".to_string(),
                    s.request(
                        "prompts/get",
                        json!({"name": arg("name"), "arguments": arguments}),
                        timeout,
                    ),
                )
            }
        };
        let name = &self.name;
        match result {
            Ok(r) => match target {
                Target::Tool(_) => tools::render_call(&r)
                    .map_err(|text| ToolError::External(format!("{name}: {text}"))),
                Target::ReadResource => Ok(tools::render_resource(&r)),
                Target::GetPrompt => Ok(tools::render_prompt(&r)),
            },
            Err(McpError::Timeout { .. }) => Err(ToolError::External(format!(
                "mcp server {name}: {what} timed out after {} s",
                timeout.as_secs()
            ))),
            Err(e) if loss(&e).is_some() => {
                let reason = loss(&e).unwrap_or_default();
                self.lost(generation, &reason);
                Err(ToolError::External(format!(
                    "mcp server {name}: the connection was lost during {what} ({reason}); it is reconnected at the next call"
                )))
            }
            Err(McpError::Rpc { code, message, .. }) => Err(ToolError::External(format!(
                "{name}: {what} failed: {message} (JSON-RPC error {code})"
            ))),
            Err(e) => Err(ToolError::External(format!(
                "mcp server {name}: {what} failed: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_minute() {
        let got: Vec<u64> = (0..10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [0, 0, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_server_that_cannot_start_gives_a_clear_error_and_no_tools() {
        let cfg = McpServerConfig {
            command: Some("/nonexistent/mcp-server".into()),
            connect_timeout_secs: 1,
            ..McpServerConfig::default()
        };
        let t = McpTools::new("gone", &cfg, &std::env::temp_dir());
        assert!(t.specs().is_empty());
        assert!(
            t.call(
                &crate::tool::ToolCtx::detached(Duration::from_secs(5)),
                "gone__x",
                &json!({})
            )
            .is_none(),
            "unknown names are not ours"
        );
        let e = t.shared.connect().unwrap_err();
        assert!(e.contains("/nonexistent/mcp-server"), "{e}");
        let st = t.status();
        assert_eq!(st["connected"], false);
        assert_eq!(st["transport"], "stdio");
        assert!(
            st["lastError"].as_str().unwrap().contains("cannot start"),
            "{st}"
        );
    }
}
