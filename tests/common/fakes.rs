//! The faked platforms (Discord, Slack): `tests/kit/chat-fakes.js`, one scripted HTTP +
//! WebSocket server faithful to their published APIs; the tests inject users' events and
//! read back the REST calls the gateway made.

use serde_json::{Value, json};
use std::process::Child;
use std::time::{Duration, Instant};

/// The Discord bot's user id in the fake.
pub const DISCORD_BOT_ID: &str = "900000000000000001";
/// The Slack bot's user id in the fake.
pub const SLACK_BOT_USER: &str = "UHEARTH01";

/// The running fakes; killed on drop.
pub struct Fakes {
    child: Child,
    /// Port on 127.0.0.1.
    pub port: u16,
}

impl Fakes {
    /// Starts the fakes (Node with `express` and `ws` from the test kit's npm cache).
    pub fn start() -> Self {
        let (child, port) = super::node::start("chat-fakes.js", "ws");
        Self { child, port }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        ureq::post(&format!("{}{path}", self.base()))
            .send_json(body)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .body_mut()
            .read_json()
            .expect("JSON")
    }

    /// A Discord user writes; returns the message id.
    pub fn discord_says(
        &self,
        channel: &str,
        guild: Option<&str>,
        author: &str,
        content: &str,
        mentions: &[&str],
    ) -> String {
        let v = self.post(
            "/kit/discord/message",
            &json!({"channel_id": channel, "guild_id": guild, "author_id": author, "content": content, "mentions": mentions}),
        );
        v["id"].as_str().expect("id").to_string()
    }

    /// Asks every Discord gateway connection to reconnect (op 7).
    pub fn discord_reconnect(&self) {
        self.post("/kit/discord/reconnect", &json!({}));
    }

    /// A Slack event (the `event` of an `events_api` envelope) is sent over Socket Mode.
    pub fn slack_event(&self, event: Value) {
        self.post("/kit/slack/event", &event);
    }

    /// Asks every Slack socket to reconnect (`disconnect`).
    pub fn slack_disconnect(&self) {
        self.post("/kit/slack/disconnect", &json!({}));
    }

    /// Envelopes Slack still waits an ack for.
    pub fn slack_pending(&self) -> u64 {
        ureq::get(&format!("{}/kit/slack/pending", self.base()))
            .call()
            .expect("pending")
            .body_mut()
            .read_json()
            .expect("JSON")
    }

    /// The next `n` message sends of `platform` answer 429 with `retry_after` seconds.
    pub fn flood(&self, platform: &str, n: u32, retry_after: u64) {
        self.post(
            &format!("/kit/flood?platform={platform}&n={n}&retry_after={retry_after}"),
            &json!({}),
        );
    }

    /// The REST calls made so far with `method` (`createMessage`, `typing`, `chat.postMessage`).
    pub fn calls(&self, method: &str) -> Vec<Value> {
        let v: Value = ureq::get(&format!("{}/kit/calls", self.base()))
            .call()
            .expect("calls")
            .body_mut()
            .read_json()
            .expect("JSON");
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["method"] == method)
            .cloned()
            .collect()
    }

    /// Waits up to `secs` for `n` calls of `method`.
    pub fn wait_calls(&self, method: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let c = self.calls(method);
            if c.len() >= n {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} {method} calls in {secs}s: {c:#?}",
                c.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Fakes {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
