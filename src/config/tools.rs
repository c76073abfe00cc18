//! `[tools]`: the built-in tools, the tool policy (OpenClaw's profiles, allow/deny lists
//! and groups, <https://docs.openclaw.ai/tools>), `[tools.exec]` (the sandboxed command
//! runner and its approvals mode) and `[tools.approvals]` (where approval requests go).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One policy layer: a profile, then allow / also_allow / deny (deny wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyLayer {
    /// `minimal` | `messaging` | `coding` | `full`; unset leaves the layer's base open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When non-empty, only these tools (names, `*` globs, `group:…`).
    pub allow: Vec<String>,
    /// Added to the profile.
    pub also_allow: Vec<String>,
    /// Never these.
    pub deny: Vec<String>,
}

/// `[tools]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// Offer `web_fetch`.
    pub web_fetch: bool,
    /// Let `web_fetch` reach loopback and private addresses.
    pub web_fetch_allow_private: bool,
    /// `web_fetch` deadline, seconds.
    pub web_fetch_timeout_secs: u64,
    /// `web_fetch` body cap, bytes.
    pub web_fetch_max_bytes: usize,
    /// The profile of direct chats and the gateway's own APIs (`coding`).
    pub profile: String,
    /// The profile of group chats (`messaging`: no files, commands or web).
    pub group_profile: String,
    /// Global allow-list (when non-empty, only these).
    pub allow: Vec<String>,
    /// Added to the profiles.
    pub also_allow: Vec<String>,
    /// Never offered anywhere.
    pub deny: Vec<String>,
    /// `[tools.by_channel.<channel>]`: a layer for one channel (`telegram`, `ws`, …).
    pub by_channel: BTreeMap<String, PolicyLayer>,
    /// `[tools.by_sender."<channel>:<peer>"]` (or `"<peer>"`, `"*"`): replaces the
    /// direct/group profile for that sender.
    pub by_sender: BTreeMap<String, PolicyLayer>,
    /// Tools besides `exec` that ask a human before every call (e.g. `message`).
    pub ask: Vec<String>,
    /// Whom `message` may write to besides the run's own chat and the owners:
    /// `channel:peer`, or `channel:*`.
    pub message_targets: Vec<String>,
    /// Days the audit ledger keeps its entries.
    pub audit_retention_days: u64,
    /// `[tools.exec]`.
    pub exec: ExecConfig,
    /// `[tools.approvals]`.
    pub approvals: ApprovalsConfig,
    /// `[tools.web_search]`; unset: no `web_search` tool.
    pub web_search: Option<WebSearchConfig>,
}

/// `[tools.web_search]`: the search backend of `web_search`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSearchConfig {
    /// `searxng` (a SearXNG instance with the JSON format on) or `brave` (Brave Search API).
    pub provider: String,
    /// The instance's URL (required for SearXNG; Brave's API by default).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Brave's subscription token, as a secret reference.
    #[serde(default)]
    pub api_key: Option<super::SecretRef>,
    /// Results per search (1-10).
    #[serde(default = "default_results")]
    pub max_results: usize,
    /// Deadline of a search, seconds.
    #[serde(default = "default_search_timeout")]
    pub timeout_secs: u64,
}

fn default_results() -> usize {
    5
}

fn default_search_timeout() -> u64 {
    20
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            web_fetch: true,
            web_fetch_allow_private: false,
            web_fetch_timeout_secs: 20,
            web_fetch_max_bytes: 1 << 20,
            profile: "coding".into(),
            group_profile: "messaging".into(),
            allow: Vec::new(),
            also_allow: Vec::new(),
            deny: Vec::new(),
            by_channel: BTreeMap::new(),
            by_sender: BTreeMap::new(),
            ask: Vec::new(),
            message_targets: Vec::new(),
            audit_retention_days: 30,
            exec: ExecConfig::default(),
            approvals: ApprovalsConfig::default(),
            web_search: None,
        }
    }
}

/// `[cron]`: scheduled jobs (kept in the store; managed with `hearth cron` and the `cron`
/// tool).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CronConfig {
    /// Run the scheduler (and offer the `cron` tool).
    pub enabled: bool,
    /// Longest a job's turn may take before the run counts as failed, seconds.
    pub turn_timeout_secs: u64,
}

impl Default for CronConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            turn_timeout_secs: 600,
        }
    }
}

/// `[heartbeat.active_hours]`: the daily window heartbeats run in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveHoursConfig {
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM` (or `24:00`), exclusive; before `start` wraps past midnight.
    pub end: String,
    /// IANA zone of the wall clock meant; unset: the host's.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `[heartbeat]`: a periodic turn in the main session driven by the workspace's
/// HEARTBEAT.md, silent unless it has something to say (OpenClaw's `HEARTBEAT_OK`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Interval (`30m`, `1h`; `0` turns it off).
    pub every: String,
    /// When it may run; unset: always.
    pub active_hours: Option<ActiveHoursConfig>,
    /// Characters allowed beside `HEARTBEAT_OK` in a reply that still counts as "nothing".
    pub ack_max_chars: usize,
    /// Where alerts go: `last` (the last conversation) or `channel:peer`.
    pub target: String,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        Self {
            every: "30m".into(),
            active_hours: None,
            ack_max_chars: 300,
            target: "last".into(),
        }
    }
}

/// `[skills]`: AgentSkills / OpenClaw `SKILL.md` folders (the workspace's `skills/`, the
/// managed directory, the bundled ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkillsConfig {
    /// Offer skills (the prompt block and the `skill` tool).
    pub enabled: bool,
    /// The managed directory; `None`: `<data_dir>/skills`.
    pub managed_dir: Option<PathBuf>,
    /// Skills turned off, by name.
    pub disabled: Vec<String>,
    /// When set, the only bundled skills offered.
    pub allow_bundled: Option<Vec<String>>,
}

impl Default for SkillsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            managed_dir: None,
            disabled: Vec::new(),
            allow_bundled: None,
        }
    }
}

/// `[tools.exec]`: the `exec` and `process` tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// Offer `exec` and `process` (subject to the policy).
    pub enabled: bool,
    /// `deny` | `allowlist` (ask on a miss) | `ask` (ask always) | `full`.
    pub mode: String,
    /// `enforce` (Landlock required) or `degraded` (the operator's explicit opt-out on a
    /// kernel without Landlock: files are not confined; seccomp and limits stay).
    pub sandbox: String,
    /// Let commands open network sockets.
    pub network: bool,
    /// Default wall-clock limit per command, seconds.
    pub timeout_secs: u64,
    /// The most a call may ask for, seconds (also a background job's limit).
    pub max_timeout_secs: u64,
    /// Foreground wait before a command becomes a background job, ms.
    pub yield_ms: u64,
    /// Output kept per stream (stdout, stderr), bytes: head and tail.
    pub max_output_bytes: usize,
    /// CPU time per process, seconds.
    pub cpu_secs: u64,
    /// Address space per process, MiB.
    pub memory_mib: u64,
    /// Processes and threads a command may add.
    pub processes: u64,
    /// Largest file a command may write, MiB.
    pub file_size_mib: u64,
    /// Open files per process.
    pub open_files: u64,
    /// Extra read-only paths (a toolchain under /opt).
    pub read_only: Vec<PathBuf>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: "allowlist".into(),
            sandbox: "enforce".into(),
            network: false,
            timeout_secs: 120,
            max_timeout_secs: 1800,
            yield_ms: 10_000,
            max_output_bytes: 64 << 10,
            cpu_secs: 60,
            memory_mib: 2048,
            processes: 64,
            file_size_mib: 256,
            open_files: 256,
            read_only: Vec::new(),
        }
    }
}

/// `[tools.approvals]`: where requests for a human's decision go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// Seconds a request waits before it is denied.
    pub timeout_secs: u64,
    /// Direct chats requests are sent to, `channel:account:peer` (`telegram:default:42`);
    /// empty: every owner (each `allow_from` entry of each channel account).
    pub targets: Vec<String>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 600,
            targets: Vec::new(),
        }
    }
}

fn check_profile(key: &str, p: &str) -> Option<(String, String)> {
    (!matches!(p, "minimal" | "messaging" | "coding" | "full")).then(|| {
        let m = format!("unknown tool profile {p:?} (minimal, messaging, coding or full)");
        (key.to_string(), m)
    })
}

/// The first problem with `[tools]` (and an agent's `[agents.<id>.tools]` layers), as
/// (key, message).
pub(super) fn check(
    t: &ToolsConfig,
    agent_layers: &[(String, &PolicyLayer)],
) -> Option<(String, String)> {
    if let Some(e) = check_profile("tools.profile", &t.profile)
        .or_else(|| check_profile("tools.group_profile", &t.group_profile))
    {
        return Some(e);
    }
    let layers = t
        .by_channel
        .iter()
        .map(|(k, l)| (format!("tools.by_channel.{k}"), l))
        .chain(
            t.by_sender
                .iter()
                .map(|(k, l)| (format!("tools.by_sender.{k:?}"), l)),
        )
        .chain(agent_layers.iter().map(|(k, l)| (k.clone(), *l)));
    for (key, l) in layers {
        if let Some(p) = &l.profile
            && let Some(e) = check_profile(&format!("{key}.profile"), p)
        {
            return Some(e);
        }
    }
    let e = &t.exec;
    if let Err(m) = crate::core::ExecMode::parse(&e.mode) {
        return Some(("tools.exec.mode".into(), m));
    }
    if !matches!(e.sandbox.as_str(), "enforce" | "degraded") {
        return Some((
            "tools.exec.sandbox".into(),
            format!("{:?} is neither \"enforce\" nor \"degraded\"", e.sandbox),
        ));
    }
    for (k, v) in [
        ("tools.exec.timeout_secs", e.timeout_secs),
        ("tools.exec.max_timeout_secs", e.max_timeout_secs),
        ("tools.exec.max_output_bytes", e.max_output_bytes as u64),
        ("tools.exec.cpu_secs", e.cpu_secs),
        ("tools.exec.memory_mib", e.memory_mib),
        ("tools.exec.processes", e.processes),
        ("tools.exec.file_size_mib", e.file_size_mib),
        ("tools.exec.open_files", e.open_files),
        ("tools.approvals.timeout_secs", t.approvals.timeout_secs),
        ("tools.audit_retention_days", t.audit_retention_days),
    ] {
        if v == 0 {
            return Some((k.into(), "must be greater than 0".into()));
        }
    }
    if e.timeout_secs > e.max_timeout_secs {
        return Some((
            "tools.exec.timeout_secs".into(),
            format!(
                "{} is above max_timeout_secs ({})",
                e.timeout_secs, e.max_timeout_secs
            ),
        ));
    }
    if let Some(w) = &t.web_search {
        match (w.provider.as_str(), &w.base_url, &w.api_key) {
            ("searxng", None, _) => {
                return Some((
                    "tools.web_search.base_url".into(),
                    "SearXNG needs the instance's URL".into(),
                ));
            }
            ("brave", _, None) => {
                return Some((
                    "tools.web_search.api_key".into(),
                    "Brave needs a subscription token (a secret reference)".into(),
                ));
            }
            ("searxng" | "brave", _, _) => {}
            (p, _, _) => {
                return Some((
                    "tools.web_search.provider".into(),
                    format!("{p:?} is neither \"searxng\" nor \"brave\""),
                ));
            }
        }
        if !(1..=10).contains(&w.max_results) || w.timeout_secs == 0 {
            return Some((
                "tools.web_search".into(),
                "max_results must be 1-10 and timeout_secs above 0".into(),
            ));
        }
    }
    for (i, target) in t.message_targets.iter().enumerate() {
        if target
            .split_once(':')
            .is_none_or(|(c, p)| c.is_empty() || p.is_empty())
        {
            return Some((
                format!("tools.message_targets[{i}]"),
                format!("{target:?} is not `channel:peer` (or `channel:*`)"),
            ));
        }
    }
    for (i, target) in t.approvals.targets.iter().enumerate() {
        if target.splitn(3, ':').filter(|p| !p.is_empty()).count() != 3 {
            return Some((
                format!("tools.approvals.targets[{i}]"),
                format!("{target:?} is not `channel:account:peer` (e.g. \"telegram:default:42\")"),
            ));
        }
    }
    None
}

/// The first problem with `[cron]` and `[heartbeat]`, as (key, message).
pub(super) fn check_automation(c: &CronConfig, h: &HeartbeatConfig) -> Option<(String, String)> {
    if c.turn_timeout_secs == 0 {
        return Some((
            "cron.turn_timeout_secs".into(),
            "must be greater than 0".into(),
        ));
    }
    if let Err(e) = crate::cron::parse_heartbeat_every(&h.every) {
        return Some(("heartbeat.every".into(), e.to_string()));
    }
    if let Some(a) = &h.active_hours {
        let zone = crate::cron::Zone::named(a.timezone.as_deref().unwrap_or(""));
        let checked = zone
            .map_err(|e| ("heartbeat.active_hours.timezone", e.to_string()))
            .and_then(|z| {
                crate::cron::ActiveHours::parse(&a.start, &a.end, z)
                    .map_err(|e| ("heartbeat.active_hours", e.to_string()))
            });
        if let Err((k, m)) = checked {
            return Some((k.into(), m));
        }
    }
    if h.target != "last"
        && h.target
            .split_once(':')
            .is_none_or(|(c, p)| c.is_empty() || p.is_empty())
    {
        return Some((
            "heartbeat.target".into(),
            format!("{:?} is neither \"last\" nor `channel:peer`", h.target),
        ));
    }
    None
}
