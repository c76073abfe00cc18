//! Building the agents' tools from `[tools]`: the built-ins on each agent's workspace,
//! `exec`/`process` in the sandbox, the MCP servers' tools, and each agent's policy; the
//! approvals broker they ask.

use super::{DaemonError, io};
use crate::agent::context;
use crate::config::{Config, PolicyLayer};
use crate::core::{ExecMode, Origin};
use crate::mcp::McpHub;
use crate::router::{ApprovalBroker, ApprovalOptions, DispatcherLink};
use crate::sandbox;
use crate::scheduler::{DispatchBackend, HeartbeatOptions, Scheduler, SchedulerLink};
use crate::storage::Store;
use crate::tool::cron::CronTool;
use crate::tool::exec::{ExecOptions, ExecTool, Jobs, ProcessTool};
use crate::tool::policy::{Layer, Policy, Profile};
use crate::tool::sessions::{
    Conversations, MessageTool, SessionsHistoryTool, SessionsListTool, SessionsSendTool,
};
use crate::tool::skill::{SkillSetup, SkillTool};
use crate::tool::web_search::{
    BRAVE_BASE_URL, DEFAULT_SNIPPET_CHARS, SearchProvider, WebSearchOptions, WebSearchTool,
};
use crate::tool::{BuiltinOptions, Registry, builtin_registry, web_fetch::WebFetchOptions};
use crate::workspace::Workspace;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What every agent's tools share: the approvals broker, the background jobs, and the
/// late-bound links to the dispatcher and the scheduler (built after the tools).
#[derive(Clone)]
pub struct ToolKit {
    /// Where approval requests go.
    pub approvals: ApprovalBroker,
    /// Background jobs of `exec`, all agents.
    pub jobs: Jobs,
    /// The dispatcher, for `message` and the session tools.
    pub link: DispatcherLink,
    /// The scheduler, for the `cron` tool.
    pub cron: SchedulerLink,
}

/// The direct chats approval requests go to: `[tools.approvals] targets`, else every
/// owner (each `allow_from` entry but `*` of each configured channel account).
pub fn approval_targets(cfg: &Config) -> Vec<Origin> {
    let dm = |channel: &str, account: &str, peer: &str| Origin {
        account: account.to_string(),
        peer: peer.to_string(),
        ..Origin::gateway(channel)
    };
    if !cfg.tools.approvals.targets.is_empty() {
        return cfg
            .tools
            .approvals
            .targets
            .iter()
            .filter_map(|t| {
                let mut p = t.splitn(3, ':');
                Some(dm(p.next()?, p.next()?, p.next()?))
            })
            .collect();
    }
    super::channels::gate_options(cfg)
        .accounts
        .iter()
        .flat_map(|((channel, account), a)| {
            a.allow_from
                .iter()
                .filter(|p| p.as_str() != "*")
                .map(move |p| dm(channel, account, p))
        })
        .collect()
}

/// Logs whether `exec` can run here: a warning naming the reason and the fix when the
/// sandbox is missing what its mode needs (the tool then refuses every call with the same
/// message).
pub fn report_sandbox(cfg: &Config) {
    if !cfg.tools.exec.enabled {
        return;
    }
    let mode = if cfg.tools.exec.sandbox == "degraded" {
        sandbox::Mode::Degraded
    } else {
        sandbox::Mode::Enforce
    };
    let probe = sandbox::probe();
    match probe.check(mode) {
        Ok(()) if mode == sandbox::Mode::Degraded => tracing::warn!(
            "exec runs degraded (tools.exec.sandbox = \"degraded\"): commands are not confined to the workspace"
        ),
        Ok(()) => tracing::info!("exec sandbox: {probe:?}"),
        Err(e) => tracing::warn!("{e}"),
    }
}

/// The shared kit: a broker over `store` (made inside the runtime) and no jobs yet.
pub fn kit(cfg: &Config, store: &Store) -> ToolKit {
    let approvals = ApprovalBroker::new(
        store.clone(),
        ApprovalOptions {
            timeout_ms: cfg.tools.approvals.timeout_secs * 1000,
            targets: approval_targets(cfg),
        },
    );
    // `message` may write to the owners and the configured targets.
    let mut allowed: std::collections::BTreeSet<String> = approval_targets(cfg)
        .into_iter()
        .map(|o| format!("{}:{}", o.channel, o.peer))
        .collect();
    allowed.extend(cfg.tools.message_targets.iter().cloned());
    ToolKit {
        approvals,
        jobs: Jobs::new(),
        link: DispatcherLink::new(allowed),
        cron: SchedulerLink::default(),
    }
}

fn layer(l: &PolicyLayer) -> Layer {
    Layer {
        profile: l.profile.as_deref().and_then(|p| Profile::parse(p).ok()),
        allow: l.allow.clone(),
        also_allow: l.also_allow.clone(),
        deny: l.deny.clone(),
    }
}

/// Agent `id`'s tool policy: `[tools]` and its `[agents.<id>.tools]` layer.
pub fn policy(cfg: &Config, id: &str) -> Policy {
    let t = &cfg.tools;
    let profile = |p: &str, or: Profile| Layer::profile(Profile::parse(p).unwrap_or(or));
    Policy {
        global: Layer {
            profile: None,
            allow: t.allow.clone(),
            also_allow: Vec::new(),
            deny: t.deny.clone(),
        },
        agent: cfg
            .agents
            .get(id)
            .and_then(|a| a.tools.as_ref())
            .map(layer)
            .unwrap_or_default(),
        by_channel: t
            .by_channel
            .iter()
            .map(|(k, l)| (k.clone(), layer(l)))
            .collect(),
        by_sender: t
            .by_sender
            .iter()
            .map(|(k, l)| (k.clone(), layer(l)))
            .collect(),
        direct: Layer {
            also_allow: t.also_allow.clone(),
            ..profile(&t.profile, Profile::Coding)
        },
        group: Layer {
            also_allow: t.also_allow.clone(),
            ..profile(&t.group_profile, Profile::Messaging)
        },
    }
}

/// Agent `id`'s skills over `ws`, or `None` when `[skills] enabled = false`.
pub fn skills(cfg: &Config, ws: &Arc<Workspace>, data_dir: &Path) -> Option<SkillSetup> {
    let s = &cfg.skills;
    if !s.enabled {
        return None;
    }
    let set = |v: &[String]| v.iter().cloned().collect();
    Some(SkillSetup {
        workspace: ws.clone(),
        managed: Some(
            s.managed_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("skills")),
        ),
        options: crate::skills::LoadOptions {
            limits: crate::skills::Limits::default(),
            policy: crate::skills::Policy {
                disabled: set(&s.disabled),
                allow_bundled: s.allow_bundled.as_deref().map(set),
                only: None,
            },
        },
        path: crate::tool::exec::analyze::SANDBOX_PATH.into(),
    })
}

/// The heartbeat's options from `[heartbeat]` (validated at load), `None` when off.
fn heartbeat(cfg: &Config) -> Option<HeartbeatOptions> {
    let h = &cfg.heartbeat;
    let every_ms = crate::cron::parse_heartbeat_every(&h.every)
        .ok()
        .flatten()?;
    let active = h.active_hours.as_ref().and_then(|a| {
        let zone = crate::cron::Zone::named(a.timezone.as_deref().unwrap_or("")).ok()?;
        crate::cron::ActiveHours::parse(&a.start, &a.end, zone).ok()
    });
    Some(HeartbeatOptions {
        every_ms,
        active,
        ack_max_chars: h.ack_max_chars,
        target: h
            .target
            .split_once(':')
            .map(|(c, p)| (c.to_string(), p.to_string())),
        prompt: crate::cron::DEFAULT_HEARTBEAT_PROMPT.to_string(),
    })
}

/// Starts the scheduler (cron jobs and the heartbeat) on the main agent's workspace when
/// `[cron] enabled`, binds the `cron` tool to it, and prunes the audit ledger daily.
pub async fn start_scheduler(
    cfg: &Config,
    dispatcher: &crate::router::Dispatcher,
    ws: &Arc<Workspace>,
    kit: &ToolKit,
    shutdown: &tokio_util::sync::CancellationToken,
) {
    let retention_ms = cfg.tools.audit_retention_days * 86_400_000;
    let (d, stop) = (dispatcher.clone(), shutdown.clone());
    tokio::spawn(async move {
        loop {
            let before = crate::core::now_ms().saturating_sub(retention_ms);
            match d.audit_prune(before).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!("audit ledger: {n} entries older than the retention removed")
                }
                Err(e) => tracing::warn!("audit ledger: cannot prune: {e}"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(86_400)) => {}
            }
        }
    });
    if !cfg.cron.enabled {
        return;
    }
    let backend = DispatchBackend {
        dispatcher: dispatcher.clone(),
        workspace: ws.clone(),
        heartbeat: heartbeat(cfg),
        turn_timeout: Duration::from_secs(cfg.cron.turn_timeout_secs),
    };
    let s = Scheduler::open(backend).await;
    kit.cron.attach(&s);
    tracing::info!(
        jobs = s.list().len(),
        heartbeat = s.has_heartbeat(),
        "scheduler started"
    );
    tokio::spawn(s.run(shutdown.child_token()));
}

/// `web_search`'s options from `[tools.web_search]` (the key resolved now), `None` when unset.
///
/// # Errors
/// [`DaemonError::Config`] when the key's secret reference cannot be read.
fn web_search(cfg: &Config) -> Result<Option<WebSearchOptions>, DaemonError> {
    let Some(w) = &cfg.tools.web_search else {
        return Ok(None);
    };
    let provider = if w.provider == "brave" {
        let key = w
            .api_key
            .as_ref()
            .map(|k| k.resolve())
            .transpose()
            .map_err(|m| {
                crate::config::ConfigError::Secret(format!("tools.web_search.api_key: {m}"))
            })?;
        SearchProvider::Brave {
            api_key: key.unwrap_or_default(),
            base_url: w.base_url.clone().unwrap_or_else(|| BRAVE_BASE_URL.into()),
        }
    } else {
        SearchProvider::Searxng {
            base_url: w.base_url.clone().unwrap_or_default(),
        }
    };
    Ok(Some(WebSearchOptions {
        provider,
        max_results: w.max_results.clamp(1, 10),
        timeout: Duration::from_secs(w.timeout_secs),
        max_snippet_chars: DEFAULT_SNIPPET_CHARS,
    }))
}

/// Opens (creating it if needed) the workspace at `root`.
///
/// # Errors
/// [`DaemonError::Io`] naming the folder.
pub fn open_workspace(root: &Path) -> Result<Arc<Workspace>, DaemonError> {
    let ws =
        Workspace::open(root).map_err(io(format!("cannot open workspace {}", root.display())))?;
    Ok(Arc::new(ws))
}

/// `exec`'s options for an agent working in `workspace`.
fn exec_options(cfg: &Config, workspace: &Path, data_dir: &Path, id: &str) -> ExecOptions {
    let e = &cfg.tools.exec;
    ExecOptions {
        workspace: workspace.to_path_buf(),
        tmp_root: data_dir.join("tmp").join(id),
        mode: ExecMode::parse(&e.mode).unwrap_or_default(),
        sandbox: if e.sandbox == "degraded" {
            sandbox::Mode::Degraded
        } else {
            sandbox::Mode::Enforce
        },
        network: e.network,
        limits: sandbox::Limits {
            cpu_secs: e.cpu_secs,
            address_space_bytes: e.memory_mib << 20,
            processes: e.processes,
            file_size_bytes: e.file_size_mib << 20,
            open_files: e.open_files,
        },
        timeout: Duration::from_secs(e.timeout_secs),
        max_timeout: Duration::from_secs(e.max_timeout_secs),
        yield_after: Duration::from_millis(e.yield_ms),
        max_output_bytes: e.max_output_bytes,
        read_only: e.read_only.clone(),
    }
}

/// Agent `id`'s tools: the built-ins confined to `workspace` (seeded with the bootstrap
/// files first), `exec` and `process` when enabled, and the MCP servers' tools.
///
/// # Errors
/// [`DaemonError::Io`] when the workspace cannot be made or opened.
pub fn registry(
    cfg: &Config,
    id: &str,
    ws: &Arc<Workspace>,
    data_dir: &Path,
    mcp: &McpHub,
    kit: &ToolKit,
) -> Result<Registry, DaemonError> {
    let workspace = ws.root();
    context::seed_workspace(ws)
        .map_err(|e| io(format!("cannot seed workspace {}", workspace.display()))(e.into()))?;
    let web_fetch = cfg.tools.web_fetch.then(|| WebFetchOptions {
        allow_private: cfg.tools.web_fetch_allow_private,
        timeout: Duration::from_secs(cfg.tools.web_fetch_timeout_secs),
        max_bytes: cfg.tools.web_fetch_max_bytes,
    });
    let mut reg = builtin_registry(&BuiltinOptions {
        workspace: ws.clone(),
        web_fetch,
    });
    if cfg.tools.exec.enabled {
        let opts = exec_options(cfg, workspace, data_dir, id);
        // Commands a killed gateway left running (outside systemd, nothing else kills them).
        let swept = crate::tool::exec::sweep(&opts.tmp_root);
        if swept > 0 {
            tracing::warn!(
                agent = id,
                "killed {swept} command(s) left running by the last gateway"
            );
        }
        let approvals = Arc::new(kit.approvals.clone());
        reg.insert(Arc::new(ExecTool::new(opts, approvals, kit.jobs.clone())));
        reg.insert(Arc::new(ProcessTool::new(kit.jobs.clone())));
    }
    if let Some(setup) = skills(cfg, ws, data_dir) {
        reg.insert(Arc::new(SkillTool::new(setup)));
    }
    let talk: Arc<dyn Conversations> = Arc::new(kit.link.clone());
    reg.insert(Arc::new(MessageTool(talk.clone())));
    reg.insert(Arc::new(SessionsListTool(talk.clone())));
    reg.insert(Arc::new(SessionsHistoryTool(talk.clone())));
    reg.insert(Arc::new(SessionsSendTool(talk)));
    if cfg.cron.enabled {
        reg.insert(Arc::new(CronTool(Arc::new(kit.cron.clone()))));
    }
    if let Some(w) = web_search(cfg)? {
        reg.insert(Arc::new(WebSearchTool::new(w)));
    }
    for source in mcp.sources() {
        reg.add_source(source);
    }
    reg.ask_first(&cfg.tools.ask, Arc::new(kit.approvals.clone()));
    Ok(reg)
}
