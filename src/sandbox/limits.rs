//! Resource limits for the child (<https://man7.org/linux/man-pages/man2/prlimit.2.html>):
//! computed in the gateway before `fork`, set by the child with raw `prlimit64` calls.

use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `struct rlimit64`: 64-bit on every architecture, unlike `libc::rlimit` on 32-bit arm.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rlimit64 {
    pub cur: u64,
    pub max: u64,
}

/// The current limit of `resource` (both unlimited if the call fails).
pub(crate) fn get_rlimit(resource: libc::c_int) -> Rlimit64 {
    let mut old = Rlimit64 {
        cur: u64::MAX,
        max: u64::MAX,
    };
    // SAFETY: reads the limit into a local.
    unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            std::ptr::null::<Rlimit64>(),
            &mut old as *mut Rlimit64,
        )
    };
    old
}

/// The limits to set, each at most the gateway's current hard limit (raising it needs
/// privilege).
pub(crate) fn rlimits(l: &super::Limits) -> Vec<(libc::c_int, Rlimit64)> {
    // The resource types differ between glibc (c_uint) and musl (c_int).
    #[allow(clippy::unnecessary_cast)]
    let r = |res| res as libc::c_int;
    let nproc = count_tasks_of_user().saturating_add(l.processes);
    let mut out = Vec::with_capacity(6);
    for (res, soft, hard) in [
        (
            r(libc::RLIMIT_CPU),
            l.cpu_secs,
            l.cpu_secs.saturating_add(1),
        ),
        (
            r(libc::RLIMIT_AS),
            l.address_space_bytes,
            l.address_space_bytes,
        ),
        (r(libc::RLIMIT_NPROC), nproc, nproc),
        (r(libc::RLIMIT_FSIZE), l.file_size_bytes, l.file_size_bytes),
        (r(libc::RLIMIT_NOFILE), l.open_files, l.open_files),
        (r(libc::RLIMIT_CORE), 0, 0),
    ] {
        let cap = get_rlimit(res).max;
        let max = hard.min(cap);
        out.push((
            res,
            Rlimit64 {
                cur: soft.min(max),
                max,
            },
        ));
    }
    out
}

/// Tasks (threads) whose real uid is ours: what `RLIMIT_NPROC` is checked against. Read
/// from `/proc/*/status` (about 10 µs a process) at most once a second; 0 for root, which
/// the limit does not bind.
fn count_tasks_of_user() -> u64 {
    static CACHE: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        return 0;
    }
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, n)) = *cache
        && at.elapsed() < Duration::from_secs(1)
    {
        return n;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut text = String::new();
    let mut total = 0u64;
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name
            .as_encoded_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
        {
            continue;
        }
        text.clear();
        let path = entry.path().join("status");
        if std::fs::File::open(&path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .is_err()
        {
            continue;
        }
        let field = |key: &str| -> Option<u64> {
            let line = text.lines().find(|l| l.starts_with(key))?;
            line[key.len()..].split_whitespace().next()?.parse().ok()
        };
        if field("Uid:") == Some(u64::from(uid)) {
            total += field("Threads:").unwrap_or(1);
        }
    }
    *cache = Some((Instant::now(), total));
    total
}

/// Where the close-on-exec fallback loop stops: the soft `RLIMIT_NOFILE`, at most 65536.
pub(crate) fn fd_scan_end() -> libc::c_int {
    get_rlimit(libc::RLIMIT_NOFILE as libc::c_int)
        .cur
        .min(65536) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped_to_the_hard_limits() {
        let l = super::super::Limits {
            open_files: u64::MAX - 1,
            ..Default::default()
        };
        let set = rlimits(&l);
        assert_eq!(set.len(), 6);
        let nofile = libc::RLIMIT_NOFILE as libc::c_int;
        let (_, lim) = set
            .iter()
            .find(|(r, _)| *r == nofile)
            .expect("NOFILE is set");
        assert_eq!(
            lim.max,
            get_rlimit(nofile).max,
            "not above the gateway's hard limit"
        );
        let cpu = libc::RLIMIT_CPU as libc::c_int;
        let (_, lim) = set.iter().find(|(r, _)| *r == cpu).expect("CPU is set");
        assert_eq!((lim.cur, lim.max), (60, 61));
        assert!(fd_scan_end() > 3);
    }
}
