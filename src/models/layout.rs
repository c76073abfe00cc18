//! The installed layout, `<models_dir>/<name>/<file name>`, and the small filesystem steps
//! every install shares: hashing, committing a verified `.part` atomically, the per-model
//! lock, listing, and importing a local file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};

use super::error::ModelError;
use super::manifest::{Kind, Manifest};
use super::record;

/// Suffix of a file being downloaded or extracted, next to its final name.
pub(crate) const PART_SUFFIX: &str = ".part";
/// Lock file inside a model directory, held while that model is pulled or imported.
const LOCK_FILE: &str = ".lock";
/// Read/write buffer for hashing and copying, in bytes.
pub(crate) const BUF_SIZE: usize = 64 * 1024;

/// What is installed of one known model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStatus {
    /// Model name.
    pub name: String,
    /// What the model is for.
    pub kind: Kind,
    /// Every file is present with its manifest size (checksums are not re-read here).
    pub installed: bool,
    /// Bytes the model's files and their unfinished `.part` files take on disk, in bytes.
    pub bytes_on_disk: u64,
    /// Names of the files that are absent or have the wrong size.
    pub missing: Vec<String>,
    /// The model directory, `<models_dir>/<name>`.
    pub path: PathBuf,
}

/// The directory of model `name`: `<models_dir>/<name>`.
pub fn model_dir(models_dir: &Path, name: &str) -> PathBuf {
    models_dir.join(name)
}

/// Path of the primary file of model `name` (embedded, or pulled by URL: see
/// [`record::find_in`]) — the GGUF of an LLM, the weights of an embedding model — when
/// every file of the model is present with its manifest size.
///
/// Sizes only: checksums were verified when the files were installed.
pub fn installed_path(models_dir: &Path, name: &str) -> Option<PathBuf> {
    let manifest = record::find_in(models_dir, name)?;
    let status = status(models_dir, &manifest);
    let primary = manifest.primary()?;
    status.installed.then(|| status.path.join(&primary.name))
}

/// The status of every model `models_dir` knows ([`record::catalogue`]: the embedded ones
/// in manifest order, then those pulled by URL). Reads file sizes only; never fails
/// (unreadable files count as missing).
pub fn list(models_dir: &Path) -> Vec<ModelStatus> {
    record::catalogue(models_dir)
        .iter()
        .map(|m| status(models_dir, m))
        .collect()
}

/// The status of one model under `models_dir` (embedded or not). Reads file sizes only; a
/// file whose size is left to the Hub and not yet recorded counts as installed when it
/// exists (files are renamed into place only once verified).
pub fn status(models_dir: &Path, manifest: &Manifest) -> ModelStatus {
    let dir = model_dir(models_dir, &manifest.name);
    let mut bytes_on_disk = 0;
    let mut missing = Vec::new();
    for file in &manifest.files {
        let path = dir.join(&file.name);
        let size = file_size(&path);
        bytes_on_disk += size.unwrap_or(0) + file_size(&part_path(&path)).unwrap_or(0);
        let present = match file.size {
            Some(expected) => size == Some(expected),
            None => size.is_some(),
        };
        if !present {
            missing.push(file.name.clone());
        }
    }
    ModelStatus {
        name: manifest.name.clone(),
        kind: manifest.kind,
        installed: missing.is_empty(),
        bytes_on_disk,
        missing,
        path: dir,
    }
}

/// Copies a local file into place as `file_name` of model `name` (as
/// [`record::find_in`] knows it), checking its size and sha256 against the manifest first
/// (for offline installs). Returns the installed path, `<models_dir>/<name>/<file_name>`.
///
/// # Errors
/// [`ModelError::UnknownModel`], [`ModelError::UnknownFile`], [`ModelError::SizeMismatch`] or
/// [`ModelError::ChecksumMismatch`] (nothing is installed then), [`ModelError::Busy`] while a
/// pull of the model runs, and [`ModelError::Io`] for local filesystem failures.
pub fn import_file(
    models_dir: &Path,
    name: &str,
    file_name: &str,
    src: &Path,
) -> Result<PathBuf, ModelError> {
    let manifest = record::find_in(models_dir, name).ok_or_else(|| ModelError::UnknownModel {
        name: name.to_owned(),
    })?;
    import_manifest_file(models_dir, &manifest, file_name, src)
}

/// [`import_file`] for a manifest given by the caller instead of an embedded one.
///
/// # Errors
/// As [`import_file`], plus [`ModelError::Manifest`] if `manifest` does not validate or
/// leaves the file's size and sha256 to the Hub (pull it once so they are recorded).
pub fn import_manifest_file(
    models_dir: &Path,
    manifest: &Manifest,
    file_name: &str,
    src: &Path,
) -> Result<PathBuf, ModelError> {
    validated(manifest)?;
    let spec = manifest
        .file(file_name)
        .ok_or_else(|| ModelError::UnknownFile {
            model: manifest.name.clone(),
            file: file_name.to_owned(),
        })?;
    let (size, sha256) = spec.pinned().ok_or_else(|| ModelError::Manifest {
        origin: manifest.name.clone(),
        reason: format!(
            "the size and sha256 of {file_name} come from the Hub at pull time and are not \
             recorded yet, so an import cannot be checked"
        ),
    })?;
    let got = fs::metadata(src)
        .map_err(|e| ModelError::io("reading", src, e))?
        .len();
    if got != size {
        return Err(ModelError::SizeMismatch {
            model: manifest.name.clone(),
            file: spec.name.clone(),
            expected: size,
            got,
        });
    }
    let dir = model_dir(models_dir, &manifest.name);
    let _lock = lock_model(&dir, &manifest.name)?;
    let dest = dir.join(&spec.name);
    let part = part_path(&dest);
    let mut input = File::open(src).map_err(|e| ModelError::io("opening", src, e))?;
    let mut output = File::create(&part).map_err(|e| ModelError::io("creating", &part, e))?;
    let mut hasher = Context::new(&SHA256);
    let mut buf = vec![0; BUF_SIZE];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ModelError::io("reading", src, e)),
        };
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(|e| ModelError::io("writing", &part, e))?;
    }
    drop(output);
    let got = hex(hasher.finish().as_ref());
    if got != sha256 {
        remove_if_exists(&part)?;
        return Err(ModelError::ChecksumMismatch {
            model: manifest.name.clone(),
            file: spec.name.clone(),
            expected: sha256.to_owned(),
            got,
        });
    }
    commit_part(&part, &dest)?;
    Ok(dest)
}

/// `manifest.validate()` as a [`ModelError`].
pub(crate) fn validated(manifest: &Manifest) -> Result<(), ModelError> {
    manifest.validate().map_err(|reason| ModelError::Manifest {
        origin: manifest.name.clone(),
        reason,
    })
}

/// `<path>.part`.
pub(crate) fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

/// Size of a regular file, in bytes; `None` when absent, unreadable or not a file.
pub(crate) fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a whole file, lower-case hex.
///
/// # Errors
/// [`ModelError::Io`] if the file cannot be read.
pub(crate) fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = File::open(path).map_err(|e| ModelError::io("opening", path, e))?;
    let mut hasher = Context::new(&SHA256);
    let mut buf = vec![0; BUF_SIZE];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hex(hasher.finish().as_ref())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ModelError::io("reading", path, e)),
        }
    }
}

/// Whether the installed file at `path` has `size` bytes and (when `verify`) the sha256
/// `sha256`.
///
/// # Errors
/// [`ModelError::Io`] if the file exists but cannot be read for hashing.
pub(crate) fn is_installed(
    path: &Path,
    size: u64,
    sha256: &str,
    verify: bool,
) -> Result<bool, ModelError> {
    if file_size(path) != Some(size) {
        return Ok(false);
    }
    Ok(!verify || sha256_file(path)? == sha256)
}

/// Makes a verified `.part` file the real one: fsync the data, rename over `dest`
/// (atomic on POSIX filesystems), fsync the directory so the rename survives power loss.
///
/// # Errors
/// [`ModelError::Io`] naming the step that failed.
pub(crate) fn commit_part(part: &Path, dest: &Path) -> Result<(), ModelError> {
    File::open(part)
        .and_then(|f| f.sync_all())
        .map_err(|e| ModelError::io("syncing", part, e))?;
    fs::rename(part, dest).map_err(|e| ModelError::io("renaming into place", dest, e))?;
    if let Some(dir) = dest.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ModelError::io("syncing directory", dir, e))?;
    }
    Ok(())
}

/// Removes a file; absence is fine.
///
/// # Errors
/// [`ModelError::Io`] for any other failure.
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), ModelError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ModelError::io("removing", path, e)),
    }
}

/// Creates `dir` and takes the model's advisory lock (`<dir>/.lock`), released when the
/// returned file is dropped — also when the process dies, so a crash leaves no stale lock.
///
/// # Errors
/// [`ModelError::Busy`] if another process or thread holds it; [`ModelError::Io`] otherwise.
pub(crate) fn lock_model(dir: &Path, name: &str) -> Result<File, ModelError> {
    fs::create_dir_all(dir).map_err(|e| ModelError::io("creating directory", dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ModelError::io("opening lock", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(ModelError::Busy {
            name: name.to_owned(),
            path,
        }),
        Err(TryLockError::Error(e)) => Err(ModelError::io("locking", &path, e)),
    }
}
