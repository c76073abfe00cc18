//! The MQTT peer of the tests: a real mosquitto broker on a free loopback port, and the
//! mosquitto clients (`mosquitto_pub`, `mosquitto_sub`) as the other parties.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running broker; killed on drop.
pub struct Broker {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Broker {
    /// Starts mosquitto (anonymous, in memory) with its config under `root`.
    pub fn start(root: &Path) -> Self {
        Self::run(root, "mosquitto.conf", |port| {
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n")
        })
    }

    /// Writes `root/<name>` (the listener from `listener(port)`, then in-memory settings)
    /// on a free port, starts mosquitto with it and waits for the port.
    fn run(root: &Path, name: &str, listener: impl Fn(u16) -> String) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let conf = root.join(name);
        let text = format!(
            "{}persistence false\nlog_dest stderr\nlog_type error\n",
            listener(port)
        );
        std::fs::write(&conf, text).expect("mosquitto config");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mosquitto (apt-get install mosquitto mosquitto-clients)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    /// Starts mosquitto with one TLS listener (a fresh CA and a server certificate for
    /// 127.0.0.1, made with openssl under `root`) that requires user `user` with `password`.
    /// Returns the broker and the CA file.
    pub fn start_tls(root: &Path, user: &str, password: &str) -> (Self, std::path::PathBuf) {
        let dir = root.join("tls");
        std::fs::create_dir_all(&dir).expect("tls dir");
        let run = |args: &[&str]| {
            let st = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(st.success(), "openssl {args:?}");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Hearth test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("san");
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        let st = Command::new("mosquitto_passwd")
            .args(["-c", "-b"])
            .arg(dir.join("passwd"))
            .args([user, password])
            .status()
            .expect("mosquitto_passwd");
        assert!(st.success());
        // Run as root, mosquitto drops to its own user, which must read the key and passwords.
        use std::os::unix::fs::PermissionsExt;
        for f in ["server.key", "passwd"] {
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
        let d = dir.display().to_string();
        let broker = Self::run(root, "mosquitto-tls.conf", move |port| {
            format!(
                "per_listener_settings true\nlistener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nallow_anonymous false\npassword_file {d}/passwd\n"
            )
        });
        (broker, dir.join("ca.pem"))
    }

    /// Publishes `payload` to `topic` at QoS 1 (waits for the broker's PUBACK).
    pub fn publish(&self, topic: &str, payload: &str) {
        let st = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-q",
                "1",
                "-t",
                topic,
                "-m",
                payload,
            ])
            .status()
            .expect("mosquitto_pub");
        assert!(st.success(), "mosquitto_pub to {topic} failed");
    }

    /// The retained message of `topic`, if any (waits up to 2 s for it).
    pub fn retained(&self, topic: &str) -> Option<String> {
        let out = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-t",
                topic,
                "-C",
                "1",
                "-W",
                "2",
                "--retained-only",
            ])
            .output()
            .expect("mosquitto_sub");
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!s.is_empty()).then_some(s)
    }

    /// Waits up to `secs` for a retained message on `topic` that `ok` accepts; returns it.
    pub fn wait_retained(&self, topic: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.retained(topic);
            if let Some(m) = got.as_deref().filter(|m| ok(m)) {
                return m.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no fitting retained message on {topic} in {secs}s; last: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Deletes the retained message of `topic` (an empty retained publish).
    pub fn clear_retained(&self, topic: &str) {
        let st = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-q", "1", "-r", "-n", "-t", topic])
            .status()
            .expect("mosquitto_pub");
        assert!(st.success(), "clearing {topic}");
    }

    /// Subscribes to `topic` at QoS 1; every payload received is collected.
    pub fn subscribe(&self, topic: &str) -> Subscriber {
        // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe.
        let port = self.port.to_string();
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port])
            .args(["-q", "1", "-t", topic, "-d"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub");
        let got = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let g = got.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        // With `-d` the client's own lines ("Client … received SUBACK") come on stdout too;
        // payloads are the other lines.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("Client ") || line.starts_with("Subscribed (") {
                    if line.contains("SUBACK") {
                        let _ = tx.send(());
                    }
                } else {
                    g.lock().expect("lock").push(line);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("mosquitto_sub subscribed");
        Subscriber { child, got }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `mosquitto_sub` collecting payloads; killed on drop.
pub struct Subscriber {
    child: Child,
    got: Arc<Mutex<Vec<String>>>,
}

impl Subscriber {
    /// The payloads received so far.
    pub fn payloads(&self) -> Vec<String> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits up to `secs` for at least `n` payloads; returns them all.
    pub fn wait(&self, n: usize, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.payloads();
            if p.len() >= n {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} payloads in {secs}s: {p:#?}",
                p.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[channels.mqtt]` table for `broker`.
pub fn channel_config(broker: &Broker, extra: &str) -> String {
    format!(
        "\n[channels.mqtt]\nport = {}\nkeep_alive_secs = 5\n{extra}\n",
        broker.port
    )
}
