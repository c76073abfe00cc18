//! Client commands over the WebSocket protocol: `chat`, `agent`, `status`, `sessions`.

use super::Remote;
use super::client::{Client, target};
use crate::config::Config;
use crate::core::ModelMemory;
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
        st["sessions"]["count"], st["activeRuns"]
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
    let loaded: Vec<ModelMemory> =
        serde_json::from_value(st["loadedModels"].clone()).unwrap_or_default();
    for line in loaded_models_lines(&loaded) {
        println!("{line}");
    }
    if show_token {
        println!("token: {}", t.token.as_deref().unwrap_or("(none)"));
    }
    Ok(())
}

/// `status`'s lines about the on-device models in memory: name and file, then mapped,
/// resident and private bytes as MiB with one decimal, and what the private part holds.
fn loaded_models_lines(models: &[ModelMemory]) -> Vec<String> {
    if models.is_empty() {
        return vec!["loaded models: none".to_owned()];
    }
    let mib = |b: u64| format!("{:.1}", b as f64 / 1048576.0);
    let mut lines = vec![
        "loaded models (MiB; mapped: the weights file's mapping; resident: its pages in RAM, \
         page cache the kernel can drop; private: heap):"
            .to_owned(),
    ];
    for m in models {
        lines.push(format!("  {}  {}", m.name, m.file.display()));
        let mut parts = Vec::new();
        if m.kv_tokens > 0 || m.kv_cache_bytes > 0 {
            parts.push(format!(
                "KV cache {} for {} tokens",
                mib(m.kv_cache_bytes),
                m.kv_tokens
            ));
        }
        for (what, bytes) in [
            ("weights", m.weights_heap_bytes),
            ("scratch", m.scratch_bytes),
            ("tokenizer", m.tokenizer_bytes),
        ] {
            if bytes > 0 {
                parts.push(format!("{what} {}", mib(bytes)));
            }
        }
        lines.push(format!(
            "    mapped {}  resident {}  private {}{}",
            mib(m.mapped_bytes),
            mib(m.resident_bytes),
            mib(m.private_bytes),
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        ));
    }
    lines
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
        let mut text = String::new();
        for part in m["content"].as_array().into_iter().flatten() {
            match part["type"].as_str() {
                Some("text") => text.push_str(part["text"].as_str().unwrap_or("")),
                Some("toolCall") => text.push_str(&format!(
                    " [calls {}({})]",
                    part["name"].as_str().unwrap_or("?"),
                    part["arguments"]
                )),
                _ => {}
            }
        }
        println!("[{}] {role}: {text}", m["seq"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_models_show_mapped_resident_and_private_mib() {
        assert_eq!(loaded_models_lines(&[]), ["loaded models: none"]);
        let llm = ModelMemory {
            name: "smollm2-135m-instruct".into(),
            file: "/m/smollm2.gguf".into(),
            mapped_bytes: 98_365_440,
            resident_bytes: 49_182_720,
            private_bytes: 50_465_696,
            weights_heap_bytes: 140_544,
            kv_cache_bytes: 47_185_920,
            kv_tokens: 2048,
            scratch_bytes: 1_192_448,
            tokenizer_bytes: 1_946_784,
            ..Default::default()
        };
        let embedder = ModelMemory {
            name: "all-minilm-l6-v2".into(),
            file: "/m/model.safetensors".into(),
            private_bytes: 45_666_816,
            weights_heap_bytes: 45_666_816,
            ..Default::default()
        };
        let lines = loaded_models_lines(&[llm, embedder]);
        assert_eq!(
            lines[1..],
            [
                "  smollm2-135m-instruct  /m/smollm2.gguf",
                "    mapped 93.8  resident 46.9  private 48.1 (KV cache 45.0 for 2048 tokens, \
                 weights 0.1, scratch 1.1, tokenizer 1.9)",
                "  all-minilm-l6-v2  /m/model.safetensors",
                "    mapped 0.0  resident 0.0  private 43.6 (weights 43.6)",
            ]
        );
        // The gateway's JSON reads back into the same figures.
        let json = serde_json::to_value(ModelMemory {
            kv_tokens: 7,
            ..Default::default()
        })
        .expect("json");
        assert_eq!(json["kvTokens"], 7);
        let back: ModelMemory =
            serde_json::from_value(serde_json::json!({"name": "m", "privateBytes": 5}))
                .expect("defaults");
        assert_eq!((back.private_bytes, back.kv_tokens), (5, 0));
    }
}
