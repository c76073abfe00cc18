//! The control UI in real headless Chromium (tests/kit/ui_e2e.js with playwright-core):
//! sign in, a streamed chat answer, a Telegram pairing request and an exec approval
//! answered in the page, a config value refused at its field then applied — on a desktop
//! and a phone viewport. Screenshots are kept in `$HEARTH_UI_SHOTS` when set.

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{Gateway, fake_config, temp_dir};
use crate::common::node::node_modules;
use crate::common::telegram::{TelegramEmu, channel_config, private};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const STRANGER: i64 = 4242;

/// `GET path` over a bare socket with extra header lines; the whole response, lossy text.
fn raw_get(port: u16, path: &str, headers: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn control_ui_in_chromium_on_desktop_and_phone() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![
        Reply::Echo(150),
        Reply::ToolCalls(vec![(
            "exec".into(),
            json!({"command": "touch approved-in-the-ui.txt"}).to_string(),
        )]),
        Reply::Text("ran it".into()),
        Reply::Echo(150),
    ]);
    let root = temp_dir("ui");
    let token = "777:ui";
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[heartbeat]\nevery = \"0\"\n"
        + &channel_config(&root, &tg, token, "");
    let gw = Gateway::start(&root, &cfg);

    // The page: HTML with a strict policy for a browser; the files gzipped or plain.
    let page = raw_get(gw.port, "/", "Accept: text/html\r\n");
    let csp = "content-security-policy: default-src 'none'; script-src 'self'";
    assert!(page.to_ascii_lowercase().contains(csp), "{page}");
    assert!(
        page.contains("<script type=\"module\" src=\"/ui/js/app.js\">"),
        "{page}"
    );
    let gz = raw_get(
        gw.port,
        "/ui/js/app.js",
        "Accept-Encoding: gzip, deflate\r\n",
    );
    assert!(
        gz.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{gz}"
    );
    let plain = raw_get(gw.port, "/ui/js/app.js", "");
    assert!(plain.contains("import { Gateway }"), "{plain}");
    assert!(raw_get(gw.port, "/ui/nope.js", "").starts_with("HTTP/1.1 404"));

    // A stranger writes to the bot: a pairing request waits.
    tg.user_says(
        token,
        private(STRANGER),
        STRANGER,
        "hi, who are you?",
        json!({}),
    );
    let mut ws = gw.ws();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ws.call("pairing.list", json!({}))["requests"]
        .as_array()
        .is_none_or(|r| r.is_empty())
    {
        assert!(
            Instant::now() < deadline,
            "no pairing request: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let shots = std::env::var_os("HEARTH_UI_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("shots"));
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    let out = Command::new("node")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kit/ui_e2e.js"))
        .arg(format!("http://127.0.0.1:{}/", gw.port))
        .arg(&gw.token)
        .arg(&shots)
        .env("NODE_PATH", node_modules("playwright-core"))
        .output()
        .expect("node ui_e2e.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "{stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log()
    );
    eprintln!("{stdout}");

    // What the clicks did, seen from outside the page.
    assert!(
        ws.call("pairing.list", json!({}))["requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        gw.data_dir()
            .join("workspace/approved-in-the-ui.txt")
            .exists(),
        "the approved command ran"
    );
    let cfg_now = std::fs::read_to_string(root.join("config.toml")).unwrap();
    assert!(cfg_now.contains("max_steps = 12"), "{cfg_now}");
    let streamed: String = stdout
        .lines()
        .find_map(|l| l.strip_prefix("STREAMED "))
        .expect("streamed line")
        .to_string();
    assert_ne!(
        streamed, "\"echo: hello streaming\"",
        "a partial answer was on screen first"
    );
    for f in [
        "desktop-chat-streaming.png",
        "desktop-approvals.png",
        "desktop-config-error.png",
        "phone-chat-answered.png",
    ] {
        assert!(shots.join(f).exists(), "{f}");
    }
}
