//! Errors of the `models` module: [`ModelError`] for callers, [`SourceError`] for why one
//! download source of one file failed.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while reading manifests or installing a model.
///
/// Messages name the model, the file and, for downloads, each source tried and why it
/// failed. URLs in messages have credentials and query strings removed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No embedded manifest has this name.
    #[error("unknown model {name:?}: see `hearth models list` for the known models")]
    UnknownModel {
        /// The name asked for.
        name: String,
    },

    /// The model has no file of this name.
    #[error("model {model} has no file named {file:?}")]
    UnknownFile {
        /// Model name.
        model: String,
        /// The file name asked for.
        file: String,
    },

    /// A manifest failed to parse or to validate.
    #[error("invalid model manifest {origin}: {reason}")]
    Manifest {
        /// Where the manifest came from (its file name, or the model name).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A local file operation failed (disk full, permissions, …).
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "writing".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A local file given to [`import_file`](super::import_file) has the wrong size.
    #[error("{file} of {model}: size mismatch: expected {expected} bytes, got {got}")]
    SizeMismatch {
        /// Model name.
        model: String,
        /// File name.
        file: String,
        /// Size from the manifest, in bytes.
        expected: u64,
        /// Size found, in bytes.
        got: u64,
    },

    /// A local file given to [`import_file`](super::import_file) has the wrong checksum.
    #[error("{file} of {model}: sha256 mismatch: expected {expected}, got {got}")]
    ChecksumMismatch {
        /// Model name.
        model: String,
        /// File name.
        file: String,
        /// Lower-case hex sha256 from the manifest.
        expected: String,
        /// Lower-case hex sha256 of the data.
        got: String,
    },

    /// Every source of one file failed; `failures` holds one entry per source, in order.
    #[error(
        "could not fetch {file} of {model}; every source failed:{}",
        FailureList(failures)
    )]
    AllSourcesFailed {
        /// Model name.
        model: String,
        /// File name.
        file: String,
        /// Each source tried, with why it failed.
        failures: Vec<SourceFailure>,
    },

    /// Another `pull` of the same model holds its lock.
    #[error("another pull of {name} is running (lock {})", path.display())]
    Busy {
        /// Model name.
        name: String,
        /// The lock file.
        path: PathBuf,
    },

    /// The Hugging Face Hub refused access to a repository (HTTP 401 or 403).
    #[error("Hugging Face refused access to {repo} (HTTP {status}): {advice}")]
    Gated {
        /// `org/repo`.
        repo: String,
        /// 401 or 403.
        status: u16,
        /// What to do: the licence page to accept and where the token goes.
        advice: String,
    },

    /// The Hugging Face Hub API could not tell a file's size and sha256.
    #[error("Hugging Face Hub, {what}: {reason}")]
    Hub {
        /// The reference asked about, `hf:org/repo@revision/path`.
        what: String,
        /// Why: unreachable, an error status, no such file, no published sha256.
        reason: String,
        /// Whether asking again later may succeed (network trouble, 5xx, 429).
        retryable: bool,
    },

    /// A file that must be a GGUF does not start with the GGUF magic `GGUF`; nothing was
    /// installed.
    #[error(
        "{file} of {model} is not a GGUF file (it starts with {found:?}, not \"GGUF\"); \
         nothing was installed"
    )]
    NotGguf {
        /// Model name.
        model: String,
        /// File name.
        file: String,
        /// Its first bytes, lossily as text.
        found: String,
    },

    /// A pulled GGUF cannot be used: its header is malformed, or its architecture is not
    /// one Hearth's decoder runs. Nothing was installed.
    #[error("{file}: {reason}; nothing was installed")]
    BadGguf {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },

    /// A model reference or pull option is unusable (a URL without a checksum to check it
    /// against, a name already taken, a file name that is not `.gguf`).
    #[error("{reference}: {reason}")]
    BadRequest {
        /// The reference as given (URL redacted).
        reference: String,
        /// What is wrong and what to do.
        reason: String,
    },
}

impl ModelError {
    /// Whether trying the same operation again later may succeed: true when some source
    /// failed for a network reason (unreachable, timeout, server error, truncated body) and
    /// when another pull holds the lock.
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::AllSourcesFailed { failures, .. } => {
                failures.iter().any(|f| f.error.is_retryable())
            }
            ModelError::Busy { .. } => true,
            ModelError::Hub { retryable, .. } => *retryable,
            _ => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ModelError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// One source of one file, and why it failed.
#[derive(Debug)]
pub struct SourceFailure {
    /// The source as shown to users: a URL, or "member M of wheel URL". Redacted.
    pub source: String,
    /// Why it failed.
    pub error: SourceError,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.error)
    }
}

struct FailureList<'a>(&'a [SourceFailure]);

impl fmt::Display for FailureList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(" (no sources)");
        }
        for failure in self.0 {
            write!(f, "\n  - {failure}")?;
        }
        Ok(())
    }
}

/// Why a single download source failed. The pull moves on to the next source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The server answered with an HTTP status other than 200, 206 or 416.
    #[error("HTTP status {status}")]
    Status {
        /// The status code, e.g. 404.
        status: u16,
    },
    /// The Hugging Face Hub refused a `resolve` download (HTTP 401/403).
    #[error("HTTP status {status}: {advice}")]
    Denied {
        /// 401 or 403.
        status: u16,
        /// What to do: the licence page to accept and where the token goes.
        advice: String,
    },
    /// The connection failed or timed out.
    #[error("network error: {0}")]
    Network(String),
    /// The server's answer did not fit the request (bad `Content-Range`, wrong length, too
    /// many bytes).
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// The body ended before the expected size; the `.part` file is kept for resuming.
    #[error("download stopped after {got} of {expected} bytes (kept for resume)")]
    Truncated {
        /// Bytes on disk, in bytes.
        got: u64,
        /// Expected size, in bytes.
        expected: u64,
    },
    /// The downloaded (or extracted) bytes have the wrong sha256; the `.part` was deleted.
    #[error("sha256 mismatch for {what}: expected {expected}, got {got}")]
    Checksum {
        /// What was checked: a file name or a wheel name.
        what: String,
        /// Lower-case hex sha256 from the manifest.
        expected: String,
        /// Lower-case hex sha256 of the bytes received.
        got: String,
    },
    /// The wheel could not be read, or lacks the member, or the member has the wrong size.
    #[error("wheel: {0}")]
    Wheel(String),
}

impl SourceError {
    /// Whether the failure may go away by itself (network trouble, server errors, a
    /// truncated body).
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Network(_) | SourceError::Truncated { .. } => true,
            SourceError::Status { status } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// A URL fit for messages and logs: no `user:password@`, no query string, no fragment.
pub(crate) fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_strips_credentials_and_query() {
        assert_eq!(
            redact_url("https://user:pw@host:8080/a/b.whl?token=x#f"),
            "https://host:8080/a/b.whl"
        );
        assert_eq!(redact_url("http://127.0.0.1/x"), "http://127.0.0.1/x");
        assert_eq!(redact_url("https://h/p@q"), "https://h/p@q");
    }

    #[test]
    fn all_sources_failed_lists_each_source() {
        let err = ModelError::AllSourcesFailed {
            model: "m".into(),
            file: "f.gguf".into(),
            failures: vec![
                SourceFailure {
                    source: "https://a/f.gguf".into(),
                    error: SourceError::Status { status: 404 },
                },
                SourceFailure {
                    source: "member f.gguf of wheel https://b/w.whl".into(),
                    error: SourceError::Network("timed out".into()),
                },
            ],
        };
        let text = err.to_string();
        assert!(text.contains("https://a/f.gguf: HTTP status 404"), "{text}");
        assert!(
            text.contains("wheel https://b/w.whl: network error: timed out"),
            "{text}"
        );
        assert!(err.is_retryable());
    }
}
