//! `hearth import-openclaw` on a sample OpenClaw 2026 state directory written here: a JSON5
//! `openclaw.json` with an `$include`, comments, `${VAR}` from `.env`, a secret-store ref,
//! a file-provider ref and an exec-provider ref; `state/openclaw.sqlite` with auth
//! profiles, cron jobs (one a heartbeat monitor with its checklist), a pairing approval and
//! a stored secret; two workspaces and a managed skill. Then the imported config runs: the
//! gateway starts on it, a turn reaches the provider with the key from the `.env`, the jobs
//! are listed and the approvals are in the store.

use crate::common::fake_openai::{FakeOpenAi, Reply};
use crate::common::harness::{Gateway, bin, temp_dir};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"// OpenClaw 2026.9 config, JSON5
{
  $schema: 'https://openclaw.ai/schema.json',
  $include: './channels.json5',
  gateway: { port: 18789, bind: 'loopback', auth: { mode: 'token', token: 'gw-secret-xyz' } },
  models: {
    providers: {
      myllm: {
        api: 'openai-completions',
        baseUrl: 'FAKE_URL',
        apiKey: '${MYLLM_KEY}',
        models: [{ id: 'fake-model', contextWindow: 32000 }],
      },
    },
  },
  agents: {
    defaults: {
      model: { primary: 'myllm/fake-model', fallbacks: ['anthropic/claude-x', 'bedrock/x'] },
      heartbeat: { every: '45', target: 'last', activeHours: { start: '08:00', end: '22:00', timezone: 'Europe/Berlin' } },
      sandbox: { mode: 'all' },
    },
    entries: {
      home: { default: true, identity: { name: 'Hob', emoji: '🔥' } },
      Ops: { model: 'myllm/fake-model', tools: { profile: 'minimal', allow: ['read'] } },
    },
  },
  bindings: [
    { agentId: 'Ops', match: { channel: 'telegram', peer: { kind: 'direct', id: '333' } } },
    { agentId: 'home', match: { channel: 'whatsapp' } },
  ],
  commands: { ownerAllowFrom: ['telegram:111'] },
  tools: {
    profile: 'coding',
    exec: { security: 'allowlist', ask: 'on-miss', timeoutSeconds: 90, host: 'sandbox' },
    web: { search: { provider: 'brave' } },
  },
  plugins: { entries: { brave: { config: { webSearch: { apiKey: { source: 'file', provider: 'vault', id: '/brave' } } } } } },
  secrets: {
    providers: {
      vault: { source: 'file', path: 'secrets.json', mode: 'json' },
      cmd: { source: 'exec', command: '/usr/bin/pass' },
    },
  },
  session: { dmScope: 'per-channel-peer', identityLinks: { me: ['telegram:111', 'matrix:@me:hs'] } },
  messages: { queue: { mode: 'collect', cap: 20, byChannel: { telegram: 'steer', whatsapp: 'followup' } } },
  hooks: { enabled: true, token: { source: 'exec', provider: 'cmd', id: 'hooks' } },
  mcp: { servers: { 'my-files': { enabled: false, command: 'npx', args: ['-y', 'files'], env: { API_TOKEN: 'mcp-secret-1', LEVEL: 'debug' } } } },
}
"#;

const CHANNELS: &str = r#"{
  channels: {
    telegram: {
      botToken: { source: 'store', provider: 'default', id: 'tg-bot' },
      apiRoot: 'http://127.0.0.1:9',
      dmPolicy: 'pairing',
      allowFrom: ['tg:111', 222],
      groups: { '*': { requireMention: false }, '-1001': { systemPrompt: 'be brief' } },
      accounts: { work: { botToken: 'other' } },
    },
    whatsapp: { enabled: true },
  },
}
"#;

/// OpenClaw 2026.9.6's own DDL for the tables read (`sqlite_master` of a state database
/// its CLI created).
const DDL: &str = "
CREATE TABLE cron_jobs (
  store_key TEXT NOT NULL, job_id TEXT NOT NULL, declaration_key TEXT, owner_agent_id TEXT, name TEXT NOT NULL,
  description TEXT, enabled INTEGER NOT NULL, agent_id TEXT, payload_kind TEXT NOT NULL, job_json TEXT NOT NULL,
  grant_definition_revision TEXT, grant_definition_generation INTEGER, grant_definition_updated_at INTEGER,
  state_json TEXT NOT NULL DEFAULT '{}', runtime_updated_at_ms INTEGER, schedule_identity TEXT,
  sort_order INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
  PRIMARY KEY (store_key, job_id)
) STRICT;
CREATE TABLE cron_job_scratch (
  store_key TEXT NOT NULL, job_id TEXT NOT NULL, content TEXT, revision INTEGER NOT NULL, source_sha256 TEXT,
  updated_at_ms INTEGER NOT NULL, PRIMARY KEY (store_key, job_id)
) STRICT;
CREATE TABLE channel_pairing_allow_entries (
  channel_key TEXT NOT NULL, account_id TEXT NOT NULL, entry TEXT NOT NULL, sort_order INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (channel_key, account_id, entry)
) STRICT;
CREATE TABLE secret_store_entries (
  scope_kind TEXT NOT NULL, scope_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
  kind TEXT NOT NULL, created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
  updated_by TEXT, deleted_at_ms INTEGER, allowed_hosts TEXT, PRIMARY KEY (scope_kind, scope_id, name)
) STRICT;
CREATE TABLE config_machine_state (
  state_key TEXT NOT NULL PRIMARY KEY, value_json TEXT NOT NULL, updated_at_ms INTEGER NOT NULL
) STRICT;
";

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn sample(dir: &Path, fake_url: &str) {
    write(dir, "openclaw.json", &CONFIG.replace("FAKE_URL", fake_url));
    write(dir, "channels.json5", CHANNELS);
    write(dir, ".env", "# keys\nMYLLM_KEY=sk-env-123\n");
    write(dir, "secrets.json", r#"{"brave": "brave-key-9"}"#);
    write(dir, "workspace/AGENTS.md", "# Agents\n\nBe kind.\n");
    write(
        dir,
        "workspace/TOOLS.md",
        "Use the kettle tool sparingly.\n",
    );
    write(dir, "workspace/SOUL.md", "Warm and brief.\n");
    write(dir, "workspace/MEMORY.md", "The cat is called Ada.\n");
    write(dir, "workspace/memory/2026-11-01.md", "Boiler serviced.\n");
    write(dir, "workspace/openclaw-workspace-state.json", "{}");
    write(dir, "workspace-Ops/AGENTS.md", "# Ops\n");
    write(
        dir,
        "skills/weather/SKILL.md",
        "---\nname: weather\ndescription: Weather lookups\n---\nAsk wttr.in.\n",
    );
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let db = rusqlite::Connection::open(dir.join("state/openclaw.sqlite")).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.execute_batch(DDL).unwrap();
    let auth = json!({"version": 1, "profiles": {
        "anthropic:work": {"type": "api_key", "provider": "anthropic", "key": "sk-ant-work"},
        "anthropic:sub": {"type": "oauth", "provider": "anthropic", "access": "a", "refresh": "r", "expires": 1},
    }, "order": {"anthropic": ["anthropic:work", "anthropic:sub"]}});
    db.execute(
        "INSERT INTO config_machine_state VALUES ('authProfiles.store', ?1, 0), \
         ('auth.sharedStore', '{\"location\":\"state-db\"}', 0)",
        [auth.to_string()],
    )
    .unwrap();
    let jobs = [
        (
            "daily",
            "agentTurn",
            json!({"id": "daily", "name": "Morning brief", "enabled": true, "createdAtMs": 1_780_000_000_000u64,
                   "schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Berlin"},
                   "sessionTarget": "isolated", "wakeMode": "now",
                   "payload": {"kind": "agentTurn", "message": "Brief me", "thinking": "low"},
                   "delivery": {"mode": "announce", "channel": "telegram", "to": "111"}}),
        ),
        (
            "water",
            "systemEvent",
            json!({"id": "water", "name": "Plants", "enabled": true, "createdAtMs": 1_780_000_000_000u64,
                   "schedule": {"kind": "every", "everyMs": 3_600_000}, "sessionTarget": "main",
                   "payload": {"kind": "systemEvent", "text": "Water the plants"}}),
        ),
        (
            "backup",
            "command",
            json!({"id": "backup", "name": "Backup", "enabled": true, "createdAtMs": 1,
                   "schedule": {"kind": "cron", "expr": "0 3 * * *"}, "sessionTarget": "isolated",
                   "payload": {"kind": "command", "argv": ["restic", "backup"]}}),
        ),
        (
            "hb",
            "heartbeat",
            json!({"id": "hb", "name": "Heartbeat", "enabled": true, "createdAtMs": 1,
                   "schedule": {"kind": "every", "everyMs": 2_700_000}, "sessionTarget": "main",
                   "declarationKey": "heartbeat:home", "payload": {"kind": "heartbeat"}}),
        ),
    ];
    for (i, (id, kind, job)) in jobs.into_iter().enumerate() {
        db.execute(
            "INSERT INTO cron_jobs (store_key, job_id, name, enabled, agent_id, payload_kind, job_json, \
             state_json, sort_order, updated_at) VALUES ('/s/cron/jobs.json', ?1, ?1, 1, 'home', ?2, ?3, ?4, ?5, 0)",
            rusqlite::params![
                id,
                kind,
                job.to_string(),
                r#"{"lastRunAtMs": 1780000100000, "lastStatus": "ok", "consecutiveErrors": 0, "nextRunAtMs": 1}"#,
                i as i64,
            ],
        )
        .unwrap();
    }
    db.execute(
        "INSERT INTO cron_job_scratch VALUES ('/s/cron/jobs.json', 'hb', '- check the boiler pressure', 1, NULL, 0)",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO channel_pairing_allow_entries VALUES ('telegram', 'default', '444', 0, 0), \
         ('telegram', 'work', '555', 0, 0)",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO secret_store_entries VALUES ('team', '', 'tg-bot', '123:tg-token', 'secret', 0, 0, 'cli', NULL, NULL), \
         ('team', '', 'gone', 'x', 'secret', 0, 0, 'cli', 5, NULL)",
        [],
    )
    .unwrap();
    // As a gateway killed mid-run leaves it: the rows are still in openclaw.sqlite-wal.
    assert!(
        dir.join("state/openclaw.sqlite-wal")
            .metadata()
            .unwrap()
            .len()
            > 0
    );
    std::mem::forget(db);
}

fn hearth(root: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--config")
        .arg(root.join("config.toml"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .env_remove("MYLLM_KEY");
    c
}

/// The store of the imported data dir (the gateway stopped).
fn open_store(root: &Path) -> hearth::storage::Store {
    let opts = hearth::storage::StoreOptions {
        map_size_bytes: 64 << 20,
    };
    hearth::storage::Store::open(&root.join("data/store"), opts).expect("open the store")
}

/// A `file:` reference's secret, checking that only its owner may read it.
pub(crate) fn file_secret(r: &toml::Value) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = r
        .as_str()
        .unwrap()
        .strip_prefix("file:")
        .expect("a file: reference");
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{path}");
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// Runs `c`; whether it exited 0, and stdout then stderr.
pub(crate) fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().expect("run hearth");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_sample_openclaw_dir_imports_and_runs() {
    let root = temp_dir("import");
    let fake = FakeOpenAi::start(vec![Reply::Text("imported and answering".into())]);
    let oc = root.join("openclaw");
    sample(&oc, &fake.base_url());
    let creds = root.join("creds");
    let import = |extra: &[&str]| {
        let mut c = hearth(&root);
        c.arg("import-openclaw")
            .arg(&oc)
            .arg("--credentials-dir")
            .arg(&creds);
        c.args(extra);
        run(&mut c)
    };

    // A dry run writes nothing and shows the plan.
    let (ok, out) = import(&["--dry-run"]);
    assert!(ok, "{out}");
    assert!(
        !root.join("config.toml").exists() && !creds.exists(),
        "{out}"
    );
    for needle in [
        "skipped   channels.whatsapp",
        "skipped   channels.telegram.accounts.work",
        "skipped   auth profile anthropic:sub",
        "skipped   hooks.token",
        "skipped   cron job backup",
        "skipped   model provider bedrock",
        "changed   cron job daily",
        "changed   cron job hb → HEARTBEAT.md",
        "skipped   bindings[1]",
        "skipped   agents.defaults.sandbox",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }

    // The import.
    let (ok, out) = import(&[]);
    assert!(ok, "{out}");
    let toml_text = std::fs::read_to_string(root.join("config.toml")).unwrap();
    for secret in [
        "sk-env-123",
        "sk-ant-work",
        "123:tg-token",
        "gw-secret-xyz",
        "brave-key-9",
        "mcp-secret-1",
    ] {
        assert!(
            !toml_text.contains(secret),
            "{secret} is in the config:\n{toml_text}"
        );
    }
    let cfg: toml::Table = toml::from_str(&toml_text).unwrap();
    assert_eq!(
        cfg["agent"]["model"],
        toml::Value::try_from(["myllm/fake-model", "anthropic/claude-x"]).unwrap(),
        "{toml_text}"
    );
    assert_eq!(
        cfg["agents"]["ops"]["tools"]["profile"].as_str(),
        Some("minimal")
    );
    assert_eq!(
        cfg["channels"]["telegram"]["allow_from"],
        toml::Value::try_from(["111"]).unwrap()
    );
    assert_eq!(
        cfg["channels"]["telegram"]["require_mention"].as_bool(),
        Some(false)
    );
    assert_eq!(cfg["tools"]["exec"]["mode"].as_str(), Some("allowlist"));
    assert_eq!(
        cfg["tools"]["approvals"]["targets"],
        toml::Value::try_from(["telegram:default:111"]).unwrap()
    );
    assert_eq!(
        cfg["session"]["dm_scope"].as_str(),
        Some("per-channel-peer")
    );
    assert_eq!(
        cfg["queue"]["channels"]["telegram"]["mode"].as_str(),
        Some("steer")
    );
    assert_eq!(cfg["heartbeat"]["every"].as_str(), Some("45m"));
    assert_eq!(cfg["bindings"][0]["agent"].as_str(), Some("ops"));
    assert_eq!(cfg["bindings"][0]["peer"].as_str(), Some("333"));
    assert_eq!(
        file_secret(&cfg["providers"]["myllm"]["profiles"][0]["api_key"]),
        "sk-env-123"
    );
    assert_eq!(
        file_secret(&cfg["providers"]["anthropic"]["profiles"][0]["api_key"]),
        "sk-ant-work"
    );
    assert_eq!(
        file_secret(&cfg["channels"]["telegram"]["token"]),
        "123:tg-token"
    );
    assert_eq!(file_secret(&cfg["gateway"]["token"]), "gw-secret-xyz");
    assert_eq!(
        file_secret(&cfg["tools"]["web_search"]["api_key"]),
        "brave-key-9"
    );
    assert_eq!(
        file_secret(&cfg["mcp"]["servers"]["my_files"]["secret_env"]["API_TOKEN"]),
        "mcp-secret-1"
    );
    let ws = root.join("data/workspace");
    let agents_md = std::fs::read_to_string(ws.join("AGENTS.md")).unwrap();
    assert!(
        agents_md.contains("## Tools") && agents_md.contains("kettle"),
        "{agents_md}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("memory/2026-11-01.md")).unwrap(),
        "Boiler serviced.\n"
    );
    assert!(
        std::fs::read_to_string(ws.join("IDENTITY.md"))
            .unwrap()
            .contains("Hob")
    );
    assert!(
        std::fs::read_to_string(ws.join("HEARTBEAT.md"))
            .unwrap()
            .contains("boiler pressure")
    );
    assert!(!ws.join("openclaw-workspace-state.json").exists() && !ws.join("TOOLS.md").exists());
    assert!(root.join("data/agents/ops/workspace/AGENTS.md").is_file());
    assert!(root.join("data/skills/weather/SKILL.md").is_file());

    // Again without --force: refused, nothing changed.
    let (ok, out) = import(&[]);
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = run(hearth(&root).args(["config", "validate"]));
    assert!(ok, "{out}");

    // The imported installation runs: the harness reads the token from the data dir.
    std::fs::write(root.join("data/gateway.token"), "gw-secret-xyz\n").unwrap();
    let mut gw = Gateway::start(&root, &toml_text);
    let mut ws = gw.ws();
    let agents = ws.call("agents.list", json!({}));
    assert!(agents.to_string().contains("\"ops\""), "{agents}");
    let run_id = crate::common::harness::send(&mut ws, "agent:main:main", "hello after import");
    let w = ws.call("agent.wait", json!({"runId": run_id, "timeoutMs": 30000}));
    assert_eq!(w["status"], "completed", "{w}\n{}", gw.log());
    let req = fake.requests();
    assert_eq!(req[0]["authorization"], "Bearer sk-env-123", "{req:?}");
    let jobs = ws.call("cron.list", json!({}));
    let ids: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{jobs}");
    assert!(ids.contains(&"daily") && ids.contains(&"water"), "{jobs}");
    drop(ws);
    gw.stop();
    let store = open_store(&root);
    let r = store.read_txn().unwrap();
    for (peer, want) in [("222", true), ("444", true), ("555", false), ("111", false)] {
        let got = store
            .pairing_approved(&r, "telegram", "default", peer)
            .unwrap();
        assert_eq!(got, want, "pairing approval of {peer}");
    }
}

/// Runs OpenClaw's real CLI with its state in `state` (offline, no gateway); panics with its
/// output unless it exits 0.
fn openclaw(state: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let (node, entry) = crate::operator::openclaw::install();
    let mut c = Command::new(node);
    c.arg(entry).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OPENCLAW_")) {
        c.env_remove(k);
    }
    let home = state.parent().unwrap().join("oc-home");
    std::fs::create_dir_all(&home).unwrap();
    c.env("HOME", &home)
        .env("OPENCLAW_STATE_DIR", state)
        .env("OPENCLAW_OFFLINE", "1")
        .env("OPENCLAW_NO_RESPAWN", "1")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("run openclaw");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openclaw {args:?} failed:\n{text}");
    text
}

#[test]
fn a_state_dir_written_by_openclaw_itself_imports() {
    let root = temp_dir("import-real");
    let oc = root.join("openclaw");
    std::fs::create_dir_all(&oc).unwrap();
    // What `openclaw onboard` writes: the key goes into the state database.
    openclaw(
        &oc,
        &[
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--mode",
            "local",
            "--anthropic-api-key",
            "sk-ant-real-1",
            "--skip-health",
            "--no-install-daemon",
            "--skip-channels",
            "--skip-skills",
            "--skip-search",
            "--skip-ui",
            "--gateway-auth",
            "token",
            "--gateway-token",
            "gwtok-real",
            "--json",
        ],
        None,
    );
    openclaw(
        &oc,
        &["config", "patch", "--stdin"],
        Some(
            "{ channels: { telegram: { botToken: '123:real-token', dmPolicy: 'pairing', allowFrom: ['111', '222'] } },\n\
               commands: { ownerAllowFrom: ['telegram:111'] },\n\
               tools: { exec: { security: 'allowlist', ask: 'on-miss' } },\n\
               session: { dmScope: 'per-channel-peer' } }",
        ),
    );
    // Cron jobs: OpenClaw's own migration moves a jobs.json into the state database.
    std::fs::create_dir_all(oc.join("cron")).unwrap();
    std::fs::write(
        oc.join("cron/jobs.json"),
        json!({"version": 1, "jobs": [{"id": "digest", "agentId": "main", "name": "digest", "enabled": true,
            "createdAtMs": 1_796_540_000_000u64, "schedule": {"kind": "cron", "expr": "0 9 * * *", "tz": "UTC"},
            "sessionTarget": "isolated", "wakeMode": "now", "payload": {"kind": "agentTurn", "message": "Send the digest"},
            "delivery": {"mode": "announce", "channel": "telegram", "to": "111"}, "state": {}}]})
        .to_string(),
    )
    .unwrap();
    openclaw(&oc, &["doctor", "--fix", "--non-interactive"], None);
    assert!(
        !oc.join("cron/jobs.json").exists(),
        "doctor moved the jobs into SQLite"
    );
    // A pairing request (made now: OpenClaw lets them expire) approved with its own command.
    let db = rusqlite::Connection::open(oc.join("state/openclaw.sqlite")).unwrap();
    db.execute(
        "INSERT INTO channel_pairing_requests VALUES ('telegram', 'default', '444555', 'ABCD2345', \
         strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \
         '{\"accountId\":\"default\"}')",
        [],
    )
    .unwrap();
    drop(db);
    openclaw(&oc, &["pairing", "approve", "telegram", "ABCD2345"], None);

    let (ok, text) = run(hearth(&root)
        .arg("import-openclaw")
        .arg(&oc)
        .arg("--credentials-dir")
        .arg(root.join("creds")));
    assert!(ok, "{text}");
    let toml_text = std::fs::read_to_string(root.join("config.toml")).unwrap();
    let cfg: toml::Table = toml::from_str(&toml_text).unwrap();
    let chain = cfg["agent"]["model"].as_array().unwrap();
    assert!(
        chain[0].as_str().unwrap().starts_with("anthropic/"),
        "{toml_text}\n{text}"
    );
    assert_eq!(
        file_secret(&cfg["providers"]["anthropic"]["profiles"][0]["api_key"]),
        "sk-ant-real-1",
        "{text}"
    );
    assert_eq!(
        file_secret(&cfg["channels"]["telegram"]["token"]),
        "123:real-token"
    );
    assert_eq!(file_secret(&cfg["gateway"]["token"]), "gwtok-real");
    assert_eq!(
        cfg["channels"]["telegram"]["allow_from"],
        toml::Value::try_from(["111"]).unwrap()
    );
    assert_eq!(cfg["tools"]["exec"]["mode"].as_str(), Some("allowlist"));
    assert!(
        text.contains("imported  cron job digest") || text.contains("changed   cron job digest"),
        "{text}"
    );
    assert!(root.join("data/workspace/SOUL.md").is_file(), "{text}");
    let store = open_store(&root);
    let r = store.read_txn().unwrap();
    let jobs = store.cron_jobs(&r).unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}\n{text}");
    assert_eq!(jobs[0]["delivery"]["to"], "111");
    for (peer, want) in [("444555", true), ("222", true), ("111", false)] {
        assert_eq!(
            store
                .pairing_approved(&r, "telegram", "default", peer)
                .unwrap(),
            want,
            "{peer}\n{text}"
        );
    }
}
