//! A real Home Assistant 2025.4.4 (`hass` from a venv outside the clone,
//! `$HEARTH_HA_VENV` or `~/.cache/hearth/ha-venv`, installed by scripts/test.sh from
//! tests/kit/ha-requirements.txt) with its `demo` lights, set up over its REST API only by
//! tests/kit/ha_e2e.py: onboarding, its MCP Server (Assist API), its Ollama integration
//! pointing at Hearth, its MCP client integration pointing at Hearth's MCP server.

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{Gateway, fake_config, temp_dir};
use crate::common::python::{kit, venv_python};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ha_venv() -> PathBuf {
    let d = std::env::var_os("HEARTH_HA_VENV").map_or_else(
        || PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/hearth/ha-venv"),
        PathBuf::from,
    );
    assert!(
        d.join("bin/hass").exists(),
        "no Home Assistant venv at {}: scripts/test.sh installs it (uv, Python 3.13)",
        d.display()
    );
    d
}

/// A running Home Assistant; killed on drop.
struct HomeAssistant {
    child: Child,
    url: String,
    log: PathBuf,
}

impl HomeAssistant {
    fn start(root: &Path) -> Self {
        let dir = root.join("ha");
        std::fs::create_dir_all(&dir).expect("ha dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        // `country` is quoted: YAML reads a bare NO as false.
        let yaml = format!(
            "homeassistant:\n  name: Test Home\n  latitude: 59.9\n  longitude: 10.7\n  elevation: 0\n  unit_system: metric\n  time_zone: UTC\n  country: \"NO\"\n\
             http:\n  server_host: 127.0.0.1\n  server_port: {port}\n\
             api:\nwebsocket_api:\nonboarding:\nauth:\nconfig:\ndemo:\nlogger:\n  default: warning\n"
        );
        std::fs::write(dir.join("configuration.yaml"), yaml).expect("configuration.yaml");
        let log = root.join("hass.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(ha_venv().join("bin/hass"))
            .arg("--config")
            .arg(&dir)
            .arg("--skip-pip")
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start hass");
        let ha = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let t0 = Instant::now();
        loop {
            if let Err(ureq::Error::StatusCode(401)) = ureq::get(&format!("{}/api/", ha.url)).call()
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "Home Assistant did not come up:\n{}",
                ha.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        ha
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs one ha_e2e.py command; its JSON answer.
    fn run(&self, args: &[&str]) -> Value {
        let out = Command::new(ha_venv().join("bin/python"))
            .arg(kit("ha_e2e.py"))
            .arg(args[0])
            .arg(&self.url)
            .args(&args[1..])
            .output()
            .expect("run ha_e2e.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ha_e2e.py {args:?} failed:\n{stdout}\n{}\n--- hass.log\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_str(stdout.trim()).expect("ha_e2e.py prints JSON")
    }
}

impl Drop for HomeAssistant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_home_assistant_talks_to_hearth_both_ways() {
    let _ = venv_python();
    let root = temp_dir("real-ha");
    let ha = HomeAssistant::start(&root);
    let token = ha.run(&["onboard"])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let server = ha.run(&["mcp-server", &token]);
    assert_eq!(server["state"], "loaded", "{server}");
    assert_eq!(
        ha.run(&["state", &token, "light.bed_light"])["state"],
        "off"
    );

    std::fs::write(root.join("ha.token"), format!("{token}\n")).expect("token file");
    std::fs::write(root.join("mcp.token"), "hearth-mcp-7\n").expect("token file");
    let fake = FakeOpenAi::start(vec![
        // Hearth's own turn: HassTurnOn through Home Assistant's MCP server.
        Reply::ToolCalls(vec![(
            "ha__HassTurnOn".into(),
            r#"{"name":"Bed Light"}"#.into(),
        )]),
        Reply::Text("The bed light is on.".into()),
        // Home Assistant's conversation through its Ollama integration.
        Reply::Text("Hello from Hearth.".into()),
        Reply::ToolCalls(vec![(
            "HassTurnOn".into(),
            r#"{"name":"Bed Light"}"#.into(),
        )]),
        Reply::Text("Done, the bed light is on again.".into()),
    ]);
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + &format!(
            "\n[mcp.servers.ha]\nurl = \"{}/mcp_server/sse\"\nbearer = \"file:{}\"\n\n[mcp_server]\nenabled = true\ntoken = \"file:{}\"\n",
            ha.url,
            root.join("ha.token").display(),
            root.join("mcp.token").display()
        );
    let gw = Gateway::start(&root, &cfg);

    // Hearth → Home Assistant: the agent's call reaches HA's Assist tools over MCP.
    let t0 = Instant::now();
    loop {
        let out = gw.cli().arg("doctor").output().expect("doctor");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("HassTurnOn") {
            assert!(text.contains("token valid"), "{text}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "HA's tools never listed:\n{text}\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut ws = gw.ws();
    let run = crate::common::harness::send(&mut ws, "agent:main:main", "turn on the bed light");
    let events = ws.follow(&run);
    let end = crate::common::harness::last(&events);
    assert_eq!(end["data"]["text"], "The bed light is on.", "{events:?}");
    let tool_end = events
        .iter()
        .find(|e| e["stream"] == "tool" && e["data"]["phase"] == "end")
        .expect("a tool call");
    assert_eq!(tool_end["data"]["isError"], false, "{tool_end}");
    assert_eq!(ha.run(&["state", &token, "light.bed_light"])["state"], "on");

    // Home Assistant → Hearth: its Ollama integration with Hearth as the model.
    ha.run(&["service", &token, "light", "turn_off", "light.bed_light"]);
    let ollama_url = format!("{}/ollama/{}", gw.http(), gw.token);
    let added = ha.run(&["ollama", &token, &ollama_url]);
    assert_eq!(added["state"], "loaded", "{added}");
    let agent = added["agents"][0]
        .as_str()
        .expect("a conversation agent")
        .to_string();
    let hello = ha.run(&["converse", &token, &agent, "hello"]);
    assert_eq!(
        hello["speech"],
        "Hello from Hearth.",
        "{hello}\n{}",
        gw.log()
    );
    let act = ha.run(&["converse", &token, &agent, "turn on the bed light"]);
    assert_eq!(act["speech"], "Done, the bed light is on again.", "{act}");
    assert_eq!(ha.run(&["state", &token, "light.bed_light"])["state"], "on");

    // Home Assistant's MCP client lists Hearth's tools (setup fails unless tools/list works).
    let mcp_url = format!("{}/mcp/hearth-mcp-7/sse", gw.http());
    let client = ha.run(&["mcp", &token, &mcp_url]);
    assert_eq!(
        client,
        json!({"title": "hearth", "state": "loaded", "reason": null})
    );
}
