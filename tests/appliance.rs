//! The appliance on the real binary: systemd's notify/watchdog protocol (the test plays
//! systemd: it owns `$NOTIFY_SOCKET` and reads the datagrams), and A/B updates with a
//! supervisor that restarts the gateway as `Restart=always` would.

mod common;

use common::harness::{TempRoot, bin, temp_dir};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CONFIG: &str = "[gateway]\nport = 0\n\n[memory]\nenabled = false\n";

fn http_get(port: u16, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn port_of(data: &Path) -> Option<u16> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("gateway.json")).ok()?).ok()?;
    v["port"].as_u64().map(|p| p as u16)
}

/// Receives datagrams until `until` returns true for one or `timeout` passes.
fn recv_until(
    sock: &UnixDatagram,
    seen: &mut Vec<String>,
    timeout: Duration,
    until: impl Fn(&str) -> bool,
) -> bool {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < timeout {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let hit = until(&m);
            seen.push(m);
            if hit {
                return true;
            }
        }
    }
    false
}

fn spawn_notified(root: &Path, sock: &str, extra: &[(&str, &str)]) -> Child {
    std::fs::write(root.join("config.toml"), CONFIG).unwrap();
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(root.join("config.toml"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("gateway")
        .env("NOTIFY_SOCKET", sock)
        .env("WATCHDOG_USEC", "600000")
        .env_remove("WATCHDOG_PID")
        .env("HEARTH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("gateway.log")).unwrap());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.spawn().expect("spawn gateway")
}

#[test]
fn notify_ready_watchdog_and_stopping() {
    let root = temp_dir("notify");
    let path = root.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut child = spawn_notified(&root, path.to_str().unwrap(), &[]);
    let mut seen = Vec::new();
    assert!(
        recv_until(&sock, &mut seen, Duration::from_secs(60), |m| m
            .lines()
            .any(|l| l == "READY=1")),
        "no READY=1; got {seen:?}\n{}",
        std::fs::read_to_string(root.join("gateway.log")).unwrap_or_default()
    );
    // READY=1 means the listener is bound and the store open: both answer right away.
    let port = port_of(&root.join("data")).expect("gateway.json exists at READY=1");
    let ready = http_get(port, "/readyz").unwrap();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        seen.iter()
            .any(|m| m.starts_with("STATUS=opening the store")),
        "status lines before READY: {seen:?}"
    );
    assert!(
        seen.last()
            .unwrap()
            .contains("STATUS=listening on 127.0.0.1:")
    );

    // WatchdogSec=0.6 s: a ping every 200 ms while healthy.
    let mut pings = Vec::new();
    recv_until(&sock, &mut pings, Duration::from_millis(1500), |_| false);
    let n = pings.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(n >= 4, "expected >= 4 pings in 1.5 s, got {n}: {pings:?}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut tail = Vec::new();
    assert!(
        recv_until(&sock, &mut tail, Duration::from_secs(20), |m| m
            .starts_with("STOPPING=1")),
        "no STOPPING=1 after SIGTERM: {tail:?}"
    );
    assert!(child.wait().unwrap().success());
    assert!(!root.join("data/gateway.json").exists());
}

#[test]
fn watchdog_pings_stop_when_the_main_loop_wedges() {
    let root = temp_dir("wedge");
    // An abstract socket name, as systemd uses in some setups.
    let name = format!("hearth-wedge-{}", std::process::id());
    use std::os::linux::net::SocketAddrExt;
    let sock = UnixDatagram::bind_addr(
        &std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut child = spawn_notified(
        &root,
        &format!("@{name}"),
        &[("HEARTH_FAULT_WEDGE_MAIN_LOOP_AFTER_MS", "2500")],
    );
    let mut seen = Vec::new();
    assert!(
        recv_until(&sock, &mut seen, Duration::from_secs(60), |m| m
            .contains("READY=1")),
        "no READY=1: {seen:?}"
    );
    let port = port_of(&root.join("data")).unwrap();
    // Pings arrive while healthy ...
    let mut before = Vec::new();
    recv_until(&sock, &mut before, Duration::from_millis(1000), |_| false);
    assert!(
        before.iter().any(|m| m == "WATCHDOG=1"),
        "no pings before the wedge: {before:?}"
    );
    // ... and stop for good once the main loop blocks, although the HTTP server still
    // answers: exactly the hang only a watchdog catches.
    std::thread::sleep(Duration::from_millis(2500));
    let mut drain = Vec::new();
    recv_until(&sock, &mut drain, Duration::from_millis(300), |_| false);
    let mut after = Vec::new();
    recv_until(&sock, &mut after, Duration::from_millis(2000), |_| false);
    assert!(
        !after.iter().any(|m| m == "WATCHDOG=1"),
        "pings went on after the wedge: {after:?}"
    );
    assert!(
        http_get(port, "/healthz")
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        std::fs::read_to_string(root.join("gateway.log"))
            .unwrap()
            .contains("main loop blocks")
    );
    child.kill().unwrap();
    let _ = child.wait();
}

/// Restarts `prefix/current/hearth gateway` whenever it exits, like `Restart=always`;
/// the restart command given to `hearth update` kills the child (pid in `child.pid`).
struct Supervisor {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pid_file: PathBuf,
}

impl Supervisor {
    fn start(root: &Path, prefix: &Path) -> Supervisor {
        std::fs::write(root.join("config.toml"), CONFIG).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let pid_file = root.join("child.pid");
        let (s, r, p, pf) = (
            stop.clone(),
            root.to_path_buf(),
            prefix.to_path_buf(),
            pid_file.clone(),
        );
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let mut child = Command::new(p.join("current/hearth"))
                    .arg("--config")
                    .arg(r.join("config.toml"))
                    .arg("--data-dir")
                    .arg(r.join("data"))
                    .arg("gateway")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn current/hearth");
                std::fs::write(&pf, child.id().to_string()).unwrap();
                loop {
                    if s.load(Ordering::SeqCst) {
                        let _ = child.kill();
                    }
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Supervisor {
            stop,
            thread: Some(thread),
            pid_file,
        }
    }

    fn restart_cmd(&self) -> String {
        format!("kill -TERM $(cat {})", self.pid_file.display())
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sha256(path: &Path) -> String {
    let b = std::fs::read(path).unwrap();
    hearth::update::manifest::sha256_hex(&b)
}

/// A fresh A/B install of the binary under test, a signing key it trusts, and a release
/// `0.9.0` whose binary is that binary with bytes appended (a different, runnable file).
struct Rig {
    root: TempRoot,
    prefix: PathBuf,
    keys: PathBuf,
    old_sha: String,
    new_sha: String,
    release: PathBuf,
}

fn hearth(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().expect("run hearth")
}

fn ok(out: &std::process::Output) -> String {
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "failed: {s}");
    s
}

fn rig(name: &str) -> Rig {
    let root = temp_dir(name);
    let sysroot = root.join("sysroot");
    let r = sysroot.to_str().unwrap();
    ok(&hearth(&["service", "install", "--root", r, "--no-start"]));
    let prefix = sysroot.join("opt/hearth");
    let keys = root.join("trusted");
    let signer = root.join("signer");
    ok(&hearth(&[
        "update",
        "keygen",
        "--out",
        signer.to_str().unwrap(),
    ]));
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(signer.join("hearth-update.pub"), keys.join("release.pub")).unwrap();
    let mut new = std::fs::read(bin()).unwrap();
    new.extend_from_slice(b"\nhearth test release 0.9.0\n");
    let new_bin = root.join("hearth-0.9.0");
    std::fs::write(&new_bin, &new).unwrap();
    let release = sign(&root, &signer, "0.9.0", &new_bin, "rel");
    Rig {
        old_sha: sha256(&prefix.join("slot-a/hearth")),
        new_sha: hearth::update::manifest::sha256_hex(&new),
        root,
        prefix,
        keys,
        release,
    }
}

fn sign(root: &Path, signer: &Path, version: &str, binary: &Path, dir: &str) -> PathBuf {
    let out = root.join(dir);
    ok(&hearth(&[
        "update",
        "sign",
        "--key",
        signer.join("hearth-update.key").to_str().unwrap(),
        "--release",
        version,
        "--binary",
        &format!("{}={}", env!("HEARTH_TARGET"), binary.display()),
        "--out",
        out.to_str().unwrap(),
    ]));
    out.join("manifest.json")
}

impl Rig {
    fn update(
        &self,
        sup: &Supervisor,
        manifest: &Path,
        grace: u64,
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let mut c = Command::new(bin());
        c.args(["--data-dir"])
            .arg(self.root.join("data"))
            .args(["update", "--from"])
            .arg(manifest)
            .arg("--prefix")
            .arg(&self.prefix)
            .arg("--keys")
            .arg(&self.keys)
            .args(["--grace", &grace.to_string()])
            .args(["--restart-cmd", &sup.restart_cmd()]);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run hearth update")
    }

    fn current_sha(&self) -> String {
        sha256(&self.prefix.join("current/hearth"))
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.prefix.join("update-state.json")).unwrap())
            .unwrap()
    }

    /// Waits until the gateway answers /readyz and runs `slot`'s binary.
    fn wait_serving(&self, slot: &str) {
        let want = std::fs::canonicalize(self.prefix.join(slot).join("hearth")).unwrap();
        let t0 = Instant::now();
        loop {
            if let Some(port) = port_of(&self.root.join("data"))
                && let Ok(r) = http_get(port, "/readyz")
                && r.starts_with("HTTP/1.1 200")
            {
                let v: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(self.root.join("data/gateway.json")).unwrap(),
                )
                .unwrap();
                let exe = std::fs::read_link(format!("/proc/{}/exe", v["pid"])).ok();
                if exe.as_deref() == Some(want.as_path()) {
                    return;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no ready gateway on {slot}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn link(prefix: &Path, name: &str) -> Option<String> {
    std::fs::read_link(prefix.join(name))
        .ok()
        .map(|p| p.display().to_string())
}

#[test]
fn update_switches_refuses_bad_signatures_and_rolls_back_a_binary_that_never_gets_ready() {
    let rig = rig("update");
    let sup = Supervisor::start(&rig.root, &rig.prefix);
    rig.wait_serving("slot-a");

    // A manifest signed by a key the device does not trust is refused; nothing changes.
    let stranger = rig.root.join("stranger");
    ok(&hearth(&[
        "update",
        "keygen",
        "--out",
        stranger.to_str().unwrap(),
    ]));
    let forged = sign(
        &rig.root,
        &stranger,
        "0.9.0",
        &rig.root.join("hearth-0.9.0"),
        "forged",
    );
    let out = rig.update(&sup, &forged, 30, &[]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("not a trusted update key"),
        "{text}"
    );
    // A tampered manifest fails the signature.
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rig.release).unwrap()).unwrap();
    let sig = env["signature"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    env["signature"] = flipped.into();
    let tampered = rig.root.join("rel/tampered.json");
    std::fs::write(&tampered, env.to_string()).unwrap();
    let out = rig.update(&sup, &tampered, 30, &[]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("signature does not match"),
        "{text}"
    );
    // A binary that does not match its manifest is refused before anything is written.
    let good_bin = rig
        .root
        .join("rel/hearth-0.9.0-".to_string() + env!("HEARTH_TARGET"));
    let saved = std::fs::read(&good_bin).unwrap();
    std::fs::write(&good_bin, b"not the signed binary").unwrap();
    let out = rig.update(&sup, &rig.release, 30, &[]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("the manifest says"),
        "{text}"
    );
    std::fs::write(&good_bin, &saved).unwrap();
    assert_eq!(link(&rig.prefix, "current").as_deref(), Some("slot-a"));
    assert!(!rig.prefix.join("slot-b/hearth").exists());

    // The good update switches, restarts and commits.
    let out = rig.update(&sup, &rig.release, 60, &[]);
    let text = ok(&out);
    assert!(text.contains("committed"), "{text}");
    assert_eq!(link(&rig.prefix, "current").as_deref(), Some("slot-b"));
    assert_eq!(link(&rig.prefix, "previous").as_deref(), Some("slot-a"));
    assert_eq!(rig.current_sha(), rig.new_sha);
    rig.wait_serving("slot-b");
    let st = rig.state();
    assert!(st["trial"].is_null());
    assert_eq!(st["history"][0]["outcome"], "committed");
    // Running it again is a no-op.
    assert!(ok(&rig.update(&sup, &rig.release, 60, &[])).contains("already installed"));

    // A release whose binary never becomes ready is rolled back to slot-b (0.9.0).
    let signer = rig.root.join("signer");
    let hang = rig.root.join("hang.sh");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 600\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bad = sign(&rig.root, &signer, "0.9.1", &hang, "bad");
    let t0 = Instant::now();
    let out = rig.update(&sup, &bad, 4, &[]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("rolled back") && text.contains("not ready within 4"),
        "{text}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
    assert_eq!(link(&rig.prefix, "current").as_deref(), Some("slot-b"));
    assert_eq!(rig.current_sha(), rig.new_sha);
    rig.wait_serving("slot-b");
    let st = rig.state();
    let last = st["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "rolled back", "{st}");
    assert_eq!(last["to_version"], "0.9.1");
    let status = ok(&hearth(&[
        "update",
        "status",
        "--prefix",
        rig.prefix.to_str().unwrap(),
    ]));
    assert!(
        status.contains("rolled back (not ready within 4"),
        "{status}"
    );
    // An older release is refused without --allow-downgrade.
    let old = sign(&rig.root, &signer, "0.1.0", &bin(), "old");
    let out = rig.update(&sup, &old, 30, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("older than the installed 0.9.0"));
    // So is a pre-release of the installed version (SemVer: 0.9.0-rc1 < 0.9.0).
    let rc = sign(&rig.root, &signer, "0.9.0-rc1", &bin(), "rc");
    let out = rig.update(&sup, &rc, 30, &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("0.9.0-rc1 is older than the installed 0.9.0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rig.current_sha(), rig.new_sha);
    drop(sup);
}

#[test]
fn sigkill_at_every_update_step_leaves_one_working_slot() {
    for step in hearth::update::Step::ALL {
        let name = step.name();
        let rig = rig(&format!("kill-{name}"));
        let sup = Supervisor::start(&rig.root, &rig.prefix);
        rig.wait_serving("slot-a");
        let out = rig.update(
            &sup,
            &rig.release,
            60,
            &[(hearth::update::KILL_AT_ENV, name)],
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{name}: not killed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Whatever the step, `current` names a complete binary: the old or the new one,
        // and it runs.
        let cur = rig.current_sha();
        assert!(
            cur == rig.old_sha || cur == rig.new_sha,
            "{name}: current holds neither binary"
        );
        let v = Command::new(rig.prefix.join("current/hearth"))
            .arg("--version")
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{name}: current/hearth --version failed"
        );
        // Running the update again finishes the job: new binary, committed, serving.
        let text = ok(&rig.update(&sup, &rig.release, 60, &[]));
        assert_eq!(rig.current_sha(), rig.new_sha, "{name}: {text}");
        let st = rig.state();
        assert!(st["trial"].is_null(), "{name}: {st}");
        assert_eq!(
            st["history"].as_array().unwrap().last().unwrap()["outcome"],
            "committed",
            "{name}: {st}"
        );
        let slot = link(&rig.prefix, "current").unwrap();
        rig.wait_serving(&slot);
        drop(sup);
        let _ = std::fs::remove_dir_all(&rig.root);
    }
}

#[test]
fn update_from_an_http_url() {
    let rig = rig("update-url");
    let sup = Supervisor::start(&rig.root, &rig.prefix);
    rig.wait_serving("slot-a");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(rig.release.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let url = format!("http://127.0.0.1:{port}/manifest.json");
    let t0 = Instant::now();
    while http_get(port, "/manifest.json").is_err() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // A URL that does not exist is a clear download error.
    let out = rig.update(
        &sup,
        Path::new(&format!("http://127.0.0.1:{port}/nope.json")),
        30,
        &[],
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("download failed"),
        "{text}"
    );
    let text = ok(&rig.update(&sup, Path::new(&url), 60, &[]));
    assert!(text.contains("committed"), "{text}");
    assert_eq!(rig.current_sha(), rig.new_sha);
    let _ = server.kill();
    let _ = server.wait();
    drop(sup);
}
