//! Landlock (<https://docs.kernel.org/userspace-api/landlock.html>, ABI history in
//! <https://man7.org/linux/man-pages/man7/landlock.7.html>) by hand: two structs, bit
//! constants and three system calls (numbers 444–446 on every architecture).
//!
//! The ruleset is built in the gateway before `fork`; the child only calls
//! [`restrict_self`]. It handles every filesystem right of the kernel's ABI and grants:
//! - the workspace and the private tmp: everything except creating device nodes and
//!   device ioctls (read, write, execute, truncate, make/remove, rename and link within);
//! - read + execute: `/usr /bin /lib /lib64 /lib32 /sbin` (those present) and
//!   [`Spec::read_only`];
//! - read: a short `/etc` list ([`ETC_BASE`], plus [`ETC_NETWORK`] when the network is on);
//! - `/dev/null` read, write, truncate; `/dev/zero` and `/dev/urandom` read.
//!
//! Nothing else: not `/proc` (no other process's environ or memory, nor the command's own),
//! not `$HOME`, not `/tmp`, not `/sys`. With ABI ≥ 4 and the network off, TCP bind and
//! connect are handled with no port allowed; with ABI ≥ 6 signals and abstract UNIX
//! sockets are scoped to the command's own domain. ABI 1 refuses every rename or link
//! across directories (no `REFER` right yet). Symlinks are resolved before the check, so a
//! link in the workspace pointing outside grants nothing.

use super::{SandboxError, Spec};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

// Filesystem rights (include/uapi/linux/landlock.h), with the ABI that added them.
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_BLOCK: u64 = 1 << 11;
/// ABI 3.
const TRUNCATE: u64 = 1 << 14;
/// ABI 5.
const IOCTL_DEV: u64 = 1 << 15;
/// The rights a rule on a file (not a directory) may carry.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

// Network rights (ABI 4) and scopes (ABI 6).
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

const CREATE_RULESET_VERSION: libc::c_uint = 1 << 0;
const RULE_PATH_BENEATH: libc::c_int = 1;
const SYS_CREATE_RULESET: libc::c_long = 444;
const SYS_ADD_RULE: libc::c_long = 445;
const SYS_RESTRICT_SELF: libc::c_long = 446;

/// System directories the command may read and execute, when present.
pub(crate) const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32"];

/// `/etc` entries the command may read: the dynamic loader, user and group names, the
/// time zone, git's system config.
pub(crate) const ETC_BASE: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/gitconfig",
];

/// `/etc` entries added when the network is on: name resolution and TLS roots.
pub(crate) const ETC_NETWORK: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
];

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The kernel's Landlock ABI version.
///
/// # Errors
/// The errno of `landlock_create_ruleset`: ENOSYS (not built), EOPNOTSUPP (not enabled),
/// EPERM (filtered by the service's seccomp policy).
pub(crate) fn abi_version() -> io::Result<u32> {
    // SAFETY: the version query takes no pointer.
    let r = unsafe {
        libc::syscall(
            SYS_CREATE_RULESET,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(u32::try_from(r).unwrap_or(0))
    }
}

/// Every filesystem right ABI `abi` knows.
fn fs_rights(abi: u32) -> u64 {
    match abi {
        0 => 0,
        1 => (1 << 13) - 1,
        2 => (1 << 14) - 1,
        3 | 4 => (1 << 15) - 1,
        _ => (1 << 16) - 1,
    }
}

/// Builds the ruleset for `spec` at ABI `abi` (the kernel's; newer ABIs than 7 are used
/// as 7). The returned fd is close-on-exec; hand it to [`restrict_self`] in the child.
///
/// # Errors
/// [`SandboxError::Path`] when the workspace, tmp or a read-only path cannot be opened;
/// [`SandboxError::Landlock`] when a Landlock call fails.
pub(crate) fn build(abi: u32, spec: &Spec) -> Result<OwnedFd, SandboxError> {
    let handled = fs_rights(abi);
    let mut attr = RulesetAttr {
        handled_access_fs: handled,
        handled_access_net: 0,
        scoped: 0,
    };
    // The struct grew with ABI 4 (net) and 6 (scoped); pass the size the kernel knows.
    let mut size = std::mem::size_of::<u64>();
    if abi >= 4 {
        size += std::mem::size_of::<u64>();
        if !spec.network {
            attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
        }
    }
    if abi >= 6 {
        size += std::mem::size_of::<u64>();
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
    }
    // SAFETY: attr outlives the call and `size` does not exceed it.
    let fd = unsafe { libc::syscall(SYS_CREATE_RULESET, &attr as *const RulesetAttr, size, 0u32) };
    if fd < 0 {
        return Err(SandboxError::Landlock {
            step: "landlock_create_ruleset",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: a fresh fd (close-on-exec, as landlock_create_ruleset makes it) owned here only.
    let ruleset = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };

    let all_but_devices = handled & !(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV);
    let read_exec = READ_FILE | READ_DIR | EXECUTE;
    let add = |path: &Path, rights: u64| add_rule(&ruleset, path, rights & handled);
    add(&spec.workspace, all_but_devices)
        .map_err(|e| path_error("workspace", &spec.workspace, e))?;
    add(&spec.tmp, all_but_devices).map_err(|e| path_error("tmp", &spec.tmp, e))?;
    for p in &spec.read_only {
        add(p, read_exec).map_err(|e| path_error("read-only path", p, e))?;
    }
    let etc_network: &[&str] = if spec.network { ETC_NETWORK } else { &[] };
    let optional = SYSTEM_DIRS
        .iter()
        .map(|p| (*p, read_exec))
        .chain(
            ETC_BASE
                .iter()
                .chain(etc_network)
                .map(|p| (*p, READ_FILE | READ_DIR)),
        )
        .chain([
            ("/dev/null", READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV),
            ("/dev/zero", READ_FILE),
            ("/dev/urandom", READ_FILE),
        ]);
    for (p, rights) in optional {
        match add(Path::new(p), rights) {
            Ok(()) => {}
            Err(RuleError::Open(e)) if e.kind() == io::ErrorKind::NotFound => {}
            Err(RuleError::Open(e)) => tracing::debug!("sandbox: no Landlock rule for {p}: {e}"),
            Err(RuleError::Add(e)) => {
                return Err(SandboxError::Landlock {
                    step: "landlock_add_rule",
                    source: e,
                });
            }
        }
    }
    Ok(ruleset)
}

enum RuleError {
    /// The path could not be opened (missing, bad name).
    Open(io::Error),
    /// The kernel refused the rule.
    Add(io::Error),
}

fn path_error(what: &'static str, path: &Path, e: RuleError) -> SandboxError {
    match e {
        RuleError::Open(source) => SandboxError::Path {
            what,
            path: path.to_path_buf(),
            source,
        },
        RuleError::Add(source) => SandboxError::Landlock {
            step: "landlock_add_rule",
            source,
        },
    }
}

/// Grants `rights` beneath `path` (following symlinks; only file rights on a file).
fn add_rule(ruleset: &OwnedFd, path: &Path, rights: u64) -> Result<(), RuleError> {
    let fd = open_path(path.as_os_str()).map_err(RuleError::Open)?;
    // SAFETY: fd is open; st is plain data written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(RuleError::Open(io::Error::last_os_error()));
    }
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let allowed = if is_dir { rights } else { rights & FILE_RIGHTS };
    if allowed == 0 {
        return Ok(());
    }
    let attr = PathBeneathAttr {
        allowed_access: allowed,
        parent_fd: fd.as_raw_fd(),
    };
    // SAFETY: both fds are open; attr outlives the call.
    let r = unsafe {
        libc::syscall(
            SYS_ADD_RULE,
            ruleset.as_raw_fd(),
            RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if r != 0 {
        return Err(RuleError::Add(io::Error::last_os_error()));
    }
    Ok(())
}

/// `open(path, O_PATH | O_CLOEXEC)` through libc: std's `custom_flags` would mask `O_PATH`
/// out on musl, where `O_ACCMODE` includes it (rust-landlock PR #150).
fn open_path(path: &OsStr) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: c is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and owned here only.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `landlock_restrict_self(ruleset, 0)`: for the child between fork and exec (a raw system
/// call, async-signal-safe). Needs `PR_SET_NO_NEW_PRIVS` first. Returns the raw result
/// (0, or -1 with errno set).
pub(crate) fn restrict_self(ruleset: RawFd) -> libc::c_long {
    // SAFETY: integer arguments only.
    unsafe { libc::syscall(SYS_RESTRICT_SELF, ruleset, 0u32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_grow_with_the_abi() {
        assert_eq!(fs_rights(1), 0x1fff);
        assert_eq!(fs_rights(2) & (1 << 13), 1 << 13, "REFER from ABI 2");
        assert_eq!(fs_rights(3) & TRUNCATE, TRUNCATE);
        assert_eq!(fs_rights(4) & IOCTL_DEV, 0, "IOCTL_DEV only from ABI 5");
        assert_eq!(fs_rights(7), 0xffff);
        assert_eq!(std::mem::size_of::<PathBeneathAttr>(), 12);
        assert_eq!(std::mem::size_of::<RulesetAttr>(), 24);
    }
}
