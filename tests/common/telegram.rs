//! The Telegram peer of the tests: npm `telegram-test-api` behind `tests/kit/telegram.js`
//! (which makes `getUpdates` honour offset, limit and long-poll timeout as the Bot API
//! does, and adds `sendChatAction`, files and flood control). Users write through the
//! emulator's client API; what the bot sent is read back from its history.

use serde_json::{Value, json};
use std::process::Child;
use std::time::{Duration, Instant};

/// The bot's `getMe` id and username in the emulator.
pub const BOT_ID: i64 = 666;
/// See [`BOT_ID`].
pub const BOT_NAME: &str = "TestNameBot";

/// A running emulator; killed on drop.
pub struct TelegramEmu {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl TelegramEmu {
    /// Starts the emulator on a free port.
    pub fn start() -> Self {
        let (child, port) = super::node::start("telegram.js", "telegram-test-api");
        Self { child, port }
    }

    /// The Bot API base URL (`api_base` of `[channels.telegram]`).
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        ureq::post(&format!("{}{path}", self.base()))
            .send_json(body)
            .unwrap_or_else(|e| panic!("emulator {path}: {e}"))
            .body_mut()
            .read_json()
            .expect("emulator JSON")
    }

    /// User `from` writes `text` in `chat` (a Bot API `Chat` object) to bot `token`;
    /// `extra` is merged into the message (entities, message_thread_id, reply_to_message…).
    pub fn user_says(&self, token: &str, chat: Value, from: i64, text: &str, extra: Value) {
        let mut m = json!({
            "botToken": token,
            "from": {"id": from, "is_bot": false, "first_name": format!("User{from}"), "username": format!("user{from}")},
            "chat": chat,
            "date": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "text": text,
        });
        if let (Some(m), Some(x)) = (m.as_object_mut(), extra.as_object()) {
            for (k, v) in x {
                m.insert(k.clone(), v.clone());
            }
        }
        let r = self.post("/sendMessage", &m);
        assert_eq!(r["ok"], true, "{r}");
    }

    /// Every message the bot sent (the `sendMessage` parameters, with `messageId`).
    pub fn bot_messages(&self, token: &str) -> Vec<Value> {
        let r = self.post("/getUpdatesHistory", &json!({"token": token}));
        r["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["message"].get("chat_id").is_some())
            .map(|u| {
                let mut m = u["message"].clone();
                m["messageId"] = u["messageId"].clone();
                m
            })
            .collect()
    }

    /// When the emulator stored each bot message: message id → ms since the epoch.
    pub fn bot_history_times(&self, token: &str) -> std::collections::HashMap<u64, u64> {
        let r = self.post("/getUpdatesHistory", &json!({"token": token}));
        r["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| Some((u["messageId"].as_u64()?, u["time"].as_u64()?)))
            .collect()
    }

    /// Waits up to `secs` for the bot to have sent at least `n` messages; returns them all.
    pub fn wait_bot_messages(&self, token: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.bot_messages(token);
            if m.len() >= n {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "the bot sent {} of {n} messages in {secs}s: {m:#?}",
                m.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `sendChatAction` calls of bot `token`.
    pub fn actions(&self, token: &str) -> Vec<Value> {
        ureq::get(&format!("{}/kit/actions?token={token}", self.base()))
            .call()
            .expect("actions")
            .body_mut()
            .read_json()
            .expect("actions JSON")
    }

    /// Stores `bytes` as file `id`, for a message's `document`/`photo`/`voice` to name.
    pub fn upload(&self, id: &str, bytes: &[u8]) {
        ureq::post(&format!("{}/kit/file?id={id}", self.base()))
            .header("content-type", "application/octet-stream")
            .send(bytes)
            .expect("upload");
    }

    /// The next `n` `sendMessage` calls of bot `token` answer 429 with `retry_after`.
    pub fn flood(&self, token: &str, n: u32, retry_after: u64) {
        self.post(
            &format!("/kit/flood?token={token}&n={n}&retry_after={retry_after}"),
            &json!({}),
        );
    }
}

impl Drop for TelegramEmu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private chat with user `id`.
pub fn private(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": format!("User{id}")})
}

/// A supergroup `id`, a forum when `forum`.
pub fn group(id: i64, forum: bool) -> Value {
    json!({"id": id, "type": "supergroup", "title": "Test group", "is_forum": forum})
}

/// The `[channels.telegram]` table for bot `token` (written to `<root>/tg.token`) on `emu`.
pub fn channel_config(
    root: &std::path::Path,
    emu: &TelegramEmu,
    token: &str,
    extra: &str,
) -> String {
    let tf = root.join("tg.token");
    std::fs::write(&tf, token).expect("token file");
    format!(
        "\n[channels.telegram]\ntoken = \"file:{}\"\napi_base = \"{}\"\npoll_timeout_secs = 2\n{extra}\n",
        tf.display(),
        emu.base()
    )
}
