//! What a build without the optional on-device models does (cargo features `local-llm` and
//! `embedder`, both in `default`). Run with `cargo test --no-default-features`, or with one
//! of the two features; the default build has no tests here.
//!
//! - Without `local-llm` a chain naming `local/…` is refused at gateway start (exit 78) with
//!   the key and the missing feature named, and `hearth doctor` reports it; a remote chain
//!   starts.
//! - Without `embedder` memory indexes and searches by keywords (BM25) and says why, a
//!   vector-only search and `/v1/embeddings` fail with that reason.

mod common;

#[cfg(not(feature = "local-llm"))]
#[test]
fn without_local_llm_a_local_chain_is_refused_and_a_remote_one_starts() {
    use common::harness::{Gateway, NO_CHAT, bin, temp_dir};
    let root = temp_dir("no-local-llm");
    // The embedded default chain is `local/smollm2-135m-instruct`.
    std::fs::write(root.join("default.toml"), "[gateway]\nport = 0\n").expect("write");
    let run = |args: &[&str]| {
        std::process::Command::new(bin())
            .arg("--config")
            .arg(root.join("default.toml"))
            .arg("--data-dir")
            .arg(root.join("data"))
            .args(args)
            .output()
            .expect("run hearth")
    };
    let out = run(&["gateway"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("agent.model") && err.contains("local-llm"),
        "names the key and the feature: {err}"
    );
    let out = run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL") && text.contains("local-llm"),
        "{text}"
    );

    let mut gw = Gateway::start(&root, NO_CHAT);
    let h = gw.ws().call("health", serde_json::json!({}));
    assert!(h.is_object(), "{h}");
    gw.stop();
    let _ = std::fs::remove_dir_all(root);
}

#[cfg(not(feature = "embedder"))]
#[test]
fn without_embedder_memory_searches_by_keywords_and_says_why() {
    use common::harness::{Gateway, NO_CHAT, temp_dir};
    use serde_json::{Value, json};
    use std::time::{Duration, Instant};
    let root = temp_dir("no-embedder");
    let ws = root.join("data/workspace");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(
        ws.join("MEMORY.md"),
        "# Memory\n\nThe water shut-off valve is in the cellar, behind the blue shelf.\n",
    )
    .expect("write");
    let mut gw = Gateway::start(
        &root,
        &format!("[memory]\nsync_interval_secs = 1\n{NO_CHAT}"),
    );
    let mut w = gw.ws();
    let t0 = Instant::now();
    let status = loop {
        let s = w.call("memory.status", json!({}));
        if s["chunks"].as_u64() > Some(0) && s["pending"] == 0 {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "not indexed: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["vectors"], 0, "{status}");
    assert!(
        status["note"]
            .as_str()
            .is_some_and(|n| n.contains("embedder")),
        "{status}"
    );

    let r = w.call(
        "memory.search",
        json!({"query": "where is the water valve"}),
    );
    assert_eq!(r["mode"], "text", "{r}");
    assert!(
        r["note"].as_str().is_some_and(|n| n.contains("embedder")),
        "{r}"
    );
    assert_eq!(r["results"][0]["path"], "MEMORY.md", "{r}");
    assert_eq!(r["results"][0]["vectorScore"], Value::Null, "{r}");

    let r = w.request(
        "memory.search",
        json!({"query": "water valve", "mode": "vector"}),
    );
    assert_eq!(r["ok"], false, "{r}");
    assert!(r.to_string().contains("embedder"), "{r}");

    let e = ureq::post(&format!("{}/v1/embeddings", gw.http()))
        .header("Authorization", &format!("Bearer {}", gw.token))
        .send_json(json!({"input": "hello", "model": "all-minilm-l6-v2"}));
    assert!(matches!(e, Err(ureq::Error::StatusCode(503))), "{e:?}");
    gw.stop();
    let _ = std::fs::remove_dir_all(root);
}

#[cfg(not(feature = "telegram"))]
#[test]
fn without_telegram_a_telegram_channel_is_refused_at_start() {
    use common::harness::{NO_CHAT, bin, temp_dir};
    let root = temp_dir("no-telegram");
    std::fs::write(root.join("tg.token"), "1:x").expect("token");
    let cfg = format!(
        "{NO_CHAT}\n[channels.telegram]\ntoken = \"file:{}\"\n",
        root.join("tg.token").display()
    );
    std::fs::write(root.join("config.toml"), cfg).expect("config");
    let out = std::process::Command::new(bin())
        .arg("--config")
        .arg(root.join("config.toml"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["gateway", "--port", "0"])
        .output()
        .expect("run hearth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("channels.telegram") && err.contains("`telegram`"),
        "names the key and the feature: {err}"
    );
    let _ = std::fs::remove_dir_all(root);
}
