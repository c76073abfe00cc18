//! The HTTP+SSE transport of MCP revision 2024-11-05
//! (<https://modelcontextprotocol.io/specification/2024-11-05/basic/transports#http-with-sse>),
//! the one Home Assistant 2025.4's `mcp_server` speaks (`/mcp_server/sse`): a GET opens an
//! event stream whose first event, `endpoint`, names the URL to POST messages to (resolved
//! against the stream's URL, and refused unless it has the same origin); every message of
//! the server then arrives on that stream as an `event: message`, read by a thread.
//!
//! Hearth falls back to it when the `initialize` POST of Streamable HTTP gets a 4xx
//! (<https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#backwards-compatibility>).

use super::McpError;
use super::http::{Endpoint, Http, status_error};
use super::session::{Inbox, Transport};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A legacy HTTP+SSE connection.
pub struct LegacySse {
    http: Arc<Http>,
    /// Where messages are POSTed (the `endpoint` event, resolved).
    post_url: Arc<OnceLock<String>>,
}

impl LegacySse {
    /// Opens the event stream of `endpoint` and waits at most `timeout` for its `endpoint`
    /// event; from then on a thread hands the stream's messages to `inbox`.
    ///
    /// # Errors
    /// [`McpError::Unreachable`], [`McpError::Http`], [`McpError::Timeout`] while
    /// connecting; [`McpError::Protocol`] for a stream that is not `text/event-stream`, ends
    /// before its `endpoint` event, or names a URL of another origin.
    pub fn connect(
        server: &str,
        endpoint: Endpoint,
        inbox: Arc<Inbox>,
        timeout: Duration,
    ) -> Result<Self, McpError> {
        let http = Arc::new(Http::new(server, endpoint));
        let url = http.endpoint.url.clone();
        let response = http.get_stream(&url, &[], timeout)?;
        if !response.status().is_success() {
            return Err(status_error(&url, response));
        }
        let ct = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !ct.starts_with("text/event-stream") {
            return Err(McpError::Protocol(format!(
                "GET {url} answered {ct:?}, not an event stream (is this an MCP endpoint?)"
            )));
        }
        let post_url = Arc::new(OnceLock::new());
        let (tx, rx) = sync_channel::<Result<String, String>>(1);
        let reader = {
            let (http, post_url) = (http.clone(), post_url.clone());
            move || {
                let mut events = http.events(response, &Arc::new(AtomicBool::new(false)));
                let mut tx = Some(tx);
                let reason = loop {
                    let ev = match events.next_event() {
                        Ok(Some(ev)) => ev,
                        Ok(None) => break "the server ended the event stream".to_string(),
                        Err(e) => break e.to_string(),
                    };
                    match ev.event.as_str() {
                        "endpoint" => {
                            let resolved = resolve(&url, ev.data.trim());
                            if let Ok(u) = &resolved {
                                let _ = post_url.set(u.clone());
                            }
                            if let Some(tx) = tx.take() {
                                let _ = tx.send(resolved);
                            }
                        }
                        "message" => {
                            let replies = inbox.dispatch_text(&ev.data);
                            if let Some(u) = post_url.get() {
                                http.answer(u, replies, &[]);
                            }
                        }
                        _ => {}
                    }
                };
                if !http.closed.load(Ordering::SeqCst) && post_url.get().is_some() {
                    tracing::warn!(server = %http.server, "mcp: {reason}");
                }
                inbox.lost(&reason);
            }
        };
        std::thread::Builder::new()
            .name(format!("mcp-{server}-sse"))
            .spawn(reader)
            .map_err(|e| McpError::Protocol(format!("cannot start the reader thread: {e}")))?;
        let t = Self { http, post_url };
        match rx.recv_timeout(timeout) {
            Ok(Ok(_)) => Ok(t),
            Ok(Err(e)) => Err(McpError::Protocol(e)),
            Err(RecvTimeoutError::Timeout) => Err(McpError::Timeout {
                what: "the endpoint event".into(),
                after: timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(McpError::Protocol(
                "the event stream ended before its endpoint event".into(),
            )),
        }
    }
}

impl Transport for LegacySse {
    fn kind(&self) -> &'static str {
        "sse"
    }

    fn send(&self, msg: &Value, timeout: Duration) -> Result<(), McpError> {
        let url = self
            .post_url
            .get()
            .ok_or_else(|| McpError::Closed("no endpoint yet".into()))?;
        let response = self.http.post(url, msg, &[], timeout)?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            404 => Err(McpError::Closed(
                "the server forgot the session (HTTP 404)".into(),
            )),
            _ => Err(status_error(url, response)),
        }
    }

    fn close(&self) {
        // The reader thread stops at its next read (servers send keep-alives).
        self.http.closed.store(true, Ordering::SeqCst);
    }
}

impl Drop for LegacySse {
    fn drop(&mut self) {
        self.close();
    }
}

/// `(scheme, authority with the default port made explicit, path and query)` of an
/// absolute `http(s)` URL.
fn split(url: &str) -> Option<(String, String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let authority = authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .to_ascii_lowercase();
    if authority.is_empty() {
        return None;
    }
    // A port is a suffix of digits after the last ':' that is outside an IPv6 literal.
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let authority = if has_port {
        authority
    } else {
        format!("{authority}:{default}")
    };
    Some((scheme, authority, path))
}

/// Resolves the `endpoint` event's `reference` against the stream's `base` URL (RFC 3986
/// §5.2, for the shapes servers send: an absolute URL, `//host/path`, `/path?query`,
/// `?query` or a relative path), and requires the same origin (scheme, host and port).
///
/// # Errors
/// A message for an unparsable base or reference, or another origin.
pub fn resolve(base: &str, reference: &str) -> Result<String, String> {
    let (scheme, authority, base_path) =
        split(base).ok_or_else(|| format!("{base:?} is not an http(s) URL"))?;
    let scheme_end = reference.find(['/', '?', '#']).unwrap_or(reference.len());
    let has_scheme = reference[..scheme_end].contains(':');
    let absolute = if has_scheme {
        reference.to_string()
    } else if reference.starts_with("//") {
        format!("{scheme}:{reference}")
    } else {
        let base_path = base_path.split('#').next().unwrap_or("");
        let base_dir_path = base_path.split('?').next().unwrap_or("");
        let path = if reference.is_empty() {
            base_path.to_string()
        } else if reference.starts_with('/') {
            reference.to_string()
        } else if reference.starts_with('?') {
            format!("{base_dir_path}{reference}")
        } else {
            let dir = &base_dir_path[..base_dir_path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{dir}{reference}")
        };
        format!("{scheme}://{}{}", authority_of(base), remove_dots(&path))
    };
    let (s2, a2, _) =
        split(&absolute).ok_or_else(|| format!("endpoint {reference:?} is not an http(s) URL"))?;
    if (s2.as_str(), a2.as_str()) != (scheme.as_str(), authority.as_str()) {
        return Err(format!(
            "the endpoint {absolute} is not on the origin of {base} (refused)"
        ));
    }
    Ok(absolute)
}

/// The authority of `url` as written (the port kept implicit when it was).
fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}

/// RFC 3986 §5.2.4 on the path part (the query, if any, is kept as is).
fn remove_dots(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find('?') {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}{query}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_against_the_stream_url() {
        let base = "http://ha.local:8123/mcp_server/sse";
        let cases = [
            (
                "/mcp_server/messages/01JQ",
                "http://ha.local:8123/mcp_server/messages/01JQ",
            ),
            (
                "/messages/?session_id=ab12",
                "http://ha.local:8123/messages/?session_id=ab12",
            ),
            ("messages/1", "http://ha.local:8123/mcp_server/messages/1"),
            ("../other/x?a=1", "http://ha.local:8123/other/x?a=1"),
            (
                "?session=9",
                "http://ha.local:8123/mcp_server/sse?session=9",
            ),
            ("http://HA.local:8123/p", "http://HA.local:8123/p"),
            ("//ha.local:8123/p", "http://ha.local:8123/p"),
        ];
        for (reference, want) in cases {
            assert_eq!(resolve(base, reference).as_deref(), Ok(want), "{reference}");
        }
        assert_eq!(
            resolve("https://h/sse", "https://h:443/m").as_deref(),
            Ok("https://h:443/m")
        );
        assert_eq!(
            resolve("http://h:80/sse", "/m").as_deref(),
            Ok("http://h:80/m")
        );
    }

    #[test]
    fn endpoints_of_another_origin_are_refused() {
        let base = "http://127.0.0.1:8000/sse";
        for reference in [
            "http://evil.example/messages",
            "https://127.0.0.1:8000/messages",
            "http://127.0.0.1:8001/messages",
            "//evil.example/messages",
            "ftp://127.0.0.1:8000/x",
        ] {
            assert!(resolve(base, reference).is_err(), "{reference}");
        }
        assert!(resolve("not a url", "/x").is_err());
    }
}
