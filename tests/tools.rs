//! Tools that act, end to end on the real binary: `exec` approvals answered from a Telegram
//! chat (allow-once, deny, expiry, allow-always across a restart), the audit ledger, the
//! tool policy of a group chat, an aborted run killing its command's whole process group,
//! a cron job added from the CLI delivered to Telegram, and `hearth skills list`.

mod common;

use common::fake_openai::{FakeOpenAi, Reply};
use common::harness::{Gateway, fake_config, temp_dir};
use common::telegram::{BOT_NAME, TelegramEmu, channel_config, group, private};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const OWNER: i64 = 5;

fn exec(command: &str) -> Reply {
    Reply::ToolCalls(vec![(
        "exec".into(),
        json!({ "command": command }).to_string(),
    )])
}

/// The texts the bot sent to `chat`.
fn texts(tg: &TelegramEmu, token: &str, chat: i64) -> Vec<String> {
    tg.bot_messages(token)
        .iter()
        .filter(|m| m["chat_id"].as_i64() == Some(chat))
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Waits for a bot message to `chat` containing `needle`, after the first `skip` ones.
fn wait_text(tg: &TelegramEmu, token: &str, chat: i64, skip: usize, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(t) = texts(tg, token, chat)
            .into_iter()
            .skip(skip)
            .find(|t| t.contains(needle))
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "no message with {needle:?}; got {:?}",
            texts(tg, token, chat)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The approval id of a prompt (`ID: <id>` line).
fn approval_id(prompt: &str) -> String {
    prompt
        .lines()
        .find_map(|l| l.strip_prefix("ID: "))
        .expect("an ID line")
        .trim()
        .to_string()
}

/// The owner writes `text`; waits for the approval prompt that follows (after the first
/// `seen` messages) and, when `decision` is set, answers `/approve <id> <decision>`.
/// Returns the prompt.
fn ask_and_answer(tg: &TelegramEmu, token: &str, text: &str, decision: Option<&str>) -> String {
    let seen = texts(tg, token, OWNER).len();
    tg.user_says(token, private(OWNER), OWNER, text, json!({}));
    let prompt = wait_text(tg, token, OWNER, seen, "Exec approval required");
    if let Some(d) = decision {
        let answer = format!("/approve {} {d}", approval_id(&prompt));
        tg.user_says(token, private(OWNER), OWNER, &answer, json!({}));
    }
    prompt
}

fn owner_config(
    root: &std::path::Path,
    tg: &TelegramEmu,
    token: &str,
    fake: &FakeOpenAi,
) -> String {
    fake_config(&[("fake", &fake.base_url())])
        + "\n[heartbeat]\nevery = \"0\"\n\n[tools.approvals]\ntimeout_secs = 8\n"
        + &channel_config(
            root,
            tg,
            token,
            &format!(
                "dm_policy = \"allowlist\"\nallow_from = [\"{OWNER}\"]\ngroup_policy = \"open\"\nrequire_mention = false\n"
            ),
        )
}

#[test]
fn exec_asks_the_owner_in_chat_and_the_answers_hold() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![
        exec("touch approved.txt && echo made"),
        Reply::Text("done one".into()),
        exec("touch denied.txt"),
        Reply::Text("done two".into()),
        exec("touch expired.txt"),
        Reply::Text("done three".into()),
        exec("ls -a"),
        Reply::Text("done four".into()),
        exec("ls -a"),
        Reply::Text("done five".into()),
    ]);
    let root = temp_dir("tools-approve");
    let token = "901:approvals";
    let mut gw = Gateway::start(&root, &owner_config(&root, &tg, token, &fake));
    let ws_dir = gw.data_dir().join("workspace");

    // allow-once: the prompt reaches the owner's chat, the answer runs the command.
    let prompt = ask_and_answer(&tg, token, "make a file", Some("allow-once"));
    assert!(prompt.contains("touch approved.txt"), "{prompt}");
    assert!(prompt.contains("/approve "), "{prompt}");
    wait_text(&tg, token, OWNER, 0, "done one");
    assert!(ws_dir.join("approved.txt").exists());
    let third = fake.requests()[1]["body"]["messages"].to_string();
    assert!(
        third.contains("made"),
        "the command's output reached the model: {third}"
    );

    // deny: the command does not run and the model is told who refused it.
    let seen = texts(&tg, token, OWNER).len();
    ask_and_answer(&tg, token, "another file", Some("deny"));
    wait_text(&tg, token, OWNER, seen, "done two");
    assert!(!ws_dir.join("denied.txt").exists());
    let told = fake.requests()[3]["body"]["messages"].to_string();
    assert!(told.contains("denied by telegram:5"), "{told}");

    // Nobody answers: the request expires and the command does not run.
    let seen = texts(&tg, token, OWNER).len();
    ask_and_answer(&tg, token, "a third file", None);
    wait_text(&tg, token, OWNER, seen, "expired");
    wait_text(&tg, token, OWNER, seen, "done three");
    assert!(!ws_dir.join("expired.txt").exists());

    // allow-always is kept in the store: after a restart the same command runs unasked.
    let seen = texts(&tg, token, OWNER).len();
    ask_and_answer(&tg, token, "list files", Some("always"));
    wait_text(&tg, token, OWNER, seen, "done four");
    gw.restart();
    let seen = texts(&tg, token, OWNER).len();
    tg.user_says(token, private(OWNER), OWNER, "list files again", json!({}));
    wait_text(&tg, token, OWNER, seen, "done five");
    assert!(
        !texts(&tg, token, OWNER)[seen..]
            .iter()
            .any(|t| t.contains("approval required")),
        "{:?}",
        texts(&tg, token, OWNER)
    );
    let export = gw
        .cli()
        .args(["approvals", "export"])
        .output()
        .expect("cli");
    let doc: Value = serde_json::from_slice(&export.stdout).expect("approvals JSON");
    let entry = &doc["agents"]["main"]["allowlist"][0];
    assert!(
        entry["pattern"].as_str().unwrap_or("").ends_with("/ls"),
        "{doc}"
    );
    assert_eq!(entry["argPattern"], "\\-a", "{doc}");
    assert_eq!(entry["source"], "allow-always");
    assert!(entry["lastUsedAt"].as_u64().is_some(), "{doc}");

    // The ledger names who decided what, with no arguments or output.
    let audit = gw
        .cli()
        .args(["audit", "--json", "--tool", "exec"])
        .output()
        .expect("cli");
    let lines: Vec<Value> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "denied", "denied", "ok", "ok"],
        "{lines:?}"
    );
    let decided = |i: usize| lines[i]["decision"].to_string();
    assert!(
        decided(0).contains("allow-once by telegram:5"),
        "{}",
        decided(0)
    );
    assert!(decided(1).contains("deny by telegram:5"), "{}", decided(1));
    assert!(decided(2).contains("expired"), "{}", decided(2));
    assert!(decided(4).contains("allowlist: /"), "{}", decided(4));
    assert!(decided(4).contains("Landlock ABI"), "{}", decided(4));
    assert!(lines.iter().all(|l| l["sender"] == "telegram:5"));
    assert!(
        !String::from_utf8_lossy(&audit.stdout).contains("touch"),
        "no arguments"
    );
}

#[test]
fn a_group_chat_gets_the_messaging_profile_and_the_refusal_is_audited() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![exec("id"), Reply::Text("cannot".into())]);
    let root = temp_dir("tools-group");
    let token = "902:group";
    let gw = Gateway::start(&root, &owner_config(&root, &tg, token, &fake));
    let chat = -100_777;
    tg.user_says(
        token,
        group(chat, false),
        OWNER,
        &format!("@{BOT_NAME} run id"),
        json!({}),
    );
    wait_text(&tg, token, chat, 0, "cannot");
    let reqs = fake.requests();
    let offered: Vec<String> = reqs[0]["body"]["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !offered.iter().any(|t| t == "exec" || t == "write"),
        "{offered:?}"
    );
    assert!(offered.iter().any(|t| t == "message"), "{offered:?}");
    let told = reqs[1]["body"]["messages"].to_string();
    assert!(told.contains("not allowed here"), "{told}");
    let audit = gw.cli().args(["audit"]).output().expect("cli");
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(text.contains("exec\tdenied"), "{text}");
    assert!(
        text.contains("policy: tools.group_profile: not in the messaging profile"),
        "{text}"
    );
}

/// Processes working under `root` (this test's, not another run's on the same machine)
/// whose command line contains `needle` and that are not zombies.
fn live(root: &std::path::Path, needle: &str) -> Vec<u32> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        let cmd: Vec<u8> = cmd.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
        let ours = std::fs::read_link(e.path().join("cwd")).is_ok_and(|d| d.starts_with(&root));
        if ours && !zombie && String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn aborting_a_run_kills_its_command_and_every_child() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![(
            "exec".into(),
            json!({"command": "sleep 3011 & sleep 3012 & sleep 3013; echo never", "yieldMs": 120000}).to_string(),
        )]),
        Reply::Text("after".into()),
    ]);
    let root = temp_dir("tools-abort");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[heartbeat]\nevery = \"0\"\n\n[tools.exec]\nmode = \"full\"\ntimeout_secs = 600\n";
    let gw = Gateway::start(&root, &cfg);
    let mut ws = gw.ws();
    let run = common::harness::send(&mut ws, "agent:main:main", "sleep a while");
    let deadline = Instant::now() + Duration::from_secs(30);
    while live(&root, "sleep 301").len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the command did not start: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = ws.call(
        "chat.abort",
        json!({"sessionKey": "agent:main:main", "runId": run}),
    );
    assert_eq!(
        (&r["aborted"], &r["runIds"]),
        (&json!(true), &json!([run])),
        "{r}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !live(&root, "sleep 301").is_empty() {
        assert!(
            Instant::now() < deadline,
            "orphans left: {:?}",
            live(&root, "sleep 301")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let audit = gw.cli().args(["audit", "--json"]).output().expect("cli");
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(text.contains("\"outcome\":\"cancelled\""), "{text}");
}

#[test]
fn commands_left_by_a_killed_gateway_are_killed_at_the_next_start() {
    let fake = FakeOpenAi::start(vec![
        Reply::ToolCalls(vec![(
            "exec".into(),
            json!({"command": "sleep 3021 & sleep 3022 & exit 0", "background": true}).to_string(),
        )]),
        Reply::ToolCalls(vec![(
            "exec".into(),
            json!({"command": "sleep 3023; echo never", "yieldMs": 120000}).to_string(),
        )]),
        Reply::Text("after".into()),
    ]);
    let root = temp_dir("tools-sweep");
    let cfg = fake_config(&[("fake", &fake.base_url())])
        + "\n[heartbeat]\nevery = \"0\"\n\n[tools.exec]\nmode = \"full\"\ntimeout_secs = 600\n";
    let mut gw = Gateway::start(&root, &cfg);
    let mut ws = gw.ws();
    common::harness::send(&mut ws, "agent:main:main", "start things");
    let deadline = Instant::now() + Duration::from_secs(30);
    // A background job whose shell already exited, and a foreground command (its shell
    // and its sleep).
    while live(&root, "sleep 302").len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the commands did not start: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.kill();
    assert_eq!(
        live(&root, "sleep 302").len(),
        4,
        "they outlive a SIGKILL of the gateway"
    );
    gw.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !live(&root, "sleep 302").is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}\n{}",
            live(&root, "sleep 302"),
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        gw.log().contains("left running by the last gateway"),
        "{}",
        gw.log()
    );
}

#[test]
fn a_cron_job_from_the_cli_runs_once_and_its_reply_reaches_telegram() {
    let tg = TelegramEmu::start();
    let fake = FakeOpenAi::start(vec![Reply::Echo(0)]);
    let root = temp_dir("tools-cron");
    let token = "903:cron";
    let gw = Gateway::start(&root, &owner_config(&root, &tg, token, &fake));
    let add = gw
        .cli()
        .args([
            "cron",
            "add",
            "--name",
            "plants",
            "--at",
            "+2s",
            "--message",
            "water the plants",
        ])
        .args(["--channel", "telegram", "--to", &OWNER.to_string()])
        .output()
        .expect("cli");
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    assert!(String::from_utf8_lossy(&add.stdout).contains("\"plants\""));
    let bad = gw
        .cli()
        .args(["cron", "add", "--cron", "61 * * * *", "--message", "x"])
        .output()
        .expect("cli");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("61 is out of range"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let got = wait_text(&tg, token, OWNER, 0, "water the plants");
    assert!(got.starts_with("echo:"), "{got}");
    std::thread::sleep(Duration::from_millis(500));
    let list = gw.cli().args(["cron", "list"]).output().expect("cli");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "no cron jobs",
        "a done one-shot is deleted"
    );
    assert_eq!(texts(&tg, token, OWNER).len(), 1, "it ran once");
}

#[test]
fn skills_list_shows_sources_gating_shadowing_and_broken_files() {
    let root = temp_dir("tools-skills");
    let ws = root.join("data").join("workspace").join("skills");
    for (dir, body) in [
        (
            "system-health",
            "---\nname: system-health\ndescription: My own health check.\n---\nRun uptime.\n",
        ),
        (
            "needs-tool",
            "---\nname: needs-tool\ndescription: Needs a tool.\nmetadata: {\"openclaw\": {\"requires\": {\"bins\": [\"no-such-bin-hearth\"]}}}\n---\nx\n",
        ),
        (
            "broken",
            "---\nname: broken\ndescription: [unclosed\n---\nx\n",
        ),
    ] {
        std::fs::create_dir_all(ws.join(dir)).expect("mkdir");
        std::fs::write(ws.join(dir).join("SKILL.md"), body).expect("write");
    }
    std::fs::write(root.join("config.toml"), "").expect("config");
    let out = std::process::Command::new(common::harness::bin())
        .arg("--config")
        .arg(root.join("config.toml"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["skills", "list"])
        .output()
        .expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        text.lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(line("system-health").contains("workspace"), "{text}");
    assert!(
        line("system-health").contains("bundled"),
        "the bundled one is listed as shadowed: {text}"
    );
    assert!(line("needs-tool").contains("no-such-bin-hearth"), "{text}");
    assert!(line("service-logs").contains("bundled"), "{text}");
    assert!(
        text.contains("skills/broken/SKILL.md:4: invalid YAML"),
        "file and line of the broken one: {text}"
    );
}
