//! A command's private tmp directory and its marker, and the sweep of commands a killed
//! gateway left behind.
//!
//! Each command runs in a session of its own, so nothing kills it when the gateway dies by
//! SIGKILL (under hearth.service, systemd's control-group kill does). Beside each command's
//! tmp directory `<tmp_root>/exec-<id>/` the gateway writes `<tmp_root>/exec-<id>.pid`:
//! the command's pid (= its process group and session id), its start time in clock ticks
//! since boot (field 22 of `/proc/<pid>/stat`, proc(5)) and the boot id
//! (`/proc/sys/kernel/random/boot_id`). [`Scratch::mark`] runs as the record callback of
//! [`crate::sandbox::Child::spawn_recorded`], while the child waits before `execve`: no
//! command runs unmarked, even when the gateway is killed right after `fork`. The marker
//! lies outside the command's Landlock rules, so the command cannot rewrite it to aim the
//! sweep elsewhere.
//!
//! [`sweep`] at the next start kills each marked command still alive — its group when the
//! leader lives with the same start time, else (the leader gone) the processes of its
//! session started since — then removes the directories. A pid is never reused while it
//! names a live session (the kernel keeps it allocated), so a live process with the
//! marked pid and another start time means the command's session is gone and nothing is
//! killed; a marker of another boot (`tmp_root` lies under the data directory and survives
//! a power cut) is stale, as every start time in it is.
//!
//! The marker is written without fsync: it guards against the gateway's death, after which
//! the page cache still holds it; a crash of the machine ends its commands too.

use std::io;
use std::path::{Path, PathBuf};

/// This boot's id (proc(5)): start times count clock ticks since boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// A command's tmp directory and marker, both removed on drop.
pub(super) struct Scratch {
    /// The directory the command gets as `TMPDIR`.
    pub dir: PathBuf,
    marker: PathBuf,
}

impl Scratch {
    /// Creates `<tmp_root>/exec-<id>/`.
    pub fn new(tmp_root: &Path) -> std::io::Result<Self> {
        let id = super::short_id(6);
        let dir = tmp_root.join(format!("exec-{id}"));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            marker: tmp_root.join(format!("exec-{id}.pid")),
            dir,
        })
    }

    /// Records `pid` (the command's group, waiting before `execve`) for [`sweep`] as
    /// `"<pid> <start time> <boot id>\n"`.
    ///
    /// # Errors
    /// `/proc/<pid>/stat` cannot be read, or the marker cannot be written: the command
    /// must then not run, as no sweep could find it.
    pub fn mark(&self, pid: u32) -> io::Result<()> {
        let start = start_time(pid)
            .ok_or_else(|| io::Error::other(format!("no start time in /proc/{pid}/stat")))?;
        let boot = boot_id().unwrap_or_default();
        std::fs::write(&self.marker, format!("{pid} {start} {boot}\n"))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.marker.display())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.marker);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fields 3 onwards of `/proc/<pid>/stat` (after the command name, which may hold
/// spaces), or `None` when the process is gone.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// Start time of `pid` in clock ticks since boot (field 22), `None` when it is gone.
fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// This boot's id, `None` when `/proc` does not say.
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string(BOOT_ID).ok()?;
    Some(id.trim().to_string()).filter(|s| !s.is_empty())
}

/// Kills the command whose session is `sid` and which started at `start`: its whole group
/// when the leader lives; nothing when another process has the pid (the session ended,
/// see the module docs); else every process of session `sid` started since (the leader
/// exited, its background children did not).
fn kill_session(sid: u32, start: u64) -> bool {
    match start_time(sid) {
        Some(t) if t == start => {
            // SAFETY: plain syscall; the pid was checked to be the marked command.
            return unsafe { libc::kill(-(sid as libc::pid_t), libc::SIGKILL) } == 0;
        }
        Some(_) => return false,
        None => {}
    }
    let mut any = false;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(f) = stat_fields(pid) else { continue };
        // Field 6 is the session id, 22 the start time.
        let ours = f.get(3).and_then(|s| s.parse::<u32>().ok()) == Some(sid)
            && f.get(19)
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|t| t >= start);
        // SAFETY: plain syscall on a process of the marked session.
        if ours && unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
            any = true;
        }
    }
    any
}

/// Kills the process groups of commands left running under `tmp_root` by a gateway that
/// did not stop cleanly, and removes their directories; returns how many groups it killed.
pub fn sweep(tmp_root: &Path) -> usize {
    let Ok(dir) = std::fs::read_dir(tmp_root) else {
        return 0;
    };
    let boot = boot_id();
    let mut killed = 0;
    for e in dir.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".pid") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut w = text.split_whitespace();
            let mut num = || w.next().and_then(|s| s.parse::<u64>().ok());
            let (pid, start) = (num(), num());
            // A marker without a boot id (written before it had one) counts as this boot's.
            let other_boot = w
                .next()
                .is_some_and(|b| boot.as_deref().is_some_and(|now| now != b));
            if let (Some(pid), Some(start)) = (pid, start)
                && !other_boot
                && pid > 1
                && let Ok(pid) = u32::try_from(pid)
                && kill_session(pid, start)
            {
                killed += 1;
            }
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir_all(tmp_root.join(stem));
        } else if name.starts_with("exec-") && path.is_dir() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// `sleep 30` leading a session of its own, as a command does.
    fn session_leader() -> std::process::Child {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        // SAFETY: setsid is async-signal-safe (signal-safety(7)).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            })
        };
        cmd.spawn().expect("spawn sleep")
    }

    fn temp_root(tag: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("hearth-scratch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create root");
        root
    }

    #[test]
    fn a_marker_names_pid_start_time_and_boot() {
        let root = temp_root("mark");
        let scratch = Scratch::new(&root).expect("scratch");
        let me = std::process::id();
        scratch.mark(me).expect("mark");
        let text = std::fs::read_to_string(&scratch.marker).expect("marker");
        let start = start_time(me).expect("start time");
        let boot = boot_id().expect("boot id");
        assert_eq!(text, format!("{me} {start} {boot}\n"));
        assert!(scratch.mark(u32::MAX).is_err(), "no such process");
        drop(scratch);
        assert_eq!(std::fs::read_dir(&root).expect("root").count(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_sweep_kills_only_the_marked_command_of_this_boot() {
        let root = temp_root("sweep");
        let mut child = session_leader();
        let pid = child.id();
        let start = start_time(pid).expect("start time");
        let boot = boot_id().expect("boot id");
        // A live process with the marked pid but another start time (a recycled pid), and
        // a marker of another boot: nothing is killed, the markers go.
        for (name, text) in [
            ("exec-a.pid", format!("{pid} {} {boot}\n", start - 1)),
            ("exec-b.pid", format!("{pid} {start} not-this-boot\n")),
        ] {
            std::fs::write(root.join(name), text).expect("marker");
            assert_eq!(sweep(&root), 0, "{name}");
            assert!(child.try_wait().expect("try_wait").is_none(), "{name}");
            assert!(!root.join(name).exists(), "{name}");
        }
        std::fs::create_dir(root.join("exec-c")).expect("dir");
        std::fs::write(root.join("exec-c.pid"), format!("{pid} {start} {boot}\n")).expect("marker");
        assert_eq!(sweep(&root), 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
        assert_eq!(std::fs::read_dir(&root).expect("root").count(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}
