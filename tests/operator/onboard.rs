//! `hearth onboard`: the wizard typed through in a pseudo-terminal (a custom provider whose
//! key is checked against it, a Telegram bot on the emulator whose owner is read from the
//! message they send it), and `--answers FILE --root DIR` building an image's installation,
//! then run again with changed answers over a config edited by hand.

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{bin, temp_dir};
use crate::common::python::{kit, venv_python};
use crate::common::telegram::{TelegramEmu, private};
use crate::operator::import::{file_secret, run};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const DOWN: &str = "\x1b[B";

#[test]
fn the_wizard_in_a_terminal_checks_the_key_and_pairs_the_owner() {
    let root = temp_dir("onboard-pty");
    let fake = FakeOpenAi::start(vec![Reply::Text("hi".into())]);
    let emu = TelegramEmu::start();
    let token = "777:onboard";
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let script = json!({"timeout": 30, "steps": [
        {"expect": "Continue\\?", "send": "y"},
        {"expect": "Which model answers\\?", "send": format!("{}\r", DOWN.repeat(5))},
        {"expect": "API base URL", "send": format!("{}\r", fake.base_url())},
        {"expect": "Which API does it speak\\?", "send": "\r"},
        {"expect": "Model id", "send": "fake-model\r"},
        {"expect": "API key", "send": "sk-typed-1\r"},
        {"expect": "accepted the key"},
        {"expect": "fall back to", "send": "n", "optional": true},
        {"expect": "Who reaches the gateway\\?", "send": "\r"},
        {"expect": "Gateway port", "send": "\r"},
        {"expect": "A chat channel", "send": "\r"},
        {"expect": "Bot token", "send": format!("{token}\r")},
        {"expect": "bot @TestNameBot"},
        {"expect": "Who owns it\\?", "send": "\r"},
        {"expect": "Send any message to the bot", "post": [format!("{}/sendMessage", emu.base()), {
            "botToken": token, "from": {"id": 4242, "is_bot": false, "first_name": "Ada", "username": "ada"},
            "chat": private(4242), "date": 1_790_000_000u64, "text": "hello"}]},
        {"expect": "Ada \\(@ada\\), id 4242\\. Is this you\\?", "send": "y"},
        {"expect": "Link Home Assistant\\?", "send": "n"},
        {"expect": "systemd service", "send": "n", "optional": true},
        {"expect": "wrote "},
    ]});
    let sf = root.join("script.json");
    std::fs::write(&sf, script.to_string()).unwrap();
    let config = root.join("hearth.toml");
    let out = Command::new(venv_python())
        .arg(kit("pty_script.py"))
        .arg(&sf)
        .arg("--")
        .arg(bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["onboard", "--telegram-api", &emu.base()])
        .env("HOME", &home)
        .env_remove("OPENCLAW_STATE_DIR")
        .env_remove("TELEGRAM_BOT_TOKEN")
        .output()
        .expect("run the pty driver");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{screen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !screen.contains("sk-typed-1"),
        "the key was echoed:\n{screen}"
    );
    let cfg: toml::Table = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(
        cfg["agent"]["model"][0].as_str(),
        Some("custom/fake-model"),
        "{cfg}"
    );
    assert_eq!(
        cfg["providers"]["custom"]["base_url"].as_str(),
        Some(fake.base_url().as_str())
    );
    assert_eq!(
        file_secret(&cfg["providers"]["custom"]["profiles"][0]["api_key"]),
        "sk-typed-1"
    );
    assert_eq!(
        cfg["channels"]["telegram"]["allow_from"],
        toml::Value::try_from(["4242"]).unwrap()
    );
    assert_eq!(file_secret(&cfg["channels"]["telegram"]["token"]), token);
    let req = fake.requests();
    assert!(
        req.is_empty(),
        "the key check lists models, it does not chat: {req:?}"
    );
    let sent = emu.wait_bot_messages(token, 1, 10);
    assert!(
        sent[0]["text"].as_str().unwrap().contains("owner"),
        "{sent:?}"
    );
    assert_eq!(
        sent[0]["chat_id"].to_string().trim_matches('"'),
        "4242",
        "{sent:?}"
    );
}

fn onboard(root: &Path, answers: &str, extra: &[&str]) -> (bool, String) {
    let f = root.join("answers.toml");
    std::fs::write(&f, answers).unwrap();
    run(Command::new(bin())
        .arg("onboard")
        .arg("--answers")
        .arg(&f)
        .arg("--root")
        .arg(root.join("image"))
        .args(extra)
        .env("ONBOARD_TEST_KEY", "sk-from-env"))
}

#[test]
fn answers_build_an_image_and_a_rerun_keeps_hand_edits() {
    let root = temp_dir("onboard-answers");
    let fake = FakeOpenAi::start(vec![Reply::Text("hi".into())]);
    let emu = TelegramEmu::start();
    let answers = format!(
        "accept_risk = true\n\
         [model]\nprovider = \"custom\"\nmodel = \"fake-model\"\nbase_url = \"{}\"\napi_key = \"env:ONBOARD_TEST_KEY\"\nlocal_fallback = \"smollm2-135m-instruct\"\n\
         [gateway]\nbind = \"0.0.0.0\"\nport = 18789\n\
         [telegram]\ntoken = \"555:img\"\nowner = \"111\"\napi_base = \"{}\"\n\
         [home_assistant]\nurl = \"http://homeassistant.local:8123\"\n\
         [service]\ninstall = true\n",
        fake.base_url(),
        emu.base()
    );
    // Refusals say what and where, and write nothing.
    let (ok, out) = onboard(
        &root,
        &answers.replace("accept_risk = true", "accept_risk = false"),
        &[],
    );
    assert!(!ok && out.contains("accept_risk"), "{out}");
    let (ok, out) = onboard(
        &root,
        &answers.replace("owner = \"111\"", "owner = \"@me\""),
        &[],
    );
    assert!(!ok && out.contains("telegram.owner"), "{out}");
    let (ok, out) = onboard(&root, &format!("{answers}\n[extra]\n"), &[]);
    assert!(
        !ok && out.contains("answers.toml") && out.contains("extra"),
        "{out}"
    );
    assert!(!root.join("image/etc/hearth/hearth.toml").exists());

    let (ok, out) = onboard(&root, &answers, &[]);
    assert!(ok, "{out}");
    let img = root.join("image");
    let conf = img.join("etc/hearth/hearth.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        !text.contains("sk-from-env") && !text.contains("555:img"),
        "{text}"
    );
    let cfg: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        cfg["agent"]["model"],
        toml::Value::try_from(["custom/fake-model", "local/smollm2-135m-instruct"]).unwrap()
    );
    assert_eq!(
        cfg["providers"]["custom"]["profiles"][0]["api_key"].as_str(),
        Some("credential:custom-api-key")
    );
    assert_eq!(
        cfg["channels"]["telegram"]["token"].as_str(),
        Some("credential:telegram-token")
    );
    assert_eq!(cfg["ollama"]["key"].as_str(), Some("credential:ollama-key"));
    let creds = img.join("etc/hearth/credentials");
    assert_eq!(
        std::fs::read_to_string(creds.join("custom-api-key")).unwrap(),
        "sk-from-env\n"
    );
    let key = std::fs::read_to_string(creds.join("ollama-key")).unwrap();
    assert_eq!(key.trim().len(), 64, "{key}");
    assert!(
        out.contains(&format!("/ollama/{}", key.trim())),
        "the HA URL is shown:\n{out}"
    );
    let dropin =
        std::fs::read_to_string(img.join("etc/systemd/system/hearth.service.d/credentials.conf"))
            .unwrap();
    for n in ["custom-api-key", "telegram-token", "ollama-key"] {
        assert!(
            dropin.contains(&format!("LoadCredential={n}:/etc/hearth/credentials/{n}")),
            "{dropin}"
        );
    }
    assert!(
        img.join("etc/systemd/system/hearth.service").is_file(),
        "{out}"
    );
    assert!(img.join("opt/hearth/current/hearth").exists(), "{out}");
    let valid = Command::new(bin())
        .arg("--config")
        .arg(&conf)
        .args(["config", "validate"])
        .output()
        .unwrap();
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );

    // Edited by hand, then onboarded again with another port: the edit stays.
    std::fs::write(
        &conf,
        format!("{text}\n[agents.ops]\nmodel = [\"custom/fake-model\"]\n"),
    )
    .unwrap();
    let (ok, out) = onboard(
        &root,
        &answers.replace("port = 18789", "port = 18800"),
        &["--no-check"],
    );
    assert!(ok, "{out}");
    let cfg: toml::Table = toml::from_str(&std::fs::read_to_string(&conf).unwrap()).unwrap();
    assert_eq!(cfg["gateway"]["port"].as_integer(), Some(18800));
    assert!(cfg["agents"]["ops"].is_table(), "{cfg}");
    assert!(img.join("etc/hearth/hearth.toml.bak").is_file());

    // A key the provider refuses is caught before anything changes.
    drop(fake);
    let (ok, out) = onboard(&root, &answers, &[]);
    assert!(
        !ok && out.contains("model:") && out.contains("--no-check"),
        "{out}"
    );
}
