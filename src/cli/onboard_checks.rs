//! The live checks `hearth onboard` makes while it asks: a provider key against the
//! provider's model list (OpenAI `GET /models`, Anthropic `GET /v1/models`), a Telegram bot
//! token with `getMe` and the owner's id from the first direct message the bot receives
//! (`getUpdates`, <https://core.telegram.org/bots/api#getupdates>), a Matrix token with
//! `GET /_matrix/client/v3/account/whoami`, and Home Assistant with `GET /api/`.

use serde_json::Value;
use std::time::{Duration, Instant};

fn agent(secs: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(secs)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// `Ok(())`, or why the check failed; `Err((refused, message))` where `refused` means the
/// server answered and said no (ask again) rather than could not be reached.
pub type Check = Result<(), (bool, String)>;

fn read(
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, Value), (bool, String)> {
    let mut r = r.map_err(|e| (false, format!("unreachable: {e}")))?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Asks the provider for its models with `key`.
pub fn provider_key(kind: &str, base: &str, key: Option<&str>) -> Check {
    let base = base.trim_end_matches('/');
    let a = agent(15);
    let r = if kind == "anthropic" {
        let mut rq = a
            .get(&format!("{base}/v1/models"))
            .header("anthropic-version", "2023-06-01");
        if let Some(k) = key {
            rq = rq.header("x-api-key", k);
        }
        rq.call()
    } else {
        let mut rq = a.get(&format!("{base}/models"));
        if let Some(k) = key {
            rq = rq.header("Authorization", &format!("Bearer {k}"));
        }
        rq.call()
    };
    match read(r)? {
        (200, _) => Ok(()),
        (401 | 403, body) => Err((true, format!("the key is refused: {}", error_text(&body)))),
        (s, body) => Err((false, format!("HTTP {s}: {}", error_text(&body)))),
    }
}

fn error_text(body: &Value) -> String {
    body.pointer("/error/message")
        .or_else(|| body.get("error"))
        .or_else(|| body.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_string()
}

/// `getMe`: the bot's `@username`.
pub fn telegram_bot(api: &str, token: &str) -> Result<String, (bool, String)> {
    let (s, body) = read(agent(15).get(&format!("{api}/bot{token}/getMe")).call())?;
    match (s, body.pointer("/result/username").and_then(Value::as_str)) {
        (200, Some(name)) => Ok(name.to_string()),
        (401 | 404, _) => Err((
            true,
            format!("Telegram refused the token: {}", error_text(&body)),
        )),
        _ => Err((
            false,
            format!("getMe answered HTTP {s}: {}", error_text(&body)),
        )),
    }
}

/// A direct message's sender, as onboarding shows it before asking "is this you?".
#[derive(Debug, Clone)]
pub struct Sender {
    /// Numeric user id.
    pub id: String,
    /// First name and `@username`, for the question.
    pub name: String,
    /// The update id to confirm (so the gateway does not answer the pairing message).
    pub update_id: i64,
}

/// Waits up to `secs` for a direct message to the bot and returns its sender. Updates
/// before it are acknowledged as they are read.
pub fn telegram_first_sender(api: &str, token: &str, secs: u64) -> Result<Sender, String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut offset = 0i64;
    let a = agent(40);
    while Instant::now() < deadline {
        let url = format!(
            "{api}/bot{token}/getUpdates?timeout=20&offset={offset}&allowed_updates=%5B%22message%22%5D"
        );
        let (s, body) = read(a.get(&url).call()).map_err(|(_, m)| m)?;
        if s != 200 {
            return Err(format!(
                "getUpdates answered HTTP {s}: {}",
                error_text(&body)
            ));
        }
        for u in body["result"].as_array().into_iter().flatten() {
            let id = u["update_id"].as_i64().unwrap_or(0);
            offset = offset.max(id + 1);
            let m = &u["message"];
            if m.pointer("/chat/type").and_then(Value::as_str) != Some("private") {
                continue;
            }
            let from = &m["from"];
            let Some(uid) = from["id"].as_i64() else {
                continue;
            };
            let mut name = from["first_name"].as_str().unwrap_or("").to_string();
            if let Some(u) = from["username"].as_str() {
                name.push_str(&format!(" (@{u})"));
            }
            return Ok(Sender {
                id: uid.to_string(),
                name,
                update_id: id,
            });
        }
    }
    Err(format!("no direct message reached the bot in {secs} s"))
}

/// Acknowledges updates up to `update_id` and tells the owner they are paired.
pub fn telegram_confirm(api: &str, token: &str, s: &Sender) {
    let a = agent(15);
    let _ = a
        .get(&format!(
            "{api}/bot{token}/getUpdates?timeout=0&offset={}",
            s.update_id + 1
        ))
        .call();
    let body =
        serde_json::json!({"chat_id": s.id, "text": "Hearth: you are this bot's owner now."});
    let _ = a
        .post(&format!("{api}/bot{token}/sendMessage"))
        .header("Content-Type", "application/json")
        .send(body.to_string());
}

/// `whoami` with the token: the user id it belongs to.
pub fn matrix_whoami(homeserver: &str, token: &str) -> Result<String, (bool, String)> {
    let hs = homeserver.trim_end_matches('/');
    let r = agent(15)
        .get(&format!("{hs}/_matrix/client/v3/account/whoami"))
        .header("Authorization", &format!("Bearer {token}"))
        .call();
    match read(r)? {
        (200, b) => Ok(b["user_id"].as_str().unwrap_or_default().to_string()),
        (401 | 403, b) => Err((
            true,
            format!(
                "the token is refused: {}",
                b["error"].as_str().unwrap_or("?")
            ),
        )),
        (s, _) => Err((false, format!("whoami answered HTTP {s}"))),
    }
}

/// Home Assistant's `GET <base>/api/` with a long-lived token: the HTTP status (200 means
/// reachable and the token valid, 401 refused;
/// <https://developers.home-assistant.io/docs/api/rest/>), or why it could not be asked.
pub fn home_assistant_status(base: &str, token: &str) -> Result<u16, String> {
    agent(10)
        .get(&format!("{}/api/", base.trim_end_matches('/')))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// The wizard's check of a Home Assistant URL and token.
pub fn home_assistant(url: &str, token: &str) -> Check {
    match home_assistant_status(url, token).map_err(|e| (false, format!("unreachable: {e}")))? {
        200 => Ok(()),
        401 => Err((true, "the token is refused (401)".into())),
        s => Err((false, format!("HTTP {s} (is this Home Assistant's URL?)"))),
    }
}
