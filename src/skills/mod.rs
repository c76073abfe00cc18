//! Skills: folders of instructions in the AgentSkills / OpenClaw `SKILL.md` format, found in
//! three sources, gated on the host, listed to the model by name and description and read on
//! demand.
//!
//! Formats followed: the AgentSkills specification (<https://agentskills.io/specification>)
//! and OpenClaw's skills (<https://docs.openclaw.ai/tools/skills>): a skill is a folder with a
//! `SKILL.md` that opens with YAML frontmatter between `---` lines (`name`, `description`,
//! optional `license`, `compatibility`, `allowed-tools`, `metadata`; see [`Frontmatter`])
//! followed by the markdown body.
//!
//! # Sources and precedence
//! [`Source::Workspace`] (the agent workspace's `skills/`, read through the integrator's
//! [`SkillFs`] over the race-free `Workspace`) beats [`Source::Managed`] (`<data_dir>/skills`,
//! [`StdFs`]) beats [`Source::Bundled`] (compiled in with `include_str!`: `system-health`,
//! `service-logs`). This is OpenClaw's order without its `.agents` tiers. Only direct
//! subfolders of a root are skills (`<root>/<folder>/SKILL.md`; OpenClaw scans deeper);
//! folders starting with `.` are skipped. The winner of a name shadows the others whatever
//! their gating, as in OpenClaw; [`Catalog::list_lines`] shows both sides. A SKILL.md that
//! fails to load shadows nothing.
//!
//! # Strictness
//! A SKILL.md that cannot be trusted is refused: it becomes a [`SkillError`] naming the file
//! and the line of the file (line 1 is the opening `---`), never a panic, and the other
//! skills still load. Refused: not UTF-8; over [`Limits::max_file_bytes`]; no opening or no
//! closing `---`; invalid YAML (hinting to quote a value containing `: `, the usual
//! mistake; OpenClaw would fall back to a line parser); YAML aliases, several documents or
//! nesting over 32; a frontmatter that is not a mapping; duplicate keys; missing or empty
//! `name` or `description`; a field of the wrong type; a `name` breaking the AgentSkills
//! rules (1-64 of `a-z0-9-`, no leading, trailing or doubled hyphen), since a name is the key
//! of the `skill` tool and of config lists; a `metadata` string that is not a JSON object;
//! gating fields of the wrong type (ignoring them would offer the skill unchecked).
//! Warned ([`Skill::warnings`]) and loaded: `name` differing from its folder (AgentSkills
//! requires them equal, OpenClaw does not, and git checkouts rename folders), a
//! `description` over 1,024 or `compatibility` over 500 characters, an unreadable
//! `user-invocable`/`disable-model-invocation`. Unknown keys are ignored, as in OpenClaw.
//!
//! # Gating
//! `metadata.openclaw` (or legacy `metadata.clawdbot`) may hold `os`, `always` and
//! `requires.{bins, anyBins, env, config}` ([`OpenClawMeta`]); they are checked against a
//! [`Host`] ([`gate::check`]). Config rules ([`Policy`]) apply first. An unavailable skill is
//! listed with its reasons and left out of the prompt; [`Catalog::read_body`] refuses it.
//!
//! # Prompt and bodies
//! [`Catalog::prompt_block`] renders OpenClaw's `formatSkillsForPrompt` block
//! (`<available_skills>` of name, description, location), byte-for-byte but for the name of
//! the tool that reads a skill, with OpenClaw's compact form and truncation note when over
//! [`Limits::max_prompt_chars`]. The body is read only when the agent asks
//! ([`Catalog::read_body`]), capped at [`Limits::max_body_bytes`].
//!
//! # YAML: `saphyr-parser` 0.3 (decision and measured cost)
//! A release binary (opt-level "z", fat LTO, codegen-units 1, panic abort, strip) that
//! parses a frontmatter to `serde_json::Value`, against the same binary using serde_json
//! only; bytes added on 2026-12-05:
//!
//! | crate                        | aarch64-unknown-linux-musl | x86_64-unknown-linux-gnu |
//! |------------------------------|---------------------------:|-------------------------:|
//! | saphyr-parser 0.3.4 (chosen) |                    +55,768 |                  +67,224 |
//! | saphyr 0.3.4                 |                   +109,024 |                 +126,352 |
//! | serde_yaml_ng 0.10.0         |                   +109,120 |                 +119,584 |
//! | serde_norway 0.9.42          |                   +109,072 |                 +119,616 |
//! | yaml-rust2 0.13.2            |                   +110,032 |                 +126,568 |
//!
//! (yaml-rust2's default `encoding` feature pulls in encoding_rs, but LTO drops it unused:
//! x86_64 size is the same without it.) All are under the 150 KB bar, so no hand parser.
//! saphyr-parser is the cheapest; it is the maintained successor of yaml-rust's parser,
//! YAML 1.2 checked against the yaml-test-suite, safe Rust (the serde_yaml forks carry a
//! C-to-Rust translation of libyaml), adds one crate (arraydeque) besides thiserror, and its
//! events carry the line numbers the errors need; `yaml.rs` builds the tree from them.
//! The whole module (parser, code, the two bundled skills) adds 135,808 bytes to an
//! aarch64-musl release binary that otherwise reads a directory and parses JSON.
//!
//! Imports nothing of Hearth: std, serde_json, thiserror and saphyr-parser only.

mod bundled;
mod catalog;
mod frontmatter;
mod fs;
pub mod gate;
mod prompt;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_text;
mod yaml;

pub use catalog::Catalog;
pub use frontmatter::{Frontmatter, name_problem};
pub use fs::{SkillFs, StdFs};
pub use gate::{Host, Missing, OpenClawMeta, Requirements};
pub use prompt::PromptOptions;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// Where a skill was found; the order of the variants is their precedence (highest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The agent workspace's `skills/`.
    Workspace,
    /// The managed directory (`<data_dir>/skills` by default).
    Managed,
    /// Compiled into the binary.
    Bundled,
}

impl Source {
    /// `workspace`, `managed` or `bundled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Workspace => "workspace",
            Source::Managed => "managed",
            Source::Bundled => "bundled",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Size limits; the defaults are OpenClaw's (`skills.limits.*`) where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest SKILL.md read, in bytes (OpenClaw `maxSkillFileBytes`: 256,000).
    pub max_file_bytes: u64,
    /// Most folders looked at per root (OpenClaw `maxCandidatesPerRoot`: 300).
    pub max_dirs_per_root: usize,
    /// Most skills loaded per root (OpenClaw `maxSkillsLoadedPerSource`: 200).
    pub max_skills_per_root: usize,
    /// Most skills in the prompt block (OpenClaw `maxSkillsInPrompt`: 150).
    pub max_skills_in_prompt: usize,
    /// Most characters of the prompt block (OpenClaw `maxSkillsPromptChars`: 18,000).
    pub max_prompt_chars: usize,
    /// Most bytes of body [`Catalog::read_body`] returns: 64 KiB (AgentSkills advises bodies
    /// under 5,000 tokens, about 20 KB).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 256_000,
            max_dirs_per_root: 300,
            max_skills_per_root: 200,
            max_skills_in_prompt: 150,
            max_prompt_chars: 18_000,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Config rules applied before gating. Names match a skill's `name` or its
/// `metadata.openclaw.skillKey`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Skills turned off (`[skills] disabled`; OpenClaw `skills.entries.<key>.enabled = false`).
    pub disabled: BTreeSet<String>,
    /// When set, the only bundled skills offered (`[skills] allow_bundled`; OpenClaw
    /// `skills.allowBundled`). Other sources are not affected.
    pub allow_bundled: Option<BTreeSet<String>>,
    /// When set, the only skills offered at all (`[skills] only`; OpenClaw's per-agent
    /// `agents.*.skills`; an empty set offers none).
    pub only: Option<BTreeSet<String>>,
}

/// What [`Catalog::open`] needs besides the roots.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Size limits.
    pub limits: Limits,
    /// Config rules.
    pub policy: Policy,
}

/// The roots to scan; a `None` root is skipped. Bundled skills are always loaded (the
/// [`Policy`] decides whether they are offered).
#[derive(Clone, Default)]
pub struct Roots {
    /// The workspace's `skills/` (highest precedence).
    pub workspace: Option<Arc<dyn SkillFs>>,
    /// The managed directory.
    pub managed: Option<Arc<dyn SkillFs>>,
}

/// Which config rule turned a skill off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledBy {
    /// Listed in [`Policy::disabled`].
    Disabled,
    /// A bundled skill missing from [`Policy::allow_bundled`].
    NotAllowedBundled,
    /// Missing from [`Policy::only`].
    NotInOnly,
}

/// Whether a skill may be offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Every requirement is met.
    Available,
    /// Turned off by config.
    Disabled(DisabledBy),
    /// Requirements unmet on this host (never empty).
    Unavailable(Vec<Missing>),
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Available => f.write_str("available"),
            Availability::Disabled(DisabledBy::Disabled) => {
                f.write_str("disabled by skills.disabled")
            }
            Availability::Disabled(DisabledBy::NotAllowedBundled) => {
                f.write_str("disabled: not in skills.allow_bundled")
            }
            Availability::Disabled(DisabledBy::NotInOnly) => {
                f.write_str("disabled: not in skills.only")
            }
            Availability::Unavailable(missing) => {
                write!(f, "unavailable: {}", gate::describe(missing))
            }
        }
    }
}

/// A non-fatal problem in a loaded SKILL.md, at a line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line of the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One loaded skill.
#[derive(Debug, Clone)]
pub struct Skill {
    frontmatter: Frontmatter,
    source: Source,
    folder: String,
    location: String,
    base_dir: String,
    warnings: Vec<Warning>,
}

impl Skill {
    /// The frontmatter `name`.
    pub fn name(&self) -> &str {
        &self.frontmatter.name
    }
    /// The frontmatter `description`.
    pub fn description(&self) -> &str {
        &self.frontmatter.description
    }
    /// Every field read from the frontmatter.
    pub fn frontmatter(&self) -> &Frontmatter {
        &self.frontmatter
    }
    /// Where it was found.
    pub fn source(&self) -> Source {
        self.source
    }
    /// Its folder's name inside the root.
    pub fn folder(&self) -> &str {
        &self.folder
    }
    /// Its SKILL.md as named to the agent: [`SkillFs::display`], or `bundled:<name>/SKILL.md`.
    pub fn location(&self) -> &str {
        &self.location
    }
    /// Non-fatal problems found while loading.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    /// The key config lists match besides the name (`metadata.openclaw.skillKey`).
    fn key(&self) -> Option<&str> {
        self.frontmatter
            .openclaw
            .as_ref()
            .and_then(|m| m.skill_key.as_deref())
    }
}

/// A skill with its standing in the catalog.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The skill.
    pub skill: Skill,
    /// Whether it may be offered (computed for shadowed entries too).
    pub availability: Availability,
    /// The source of the same-named skill that wins over this one, if any.
    pub shadowed_by: Option<Source>,
}

impl Entry {
    /// Available and not shadowed: listed in the prompt (unless `disable-model-invocation`)
    /// and readable with [`Catalog::read_body`].
    pub fn is_offered(&self) -> bool {
        self.shadowed_by.is_none() && self.availability == Availability::Available
    }
}

/// A skill's markdown body, as [`Catalog::read_body`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The text after the closing `---` line, `{baseDir}` replaced by the skill's folder (as
    /// [`SkillFs::display`] names it), cut to [`Limits::max_body_bytes`] at a character boundary.
    pub text: String,
    /// Whether `text` was cut.
    pub truncated: bool,
    /// The file line `text` starts at.
    pub first_line: usize,
}

/// Why a skill did not load, or why a body cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// Listing a root or reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The root or file, as [`SkillFs::display`] names it.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is over [`Limits::max_file_bytes`].
    #[error("{path}: larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file is not UTF-8.
    #[error("{path}:{line}: not valid UTF-8")]
    NotUtf8 {
        /// The file.
        path: String,
        /// 1-based line of the first bad byte.
        line: usize,
    },
    /// Bad frontmatter: missing or unterminated, bad YAML, missing or invalid fields.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the file (line 1 is the opening `---`).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A second skill of the same name in the same root; the first one loaded is kept.
    #[error("{path}: skill `{name}` is already defined by {first}")]
    Duplicate {
        /// The file left out.
        path: String,
        /// The name both files give.
        name: String,
        /// The file kept.
        first: String,
    },
    /// A root holds more folders or skills than [`Limits`] allow; the rest were skipped.
    #[error("{path}: {what}; the rest were skipped")]
    TooMany {
        /// The root.
        path: String,
        /// Which limit, and how far over.
        what: String,
    },
    /// No skill of that name or location.
    #[error("no skill named `{0}`")]
    NotFound(String),
    /// The skill exists but is not offered (unavailable or disabled).
    #[error("skill `{name}` is {why}")]
    NotOffered {
        /// The skill.
        name: String,
        /// Its [`Availability`], rendered.
        why: String,
    },
}
