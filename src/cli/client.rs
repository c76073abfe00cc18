//! A small blocking WebSocket client of the gateway protocol, used by `chat`, `agent`,
//! `status` and `sessions`. Finds a local gateway through the data dir
//! (`gateway.json` + `gateway.token`), or takes `--url`/`--token` for a remote one.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Where and how to reach the gateway.
#[derive(Debug, Clone)]
pub struct Target {
    /// `ws://host:port/`.
    pub url: String,
    /// Bearer token, if any.
    pub token: Option<String>,
}

/// Resolves the target: `--url` else the discovery file else the configured port; `--token`
/// else `$HEARTH_GATEWAY_TOKEN` else `<data_dir>/gateway.token` else the configured reference.
pub fn target(
    url: Option<&str>,
    token: Option<&str>,
    data_dir: &Path,
    config: &crate::config::Config,
) -> Target {
    let url = url.map(str::to_string).unwrap_or_else(|| {
        std::fs::read_to_string(crate::daemon::discovery_path(data_dir))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("url").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| format!("ws://{}:{}/", config.gateway.bind, config.gateway.port))
    });
    let token = token
        .map(str::to_string)
        .or_else(|| std::env::var("HEARTH_GATEWAY_TOKEN").ok())
        .or_else(|| {
            std::fs::read_to_string(crate::daemon::build::token_path(data_dir))
                .ok()
                .map(|t| t.trim().to_string())
        })
        .or_else(|| config.gateway.token.as_ref().and_then(|r| r.resolve().ok()));
    Target { url, token }
}

/// A connected, authenticated client.
pub struct Client {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: VecDeque<Value>,
    /// The server's `hello-ok` payload.
    pub hello: Value,
}

impl Client {
    /// Connects and performs the `connect` handshake.
    ///
    /// # Errors
    /// When the gateway is unreachable, closes the socket (wrong token) or answers oddly.
    pub fn connect(t: &Target) -> Result<Self> {
        let (ws, _) = tungstenite::connect(t.url.as_str()).with_context(|| {
            format!(
                "cannot reach the gateway at {} (is `hearth gateway` running?)",
                t.url
            )
        })?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(700)));
        }
        let mut c = Self {
            ws,
            next_id: 1,
            events: VecDeque::new(),
            hello: Value::Null,
        };
        // Protocol v4: the gateway opens with a `connect.challenge` event (buffered by
        // `request` like any event); the token authenticates, so the nonce is not signed.
        let params = json!({
            "minProtocol": crate::gateway::PROTOCOL_VERSION, "maxProtocol": crate::gateway::PROTOCOL_VERSION,
            "client": {"id": "cli", "displayName": "hearth", "version": env!("CARGO_PKG_VERSION"),
                "platform": std::env::consts::OS, "mode": "cli"},
            "role": "operator",
            "scopes": ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"],
            "auth": {"token": t.token},
        });
        c.hello = c
            .request("connect", params)
            .context("the gateway refused the connection")?;
        c.events.retain(|e| e["event"] != "connect.challenge");
        Ok(c)
    }

    fn read(&mut self) -> Result<Value> {
        loop {
            match self.ws.read().context("connection to the gateway lost")? {
                Message::Text(t) => {
                    return serde_json::from_str(t.as_str())
                        .context("the gateway sent malformed JSON");
                }
                Message::Close(f) => {
                    let why = f.map(|f| f.reason.to_string()).unwrap_or_default();
                    bail!("the gateway closed the connection: {why}");
                }
                _ => continue,
            }
        }
    }

    /// Sends a request and waits for its response, buffering events that arrive meanwhile.
    ///
    /// # Errors
    /// The response's error (`CODE: message`) or a transport error.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let frame =
            json!({"type": "req", "id": id.to_string(), "method": method, "params": params});
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .context("cannot send to the gateway")?;
        loop {
            let v = self.read()?;
            match v.get("type").and_then(Value::as_str) {
                Some("res")
                    if v.get("id").and_then(Value::as_str) == Some(id.to_string().as_str()) =>
                {
                    if v.get("ok").and_then(Value::as_bool) == Some(true) {
                        return Ok(v.get("payload").cloned().unwrap_or(Value::Null));
                    }
                    let e = v.get("error").cloned().unwrap_or_default();
                    return Err(anyhow!(
                        "{}: {}",
                        e.get("code").and_then(Value::as_str).unwrap_or("ERROR"),
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("request failed")
                    ));
                }
                Some("event") => self.events.push_back(v),
                _ => {}
            }
        }
    }

    /// The next event frame (`{type:"event",event,payload,seq}`).
    ///
    /// # Errors
    /// A transport error.
    pub fn next_event(&mut self) -> Result<Value> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        loop {
            let v = self.read()?;
            if v.get("type").and_then(Value::as_str) == Some("event") {
                return Ok(v);
            }
        }
    }

    /// Sends `message` to `session_key` and follows the run's events, calling `on_delta` for
    /// assistant text; returns the final text.
    ///
    /// # Errors
    /// When the run fails or is aborted (the message says why) or the connection drops.
    pub fn send_and_follow(
        &mut self,
        session_key: &str,
        message: &str,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<String> {
        let key = idempotency_key()?;
        let acc = self.request(
            "chat.send",
            json!({"sessionKey": session_key, "message": message, "idempotencyKey": key}),
        )?;
        let run_id = acc
            .get("runId")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("no runId in the answer"))?
            .to_string();
        loop {
            let ev = self.next_event()?;
            if ev.get("event").and_then(Value::as_str) != Some("agent") {
                continue;
            }
            let p = &ev["payload"];
            if p.get("runId").and_then(Value::as_str) != Some(run_id.as_str()) {
                continue;
            }
            match (p["stream"].as_str(), p["data"]["phase"].as_str()) {
                (Some("assistant"), _) => on_delta(p["data"]["delta"].as_str().unwrap_or_default()),
                (Some("lifecycle"), Some("end")) => {
                    return Ok(p["data"]["text"].as_str().unwrap_or_default().to_string());
                }
                (Some("lifecycle"), Some("error")) => {
                    bail!(
                        "run {run_id} {}: {}",
                        p["data"]["status"].as_str().unwrap_or("failed"),
                        p["data"]["error"].as_str().unwrap_or("unknown error")
                    )
                }
                (Some("failover"), _) => {
                    eprintln!(
                        "\n[failover: {} via {} failed: {}]",
                        p["data"]["model"], p["data"]["profile"], p["data"]["reason"]
                    );
                }
                _ => {}
            }
        }
    }
}

/// A fresh idempotency key (128 random bits, hex).
///
/// # Errors
/// When the OS random generator fails (a fixed key would merge different messages).
pub fn idempotency_key() -> Result<String> {
    crate::core::random_hex(16).map_err(|e| anyhow!("cannot make an idempotency key: {e}"))
}
