//! [`WorkspaceError`], the one error type of [`super::Workspace`]'s operations.

use std::io;

/// A failure of a workspace operation. Every variant names the workspace-relative path as
/// the caller gave it.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The path leaves the workspace: `..` above the root, or an absolute path elsewhere.
    #[error("path {path:?} is outside the workspace")]
    Outside {
        /// The path as given.
        path: String,
    },
    /// A component of the path is a symbolic link; see the module docs for why none are
    /// followed.
    #[error("path {path:?} crosses a symlink; the workspace does not follow symlinks")]
    Symlink {
        /// The path as given.
        path: String,
    },
    /// The path, or a directory on it, does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// The file is larger than the caller's limit.
    #[error("{path}: {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The path as given.
        path: String,
        /// Its size, bytes.
        size: u64,
        /// The limit, bytes.
        max: u64,
    },
    /// The path or what it names cannot be used this way: a NUL byte, the root where a file
    /// is needed, a FIFO/socket/device, a file with other hard links for `append`.
    #[error("{path}: {reason}")]
    Invalid {
        /// The path as given.
        path: String,
        /// Why, for people and models.
        reason: &'static str,
    },
    /// Any other I/O error (`ENOTDIR`, `EISDIR`, `EACCES`, `ENOSPC`, invalid UTF-8 from
    /// [`super::Workspace::read_to_string`] as `InvalidData`, …).
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The OS error.
        source: io::Error,
    },
}

impl WorkspaceError {
    /// The path as the caller gave it.
    pub fn path(&self) -> &str {
        match self {
            Self::Outside { path }
            | Self::Symlink { path }
            | Self::NotFound { path }
            | Self::TooLarge { path, .. }
            | Self::Invalid { path, .. }
            | Self::Io { path, .. } => path,
        }
    }

    /// Maps an OS error of an operation on `path`: `ENOENT` → [`Self::NotFound`], `ELOOP`
    /// (a symlink met under `O_NOFOLLOW`/`RESOLVE_NO_SYMLINKS`) → [`Self::Symlink`],
    /// `EXDEV` (`RESOLVE_BENEATH` refused) → [`Self::Outside`], anything else → [`Self::Io`].
    pub(super) fn os(path: &str, e: io::Error) -> Self {
        let path = path.to_string();
        match e.raw_os_error() {
            Some(libc::ENOENT) => Self::NotFound { path },
            Some(libc::ELOOP) => Self::Symlink { path },
            Some(libc::EXDEV) => Self::Outside { path },
            _ => Self::Io { path, source: e },
        }
    }
}

/// For callers whose errors are [`io::Error`]s (the memory flush, the skills loader's
/// `SkillFs`): the message (with the path) is kept, and the kind is `PermissionDenied` for
/// [`WorkspaceError::Outside`] and [`WorkspaceError::Symlink`],
/// `NotFound`, `FileTooLarge`, `InvalidInput` for [`WorkspaceError::Invalid`], and the OS
/// error's own kind for [`WorkspaceError::Io`].
impl From<WorkspaceError> for io::Error {
    fn from(e: WorkspaceError) -> Self {
        let kind = match &e {
            WorkspaceError::Outside { .. } | WorkspaceError::Symlink { .. } => {
                io::ErrorKind::PermissionDenied
            }
            WorkspaceError::NotFound { .. } => io::ErrorKind::NotFound,
            WorkspaceError::TooLarge { .. } => io::ErrorKind::FileTooLarge,
            WorkspaceError::Invalid { .. } => io::ErrorKind::InvalidInput,
            WorkspaceError::Io { source, .. } => source.kind(),
        };
        io::Error::new(kind, e)
    }
}
