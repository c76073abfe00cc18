//! What the exec sandbox costs:
//!
//! 1. spawn overhead: p50/p90 wall time of 200 `/bin/true` runs through `sandbox::run`
//!    (Landlock, seccomp, rlimits, setsid, output capture, group kill) against 200 plain
//!    `std::process::Command` spawns, in this process;
//! 2. the gateway's RSS (VmRSS) idle, and while its `exec` tool runs a sandboxed command (a
//!    fake provider asks for `sleep 3`; exec mode `full`, so no approval), through the real
//!    binary.
//!
//!     cargo bench --bench exec

#[path = "../tests/common/mod.rs"]
mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, fake_config, send, temp_dir};
use hearth::sandbox::{self, Spec};
use serde_json::json;
use std::time::{Duration, Instant};

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: usize| v[(v.len() - 1) * p / 100].as_secs_f64() * 1000.0;
    (at(50), at(90))
}

fn spawn_overhead() {
    let root = temp_dir("bench-exec");
    let (ws, tmp) = (root.join("ws"), root.join("tmp"));
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let spec = Spec::new(vec!["/bin/true".into()], ws, tmp);
    let never = || false;
    let plain: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let st = std::process::Command::new("/bin/true")
                .status()
                .expect("true");
            assert!(st.success());
            t.elapsed()
        })
        .collect();
    let boxed: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let out = sandbox::run(&spec, Duration::from_secs(5), &never).expect("sandbox");
            assert_eq!(out.exit.and_then(|e| e.code), Some(0), "{:?}", out.stderr);
            t.elapsed()
        })
        .collect();
    let (p50, p90) = percentiles(plain);
    println!("plain spawn of /bin/true: p50 {p50:.2} ms, p90 {p90:.2} ms (200 runs)");
    let (s50, s90) = percentiles(boxed);
    println!("sandboxed /bin/true:      p50 {s50:.2} ms, p90 {s90:.2} ms (200 runs)");
    println!(
        "sandbox overhead: p50 +{:.2} ms ({})",
        s50 - p50,
        sandbox::probe()
            .landlock_abi()
            .map_or("no Landlock".into(), |a| format!("Landlock ABI {a}"))
    );
}

fn rss_while_running() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![(
            "exec".into(),
            json!({"command": "sleep 3"}).to_string(),
        )]),
        Reply::Text("done".into()),
    ]);
    let root = temp_dir("bench-exec-rss");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[heartbeat]\nevery = \"0\"\n\n[tools.exec]\nmode = \"full\"\n";
    let gw = Gateway::start(&root, &cfg);
    std::thread::sleep(Duration::from_secs(3));
    let idle = gw.rss_kib();
    let mut ws = gw.ws();
    let run = send(&mut ws, "agent:main:main", "sleep a bit");
    std::thread::sleep(Duration::from_millis(1500));
    let busy = gw.rss_kib();
    let events = ws.follow(&run);
    assert!(
        events
            .iter()
            .any(|e| e["data"]["phase"] == "end" && e["stream"] == "tool"),
        "exec ran: {}",
        gw.log()
    );
    println!(
        "gateway RSS idle: {idle} KiB; while a sandboxed command runs: {busy} KiB (+{} KiB)",
        busy.saturating_sub(idle)
    );
}

fn main() {
    if let Err(e) = sandbox::probe().check(sandbox::Mode::Enforce) {
        eprintln!("exec bench needs the sandbox: {e}");
        std::process::exit(1);
    }
    spawn_overhead();
    rss_while_running();
}
