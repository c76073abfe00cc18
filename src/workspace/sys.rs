//! The raw system calls under [`super::Workspace`]: `openat2(2)` and its one-time probe, the
//! `*at` calls on a held directory descriptor, and `getdents64(2)` for listing.
//!
//! Every function retries `EINTR` and returns a plain [`io::Result`]; mapping to
//! [`super::WorkspaceError`] (which names the caller's path) happens in the parent module.
//! Descriptors are `O_CLOEXEC` and owned ([`OwnedFd`]), so none leaks on any path.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

/// The `resolve` flags of every `openat2` call: stay beneath the directory descriptor and
/// follow no symlink at all (magic `/proc` links included). See
/// <https://man7.org/linux/man-pages/man2/openat2.2.html>.
pub const RESOLVE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// How many times an `openat2` that failed with `EAGAIN` (a concurrent rename elsewhere on
/// the system, see the man page) is retried before the error is returned.
const EAGAIN_RETRIES: u32 = 64;

/// Runs a libc call returning `-1`/errno, retrying `EINTR`.
fn cvt<T: PartialEq + From<i8>>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        let r = f();
        if r != T::from(-1) {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Wraps a descriptor a successful open returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `openat(2)` of `name` relative to `dir`, with `O_CLOEXEC` added; `mode` only matters
/// with `O_CREAT`. <https://man7.org/linux/man-pages/man2/openat.2.html>
pub fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is a live descriptor.
    let fd = cvt(|| unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags,
            libc::c_uint::from(mode),
        )
    })?;
    Ok(owned(fd))
}

/// `openat2(2)` of `path` relative to `dir` with [`RESOLVE`], `O_CLOEXEC` added. `EAGAIN`
/// is retried a bounded number of times. `ENOSYS` comes back as is, for the caller to
/// fall back on. <https://man7.org/linux/man-pages/man2/openat2.2.html>
pub fn openat2(dir: BorrowedFd<'_>, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `open_how` is plain integers; all-zero is its documented "no options" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = u64::from((flags | libc::O_CLOEXEC).cast_unsigned());
    how.resolve = RESOLVE;
    let mut again = 0;
    loop {
        // SAFETY: `path` is NUL-terminated, `how` is a valid `open_how` of the size passed,
        // both outlive the call; `dir` is a live descriptor.
        let r = cvt(|| unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &raw const how,
                std::mem::size_of::<libc::open_how>(),
            )
        });
        match r {
            Ok(fd) => {
                let fd = libc::c_int::try_from(fd)
                    .map_err(|_| io::Error::other("openat2 returned an out-of-range descriptor"))?;
                return Ok(owned(fd));
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && again < EAGAIN_RETRIES => {
                again += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `openat2` with [`RESOLVE`] works here, probed once per process on `dir` and
/// cached. Any failure of the probe counts as "no": `ENOSYS` (Linux < 5.6, qemu-user 7.2),
/// `EPERM` (a seccomp filter that does not know the call), `EINVAL` (unknown flags).
pub fn openat2_works(dir: BorrowedFd<'_>) -> bool {
    /// 0 = not probed yet, 1 = works, 2 = does not.
    static PROBED: AtomicU8 = AtomicU8::new(0);
    match PROBED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = openat2(dir, c".", libc::O_PATH | libc::O_DIRECTORY).is_ok();
            PROBED.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// `mkdirat(2)`: creates directory `name` in `dir` with `mode` (minus the umask).
/// <https://man7.org/linux/man-pages/man2/mkdirat.2.html>
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: as for `openat`.
    cvt(|| unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// `unlinkat(2)` of `name` in `dir`; `flags` is `0` or `AT_REMOVEDIR`. A symlink is
/// removed itself, never followed. <https://man7.org/linux/man-pages/man2/unlinkat.2.html>
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: as for `openat`.
    cvt(|| unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `renameat(2)` of `from` to `to`, both in `dir`; atomically replaces `to`.
/// <https://man7.org/linux/man-pages/man2/renameat.2.html>
pub fn renameat(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: as for `openat`.
    cvt(|| unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) }).map(drop)
}

/// The names in the directory open for reading as `dir` (`O_RDONLY|O_DIRECTORY`), without
/// `.` and `..`, read with `getdents64(2)` (the kernel's record layout, the same on every
/// architecture and libc). <https://man7.org/linux/man-pages/man2/getdents64.2.html>
pub fn read_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    /// Offset of `d_reclen` and of `d_name` in `struct linux_dirent64`.
    const RECLEN_AT: usize = 16;
    const NAME_AT: usize = 19;
    let mut buf = vec![0u8; 32 * 1024];
    let mut names = Vec::new();
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which lives
        // across the call.
        let n = cvt(|| unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        })?;
        let n = usize::try_from(n)
            .map_err(|_| io::Error::other("getdents64 returned a negative length"))?;
        if n == 0 {
            return Ok(names);
        }
        let mut at = 0;
        while at + NAME_AT < n {
            let reclen = usize::from(u16::from_ne_bytes([
                buf[at + RECLEN_AT],
                buf[at + RECLEN_AT + 1],
            ]));
            let end = (at + reclen).min(n);
            if reclen == 0 || end <= at + NAME_AT {
                return Err(io::Error::other("getdents64 returned a malformed record"));
            }
            let raw = &buf[at + NAME_AT..end];
            let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
            at += reclen;
        }
    }
}
