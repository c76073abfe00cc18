//! The swap both race tests use: `renameat2(RENAME_EXCHANGE)` of two paths, so each name
//! always exists (a directory one instant, a symlink the next). Included with `#[path]`.

use std::ffi::CString;

/// Exchanges `a` and `b` atomically; whether the kernel did. The raw call: older musl (as
/// in Rust's self-contained one) has no renameat2 wrapper.
pub fn exchange(a: &CString, b: &CString) -> bool {
    // SAFETY: both paths are NUL-terminated and live across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    r == 0
}
