//! The sandbox as a process manager: foreign ABIs, executables, limits, timeouts and
//! cancellation of the whole group, background children, stdin and output capture, and
//! the refusal messages.

use super::*;

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
    as_unprivileged(
        "process::fork_bombs_are_bounded_by_the_process_limit",
        || {
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
        },
    );
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
