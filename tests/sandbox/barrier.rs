//! The barrier of `Child::spawn_recorded`: a command runs only after the caller recorded
//! its pid, and never when the recording fails or the gateway dies first (the window the
//! exec tool's startup sweep could not see into). Degraded mode: none of this needs
//! Landlock.

use super::*;
use std::os::unix::process::ExitStatusExt;
use std::sync::Mutex;

/// Set in the re-run of this binary that plays a gateway killed while recording.
const DIE_VAR: &str = "HEARTH_SANDBOX_TEST_DIE_IN_RECORD";

fn degraded(mut spec: Spec) -> Spec {
    spec.mode = Mode::Degraded;
    spec
}

/// Fields 3 onwards of `/proc/<pid>/stat`, `None` when the process is gone.
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The descriptors `pid` has open, sorted.
fn open_fds(pid: u32) -> Vec<u32> {
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

fn wait_for(what: &str, max: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + max;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_command_runs_only_after_it_is_recorded_and_inherits_no_barrier_fd() {
    let s = Scratch::new("barrier");
    let ran = s.ws.join("ran");
    // What the record callback saw: (pid, its state and session, whether the command ran).
    let seen = Mutex::new(None);
    let child = Child::spawn_recorded(&degraded(s.sh("touch ran; exec sleep 5")), |pid| {
        std::thread::sleep(Duration::from_millis(200));
        let f = stat(pid).unwrap_or_default();
        *seen.lock().expect("lock") =
            Some((pid, f.first().cloned(), f.get(3).cloned(), ran.exists()));
        Ok(())
    })
    .expect("spawn");
    let pid = child.pid();
    let seen = seen
        .lock()
        .expect("lock")
        .take()
        .expect("record was called");
    assert_eq!(
        seen,
        (pid, Some("S".into()), Some(pid.to_string()), false),
        "recorded while waiting (asleep, already leading its session), before the command ran"
    );
    wait_for("the command to run", Duration::from_secs(5), || {
        ran.exists()
    });
    wait_for("sh to exec sleep", Duration::from_secs(5), || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
    });
    assert_eq!(
        open_fds(pid),
        [0, 1, 2],
        "no pipe of the barrier reaches the command"
    );
    child.kill();
    assert_group_gone(pid);
}

#[test]
fn a_command_that_cannot_be_recorded_never_runs() {
    let s = Scratch::new("unrecorded");
    let called = Mutex::new(None);
    let err = Child::spawn_recorded(&degraded(s.sh("touch ran")), |pid| {
        *called.lock().expect("lock") = Some(pid);
        Err(std::io::Error::other("disk full"))
    })
    .expect_err("recording failed");
    assert!(matches!(err, SandboxError::Record(_)), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
    let pid = called.lock().expect("lock").expect("record was called");
    // std reaped the child before spawn returned: it cannot run later either.
    assert_group_gone(pid);
    assert!(!s.ws.join("ran").exists(), "the command ran");
}

#[test]
fn a_command_never_runs_when_the_gateway_dies_before_recording_it() {
    if let Some(root) = std::env::var_os(DIE_VAR) {
        // The stand-in gateway: it dies by SIGKILL while recording the command.
        let root = PathBuf::from(root);
        let spec = Spec::new(
            ["/bin/sh", "-c", "touch ran"].map(OsString::from).to_vec(),
            root.join("ws"),
            root.join("tmp"),
        );
        let _ = Child::spawn_recorded(&degraded(spec), |pid| {
            let start = stat(pid)
                .and_then(|f| f.get(19).cloned())
                .unwrap_or_default();
            std::fs::write(root.join("pid"), format!("{pid} {start}"))?;
            // SAFETY: plain system call; ends this process, as the test intends.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            unreachable!("SIGKILL cannot be caught")
        });
        unreachable!("the stand-in gateway was killed");
    }
    let s = Scratch::new("die");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "barrier::a_command_never_runs_when_the_gateway_dies_before_recording_it",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIE_VAR, &s.root)
        .output()
        .expect("re-run the test");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let marked = std::fs::read_to_string(s.root.join("pid")).expect("the pid was recorded");
    let (pid, start) = marked.split_once(' ').expect("pid and start");
    let pid: u32 = pid.parse().expect("pid");
    // The orphan reads end of file at its barrier and exits (a zombie where pid 1 does
    // not reap); a live process with another start time took a recycled pid.
    let gone = || {
        stat(pid).is_none_or(|f| {
            f[0] == "Z" || f[0] == "X" || f.get(19).map(String::as_str) != Some(start)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !gone() {
        // SAFETY: plain system call on the test's own leftover (checked by start time).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("the command outlived its killed gateway at the barrier");
    }
    assert!(!s.ws.join("ran").exists(), "the command ran unrecorded");
}
