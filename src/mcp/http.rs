//! The Streamable HTTP transport
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#streamable-http>)
//! and the HTTP plumbing it shares with the legacy HTTP+SSE transport (`legacy.rs`).
//!
//! Every message is a POST to the one endpoint with `Accept: application/json,
//! text/event-stream`; a request's answer is either one JSON body or an event stream read
//! until the response with our id (the server's own requests and notifications on the way
//! are handled too). `Mcp-Session-Id` from the `initialize` answer is echoed, and
//! `MCP-Protocol-Version` sent once negotiated; a 404 on a session means the server ended it
//! ([`McpError::SessionExpired`]; the session initializes again). A stateful server also
//! gets a GET stream for its own notifications (`notifications/tools/list_changed`); 405
//! means it has none. Stateless servers (newer Home Assistant's `/api/mcp`) answer one JSON
//! object per POST and send no session id. The bearer token and configured headers go on
//! every request.

use super::McpError;
use super::jsonrpc::{self, Incoming};
use super::session::{Inbox, Transport, lock};
use crate::provider::sse::{SseReader, http_agent};
use serde_json::Value;
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest one message (a JSON body or one event's data) read, in bytes.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Silence after which a long-lived event stream counts as dead (the MCP Python SDK's
/// `sse_read_timeout`; servers send keep-alive comments every 15 s or so).
pub const STREAM_IDLE: Duration = Duration::from_secs(300);

/// Longest connection setup of one request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach an HTTP server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL.
    pub url: String,
    /// Headers of every request: the bearer token (`authorization`) and configured ones,
    /// values resolved.
    pub headers: Vec<(String, String)>,
}

/// Plumbing shared by the HTTP transports and their reader threads.
pub(crate) struct Http {
    /// The server's name, for logs.
    pub server: String,
    /// The ureq agent (platform roots; statuses returned as responses).
    pub agent: ureq::Agent,
    /// URL and headers.
    pub endpoint: Endpoint,
    /// Set on close: reader threads stop at their next read.
    pub closed: Arc<AtomicBool>,
}

impl Http {
    /// Plumbing for server `server` at `endpoint`.
    pub fn new(server: &str, endpoint: Endpoint) -> Self {
        Self {
            server: server.to_string(),
            agent: http_agent(),
            endpoint,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// POSTs `msg` to `url` with `extra` headers within `timeout`; the response, any status.
    pub fn post(
        &self,
        url: &str,
        msg: &Value,
        extra: &[(&str, String)],
        timeout: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, McpError> {
        let mut req = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .build()
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (k, v) in self
            .endpoint
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(extra.iter().map(|(k, v)| (*k, v)))
        {
            req = req.header(k, v.as_str());
        }
        req.send(msg.to_string())
            .map_err(|e| transport_error(url, e, timeout))
    }

    /// GETs an event stream from `url` (connect and headers within `timeout`, then at most
    /// [`STREAM_IDLE`] of silence between reads).
    pub fn get_stream(
        &self,
        url: &str,
        extra: &[(&str, String)],
        timeout: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, McpError> {
        let mut req = self
            .agent
            .get(url)
            .config()
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(STREAM_IDLE))
            .build()
            .header("accept", "text/event-stream");
        for (k, v) in self
            .endpoint
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(extra.iter().map(|(k, v)| (*k, v)))
        {
            req = req.header(k, v.as_str());
        }
        req.call().map_err(|e| transport_error(url, e, timeout))
    }

    /// An event-stream reader over `response`'s body that fails once the transport closed
    /// or `stop` is set.
    pub fn events(
        &self,
        response: ureq::http::Response<ureq::Body>,
        stop: &Arc<AtomicBool>,
    ) -> Events {
        let body = Closable {
            inner: response.into_body().into_reader(),
            flags: [self.closed.clone(), stop.clone()],
        };
        SseReader::with_max_len(BufReader::with_capacity(16 * 1024, body), MAX_MESSAGE)
    }

    /// Sends the answers to server requests (a POST each; the status is not checked).
    pub fn answer(&self, url: &str, replies: Vec<Value>, extra: &[(&str, String)]) {
        for reply in replies {
            if let Err(e) = self.post(url, &reply, extra, Duration::from_secs(10)) {
                tracing::debug!(server = %self.server, "mcp: cannot answer the server: {e}");
            }
        }
    }
}

/// An event stream of one response.
pub(crate) type Events = SseReader<BufReader<Closable<ureq::BodyReader<'static>>>>;

/// A body reader that fails once one of its flags is set (checked at every read, so a
/// stream with keep-alives ends within one keep-alive period of a close).
pub(crate) struct Closable<R> {
    inner: R,
    flags: [Arc<AtomicBool>; 2],
}

impl<R: Read> Read for Closable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.flags.iter().any(|f| f.load(Ordering::SeqCst)) {
            return Err(io::Error::other("closed by hearth"));
        }
        self.inner.read(buf)
    }
}

/// Maps a ureq failure: deadlines to [`McpError::Timeout`], the rest to
/// [`McpError::Unreachable`].
pub(crate) fn transport_error(url: &str, e: ureq::Error, after: Duration) -> McpError {
    match e {
        ureq::Error::Timeout(_) => McpError::Timeout {
            what: String::new(),
            after,
        },
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            McpError::Timeout {
                what: String::new(),
                after,
            }
        }
        e => McpError::Unreachable {
            url: url.to_string(),
            detail: e.to_string(),
        },
    }
}

/// An [`McpError::Http`] for a non-2xx `response` (body preview as detail).
pub(crate) fn status_error(url: &str, response: ureq::http::Response<ureq::Body>) -> McpError {
    let status = response.status().as_u16();
    let mut detail = Vec::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(4096)
        .read_to_end(&mut detail);
    McpError::Http {
        url: url.to_string(),
        status,
        detail: jsonrpc::preview(String::from_utf8_lossy(&detail).trim()),
    }
}

fn content_type(response: &ureq::http::Response<ureq::Body>) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A Streamable HTTP connection.
pub struct StreamableHttp {
    http: Arc<Http>,
    inbox: Arc<Inbox>,
    session_id: Arc<Mutex<Option<String>>>,
    version: Arc<Mutex<Option<String>>>,
    /// The stop flag of the GET stream's thread (set by the thread when it ends).
    listener: Mutex<Option<Arc<AtomicBool>>>,
}

impl StreamableHttp {
    /// A transport for `endpoint`; nothing is sent yet.
    pub fn new(server: &str, endpoint: Endpoint, inbox: Arc<Inbox>) -> Self {
        Self {
            http: Arc::new(Http::new(server, endpoint)),
            inbox,
            session_id: Arc::new(Mutex::new(None)),
            version: Arc::new(Mutex::new(None)),
            listener: Mutex::new(None),
        }
    }

    fn session_headers(&self) -> Vec<(&'static str, String)> {
        session_headers(&self.session_id, &self.version)
    }

    /// Opens the server's GET stream on a thread, once per session; its messages go to the
    /// inbox. A server without one (405, or any failure) is left alone.
    fn listen(&self) {
        if lock(&self.session_id).is_none() {
            return;
        }
        let stop = {
            let mut current = lock(&self.listener);
            if current.as_ref().is_some_and(|s| !s.load(Ordering::SeqCst)) {
                return;
            }
            let stop = Arc::new(AtomicBool::new(false));
            *current = Some(stop.clone());
            stop
        };
        let (http, inbox) = (self.http.clone(), self.inbox.clone());
        let extra = self.session_headers();
        let name = format!("mcp-{}-get", http.server);
        let spawned = std::thread::Builder::new().name(name).spawn({
            let stop = stop.clone();
            move || {
                read_get_stream(&http, &inbox, &extra, &stop);
                stop.store(true, Ordering::SeqCst);
            }
        });
        if spawned.is_err() {
            stop.store(true, Ordering::SeqCst);
        }
    }

    /// Reads an event-stream answer until the response to `want` (when it is a request).
    fn read_stream(
        &self,
        response: ureq::http::Response<ureq::Body>,
        want: Option<u64>,
        timeout: Duration,
    ) -> Result<(), McpError> {
        let extra = self.session_headers();
        let mut events = self.http.events(response, &self.http.closed);
        loop {
            let ev = match events.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) if want.is_none() => return Ok(()),
                Ok(None) => {
                    return Err(McpError::Closed(
                        "the server's event stream ended before the response".into(),
                    ));
                }
                Err(crate::provider::sse::SseError::Io(e)) => {
                    return Err(transport_error(
                        &self.http.endpoint.url,
                        ureq::Error::from(e),
                        timeout,
                    ));
                }
                Err(e) => return Err(McpError::Protocol(e.to_string())),
            };
            if ev.event != "message" || ev.data.trim().is_empty() {
                continue;
            }
            let done = want.is_some_and(|id| answers(&ev.data, id));
            self.http.answer(
                &self.http.endpoint.url,
                self.inbox.dispatch_text(&ev.data),
                &extra,
            );
            if done {
                return Ok(());
            }
        }
    }
}

/// The GET stream's thread: hands the server's messages to the inbox until the stream ends,
/// fails, or `stop` is set.
fn read_get_stream(http: &Http, inbox: &Inbox, extra: &[(&str, String)], stop: &Arc<AtomicBool>) {
    let url = &http.endpoint.url;
    let response = match http.get_stream(url, extra, CONNECT_TIMEOUT) {
        Ok(r) if r.status().is_success() && content_type(&r).starts_with("text/event-stream") => r,
        Ok(r) => {
            let status = r.status().as_u16();
            tracing::debug!(server = %http.server, status, "mcp: no GET stream");
            return;
        }
        Err(e) => {
            tracing::debug!(server = %http.server, "mcp: no GET stream: {e}");
            return;
        }
    };
    let mut events = http.events(response, stop);
    while let Ok(Some(ev)) = events.next_event() {
        if ev.event == "message" {
            http.answer(url, inbox.dispatch_text(&ev.data), extra);
        }
    }
}

/// Whether `data` holds the response to our request `id`.
fn answers(data: &str, id: u64) -> bool {
    jsonrpc::parse(data).is_ok_and(|msgs| {
        msgs.iter()
            .any(|m| matches!(m, Incoming::Response { id: got, .. } if *got == id))
    })
}

fn session_headers(
    sid: &Mutex<Option<String>>,
    ver: &Mutex<Option<String>>,
) -> Vec<(&'static str, String)> {
    let mut h = Vec::new();
    if let Some(s) = &*lock(sid) {
        h.push(("mcp-session-id", s.clone()));
    }
    if let Some(v) = &*lock(ver) {
        h.push(("mcp-protocol-version", v.clone()));
    }
    h
}

impl Transport for StreamableHttp {
    fn kind(&self) -> &'static str {
        "streamable-http"
    }

    fn send(&self, msg: &Value, timeout: Duration) -> Result<(), McpError> {
        let url = &self.http.endpoint.url;
        let had_session = lock(&self.session_id).is_some();
        let response = self.http.post(url, msg, &self.session_headers(), timeout)?;
        let status = response.status().as_u16();
        if status == 404 && had_session {
            return Err(McpError::SessionExpired);
        }
        if !response.status().is_success() {
            return Err(status_error(url, response));
        }
        if msg.get("method").and_then(Value::as_str) == Some("initialize")
            && let Some(sid) = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
        {
            *lock(&self.session_id) = Some(sid.to_string());
        }
        let want = jsonrpc::is_request(msg)
            .then(|| msg.get("id").and_then(Value::as_u64))
            .flatten();
        let ct = content_type(&response);
        if ct.starts_with("text/event-stream") {
            return self.read_stream(response, want, timeout);
        }
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_MESSAGE as u64)
            .read_to_end(&mut body)
            .map_err(|e| transport_error(url, ureq::Error::from(e), timeout))?;
        let text = String::from_utf8_lossy(&body);
        if text.trim().is_empty() {
            // 202 Accepted for notifications and responses.
            return Ok(());
        }
        let replies = self.inbox.dispatch_text(&text);
        self.http.answer(url, replies, &self.session_headers());
        Ok(())
    }

    fn negotiated(&self, version: &str) {
        *lock(&self.version) = Some(version.to_string());
        self.listen();
    }

    fn reset(&self) {
        if let Some(stop) = lock(&self.listener).take() {
            stop.store(true, Ordering::SeqCst);
        }
        *lock(&self.session_id) = None;
        *lock(&self.version) = None;
    }

    fn close(&self) {
        if self.http.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        // Ending the session is a courtesy (a server may answer 405); a short wait only.
        let extra = self.session_headers();
        if extra.iter().any(|(k, _)| *k == "mcp-session-id") {
            let mut req = self
                .http
                .agent
                .delete(&self.http.endpoint.url)
                .config()
                .timeout_global(Some(Duration::from_secs(1)))
                .build();
            for (k, v) in self
                .http
                .endpoint
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .chain(extra.iter().map(|(k, v)| (*k, v)))
            {
                req = req.header(k, v.as_str());
            }
            let _ = req.call();
        }
    }
}

impl Drop for StreamableHttp {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_response_with_our_id_ends_a_stream() {
        assert!(answers(r#"{"jsonrpc":"2.0","id":4,"result":{}}"#, 4));
        assert!(answers(
            r#"[{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","id":4,"error":{"code":1,"message":"m"}}]"#,
            4
        ));
        assert!(!answers(r#"{"jsonrpc":"2.0","id":5,"result":{}}"#, 4));
        assert!(!answers(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#, 4));
    }

    #[test]
    fn session_headers_appear_once_known() {
        let (sid, ver) = (Mutex::new(None), Mutex::new(None));
        assert!(session_headers(&sid, &ver).is_empty());
        *lock(&sid) = Some("abc".to_string());
        *lock(&ver) = Some("2025-06-18".to_string());
        assert_eq!(
            session_headers(&sid, &ver),
            [
                ("mcp-session-id", "abc".to_string()),
                ("mcp-protocol-version", "2025-06-18".to_string())
            ]
        );
    }
}
