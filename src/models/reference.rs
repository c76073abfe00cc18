//! Pulling by reference: a catalogue name, an `hf:org/repo[@revision]/file.gguf`, or a plain
//! `https://…/file.gguf`. A GGUF pulled by reference gets a manifest generated from what
//! the pull verified (size, sha256) and from its GGUF header (family, context window,
//! shape), recorded as `<models_dir>/<name>/manifest.toml`, so `hearth models list` shows
//! it and `local/<name>` names it in a model chain.
//!
//! **Checksums.** An `hf:` reference (or a URL on the Hub's `resolve` path, read as one) is
//! checked against the sha256 the Hub publishes for the file; a `--sha256` given as well
//! must agree with it. A plain URL has nobody vouching for its bytes: a hash computed from
//! the download itself would prove only that the bytes arrived as sent, not that they are
//! the model meant. So a plain URL needs `--sha256 HEX` (the publisher's checksum, or
//! `sha256sum` of a copy you trust) and is refused without one; Hearth does not trust it
//! on first use.

use std::fs;
use std::path::{Path, PathBuf};

use super::Progress;
use super::error::{ModelError, SourceFailure, redact_url};
use super::gguf;
use super::hf::{HfRef, Hub};
use super::http;
use super::layout::{self, remove_if_exists};
use super::manifest::{self, Family, FileSpec, HfSource, Kind, Manifest, Source, UrlSource};
use super::pull::{self, CheckGguf, PullOptions, Session};
use super::record;

/// What `hearth models pull` was asked to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model the models directory knows by name (see [`record::find_in`]).
    Name(String),
    /// A GGUF in a Hugging Face repository.
    Hf(HfRef),
    /// A GGUF at a plain `http(s)` URL.
    Url(String),
}

impl ModelRef {
    /// Reads `text`: `hf:…` is a Hub reference; an `http(s)://` URL is one too when it is
    /// `hub`'s `resolve` URL, else a plain URL; anything else is a model name.
    ///
    /// # Errors
    /// [`ModelError::BadRequest`] for a malformed `hf:` reference.
    pub fn parse(text: &str, hub: &Hub) -> Result<ModelRef, ModelError> {
        if let Some(rest) = text.strip_prefix("hf:") {
            return HfRef::parse(rest)
                .map(ModelRef::Hf)
                .map_err(|reason| ModelError::BadRequest {
                    reference: text.to_owned(),
                    reason,
                });
        }
        if text.starts_with("https://") || text.starts_with("http://") {
            return Ok(match hub.ref_of_url(text) {
                Some(r) => ModelRef::Hf(r),
                None => ModelRef::Url(text.to_owned()),
            });
        }
        Ok(ModelRef::Name(text.to_owned()))
    }
}

/// Options that apply to a pull by URL or `hf:` reference only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefOptions {
    /// The sha256 the file must have, hex (required for a plain URL).
    pub sha256: Option<String>,
    /// The model's name; by default the file name without `.gguf`, lower-cased.
    pub name: Option<String>,
}

/// What a pull installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The model's name (for `hearth models list` and `local/<name>`).
    pub name: String,
    /// Path of its primary file.
    pub path: PathBuf,
    /// Size of the primary file, in bytes.
    pub size: u64,
    /// sha256 of the primary file, lower-case hex.
    pub sha256: String,
    /// Something the user should know about what was recorded (e.g. that the URL's
    /// credentials were left out of the record), for the CLI to print.
    pub note: Option<String>,
}

/// Installs what `reference` names. Blocking: run it on a blocking thread.
///
/// A name is pulled as [`pull::pull`] does. A GGUF reference is resolved to a size and
/// sha256 (see the module docs), downloaded with the same resumable, checked downloader,
/// checked for the GGUF magic before it is renamed into place, and its header read for the
/// generated manifest; a file Hearth cannot run (no GGUF, an architecture other than
/// llama, qwen2, qwen3, gemma3, no context length) is removed again.
///
/// # Errors
/// [`ModelError::BadRequest`] for a plain URL without `--sha256`, a `--sha256` that
/// disagrees with the Hub, a file name that is not `*.gguf`, a name that is a catalogue
/// model's or another installed model's, or options given with a name;
/// [`ModelError::NotGguf`] / [`ModelError::BadGguf`] for a file Hearth cannot run; and
/// otherwise as [`pull::pull_manifest`].
pub fn pull_ref(
    models_dir: &Path,
    reference: &ModelRef,
    ref_opts: &RefOptions,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<Installed, ModelError> {
    let (source, shown, page) = match reference {
        ModelRef::Name(name) => return pull_name(models_dir, name, ref_opts, opts, progress),
        ModelRef::Hf(r) => (
            Source::Hf(HfSource { hf: r.to_string() }),
            format!("hf:{r}"),
            opts.hub.repo_page(&r.repo),
        ),
        ModelRef::Url(url) => (
            Source::Url(UrlSource { url: url.clone() }),
            redact_url(url),
            redact_url(url),
        ),
    };
    let bad = |reason: String| ModelError::BadRequest {
        reference: shown.clone(),
        reason,
    };
    let file_name = match reference {
        ModelRef::Hf(r) => r.file_name().to_owned(),
        _ => shown.rsplit('/').next().unwrap_or_default().to_owned(),
    };
    if manifest::check_name("file name", &file_name).is_err()
        || !file_name.to_ascii_lowercase().ends_with(".gguf")
    {
        return Err(bad(format!(
            "{file_name:?} is not a plain file name ending in .gguf; Hearth pulls GGUF files"
        )));
    }
    let wanted = ref_opts
        .sha256
        .as_deref()
        .map(|hex| {
            let hex = hex.trim().to_ascii_lowercase();
            manifest::check_sha256("--sha256", &hex).map(|()| hex)
        })
        .transpose()
        .map_err(bad)?;
    let (size, sha256) = match (reference, wanted) {
        (ModelRef::Hf(r), wanted) => {
            let info = opts.hub.file_info(r, opts.timeout)?;
            if let Some(w) = wanted.filter(|w| *w != info.sha256) {
                return Err(bad(format!(
                    "the Hub publishes sha256 {} for this file, not the --sha256 {w}",
                    info.sha256
                )));
            }
            (info.size, info.sha256)
        }
        (_, None) => {
            return Err(bad(
                "a plain URL publishes no checksum, so Hearth will not trust its bytes: pass \
                 --sha256 HEX (the publisher's checksum, or `sha256sum` of a copy you trust); \
                 for a Hugging Face file use hf:org/repo/file.gguf and the Hub's checksum is used"
                    .into(),
            ));
        }
        (_, Some(w)) => {
            let size = http::remote_size(&source_url(&source), opts.timeout).map_err(|error| {
                ModelError::AllSourcesFailed {
                    model: shown.clone(),
                    file: file_name.clone(),
                    failures: vec![SourceFailure {
                        source: shown.clone(),
                        error,
                    }],
                }
            })?;
            (size, w)
        }
    };
    let name = match &ref_opts.name {
        Some(n) => n.clone(),
        None => default_name(&file_name),
    };
    manifest::check_name("model name", &name).map_err(bad)?;
    if manifest::find(&name).is_some() {
        return Err(bad(format!(
            "{name} is the name of a catalogue model; choose another with --name"
        )));
    }
    if let Some(other) = record::read_record(models_dir, &name) {
        let same = other
            .primary()
            .is_some_and(|f| f.name == file_name && f.sha256.as_deref() == Some(&sha256));
        if !same {
            return Err(bad(format!(
                "another model is installed as {name}; choose another name with --name"
            )));
        }
    }
    let spec = FileSpec {
        name: file_name.clone(),
        size: Some(size),
        sha256: Some(sha256.clone()),
        sources: vec![source],
    };
    let dir = layout::model_dir(models_dir, &name);
    let installed = {
        let _lock = layout::lock_model(&dir, &name)?;
        install_and_describe(models_dir, &name, spec, &shown, &page, opts, progress)
    };
    match installed {
        Ok(mut m) => {
            let note = forget_credentials(&mut m).then(|| {
                format!(
                    "the record of {name} keeps the URL without its user:password@, query and \
                     fragment (credentials are never stored); to fetch the file again, pull \
                     the full URL again"
                )
            });
            record::write_record(models_dir, &m)?;
            Ok(Installed {
                path: dir.join(&file_name),
                name,
                size,
                sha256,
                note,
            })
        }
        Err(e) => {
            tidy(&dir);
            Err(e)
        }
    }
}

/// A pull by name; the reference options do not apply.
fn pull_name(
    models_dir: &Path,
    name: &str,
    ref_opts: &RefOptions,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<Installed, ModelError> {
    if *ref_opts != RefOptions::default() {
        return Err(ModelError::BadRequest {
            reference: name.to_owned(),
            reason: "--sha256 and --name are for URLs and hf: references, not model names".into(),
        });
    }
    let path = pull::pull(models_dir, name, opts, progress)?;
    let manifest = record::find_in(models_dir, name).ok_or_else(|| ModelError::UnknownModel {
        name: name.to_owned(),
    })?;
    let (size, sha256) = manifest
        .primary()
        .and_then(FileSpec::pinned)
        .map(|(size, sha)| (size, sha.to_owned()))
        .unwrap_or_default();
    Ok(Installed {
        name: name.to_owned(),
        path,
        size,
        sha256,
        note: None,
    })
}

/// Installs `spec` as the only file of model `name` (the caller holds the lock) and builds
/// its manifest from the GGUF header; removes the file again when Hearth cannot run it.
fn install_and_describe(
    models_dir: &Path,
    name: &str,
    spec: FileSpec,
    shown: &str,
    page: &str,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<Manifest, ModelError> {
    let mut session = Session::new(models_dir, name, opts);
    let path = session.install(&spec, CheckGguf::Magic, progress)?;
    session.finish()?;
    let described = describe(&path, name, &spec, shown, page);
    if described.is_err() {
        remove_if_exists(&path)?;
    }
    described
}

/// The manifest of an installed GGUF, from its header.
fn describe(
    path: &Path,
    name: &str,
    spec: &FileSpec,
    shown: &str,
    page: &str,
) -> Result<Manifest, ModelError> {
    let facts = gguf::read_facts(path, &spec.name)?;
    let bad = |reason: String| ModelError::BadGguf {
        file: spec.name.clone(),
        reason,
    };
    let family = Family::from_gguf_architecture(&facts.architecture).ok_or_else(|| {
        bad(format!(
            "its architecture {:?} is not one Hearth's decoder runs (llama, qwen2, qwen3, gemma3)",
            facts.architecture
        ))
    })?;
    let context_window = facts
        .context_length
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            bad(format!(
                "the header gives no {}.context_length",
                facts.architecture
            ))
        })?;
    let manifest = Manifest {
        name: name.to_owned(),
        kind: Kind::Llm,
        family,
        description: format!("{} pulled from {shown}", spec.name),
        licence: "unknown: see the homepage".to_owned(),
        homepage: page.to_owned(),
        context_window,
        dims: None,
        shape: facts.shape,
        files: vec![spec.clone()],
    };
    layout::validated(&manifest)?;
    Ok(manifest)
}

/// Strips what may be a credential from the manifest's plain-URL sources before it is
/// recorded: userinfo, query (presigned URLs carry their signature there) and fragment, as
/// [`redact_url`] shows URLs. The file is verified by its sha256, so the record still says
/// exactly what was installed. Returns whether anything was removed.
fn forget_credentials(manifest: &mut Manifest) -> bool {
    let mut changed = false;
    for source in manifest.files.iter_mut().flat_map(|f| f.sources.iter_mut()) {
        if let Source::Url(u) = source {
            let bare = redact_url(&u.url);
            changed |= bare != u.url;
            u.url = bare;
        }
    }
    changed
}

/// The URL a plain-URL source names.
fn source_url(source: &Source) -> String {
    match source {
        Source::Url(u) => u.url.clone(),
        Source::Wheel(w) => w.wheel_url.clone(),
        Source::Hf(h) => h.hf.clone(),
    }
}

/// A model name from a GGUF file name: without `.gguf`, lower-cased, other characters than
/// `[a-z0-9._-]` as `-`.
fn default_name(file_name: &str) -> String {
    let stem = &file_name[..file_name.len().saturating_sub(".gguf".len())];
    stem.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '-',
        })
        .collect()
}

/// Removes what a failed pull leaves in a model directory when nothing is worth keeping:
/// the lock file and empty `.part` files (a refused request creates one), then the
/// directory if that empties it. A `.part` with bytes in it stays, for the next pull to
/// resume.
fn tidy(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let names: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    let disposable = |p: &PathBuf| {
        p.file_name().is_some_and(|n| n == ".lock")
            || (p.extension().is_some_and(|e| e == "part") && layout::file_size(p) == Some(0))
    };
    if names.iter().all(disposable) {
        for p in &names {
            let _ = fs::remove_file(p);
        }
        let _ = fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_told_apart() {
        let hub = Hub::default();
        assert_eq!(
            ModelRef::parse("qwen3-0.6b", &hub).unwrap(),
            ModelRef::Name("qwen3-0.6b".into())
        );
        let ModelRef::Hf(r) = ModelRef::parse("hf:org/repo@v2/m.gguf", &hub).unwrap() else {
            panic!("not hf");
        };
        assert_eq!((r.repo.as_str(), r.revision.as_str()), ("org/repo", "v2"));
        let url = "https://huggingface.co/org/repo/resolve/main/m.gguf";
        assert!(matches!(
            ModelRef::parse(url, &hub).unwrap(),
            ModelRef::Hf(_)
        ));
        let url = "https://example.org/m.gguf";
        assert_eq!(
            ModelRef::parse(url, &hub).unwrap(),
            ModelRef::Url(url.into())
        );
        assert!(ModelRef::parse("hf:org", &hub).is_err());
    }

    #[test]
    fn default_names_come_from_the_file_name() {
        assert_eq!(default_name("Qwen3-0.6B-Q8_0.gguf"), "qwen3-0.6b-q8_0");
        assert_eq!(default_name("my model+x.GGUF"), "my-model-x");
    }
}
