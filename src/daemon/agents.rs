//! Building agents from configuration: `main` from `[agent]`, and one more per
//! `[agents.<id>]`, each with its own workspace (seeded), model chain and tools, sharing the
//! providers (one on-device model in memory, whichever agent calls it) and the cooldowns.

use super::{DaemonError, build};
use crate::agent::{Agent, AgentOptions};
use crate::config::{Config, ConfigError};
use crate::mcp::McpHub;
use crate::provider::failover::{CallParams, Chain, ModelRef, Route};
use crate::storage::Store;
use crate::workspace::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The options of agent `id` whose workspace is `workspace` (the rest from `[agent]`).
pub fn options(cfg: &Config, id: &str, workspace: Arc<Workspace>, data_dir: &Path) -> AgentOptions {
    let a = &cfg.agent;
    AgentOptions {
        skills: super::tools::skills(cfg, &workspace, data_dir),
        id: id.to_string(),
        workspace,
        max_steps: a.max_steps,
        run_timeout: Duration::from_secs(a.run_timeout_secs),
        call: CallParams {
            tools: Vec::new(),
            max_tokens: a.max_tokens,
            temperature: a.temperature,
            seed: a.seed,
            timeout: Duration::from_secs(a.model_timeout_secs),
        },
        bootstrap_max_chars: a.bootstrap_max_chars,
        compaction_threshold: a.compaction_threshold,
        compaction_keep_turns: a.compaction_keep_turns,
        memory_flush: a.memory_flush,
        prune_tool_result_chars: a.prune_tool_result_chars,
        policy: super::tools::policy(cfg, id),
    }
}

/// The model chain `models` over `routes`; `key` names the setting in errors.
///
/// # Errors
/// [`ConfigError::Invalid`] when the chain cannot be built.
pub fn chain(
    routes: &BTreeMap<String, Route>,
    models: &[String],
    store: &Store,
    key: &str,
    file: Option<PathBuf>,
) -> Result<Chain, ConfigError> {
    let models: Vec<ModelRef> = models
        .iter()
        .filter_map(|m| ModelRef::parse(m).ok())
        .collect();
    Chain::new(
        routes.clone(),
        models,
        Arc::new(build::StoreCooldowns(store.clone())),
    )
    .map_err(|message| ConfigError::Invalid {
        file: file.unwrap_or_default(),
        line: None,
        key: key.into(),
        message,
    })
}

/// One [`Agent`] per `[agents.<id>]`. Their tools are the built-ins on their own
/// workspace and the MCP servers' tools; long-term memory (indexed from `main`'s workspace)
/// stays `main`'s.
///
/// # Errors
/// [`DaemonError`] for a workspace that cannot be made or a chain that cannot be built.
pub fn extra(
    cfg: &Config,
    data_dir: &Path,
    store: &Store,
    routes: &BTreeMap<String, Route>,
    file: Option<PathBuf>,
    mcp: &McpHub,
    kit: &super::tools::ToolKit,
) -> Result<Vec<(String, Agent)>, DaemonError> {
    let mut out = Vec::new();
    for (id, e) in &cfg.agents {
        let ws = e
            .workspace
            .clone()
            .unwrap_or_else(|| data_dir.join("agents").join(id).join("workspace"));
        let models = e.model.as_ref().unwrap_or(&cfg.agent.model);
        let key = format!("agents.{id}.model");
        let chain = chain(routes, models, store, &key, file.clone())?;
        let ws = super::tools::open_workspace(&ws)?;
        let agent = Agent::new(
            store.clone(),
            chain,
            super::tools::registry(cfg, id, &ws, data_dir, mcp, kit)?,
            options(cfg, id, ws, data_dir),
        );
        out.push((id.clone(), agent));
    }
    Ok(out)
}

/// What building the agents needs besides the config: shared by the start and a reload.
pub struct Parts<'a> {
    /// The data dir.
    pub data_dir: &'a Path,
    /// The store.
    pub store: &'a Store,
    /// The providers by name.
    pub routes: &'a BTreeMap<String, Route>,
    /// The config file, for error messages.
    pub file: Option<PathBuf>,
    /// The MCP servers.
    pub mcp: &'a McpHub,
    /// What the tools share.
    pub kit: &'a super::tools::ToolKit,
    /// `main`'s workspace.
    pub ws: &'a Arc<Workspace>,
    /// Long-term memory (its tools go to `main`).
    pub memory: Option<&'a Arc<crate::memory::Memory>>,
}

/// `main` (from `[agent]`, with memory's tools) and the agents of `[agents.*]`.
///
/// # Errors
/// [`DaemonError`] for a chain that cannot be built or a workspace that cannot be made.
pub fn all(cfg: &Config, p: &Parts<'_>) -> Result<(Agent, Vec<(String, Agent)>), DaemonError> {
    let chain = chain(
        p.routes,
        &cfg.agent.model,
        p.store,
        "agent.model",
        p.file.clone(),
    )?;
    let mut tools = super::tools::registry(cfg, "main", p.ws, p.data_dir, p.mcp, p.kit)?;
    if let Some(m) = p.memory {
        tools.insert(Arc::new(crate::memory::tools::MemorySearchTool::new(
            m.clone(),
        )));
        tools.insert(Arc::new(crate::memory::tools::MemoryGetTool::new(
            m.clone(),
        )));
    }
    let main = Agent::new(
        p.store.clone(),
        chain,
        tools,
        options(cfg, "main", p.ws.clone(), p.data_dir),
    );
    let others = extra(
        cfg,
        p.data_dir,
        p.store,
        p.routes,
        p.file.clone(),
        p.mcp,
        p.kit,
    )?;
    Ok((main, others))
}
