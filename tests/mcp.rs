//! Hearth as an MCP client, end to end: the real `hearth` binary, a scripted model (the fake
//! OpenAI server) that calls MCP tools, and real MCP servers built on the official MCP
//! Python SDK (`tests/kit/mcp_server.py`, FastMCP) over stdio, Streamable HTTP (stateful
//! with event streams, and stateless with JSON answers) and the 2024-11-05 HTTP+SSE
//! transport that Home Assistant 2025.4 speaks. The SDK lives in a venv outside the clone
//! (`$HEARTH_PY_VENV`, default `~/.cache/hearth/py-venv`, made by scripts/test.sh).

mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, Ws, fake_config, send, temp_dir};
use common::python;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP MCP server of the kit on a free loopback port; killed on drop.
struct KitServer {
    child: Child,
    port: u16,
}

impl KitServer {
    /// Starts `mcp_server.py <mode>`, requiring `token` as a bearer token when given.
    fn start(mode: &str, token: Option<&str>) -> Self {
        let mut cmd = Command::new(python::venv_python());
        cmd.arg(python::kit("mcp_server.py"))
            .arg(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(t) = token {
            cmd.env("MCP_KIT_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("start the kit MCP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the port line");
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64());
        let Some(port) = port else {
            let _ = child.kill();
            panic!("the kit server ({mode}) printed {line:?} instead of its port");
        };
        Self {
            child,
            port: port as u16,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for KitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the gateway's log until it holds `needle` (servers connect in the background).
fn wait_log(gw: &Gateway, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !gw.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the log never showed {needle:?}:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One turn: sends `message`, follows the run; returns its tool results as `(name, isError,
/// result)` and the final text.
fn turn(ws: &mut Ws, gw: &Gateway, message: &str) -> (Vec<(String, bool, String)>, String) {
    let run = send(ws, "agent:main:main", message);
    let events = ws.follow(&run);
    let end = events.last().expect("events");
    assert_eq!(
        end["data"]["phase"],
        "end",
        "run failed: {end}\n{}",
        gw.log()
    );
    let tools = events
        .iter()
        .filter(|e| e["stream"] == "tool" && e["data"]["phase"] == "end")
        .map(|e| {
            let result = e["data"]["result"].as_str().unwrap_or("");
            (
                e["data"]["name"].as_str().unwrap_or("").to_string(),
                e["data"]["isError"] == true,
                // The agent hands failures to the model as "error: <the tool's error>".
                result.strip_prefix("error: ").unwrap_or(result).to_string(),
            )
        })
        .collect();
    (
        tools,
        end["data"]["text"].as_str().unwrap_or("").to_string(),
    )
}

fn call(name: &str, args: Value) -> (String, String) {
    (name.to_string(), args.to_string())
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// Waits until none of `pids` is alive (init reaps orphans in its own time).
fn wait_gone(pids: &[u32], what: &str, gw: &Gateway) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "{what}: {pids:?} still running\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .expect("pid file")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect()
}

#[test]
fn stdio_server_tools_time_out_crash_reconnect_change_and_die_with_the_gateway() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![
            call("kit__add", json!({"a": 2, "b": 3})),
            call("kit__echo", json!({"text": "hi there"})),
            call("kit__fail", json!({})),
        ]),
        Reply::Text("t1".into()),
        Reply::ToolCalls(vec![call("kit__hang", json!({}))]),
        Reply::Text("t2".into()),
        Reply::ToolCalls(vec![call("kit__crash", json!({}))]),
        Reply::Text("t3".into()),
        Reply::ToolCalls(vec![call("kit__add", json!({"a": 1, "b": 1}))]),
        Reply::Text("t4".into()),
        Reply::ToolCalls(vec![call("kit__grow", json!({}))]),
        Reply::Text("t5".into()),
        Reply::ToolCalls(vec![call("kit__extra", json!({}))]),
        Reply::Text("t6".into()),
    ]);
    let root = temp_dir("mcp-stdio");
    let pid_file = root.join("kit.pid");
    let cfg = format!(
        "{}\n[mcp.servers.kit]\ncommand = {:?}\nargs = [{:?}, \"stdio\"]\ncall_timeout_secs = 3\n\n[mcp.servers.kit.env]\nMCP_KIT_PID_FILE = {:?}\n",
        fake_config(&[("fake", &fake.base_url())]),
        python::venv_python().display().to_string(),
        python::kit("mcp_server.py").display().to_string(),
        pid_file.display().to_string(),
    );
    let mut gw = Gateway::start(&root, &cfg);
    wait_log(
        &gw,
        "mcp server kit: connected over stdio (MCP 2025-06-18, hearth-test-kit)",
    );
    let mut ws = gw.ws();

    let (tools, text) = turn(&mut ws, &gw, "add and echo");
    assert_eq!(text, "t1");
    assert_eq!(
        tools[0],
        ("kit__add".into(), false, "5".into()),
        "{tools:?}"
    );
    assert_eq!(tools[1], ("kit__echo".into(), false, "hi there".into()));
    assert!(tools[2].1, "{tools:?}");
    assert!(
        tools[2].2.starts_with("kit: ") && tools[2].2.contains("failed on purpose"),
        "{tools:?}"
    );
    // The model was offered the server's tools, named and described.
    let offered = &fake.requests()[0]["body"]["tools"];
    let add = offered
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["function"]["name"] == "kit__add")
        .unwrap_or_else(|| panic!("kit__add not offered: {offered}"));
    assert_eq!(add["function"]["description"], "kit: Adds two integers.");
    assert_eq!(add["function"]["parameters"]["required"], json!(["a", "b"]));

    // A tool that never answers: a clear error after call_timeout_secs, and the run goes on.
    let (tools, text) = turn(&mut ws, &gw, "hang");
    assert_eq!(text, "t2");
    assert!(tools[0].1);
    assert_eq!(
        tools[0].2,
        "mcp server kit: tools/call hang timed out after 3 s"
    );

    // A crashing server: the call fails saying so, and the next call reconnects.
    let first = read_pids(&pid_file);
    let (tools, text) = turn(&mut ws, &gw, "crash");
    assert_eq!(text, "t3");
    assert!(tools[0].1);
    assert!(
        tools[0]
            .2
            .starts_with("mcp server kit: the connection was lost during tools/call crash")
            && tools[0].2.contains("exit status: 3")
            && tools[0].2.contains("reconnected at the next call"),
        "{tools:?}"
    );
    let (tools, text) = turn(&mut ws, &gw, "add again");
    assert_eq!(text, "t4");
    assert_eq!(
        tools[0],
        ("kit__add".into(), false, "2".into()),
        "{}",
        gw.log()
    );
    // The crashed server's own child went with its process group.
    wait_gone(&first, "the crashed server's group", &gw);

    // notifications/tools/list_changed: the new tool is listed and callable.
    let (tools, _) = turn(&mut ws, &gw, "grow");
    assert_eq!(tools[0].2, "grown");
    wait_log(&gw, "kit__extra");
    let (tools, text) = turn(&mut ws, &gw, "extra");
    assert_eq!(text, "t6");
    assert_eq!(tools[0], ("kit__extra".into(), false, "extra here".into()));

    // SIGTERM of the gateway ends the server and its children.
    let pids = read_pids(&pid_file);
    assert_ne!(pids, first, "a new server process after the crash");
    assert!(pids.iter().all(|p| alive(*p)));
    drop(ws);
    assert!(gw.stop().success(), "{}", gw.log());
    wait_gone(&pids, "the stdio server after SIGTERM of the gateway", &gw);
}

#[test]
fn http_servers_streamable_stateless_and_legacy_sse_with_a_server_down() {
    let web = KitServer::start("http", Some("web-token"));
    let json_srv = KitServer::start("http-stateless", None);
    let legacy = KitServer::start("sse", Some("sse-token"));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![
            call("web__add", json!({"a": 2, "b": 3})),
            call("json__echo", json!({"text": "stateless"})),
            call("legacy__add", json!({"a": 4, "b": 5})),
            call("legacy__read_resource", json!({"uri": "kit://motd"})),
            call(
                "legacy__get_prompt",
                json!({"name": "greet", "arguments": {"name": "Bo"}}),
            ),
        ]),
        Reply::Text("t1".into()),
        Reply::ToolCalls(vec![
            call("json__hang", json!({})),
            call("web__fail", json!({})),
        ]),
        Reply::Text("t2".into()),
        Reply::ToolCalls(vec![call("web__grow", json!({}))]),
        Reply::Text("t3".into()),
        Reply::ToolCalls(vec![call("web__extra", json!({}))]),
        Reply::Text("t4".into()),
    ]);
    let root = temp_dir("mcp-http");
    std::fs::write(root.join("web.token"), "web-token\n").expect("token file");
    std::fs::write(root.join("sse.token"), "sse-token").expect("token file");
    let cfg = format!(
        "{}
[mcp.servers.web]
url = {:?}
bearer = \"file:{}\"
exclude = [\"hang\"]

[mcp.servers.json]
url = {:?}
call_timeout_secs = 2

[mcp.servers.legacy]
url = {:?}
bearer = \"file:{}\"
resources_as_tools = true

[mcp.servers.down]
url = \"http://127.0.0.1:{closed}/mcp\"
",
        fake_config(&[("fake", &fake.base_url())]),
        web.url("/mcp"),
        root.join("web.token").display(),
        json_srv.url("/mcp"),
        legacy.url("/sse"),
        root.join("sse.token").display(),
    );
    let mut gw = Gateway::start(&root, &cfg);
    wait_log(
        &gw,
        "mcp server web: connected over streamable-http (MCP 2025-06-18",
    );
    wait_log(
        &gw,
        "mcp server json: connected over streamable-http (MCP 2025-06-18",
    );
    // FastMCP's SSE server answers the initialize POST with 405: the client falls back.
    wait_log(&gw, "mcp server legacy: connected over sse");
    wait_log(&gw, "legacy__read_resource, legacy__get_prompt");
    wait_log(&gw, "mcp server down: cannot connect");
    let mut ws = gw.ws();

    let (tools, text) = turn(&mut ws, &gw, "use every server");
    assert_eq!(text, "t1");
    let offered = fake.requests()[0]["body"]["tools"].to_string();
    assert!(
        offered.contains("\"web__add\"") && !offered.contains("\"web__hang\""),
        "{offered}"
    );
    let want = [
        ("web__add", "5"),
        ("json__echo", "stateless"),
        ("legacy__add", "9"),
        ("legacy__read_resource", "hello from the kit"),
        ("legacy__get_prompt", "user: Say hello to Bo."),
    ];
    for ((name, result), got) in want.iter().zip(&tools) {
        assert_eq!((got.0.as_str(), got.1), (*name, false), "{tools:?}");
        assert!(got.2.contains(result), "{name}: {got:?}");
    }

    let (tools, text) = turn(&mut ws, &gw, "hang and fail");
    assert_eq!(text, "t2");
    assert_eq!(
        tools[0].2,
        "mcp server json: tools/call hang timed out after 2 s"
    );
    assert!(
        tools[1].1 && tools[1].2.contains("failed on purpose"),
        "{tools:?}"
    );

    // list_changed arrives on the stateful server's GET stream (bearer included).
    let (tools, _) = turn(&mut ws, &gw, "grow");
    assert_eq!(tools[0].2, "grown");
    wait_log(&gw, "web__extra");
    let (tools, text) = turn(&mut ws, &gw, "extra");
    assert_eq!(text, "t4");
    assert_eq!(tools[0], ("web__extra".into(), false, "extra here".into()));
    drop(ws);
    assert!(gw.stop().success(), "{}", gw.log());
}
