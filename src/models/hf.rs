//! The Hugging Face Hub: `hf:org/repo[@revision]/path` references, the endpoint and token
//! Hearth uses, and the one API call a pull needs — the size and sha256 the Hub publishes
//! for a file.
//!
//! The call is `POST {endpoint}/api/models/{org}/{repo}/paths-info/{revision}` with the JSON
//! body `{"paths": ["<path>"]}`; the answer is a JSON array with one object per path found,
//! `{"type": "file", "path", "size", "oid", "lfs": {"oid", "size", "pointerSize"}}`, where
//! `lfs.oid` is the sha256 of the file's contents (Git LFS names objects by their sha256).
//! Shape taken from huggingface.js `pathsInfo`
//! (<https://github.com/huggingface/huggingface.js/blob/main/packages/hub/src/lib/paths-info.ts>)
//! and huggingface_hub's `HfApi.get_paths_info`, which posts the same fields as a form
//! (<https://huggingface.co/docs/huggingface_hub/package_reference/hf_api#huggingface_hub.HfApi.get_paths_info>).
//! Files are downloaded from `{endpoint}/{org}/{repo}/resolve/{revision}/{path}`
//! (huggingface_hub's `HUGGINGFACE_CO_URL_TEMPLATE`), which redirects to a CDN; the token is
//! sent to the endpoint's host only, never across the redirect.
//!
//! Errors follow the Hub's `X-Error-Code` header (`GatedRepo`, `RepoNotFound`,
//! `RevisionNotFound`, `EntryNotFound`, as huggingface_hub's `hf_raise_for_status` reads
//! it). Without a token the Hub answers 401 for gated, private *and* missing repositories
//! alike, so the message names all three.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::ModelError;
use super::http;
use super::manifest::{check_name, check_sha256};

/// The public Hub, used when `HF_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Environment variable naming another Hub endpoint (a mirror, or a test's fake), as in
/// huggingface_hub.
pub const ENDPOINT_ENV: &str = "HF_ENDPOINT";
/// Environment variable holding a Hub access token, as in huggingface_hub.
pub const TOKEN_ENV: &str = "HF_TOKEN";
/// Name of the systemd credential holding a Hub token
/// (`LoadCredential=hf_token:/etc/hearth/hf_token`, read from `$CREDENTIALS_DIRECTORY`; see
/// systemd.exec(5), "Credentials").
pub const TOKEN_CREDENTIAL: &str = "hf_token";

/// Largest paths-info answer read, in bytes (one path asked: a few hundred bytes).
const MAX_API_BODY: u64 = 1 << 20;

/// A file in a Hugging Face model repository: `org/repo[@revision]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfRef {
    /// `org/repo`.
    pub repo: String,
    /// Branch, tag or commit; `main` when the reference names none.
    pub revision: String,
    /// Path of the file inside the repository (may contain `/`).
    pub path: String,
}

impl HfRef {
    /// Parses `org/repo/path` or `org/repo@revision/path` (without the `hf:` prefix).
    ///
    /// # Errors
    /// A sentence saying what is wrong: too few parts, characters outside
    /// `[A-Za-z0-9._-]` in the organisation or repository, an empty revision, or an empty,
    /// `.` or `..` path segment.
    pub fn parse(text: &str) -> Result<HfRef, String> {
        let mut parts = text.splitn(3, '/');
        let (Some(org), Some(repo_rev), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "{text:?} is not org/repo/file or org/repo@revision/file"
            ));
        };
        let (repo, revision) = match repo_rev.split_once('@') {
            Some((repo, rev)) => (repo, rev),
            None => (repo_rev, "main"),
        };
        check_name("organisation", org)?;
        check_name("repository", repo)?;
        if revision.is_empty()
            || revision
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "revision {revision:?} must be a non-empty branch, tag or commit"
            ));
        }
        let bad_segment = |s: &str| s.is_empty() || s == "." || s == ".." || s.contains('\\');
        if path.split('/').any(bad_segment) || path.chars().any(char::is_control) {
            return Err(format!(
                "path {path:?} in the repository is not a plain file path"
            ));
        }
        Ok(HfRef {
            repo: format!("{org}/{repo}"),
            revision: revision.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The last segment of the path: the file's own name.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

impl fmt::Display for HfRef {
    /// `org/repo@revision/path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}/{}", self.repo, self.revision, self.path)
    }
}

/// A Hub access token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct HubToken(String);

impl HubToken {
    /// A token from its text (surrounding whitespace trimmed); `None` when empty.
    pub fn new(text: &str) -> Option<HubToken> {
        let t = text.trim();
        (!t.is_empty()).then(|| HubToken(t.to_owned()))
    }

    /// The token itself, for an `Authorization` header.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HubToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubToken(…)")
    }
}

/// Where the Hub is and how Hearth authenticates to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    /// Base URL without a trailing `/`, e.g. `https://huggingface.co`.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer …` to the endpoint (API calls and `resolve`
    /// downloads), never to other hosts.
    pub token: Option<HubToken>,
}

impl Default for Hub {
    /// The public Hub, no token.
    fn default() -> Self {
        Hub {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            token: None,
        }
    }
}

impl Hub {
    /// The Hub from the environment: see [`Hub::from_lookup`].
    pub fn from_env() -> Hub {
        Hub::from_lookup(&|name| std::env::var(name).ok(), &|path| {
            std::fs::read_to_string(path).ok()
        })
    }

    /// The Hub as `env` (an environment) and `read` (a file reader) describe it.
    ///
    /// Endpoint: `HF_ENDPOINT`, else <https://huggingface.co>. Token, the first found of:
    /// `HF_TOKEN`; the systemd credential `hf_token` (`$CREDENTIALS_DIRECTORY/hf_token`);
    /// the file huggingface_hub's `hf auth login` writes — `HF_TOKEN_PATH`, else
    /// `$HF_HOME/token`, else `$XDG_CACHE_HOME/huggingface/token`, else
    /// `~/.cache/huggingface/token` (huggingface_hub's `constants.HF_TOKEN_PATH`).
    pub fn from_lookup(
        env: &dyn Fn(&str) -> Option<String>,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Hub {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let endpoint = set(ENDPOINT_ENV)
            .map(|e| e.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let mut files: Vec<PathBuf> = Vec::new();
        if let Some(dir) = set("CREDENTIALS_DIRECTORY") {
            files.push(Path::new(&dir).join(TOKEN_CREDENTIAL));
        }
        let hf_home = set("HF_HOME").map(PathBuf::from).or_else(|| {
            let cache = set("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|h| Path::new(&h).join(".cache")))?;
            Some(cache.join("huggingface"))
        });
        match set("HF_TOKEN_PATH") {
            Some(p) => files.push(PathBuf::from(p)),
            None => files.extend(hf_home.map(|h| h.join("token"))),
        }
        let token = set(TOKEN_ENV).and_then(|t| HubToken::new(&t)).or_else(|| {
            files
                .iter()
                .find_map(|p| read(p).and_then(|t| HubToken::new(&t)))
        });
        Hub { endpoint, token }
    }

    /// Download URL of `r`: `{endpoint}/{repo}/resolve/{revision}/{path}`, percent-encoded.
    pub fn resolve_url(&self, r: &HfRef) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            r.repo,
            encode(&r.revision, false),
            encode(&r.path, true)
        )
    }

    /// The repository's page, where a gated model's licence is accepted.
    pub fn repo_page(&self, repo: &str) -> String {
        format!("{}/{repo}", self.endpoint)
    }

    /// The `hf:` reference a URL on this Hub's `resolve` path stands for, if it is one
    /// (`{endpoint}/{org}/{repo}/resolve/{revision}/{path}`, without query).
    pub fn ref_of_url(&self, url: &str) -> Option<HfRef> {
        let rest = url.strip_prefix(&self.endpoint)?.strip_prefix('/')?;
        let rest = rest.split(['?', '#']).next()?;
        let mut parts = rest.splitn(5, '/');
        let (org, repo) = (parts.next()?, parts.next()?);
        if parts.next()? != "resolve" {
            return None;
        }
        let (revision, path) = (parts.next()?, parts.next()?);
        if revision.contains('%') || path.contains('%') {
            return None;
        }
        HfRef::parse(&format!("{org}/{repo}@{revision}/{path}")).ok()
    }

    /// The advice given when the Hub refuses `repo` with HTTP 401/403.
    pub fn access_advice(&self, repo: &str, error_code: Option<&str>) -> String {
        let what = match error_code {
            Some("GatedRepo") => "the repository is gated".to_owned(),
            Some("RepoNotFound") => "the repository is private or does not exist".to_owned(),
            _ => "the repository is gated (Llama and Gemma are), private, or does not exist"
                .to_owned(),
        };
        let token = if self.token.is_some() {
            "A token was sent: its account has not accepted the licence yet, or the token \
             lacks read access."
        } else {
            "No token was sent."
        };
        format!(
            "{what}. If it is gated, open {} and accept its licence while logged in, then \
             give Hearth a read token of that account: the {TOKEN_ENV} environment variable, \
             a systemd credential named {TOKEN_CREDENTIAL}, or the file `hf auth login` \
             writes (~/.cache/huggingface/token). {token}",
            self.repo_page(repo)
        )
    }

    /// The size (bytes) and sha256 the Hub publishes for `r`. Blocking.
    ///
    /// # Errors
    /// [`ModelError::Gated`] on HTTP 401/403 (with the licence page to visit);
    /// [`ModelError::Hub`] when the Hub cannot be reached, answers another error status,
    /// lists no such file, or publishes no sha256 for it (a file outside Git LFS).
    pub fn file_info(&self, r: &HfRef, timeout: Duration) -> Result<HubFile, ModelError> {
        let url = format!(
            "{}/api/models/{}/paths-info/{}",
            self.endpoint,
            r.repo,
            encode(&r.revision, false)
        );
        let hub_err = |reason: String, retryable: bool| ModelError::Hub {
            what: format!("hf:{r}"),
            reason,
            retryable,
        };
        let body = serde_json::json!({ "paths": [r.path] }).to_string();
        let mut request = http::agent(&url, timeout)
            .post(&url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.secret()));
        }
        let response = request
            .send(body.as_str())
            .map_err(|e| hub_err(format!("{}: {e}", self.endpoint), true))?;
        let status = response.status().as_u16();
        let error_code = response
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match status {
            200 => {}
            401 | 403 => {
                return Err(ModelError::Gated {
                    repo: r.repo.clone(),
                    status,
                    advice: self.access_advice(&r.repo, error_code.as_deref()),
                });
            }
            _ => {
                let what = match error_code.as_deref() {
                    Some("RepoNotFound") => format!("no repository {}", r.repo),
                    Some("RevisionNotFound") => format!("no revision {:?}", r.revision),
                    Some(code) => code.to_owned(),
                    None => "error".to_owned(),
                };
                return Err(hub_err(
                    format!("HTTP {status} ({what}) from {}", self.endpoint),
                    status >= 500 || status == 429,
                ));
            }
        }
        let text = response
            .into_body()
            .with_config()
            .limit(MAX_API_BODY)
            .read_to_string()
            .map_err(|e| hub_err(format!("reading the answer: {e}"), true))?;
        let entries: Vec<PathInfo> = serde_json::from_str(&text)
            .map_err(|e| hub_err(format!("unexpected paths-info answer: {e}"), false))?;
        let entry = entries
            .into_iter()
            .find(|e| e.path == r.path)
            .ok_or_else(|| {
                hub_err(
                    format!("{}@{} has no file {}", r.repo, r.revision, r.path),
                    false,
                )
            })?;
        if entry.kind != "file" {
            return Err(hub_err(
                format!("{} is a {}, not a file", r.path, entry.kind),
                false,
            ));
        }
        let lfs = entry.lfs.ok_or_else(|| {
            hub_err(
                "the Hub publishes no sha256 for this file (it is not stored in Git LFS); \
                 pull it by its resolve URL with --sha256"
                    .to_owned(),
                false,
            )
        })?;
        let sha256 = lfs.oid.to_ascii_lowercase();
        check_sha256(&r.path, &sha256).map_err(|e| hub_err(e, false))?;
        if lfs.size == 0 || lfs.size != entry.size {
            return Err(hub_err(
                format!("inconsistent sizes {} and {}", entry.size, lfs.size),
                false,
            ));
        }
        Ok(HubFile {
            size: lfs.size,
            sha256,
        })
    }
}

/// What the Hub publishes for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// Size, in bytes.
    pub size: u64,
    /// sha256 of the contents (the LFS object id), 64 lower-case hex digits.
    pub sha256: String,
}

/// One entry of a paths-info answer (unknown fields ignored).
#[derive(Deserialize)]
struct PathInfo {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    lfs: Option<LfsInfo>,
}

#[derive(Deserialize)]
struct LfsInfo {
    oid: String,
    size: u64,
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/` when
/// `keep_slash`), as huggingface_hub's `quote(…, safe="")` does for revisions.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn references_parse_with_and_without_revision() {
        let r = HfRef::parse("Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf").unwrap();
        assert_eq!(
            (r.repo.as_str(), r.revision.as_str(), r.path.as_str()),
            ("Qwen/Qwen3-0.6B-GGUF", "main", "Qwen3-0.6B-Q8_0.gguf")
        );
        let r = HfRef::parse("org/repo@v1.0/sub/dir/m.gguf").unwrap();
        assert_eq!(
            (r.revision.as_str(), r.path.as_str()),
            ("v1.0", "sub/dir/m.gguf")
        );
        assert_eq!(r.file_name(), "m.gguf");
        assert_eq!(r.to_string(), "org/repo@v1.0/sub/dir/m.gguf");
        for bad in [
            "org/repo",
            "org/re po/f",
            "org/repo@/f",
            "org/repo/../f",
            "org/repo/a//b",
            "./r/f",
        ] {
            assert!(HfRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_urls_are_encoded_and_recognised() {
        let hub = Hub::default();
        let r = HfRef::parse("org/repo@v1+rc/sub/a b.gguf").unwrap();
        assert_eq!(
            hub.resolve_url(&r),
            "https://huggingface.co/org/repo/resolve/v1%2Brc/sub/a%20b.gguf"
        );
        let url = "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf?download=true";
        let r = hub.ref_of_url(url).unwrap();
        assert_eq!(r.repo, "bartowski/Llama-3.2-1B-Instruct-GGUF");
        assert_eq!(r.path, "Llama-3.2-1B-Instruct-Q4_K_M.gguf");
        assert!(
            hub.ref_of_url("https://example.org/org/repo/resolve/main/f.gguf")
                .is_none()
        );
        assert!(
            hub.ref_of_url("https://huggingface.co/org/repo/blob/main/f.gguf")
                .is_none()
        );
    }

    #[test]
    fn endpoint_and_token_come_from_the_environment_then_files() {
        let files: HashMap<PathBuf, String> = [
            (PathBuf::from("/creds/hf_token"), "cred-token\n".to_owned()),
            (
                PathBuf::from("/home/u/.cache/huggingface/token"),
                "login-token\n".to_owned(),
            ),
            (PathBuf::from("/hf/token"), "home-token".to_owned()),
        ]
        .into();
        let read = |p: &Path| files.get(p).cloned();
        let hub_with = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Hub::from_lookup(&|n| vars.get(n).cloned(), &read)
        };

        let hub = hub_with(&[]);
        assert_eq!(
            (hub.endpoint.as_str(), hub.token.is_none()),
            (DEFAULT_ENDPOINT, true)
        );

        let hub = hub_with(&[
            ("HF_ENDPOINT", "http://127.0.0.1:9/ "),
            ("HF_TOKEN", " t1 "),
        ]);
        assert_eq!(hub.endpoint, "http://127.0.0.1:9");
        assert_eq!(hub.token, HubToken::new("t1"));
        assert_eq!(format!("{:?}", hub.token), "Some(HubToken(…))");

        let home = [("HOME", "/home/u")];
        assert_eq!(hub_with(&home).token, HubToken::new("login-token"));
        let both = [("HOME", "/home/u"), ("CREDENTIALS_DIRECTORY", "/creds")];
        assert_eq!(hub_with(&both).token, HubToken::new("cred-token"));
        assert_eq!(
            hub_with(&[("HF_HOME", "/hf")]).token,
            HubToken::new("home-token")
        );
        let unreadable = [("HOME", "/home/u"), ("HF_TOKEN_PATH", "/nope")];
        assert_eq!(hub_with(&unreadable).token, None);
    }
}
