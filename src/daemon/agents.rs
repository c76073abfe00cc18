//! Building agents from configuration: `main` from `[agent]`, and one more per
//! `[agents.<id>]`, each with its own workspace (seeded), model chain and tools, sharing the
//! providers (one on-device model in memory, whichever agent calls it) and the cooldowns.

use super::{DaemonError, build, io};
use crate::agent::{Agent, AgentOptions, context};
use crate::config::{Config, ConfigError};
use crate::mcp::McpHub;
use crate::provider::failover::{CallParams, Chain, ModelRef, Route};
use crate::storage::Store;
use crate::tool::{BuiltinOptions, Registry, builtin_registry, web_fetch::WebFetchOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The options of agent `id` whose workspace is `workspace` (the rest from `[agent]`).
pub fn options(cfg: &Config, id: &str, workspace: &Path) -> AgentOptions {
    let a = &cfg.agent;
    AgentOptions {
        id: id.to_string(),
        workspace: workspace.to_path_buf(),
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
    }
}

/// The built-in tools confined to `workspace` (seeded with the bootstrap files first), and
/// the tools of the MCP servers in `mcp`.
///
/// # Errors
/// [`DaemonError::Io`] when the workspace cannot be made or opened.
pub fn tools(cfg: &Config, workspace: &Path, mcp: &McpHub) -> Result<Registry, DaemonError> {
    context::seed_workspace(workspace)
        .map_err(io(format!("cannot seed workspace {}", workspace.display())))?;
    let web_fetch = cfg.tools.web_fetch.then(|| WebFetchOptions {
        allow_private: cfg.tools.web_fetch_allow_private,
        timeout: Duration::from_secs(cfg.tools.web_fetch_timeout_secs),
        max_bytes: cfg.tools.web_fetch_max_bytes,
    });
    let mut reg = builtin_registry(&BuiltinOptions {
        workspace: workspace.to_path_buf(),
        web_fetch,
    })
    .map_err(io(format!("cannot open workspace {}", workspace.display())))?;
    for source in mcp.sources() {
        reg.add_source(source);
    }
    Ok(reg)
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
        let agent = Agent::new(
            store.clone(),
            chain,
            tools(cfg, &ws, mcp)?,
            options(cfg, id, &ws),
        );
        out.push((id.clone(), agent));
    }
    Ok(out)
}
