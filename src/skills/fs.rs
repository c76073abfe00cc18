//! How the loader reads one skills root: the [`SkillFs`] trait and [`StdFs`], its `std::fs`
//! implementation for directories Hearth owns (the managed dir).
//!
//! The workspace's `skills/` is read through the integrator's implementation over the
//! race-free `Workspace`, so this module never opens a workspace path itself. Imports
//! nothing of Hearth.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Read access to one skills root (a directory whose subfolders are skills).
///
/// Paths are relative to the root, `/`-separated, never absolute and never containing `..`;
/// `""` is the root itself. The loader asks only for `list_dirs("")` and `read("<folder>/SKILL.md", …)`.
pub trait SkillFs: Send + Sync {
    /// Names of the subdirectories of `rel` (not files), in any order. A missing root is
    /// reported as [`io::ErrorKind::NotFound`] and treated as empty by the loader.
    ///
    /// # Errors
    /// Any I/O error listing the directory.
    fn list_dirs(&self, rel: &str) -> io::Result<Vec<String>>;

    /// The whole content of the regular file `rel`, if it is at most `max_bytes` long.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when it does not exist (the folder is then not a skill),
    /// [`io::ErrorKind::FileTooLarge`] when it is longer than `max_bytes`,
    /// [`io::ErrorKind::InvalidInput`] when it is not a regular file, or any other I/O error.
    fn read(&self, rel: &str, max_bytes: u64) -> io::Result<Vec<u8>>;

    /// How `rel` is named to the agent (the prompt's `<location>`, the body's `{baseDir}`)
    /// and in diagnostics: an absolute path for [`StdFs`], a workspace-relative path for the
    /// workspace, so the agent's file tools can open it.
    fn display(&self, rel: &str) -> String;
}

/// [`SkillFs`] over a plain directory with `std::fs`. It follows symlinks and is meant for
/// directories Hearth owns, not for the agent's workspace.
#[derive(Debug, Clone)]
pub struct StdFs {
    root: PathBuf,
}

impl StdFs {
    /// A reader rooted at `root` (not touched until used).
    pub fn new(root: impl Into<PathBuf>) -> StdFs {
        StdFs { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

impl SkillFs for StdFs {
    fn list_dirs(&self, rel: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.path(rel))? {
            let entry = entry?;
            // `metadata` (not `file_type`) so a symlinked skill folder counts as a folder.
            if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir())
                && let Ok(name) = entry.file_name().into_string()
            {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, rel: &str, max_bytes: u64) -> io::Result<Vec<u8>> {
        let path = self.path(rel);
        // Checked before opening: opening a FIFO for reading would block.
        if !std::fs::metadata(&path)?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&path)?
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than {max_bytes} bytes"),
            ));
        }
        Ok(bytes)
    }

    fn display(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }
}
