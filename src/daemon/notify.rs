//! systemd's service notification protocol, spoken without libsystemd: one datagram per
//! message to the `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or an abstract name
//! when it starts with `@`). Messages are newline-separated `KEY=VALUE` assignments:
//! `READY=1`, `RELOADING=1`, `STATUS=…`, `STOPPING=1`, `WATCHDOG=1`. Protocol: sd_notify(3) and
//! <https://systemd.io/NOTIFY/>; watchdog: `WatchdogSec=` in systemd.service(5), which
//! exports `$WATCHDOG_USEC` (µs) and `$WATCHDOG_PID` to the service.
//!
//! Outside systemd (no `$NOTIFY_SOCKET`) every call is a no-op, so the gateway runs the same
//! in a terminal, a test, or a unit with `Type=notify`.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A handle on the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` from the environment.
    /// A watchdog whose `$WATCHDOG_PID` names another process is ignored, as sd_notify(3)
    /// prescribes. An unusable socket address is logged and notification turned off.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|raw| {
            let raw = raw.to_string_lossy().into_owned();
            match open(&raw) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!("NOTIFY_SOCKET={raw:?} is unusable, not notifying systemd: {e}");
                    None
                }
            }
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us && target.is_some())
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    /// A notifier that sends nothing (tests, `hearth` outside systemd).
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// Whether a service manager listens (`$NOTIFY_SOCKET` was usable).
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The interval at which to send `WATCHDOG=1`: a third of `WatchdogSec=` (systemd kills
    /// the service when a whole `WatchdogSec=` passes without one); `None` without a watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
            .map(|w| (w / 3).max(Duration::from_millis(50)))
    }

    /// Sends raw assignments (`KEY=VALUE` lines). Failures are logged at debug level: a
    /// service manager that went away must not stop the gateway.
    pub fn send(&self, message: &str) {
        if let Some((sock, addr)) = &self.target
            && let Err(e) = sock.send_to_addr(message.as_bytes(), addr)
        {
            tracing::debug!("sd_notify {message:?}: {e}");
        }
    }

    /// `RELOADING=1` with the `CLOCK_MONOTONIC` time (`MONOTONIC_USEC=`, µs), as
    /// `Type=notify-reload` expects at the start of a reload; `READY=1` ends it.
    pub fn reloading(&self) {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec to the valid pointer it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let usec = ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000;
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading the configuration"
        ));
    }

    /// `READY=1` with a status line: startup is complete.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// `STATUS=…`: a free-form line `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// `STOPPING=1` with a status line: shutdown has begun.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// `WATCHDOG=1`: the service is alive and healthy.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn open(raw: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = if let Some(name) = raw.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes())?
    } else if raw.starts_with('/') {
        SocketAddr::from_pathname(raw)?
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "neither an absolute path nor an @abstract name",
        ));
    };
    Ok((UnixDatagram::unbound()?, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("hearth-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        let (sock, addr) = open(path.to_str().unwrap()).unwrap();
        let n = Notifier {
            target: Some((sock, addr)),
            watchdog: Some(Duration::from_secs(30)),
        };
        n.ready("listening on\n127.0.0.1:1");
        n.watchdog();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..len],
            b"READY=1\nSTATUS=listening on 127.0.0.1:1".as_slice()
        );
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(10)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn abstract_names_and_bad_addresses() {
        let name = format!("hearth-notify-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let server =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let (sock, addr) = open(&format!("@{name}")).unwrap();
        sock.send_to_addr(b"STOPPING=1", &addr).unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
        assert!(open("relative/path").is_err());
        assert!(!Notifier::disabled().enabled());
    }
}
