//! A command's private tmp directory and its marker, and the sweep of commands a killed
//! gateway left behind.
//!
//! Each command runs in a session of its own, so nothing kills it when the gateway dies by
//! SIGKILL (under hearth.service, systemd's control-group kill does). Beside each command's
//! tmp directory `<tmp_root>/exec-<id>/` the gateway writes `<tmp_root>/exec-<id>.pid`:
//! the command's pid (= its process group and session id) and its start time in clock ticks
//! since boot (field 22 of `/proc/<pid>/stat`, proc(5)). The marker lies outside the
//! command's Landlock rules, so the command cannot rewrite it to aim the sweep elsewhere.
//! [`sweep`] at the next start kills each marked command still alive — its group when the
//! leader lives with the same start time (a recycled pid has another), else the processes
//! of its session started since — then removes the directories.

use std::path::{Path, PathBuf};

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

    /// Records `pid` (the command's group) for [`sweep`]; a failure is logged, not fatal.
    pub fn mark(&self, pid: u32) {
        let Some(start) = start_time(pid) else { return };
        if let Err(e) = std::fs::write(&self.marker, format!("{pid} {start}\n")) {
            tracing::warn!("cannot write {}: {e}", self.marker.display());
        }
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

/// Kills the command whose session is `sid` and which started at `start`: its whole group
/// when the leader lives; else every process of session `sid` started since (the leader
/// exited, its background children did not).
fn kill_session(sid: u32, start: u64) -> bool {
    if start_time(sid) == Some(start) {
        // SAFETY: plain syscall; the pid was checked to be the marked command.
        return unsafe { libc::kill(-(sid as libc::pid_t), libc::SIGKILL) } == 0;
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
    let mut killed = 0;
    for e in dir.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".pid") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut w = text.split_whitespace().map(str::parse::<u64>);
            if let (Some(Ok(pid)), Some(Ok(start))) = (w.next(), w.next())
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
