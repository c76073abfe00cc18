//! The exec sandbox (`hearth::sandbox`) against real programs: an escape corpus run by
//! `/usr/bin/python3` (ctypes) and `/bin/sh`, each attempt refused *and* reported while the
//! same operation inside the workspace succeeds; limits, timeouts, cancellation and the
//! group kill checked from `/proc`.
//!
//! Tests that need Landlock fail (never skip) when the kernel lacks it. Tests that need an
//! unprivileged user (RLIMIT_NPROC does not bind root; root may read any `/proc/<pid>`)
//! re-run themselves as uid 65534 when started as root.

use hearth::sandbox::{
    self, Child, Cursor, LandlockStatus, Limits, Mode, Outcome, Probe, SandboxError, Spec, Wait,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET_VAR: &str = "HEARTH_SANDBOX_TEST_SECRET";
const PYTHON: &str = "/usr/bin/python3";
const AS_USER_VAR: &str = "HEARTH_SANDBOX_TEST_AS";

/// A workspace, a private tmp and an outside directory holding a secret.
struct Scratch {
    root: PathBuf,
    ws: PathBuf,
    tmp: PathBuf,
    outside: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        static SECRET: Once = Once::new();
        // SAFETY: every test passes here before it starts threads or children of its own;
        // the Once makes the others wait while the variable is written.
        SECRET.call_once(|| unsafe { std::env::set_var(SECRET_VAR, "hunter2") });
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let root =
            std::env::temp_dir().join(format!("hearth-sbx-{}-{n}-{tag}", std::process::id()));
        let s = Self {
            ws: root.join("ws"),
            tmp: root.join("tmp"),
            outside: root.join("outside"),
            root,
        };
        for d in [&s.ws, &s.tmp, &s.outside, &s.ws.join("sub")] {
            std::fs::create_dir_all(d).expect("create scratch dirs");
        }
        std::fs::write(s.outside.join("secret.txt"), "TOP SECRET").expect("write secret");
        std::fs::write(s.ws.join("inside.txt"), "inside").expect("write inside");
        s
    }

    fn spec(&self, argv: &[&str]) -> Spec {
        let mut spec = Spec::new(
            argv.iter().map(OsString::from).collect(),
            self.ws.clone(),
            self.tmp.clone(),
        );
        spec.env
            .push(("OUTSIDE".into(), self.outside.clone().into()));
        spec.env.push((
            "REAL_HOME".into(),
            std::env::var_os("HOME").unwrap_or_else(|| "/root".into()),
        ));
        spec.max_output_bytes = 256 << 10;
        spec
    }

    fn sh(&self, script: &str) -> Spec {
        self.spec(&["/bin/sh", "-c", script])
    }

    fn python(&self, code: &str) -> Spec {
        std::fs::write(self.ws.join("probe.py"), code).expect("write probe.py");
        self.spec(&[PYTHON, "probe.py"])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn require_landlock() -> u32 {
    match &sandbox::probe().landlock {
        LandlockStatus::Available { abi } => *abi,
        LandlockStatus::Missing { reason } => {
            panic!("this test needs Landlock and the kernel has none: {reason}")
        }
    }
}

fn never() -> bool {
    false
}

fn run(spec: &Spec) -> Outcome {
    let t = Instant::now();
    let out = sandbox::run(spec, Duration::from_secs(15), &never).expect("sandbox run");
    assert!(
        !out.timed_out,
        "timed out after {:?}: {out:#?}",
        t.elapsed()
    );
    out
}

/// `name: RESULT` lines of a probe's stdout.
fn results(out: &Outcome) -> HashMap<String, String> {
    out.stdout
        .text
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn expect(r: &HashMap<String, String>, out: &Outcome, name: &str, want: &[&str]) {
    let got = r.get(name).map(String::as_str).unwrap_or("<missing>");
    assert!(
        want.contains(&got),
        "{name}: got {got:?}, want one of {want:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout.text,
        out.stderr.text
    );
}

/// Live (not zombie) processes in process group `pgid`, from `/proc/*/stat`.
fn live_group_members(pgid: u32) -> Vec<String> {
    let mut live = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[2] == pgid.to_string() && !matches!(f[0], "Z" | "X") {
            live.push(stat.trim().to_string());
        }
    }
    live
}

/// Waits (up to 2 s: SIGKILL is asynchronous) until group `pgid` has no live process.
fn assert_group_gone(pgid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let live = live_group_members(pgid);
        if live.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {pgid} still has live processes: {live:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn handles_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Child>();
    shareable::<Outcome>();
    shareable::<SandboxError>();
}

/// Runs `body` in a fresh run of this test binary (one test, one thread), as uid/gid
/// 65534 when started as root, and checks that it passed. The fresh process is a child
/// subreaper and reaps the command's orphans at the end, which must not happen in the
/// parallel harness (it would steal other tests' children).
fn as_unprivileged(test: &str, body: impl FnOnce()) {
    if std::env::var(AS_USER_VAR).ok().as_deref() == Some(test) {
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) };
        body();
        // SAFETY: reaps whatever orphans are left; every Child has been dropped by now.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // A copy in a world-readable place: the build tree may sit under a private home.
    let dir = std::env::temp_dir().join(format!(
        "hearth-sbx-bin-{}-{}",
        std::process::id(),
        test.replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).expect("bin dir");
    let exe = dir.join("sandbox-tests");
    std::fs::copy(std::env::current_exe().expect("test binary"), &exe)
        .expect("copy the test binary");
    for p in [&dir, &exe] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cmd = std::process::Command::new(&exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(AS_USER_VAR, test)
        .current_dir("/");
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().expect("re-run the test");
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} as an unprivileged user: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

/// The escape corpus: every attempt prints `name: ALLOWED` or `name: REFUSED <ERRNO>`;
/// every control (the same thing inside the workspace) prints `name: OK` or `FAILED`.
const ESCAPES: &str = include_str!("kit/sandbox_escapes.py");

/// Attempts seccomp refuses in either mode, with the errno each must fail with.
const SECCOMP_REFUSALS: &str = "ptrace_traceme=EPERM ptrace_attach_parent=EPERM \
    process_vm_readv=EPERM setsid=EPERM setpgid=EPERM unshare_user=EPERM mount=EPERM \
    clone_newuser=EPERM clone3=ENOSYS bpf=EPERM keyctl=EPERM perf_event_open=EPERM \
    userfaultfd=EPERM io_uring_setup=EPERM personality=EPERM kill_parent=EPERM \
    kill_everyone=EPERM tiocsti=EPERM socket_inet=EAFNOSUPPORT socket_inet6=EAFNOSUPPORT \
    socket_udp=EAFNOSUPPORT";

/// The same kinds of operation inside the workspace, which must work in either mode.
const CONTROLS: &str = "read_in write_in dotdot_in symlink_in hardlink_in rename_in private_tmp \
    etc_passwd socket_unix fork thread dev_stderr subprocess";

fn check_controls_and_seccomp(out: &Outcome, r: &HashMap<String, String>) {
    for name in CONTROLS.split_whitespace() {
        expect(r, out, name, &["OK"]);
    }
    for (name, errno) in SECCOMP_REFUSALS
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
    {
        expect(r, out, name, &[&format!("REFUSED {errno}")]);
    }
    expect(r, out, "done", &["yes"]);
    assert_eq!(out.exit.map(|e| e.code), Some(Some(0)), "{out:#?}");
}

#[test]
fn the_kernel_offers_what_the_sandbox_needs() {
    let abi = require_landlock();
    let p = sandbox::probe();
    assert!(p.seccomp, "seccomp filters unavailable: {p:?}");
    assert!(p.openat2, "openat2 unavailable: {p:?}");
    assert!(abi >= 1);
    assert!(std::ptr::eq(p, sandbox::probe()), "cached");
}

#[test]
fn escapes_are_refused_and_reported_while_the_workspace_works() {
    let abi = require_landlock();
    let s = Scratch::new("escapes");
    let out = run(&s.python(ESCAPES));
    let r = results(&out);
    for name in [
        "read_abs",
        "write_abs",
        "dotdot",
        "symlink_out",
        "proc_parent_environ",
        "proc_1_environ",
    ] {
        expect(&r, &out, name, &["REFUSED EACCES"]);
    }
    for name in ["proc_1_cmdline", "home", "global_tmp", "etc_hostname"] {
        expect(&r, &out, name, &["REFUSED EACCES", "REFUSED ENOENT"]);
    }
    for name in ["hardlink_out", "rename_out"] {
        expect(&r, &out, name, &["REFUSED EXDEV", "REFUSED EACCES"]);
    }
    check_controls_and_seccomp(&out, &r);
    assert!(!s.outside.join("new.txt").exists() && !s.outside.join("moved.txt").exists());
    assert_eq!(out.confinement.landlock_abi, Some(abi));
    assert!(
        out.confinement.to_string().contains("network off"),
        "{}",
        out.confinement
    );
}

#[test]
fn degraded_mode_keeps_seccomp_but_not_landlock() {
    let s = Scratch::new("degraded");
    let mut spec = s.python(ESCAPES);
    spec.mode = Mode::Degraded;
    let out = run(&spec);
    let r = results(&out);
    check_controls_and_seccomp(&out, &r);
    // No Landlock: files outside are reachable (ProtectSystem= is what limits this under systemd).
    expect(&r, &out, "read_abs", &["ALLOWED"]);
    assert_eq!(out.confinement.landlock_abi, None);
}

#[test]
fn degraded_mode_protects_a_hardened_gateway_from_its_own_user() {
    as_unprivileged(
        "degraded_mode_protects_a_hardened_gateway_from_its_own_user",
        || {
            sandbox::harden_gateway();
            let s = Scratch::new("hardened");
            let mut spec = s.python(ESCAPES);
            spec.mode = Mode::Degraded;
            let out = run(&spec);
            let r = results(&out);
            expect(&r, &out, "proc_parent_environ", &["REFUSED EACCES"]);
            check_controls_and_seccomp(&out, &r);
        },
    );
}

#[test]
fn the_environment_is_exactly_the_spec() {
    require_landlock();
    let s = Scratch::new("env");
    assert_eq!(
        std::env::var(SECRET_VAR).as_deref(),
        Ok("hunter2"),
        "the parent has the secret"
    );
    let mut spec = s.spec(&["/usr/bin/env"]);
    spec.env.retain(|(k, _)| k != "TMPDIR");
    let out = run(&spec);
    let text = &out.stdout.text;
    assert!(
        !text.contains(SECRET_VAR) && !text.contains("hunter2"),
        "{text}"
    );
    let mut keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "HOME",
            "LANG",
            "OUTSIDE",
            "PATH",
            "REAL_HOME",
            "TERM",
            "TMPDIR"
        ],
        "{text}"
    );
    assert!(
        text.contains(&format!("TMPDIR={}", s.tmp.display())),
        "TMPDIR added: {text}"
    );
}

#[test]
fn network_follows_the_switch() {
    require_landlock();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let code = format!(
        "import errno, socket\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n    \
         s.sendall(b'hello'); s.close(); print('connect: CONNECTED')\nexcept OSError as e:\n    \
         print('connect: REFUSED', errno.errorcode.get(e.errno, e.errno))\n"
    );
    let accepted = |listener: &std::net::TcpListener| -> Option<String> {
        let (mut conn, _) = listener.accept().ok()?;
        conn.set_nonblocking(false).ok()?;
        let mut got = String::new();
        conn.read_to_string(&mut got).ok()?;
        Some(got)
    };
    let s = Scratch::new("net");
    let off = run(&s.python(&code));
    assert_eq!(
        results(&off).get("connect").map(String::as_str),
        Some("REFUSED EAFNOSUPPORT"),
        "{off:#?}"
    );
    assert_eq!(accepted(&listener), None, "nothing reached the listener");

    let mut spec = s.python(&code);
    spec.network = true;
    let on = run(&spec);
    assert_eq!(
        results(&on).get("connect").map(String::as_str),
        Some("CONNECTED"),
        "{on:#?}"
    );
    assert_eq!(accepted(&listener).as_deref(), Some("hello"));
    assert!(on.confinement.network);
}

#[cfg(target_arch = "x86_64")]
#[path = "sandbox/process.rs"]
mod process;

#[path = "sandbox/barrier.rs"]
mod barrier;
