//! Config errors that name the file, line and dotted key, and map to exit code 78.

use std::path::{Path, PathBuf};

/// `sysexits.h` EX_CONFIG: the exit code for any configuration error, so systemd's
/// `RestartPreventExitStatus=78` stops a restart loop on a bad file.
pub const EX_CONFIG: i32 = 78;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, permissions).
    #[error("{}: cannot read config: {source}", file.display())]
    Read {
        /// The path tried.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{}:{line}:{column}: {}{message}", file.display(), key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key at that place, when one can be named.
        key: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// A well-typed value that cannot work.
    #[error("{}:{}: {key}: {message}", file.display(), line.map(|l| l.to_string()).unwrap_or_else(|| "-".into()))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line of the key, when it appears in the file.
        line: Option<usize>,
        /// Dotted key.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A secret reference could not be resolved.
    #[error("secret {0}")]
    Secret(String),
    /// A setting this build cannot honour: it names a part (a cargo feature) the binary was
    /// built without.
    #[error("{key}: {message}")]
    Unsupported {
        /// Dotted key.
        key: String,
        /// What is missing and what to do instead.
        message: String,
    },
}

impl ConfigError {
    /// The process exit code for this error (always 78, EX_CONFIG).
    pub fn exit_code(&self) -> i32 {
        EX_CONFIG
    }
}

/// Converts a toml error into [`ConfigError::Syntax`] with line, column and dotted key.
pub(super) fn from_toml(e: &toml::de::Error, text: &str, file: &Path) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    ConfigError::Syntax {
        file: file.to_path_buf(),
        line,
        column,
        key: key_at_line(text, line),
        message: e.message().trim().to_string(),
    }
}

/// The dotted key defined on 1-based `line`: the nearest `[table]` header above it joined
/// with the bare key before `=` (or the header itself when the line is one).
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    let table = |l: &str| -> Option<String> {
        let l = l.trim();
        l.strip_prefix("[[")
            .and_then(|r| r.strip_suffix("]]"))
            .or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))
            .map(|t| t.trim().to_string())
    };
    if let Some(t) = table(here) {
        return Some(t);
    }
    let key = here.split_once('=')?.0.trim().trim_matches('"').to_string();
    let header = lines[..line - 1].iter().rev().find_map(|l| table(l));
    Some(match header {
        Some(h) => format!("{h}.{key}"),
        None => key,
    })
}

/// The 1-based line where dotted `key` is assigned, if it appears literally in the file.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == key {
                return Some(i + 1);
            }
            continue;
        }
        if let Some((k, _)) = t.split_once('=')
            && k.trim() == leaf
            && current == table
        {
            return Some(i + 1);
        }
    }
    None
}
