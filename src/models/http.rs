//! Resumable HTTP download of one file into its `.part`, checked for size and sha256.
//!
//! Resuming: an existing `.part` of N bytes is hashed, then `Range: bytes=N-` is sent.
//! 206 with a matching `Content-Range` appends; 200 (the server ignored the range) starts
//! over; 416 drops the `.part` and starts over. A body that stops early is resumed within
//! the same call a few times while it makes progress, and otherwise left for the next pull.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use ring::digest::{Context, SHA256};
use ureq::Agent;
use ureq::config::RedirectAuthHeaders;
use ureq::tls::{RootCerts, TlsConfig};

use super::Progress;
use super::error::{ModelError, SourceError, redact_url};
use super::layout::{BUF_SIZE, hex, remove_if_exists};

/// Requests per download call: the first plus resumes after restarts or dropped bodies.
const MAX_ROUNDS: u32 = 4;

/// What the downloaded bytes must be.
pub(crate) struct Expected<'a> {
    /// Name shown in progress and errors (a file or wheel name).
    pub what: &'a str,
    /// Exact size, in bytes.
    pub size: u64,
    /// sha256, lower-case hex.
    pub sha256: &'a str,
}

/// A failed download: either this source failed (try the next) or the local machine did
/// (stop the pull).
#[derive(Debug)]
pub(crate) enum FetchError {
    Source(SourceError),
    Local(ModelError),
}

impl From<SourceError> for FetchError {
    fn from(e: SourceError) -> Self {
        FetchError::Source(e)
    }
}

impl From<ModelError> for FetchError {
    fn from(e: ModelError) -> Self {
        FetchError::Local(e)
    }
}

/// An agent for `url`: platform root certificates (the system store), status codes handed
/// back instead of turned into errors, `timeout` for connecting, for the response head and
/// for each read (a stalled body fails after `timeout` of silence, a slow one never does).
/// Loopback URLs bypass any proxy from the environment. An `Authorization` header follows
/// a redirect only to the same host over https (a Hub `resolve` redirects to a CDN, which
/// must not see the token).
pub(crate) fn agent(url: &str, timeout: Duration) -> Agent {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    let mut config = Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .redirect_auth_headers(RedirectAuthHeaders::SameHost);
    if is_loopback(url) {
        config = config.proxy(None);
    }
    config.build().into()
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || rest.starts_with("[::1]")
}

/// Downloads `url` into `part` (resuming what is there) until it holds exactly the expected
/// bytes, sending `bearer` (a token) as `Authorization: Bearer …` when given. On success
/// `part` is complete, synced and verified; the caller renames it.
///
/// # Errors
/// [`FetchError::Source`] when this source cannot deliver (status, network, protocol,
/// truncation — the `.part` is kept — or checksum mismatch — the `.part` is deleted);
/// [`FetchError::Local`] for local I/O failures.
pub(crate) fn download(
    url: &str,
    bearer: Option<&str>,
    part: &Path,
    expect: &Expected<'_>,
    timeout: Duration,
    progress: &mut dyn Progress,
) -> Result<(), FetchError> {
    let agent = agent(url, timeout);
    let shown = redact_url(url);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part)
        .map_err(|e| ModelError::io("opening", part, e))?;
    let (mut have, mut hasher) = hash_prefix(&mut file, part, expect.size)?;
    if have == expect.size && hex(hasher.clone().finish().as_ref()) != expect.sha256 {
        progress.note(&format!(
            "discarding a complete but damaged {}.part",
            expect.what
        ));
        (have, hasher) = restart(&mut file, part)?;
    }
    let mut last_reason = String::from("too many restarts");
    for _round in 0..MAX_ROUNDS {
        if have == expect.size {
            return finish(file, part, hasher, expect);
        }
        let mut request = agent.get(url);
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(e) => return Err(SourceError::Network(e.to_string()).into()),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        match status {
            200 => {
                if have > 0 {
                    progress.note(&format!(
                        "{shown} ignored the range request; downloading {} from the start",
                        expect.what
                    ));
                    (have, hasher) = restart(&mut file, part)?;
                }
                if let Some(len) = content_length.filter(|len| *len != expect.size) {
                    return Err(SourceError::Protocol(format!(
                        "server sends {len} bytes, expected {}",
                        expect.size
                    ))
                    .into());
                }
            }
            206 => {
                let range = header("content-range").unwrap_or_default();
                let Some((start, total)) = parse_content_range(&range) else {
                    return Err(
                        SourceError::Protocol(format!("bad Content-Range {range:?}")).into(),
                    );
                };
                if let Some(total) = total.filter(|t| *t != expect.size) {
                    return Err(SourceError::Protocol(format!(
                        "server has {total} bytes, expected {}",
                        expect.size
                    ))
                    .into());
                }
                if start != have {
                    progress.note(&format!(
                        "{shown} answered from byte {start}, not {have}; restarting"
                    ));
                    (have, hasher) = restart(&mut file, part)?;
                    continue;
                }
            }
            416 if have > 0 => {
                progress.note(&format!(
                    "{shown} refused to resume {} at byte {have}; restarting",
                    expect.what
                ));
                (have, hasher) = restart(&mut file, part)?;
                continue;
            }
            _ => return Err(SourceError::Status { status }.into()),
        }

        progress.start(expect.what, expect.size, have);
        let body = response.into_body().into_reader();
        let outcome = copy_body(
            body,
            &mut file,
            part,
            &mut hasher,
            expect.size - have,
            progress,
        );
        progress.finish();
        let before = have;
        have = file
            .stream_position()
            .map_err(|e| ModelError::io("writing", part, e))?;
        let reason = match outcome? {
            _ if have == expect.size => return finish(file, part, hasher, expect),
            BodyEnd::Complete => "the body ended early".to_owned(),
            BodyEnd::Broken(reason) => reason,
        };
        if have == before {
            sync(&file, part)?;
            return Err(stopped(have, expect.size, reason).into());
        }
        progress.note(&format!(
            "{shown}: {reason} after {have} of {} bytes; resuming",
            expect.size
        ));
        last_reason = reason;
    }
    if have == expect.size {
        return finish(file, part, hasher, expect);
    }
    sync(&file, part)?;
    Err(stopped(have, expect.size, last_reason).into())
}

/// The size of the file at `url`, in bytes: a HEAD's `Content-Length`, else the total of
/// the `Content-Range` a one-byte range request answers with (for servers that refuse
/// HEAD). Redirects are followed.
///
/// # Errors
/// [`SourceError::Status`] for an error status, [`SourceError::Network`] when the server
/// cannot be reached, [`SourceError::Protocol`] when it states no size.
pub(crate) fn remote_size(url: &str, timeout: Duration) -> Result<u64, SourceError> {
    let agent = agent(url, timeout);
    let network = |e: ureq::Error| SourceError::Network(e.to_string());
    let head = agent.head(url).call().map_err(network)?;
    let length = |r: &ureq::http::Response<ureq::Body>, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if head.status().is_success()
        && let Some(len) = length(&head, "content-length").and_then(|v| v.trim().parse().ok())
    {
        return Ok(len);
    }
    let ranged = agent
        .get(url)
        .header("Range", "bytes=0-0")
        .call()
        .map_err(network)?;
    let status = ranged.status().as_u16();
    match status {
        206 => length(&ranged, "content-range")
            .and_then(|v| parse_content_range(&v))
            .and_then(|(_, total)| total)
            .ok_or_else(|| SourceError::Protocol("the server states no size".into())),
        200 => length(&ranged, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| SourceError::Protocol("the server states no size".into())),
        _ => Err(SourceError::Status { status }),
    }
}

/// The error for a download that ends with `have` of `size` bytes on disk.
fn stopped(have: u64, size: u64, reason: String) -> SourceError {
    if have > 0 {
        SourceError::Truncated {
            got: have,
            expected: size,
        }
    } else {
        SourceError::Network(reason)
    }
}

/// How a body read ended.
enum BodyEnd {
    /// The body ended (maybe early: the caller checks the position).
    Complete,
    /// The connection failed mid-body (the reason, for messages).
    Broken(String),
}

/// Copies up to `remaining` bytes of `body` to `file`, hashing them and reporting progress.
/// A body longer than `remaining` is a protocol error (the `.part` is deleted).
fn copy_body(
    mut body: impl Read,
    file: &mut File,
    part: &Path,
    hasher: &mut Context,
    remaining: u64,
    progress: &mut dyn Progress,
) -> Result<BodyEnd, FetchError> {
    let mut buf = vec![0; BUF_SIZE];
    let mut left = remaining;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(BodyEnd::Complete),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(BodyEnd::Broken(e.to_string())),
        };
        if n as u64 > left {
            remove_if_exists(part)?;
            return Err(SourceError::Protocol(format!(
                "body longer than the expected {remaining} bytes"
            ))
            .into());
        }
        file.write_all(&buf[..n])
            .map_err(|e| ModelError::io("writing", part, e))?;
        hasher.update(&buf[..n]);
        left -= n as u64;
        progress.advance(n as u64);
    }
}

/// Reads the existing `.part` from the start, hashing it, and leaves the cursor at its end.
/// A `.part` longer than `size` cannot be a prefix and is emptied.
fn hash_prefix(file: &mut File, part: &Path, size: u64) -> Result<(u64, Context), ModelError> {
    let len = file
        .metadata()
        .map_err(|e| ModelError::io("reading", part, e))?
        .len();
    if len > size {
        return restart(file, part);
    }
    let mut hasher = Context::new(&SHA256);
    let mut buf = vec![0; BUF_SIZE];
    let mut have = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                have += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ModelError::io("reading", part, e)),
        }
    }
    Ok((have, hasher))
}

/// Empties the `.part` and returns a fresh position and hasher.
fn restart(file: &mut File, part: &Path) -> Result<(u64, Context), ModelError> {
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .map_err(|e| ModelError::io("truncating", part, e))?;
    Ok((0, Context::new(&SHA256)))
}

fn sync(file: &File, part: &Path) -> Result<(), ModelError> {
    file.sync_all()
        .map_err(|e| ModelError::io("syncing", part, e))
}

/// Checks the complete `.part`'s sha256; deletes it on a mismatch.
fn finish(
    file: File,
    part: &Path,
    hasher: Context,
    expect: &Expected<'_>,
) -> Result<(), FetchError> {
    sync(&file, part)?;
    drop(file);
    let got = hex(hasher.finish().as_ref());
    if got == expect.sha256 {
        return Ok(());
    }
    remove_if_exists(part)?;
    Err(SourceError::Checksum {
        what: expect.what.to_owned(),
        expected: expect.sha256.to_owned(),
        got,
    }
    .into())
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`) into (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 10-19/20"), Some((10, Some(20))));
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("bytes */20"), None);
        assert_eq!(parse_content_range("bytes 5-1/20"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:80/x"));
        assert!(!is_loopback("https://huggingface.co/x"));
        assert!(!is_loopback("https://127.example.org/x"));
    }
}
