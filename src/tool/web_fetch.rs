//! The `web_fetch` tool: GET an http(s) URL and return its body as text.
//!
//! Guards, in order, for every hop (at most [`MAX_REDIRECTS`] redirects, followed by hand):
//! scheme `http`/`https` only, no credentials in the URL, the host resolved here and every
//! address checked by [`is_forbidden`] (unless [`WebFetchOptions::allow_private`]). ureq
//! then connects through a resolver pinned to exactly those vetted addresses, so a DNS
//! answer that changes between check and connect (rebinding) cannot redirect the socket.
//! Proxy environment variables are ignored: through a proxy the check would vet the wrong
//! host. One overall deadline ([`WebFetchOptions::timeout`]) covers DNS, all hops and the
//! body; at most [`WebFetchOptions::max_bytes`] of body are read.
//!
//! HTML is turned into readable text crudely (scripts, styles and tags dropped, common
//! entities decoded, block tags become line breaks); non-text content types are refused.
//! This module imports nothing of Hearth beyond `core` and `tool`.

use super::{Tool, ToolError};
use crate::core::ToolSpec;
use serde_json::{Value, json};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use ureq::http::Uri;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;

mod addr;
mod body;
pub use addr::is_forbidden;
use addr::{PinnedResolver, bare_host, resolve};
use body::{Kind, classify, decode, html_to_text, sniff};

/// Most redirects followed for one fetch.
pub const MAX_REDIRECTS: usize = 5;

/// Characters of text returned when the model gives no `max_chars`.
pub const DEFAULT_MAX_CHARS: usize = 50_000;

/// Limits and policy of the `web_fetch` tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebFetchOptions {
    /// Allow loopback, private, link-local and other non-public addresses (off by default:
    /// the model must not reach the host's or the LAN's services).
    pub allow_private: bool,
    /// Deadline for the whole fetch: DNS, connects, redirects and body (default 20 s).
    pub timeout: Duration,
    /// Most body bytes read; the rest is dropped with a notice (default 1 MiB).
    pub max_bytes: usize,
}

impl Default for WebFetchOptions {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(20),
            max_bytes: 1024 * 1024,
        }
    }
}

/// The `web_fetch` tool.
pub struct WebFetchTool {
    opts: WebFetchOptions,
    /// Tests serve from 127.0.0.1 yet check that other private targets are refused.
    #[cfg(test)]
    allow_loopback_only: bool,
}

impl WebFetchTool {
    /// A `web_fetch` tool with the given limits and policy.
    pub fn new(opts: WebFetchOptions) -> Self {
        Self {
            opts,
            #[cfg(test)]
            allow_loopback_only: false,
        }
    }

    /// Whether the policy refuses `ip`.
    fn refuses(&self, ip: IpAddr) -> bool {
        #[cfg(test)]
        if self.allow_loopback_only && ip.is_loopback() {
            return false;
        }
        !self.opts.allow_private && is_forbidden(ip)
    }

    /// Checks `url` and resolves its host to vetted addresses within `deadline`.
    fn vet(&self, url: &str, deadline: Instant) -> Result<(String, Vec<SocketAddr>), ToolError> {
        let err = |m: &str| ToolError::Fetch(format!("{m}: {url}"));
        let scheme = url
            .split_once(':')
            .map_or(String::new(), |(s, _)| s.to_ascii_lowercase());
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ if !url.contains("://") => return Err(err("invalid URL")),
            _ => return Err(err("only http and https URLs are allowed")),
        };
        let uri: Uri = url.parse().map_err(|_| err("invalid URL"))?;
        let auth = uri.authority().ok_or_else(|| err("URL has no host"))?;
        if auth.as_str().contains('@') {
            return Err(err("URLs with credentials are refused"));
        }
        let host = bare_host(auth.host()).to_string();
        let port = auth.port_u16().unwrap_or(default_port);
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => resolve(&host, port, deadline).map_err(|m| err(&m))?,
        };
        if addrs.is_empty() {
            return Err(err("host has no addresses"));
        }
        if let Some(bad) = addrs.iter().find(|a| self.refuses(a.ip())) {
            return Err(ToolError::Fetch(format!(
                "refused: {host} resolves to non-public address {} (loopback, private, \
                 link-local and similar ranges are not allowed): {url}",
                bad.ip()
            )));
        }
        Ok((host, addrs))
    }

    /// Fetches `url`, following redirects by hand, and renders the result.
    fn fetch(&self, url: &str, max_chars: usize) -> Result<String, ToolError> {
        let deadline = Instant::now() + self.opts.timeout;
        let mut current = url.to_string();
        for hop in 0..=MAX_REDIRECTS {
            let (host, addrs) = self.vet(&current, deadline)?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timed_out());
            }
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(None)
                .timeout_global(Some(remaining))
                .user_agent(concat!("hearth-web-fetch/", env!("CARGO_PKG_VERSION")))
                .accept("text/html,text/plain,application/json;q=0.9,*/*;q=0.5")
                .tls_config(
                    TlsConfig::builder()
                        .root_certs(RootCerts::PlatformVerifier)
                        .build(),
                )
                .build();
            let agent = ureq::Agent::with_parts(
                config,
                DefaultConnector::new(),
                PinnedResolver { host, addrs },
            );
            let resp = agent.get(&current).call().map_err(|e| self.ureq_error(e))?;
            let status = resp.status();
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok());
            if status.is_redirection()
                && let Some(loc) = location
            {
                if hop == MAX_REDIRECTS {
                    return Err(ToolError::Fetch(format!(
                        "too many redirects (more than {MAX_REDIRECTS})"
                    )));
                }
                current = join_url(&current, loc)
                    .ok_or_else(|| ToolError::Fetch(format!("bad redirect location {loc:?}")))?;
                continue;
            }
            return self.render(resp, &current, max_chars);
        }
        Err(ToolError::Fetch(format!(
            "too many redirects (more than {MAX_REDIRECTS})"
        )))
    }

    /// Reads a final (non-redirect) response and formats status, URL, content type and
    /// text for the model.
    fn render(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
        current: &str,
        max_chars: usize,
    ) -> Result<String, ToolError> {
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let kind = classify(&ctype);
        if kind == Kind::Binary {
            return Err(ToolError::Fetch(format!(
                "{current} has content-type {ctype:?}, which is not text; web_fetch only returns text"
            )));
        }
        let limit = self.opts.max_bytes as u64 + 1;
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| self.io_error(&e))?;
        let cut_bytes = body.len() > self.opts.max_bytes;
        body.truncate(self.opts.max_bytes);
        let kind = if kind == Kind::Unknown {
            sniff(&body)
        } else {
            kind
        };
        if kind == Kind::Binary {
            return Err(ToolError::Fetch(format!(
                "{current} returned binary content; web_fetch only returns text"
            )));
        }
        let raw = decode(&body, &ctype);
        let mut text = if kind == Kind::Html {
            html_to_text(&raw)
        } else {
            raw
        };
        let mut notes = Vec::new();
        if cut_bytes {
            notes.push(format!(
                "[truncated: only the first {} bytes of the body were read]",
                self.opts.max_bytes
            ));
        }
        if let Some((idx, _)) = text.char_indices().nth(max_chars) {
            text.truncate(idx);
            notes.push(format!("[truncated to {max_chars} characters]"));
        }
        let mut out = format!(
            "status: {}\nurl: {current}\ncontent-type: {ctype}\n\n{text}",
            status.as_u16()
        );
        for n in notes {
            out.push_str("\n\n");
            out.push_str(&n);
        }
        Ok(out)
    }

    /// The error for an exceeded deadline.
    fn timed_out(&self) -> ToolError {
        ToolError::Fetch(format!("timed out after {:?}", self.opts.timeout))
    }

    /// Maps a ureq error to a tool error.
    fn ureq_error(&self, e: ureq::Error) -> ToolError {
        match e {
            ureq::Error::Timeout(_) => self.timed_out(),
            ureq::Error::Io(io) => self.io_error(&io),
            other => ToolError::Fetch(other.to_string()),
        }
    }

    /// Maps an I/O error (ureq wraps its timeouts in them while reading bodies).
    fn io_error(&self, e: &std::io::Error) -> ToolError {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            self.timed_out()
        } else {
            ToolError::Fetch(e.to_string())
        }
    }
}

/// Resolves a redirect `Location` against the URL it came from (RFC 3986 §5.2, without
/// dot-segment removal, which servers tolerate).
fn join_url(base: &str, loc: &str) -> Option<String> {
    let loc = loc.trim();
    if loc.contains("://") && loc.find("://") < loc.find(['/', '?', '#']) {
        return Some(loc.to_string());
    }
    let (scheme, rest) = base.split_once("://")?;
    if let Some(net) = loc.strip_prefix("//") {
        return Some(format!("{scheme}://{net}"));
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(auth_end);
    let path = &path[..path.find('#').unwrap_or(path.len())];
    let origin = format!("{scheme}://{auth}");
    Some(if loc.starts_with('/') {
        format!("{origin}{loc}")
    } else if loc.starts_with('?') {
        format!(
            "{origin}{}{loc}",
            &path[..path.find('?').unwrap_or(path.len())]
        )
    } else {
        let path = &path[..path.find('?').unwrap_or(path.len())];
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{origin}{dir}{loc}")
    })
}

impl Tool for WebFetchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_fetch".into(),
            description: "Fetch an http(s) URL with GET and return its status, final URL, content \
                type and body as text (HTML reduced to readable text). Only public addresses; \
                non-text content is refused."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "Absolute http:// or https:// URL."},
                    "max_chars": {"type": "integer", "minimum": 1, "description": "Most characters of text to return (default 50000)."}
                },
                "required": ["url"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let url = match args.get("url") {
            Some(Value::String(s)) => s.trim(),
            _ => return Err(ToolError::InvalidArgs("`url` must be a string".into())),
        };
        let max_chars = match args.get("max_chars") {
            None | Some(Value::Null) => DEFAULT_MAX_CHARS,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => {
                    return Err(ToolError::InvalidArgs(
                        "`max_chars` must be an integer >= 1".into(),
                    ));
                }
            },
        };
        self.fetch(url, max_chars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Serves canned responses on 127.0.0.1 until the test process exits.
    fn serve() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut first = String::new();
                    reader.read_line(&mut first).unwrap();
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap() > 2 {
                        line.clear();
                    }
                    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (status, ctype, extra, body) = route(&path);
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n{extra}\r\n{body}",
                        body.len()
                    );
                    let _ = (&stream).write_all(resp.as_bytes());
                });
            }
        });
        base
    }

    fn route(path: &str) -> (&'static str, &'static str, String, String) {
        let ok = "200 OK";
        let found = "302 Found";
        match path {
            "/page" => (
                ok,
                "text/html; charset=utf-8",
                String::new(),
                PAGE.to_string(),
            ),
            "/big" => (ok, "text/plain", String::new(), "a".repeat(10_000)),
            "/image" => (ok, "image/png", String::new(), "\u{89}PNG".to_string()),
            "/redirect" => (
                found,
                "text/plain",
                "Location: page\r\n".into(),
                String::new(),
            ),
            "/to-private" => (
                found,
                "text/plain",
                "Location: http://10.0.0.1/x\r\n".into(),
                String::new(),
            ),
            "/loop" => (
                found,
                "text/plain",
                "Location: /loop\r\n".into(),
                String::new(),
            ),
            "/slow" => {
                std::thread::sleep(Duration::from_secs(3));
                (ok, "text/plain", String::new(), "late".into())
            }
            _ => (
                "404 Not Found",
                "text/plain",
                String::new(),
                "no such page".into(),
            ),
        }
    }

    const PAGE: &str = "<html><head><style>p{}</style></head><body><script>alert(1)</script>\
        <h1>Hello</h1><p>world &amp; more</p></body></html>";

    fn local(max_bytes: usize, timeout: Duration) -> WebFetchTool {
        WebFetchTool::new(WebFetchOptions {
            allow_private: true,
            timeout,
            max_bytes,
        })
    }

    fn fetch(tool: &WebFetchTool, url: &str) -> Result<String, ToolError> {
        tool.call(
            &crate::tool::ToolCtx::detached(std::time::Duration::from_secs(60)),
            &json!({ "url": url }),
        )
    }

    #[test]
    fn refuses_private_targets_and_bad_urls() {
        let tool = WebFetchTool::new(WebFetchOptions::default());
        for url in [
            "http://127.0.0.1/",
            "http://localhost:8080/x",
            "http://10.0.0.5/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "https://[::ffff:127.0.0.1]/",
            "http://100.64.3.4/",
        ] {
            let msg = fetch(&tool, url).unwrap_err().to_string();
            assert!(
                msg.contains("refused") && msg.contains("non-public"),
                "{url}: {msg}"
            );
        }
        for (url, want) in [
            ("http://user:pw@example.com/", "credentials"),
            ("ftp://example.com/", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("not a url", "invalid URL"),
        ] {
            let msg = fetch(&tool, url).unwrap_err().to_string();
            assert!(msg.contains(want), "{url}: {msg}");
        }
        assert!(matches!(
            tool.call(
                &crate::tool::ToolCtx::detached(std::time::Duration::from_secs(60)),
                &json!({})
            ),
            Err(ToolError::InvalidArgs(_))
        ));
    }

    #[test]
    fn fetches_and_strips_html_when_private_allowed() {
        let base = serve();
        let tool = local(1024 * 1024, Duration::from_secs(10));
        let out = fetch(&tool, &format!("{base}/page")).unwrap();
        let want = format!(
            "status: 200\nurl: {base}/page\ncontent-type: text/html; charset=utf-8\n\nHello\n\nworld & more"
        );
        assert_eq!(out, want);
        let out = fetch(&tool, &format!("{base}/redirect")).unwrap();
        assert!(
            out.contains(&format!("url: {base}/page")) && out.ends_with("world & more"),
            "{out}"
        );
        let out = fetch(&tool, &format!("{base}/missing")).unwrap();
        assert!(
            out.starts_with("status: 404") && out.ends_with("no such page"),
            "{out}"
        );
        let msg = fetch(&tool, &format!("{base}/image"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not text"), "{msg}");
        let msg = fetch(&tool, &format!("{base}/loop"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("too many redirects"), "{msg}");
    }

    #[test]
    fn caps_body_and_characters() {
        let base = serve();
        let tool = local(100, Duration::from_secs(10));
        let out = fetch(&tool, &format!("{base}/big")).unwrap();
        assert!(
            out.contains(&format!("\n\n{}\n\n", "a".repeat(100))),
            "{out}"
        );
        assert!(out.ends_with("[truncated: only the first 100 bytes of the body were read]"));
        let out = tool
            .call(
                &crate::tool::ToolCtx::detached(std::time::Duration::from_secs(60)),
                &json!({"url": format!("{base}/big"), "max_chars": 10}),
            )
            .unwrap();
        assert!(
            out.contains(&format!("\n\n{}\n\n", "a".repeat(10))),
            "{out}"
        );
        assert!(out.ends_with("[truncated to 10 characters]"), "{out}");
    }

    #[test]
    fn redirect_to_private_address_is_refused() {
        let base = serve();
        let mut tool = WebFetchTool::new(WebFetchOptions::default());
        tool.allow_loopback_only = true;
        assert!(fetch(&tool, &format!("{base}/page")).is_ok());
        let msg = fetch(&tool, &format!("{base}/to-private"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("refused") && msg.contains("10.0.0.1"), "{msg}");
    }

    #[test]
    fn times_out() {
        let base = serve();
        let tool = local(1024, Duration::from_millis(300));
        let start = Instant::now();
        let msg = fetch(&tool, &format!("{base}/slow"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("timed out"), "{msg}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn joins_redirect_locations() {
        let b = "http://h:1/a/b?q#f";
        assert_eq!(join_url(b, "https://x/y").as_deref(), Some("https://x/y"));
        assert_eq!(join_url(b, "//x/y").as_deref(), Some("http://x/y"));
        assert_eq!(join_url(b, "/z").as_deref(), Some("http://h:1/z"));
        assert_eq!(join_url(b, "c").as_deref(), Some("http://h:1/a/c"));
        assert_eq!(join_url(b, "?r").as_deref(), Some("http://h:1/a/b?r"));
        assert_eq!(join_url("http://h", "c").as_deref(), Some("http://h/c"));
        assert_eq!(
            join_url(b, "/n?u=http://x").as_deref(),
            Some("http://h:1/n?u=http://x")
        );
    }
}
