//! The agent's workspace: the one directory that the file tools, the memory indexer, the
//! memory flush, the bootstrap reader and channel attachments may touch, and the only code
//! in Hearth that opens, creates, lists or removes anything in it.
//!
//! # Resolving without a window
//! [`Workspace::open`] holds an `O_PATH|O_DIRECTORY` descriptor of the root. Every
//! operation resolves its workspace-relative path *relative to that descriptor*, in the
//! kernel, in the same system call that opens the result, so nothing can be swapped between
//! a check and a use:
//!
//! - **`openat2`** (Linux ≥ 5.6) with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//!   RESOLVE_NO_MAGICLINKS` ([openat2(2)](https://man7.org/linux/man-pages/man2/openat2.2.html)),
//!   probed once per process ([`Resolution::Openat2`]).
//! - **A descriptor walk** everywhere else (`ENOSYS`: older kernels, qemu-user 7.2; or a
//!   seccomp filter refusing the call) ([`Resolution::Walk`]): each component is opened
//!   with `openat(dir, name, O_PATH|O_NOFOLLOW)` relative to the previous one and checked
//!   with `fstat` on the descriptor just opened, so what is checked is what is used next.
//!
//! Creating, renaming and removing are `mkdirat`, `openat(O_CREAT|O_EXCL)`, `renameat` and
//! `unlinkat` on a held directory descriptor, never on a host path.
//!
//! # Symlink policy: none are followed, on every kernel
//! A path that crosses a symlink — as its last component or any earlier one, whether the
//! link points inside the workspace or out — fails with [`WorkspaceError::Symlink`]
//! ("path "x" crosses a symlink; the workspace does not follow symlinks"). Why not allow
//! links that stay inside, as `RESOLVE_BENEATH` alone would? Because the fallback walk
//! cannot follow a link safely without re-implementing the kernel's path resolution, so
//! allowing them only under `openat2` would make the same workspace behave differently on
//! a 6.x kernel and on a 5.4 one or under qemu; one rule everywhere is easier to test, to
//! document for the model, and to trust. Listings still *show* symlinks
//! ([`EntryKind::Symlink`]), [`Workspace::metadata`] describes a final-component link
//! itself (like `lstat`), and [`Workspace::remove`] deletes the link, not its target.
//!
//! # Paths
//! Paths are workspace-relative strings: `./` and `.` are accepted, the empty path is the
//! root, `..` is resolved *lexically* first and may not climb above the root
//! ([`WorkspaceError::Outside`]). An absolute path is accepted only when it lies under the
//! root as opened or as canonicalised (the model often repeats the paths it is shown); it
//! is then made relative and resolved like any other. Error messages name the path as the
//! caller gave it, never the host path of the root.
//!
//! # What this does not guard
//! - **Hard links**: a hard link is a name for the same file, not a path property; no
//!   resolution can see where "else" it lives. [`Workspace::write_atomic`] replaces the
//!   directory entry (the other names keep the old content), and [`Workspace::append`]
//!   refuses files with more than one link. Reads do read through one; making one needs
//!   read/write access to the target already (`fs.protected_hardlinks`).
//! - **Mount points** inside the workspace are crossed (no `RESOLVE_NO_XDEV`): bind mounts
//!   are made by root, not by a model.
//! - **The root itself** is a directory, not a path: if it is renamed while open, every
//!   operation follows it to its new name ([`Workspace::root`] then shows the old path).
//!
//! Imports: nothing of Hearth; only `std`, `libc` and `thiserror`.

mod error;
mod resolve;
mod sys;
#[cfg(test)]
pub(crate) mod tests;

pub use error::WorkspaceError;
use resolve::{list, lstat_at, normalise_abs, sync_dir, temp_file, walk_dir};

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

/// How paths are resolved beneath the root; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// One `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` call.
    Openat2,
    /// A walk opening one component at a time with `O_NOFOLLOW`.
    Walk,
}

/// What an entry is, as `lstat(2)` sees it (symlinks are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed by the workspace).
    Symlink,
    /// A FIFO, socket or device node.
    Other,
}

/// One directory entry, or the description of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The last component of its path (`""` for the root); a name that is not UTF-8 is
    /// shown with U+FFFD replacements.
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size, bytes (of the link text for a symlink).
    pub len: u64,
    /// Modification time, ms since the Unix epoch (0 if before it or unknown).
    pub modified_ms: u64,
}

impl Entry {
    /// Describes the object open as `fd` (an `O_PATH|O_NOFOLLOW` descriptor is fine).
    fn of(fd: OwnedFd, name: String) -> io::Result<Self> {
        Ok(Self::from_meta(&File::from(fd).metadata()?, name))
    }

    /// Describes an object from its metadata.
    fn from_meta(meta: &std::fs::Metadata, name: String) -> Self {
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            name,
            kind,
            len: meta.len(),
            modified_ms,
        }
    }
}

/// A validated workspace-relative path: the caller's spelling and its normal components
/// (no `.`, `..`, empty or NUL-holding ones).
struct Rel<'a> {
    given: &'a str,
    comps: Vec<String>,
}

impl Rel<'_> {
    /// The parent components and the last one; `None` for the root.
    fn split_last(&self) -> Option<(&[String], CString)> {
        let (last, parent) = self.comps.split_last()?;
        Some((parent, cstr(last)))
    }

    fn err(&self, e: io::Error) -> WorkspaceError {
        WorkspaceError::os(self.given, e)
    }

    fn invalid(&self, reason: &'static str) -> WorkspaceError {
        WorkspaceError::Invalid {
            path: self.given.to_string(),
            reason,
        }
    }
}

/// A component as a C string.
fn cstr(s: &str) -> CString {
    CString::new(s).expect("NUL bytes are refused when a path is parsed (Workspace::rel)")
}

/// Counter making temporary file names unique within the process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Mode of created directories and files, before the umask.
const DIR_MODE: libc::mode_t = 0o777;
const FILE_MODE: libc::mode_t = 0o644;

/// The workspace: a held descriptor of its root directory, through which every path is
/// resolved. Cheap to share (`Arc<Workspace>`); every method takes `&self` and may run
/// from any thread.
#[derive(Debug)]
pub struct Workspace {
    /// `O_PATH|O_DIRECTORY` descriptor of the root.
    fd: OwnedFd,
    /// The canonical root path, for display and absolute-path input.
    root: PathBuf,
    /// The root as given to [`Workspace::open`], absolute and lexically normalised.
    given: PathBuf,
    resolution: Resolution,
}

impl Workspace {
    /// Opens the workspace at `root`, creating the directory and its parents if missing,
    /// and holds an `O_PATH|O_DIRECTORY` descriptor of it. `root` itself is configuration
    /// and trusted: symlinks in it are followed once, here. Probes `openat2` on the first
    /// call in the process.
    ///
    /// # Errors
    /// I/O errors from creating, canonicalising or opening `root` (`NotADirectory` if it
    /// names a file).
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let canonical = std::fs::canonicalize(root)?;
        let path = CString::new(canonical.as_os_str().as_encoded_bytes()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "NUL byte in the workspace root",
            )
        })?;
        // SAFETY: `AT_FDCWD` is a valid directory descriptor for the whole call.
        let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
        let fd = sys::openat(cwd, &path, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        let abs = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()?.join(root)
        };
        let given = normalise_abs(&abs).unwrap_or(abs);
        let resolution = if sys::openat2_works(fd.as_fd()) {
            Resolution::Openat2
        } else {
            Resolution::Walk
        };
        Ok(Self {
            fd,
            root: canonical,
            given,
            resolution,
        })
    }

    /// The canonical host path of the root, as it was when opened (for showing, e.g. the
    /// path of a saved attachment; never for opening — use the methods).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How this workspace resolves paths.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// Makes this workspace use the descriptor walk even where `openat2` works, so tests
    /// cover both paths on one kernel.
    #[doc(hidden)]
    pub fn force_walk(&mut self) {
        self.resolution = Resolution::Walk;
    }

    /// Opens an existing regular file or directory for reading. `O_NONBLOCK` keeps a FIFO
    /// from hanging the open; anything but a file or directory is then refused.
    ///
    /// # Errors
    /// [`WorkspaceError::Outside`], [`WorkspaceError::Symlink`], [`WorkspaceError::NotFound`],
    /// [`WorkspaceError::Invalid`] for NUL bytes and FIFOs, sockets and devices,
    /// [`WorkspaceError::Io`] for the rest.
    pub fn open_read(&self, rel: &str) -> Result<File, WorkspaceError> {
        let r = self.rel(rel)?;
        let fd = self.open_in(&r.comps, libc::O_RDONLY | libc::O_NONBLOCK, &r)?;
        let file = File::from(fd);
        let ft = file.metadata().map_err(|e| r.err(e))?.file_type();
        if !ft.is_file() && !ft.is_dir() {
            return Err(r.invalid("not a regular file (FIFO, socket or device)"));
        }
        Ok(file)
    }

    /// The bytes of regular file `rel`, if it holds at most `max_bytes`.
    ///
    /// # Errors
    /// As [`Workspace::open_read`]; `Io` (`IsADirectory`) for a directory;
    /// [`WorkspaceError::TooLarge`] over `max_bytes`.
    pub fn read(&self, rel: &str, max_bytes: u64) -> Result<Vec<u8>, WorkspaceError> {
        let file = self.open_read(rel)?;
        let io_err = |e| WorkspaceError::os(rel, e);
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(io_err(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        let too_large = |size| WorkspaceError::TooLarge {
            path: rel.to_string(),
            size,
            max: max_bytes,
        };
        if meta.len() > max_bytes {
            return Err(too_large(meta.len()));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > max_bytes {
            // It grew while being read.
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }

    /// The text of regular file `rel`, if it is UTF-8 and holds at most `max_bytes`.
    ///
    /// # Errors
    /// As [`Workspace::read`]; `Io` with `InvalidData` if it is not UTF-8.
    pub fn read_to_string(&self, rel: &str, max_bytes: u64) -> Result<String, WorkspaceError> {
        String::from_utf8(self.read(rel, max_bytes)?).map_err(|_| WorkspaceError::Io {
            path: rel.to_string(),
            source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
        })
    }

    /// Replaces (or creates) file `rel` with `data`, atomically: missing parent directories
    /// are created (`mkdirat`); the bytes go to a fresh hidden temporary file in the same
    /// directory (`openat(O_CREAT|O_EXCL|O_NOFOLLOW)`), which is fsynced and `renameat`-ed
    /// over the target; the directory is then fsynced. Readers see the old or the new
    /// content, never a mix. An existing file's permission bits (`0o777` part) are kept; a
    /// new file gets `0o644` minus the umask. This is `rename(2)`'s atomic replace:
    /// <https://man7.org/linux/man-pages/man2/rename.2.html>.
    ///
    /// # Errors
    /// As [`Workspace::open_read`] for the path (a symlink as the target is refused, not
    /// replaced); [`WorkspaceError::Invalid`] for the root; `Io` (`IsADirectory`) if the
    /// target is a directory, and any write, fsync or rename error. On error the temporary
    /// file is removed; the target is unchanged unless the rename happened.
    pub fn write_atomic(&self, rel: &str, data: &[u8]) -> Result<(), WorkspaceError> {
        let r = self.rel(rel)?;
        let (parent, name) = r
            .split_last()
            .ok_or_else(|| r.invalid("names the workspace root, not a file"))?;
        let dir = self.dir_create(parent, &r)?;
        let mode = match lstat_at(dir.as_fd(), &name) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(WorkspaceError::Symlink {
                    path: r.given.into(),
                });
            }
            Ok(m) if m.is_file() => Some(m.permissions().mode() & 0o777),
            // A directory (renameat reports EISDIR), a FIFO or socket (replaced).
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(r.err(e)),
        };
        let last = r.comps.last().map_or("", String::as_str);
        let (tmp, mut file) = temp_file(dir.as_fd(), last).map_err(|e| r.err(e))?;
        let result = (|| -> io::Result<()> {
            if let Some(mode) = mode {
                file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            file.write_all(data)?;
            file.sync_all()?;
            drop(file);
            sys::renameat(dir.as_fd(), &tmp, &name)
        })();
        if let Err(e) = result {
            let _ = sys::unlinkat(dir.as_fd(), &tmp, 0);
            return Err(r.err(e));
        }
        sync_dir(dir.as_fd()).map_err(|e| r.err(e))
    }

    /// Appends `data` to regular file `rel` (`O_APPEND`), creating it (`0o644` minus the
    /// umask) and its parent directories if missing, then fsyncs it (and the directory, if
    /// the file is new). Used for dated notes such as `memory/2026-11-21.md`.
    ///
    /// # Errors
    /// As [`Workspace::write_atomic`]; [`WorkspaceError::Invalid`] for a FIFO, socket or
    /// device, or a file with more than one hard link (appending would change the others).
    pub fn append(&self, rel: &str, data: &[u8]) -> Result<(), WorkspaceError> {
        let r = self.rel(rel)?;
        let (parent, name) = r
            .split_last()
            .ok_or_else(|| r.invalid("names the workspace root, not a file"))?;
        let dir = self.dir_create(parent, &r)?;
        let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let not_file = "not a regular file (FIFO, socket or device)";
        let (fd, created) = match sys::openat(
            dir.as_fd(),
            &name,
            flags | libc::O_CREAT | libc::O_EXCL,
            FILE_MODE,
        ) {
            Ok(fd) => (fd, true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                match sys::openat(dir.as_fd(), &name, flags, 0) {
                    Ok(fd) => (fd, false),
                    // A FIFO without a reader, or a socket (O_NONBLOCK keeps the open from waiting).
                    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                        return Err(r.invalid(not_file));
                    }
                    Err(e) => return Err(r.err(e)),
                }
            }
            Err(e) => return Err(r.err(e)),
        };
        let mut file = File::from(fd);
        let meta = file.metadata().map_err(|e| r.err(e))?;
        if !meta.is_file() {
            return Err(r.invalid(not_file));
        }
        if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
            return Err(r.invalid("has other hard links; appending would change them too"));
        }
        file.write_all(data).map_err(|e| r.err(e))?;
        file.sync_all().map_err(|e| r.err(e))?;
        if created {
            sync_dir(dir.as_fd()).map_err(|e| r.err(e))?;
        }
        Ok(())
    }

    /// Creates directory `rel` and any missing parents (`mkdirat`, `0o777` minus the
    /// umask); an existing directory is fine.
    ///
    /// # Errors
    /// As [`Workspace::open_read`]; `Io` (`NotADirectory`) if a component is a file.
    pub fn create_dir_all(&self, rel: &str) -> Result<(), WorkspaceError> {
        let r = self.rel(rel)?;
        self.dir_create(&r.comps, &r).map(drop)
    }

    /// The entries of directory `rel`, sorted by name, symlinks described not followed
    /// (`lstat`). Entries that vanish while being listed are left out.
    ///
    /// # Errors
    /// As [`Workspace::open_read`]; `Io` (`NotADirectory`) if `rel` is not a directory.
    pub fn read_dir(&self, rel: &str) -> Result<Vec<Entry>, WorkspaceError> {
        let r = self.rel(rel)?;
        let dir = self.open_in(&r.comps, libc::O_RDONLY | libc::O_DIRECTORY, &r)?;
        let mut out = Vec::new();
        list(dir.as_fd(), &mut |_, e| out.push(e)).map_err(|e| r.err(e))?;
        Ok(out)
    }

    /// Describes `rel` itself, like `lstat(2)`: a symlink as the last component is
    /// described (kind [`EntryKind::Symlink`]), one earlier on the path is an error.
    ///
    /// # Errors
    /// As [`Workspace::open_read`].
    pub fn metadata(&self, rel: &str) -> Result<Entry, WorkspaceError> {
        let r = self.rel(rel)?;
        let fd = self.open_in(&r.comps, libc::O_PATH | libc::O_NOFOLLOW, &r)?;
        let name = r.comps.last().cloned().unwrap_or_default();
        Entry::of(fd, name).map_err(|e| r.err(e))
    }

    /// Whether `rel` exists (a symlink as the last component counts, see
    /// [`Workspace::metadata`]).
    ///
    /// # Errors
    /// As [`Workspace::metadata`], except that [`WorkspaceError::NotFound`] is `Ok(false)`.
    pub fn exists(&self, rel: &str) -> Result<bool, WorkspaceError> {
        match self.metadata(rel) {
            Ok(_) => Ok(true),
            Err(WorkspaceError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every entry under directory `rel` down to `max_depth` levels (its own entries are
    /// depth 1; `0` lists nothing), as `(workspace-relative path with '/' separators,
    /// entry)`, sorted by path. Symlinks are listed, never followed; each subdirectory is
    /// opened relative to its parent's descriptor with `O_NOFOLLOW`, so a directory swapped
    /// for a link mid-walk is skipped, not entered. Subdirectories that vanish or cannot be
    /// opened are listed but not descended into.
    ///
    /// # Errors
    /// As [`Workspace::read_dir`] for `rel` itself.
    pub fn walk(
        &self,
        rel: &str,
        max_depth: usize,
    ) -> Result<Vec<(String, Entry)>, WorkspaceError> {
        let r = self.rel(rel)?;
        let dir = self.open_in(&r.comps, libc::O_RDONLY | libc::O_DIRECTORY, &r)?;
        let mut out = Vec::new();
        if max_depth > 0 {
            walk_dir(dir.as_fd(), &r.comps.join("/"), max_depth - 1, &mut out)
                .map_err(|e| r.err(e))?;
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Removes file, symlink (the link itself) or empty directory `rel` (`unlinkat`).
    ///
    /// # Errors
    /// As [`Workspace::open_read`] for the parent; [`WorkspaceError::NotFound`];
    /// [`WorkspaceError::Invalid`] for the root; `Io` (`DirectoryNotEmpty`, …).
    pub fn remove(&self, rel: &str) -> Result<(), WorkspaceError> {
        let r = self.rel(rel)?;
        let (parent, name) = r
            .split_last()
            .ok_or_else(|| r.invalid("is the workspace root; it cannot be removed"))?;
        let dir = self.open_in(parent, libc::O_PATH | libc::O_DIRECTORY, &r)?;
        match sys::unlinkat(dir.as_fd(), &name, 0) {
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                sys::unlinkat(dir.as_fd(), &name, libc::AT_REMOVEDIR)
            }
            other => other,
        }
        .map_err(|e| r.err(e))
    }
}
