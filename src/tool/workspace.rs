//! The agent's workspace: one directory that the file tools may touch, and the path rules
//! that keep them inside it.
//!
//! [`Workspace::resolve`] turns a path given by the model (relative, or absolute but inside
//! the root) into a host path after two checks: the lexical normalisation of the path must
//! stay under the root, and the canonical form of its longest existing prefix (every
//! symlink followed) must too. [`Workspace::open_read`] and [`Workspace::write_atomic`] add
//! `O_NOFOLLOW` opens on top.
//!
//! **Remaining race.** The checks and the later open are separate system calls. A process
//! that can write inside the workspace may swap a directory on the path for a symlink after
//! `resolve` returned and before the file is opened, created, or renamed into place;
//! `O_NOFOLLOW` only guards the *final* component, so such a swap of a parent directory can
//! still redirect the operation outside. Closing that gap needs `openat2(RESOLVE_BENEATH)`
//! or a directory-fd walk, which this module does not do. The threat it defends against is a
//! model naming paths, not a concurrent local attacker.
//!
//! Error messages name the path as the model gave it, never the host path of the root.
//! This module imports nothing of Hearth but [`ToolError`].

use super::ToolError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the caller means to do with a resolved path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// The path must exist.
    Read,
    /// The path may not exist yet; its missing parent directories are created by
    /// [`Workspace::write_atomic`].
    Write,
}

/// A directory the file tools are confined to.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The canonical root (symlinks resolved, absolute).
    root: PathBuf,
    /// The root as given to [`Workspace::open`], made absolute; absolute paths from the
    /// model may use either spelling.
    given: PathBuf,
}

/// Counter making temporary file names unique within the process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Workspace {
    /// Opens the workspace at `root`, creating the directory (and parents) if missing, and
    /// canonicalises it.
    ///
    /// # Errors
    /// Any I/O error from creating or canonicalising the directory, or `NotADirectory` if
    /// `root` names a file.
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        let canonical = fs::canonicalize(root)?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "workspace root is not a directory",
            ));
        }
        let given = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()?.join(root)
        };
        let given = normalise(&given).unwrap_or(given);
        Ok(Self {
            root: canonical,
            given,
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a model-given path to a host path inside the workspace.
    ///
    /// `rel` may be relative to the root, or absolute if it lies under the root. The result
    /// has every symlink of its existing prefix resolved; components that do not exist yet
    /// are appended lexically.
    ///
    /// # Errors
    /// - [`ToolError::InvalidArgs`] for an empty path or one holding a NUL byte.
    /// - [`ToolError::OutsideWorkspace`] if the path leaves the root lexically (`..`, an
    ///   absolute path elsewhere) or through a symlink (including a final-component symlink
    ///   for [`Intent::Write`]).
    /// - [`ToolError::Io`] (`NotFound`) for [`Intent::Read`] of a missing path, or when a
    ///   dangling symlink lies on the path; other I/O errors as they come.
    pub fn resolve(&self, rel: &str, intent: Intent) -> Result<PathBuf, ToolError> {
        if rel.is_empty() {
            return Err(ToolError::InvalidArgs("path must not be empty".into()));
        }
        if rel.contains('\0') {
            return Err(ToolError::InvalidArgs(
                "path must not contain NUL bytes".into(),
            ));
        }
        let outside = || ToolError::OutsideWorkspace {
            path: rel.to_string(),
        };
        let given = Path::new(rel);
        let norm = if given.is_absolute() {
            let abs = normalise(given).ok_or_else(outside)?;
            abs.strip_prefix(&self.root)
                .or_else(|_| abs.strip_prefix(&self.given))
                .map_err(|_| outside())?
                .to_path_buf()
        } else {
            // Lexical normalisation; `..` may not climb above the root.
            let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
            for comp in given.components() {
                match comp {
                    Component::CurDir => {}
                    Component::ParentDir => {
                        if parts.pop().is_none() {
                            return Err(outside());
                        }
                    }
                    Component::Normal(p) => parts.push(p),
                    Component::RootDir | Component::Prefix(_) => return Err(outside()),
                }
            }
            parts.iter().collect()
        };
        self.check_inside(&norm, intent, rel)
    }

    /// Checks a lexically normalised relative path against symlink escapes, see
    /// [`Workspace::resolve`].
    fn check_inside(&self, norm: &Path, intent: Intent, rel: &str) -> Result<PathBuf, ToolError> {
        let outside = || ToolError::OutsideWorkspace {
            path: rel.to_string(),
        };
        let io_err = |e: io::Error| ToolError::io(rel, e);
        let comps: Vec<&std::ffi::OsStr> = norm.iter().collect();

        // Longest prefix that exists (as a directory entry, symlinks not followed).
        let mut existing = self.root.clone();
        let mut n_existing = 0;
        for comp in &comps {
            let next = existing.join(comp);
            match fs::symlink_metadata(&next) {
                Ok(_) => {
                    existing = next;
                    n_existing += 1;
                }
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.kind() == io::ErrorKind::NotADirectory =>
                {
                    break;
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        let canonical = match fs::canonicalize(&existing) {
            Ok(c) => c,
            // The entry exists but cannot be followed: a dangling symlink (or a loop).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(io_err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "a symbolic link on this path points to nothing; refusing to follow it",
                )));
            }
            Err(e) => return Err(io_err(e)),
        };
        if !canonical.starts_with(&self.root) {
            return Err(outside());
        }
        if n_existing < comps.len() && intent == Intent::Read {
            return Err(io_err(io::Error::from(io::ErrorKind::NotFound)));
        }
        let mut out = canonical;
        out.extend(&comps[n_existing..]);
        Ok(out)
    }

    /// Opens an existing regular file (or directory) inside the workspace for reading, with
    /// `O_NOFOLLOW` on the resolved path. `O_NONBLOCK` keeps a FIFO from hanging the open;
    /// anything but a regular file or directory is then refused.
    ///
    /// # Errors
    /// As [`Workspace::resolve`] with [`Intent::Read`], plus open errors, and
    /// `InvalidInput` for FIFOs, sockets and devices.
    pub fn open_read(&self, rel: &str) -> Result<File, ToolError> {
        let path = self.resolve(rel, Intent::Read)?;
        let io_err = |e: io::Error| ToolError::io(rel, e);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(&path)
            .map_err(io_err)?;
        let ft = file.metadata().map_err(io_err)?.file_type();
        if !ft.is_file() && !ft.is_dir() {
            let msg = "not a regular file (FIFO, socket or device)";
            return Err(io_err(io::Error::new(io::ErrorKind::InvalidInput, msg)));
        }
        Ok(file)
    }

    /// Replaces (or creates) the file `rel` with `data`, atomically: missing parent
    /// directories are created, the bytes go to a fresh temporary file in the same
    /// directory (opened `O_CREAT|O_EXCL|O_NOFOLLOW`), which is fsynced and renamed over
    /// the target; the directory is then fsynced. An existing file's permission bits are
    /// kept; a new file gets `0o644` minus the umask.
    ///
    /// Readers see either the old or the new content, never a mix. A symlink as the final
    /// component that points inside the workspace is resolved first, so its target is
    /// replaced and the link kept.
    ///
    /// # Errors
    /// As [`Workspace::resolve`] with [`Intent::Write`], plus I/O errors (e.g. the target
    /// is a directory); on error the temporary file is removed.
    pub fn write_atomic(&self, rel: &str, data: &[u8]) -> Result<(), ToolError> {
        let io_err = |e: io::Error| ToolError::io(rel, e);
        let path = self.resolve(rel, Intent::Write)?;
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file path",
            )));
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        // Re-check now that the parents exist: a racing symlink swap would show here.
        let again = self.resolve(rel, Intent::Write)?;
        if again != path {
            return Err(ToolError::OutsideWorkspace {
                path: rel.to_string(),
            });
        }
        let mode = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                return Err(io_err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                )));
            }
            Ok(m) => Some(m.permissions().mode() & 0o7777),
            Err(_) => None,
        };
        let seq = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".hearth-tmp.{}.{seq}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let result = (|| -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&tmp)?;
            if let Some(mode) = mode {
                f.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            f.write_all(data)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            // Persist the rename itself; failure here is not worth failing the write for.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        Ok(())
    }
}

/// Lexically normalises an absolute path (`.` dropped, `..` pops); `None` if `..` climbs
/// above `/`.
fn normalise(path: &Path) -> Option<PathBuf> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A unique directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("hearth-{tag}-{}-{nanos}-{n}", std::process::id()));
            fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn outside(r: Result<PathBuf, ToolError>, given: &str) {
        match r {
            Err(ToolError::OutsideWorkspace { path }) => assert_eq!(path, given),
            other => panic!("expected OutsideWorkspace for {given}, got {other:?}"),
        }
    }

    #[test]
    fn open_creates_and_canonicalises() {
        let t = TempDir::new("ws-open");
        let ws = Workspace::open(&t.0.join("a/./b")).unwrap();
        assert!(ws.root().is_dir());
        assert_eq!(ws.root(), fs::canonicalize(t.0.join("a/b")).unwrap());
    }

    #[test]
    fn relative_and_absolute_inside_resolve() {
        let t = TempDir::new("ws-inside");
        let ws = Workspace::open(&t.0).unwrap();
        ws.write_atomic("a/b.txt", b"hi").unwrap();
        let want = ws.root().join("a/b.txt");
        assert_eq!(ws.resolve("a/b.txt", Intent::Read).unwrap(), want);
        assert_eq!(ws.resolve("./a/../a/b.txt", Intent::Read).unwrap(), want);
        let abs = ws.root().join("a/b.txt");
        assert_eq!(
            ws.resolve(abs.to_str().unwrap(), Intent::Read).unwrap(),
            want
        );
        let given_abs = t.0.join("a/b.txt");
        assert_eq!(
            ws.resolve(given_abs.to_str().unwrap(), Intent::Read)
                .unwrap(),
            want
        );
        assert_eq!(
            ws.resolve("new/dir/c.txt", Intent::Write).unwrap(),
            ws.root().join("new/dir/c.txt")
        );
        assert_eq!(ws.resolve(".", Intent::Read).unwrap(), ws.root());
    }

    #[test]
    fn lexical_escapes_and_absolute_outside_are_refused() {
        let t = TempDir::new("ws-escape");
        let ws = Workspace::open(&t.0).unwrap();
        for p in [
            "../../etc/passwd",
            "..",
            "a/../../x",
            "/etc/passwd",
            "/",
            "/etc/../etc/passwd",
        ] {
            outside(ws.resolve(p, Intent::Read), p);
            outside(ws.resolve(p, Intent::Write), p);
        }
        let sibling = format!("{}/../x", ws.root().display());
        outside(ws.resolve(&sibling, Intent::Write), &sibling);
        assert!(matches!(
            ws.resolve("", Intent::Read),
            Err(ToolError::InvalidArgs(_))
        ));
        assert!(matches!(
            ws.resolve("a\0b", Intent::Read),
            Err(ToolError::InvalidArgs(_))
        ));
    }

    #[test]
    fn symlinks_pointing_out_are_refused() {
        let t = TempDir::new("ws-symout");
        let out = TempDir::new("ws-symout-target");
        fs::write(out.0.join("secret"), b"s").unwrap();
        let ws = Workspace::open(&t.0).unwrap();
        symlink("/etc", ws.root().join("etc")).unwrap();
        symlink(&out.0, ws.root().join("outdir")).unwrap();
        symlink(out.0.join("secret"), ws.root().join("secret")).unwrap();
        outside(ws.resolve("etc/passwd", Intent::Read), "etc/passwd");
        outside(ws.resolve("etc", Intent::Read), "etc");
        assert!(matches!(
            ws.open_read("etc/passwd"),
            Err(ToolError::OutsideWorkspace { .. })
        ));
        assert!(matches!(
            ws.open_read("secret"),
            Err(ToolError::OutsideWorkspace { .. })
        ));
        for p in [
            "outdir/new.txt",
            "outdir/deep/new.txt",
            "outdir/secret",
            "secret",
        ] {
            assert!(
                matches!(
                    ws.write_atomic(p, b"x"),
                    Err(ToolError::OutsideWorkspace { .. })
                ),
                "{p}"
            );
        }
        assert_eq!(fs::read(out.0.join("secret")).unwrap(), b"s");
        assert!(!out.0.join("new.txt").exists() && !out.0.join("deep").exists());
    }

    #[test]
    fn symlinks_inside_are_fine() {
        let t = TempDir::new("ws-symin");
        let ws = Workspace::open(&t.0).unwrap();
        ws.write_atomic("real/f.txt", b"one").unwrap();
        symlink(ws.root().join("real"), ws.root().join("alias")).unwrap();
        symlink("real/f.txt", ws.root().join("flink")).unwrap();
        assert_eq!(
            ws.resolve("alias/f.txt", Intent::Read).unwrap(),
            ws.root().join("real/f.txt")
        );
        ws.write_atomic("flink", b"two").unwrap();
        assert_eq!(fs::read(ws.root().join("real/f.txt")).unwrap(), b"two");
        assert!(
            fs::symlink_metadata(ws.root().join("flink"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        ws.write_atomic("alias/g.txt", b"three").unwrap();
        assert_eq!(fs::read(ws.root().join("real/g.txt")).unwrap(), b"three");
    }

    #[test]
    fn missing_and_dangling_paths_name_only_the_given_path() {
        let t = TempDir::new("ws-missing");
        let ws = Workspace::open(&t.0).unwrap();
        symlink(ws.root().join("nowhere"), ws.root().join("dangling")).unwrap();
        for p in ["nope.txt", "dangling"] {
            let err = ws.resolve(p, Intent::Read).unwrap_err();
            assert!(matches!(err, ToolError::Io { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(p) && !msg.contains(&*t.0.to_string_lossy()),
                "{msg}"
            );
        }
        assert!(ws.write_atomic("dangling", b"x").is_err());
        nix::unistd::mkfifo(&ws.root().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let msg = ws.open_read("fifo").unwrap_err().to_string();
        assert!(msg.starts_with("fifo: not a regular file"), "{msg}");
        assert!(!ws.root().join("nowhere").exists());
    }

    #[test]
    fn write_atomic_keeps_mode_and_leaves_no_temp_files() {
        let t = TempDir::new("ws-atomic");
        let ws = Workspace::open(&t.0).unwrap();
        ws.write_atomic("x.sh", b"#!/bin/sh\n").unwrap();
        fs::set_permissions(ws.root().join("x.sh"), fs::Permissions::from_mode(0o750)).unwrap();
        ws.write_atomic("x.sh", b"#!/bin/sh\necho\n").unwrap();
        let meta = fs::metadata(ws.root().join("x.sh")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o750);
        assert_eq!(fs::read_dir(ws.root()).unwrap().count(), 1);
        fs::create_dir(ws.root().join("d")).unwrap();
        assert!(matches!(
            ws.write_atomic("d", b"x"),
            Err(ToolError::Io { .. })
        ));
    }
}
