//! Client commands over the WebSocket protocol: `chat`, `agent`, `status`, `sessions`.

use super::Remote;
use super::client::{Client, target};
use crate::config::Config;
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// A client of the gateway `remote` names (default: the local one found through `dir`).
///
/// # Errors
/// When no gateway answers or it refuses the token.
pub(super) fn connect(cfg: &Config, dir: &Path, remote: &Remote) -> Result<Client> {
    Client::connect(&target(
        remote.url.as_deref(),
        remote.token.as_deref(),
        dir,
        cfg,
    ))
}

/// `hearth chat`: a line-oriented REPL; `/reset`, `/history`, `/exit`.
pub fn chat(cfg: &Config, dir: &Path, remote: &Remote, session: &str) -> Result<()> {
    let mut c = connect(cfg, dir, remote)?;
    let tty = std::io::stdin().is_terminal();
    if tty {
        println!(
            "Connected to Hearth. Session {session}. Type /exit to leave, /reset to start over."
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if tty {
            print!("you> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        let text = line.trim();
        match text {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                c.request("sessions.reset", json!({"key": session}))?;
                println!("(session reset)");
                continue;
            }
            "/history" => {
                print_history(
                    &c.request("chat.history", json!({"sessionKey": session, "limit": 50}))?,
                );
                continue;
            }
            _ => {}
        }
        if tty {
            print!("hearth> ");
        }
        let mut out = std::io::stdout();
        let r = c.send_and_follow(session, text, &mut |d| {
            let _ = write!(out, "{d}");
            let _ = out.flush();
        });
        println!();
        if let Err(e) = r {
            eprintln!("hearth: {e:#}");
        }
    }
    Ok(())
}

/// `hearth agent -m TEXT`: one message; the reply on stdout (streamed on a terminal).
pub fn agent(
    cfg: &Config,
    dir: &Path,
    remote: &Remote,
    session: &str,
    message: &str,
) -> Result<()> {
    let mut c = connect(cfg, dir, remote)?;
    let tty = std::io::stdout().is_terminal();
    let mut out = std::io::stdout();
    let text = c.send_and_follow(session, message, &mut |d| {
        if tty {
            let _ = write!(out, "{d}");
            let _ = out.flush();
        }
    })?;
    if tty {
        println!();
    } else {
        println!("{text}");
    }
    Ok(())
}

/// `hearth status`.
pub fn status(
    cfg: &Config,
    dir: &Path,
    remote: &Remote,
    show_token: bool,
    as_json: bool,
) -> Result<()> {
    let t = target(remote.url.as_deref(), remote.token.as_deref(), dir, cfg);
    let mut c = match Client::connect(&t) {
        Ok(c) => c,
        Err(e) => {
            println!("gateway: not running at {} ({e:#})", t.url);
            println!("data dir: {}", dir.display());
            bail!("the gateway is not reachable; start it with `hearth gateway`");
        }
    };
    let st = c.request("status", json!({}))?;
    if as_json {
        let mut v = st.clone();
        if show_token {
            v["token"] = json!(t.token);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "gateway: running at {} (hearth {}, pid {}, up {}s)",
        t.url,
        st["version"].as_str().unwrap_or("?"),
        st["pid"],
        st["uptimeMs"].as_u64().unwrap_or(0) / 1000
    );
    println!(
        "data dir: {}",
        st["info"]["dataDir"].as_str().unwrap_or("?")
    );
    println!(
        "store: {} ({} bytes)",
        st["store"]["path"].as_str().unwrap_or("?"),
        st["store"]["bytes"]
    );
    println!(
        "sessions: {}   active runs: {}",
        st["sessions"], st["activeRuns"]
    );
    let (q, o) = (&st["queue"], &st["outbox"]);
    println!(
        "queue: {} running, {} waiting, {} in the inbox",
        q["running"], q["queued"], q["inbox"]
    );
    println!(
        "outbox: {} pending, {} sent, {} dead letters",
        o["pending"], o["sent"], o["dead"]
    );
    for d in o["deadLetters"].as_array().into_iter().flatten() {
        println!(
            "  dead letter #{} (run {}, channel {}, {} attempts): {}",
            d["seq"],
            d["runId"].as_str().unwrap_or("?"),
            d["channel"].as_str().unwrap_or("?"),
            d["attempts"],
            d["error"].as_str().unwrap_or("?")
        );
    }
    println!("installed models: {}", st["info"]["installedModels"]);
    println!("model chain:");
    for m in st["models"].as_array().into_iter().flatten() {
        println!(
            "  {} (context {} tokens)",
            m["id"].as_str().unwrap_or("?"),
            m["contextWindow"]
        );
        for p in m["profiles"].as_array().into_iter().flatten() {
            let health = if p["healthy"].as_bool() == Some(true) {
                "healthy".to_string()
            } else {
                let left = p["cooldownUntil"]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(crate::core::now_ms())
                    / 1000;
                format!(
                    "cooling down {left}s more after {} failure(s): {}",
                    p["failures"],
                    p["lastError"].as_str().unwrap_or("")
                )
            };
            println!("    profile {}: {health}", p["id"].as_str().unwrap_or("?"));
        }
    }
    if show_token {
        println!("token: {}", t.token.as_deref().unwrap_or("(none)"));
    }
    Ok(())
}

/// `hearth sessions list`.
pub fn sessions_list(cfg: &Config, dir: &Path, remote: &Remote) -> Result<()> {
    let v = connect(cfg, dir, remote)?.request("sessions.list", json!({}))?;
    for s in v["sessions"].as_array().into_iter().flatten() {
        println!(
            "{}\t{} messages\tupdated {}\t{}",
            s["key"].as_str().unwrap_or("?"),
            s["messages"],
            s["updatedAt"],
            s["lastModel"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}

/// `hearth sessions history`.
pub fn sessions_history(
    cfg: &Config,
    dir: &Path,
    remote: &Remote,
    session: &str,
    limit: u32,
) -> Result<()> {
    let v = connect(cfg, dir, remote)?.request(
        "chat.history",
        json!({"sessionKey": session, "limit": limit}),
    )?;
    print_history(&v);
    Ok(())
}

/// `hearth sessions reset`.
pub fn sessions_reset(cfg: &Config, dir: &Path, remote: &Remote, session: &str) -> Result<()> {
    let v = connect(cfg, dir, remote)?.request("sessions.reset", json!({"key": session}))?;
    println!(
        "{session}: {}",
        if v["existed"].as_bool() == Some(true) {
            "reset"
        } else {
            "no such session"
        }
    );
    Ok(())
}

fn print_history(v: &Value) {
    for m in v["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("?");
        let mut text = m["content"].as_str().unwrap_or("").to_string();
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                " [calls {}({})]",
                c["name"].as_str().unwrap_or("?"),
                c["arguments"]
            ));
        }
        println!("[{}] {role}: {text}", m["seq"]);
    }
}
