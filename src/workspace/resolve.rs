//! Path parsing and resolution beneath the root descriptor (both [`Resolution`]s), and the
//! directory helpers under [`Workspace`]'s methods: `lstat` of a name, listing, walking,
//! temporary files, directory fsync.

use super::{
    DIR_MODE, Entry, EntryKind, FILE_MODE, Rel, Resolution, TMP_COUNTER, Workspace, WorkspaceError,
    cstr, sys,
};
use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;

/// How many times the walk re-opens a component it has just created and found missing
/// again (a concurrent `rmdir`), before giving up with `NotFound`.
const CREATE_RETRIES: u32 = 3;

impl Workspace {
    /// Parses `given` (see the module docs, "Paths").
    ///
    /// # Errors
    /// [`WorkspaceError::Invalid`] for a NUL byte, [`WorkspaceError::Outside`] for `..`
    /// above the root or an absolute path not under it.
    pub(super) fn rel<'a>(&self, given: &'a str) -> Result<Rel<'a>, WorkspaceError> {
        let outside = || WorkspaceError::Outside {
            path: given.to_string(),
        };
        if given.contains('\0') {
            return Err(WorkspaceError::Invalid {
                path: given.to_string(),
                reason: "path contains a NUL byte",
            });
        }
        let stripped;
        let mut path = Path::new(given);
        if path.is_absolute() {
            let abs = normalise_abs(path).ok_or_else(outside)?;
            stripped = abs
                .strip_prefix(&self.root)
                .or_else(|_| abs.strip_prefix(&self.given))
                .map_err(|_| outside())?
                .to_path_buf();
            path = &stripped;
        }
        let mut comps: Vec<String> = Vec::new();
        for c in path.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if comps.pop().is_none() {
                        return Err(outside());
                    }
                }
                Component::Normal(s) => comps.push(s.to_string_lossy().into_owned()),
                Component::RootDir | Component::Prefix(_) => return Err(outside()),
            }
        }
        Ok(Rel { given, comps })
    }

    /// Opens `comps` beneath the root. `flags` apply to the last component: with
    /// `O_DIRECTORY` the result must be a directory, with `O_PATH|O_NOFOLLOW` a final
    /// symlink is opened itself; otherwise a symlink anywhere is `ELOOP` → `Symlink`.
    /// Errors name `r.given`.
    pub(super) fn open_in(
        &self,
        comps: &[String],
        flags: libc::c_int,
        r: &Rel<'_>,
    ) -> Result<OwnedFd, WorkspaceError> {
        if self.resolution == Resolution::Openat2 {
            match sys::openat2(self.fd.as_fd(), &join(comps), flags) {
                // The probe passed but this call did not (a seccomp change): walk instead.
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
                other => return other.map_err(|e| r.err(e)),
            }
        }
        let want_dir = flags & libc::O_DIRECTORY != 0;
        let (dirs, last) = match comps.split_last() {
            Some((last, parent)) if !want_dir => (parent, Some(last)),
            _ => (comps, None),
        };
        let mut cur: Option<OwnedFd> = None;
        for c in dirs {
            let at = cur.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
            cur = Some(step(at, &cstr(c), false).map_err(|e| r.err(e))?);
        }
        let at = cur.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
        match last {
            Some(name) => sys::openat(at, &cstr(name), flags | libc::O_NOFOLLOW, 0),
            None if flags & libc::O_PATH != 0 => match cur {
                Some(fd) => Ok(fd),
                None => self.fd.try_clone(),
            },
            // `at` is pinned: "." is that very directory, whatever its name points to now.
            None => sys::openat(at, c".", flags, 0),
        }
        .map_err(|e| r.err(e))
    }

    /// An `O_PATH` descriptor of directory `comps`, creating missing components with
    /// `mkdirat` one at a time beneath the previous one's descriptor.
    pub(super) fn dir_create(
        &self,
        comps: &[String],
        r: &Rel<'_>,
    ) -> Result<OwnedFd, WorkspaceError> {
        if self.resolution == Resolution::Openat2 {
            match self.open_in(comps, libc::O_PATH | libc::O_DIRECTORY, r) {
                Err(WorkspaceError::NotFound { .. }) => {}
                other => return other,
            }
        }
        let mut cur: Option<OwnedFd> = None;
        for c in comps {
            let at = cur.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
            cur = Some(step(at, &cstr(c), true).map_err(|e| r.err(e))?);
        }
        match cur {
            Some(fd) => Ok(fd),
            None => self.fd.try_clone().map_err(|e| r.err(e)),
        }
    }
}

/// One step of the walk: opens `name` in `dir` with `O_PATH|O_NOFOLLOW` and checks the
/// opened object (not the name, which may change) is a directory. A symlink is `ELOOP`, a
/// non-directory `ENOTDIR`. With `create`, a missing directory is made first.
fn step(dir: BorrowedFd<'_>, name: &CStr, create: bool) -> io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => {
                let file = File::from(fd);
                let ft = file.metadata()?.file_type();
                if ft.is_symlink() {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                if !ft.is_dir() {
                    return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
                }
                return Ok(OwnedFd::from(file));
            }
            Err(e)
                if create && tries < CREATE_RETRIES && e.raw_os_error() == Some(libc::ENOENT) =>
            {
                tries += 1;
                match sys::mkdirat(dir, name, DIR_MODE) {
                    Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
                    _ => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Components joined with `/`, or `.` for none.
fn join(comps: &[String]) -> CString {
    if comps.is_empty() {
        c".".into()
    } else {
        cstr(&comps.join("/"))
    }
}

/// `lstat` of `name` in `dir`, through an `O_PATH|O_NOFOLLOW` descriptor.
pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Metadata> {
    File::from(sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?).metadata()
}

/// Calls `each(raw name, entry)` for the entries of `dir` (open `O_RDONLY|O_DIRECTORY`),
/// in byte order of their names; entries gone before their `lstat` are skipped.
pub(super) fn list(dir: BorrowedFd<'_>, each: &mut dyn FnMut(&[u8], Entry)) -> io::Result<()> {
    let mut names = sys::read_names(dir)?;
    names.sort();
    for raw in names {
        // The kernel's names hold no NUL byte.
        let Ok(name) = CString::new(raw.as_slice()) else {
            continue;
        };
        match lstat_at(dir, &name) {
            Ok(meta) => each(
                &raw,
                Entry::from_meta(&meta, String::from_utf8_lossy(&raw).into_owned()),
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Appends the entries of `dir` (open for reading) to `out` under `prefix`, descending
/// `depth_left` more levels into subdirectories opened with `O_NOFOLLOW|O_DIRECTORY`
/// relative to `dir`. Subdirectories that cannot be opened or read are not descended into.
pub(super) fn walk_dir(
    dir: BorrowedFd<'_>,
    prefix: &str,
    depth_left: usize,
    out: &mut Vec<(String, Entry)>,
) -> io::Result<()> {
    let mut subdirs = Vec::new();
    list(dir, &mut |raw, e| {
        let path = if prefix.is_empty() {
            e.name.clone()
        } else {
            format!("{prefix}/{}", e.name)
        };
        if e.kind == EntryKind::Dir && depth_left > 0 {
            subdirs.push((raw.to_vec(), path.clone()));
        }
        out.push((path, e));
    })?;
    for (raw, path) in subdirs {
        let Ok(name) = CString::new(raw) else {
            continue;
        };
        // A directory swapped for a symlink since the listing fails here (ENOTDIR/ELOOP).
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        if let Ok(child) = sys::openat(dir, &name, flags, 0) {
            let mut below = Vec::new();
            if walk_dir(child.as_fd(), &path, depth_left - 1, &mut below).is_ok() {
                out.append(&mut below);
            }
        }
    }
    Ok(())
}

/// Creates a fresh temporary file beside `target_name` in `dir`
/// (`O_CREAT|O_EXCL|O_NOFOLLOW`, `0o644` minus the umask), hidden (`.` first) so the memory
/// indexer and listings skip it; its name is returned for the rename or the clean-up.
pub(super) fn temp_file(dir: BorrowedFd<'_>, target_name: &str) -> io::Result<(CString, File)> {
    // Keep the temporary name within NAME_MAX (255 bytes).
    let mut end = target_name.len().min(200);
    while !target_name.is_char_boundary(end) {
        end -= 1;
    }
    let stem = &target_name[..end];
    for _ in 0..16 {
        let seq = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = cstr(&format!(".{stem}.hearth-tmp.{}.{seq}", std::process::id()));
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        match sys::openat(dir, &name, flags, FILE_MODE) {
            Ok(fd) => return Ok((name, File::from(fd))),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// fsyncs directory `dir` (any descriptor of it, `O_PATH` included), persisting entries
/// just created or renamed in it.
pub(super) fn sync_dir(dir: BorrowedFd<'_>) -> io::Result<()> {
    File::from(sys::openat(
        dir,
        c".",
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?)
    .sync_all()
}

/// Lexically normalises an absolute path (`.` dropped, `..` pops); `None` if `..` climbs
/// above `/`.
pub(super) fn normalise_abs(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}
