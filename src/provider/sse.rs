//! Server-Sent Events, and the HTTP plumbing the two streaming providers (`openai`,
//! `anthropic`) share.
//!
//! [`SseReader`] is an incremental parser for the `text/event-stream` format as the WHATWG
//! HTML standard interprets it
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>):
//! it pulls lines from any [`BufRead`] and yields one [`SseEvent`] per blank-line-terminated
//! block, so the caller sees each event as soon as its bytes arrive.
//!
//! The crate-private half builds the ureq agent (platform root certificates, because egress
//! may pass a TLS-intercepting proxy whose CA is only in the system store), sends a JSON
//! POST under the call's deadline, and maps HTTP statuses and transport failures to
//! [`ProviderError`]. This module imports nothing of Hearth outside `provider`.

use super::{ChatResponse, DeltaSink, ProviderError, http_status_error};
use std::io::{self, BufRead, Read};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Default cap on one line and on one event's data: 1 MiB.
pub const DEFAULT_MAX_LEN: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `"message"` when the block named none.
    pub event: String,
    /// The `data:` lines of the block joined with `\n` (no trailing newline).
    pub data: String,
    /// The last event id seen on the stream (`id:` persists across events); `None` while
    /// it is unset or was reset with an empty `id:`.
    pub id: Option<String>,
}

/// A failure while reading an event stream. After an error the reader is in an unspecified
/// state and should be dropped.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    /// The underlying reader failed.
    #[error("reading the event stream: {0}")]
    Io(#[from] io::Error),
    /// A line (without its terminator) exceeded the limit, in bytes.
    #[error("event stream line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The data of one event exceeded the limit, in bytes.
    #[error("event stream event data longer than {limit} bytes")]
    EventTooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

/// Incremental `text/event-stream` parser over a [`BufRead`].
///
/// Lines may end in CRLF, LF or a lone CR; a leading UTF-8 BOM is skipped; invalid UTF-8 is
/// replaced with U+FFFD. Comments (`:` lines) and unknown fields are ignored; `retry:` is
/// kept for [`SseReader::retry_ms`]. As the standard requires, an event not terminated by
/// a blank line before end of stream is discarded.
#[derive(Debug)]
pub struct SseReader<R> {
    input: R,
    max_len: usize,
    line: Vec<u8>,
    after_cr: bool,
    at_start: bool,
    event: String,
    data: String,
    last_id: String,
    retry_ms: Option<u64>,
}

impl<R: BufRead> SseReader<R> {
    /// A reader with the [`DEFAULT_MAX_LEN`] limit.
    pub fn new(input: R) -> Self {
        Self::with_max_len(input, DEFAULT_MAX_LEN)
    }

    /// A reader whose lines, and whose events' data, may hold at most `max_len` bytes.
    pub fn with_max_len(input: R, max_len: usize) -> Self {
        Self {
            input,
            max_len,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: String::new(),
            data: String::new(),
            last_id: String::new(),
            retry_ms: None,
        }
    }

    /// The reconnection time the server last asked for with `retry:`, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Reads until the next event is complete.
    ///
    /// Returns `Ok(None)` at end of stream.
    ///
    /// # Errors
    /// [`SseError::Io`] when the reader fails, [`SseError::LineTooLong`] or
    /// [`SseError::EventTooLong`] when the limit is exceeded.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        while self.read_line()? {
            if let Some(event) = self.process_line()? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// Reads one line into `self.line`; `false` at end of stream (a partial last line is
    /// dropped together with its pending event).
    fn read_line(&mut self) -> Result<bool, SseError> {
        self.line.clear();
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            // A CR ends a line; an LF right after it belongs to the same terminator.
            let start = usize::from(std::mem::take(&mut self.after_cr) && buf[0] == b'\n');
            let rest = &buf[start..];
            let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
            let piece = &rest[..end.unwrap_or(rest.len())];
            if self.line.len() + piece.len() > self.max_len {
                return Err(SseError::LineTooLong {
                    limit: self.max_len,
                });
            }
            self.line.extend_from_slice(piece);
            match end {
                Some(end) => {
                    self.after_cr = rest[end] == b'\r';
                    self.input.consume(start + end + 1);
                    return Ok(true);
                }
                None => {
                    let used = buf.len();
                    self.input.consume(used);
                }
            }
        }
    }

    /// Applies the line in `self.line`; returns the event a blank line dispatches.
    fn process_line(&mut self) -> Result<Option<SseEvent>, SseError> {
        let mut bytes = &self.line[..];
        if std::mem::take(&mut self.at_start) {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.is_empty() {
            return Ok(self.dispatch());
        }
        let line = String::from_utf8_lossy(bytes);
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&line[..], ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max_len {
                    return Err(SseError::EventTooLong {
                        limit: self.max_len,
                    });
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_id),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
        Ok(None)
    }

    /// The blank-line step: emits the buffered event, if it has data, and resets.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the '\n' appended after the last data line
        Some(SseEvent {
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data,
            id: (!self.last_id.is_empty()).then(|| self.last_id.clone()),
        })
    }
}

impl<R: BufRead> Iterator for SseReader<R> {
    type Item = Result<SseEvent, SseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing shared by the streaming providers.

/// Longest connection setup (DNS + TCP + TLS) before the call's own deadline applies.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of an error response body kept for the error detail.
const ERROR_BODY_LIMIT: u64 = 16 * 1024;

/// A ureq agent for provider calls: platform root certificates, HTTP error statuses
/// returned as responses (so their bodies and `Retry-After` can be read).
pub(crate) fn http_agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// The two deadlines of one call: connection setup and the whole exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Connection setup: [`CONNECT_TIMEOUT`] capped by `total`.
    pub connect: Duration,
    /// The whole call, body included.
    pub total: Duration,
}

impl Deadlines {
    /// Deadlines for a call whose whole budget is `total`.
    pub fn new(total: Duration) -> Self {
        Self {
            connect: CONNECT_TIMEOUT.min(total),
            total,
        }
    }
}

/// POSTs `body` as JSON to `url` with the extra `headers`, under `deadlines`, and returns
/// the 2xx response whose body is still to be read.
///
/// # Errors
/// Non-2xx statuses through [`http_status_error`] (with `Retry-After` parsed); transport
/// failures through [`transport_error`].
pub(crate) fn post_json(
    agent: &ureq::Agent,
    provider: &str,
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
    deadlines: Deadlines,
) -> Result<ureq::http::Response<ureq::Body>, ProviderError> {
    let mut request = agent
        .post(url)
        .config()
        .timeout_global(Some(deadlines.total))
        .timeout_connect(Some(deadlines.connect))
        .build()
        .header("content-type", "application/json")
        .header("accept", "text/event-stream, application/json");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request
        .send(body.to_string())
        .map_err(|e| transport_error(provider, e, deadlines))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let mut detail = Vec::new();
    // The status is the error; a body cut short by the deadline only shortens the detail.
    let _ = response
        .into_body()
        .into_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut detail);
    Err(http_status_error(
        provider,
        status,
        &String::from_utf8_lossy(&detail),
        retry_after,
    ))
}

/// How a wire format reads a reply: as one JSON document, or as an SSE stream.
pub(crate) struct Decoders {
    /// Parses a non-streamed JSON reply.
    pub whole: fn(&str, &serde_json::Value) -> Result<ChatResponse, ProviderError>,
    /// Reads an SSE stream, sending text deltas to the sink.
    pub stream: StreamReader,
}

/// The stream decoder of one wire format, on ureq's body reader.
pub(crate) type StreamReader = fn(
    &str,
    std::io::BufReader<ureq::BodyReader<'static>>,
    Deadlines,
    &mut DeltaSink<'_>,
    &CancellationToken,
) -> Result<ChatResponse, ProviderError>;

/// One model call: POSTs `body` as JSON within `timeout` (connect and whole call, see
/// [`Deadlines`]) and decodes the answer with `decoders` — a whole JSON reply (servers that
/// ignore `stream`, whose text then reaches `sink` in one piece) or an SSE stream.
///
/// # Errors
/// [`ProviderError::Cancelled`] when `cancel` fired before the request; as [`post_json`];
/// then the decoders' errors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn exchange(
    agent: &ureq::Agent,
    provider: &str,
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
    timeout: Duration,
    decoders: &Decoders,
    sink: &mut DeltaSink<'_>,
    cancel: &CancellationToken,
) -> Result<ChatResponse, ProviderError> {
    if cancel.is_cancelled() {
        return Err(ProviderError::Cancelled);
    }
    let deadlines = Deadlines::new(timeout);
    let response = post_json(agent, provider, url, headers, body, deadlines)?;
    if is_json(&response) {
        let body = read_json_body(provider, response, deadlines)?;
        let reply = (decoders.whole)(provider, &body)?;
        if !reply.message.content.is_empty() {
            sink(&reply.message.content);
        }
        return Ok(reply);
    }
    let reader = std::io::BufReader::with_capacity(16 * 1024, response.into_body().into_reader());
    (decoders.stream)(provider, reader, deadlines, sink, cancel)
}

/// Whether the response carries a whole JSON document rather than an event stream.
pub(crate) fn is_json(response: &ureq::http::Response<ureq::Body>) -> bool {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// Reads a whole JSON response body (at most 16 MiB).
///
/// # Errors
/// Transport failures as in [`transport_error`]; a body that is not JSON is `BadResponse`.
pub(crate) fn read_json_body(
    provider: &str,
    response: ureq::http::Response<ureq::Body>,
    deadlines: Deadlines,
) -> Result<serde_json::Value, ProviderError> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| stream_error(provider, SseError::Io(e), deadlines))?;
    serde_json::from_slice(&bytes).map_err(|e| ProviderError::BadResponse {
        provider: provider.to_string(),
        detail: format!(
            "response body: expected JSON: {e}: {}",
            preview(&String::from_utf8_lossy(&bytes))
        ),
    })
}

/// Maps a ureq failure before a response arrived: deadlines to `Timeout`, HTTP framing
/// errors to `BadResponse`, everything else (refused, DNS, TLS, bad URL) to `Connect`.
pub(crate) fn transport_error(
    provider: &str,
    err: ureq::Error,
    deadlines: Deadlines,
) -> ProviderError {
    let provider = provider.to_string();
    match err {
        ureq::Error::Timeout(which) => {
            let connecting = matches!(which, ureq::Timeout::Connect | ureq::Timeout::Resolve);
            ProviderError::Timeout {
                provider,
                after: if connecting {
                    deadlines.connect
                } else {
                    deadlines.total
                },
            }
        }
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            ProviderError::Timeout {
                provider,
                after: deadlines.total,
            }
        }
        e @ (ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..)) => {
            ProviderError::BadResponse {
                provider,
                detail: format!("HTTP framing: {e}"),
            }
        }
        e => ProviderError::Connect {
            provider,
            detail: e.to_string(),
        },
    }
}

/// Maps a failure while reading a response body: ureq's deadline errors (wrapped in
/// `io::Error` by its body reader) to `Timeout`, other I/O to `Connect` ("stream
/// interrupted"), over-long lines or events to `BadResponse`.
pub(crate) fn stream_error(provider: &str, err: SseError, deadlines: Deadlines) -> ProviderError {
    match err {
        SseError::Io(e) => match ureq::Error::from(e) {
            e @ (ureq::Error::Timeout(_) | ureq::Error::Io(_)) => {
                match transport_error(provider, e, deadlines) {
                    ProviderError::Connect { provider, detail } => ProviderError::Connect {
                        provider,
                        detail: format!("stream interrupted: {detail}"),
                    },
                    other => other,
                }
            }
            e => transport_error(provider, e, deadlines),
        },
        e => ProviderError::BadResponse {
            provider: provider.to_string(),
            detail: e.to_string(),
        },
    }
}

/// An `f32` as the JSON number its shortest decimal form names (`0.7`, not the
/// `0.699999988079071` a widening cast gives).
pub(crate) fn f32_json(x: f32) -> serde_json::Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// The first 200 characters of `text`, for error details.
pub(crate) fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The server's requested wait: `retry-after-ms` (milliseconds, sent by OpenAI), else
/// `Retry-After` as delay-seconds or an IMF-fixdate (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = parse_http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
fn parse_http_date(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms[..] else { return None };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

#[cfg(test)]
mod tests;
