//! One client session with one MCP server, over any [`Transport`]: the lifecycle
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic/lifecycle>: `initialize`,
//! version negotiation, `notifications/initialized`), requests with deadlines and
//! cancellation (<https://modelcontextprotocol.io/specification/2025-06-18/basic/utilities/cancellation>),
//! `tools/list` with pagination and `tools/call`
//! (<https://modelcontextprotocol.io/specification/2025-06-18/server/tools>).
//!
//! Everything the server sends goes through one [`Inbox`]: responses wake the caller waiting
//! for that id, `ping` is answered, other server requests get "method not found" (Hearth
//! declares no client capabilities), and `notifications/tools/list_changed` is reported to
//! the session's owner.

use super::jsonrpc::{self, Incoming, RpcError};
use super::{McpError, PROTOCOL_VERSION, SUPPORTED_VERSIONS};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most `tools/list` pages read (a server whose cursors never end is cut off there).
const MAX_PAGES: usize = 64;

/// Time allowed to send a notification (`notifications/cancelled`, …) over HTTP.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a session reports to its owner, from whichever thread read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// `notifications/tools/list_changed`: the tool list is stale.
    ToolsChanged,
    /// The connection is gone (process exited, stream ended); the reason.
    Lost(String),
}

type Waiter = SyncSender<Result<Value, RpcError>>;

/// Routes what the server sends: responses to their waiting callers, server requests to
/// their answers, notifications to the owner's callback.
pub struct Inbox {
    server: String,
    pending: Mutex<HashMap<u64, Waiter>>,
    closed: Mutex<Option<String>>,
    on_event: Box<dyn Fn(SessionEvent) + Send + Sync>,
}

impl Inbox {
    /// An inbox for server `server` (the name is for logs) reporting to `on_event`.
    pub fn new(server: &str, on_event: Box<dyn Fn(SessionEvent) + Send + Sync>) -> Arc<Self> {
        Arc::new(Self {
            server: server.to_string(),
            pending: Mutex::new(HashMap::new()),
            closed: Mutex::new(None),
            on_event,
        })
    }

    /// Why the connection is closed, or `None` while it is open.
    pub fn closed(&self) -> Option<String> {
        lock(&self.closed).clone()
    }

    /// The connection is gone: every waiting caller fails with `reason` and the owner is told.
    pub fn lost(&self, reason: &str) {
        if self.shut(reason) {
            (self.on_event)(SessionEvent::Lost(reason.to_string()));
        }
    }

    /// Closes without telling the owner (it closed the session itself); `true` if it was open.
    pub fn shut(&self, reason: &str) -> bool {
        {
            let mut closed = lock(&self.closed);
            if closed.is_some() {
                return false;
            }
            *closed = Some(reason.to_string());
        }
        // Dropping the senders wakes their receivers with `Disconnected`.
        lock(&self.pending).clear();
        true
    }

    /// Parses `text` (one message or a batch) and routes each message; returns the answers
    /// to send back to the server. Garbage is logged and skipped.
    pub fn dispatch_text(&self, text: &str) -> Vec<Value> {
        match jsonrpc::parse(text) {
            Ok(msgs) => msgs.into_iter().filter_map(|m| self.dispatch(m)).collect(),
            Err(e) => {
                tracing::warn!(server = %self.server, "mcp: ignoring a message: {e}");
                Vec::new()
            }
        }
    }

    /// Routes one message; returns the answer when it is a server request.
    pub fn dispatch(&self, msg: Incoming) -> Option<Value> {
        match msg {
            Incoming::Response { id, outcome } => {
                match lock(&self.pending).remove(&id) {
                    // The caller may have given up (timeout) a moment ago: nothing to do.
                    Some(tx) => drop(tx.try_send(outcome)),
                    None => tracing::debug!(server = %self.server, id, "mcp: late response"),
                }
                None
            }
            Incoming::Request { id, method } if method == "ping" => {
                Some(jsonrpc::result(&id, json!({})))
            }
            Incoming::Request { id, method } => {
                tracing::debug!(server = %self.server, %method, "mcp: refusing a server request");
                Some(jsonrpc::error(
                    &id,
                    jsonrpc::METHOD_NOT_FOUND,
                    &format!("hearth does not support {method}"),
                ))
            }
            Incoming::Notification { method, params } => {
                match method.as_str() {
                    "notifications/tools/list_changed" => {
                        (self.on_event)(SessionEvent::ToolsChanged)
                    }
                    "notifications/message" => {
                        tracing::debug!(server = %self.server, "mcp server log: {params}");
                    }
                    _ => tracing::trace!(server = %self.server, %method, "mcp notification"),
                }
                None
            }
        }
    }

    fn expect(&self, id: u64) -> Result<Receiver<Result<Value, RpcError>>, McpError> {
        let (tx, rx) = sync_channel(1);
        let closed = lock(&self.closed);
        if let Some(reason) = &*closed {
            return Err(McpError::Closed(reason.clone()));
        }
        lock(&self.pending).insert(id, tx);
        Ok(rx)
    }

    fn forget(&self, id: u64) {
        lock(&self.pending).remove(&id);
    }
}

/// How messages reach one server.
pub trait Transport: Send + Sync {
    /// `"stdio"`, `"streamable-http"` or `"sse"` (the 2024-11-05 HTTP+SSE transport).
    fn kind(&self) -> &'static str;

    /// Sends one message within `timeout`. Transports whose answer comes back on the same
    /// exchange (Streamable HTTP) hand what they read to the inbox before returning.
    ///
    /// # Errors
    /// [`McpError`]: unreachable, an HTTP status, [`McpError::SessionExpired`], a timeout.
    fn send(&self, msg: &Value, timeout: Duration) -> Result<(), McpError>;

    /// After `initialize`: the negotiated protocol version (sent as a header over HTTP).
    fn negotiated(&self, _version: &str) {}

    /// Before a new `initialize` on the same transport: forget the old session.
    fn reset(&self) {}

    /// Ends the connection (kills a child process); idempotent.
    fn close(&self);
}

/// What the server said in its `initialize` result.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// The negotiated revision, one of [`SUPPORTED_VERSIONS`].
    pub protocol_version: String,
    /// Its `capabilities` object (`tools`, `resources`, `prompts`, …).
    pub capabilities: Value,
    /// Its `serverInfo` object (`name`, `version`).
    pub server_info: Value,
}

/// An initialized (or initializing) session.
pub struct Session {
    server: String,
    transport: Box<dyn Transport>,
    inbox: Arc<Inbox>,
    next_id: AtomicU64,
    info: Mutex<Option<ServerInfo>>,
    /// Counts re-initializations, so concurrent callers hitting a 404 re-initialize once.
    epoch: Mutex<u64>,
}

impl Session {
    /// A session for `server` over `transport`, whose reads go to `inbox`.
    pub fn new(server: &str, transport: Box<dyn Transport>, inbox: Arc<Inbox>) -> Self {
        Self {
            server: server.to_string(),
            transport,
            inbox,
            next_id: AtomicU64::new(1),
            info: Mutex::new(None),
            epoch: Mutex::new(0),
        }
    }

    /// The transport's kind (see [`Transport::kind`]).
    pub fn kind(&self) -> &'static str {
        self.transport.kind()
    }

    /// Why the connection is closed, or `None` while it is open.
    pub fn closed(&self) -> Option<String> {
        self.inbox.closed()
    }

    /// The last `initialize` result.
    pub fn info(&self) -> Option<ServerInfo> {
        lock(&self.info).clone()
    }

    /// Closes the connection without reporting a loss.
    pub fn close(&self) {
        self.inbox.shut("closed by hearth");
        self.transport.close();
    }

    /// Runs the handshake: `initialize` (offering [`PROTOCOL_VERSION`]), the version check,
    /// then `notifications/initialized`.
    ///
    /// # Errors
    /// The request's errors; [`McpError::Protocol`] when the server answers a revision
    /// outside [`SUPPORTED_VERSIONS`] or no version at all.
    pub fn initialize(&self, timeout: Duration) -> Result<ServerInfo, McpError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "hearth", "version": env!("CARGO_PKG_VERSION")},
        });
        let r = self.request_once("initialize", params, timeout)?;
        let version = r
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| McpError::Protocol("initialize result has no protocolVersion".into()))?;
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(McpError::Protocol(format!(
                "the server speaks MCP {version}; hearth supports {}",
                SUPPORTED_VERSIONS.join(", ")
            )));
        }
        let info = ServerInfo {
            protocol_version: version.to_string(),
            capabilities: r.get("capabilities").cloned().unwrap_or(json!({})),
            server_info: r.get("serverInfo").cloned().unwrap_or(Value::Null),
        };
        self.transport.negotiated(version);
        self.notify("notifications/initialized", None)?;
        *lock(&self.info) = Some(info.clone());
        Ok(info)
    }

    /// Sends request `method` and waits at most `timeout` for its result. A Streamable HTTP
    /// session the server ended (404) is initialized again, once, and the request repeated.
    ///
    /// # Errors
    /// [`McpError::Timeout`], [`McpError::Closed`], [`McpError::Rpc`] for an error response,
    /// and the transport's errors.
    pub fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, McpError> {
        let epoch = *lock(&self.epoch);
        match self.request_once(method, params.clone(), timeout) {
            Err(McpError::SessionExpired) => {
                {
                    let mut now = lock(&self.epoch);
                    if *now == epoch {
                        let server = &self.server;
                        tracing::info!(
                            server,
                            "mcp: the server ended the session; initializing again"
                        );
                        self.transport.reset();
                        self.initialize(timeout)?;
                        *now += 1;
                    }
                }
                self.request_once(method, params, timeout)
                    .map_err(|e| match e {
                        McpError::SessionExpired => McpError::Closed(
                            "the server ended the new session too (HTTP 404)".into(),
                        ),
                        e => e,
                    })
            }
            r => r,
        }
    }

    fn request_once(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, McpError> {
        let deadline = Instant::now() + timeout;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let rx = self.inbox.expect(id)?;
        let timed_out = || McpError::Timeout {
            what: method.to_string(),
            after: timeout,
        };
        if let Err(e) = self
            .transport
            .send(&jsonrpc::request(id, method, params), timeout)
        {
            self.inbox.forget(id);
            return Err(match e {
                McpError::Timeout { .. } => {
                    self.cancel(id, method);
                    timed_out()
                }
                e => e,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(McpError::Rpc {
                method: method.to_string(),
                code: e.code,
                message: e.message,
            }),
            Err(RecvTimeoutError::Timeout) => {
                self.inbox.forget(id);
                self.cancel(id, method);
                Err(timed_out())
            }
            Err(RecvTimeoutError::Disconnected) => Err(McpError::Closed(
                self.inbox
                    .closed()
                    .unwrap_or_else(|| "the connection closed".into()),
            )),
        }
    }

    /// Tells the server we gave up on request `id` (never for `initialize`, as the spec says).
    fn cancel(&self, id: u64, method: &str) {
        if method == "initialize" || self.inbox.closed().is_some() {
            return;
        }
        let params = json!({"requestId": id, "reason": "timed out"});
        if let Err(e) = self.notify("notifications/cancelled", Some(params)) {
            tracing::debug!(server = %self.server, "mcp: cannot send notifications/cancelled: {e}");
        }
    }

    /// Sends a notification.
    ///
    /// # Errors
    /// The transport's errors.
    pub fn notify(&self, method: &str, params: Option<Value>) -> Result<(), McpError> {
        self.transport
            .send(&jsonrpc::notification(method, params), NOTIFY_TIMEOUT)
    }

    /// Every tool of the server (`tools/list`, following `nextCursor`), as the raw `Tool`
    /// objects; each page may take `timeout`.
    ///
    /// # Errors
    /// As [`Session::request`]; [`McpError::Protocol`] for a result without `tools`.
    pub fn list_tools(&self, timeout: Duration) -> Result<Vec<Value>, McpError> {
        self.list_all("tools/list", "tools", timeout)
    }

    /// Every item of a paginated list method (`tools/list` → `tools`, `resources/list` →
    /// `resources`, `prompts/list` → `prompts`).
    ///
    /// # Errors
    /// As [`Session::list_tools`].
    pub fn list_all(
        &self,
        method: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Vec<Value>, McpError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let r = self.request(method, params, timeout)?;
            let Some(Value::Array(items)) = r.get(key) else {
                return Err(McpError::Protocol(format!(
                    "{method} result has no {key} array"
                )));
            };
            out.extend(items.iter().cloned());
            match r.get("nextCursor").and_then(Value::as_str) {
                Some(next) if cursor.as_deref() != Some(next) => cursor = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
        tracing::warn!(server = %self.server, "mcp: {method} stopped after {MAX_PAGES} pages");
        Ok(out)
    }

    /// Calls tool `name` (its server-side name) with `arguments`, waiting at most `timeout`;
    /// returns the raw `CallToolResult`.
    ///
    /// # Errors
    /// As [`Session::request`].
    pub fn call_tool(
        &self,
        name: &str,
        arguments: &Value,
        timeout: Duration,
    ) -> Result<Value, McpError> {
        let args = if arguments.is_null() {
            json!({})
        } else {
            arguments.clone()
        };
        self.request(
            "tools/call",
            json!({"name": name, "arguments": args}),
            timeout,
        )
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("transport", &self.kind())
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain values).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
