//! Installed manifests: what a pull learned, kept beside the files as
//! `<models_dir>/<name>/manifest.toml` (the manifest format, every size and sha256 filled
//! in), and the catalogue a models directory offers — the embedded manifests, completed
//! from their records, then the models pulled by URL or `hf:` reference.
//!
//! An embedded manifest stays the authority on everything it states; its record only
//! supplies the sizes and checksums it leaves to the Hub. A record that does not parse or
//! validate is ignored (with a warning), so listing never fails.

use std::fs;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::error::ModelError;
use super::layout::{commit_part, model_dir, part_path};
use super::manifest::{self, Manifest};

/// File name of the installed manifest inside a model directory.
pub const RECORD_FILE: &str = "manifest.toml";

/// Path of model `name`'s installed manifest.
pub fn record_path(models_dir: &Path, name: &str) -> PathBuf {
    model_dir(models_dir, name).join(RECORD_FILE)
}

/// Writes `manifest` as the installed record of its model (temporary file, fsync, rename,
/// fsync of the directory).
///
/// # Errors
/// [`ModelError::Manifest`] if it cannot be serialised; [`ModelError::Io`] for filesystem
/// failures.
pub(crate) fn write_record(models_dir: &Path, manifest: &Manifest) -> Result<(), ModelError> {
    let text = toml::to_string(manifest).map_err(|e| ModelError::Manifest {
        origin: manifest.name.clone(),
        reason: format!("cannot write the installed manifest: {e}"),
    })?;
    let dest = record_path(models_dir, &manifest.name);
    let part = part_path(&dest);
    let header = format!(
        "# Written by `hearth models pull`: the manifest of {}, with the sizes and sha256\n\
         # checksums the pull verified. Hearth reads it back; edit with care.\n",
        manifest.name
    );
    fs::write(&part, header + &text).map_err(|e| ModelError::io("writing", &part, e))?;
    commit_part(&part, &dest)
}

/// The installed record of model `name`, if one exists, parses, validates and carries that
/// name.
pub(crate) fn read_record(models_dir: &Path, name: &str) -> Option<Manifest> {
    let path = record_path(models_dir, name);
    let text = fs::read_to_string(&path).ok()?;
    match Manifest::from_toml(&path.display().to_string(), &text) {
        Ok(m) if m.name == name => Some(m),
        Ok(m) => {
            warn!(path = %path.display(), "ignoring an installed manifest named {:?}", m.name);
            None
        }
        Err(e) => {
            warn!("ignoring an installed manifest: {e}");
            None
        }
    }
}

/// `embedded` with the sizes and checksums it leaves open taken from `record`, for files of
/// the same name.
fn completed(embedded: &Manifest, record: Option<Manifest>) -> Manifest {
    let mut m = embedded.clone();
    let Some(record) = record else {
        return m;
    };
    for file in m.files.iter_mut().filter(|f| f.pinned().is_none()) {
        if let Some((size, sha)) = record.file(&file.name).and_then(|r| r.pinned()) {
            file.size = Some(size);
            file.sha256 = Some(sha.to_owned());
        }
    }
    m
}

/// Every model `models_dir` knows: the embedded manifests in their order (completed from
/// their records), then the other installed records, by name. Reads the directory; never
/// fails (an unreadable directory offers the embedded models alone).
pub fn catalogue(models_dir: &Path) -> Vec<Manifest> {
    let embedded = manifest::manifests();
    let mut out: Vec<Manifest> = embedded
        .iter()
        .map(|m| {
            let record = (!m.is_pinned())
                .then(|| read_record(models_dir, &m.name))
                .flatten();
            completed(m, record)
        })
        .collect();
    let mut others: Vec<Manifest> = fs::read_dir(models_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && manifest::find(name).is_none())
        .filter_map(|name| read_record(models_dir, &name))
        .collect();
    others.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(others);
    out
}

/// The manifest of model `name` as `models_dir` knows it: the embedded one (completed from
/// its record), else its installed record.
pub fn find_in(models_dir: &Path, name: &str) -> Option<Manifest> {
    match manifest::find(name) {
        Some(m) if m.is_pinned() => Some(m.clone()),
        Some(m) => Some(completed(m, read_record(models_dir, name))),
        None => read_record(models_dir, name),
    }
}
