//! What the kernel offers the sandbox, probed once per process, and the gateway's own
//! hardening. Probing makes no change to the process: every call is made so that it fails
//! with an error that tells the answer.

use super::{Mode, SandboxError, landlock, seccomp};
use std::io;
use std::sync::OnceLock;

/// Whether the kernel offers Landlock (<https://man7.org/linux/man-pages/man2/landlock_create_ruleset.2.html>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandlockStatus {
    /// Usable, at this ABI version (1 = Linux 5.13 … 7 = Linux 6.15).
    Available {
        /// The highest ABI the kernel supports.
        abi: u32,
    },
    /// Not usable, and why, phrased for an operator.
    Missing {
        /// E.g. "this kernel has no Landlock (Raspberry Pi OS kernels are built without it)".
        reason: String,
    },
}

/// The sandbox features of this kernel, as seen from this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Landlock and its ABI.
    pub landlock: LandlockStatus,
    /// Seccomp filters work and Hearth has a filter for this CPU architecture.
    pub seccomp: bool,
    /// `openat2(2)` exists (Linux 5.6; qemu-user before 9.2 lacks it): for the workspace
    /// file tools' `RESOLVE_BENEATH`.
    pub openat2: bool,
}

impl Probe {
    /// The Landlock ABI, when available.
    pub fn landlock_abi(&self) -> Option<u32> {
        match self.landlock {
            LandlockStatus::Available { abi } => Some(abi),
            LandlockStatus::Missing { .. } => None,
        }
    }

    /// Whether a command may run in `mode` on this kernel.
    ///
    /// # Errors
    /// [`SandboxError::SeccompMissing`] without seccomp (any mode);
    /// [`SandboxError::LandlockMissing`] in [`Mode::Enforce`] without Landlock.
    pub fn check(&self, mode: Mode) -> Result<(), SandboxError> {
        if !self.seccomp {
            return Err(SandboxError::SeccompMissing);
        }
        match (&self.landlock, mode) {
            (LandlockStatus::Missing { reason }, Mode::Enforce) => {
                Err(SandboxError::LandlockMissing {
                    reason: reason.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Probes the kernel once (three failing or trivial system calls, well under a
/// millisecond) and returns the cached answer ever after. The first call logs it.
pub fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let p = Probe {
            landlock: probe_landlock(),
            seccomp: probe_seccomp(),
            openat2: probe_openat2(),
        };
        match &p.landlock {
            LandlockStatus::Available { abi } => {
                tracing::info!(
                    landlock_abi = abi,
                    seccomp = p.seccomp,
                    openat2 = p.openat2,
                    "sandbox: probed"
                );
            }
            LandlockStatus::Missing { reason } => {
                tracing::warn!(
                    seccomp = p.seccomp,
                    openat2 = p.openat2,
                    "sandbox: no Landlock: {reason}"
                );
            }
        }
        p
    })
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the ABI, or an
/// errno whose meaning Chromium's `landlock_util.cc` and our measurements agree on.
fn probe_landlock() -> LandlockStatus {
    match landlock::abi_version() {
        Ok(abi) if abi >= 1 => LandlockStatus::Available { abi },
        Ok(abi) => LandlockStatus::Missing {
            reason: format!("the kernel reports Landlock ABI {abi}"),
        },
        Err(e) => LandlockStatus::Missing {
            reason: landlock_reason(&e),
        },
    }
}

fn landlock_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            "this kernel has no Landlock (Raspberry Pi OS kernels are built without it)".into()
        }
        Some(libc::EOPNOTSUPP) => {
            "Landlock is built but disabled: add lsm=landlock to the kernel command line".into()
        }
        Some(libc::EPERM) => "Landlock is blocked by the service's SystemCallFilter: update \
                              hearth.service (SystemCallFilter=seccomp landlock_create_ruleset \
                              landlock_add_rule landlock_restrict_self)"
            .into(),
        _ => format!("landlock_create_ruleset failed: {e}"),
    }
}

/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL)` fails with EFAULT when filters are
/// usable (systemd's `is_seccomp_filter_available`), EINVAL when not (qemu-user, or a
/// kernel without `CONFIG_SECCOMP_FILTER`).
fn probe_seccomp() -> bool {
    if seccomp::NATIVE_ARCH.is_none() {
        return false;
    }
    // SAFETY: a NULL program cannot be installed; the call only validates its arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// `openat2(AT_FDCWD, "/", {O_PATH|O_CLOEXEC}, …)`.
fn probe_openat2() -> bool {
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    // SAFETY: valid C string and struct pointer with its size; the fd is closed below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd was just returned to us and is closed once.
    unsafe { libc::close(fd as libc::c_int) };
    true
}

/// Makes the gateway non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`,
/// <https://man7.org/linux/man-pages/man2/pr_set_dumpable.2const.html>): processes of the
/// same user — commands run without Landlock above all — can then no longer read
/// `/proc/<gateway>/environ` or `/proc/<gateway>/mem`, nor ptrace it. Children are
/// dumpable again after `execve`, so this costs the gateway only its core dumps. Call once
/// at start; a failure is logged.
pub fn harden_gateway() {
    // SAFETY: plain prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong) };
    if r == 0 {
        tracing::debug!("sandbox: gateway is no longer dumpable");
    } else {
        let e = io::Error::last_os_error();
        tracing::warn!("sandbox: prctl(PR_SET_DUMPABLE, 0) failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landlock_reasons_name_the_fix() {
        let r = |errno| landlock_reason(&io::Error::from_raw_os_error(errno));
        assert!(r(libc::ENOSYS).contains("Raspberry Pi OS"));
        assert!(r(libc::EOPNOTSUPP).contains("lsm=landlock"));
        assert!(r(libc::EPERM).contains("hearth.service"));
    }

    #[test]
    fn check_refuses_by_mode() {
        let missing = LandlockStatus::Missing { reason: "x".into() };
        let p = Probe {
            landlock: missing,
            seccomp: true,
            openat2: true,
        };
        assert!(matches!(
            p.check(Mode::Enforce),
            Err(SandboxError::LandlockMissing { .. })
        ));
        assert!(p.check(Mode::Degraded).is_ok());
        let p = Probe {
            seccomp: false,
            ..p
        };
        assert!(matches!(
            p.check(Mode::Degraded),
            Err(SandboxError::SeccompMissing)
        ));
    }
}
