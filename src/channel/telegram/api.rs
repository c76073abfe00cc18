//! The slice of the Telegram Bot API Hearth uses (<https://core.telegram.org/bots/api>):
//! the types of `getUpdates` (Update, Message, User, Chat, MessageEntity, files) and one
//! blocking call over ureq that maps the API's error object to [`ApiError`].

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// A Bot API failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The API answered `ok: false` (<https://core.telegram.org/bots/api#making-requests>).
    #[error("Telegram {method}: {code} {description}")]
    Api {
        /// The method called.
        method: String,
        /// `error_code` (an HTTP status: 400, 401, 403, 409, 429…).
        code: u16,
        /// `description`, as Telegram wrote it.
        description: String,
        /// `parameters.retry_after`, seconds (flood control).
        retry_after: Option<u64>,
    },
    /// No usable answer: connection, timeout, or a body that is not the API's JSON.
    #[error("Telegram {method}: {message}")]
    Transport {
        /// The method called.
        method: String,
        /// What failed.
        message: String,
    },
}

/// `Update` (only the kinds Hearth reads; its `update_id` is read before it is parsed).
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    /// A new message.
    #[serde(default)]
    pub message: Option<Message>,
}

/// `Message`.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Id inside its chat.
    pub message_id: i64,
    /// Forum topic (or reply thread) id.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// True when sent into a forum topic.
    #[serde(default)]
    pub is_topic_message: bool,
    /// The sender (absent for channel posts).
    #[serde(default)]
    pub from: Option<User>,
    /// The chat.
    pub chat: Chat,
    /// Unix time, seconds.
    #[serde(default)]
    pub date: i64,
    /// Text of a text message.
    #[serde(default)]
    pub text: Option<String>,
    /// Caption of a photo, document or voice note.
    #[serde(default)]
    pub caption: Option<String>,
    /// Entities of `text` (mentions, commands).
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Entities of `caption`.
    #[serde(default)]
    pub caption_entities: Vec<Entity>,
    /// The message this one replies to.
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    /// A photo in several sizes, smallest first.
    #[serde(default)]
    pub photo: Vec<FileRef>,
    /// A file.
    #[serde(default)]
    pub document: Option<FileRef>,
    /// A voice note.
    #[serde(default)]
    pub voice: Option<FileRef>,
}

/// `User`.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Unique id.
    pub id: i64,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// `@username` without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

/// `Chat`.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// Unique id (negative for groups).
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A supergroup with topics.
    #[serde(default)]
    pub is_forum: bool,
}

/// `MessageEntity` (mentions and commands are what matters here).
#[derive(Debug, Clone, Deserialize)]
pub struct Entity {
    /// `mention`, `text_mention`, `bot_command`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Start, UTF-16 code units.
    pub offset: usize,
    /// Length, UTF-16 code units.
    pub length: usize,
    /// For `text_mention`: the user.
    #[serde(default)]
    pub user: Option<User>,
}

/// A file of a message (`PhotoSize`, `Document`, `Voice` share these fields).
#[derive(Debug, Clone, Deserialize)]
pub struct FileRef {
    /// Id for `getFile`.
    pub file_id: String,
    /// Size, bytes, if known.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// Original name (documents).
    #[serde(default)]
    pub file_name: Option<String>,
    /// Media type (documents, voice).
    #[serde(default)]
    pub mime_type: Option<String>,
}

/// A Bot API client for one token.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    /// A client of `base` (`https://api.telegram.org`) for bot `token`.
    pub fn new(base: &str, token: &str) -> Self {
        let agent = crate::channel::send::http_agent(crate::channel::send::USER_AGENT, None);
        Self {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// Calls `method` with the JSON `params` and returns its `result`, waiting at most
    /// `timeout` for the whole exchange.
    ///
    /// # Errors
    /// [`ApiError::Api`] for `ok: false`, [`ApiError::Transport`] otherwise.
    pub fn call(&self, method: &str, params: &Value, timeout: Duration) -> Result<Value, ApiError> {
        let transport = |message: String| ApiError::Transport {
            method: method.to_string(),
            message,
        };
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let resp = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("content-type", "application/json")
            .send(params.to_string())
            // ureq's error text names the URL, which holds the token: keep only the kind.
            .map_err(|e| transport(redact(&e.to_string(), &self.token)))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .with_config()
            .limit(8 << 20)
            .read_to_string()
            .map_err(|e| {
                transport(format!(
                    "HTTP {status}: {}",
                    redact(&e.to_string(), &self.token)
                ))
            })?;
        let v: Value = serde_json::from_str(&body).map_err(|e| {
            let head: String = body.chars().take(200).collect();
            transport(format!(
                "HTTP {status}: not the Bot API's JSON ({e}): {head:?}"
            ))
        })?;
        if v.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
        Err(ApiError::Api {
            method: method.to_string(),
            code: v
                .get("error_code")
                .and_then(Value::as_u64)
                .map_or(status, |c| c as u16),
            description: v
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("(no description)")
                .to_string(),
            retry_after: v.pointer("/parameters/retry_after").and_then(Value::as_u64),
        })
    }

    /// Downloads a file by its `file_path` (from `getFile`), at most `max` bytes.
    ///
    /// # Errors
    /// [`ApiError::Transport`], also when the file is larger than `max`.
    pub fn download(&self, file_path: &str, max: u64) -> Result<Vec<u8>, ApiError> {
        let transport = |message: String| ApiError::Transport {
            method: "file download".into(),
            message,
        };
        let url = format!("{}/file/bot{}/{file_path}", self.base, self.token);
        let resp = self
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .call()
            .map_err(|e| transport(redact(&e.to_string(), &self.token)))?;
        if !resp.status().is_success() {
            return Err(transport(format!("HTTP {}", resp.status().as_u16())));
        }
        resp.into_body()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| transport(format!("over {max} bytes or cut short: {e}")))
    }
}

/// `s` without the bot token.
fn redact(s: &str, token: &str) -> String {
    s.replace(token, "<token>")
}
