//! The Matrix peer of the tests: a real Synapse homeserver (PyPI `matrix-synapse` in a venv,
//! `$HEARTH_SYNAPSE_VENV` or `~/.cache/hearth/synapse-venv`, installed by scripts/test.sh) on
//! a free loopback port, SQLite, registration open, rate limits raised; and a small client
//! for the human users of the tests.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn venv() -> PathBuf {
    let d = std::env::var_os("HEARTH_SYNAPSE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/hearth/synapse-venv")
        });
    assert!(
        d.join("bin/python").exists(),
        "no Synapse venv at {}: python3 -m venv DIR && DIR/bin/pip install matrix-synapse (scripts/test.sh does)",
        d.display()
    );
    d
}

/// A running homeserver `localhost`; killed on drop.
pub struct Synapse {
    child: Child,
    /// Its client-server base URL.
    pub url: String,
}

/// A registered user.
#[derive(Clone)]
pub struct User {
    /// `@name:localhost`.
    pub id: String,
    /// Its access token.
    pub token: String,
    url: String,
}

impl Synapse {
    /// Generates a config under `root/synapse` and starts the server.
    pub fn start(root: &Path) -> Self {
        let dir = root.join("synapse");
        std::fs::create_dir_all(&dir).expect("synapse dir");
        let py = venv().join("bin/python");
        let conf = dir.join("hs.yaml");
        let st = Command::new(&py)
            .args(["-m", "synapse.app.homeserver", "--server-name", "localhost"])
            .arg("--config-path")
            .arg(&conf)
            .args(["--generate-config", "--report-stats=no"])
            .arg("--data-directory")
            .arg(&dir)
            // The generated log config names `homeserver.log` in the working directory.
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("generate Synapse config");
        assert!(st.success(), "Synapse --generate-config failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let fast = "{per_second: 10000, burst_count: 10000}";
        let extra = format!(
            "\nlisteners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
             enable_registration: true\nenable_registration_without_verification: true\n\
             trusted_key_servers: []\nsuppress_key_server_warning: true\nreport_stats: false\n\
             rc_message: {fast}\nrc_registration: {fast}\n\
             rc_login: {{address: {fast}, account: {fast}, failed_attempts: {fast}}}\n\
             rc_joins: {{local: {fast}, remote: {fast}}}\n\
             rc_invites: {{per_room: {fast}, per_user: {fast}, per_issuer: {fast}}}\n"
        );
        let mut text = std::fs::read_to_string(&conf).expect("hs.yaml");
        text.push_str(&extra);
        std::fs::write(&conf, text).expect("hs.yaml");
        let log = std::fs::File::create(dir.join("stderr.log")).expect("log");
        let child = Command::new(&py)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&conf)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start Synapse");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{url}/_matrix/client/versions"))
            .call()
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "Synapse did not start (see {}/stderr.log)",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Self { child, url }
    }

    /// Registers `name` (password login not needed: the access token is returned).
    pub fn register(&self, name: &str) -> User {
        let v: Value = ureq::post(&format!("{}/_matrix/client/v3/register", self.url))
            .send_json(json!({"username": name, "password": "pw-for-tests-only", "auth": {"type": "m.login.dummy"}}))
            .expect("register")
            .body_mut()
            .read_json()
            .expect("register JSON");
        User {
            id: v["user_id"].as_str().expect("user_id").to_string(),
            token: v["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            url: self.url.clone(),
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

static TXN: AtomicU64 = AtomicU64::new(0);

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl User {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_matrix/client/v3{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let r = match (method, body) {
            ("GET", _) => ureq::get(&url).header("authorization", &auth).call(),
            ("PUT", b) => ureq::put(&url)
                .header("authorization", &auth)
                .send_json(b.unwrap_or(json!({}))),
            (_, b) => ureq::post(&url)
                .header("authorization", &auth)
                .send_json(b.unwrap_or(json!({}))),
        };
        r.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
            .body_mut()
            .read_json()
            .expect("JSON")
    }

    /// Creates a room inviting `invite`; `direct` marks it a DM.
    pub fn create_room(&self, invite: &[&str], direct: bool) -> String {
        let preset = if direct {
            "trusted_private_chat"
        } else {
            "private_chat"
        };
        let v = self.call(
            "POST",
            "/createRoom",
            Some(json!({"preset": preset, "invite": invite, "is_direct": direct})),
        );
        v["room_id"].as_str().expect("room_id").to_string()
    }

    /// Joins `room` (after an invite).
    pub fn join(&self, room: &str) {
        self.call("POST", &format!("/join/{}", enc(room)), Some(json!({})));
    }

    /// Invites `user` to `room`.
    pub fn invite(&self, room: &str, user: &str) {
        self.call(
            "POST",
            &format!("/rooms/{}/invite", enc(room)),
            Some(json!({"user_id": user})),
        );
    }

    /// Sends `content` (an `m.room.message`) to `room`; returns the event id.
    pub fn send(&self, room: &str, content: Value) -> String {
        let txn = format!(
            "t{}-{}",
            std::process::id(),
            TXN.fetch_add(1, Ordering::Relaxed)
        );
        let v = self.call(
            "PUT",
            &format!("/rooms/{}/send/m.room.message/{txn}", enc(room)),
            Some(content),
        );
        v["event_id"].as_str().expect("event_id").to_string()
    }

    /// Sends plain text to `room`; returns the event id.
    pub fn say(&self, room: &str, text: &str) -> String {
        self.send(room, json!({"msgtype": "m.text", "body": text}))
    }

    /// The `m.room.message` events `sender` sent in `room`, oldest first.
    pub fn messages_from(&self, room: &str, sender: &str) -> Vec<Value> {
        let v = self.call(
            "GET",
            &format!("/rooms/{}/messages?dir=b&limit=1000", enc(room)),
            None,
        );
        let mut out: Vec<Value> = v["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Whether `user` has joined `room`.
    pub fn is_joined(&self, room: &str, user: &str) -> bool {
        let v = self.call("GET", &format!("/rooms/{}/joined_members", enc(room)), None);
        v["joined"].get(user).is_some()
    }

    /// Waits up to `secs` for `sender` to have sent at least `n` messages in `room`.
    pub fn wait_messages(&self, room: &str, sender: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.messages_from(room, sender);
            if m.len() >= n {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages from {sender} in {secs}s: {m:#?}",
                m.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The `[channels.matrix]` table for `bot` on `hs`; its token is written to `root`.
pub fn channel_config(root: &Path, hs: &Synapse, bot: &User, extra: &str) -> String {
    let tf = root.join("matrix.token");
    std::fs::write(&tf, &bot.token).expect("token file");
    format!(
        "\n[channels.matrix]\nhomeserver = \"{}\"\nuser_id = \"{}\"\naccess_token = \"file:{}\"\nsync_timeout_secs = 2\n{extra}\n",
        hs.url,
        bot.id,
        tf.display()
    )
}
