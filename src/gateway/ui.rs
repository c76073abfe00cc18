//! The control UI: static files from `ui/` embedded in the binary and served by the gateway
//! (`GET /` from a browser, `GET /ui/…`), never fetched from elsewhere. The page talks to
//! the gateway over the same WebSocket protocol as every client, signed in with the gateway
//! token. Every response carries a strict Content-Security-Policy (scripts, styles and
//! connections to this origin only; no inline code, no frames). The files are gzipped at
//! build time (`build.rs`) and embedded compressed: a client that accepts gzip (every
//! browser) gets them as they are, another gets them inflated (once, then kept). Preact with
//! htm (`ui/vendor/`) is the one library; the rest is Hearth's.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::Read;
use std::sync::OnceLock;

/// The policy: nothing but this origin (`'self'` also admits its `ws:`/`wss:` endpoint in
/// CSP Level 3, <https://www.w3.org/TR/CSP3/#match-url-to-source-expression>).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    /// The file gzipped (RFC 1952).
    gz: &'static [u8],
    mime: &'static str,
    /// The file itself, inflated on first need.
    plain: OnceLock<Vec<u8>>,
}

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        Asset {
            path: $path,
            gz: include_bytes!(concat!(env!("OUT_DIR"), "/ui/", $path, ".gz")),
            mime: $mime,
            plain: OnceLock::new(),
        }
    };
}

static ASSETS: [Asset; 10] = [
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/app.js", "text/javascript; charset=utf-8"),
    asset!("js/client.js", "text/javascript; charset=utf-8"),
    asset!("js/chat.js", "text/javascript; charset=utf-8"),
    asset!("js/pages.js", "text/javascript; charset=utf-8"),
    asset!("js/config.js", "text/javascript; charset=utf-8"),
    asset!("vendor/preact-htm.js", "text/javascript; charset=utf-8"),
    asset!("vendor/LICENSES.txt", "text/plain; charset=utf-8"),
];

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // The bytes were gzipped by build.rs: they inflate.
    let _ = flate2::read::GzDecoder::new(gz).read_to_end(&mut out);
    out
}

fn serve(a: &'static Asset, headers: &HeaderMap) -> Response {
    let gz = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut r = if gz {
        let mut r = a.gz.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        a.plain
            .get_or_init(|| gunzip(a.gz))
            .as_slice()
            .into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    // Small files, revalidated: a new binary's UI is picked up at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The page, for a browser's `GET /`.
pub fn index(headers: &HeaderMap) -> Response {
    serve(&ASSETS[0], headers)
}

/// Whether a plain `GET /` comes from a browser (it asks for HTML).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `GET /ui/{*path}`.
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => serve(a, &headers),
        None => (StatusCode::NOT_FOUND, "no such file in the control UI\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for a in &ASSETS {
            let body = gunzip(a.gz);
            let text = std::str::from_utf8(&body).expect("utf-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split('"').nth(1) else {
                    continue;
                };
                let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|x| x.path == target),
                    "{} imports {spec} ({target}), which is not embedded",
                    a.path
                );
            }
        }
        let gz: usize = ASSETS.iter().map(|a| a.gz.len()).sum();
        assert!(gz < 250 << 10, "{gz} bytes gzipped");
        let on_disk = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/js/app.js")).unwrap();
        assert_eq!(
            gunzip(ASSETS[3].gz),
            on_disk,
            "the embedded file is the file"
        );
    }
}
