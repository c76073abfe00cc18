//! The road through the real binary on loopback, with an instant fake provider (the
//! OpenAI-compatible fake of the test kit) and the store on this disk, fsync on:
//!
//! 1. sequential turns through `/v1/chat/completions` (p50/p99 latency, turns/s);
//! 2. 20 concurrent HTTP clients, one session each (turns/s, p50/p99);
//! 3. SSE time to the first delta on a keep-alive connection (p50 over 50 requests);
//! 4. 200 WebSocket clients × 100 messages over 50 sessions: acknowledged messages left
//!    unanswered (must be 0), p99 of each turn's own time (start to committed end), peak RSS of the
//!    gateway (VmHWM).
//!
//!     cargo bench --bench road [-- CLIENTS MESSAGES]

#[path = "../tests/common/mod.rs"]
mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, Ws, fake_config, temp_dir};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn pct(lat: &mut [Duration], p: f64) -> f64 {
    lat.sort();
    lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3
}

fn completion(url: &str, token: &str, session: &str, i: usize) {
    let r: Value = ureq::post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("x-hearth-session-key", session)
        .send_json(json!({"model": "hearth", "messages": [{"role": "user", "content": format!("turn {i}")}]}))
        .expect("completion")
        .body_mut()
        .read_json()
        .expect("json");
    assert!(r["choices"][0]["message"]["content"].is_string(), "{r}");
}

/// Time from writing a streaming request on an open keep-alive connection to reading the
/// first content delta.
fn first_delta(conn: &mut BufReader<TcpStream>, port: u16, token: &str) -> Duration {
    let body = json!({"model": "hearth", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let t = Instant::now();
    conn.get_mut().write_all(req.as_bytes()).expect("write");
    let mut first = None;
    let mut line = String::new();
    // Chunked SSE: read lines until `[DONE]`, then the terminating chunk.
    loop {
        line.clear();
        conn.read_line(&mut line).expect("read");
        if first.is_none() && line.contains("\"content\":\"") && !line.contains("\"content\":\"\"")
        {
            first = Some(t.elapsed());
        }
        if line.starts_with("data: [DONE]") {
            break;
        }
    }
    let mut tail = [0u8; 7]; // "\r\n0\r\n\r\n" minus what read_line consumed
    let _ = conn.read(&mut tail);
    first.expect("a content delta")
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (clients, messages) = (*args.first().unwrap_or(&200), *args.get(1).unwrap_or(&100));
    let fake = FakeOpenAi::start(vec![Reply::Text("ok".into())]);
    let root = temp_dir("bench-road");
    let mut config = fake_config(&[("fake", &fake.base_url())]);
    config.push_str(
        "\n[gateway]\nmax_connections = 1024\n\n[queue]\nmode = \"followup\"\ncap = 1000\n",
    );
    let gw = Gateway::start(&root, &config);
    let url = format!("{}/v1/chat/completions", gw.http());

    // 1. Sequential.
    for i in 0..20 {
        completion(&url, &gw.token, "warm", i);
    }
    let mut lat = Vec::new();
    let t = Instant::now();
    for i in 0..500 {
        let s = Instant::now();
        completion(&url, &gw.token, "seq", i);
        lat.push(s.elapsed());
    }
    let rate = 500.0 / t.elapsed().as_secs_f64();
    println!(
        "HTTP sequential: p50 {:.2} ms, p99 {:.2} ms, {rate:.0} turns/s",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // 2. 20 concurrent clients.
    let t = Instant::now();
    let handles: Vec<_> = (0..20)
        .map(|c| {
            let (url, token) = (url.clone(), gw.token.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                for i in 0..100 {
                    let s = Instant::now();
                    completion(&url, &token, &format!("c{c}"), i);
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    let rate = lat.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "HTTP 20 concurrent clients: {rate:.0} turns/s, p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // 3. SSE time to first delta on one keep-alive connection.
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", gw.port)).expect("connect"));
    let mut ttfd: Vec<Duration> = (0..50)
        .map(|_| first_delta(&mut conn, gw.port, &gw.token))
        .collect();
    println!(
        "SSE first delta on a keep-alive connection: p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut ttfd, 0.5),
        pct(&mut ttfd, 0.99)
    );

    // 4. Many WebSocket clients.
    let pid: u32 = std::fs::read_to_string(gw.data_dir().join("gateway.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok()?["pid"].as_u64())
        .expect("pid") as u32;
    let t = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let mut ws: Ws = gw.ws();
            std::thread::spawn(move || {
                let session = format!("agent:main:load{}", c % 50);
                let mut runs = Vec::new();
                for i in 0..messages {
                    let r = ws.call(
                        "chat.send",
                        json!({"sessionKey": session, "message": format!("c{c} m{i}")}),
                    );
                    runs.push(r["runId"].as_str().expect("runId").to_string());
                }
                let mut lost = 0;
                let mut lat = Vec::new();
                for run in runs {
                    let w = ws
                        .try_call("agent.wait", json!({"runId": run, "timeoutMs": 600_000}))
                        .expect("agent.wait");
                    if w["status"] != "completed" {
                        lost += 1;
                    }
                    // The turn's own time: from the lane taking it to its committed end.
                    let (a, b) = (
                        w["startedAt"].as_u64().unwrap_or(0),
                        w["endedAt"].as_u64().unwrap_or(0),
                    );
                    lat.push(Duration::from_millis(b.saturating_sub(a)));
                }
                (lost, lat)
            })
        })
        .collect();
    let mut lost = 0;
    let mut lat = Vec::new();
    for h in handles {
        let (l, mut v) = h.join().expect("ws client");
        lost += l;
        lat.append(&mut v);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "WebSocket {clients} clients × {messages} messages over 50 sessions: {} acknowledged, {lost} unanswered, {:.0} turns/s, p99 turn time (start→committed end, ms resolution) {:.0} ms, gateway peak RSS {} MiB",
        lat.len(),
        lat.len() as f64 / secs,
        pct(&mut lat, 0.99),
        peak_rss_kib(pid) / 1024
    );
}
