//! Gating: OpenClaw's `metadata.openclaw` block and the check of a skill's requirements
//! against the host (<https://docs.openclaw.ai/tools/skills>, "Gating"; the order of checks
//! follows OpenClaw's `shouldIncludeSkill`, `src/agents/skills/config.ts`).
//!
//! Imports nothing of Hearth.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Keys of `metadata` read as the OpenClaw block, first found wins: `openclaw`, then the
/// legacy `clawdbot` (OpenClaw's `MANIFEST_KEY` and `LEGACY_MANIFEST_KEYS`).
pub const MANIFEST_KEYS: [&str; 2] = ["openclaw", "clawdbot"];

/// What a skill needs before it is offered (`metadata.openclaw.requires`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// `bins`: every one must be an executable file in a `PATH` directory.
    pub bins: Vec<String>,
    /// `anyBins`: at least one must be on `PATH` (an empty list asks nothing).
    pub any_bins: Vec<String>,
    /// `env`: every variable must be set and non-empty (or supplied by config, see
    /// [`Host::env`]).
    pub env: Vec<String>,
    /// `config`: OpenClaw config paths that must be truthy; Hearth knows only those the
    /// integrator lists in [`Host::config`].
    pub config: Vec<String>,
}

/// The `metadata.openclaw` block of a SKILL.md; unknown keys (`install`, …) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenClawMeta {
    /// `always`: offered whatever `requires` says (the `os` list still applies).
    pub always: bool,
    /// `os`: platforms the skill runs on, in Node's names (`linux`, `darwin`, `win32`); empty
    /// means any.
    pub os: Vec<String>,
    /// `requires`.
    pub requires: Requirements,
    /// `primaryEnv`: the variable a configured API key feeds.
    pub primary_env: Option<String>,
    /// `skillKey`: the key config uses for this skill instead of its name.
    pub skill_key: Option<String>,
    /// `emoji`, for listings.
    pub emoji: Option<String>,
    /// `homepage`.
    pub homepage: Option<String>,
}

impl OpenClawMeta {
    /// Reads the OpenClaw block out of a skill's `metadata` object; `Ok(None)` when it has
    /// none (such a skill is always eligible, as in OpenClaw).
    ///
    /// Lists (`os`, `requires.*`) are JSON arrays of strings or one comma-separated string, as
    /// OpenClaw's `normalizeStringList` accepts.
    ///
    /// # Errors
    /// A message naming the key when a gating field has the wrong type (the block is not an
    /// object, `always` is not a boolean, a list is neither an array of strings nor a string).
    /// Gating is never silently dropped: a skill whose requirements cannot be read is refused.
    pub fn from_metadata(metadata: &Map<String, Value>) -> Result<Option<OpenClawMeta>, String> {
        let Some((key, block)) = MANIFEST_KEYS
            .iter()
            .find_map(|k| metadata.get(*k).map(|v| (*k, v)))
        else {
            return Ok(None);
        };
        let Value::Object(block) = block else {
            return Err(format!("`metadata.{key}` must be an object"));
        };
        let always = match block.get("always") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(format!("`metadata.{key}.always` must be true or false")),
        };
        let list =
            |obj: &Map<String, Value>, field: &str, path: &str| -> Result<Vec<String>, String> {
                string_list(obj.get(field))
                    .ok_or_else(|| format!("`{path}` must be a list of strings"))
            };
        let requires = match block.get("requires") {
            None | Some(Value::Null) => Requirements::default(),
            Some(Value::Object(r)) => Requirements {
                bins: list(r, "bins", &format!("metadata.{key}.requires.bins"))?,
                any_bins: list(r, "anyBins", &format!("metadata.{key}.requires.anyBins"))?,
                env: list(r, "env", &format!("metadata.{key}.requires.env"))?,
                config: list(r, "config", &format!("metadata.{key}.requires.config"))?,
            },
            Some(_) => return Err(format!("`metadata.{key}.requires` must be an object")),
        };
        let text = |field: &str| block.get(field).and_then(Value::as_str).map(str::to_string);
        Ok(Some(OpenClawMeta {
            always,
            os: list(block, "os", &format!("metadata.{key}.os"))?,
            requires,
            primary_env: text("primaryEnv"),
            skill_key: text("skillKey"),
            emoji: text("emoji"),
            homepage: text("homepage"),
        }))
    }
}

/// A JSON list of strings or a comma-separated string, trimmed, empties dropped; `None` for
/// any other type. Absent or `null` is the empty list.
fn string_list(value: Option<&Value>) -> Option<Vec<String>> {
    let clean = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(s)) => Some(s.split(',').filter_map(clean).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(clean))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect()),
        Some(_) => None,
    }
}

/// The facts gating is checked against. [`Host::current`] reads them from this process;
/// tests and the integrator may build one by hand.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The platform in Node's `process.platform` names: `linux`, `darwin`, `win32`, …
    pub os: String,
    /// Directories searched for `bins`, in order (the `PATH` entries).
    pub path: Vec<PathBuf>,
    /// Names of the environment variables that count as set. [`Host::current`] takes those
    /// set to a non-empty value; the integrator adds the names config supplies (OpenClaw's
    /// `skills.entries.<key>.env` and `apiKey` for `primaryEnv`).
    pub env: BTreeSet<String>,
    /// `requires.config` paths that count as truthy; empty unless the integrator maps some.
    pub config: BTreeSet<String>,
}

impl Host {
    /// The running process's platform, `PATH` and non-empty environment variables.
    pub fn current() -> Host {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            "windows" => "win32",
            other => other,
        };
        let path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        let env = std::env::vars_os()
            .filter(|(_, v)| !v.is_empty())
            .filter_map(|(k, _): (OsString, OsString)| k.into_string().ok())
            .collect();
        Host {
            os: os.to_string(),
            path,
            env,
            config: BTreeSet::new(),
        }
    }

    /// Whether `bin` names an executable regular file in one of [`Host::path`]'s directories.
    /// A name with a `/` is never looked up.
    pub fn has_bin(&self, bin: &str) -> bool {
        !bin.is_empty()
            && !bin.contains('/')
            && self.path.iter().any(|dir| is_executable(&dir.join(bin)))
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// One unmet requirement of a skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The host's platform is not in the skill's `os` list.
    Os {
        /// The skill's `os` list.
        allowed: Vec<String>,
        /// [`Host::os`].
        host: String,
    },
    /// A `bins` entry is not on `PATH`.
    Bin(String),
    /// None of the `anyBins` entries is on `PATH`.
    AnyBin(Vec<String>),
    /// An `env` variable is unset or empty.
    Env(String),
    /// A `config` path is not truthy.
    Config(String),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Os { allowed, host } => {
                write!(f, "needs os {} (host is {host})", allowed.join("/"))
            }
            Missing::Bin(b) => write!(f, "missing bin {b}"),
            Missing::AnyBin(bins) => write!(f, "missing any of bins {}", bins.join(", ")),
            Missing::Env(e) => write!(f, "env {e} unset"),
            Missing::Config(c) => write!(f, "config {c} not set"),
        }
    }
}

/// The reasons in one line, `; `-separated, with missing bins and unset variables each
/// grouped: `missing bins df, free; env TOKEN unset`.
pub fn describe(missing: &[Missing]) -> String {
    let bins: Vec<&str> = missing
        .iter()
        .filter_map(|m| {
            if let Missing::Bin(b) = m {
                Some(b.as_str())
            } else {
                None
            }
        })
        .collect();
    let env: Vec<&str> = missing
        .iter()
        .filter_map(|m| {
            if let Missing::Env(e) = m {
                Some(e.as_str())
            } else {
                None
            }
        })
        .collect();
    let mut parts = Vec::new();
    for m in missing {
        match m {
            Missing::Bin(b) if bins.len() > 1 => {
                if bins[0] == b {
                    parts.push(format!("missing bins {}", bins.join(", ")));
                }
            }
            Missing::Env(e) if env.len() > 1 => {
                if env[0] == e {
                    parts.push(format!("env {} unset", env.join(", ")));
                }
            }
            other => parts.push(other.to_string()),
        }
    }
    parts.join("; ")
}

/// Every unmet requirement of `meta` on `host`, in OpenClaw's order: `os`, then (unless
/// `always`) `bins`, `anyBins`, `env`, `config`. Empty means the skill may be offered.
pub fn check(meta: &OpenClawMeta, host: &Host) -> Vec<Missing> {
    let mut missing = Vec::new();
    if !meta.os.is_empty() && !meta.os.contains(&host.os) {
        missing.push(Missing::Os {
            allowed: meta.os.clone(),
            host: host.os.clone(),
        });
    }
    if meta.always {
        return missing;
    }
    let req = &meta.requires;
    missing.extend(
        req.bins
            .iter()
            .filter(|b| !host.has_bin(b))
            .map(|b| Missing::Bin(b.clone())),
    );
    if !req.any_bins.is_empty() && !req.any_bins.iter().any(|b| host.has_bin(b)) {
        missing.push(Missing::AnyBin(req.any_bins.clone()));
    }
    missing.extend(
        req.env
            .iter()
            .filter(|e| !host.env.contains(*e))
            .map(|e| Missing::Env(e.clone())),
    );
    missing.extend(
        req.config
            .iter()
            .filter(|c| !host.config.contains(*c))
            .map(|c| Missing::Config(c.clone())),
    );
    missing
}
