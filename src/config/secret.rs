//! Secret references: `env:NAME`, `file:/path`, `credential:NAME` (systemd
//! `LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`, see systemd.exec(5)
//! "Credentials"). Literal secrets are refused so they never sit in config files.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A reference to a secret, validated at parse time and resolved on use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretRef(String);

impl TryFrom<String> for SecretRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = ["env:", "file:", "credential:"]
            .iter()
            .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
        if ok {
            Ok(Self(s))
        } else {
            Err("secrets must be references: `env:NAME`, `file:/path` or `credential:NAME` (literal values are refused)".into())
        }
    }
}

impl From<SecretRef> for String {
    fn from(s: SecretRef) -> String {
        s.0
    }
}

impl SecretRef {
    /// The reference text (`env:OPENAI_API_KEY`), safe to show.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the secret. Trailing newlines of files and credentials are trimmed.
    ///
    /// # Errors
    /// A message naming the reference (never the value) when the variable is unset, the
    /// file unreadable, or `$CREDENTIALS_DIRECTORY` missing.
    pub fn resolve(&self) -> Result<String, String> {
        let value = if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name)
                .map_err(|_| format!("{}: environment variable {name} is not set", self.0))?
        } else if let Some(path) = self.0.strip_prefix("file:") {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", self.0))?
        } else if let Some(name) = self.0.strip_prefix("credential:") {
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                format!(
                    "{}: $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)",
                    self.0
                )
            })?;
            std::fs::read_to_string(PathBuf::from(dir).join(name))
                .map_err(|e| format!("{}: {e}", self.0))?
        } else {
            return Err(format!("{}: unknown secret reference", self.0));
        };
        let v = value.trim_end_matches(['\n', '\r']).to_string();
        if v.is_empty() {
            return Err(format!("{}: the secret is empty", self.0));
        }
        Ok(v)
    }
}
