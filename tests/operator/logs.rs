//! `logs.tail` and `hearth logs -f` on the gateway's log ring, and `HEARTH_LOG_FORMAT=json`.

use crate::common::harness::{Gateway, NO_CHAT, Ws, bin, connect_params, temp_dir};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Lines of `child`'s stdout (or stderr) as they come, on a channel.
fn lines_of(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits up to 20 s for a line containing `needle`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l.contains(needle) => return l,
            Ok(_) => continue,
            Err(e) => panic!("no line containing {needle:?}: {e}"),
        }
    }
}

/// A wrong-token handshake, which the gateway logs as a warning.
fn wrong_token(gw: &Gateway) {
    let mut ws = Ws::open(gw.port);
    let p = connect_params("not the token");
    ws.send_text(&json!({"type": "req", "id": "1", "method": "connect", "params": p}).to_string());
    let _ = ws.refused();
}

#[test]
fn logs_tail_follows_the_gateway_log_and_json_lines_parse() {
    let root = temp_dir("logs");
    let gw = Gateway::start(&root, NO_CHAT);

    let mut ws = gw.ws();
    let t = ws.call("logs.tail", json!({"limit": 500}));
    let lines = t["lines"].as_array().expect("lines");
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("gateway ready")),
        "{t}"
    );
    let cursor = t["cursor"].as_u64().expect("cursor");
    wrong_token(&gw);
    let t = ws.call("logs.tail", json!({"cursor": cursor}));
    assert_eq!(t["reset"], false);
    let new: Vec<&str> = t["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        new.iter().any(|l| l.contains("gateway token rejected")),
        "{new:?}"
    );
    assert!(
        !new.iter().any(|l| l.contains("gateway ready")),
        "only lines after the cursor"
    );

    // `hearth logs -f`: the recent lines, then new ones as they are logged.
    let out = gw.cli().args(["logs", "-n", "500"]).output().expect("logs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("gateway ready"));
    let mut follow = gw
        .cli()
        .args(["logs", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let rx = lines_of(follow.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    // A refused handshake is logged with its reason, which carries this unique role name.
    let marker = format!("role-{}", std::process::id());
    let mut ws = Ws::open(gw.port);
    let mut p = connect_params(&gw.token);
    p["role"] = json!(marker);
    ws.send_text(&json!({"type": "req", "id": "1", "method": "connect", "params": p}).to_string());
    let (err, _) = ws.refused();
    assert!(err["message"].as_str().unwrap().contains(&marker), "{err}");
    wait_line(&rx, &marker);
    let _ = follow.kill();
    let _ = follow.wait();

    // JSON lines for journald and log shippers.
    let root = temp_dir("logs-json");
    std::fs::write(root.join("config.toml"), "[gateway]\nport = 0\n").unwrap();
    let mut child = Command::new(bin())
        .arg("--config")
        .arg(root.join("config.toml"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("gateway")
        .env("HEARTH_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway");
    let rx = lines_of(child.stderr.take().unwrap());
    let line = wait_line(&rx, "gateway ready");
    let _ = child.kill();
    let _ = child.wait();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO", "{v}");
    assert_eq!(v["fields"]["message"], "gateway ready", "{v}");
    assert!(v["timestamp"].is_string(), "{v}");
}
