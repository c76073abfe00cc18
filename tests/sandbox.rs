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
    let dir = std::env::temp_dir().join(format!("hearth-sbx-bin-{}-{test}", std::process::id()));
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
const ESCAPES: &str = r#"
import ctypes, errno, fcntl, os, platform, socket, subprocess, sys, tempfile, termios, threading
libc = ctypes.CDLL(None, use_errno=True)
OUT, PPID, HOME = os.environ["OUTSIDE"], os.getppid(), os.environ["REAL_HOME"]
NR = {"x86_64": dict(clone=56, bpf=321, keyctl=250, perf=298, uffd=323),
      "aarch64": dict(clone=220, bpf=280, keyctl=219, perf=241, uffd=282),
      "riscv64": dict(clone=220, bpf=280, keyctl=219, perf=241, uffd=282),
      "armv7l": dict(clone=120, bpf=386, keyctl=311, perf=364, uffd=388)}[platform.machine()]
def report(name, fn, ok="OK"):
    try:
        fn()
        print(f"{name}: {ok}", flush=True)
    except OSError as e:
        word = "FAILED" if ok == "OK" else "REFUSED"
        print(f"{name}: {word} {errno.errorcode.get(e.errno, e.errno)}", flush=True)
def attempt(name, fn): report(name, fn, "ALLOWED")
def c(r):
    if r == -1:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    return r
def read(p): open(p).read()
def write(p): open(p, "w").write("x")
def write_rm(p): write(p); os.unlink(p)
def symlink_read(target, link): os.symlink(target, link); read(link)
def clone_newuser():
    r = c(libc.syscall(NR["clone"], 0x10000000 | 17, 0, 0, 0, 0))
    if r == 0: os._exit(0)
    os.waitpid(r, 0)
def fork_wait():
    pid = os.fork()
    if pid == 0: os._exit(0)
    os.waitpid(pid, 0)
def thread():
    t = threading.Thread(target=lambda: None); t.start(); t.join()
open("moveme.txt", "w").write("m"); open("moveme2.txt", "w").write("m")
# Files: Landlock.
attempt("read_abs", lambda: read(OUT + "/secret.txt")); report("read_in", lambda: read("inside.txt"))
attempt("write_abs", lambda: write(OUT + "/new.txt")); report("write_in", lambda: write("new.txt"))
attempt("dotdot", lambda: read(os.getcwd() + "/../outside/secret.txt")); report("dotdot_in", lambda: read("sub/../inside.txt"))
attempt("symlink_out", lambda: symlink_read(OUT + "/secret.txt", "link_out")); report("symlink_in", lambda: symlink_read("inside.txt", "link_in"))
attempt("hardlink_out", lambda: os.link(OUT + "/secret.txt", "hard_out")); report("hardlink_in", lambda: os.link("inside.txt", "hard_in"))
attempt("rename_out", lambda: os.rename("moveme.txt", OUT + "/moved.txt")); report("rename_in", lambda: os.rename("moveme2.txt", "sub/moved.txt"))
attempt("proc_parent_environ", lambda: read(f"/proc/{PPID}/environ"))
attempt("proc_1_environ", lambda: read("/proc/1/environ")); attempt("proc_1_cmdline", lambda: read("/proc/1/cmdline"))
attempt("home", lambda: os.listdir(HOME))
attempt("global_tmp", lambda: write_rm(f"/tmp/hearth-escape-{os.getpid()}")); report("private_tmp", lambda: tempfile.mkstemp())
attempt("etc_hostname", lambda: read("/etc/hostname")); report("etc_passwd", lambda: read("/etc/passwd"))
# System calls: seccomp.
attempt("ptrace_traceme", lambda: c(libc.ptrace(0, 0, None, None)))
attempt("ptrace_attach_parent", lambda: c(libc.ptrace(16, PPID, None, None)))
attempt("process_vm_readv", lambda: c(libc.process_vm_readv(PPID, None, 0, None, 0, 0)))
attempt("setsid", os.setsid); attempt("setpgid", lambda: os.setpgid(0, 0))
attempt("unshare_user", lambda: c(libc.unshare(0x10000000)))
attempt("mount", lambda: c(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
attempt("clone_newuser", clone_newuser); attempt("clone3", lambda: c(libc.syscall(435, None, 0)))
attempt("bpf", lambda: c(libc.syscall(NR["bpf"], 0, None, 0)))
attempt("keyctl", lambda: c(libc.syscall(NR["keyctl"], 0, 0, 0, 0, 0)))
attempt("perf_event_open", lambda: c(libc.syscall(NR["perf"], None, 0, -1, -1, 0)))
attempt("userfaultfd", lambda: c(libc.syscall(NR["uffd"], 0)))
attempt("io_uring_setup", lambda: c(libc.syscall(425, 1, None)))
attempt("personality", lambda: c(libc.personality(0x0040000)))
attempt("kill_parent", lambda: os.kill(PPID, 0)); attempt("kill_everyone", lambda: os.kill(-1, 0))
attempt("tiocsti", lambda: fcntl.ioctl(0, termios.TIOCSTI, b"x"))
attempt("socket_inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("socket_inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
attempt("socket_udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
report("socket_unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
report("fork", fork_wait); report("thread", thread); report("dev_stderr", lambda: open("/dev/stderr", "w").write(""))
report("subprocess", lambda: subprocess.run(["/bin/true"], check=True))
print("done: yes", flush=True)
"#;

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
#[test]
fn foreign_abis_are_killed_and_reported() {
    require_landlock();
    let s = Scratch::new("abi");
    let x32 = "import ctypes\nprint('before', flush=True)\nctypes.CDLL(None).syscall(0x40000000 | 39)\nprint('after')\n";
    // i386 getpid through int 0x80 from a 64-bit process: seccomp sees AUDIT_ARCH_I386.
    let int80 = "import ctypes, mmap\nprint('before', flush=True)\n\
                 m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n\
                 m.write(b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3')\n\
                 addr = ctypes.addressof(ctypes.c_char.from_buffer(m))\n\
                 ctypes.CFUNCTYPE(ctypes.c_int)(addr)()\nprint('after')\n";
    for code in [x32, int80] {
        let out = run(&s.python(code));
        let exit = out.exit.expect("exited");
        assert!(exit.blocked_by_sandbox(), "{out:#?}");
        assert_eq!(exit.signal, Some(libc::SIGSYS));
        assert!(
            exit.to_string().contains("blocked by the sandbox"),
            "{exit}"
        );
        assert_eq!(out.stdout.text, "before\n");
    }
}

#[test]
fn executables_run_from_the_workspace_but_not_from_outside() {
    require_landlock();
    let s = Scratch::new("exec");
    std::fs::copy("/bin/true", s.ws.join("mytrue")).expect("copy into the workspace");
    std::fs::copy("/bin/true", s.outside.join("mytrue")).expect("copy outside");
    let inside = run(&s.spec(&[s.ws.join("mytrue").to_str().expect("utf-8")]));
    assert_eq!(inside.exit.and_then(|e| e.code), Some(0), "{inside:#?}");
    let on_path = run(&s.spec(&["echo", "found on PATH"]));
    assert_eq!(on_path.stdout.text, "found on PATH\n", "{on_path:#?}");
    let outside = s.outside.join("mytrue");
    match sandbox::run(
        &s.spec(&[outside.to_str().expect("utf-8")]),
        Duration::from_secs(5),
        &never,
    ) {
        Err(SandboxError::Spawn { source, .. }) => {
            assert_eq!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied,
                "{source}"
            )
        }
        other => panic!("executing outside the allowed paths: {other:?}"),
    }
    let err = sandbox::run(
        &s.spec(&["no-such-program-x"]),
        Duration::from_secs(5),
        &never,
    )
    .expect_err("missing");
    assert!(
        matches!(err, SandboxError::Spawn { .. }) && err.to_string().contains("no-such-program-x"),
        "{err}"
    );
    let mut spec = s.spec(&["/bin/true"]);
    spec.workspace = s.root.join("missing");
    let err = Child::spawn(&spec).expect_err("missing workspace");
    assert!(
        matches!(
            err,
            SandboxError::Path {
                what: "workspace",
                ..
            }
        ),
        "{err}"
    );
    let err = Child::spawn(&s.spec(&[])).expect_err("empty argv");
    assert!(matches!(err, SandboxError::EmptyCommand), "{err}");
}

#[test]
fn file_size_limit_stops_big_writes() {
    require_landlock();
    let s = Scratch::new("fsize");
    let mut spec = s.sh("exec head -c 2000000 /dev/zero > big");
    spec.limits.file_size_bytes = 1 << 20;
    let out = run(&spec);
    let exit = out.exit.expect("exited");
    assert_eq!(exit.signal, Some(libc::SIGXFSZ), "{out:#?}");
    assert!(exit.to_string().contains("file size limit"), "{exit}");
    assert_eq!(
        std::fs::metadata(s.ws.join("big")).expect("big").len(),
        1 << 20
    );
    // Python ignores SIGXFSZ, so its write fails with EFBIG instead.
    let mut spec = s.python("open('big2', 'wb').write(b'x' * 2000000)\n");
    spec.limits.file_size_bytes = 1 << 20;
    let out = run(&spec);
    assert!(out.stderr.text.contains("File too large"), "{out:#?}");
    assert_eq!(out.exit.and_then(|e| e.code), Some(1));
}

#[test]
fn confinement_is_visible_from_outside() {
    let abi = require_landlock();
    let s = Scratch::new("proc");
    let child = Child::spawn(&s.spec(&["/bin/sleep", "5"])).expect("spawn");
    let pid = child.pid();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        (f[2], f[3]),
        (pid.to_string().as_str(), pid.to_string().as_str()),
        "own group and session"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(
        status.contains("NoNewPrivs:\t1") && status.contains("Seccomp:\t2"),
        "{status}"
    );
    let oom = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).expect("oom");
    assert_eq!(oom.trim(), "1000");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("Max cpu time").contains("60") && line("Max core file size").contains(" 0 "),
        "{limits}"
    );
    assert!(line("Max open files").contains("256"), "{limits}");
    assert_eq!(child.confinement().landlock_abi, Some(abi));
    assert_eq!(child.try_wait(), None);
    child.kill();
    child.kill();
    assert_eq!(child.try_wait().and_then(|e| e.signal), Some(libc::SIGKILL));
    assert_group_gone(pid);
}

#[test]
fn timeout_kills_the_whole_group() {
    require_landlock();
    let s = Scratch::new("timeout");
    let t = Instant::now();
    let out = sandbox::run(
        &s.sh("echo $$; sleep 60 & sleep 60"),
        Duration::from_millis(500),
        &never,
    )
    .expect("run");
    assert!(
        out.timed_out && !out.cancelled && out.exit.is_none(),
        "{out:#?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let pgid: u32 = out
        .stdout
        .text
        .trim()
        .parse()
        .expect("the shell printed its pid");
    assert_group_gone(pgid);
}

#[test]
fn cancel_kills_the_whole_group() {
    require_landlock();
    let s = Scratch::new("cancel");
    let start = Instant::now();
    let cancel = move || start.elapsed() > Duration::from_millis(300);
    let out = sandbox::run(
        &s.sh("echo $$; (sleep 60; echo late) & sleep 60"),
        Duration::from_secs(30),
        &cancel,
    )
    .expect("run");
    assert!(
        out.cancelled && !out.timed_out && out.exit.is_none(),
        "{out:#?}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_group_gone(out.stdout.text.trim().parse().expect("pid"));
}

#[test]
fn background_jobs_die_when_the_command_exits() {
    require_landlock();
    let s = Scratch::new("bg");
    let out = run(&s.sh("echo $$; sleep 60 & exit 3"));
    assert_eq!(out.exit.and_then(|e| e.code), Some(3));
    assert_group_gone(out.stdout.text.trim().parse().expect("pid"));
}

#[test]
fn fork_bombs_are_bounded_by_the_process_limit() {
    as_unprivileged("fork_bombs_are_bounded_by_the_process_limit", || {
        require_landlock();
        let s = Scratch::new("bomb");
        let limits = Limits {
            processes: 16,
            ..Limits::default()
        };
        let code = "import os, time\nn = 0\ntry:\n    while n < 5000:\n        pid = os.fork()\n        \
                    if pid == 0:\n            time.sleep(30); os._exit(0)\n        n += 1\n\
                    except OSError as e:\n    print('forks:', n, e.errno)\n";
        let mut spec = s.python(code);
        spec.limits = limits;
        let out = run(&spec);
        let (n, errno) = out
            .stdout
            .text
            .trim()
            .strip_prefix("forks: ")
            .and_then(|r| r.split_once(' '))
            .expect("report");
        let n: u64 = n.parse().expect("count");
        assert!(
            (1..=16).contains(&n) && errno == libc::EAGAIN.to_string(),
            "{out:#?}"
        );

        let mut spec = s.sh("echo $$; b() { b | b & }; b; sleep 1");
        spec.limits = limits;
        let out = sandbox::run(&spec, Duration::from_secs(5), &never).expect("run");
        assert!(
            out.stderr.text.contains("Cannot fork"),
            "the limit stopped it: {out:#?}"
        );
        assert_group_gone(
            out.stdout
                .text
                .lines()
                .next()
                .and_then(|l| l.parse().ok())
                .expect("pid"),
        );
        let after = run(&s.sh("echo fine"));
        assert_eq!(after.stdout.text, "fine\n", "the box is fine: {after:#?}");
    });
}

#[test]
fn stdin_and_polling() {
    require_landlock();
    let s = Scratch::new("stdin");
    let mut spec = s.spec(&["/bin/cat"]);
    spec.stdin = true;
    let child = Child::spawn(&spec).expect("spawn");
    let mut cursor = Cursor::default();
    let poll_until = |cursor: &mut Cursor, want: &str| {
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !seen.contains(want) {
            assert!(
                Instant::now() < deadline,
                "never saw {want:?}, got {seen:?}"
            );
            seen.push_str(&child.read_new(cursor).stdout.text);
            std::thread::sleep(Duration::from_millis(5));
        }
        seen
    };
    child.write_stdin(b"hello\n").expect("write");
    assert_eq!(poll_until(&mut cursor, "hello\n"), "hello\n");
    child.write_stdin(b"again\n").expect("write");
    assert_eq!(
        poll_until(&mut cursor, "again\n"),
        "again\n",
        "only what is new"
    );
    child.close_stdin();
    assert!(matches!(
        child.write_stdin(b"x"),
        Err(SandboxError::StdinClosed)
    ));
    let Wait::Exited(exit) = child.wait(Duration::from_secs(5), &never) else {
        panic!("cat did not exit")
    };
    assert!(exit.success());
    assert_eq!(child.output().stdout.text, "hello\nagain\n");
    let mut spec = s.spec(&["/bin/sleep", "10"]);
    spec.stdin = false;
    let child = Child::spawn(&spec).expect("spawn");
    assert!(matches!(
        child.write_stdin(b"x"),
        Err(SandboxError::StdinClosed)
    ));
    assert_eq!(
        child.wait(Duration::from_millis(50), &never),
        Wait::TimedOut
    );
}

#[test]
fn long_output_keeps_head_and_tail() {
    require_landlock();
    let s = Scratch::new("output");
    let mut spec = s.spec(&["/usr/bin/seq", "1", "100000"]);
    spec.max_output_bytes = 1000;
    let out = run(&spec);
    let total: u64 = (1..=100_000u64)
        .map(|i| i.to_string().len() as u64 + 1)
        .sum();
    assert_eq!(out.stdout.total_bytes, total);
    assert_eq!(out.stdout.dropped_bytes, total - 1000);
    assert!(
        out.stdout.text.starts_with("1\n2\n3\n"),
        "{}",
        out.stdout.text
    );
    assert!(out.stdout.text.ends_with("99999\n100000\n"));
    assert!(
        out.stdout
            .text
            .contains(&format!("[… {} bytes dropped …]", total - 1000))
    );
    assert!(out.stdout.complete && out.stderr.text.is_empty());
}

#[test]
fn refusals_say_what_to_do() {
    // The refusal itself is checked on a probe result, whatever this kernel offers.
    let reason =
        "this kernel has no Landlock (Raspberry Pi OS kernels are built without it)".to_string();
    let p = Probe {
        landlock: LandlockStatus::Missing {
            reason: reason.clone(),
        },
        seccomp: true,
        openat2: false,
    };
    let err = p.check(Mode::Enforce).expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(&err, SandboxError::LandlockMissing { reason: r } if *r == reason),
        "{text}"
    );
    assert!(
        text.contains("Raspberry Pi OS") && text.contains("sandbox = \"degraded\""),
        "{text}"
    );
    assert!(p.check(Mode::Degraded).is_ok());
    let p = Probe {
        seccomp: false,
        ..p
    };
    let err = p.check(Mode::Degraded).expect_err("no seccomp, no exec");
    assert!(
        matches!(err, SandboxError::SeccompMissing) && err.to_string().contains("seccomp"),
        "{err}"
    );
    // On this machine (natively, or under qemu-user, which has neither Landlock nor
    // seccomp): spawn refuses exactly when, and as, the probe says.
    let s = Scratch::new("refusal");
    let probe = sandbox::probe();
    match (
        probe.check(Mode::Enforce),
        Child::spawn(&s.spec(&["/bin/true"])),
    ) {
        (Ok(()), Ok(_)) => {}
        (Err(want), Err(got)) => assert_eq!(got.to_string(), want.to_string()),
        (want, got) => panic!("probe {probe:?} says {want:?}, spawn gave {got:?}"),
    }
}

/// `cargo test --test sandbox -- --ignored --nocapture bench`: p50/p90 of 200 sandboxed
/// `true` runs against 200 plain `std::process::Command` spawns.
#[test]
#[ignore = "benchmark: prints figures"]
fn bench_spawn_overhead() {
    require_landlock();
    let s = Scratch::new("bench");
    let spec = s.spec(&["/bin/true"]);
    let measure = |f: &dyn Fn()| -> Vec<Duration> {
        let mut v: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        v.sort();
        v
    };
    let plain = measure(&|| {
        let st = std::process::Command::new("/bin/true")
            .status()
            .expect("true");
        assert!(st.success());
    });
    let boxed = measure(&|| {
        let out = sandbox::run(&spec, Duration::from_secs(5), &never).expect("run");
        assert_eq!(out.exit.and_then(|e| e.code), Some(0));
    });
    let pct = |v: &[Duration], p: usize| v[v.len() * p / 100];
    println!(
        "plain Command: p50 {:?} p90 {:?}",
        pct(&plain, 50),
        pct(&plain, 90)
    );
    println!(
        "sandbox::run:  p50 {:?} p90 {:?}",
        pct(&boxed, 50),
        pct(&boxed, 90)
    );
}
