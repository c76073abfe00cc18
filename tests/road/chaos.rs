//! SIGKILL of the real binary at random points while WebSocket and HTTP clients keep
//! sending: every acknowledged message is answered exactly once, no turn runs twice into
//! the transcript, no outbox row is sent again, and the store always opens.

use super::*;

/// One client's view of the gateway across restarts: the current port from the discovery
/// file, the token from the data dir.
#[derive(Clone)]
struct Target {
    data_dir: std::path::PathBuf,
    token: String,
}

impl Target {
    fn port(&self) -> Option<u16> {
        let t = std::fs::read_to_string(self.data_dir.join("gateway.json")).ok()?;
        let v: Value = serde_json::from_str(&t).ok()?;
        v["port"].as_u64().map(|p| p as u16)
    }

    /// A connected WebSocket client, or why not.
    fn ws(&self) -> Result<Ws, String> {
        let port = self.port().ok_or("no discovery file")?;
        let mut ws = Ws::try_open(port)?;
        // `try_call` is an `Err` unless the gateway answered `connect` with `ok: true`.
        ws.try_call(
            "connect",
            crate::common::harness::connect_params(&self.token),
        )?;
        Ok(ws)
    }
}

/// xorshift64*, seeded per test run (the seed is printed on failure).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Sends messages to `session` over WebSocket until `stop`, each with an idempotency key
/// and retried (same key) until acknowledged; returns the acknowledged (text, run id)s.
fn ws_client(
    t: Target,
    session: String,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Vec<(String, String)> {
    let mut rng = Rng(seed | 1);
    let mut acked = Vec::new();
    let mut ws: Option<Ws> = None;
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let text = format!("{session}-m{i}");
        loop {
            let conn = match ws.as_mut() {
                Some(c) => c,
                None => match t.ws() {
                    Ok(c) => ws.insert(c),
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                },
            };
            let p = json!({"sessionKey": session, "message": text, "idempotencyKey": text});
            match conn.try_call("chat.send", p) {
                Ok(r) => {
                    acked.push((
                        text.clone(),
                        r["runId"].as_str().expect("runId").to_string(),
                    ));
                    break;
                }
                Err(_) => ws = None,
            }
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(50 + rng.below(200)));
    }
    acked
}

/// Sends messages to `session` over `/v1/chat/completions` until `stop`, each retried with
/// the same `Idempotency-Key` until answered; returns the (text, answer)s.
fn http_client(t: Target, session: String, stop: Arc<AtomicBool>) -> Vec<(String, String)> {
    let mut answered = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let text = format!("{session}-m{i}");
        loop {
            let Some(port) = t.port() else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let r = ureq::post(&format!("http://127.0.0.1:{port}/v1/chat/completions"))
                .header("Authorization", &format!("Bearer {}", t.token))
                .header("x-hearth-session-key", &session)
                .header("Idempotency-Key", &text)
                .send_json(
                    json!({"model": "hearth", "messages": [{"role": "user", "content": text}]}),
                );
            match r.and_then(|mut r| r.body_mut().read_json::<Value>()) {
                Ok(v) => {
                    let a = v["choices"][0]["message"]["content"]
                        .as_str()
                        .unwrap_or_default();
                    answered.push((text.clone(), a.to_string()));
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        i += 1;
    }
    answered
}

#[test]
fn sigkill_at_random_points_under_load_loses_and_repeats_nothing() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let fake = FakeOpenAi::start(vec![Reply::Echo(20)]);
    let root = temp_dir("chaos");
    let mut gw = Gateway::start(&root, &fake_config(&[("fake", &fake.base_url())]));
    let t = Target {
        data_dir: gw.data_dir(),
        token: gw.token.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ws_sessions: Vec<String> = (0..3).map(|i| format!("agent:main:ws{i}")).collect();
    let http_sessions: Vec<String> = (0..2).map(|i| format!("agent:main:http{i}")).collect();
    let ws_threads: Vec<_> = ws_sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (t, s, stop) = (t.clone(), s.clone(), stop.clone());
            std::thread::spawn(move || ws_client(t, s, stop, seed.wrapping_add(i as u64)))
        })
        .collect();
    let http_threads: Vec<_> = http_sessions
        .iter()
        .map(|s| {
            let (t, s, stop) = (t.clone(), s.clone(), stop.clone());
            std::thread::spawn(move || http_client(t, s, stop))
        })
        .collect();
    let mut rng = Rng(seed | 1);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(150 + rng.below(600)));
        gw.kill();
        gw.restart();
    }
    stop.store(true, Ordering::SeqCst);
    let ws_acked: Vec<Vec<(String, String)>> = ws_threads
        .into_iter()
        .map(|h| h.join().expect("ws client"))
        .collect();
    let http_answered: Vec<Vec<(String, String)>> = http_threads
        .into_iter()
        .map(|h| h.join().expect("http client"))
        .collect();

    let ctx = format!("seed {seed}");
    let mut ws = gw.ws();
    for (run_text, answer) in http_answered.iter().flatten() {
        assert!(
            answer.contains(run_text.as_str()),
            "{ctx}: {run_text} answered {answer:?}"
        );
    }
    for acked in &ws_acked {
        for (text, run) in acked {
            let w = ws.call("agent.wait", json!({"runId": run, "timeoutMs": 120_000}));
            assert_eq!(w["status"], "completed", "{ctx}: {text}: {w}");
            assert!(
                w["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(text.as_str()),
                "{ctx}: {w}"
            );
        }
    }
    let sessions = ws_sessions
        .iter()
        .zip(
            ws_acked
                .iter()
                .map(|a| a.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>()),
        )
        .chain(
            http_sessions.iter().zip(
                http_answered
                    .iter()
                    .map(|a| a.iter().map(|(t, _)| t.clone()).collect()),
            ),
        );
    let mut total = 0;
    for (session, acked) in sessions {
        let h = ws.call(
            "chat.history",
            json!({"sessionKey": session, "limit": 1000}),
        );
        let msgs = h["messages"].as_array().expect("messages");
        let roles: Vec<&str> = msgs
            .iter()
            .map(|m| m["role"].as_str().unwrap_or(""))
            .collect();
        for pair in roles.chunks(2) {
            assert_eq!(
                pair,
                ["user", "assistant"],
                "{ctx}: {session}: one answer per turn: {roles:?}"
            );
        }
        let mut seen: Vec<String> = msgs
            .iter()
            .filter(|m| m["role"] == "user")
            .flat_map(|m| {
                m["text"]
                    .as_str()
                    .unwrap_or("")
                    .split("\n\n")
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            n,
            "{ctx}: {session}: a message entered the transcript twice"
        );
        for text in &acked {
            assert!(
                seen.contains(text),
                "{ctx}: {session}: acknowledged {text} is missing"
            );
        }
        total += acked.len();
    }
    assert!(total >= 40, "{ctx}: only {total} messages under load");
    eprintln!("{ctx}: {total} messages acknowledged across 20 SIGKILLs, each answered once");
    // No outbox row was delivered twice: each row is logged once when marked sent.
    let log = gw.log();
    let mut delivered: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" delivered"))
        .filter_map(|l| l.split("seq=").nth(1)?.split_whitespace().next())
        .collect();
    let n = delivered.len();
    delivered.sort();
    delivered.dedup();
    assert!(n > 0, "{ctx}: no delivery logged");
    assert_eq!(delivered.len(), n, "{ctx}: an outbox row was sent again");
    eventually("every answer delivered", || {
        let o = ws.call("status", json!({}))["outbox"].clone();
        o["pending"] == 0 && o["dead"] == 0
    });
}
