//! Typed configuration: the TOML schema with embedded defaults, the file search order,
//! validation with file/line/key errors, and secret references (`env:`, `file:`,
//! `credential:`). Imports nothing of Hearth but `core`.
//!
//! Stage one ([`load`]) parses and validates text into [`Config`]; stage two (the daemon)
//! turns it into live objects. A bare `hearth gateway` runs on [`Config::default`].

mod agents;
mod channels;
mod error;
mod local;
mod mcp;
mod outbox;
mod paths;
mod platforms;
mod queue;
mod secret;
mod tools;

pub use agents::AgentEntry;
pub use channels::{ChannelsConfig, HooksConfig, SessionConfig};
pub use error::{ConfigError, EX_CONFIG};
pub use local::{LocalConfig, LocalSampling, LocalTools, Requantize};
pub use mcp::{McpConfig, McpServerConfig, McpServerSide, OllamaConfig};
pub use outbox::OutboxConfig;
pub use paths::{default_data_dir, search_paths};
pub use platforms::{DiscordConfig, MatrixConfig, MqttConfig, SlackConfig, TelegramConfig};
pub use queue::QueueConfig;
pub use secret::SecretRef;
pub use tools::{
    ActiveHoursConfig, ApprovalsConfig, CronConfig, ExecConfig, HeartbeatConfig, PolicyLayer,
    SkillsConfig, ToolsConfig, WebSearchConfig,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration file. Every section and key has a default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where state lives; `None` means the platform default ([`default_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// The gateway listener and its auth.
    pub gateway: GatewayConfig,
    /// The agent loop.
    pub agent: AgentConfig,
    /// Remote providers by name; model refs use the name as prefix (`openai/gpt-4o-mini`).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The on-device model runtime.
    pub local: LocalConfig,
    /// Built-in tools, the tool policy, `exec` and approvals.
    pub tools: ToolsConfig,
    /// Skills.
    pub skills: SkillsConfig,
    /// Scheduled jobs.
    pub cron: CronConfig,
    /// The heartbeat.
    pub heartbeat: HeartbeatConfig,
    /// The LMDB store.
    pub storage: StorageConfig,
    /// Long-term memory: sources, chunking, the embedder and hybrid search.
    pub memory: MemoryConfig,
    /// Session lanes: queue mode, debounce, cap and drop policy, per channel too.
    pub queue: QueueConfig,
    /// Delivery of answers: retries, dead letters, retention.
    pub outbox: OutboxConfig,
    /// How conversations map to sessions (dmScope, identity links).
    pub session: SessionConfig,
    /// More agents beside `main`, each with its own workspace and model chain.
    pub agents: BTreeMap<String, AgentEntry>,
    /// Which channel conversations go to which agent (most specific first).
    pub bindings: Vec<crate::core::Binding>,
    /// Inbound webhooks.
    pub hooks: HooksConfig,
    /// Chat platforms (Telegram, …) and their access policies.
    pub channels: ChannelsConfig,
    /// MCP servers whose tools the agents may call.
    pub mcp: McpConfig,
    /// Hearth's own MCP server.
    pub mcp_server: McpServerSide,
    /// The Ollama API for Home Assistant.
    pub ollama: OllamaConfig,
}

/// `[gateway]`: the one port serving WebSocket and HTTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Bind address; non-loopback requires `auth = "token"`.
    pub bind: String,
    /// TCP port.
    pub port: u16,
    /// `"token"` (default) or `"none"` (loopback only).
    pub auth: AuthMode,
    /// Token source; unset means a generated token kept in `<data_dir>/gateway.token`.
    pub token: Option<SecretRef>,
    /// Concurrent WebSocket/HTTP connections accepted at once.
    pub max_connections: usize,
    /// Seconds between `tick` events on WebSocket connections.
    pub tick_secs: u64,
    /// Who may read `GET /metrics`.
    pub metrics: crate::core::metrics::MetricsAccess,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 18789,
            auth: AuthMode::Token,
            token: None,
            max_connections: 64,
            tick_secs: 30,
            metrics: crate::core::metrics::MetricsAccess::Token,
        }
    }
}

/// How clients authenticate to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A shared bearer token (WebSocket `connect.auth.token`, HTTP `Authorization: Bearer`).
    Token,
    /// No auth; refused on non-loopback binds.
    None,
}

/// `[agent]`: the agent loop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Ordered model chain of `provider/model` refs; later entries are fallbacks.
    pub model: Vec<String>,
    /// Workspace folder; `None` means `<data_dir>/workspace`.
    pub workspace: Option<PathBuf>,
    /// Model calls per run before it stops with an error.
    pub max_steps: u32,
    /// Whole-run deadline, seconds.
    pub run_timeout_secs: u64,
    /// Deadline of one model call, seconds.
    pub model_timeout_secs: u64,
    /// Runs executing at once across all sessions.
    pub max_concurrent_runs: usize,
    /// Upper bound of generated tokens per model call.
    pub max_tokens: u32,
    /// Sampling temperature; 0 = greedy.
    pub temperature: f32,
    /// Sampling seed.
    pub seed: u64,
    /// Cap per workspace bootstrap file (AGENTS.md, …), characters.
    pub bootstrap_max_chars: usize,
    /// Compact (summarise old turns) when the history's estimated tokens exceed this
    /// fraction of the smallest context window in the model chain.
    pub compaction_threshold: f32,
    /// Turns kept verbatim after a compaction (the rest are summarised).
    pub compaction_keep_turns: usize,
    /// Before compacting, ask the model for durable facts and append them to today's
    /// `memory/YYYY-MM-DD.md` (the memory flush).
    pub memory_flush: bool,
    /// Tool results longer than this many characters, outside the newest turn, are pruned
    /// to their head and tail before each model call.
    pub prune_tool_result_chars: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            model: vec!["local/smollm2-135m-instruct".into()],
            workspace: None,
            max_steps: 8,
            run_timeout_secs: 600,
            model_timeout_secs: 300,
            max_concurrent_runs: 4,
            max_tokens: 512,
            temperature: 0.0,
            seed: 299_792_458,
            bootstrap_max_chars: 20_000,
            compaction_threshold: 0.7,
            compaction_keep_turns: 2,
            memory_flush: true,
            prune_tool_result_chars: 2_000,
        }
    }
}

/// `[providers.NAME]`: one remote provider and its auth profiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Wire protocol.
    pub kind: ProviderKind,
    /// API base URL, e.g. `https://api.openai.com/v1` or `https://api.anthropic.com`.
    pub base_url: String,
    /// Auth profiles tried in order (OpenClaw: several keys per provider).
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    /// Context window of this provider's models, tokens.
    #[serde(default = "default_remote_window")]
    pub context_window: usize,
}

fn default_remote_window() -> usize {
    128_000
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible `/v1/chat/completions`.
    Openai,
    /// Anthropic Messages API.
    Anthropic,
}

/// `[[providers.NAME.profiles]]`: one credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Profile name, unique within the provider.
    pub name: String,
    /// API key reference; absent for servers that need none (llama.cpp, Ollama).
    #[serde(default)]
    pub api_key: Option<SecretRef>,
}

/// `[storage]`: the LMDB environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// LMDB map size, MiB (1024 on 64-bit, 256 on 32-bit by default).
    pub map_size_mib: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let mib = if cfg!(target_pointer_width = "64") {
            1024
        } else {
            256
        };
        Self { map_size_mib: mib }
    }
}

/// `[memory]`: long-term memory over the workspace notes and session transcripts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Index memory at all (the tools, `memory.search` and `/v1/embeddings` need it).
    pub enabled: bool,
    /// The embedding model (a name from `hearth models list`).
    pub embedding_model: String,
    /// Index session transcripts as well as the workspace's memory files.
    pub sessions: bool,
    /// Chunk size, estimated tokens (4 characters each).
    pub chunk_tokens: usize,
    /// Overlap between consecutive chunks, estimated tokens.
    pub chunk_overlap: usize,
    /// Files larger than this are not indexed (reported in `hearth memory status`), bytes.
    pub max_file_bytes: u64,
    /// How often sources are checked for changes, seconds.
    pub sync_interval_secs: u64,
    /// Unload the embedder after this many idle seconds (0: never).
    pub embedder_idle_secs: u64,
    /// Hybrid search defaults.
    pub search: MemorySearchConfig,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            embedding_model: "all-minilm-l6-v2".into(),
            sessions: true,
            chunk_tokens: 400,
            chunk_overlap: 80,
            max_file_bytes: 2 << 20,
            sync_interval_secs: 5,
            embedder_idle_secs: 300,
            search: MemorySearchConfig::default(),
        }
    }
}

/// `[memory.search]`: how vector and keyword results are merged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemorySearchConfig {
    /// `weighted` (normalised scores, weighted sum) or `rrf` (reciprocal-rank fusion).
    pub fusion: String,
    /// Weight of the vector (cosine) score.
    pub vector_weight: f32,
    /// Weight of the BM25 score (normalised by the best BM25 score of the query).
    pub text_weight: f32,
    /// Results returned.
    pub max_results: usize,
    /// Results scoring below this are dropped (0–1).
    pub min_score: f32,
    /// MMR trade-off between relevance (1.0) and diversity; `None` turns MMR off.
    pub mmr_lambda: Option<f32>,
    /// Half-life of dated notes and transcripts, days; `None` turns temporal decay off.
    pub decay_half_life_days: Option<f32>,
}

impl Default for MemorySearchConfig {
    fn default() -> Self {
        Self {
            fusion: "weighted".into(),
            vector_weight: 0.7,
            text_weight: 0.3,
            max_results: 6,
            min_score: 0.25,
            mmr_lambda: None,
            decay_half_life_days: None,
        }
    }
}

/// A loaded configuration and the file it came from (`None`: embedded defaults).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// The file read, if any.
    pub path: Option<PathBuf>,
}

/// Finds and loads the configuration: `explicit` (from `--config`) must exist; otherwise the
/// first existing file of [`search_paths`]; otherwise the embedded defaults.
///
/// # Errors
/// [`ConfigError`] naming the file, line and key of the first problem.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    if let Some(p) = explicit {
        return load_file(p).map(|config| Loaded {
            config,
            path: Some(p.to_path_buf()),
        });
    }
    for p in search_paths() {
        if p.is_file() {
            return load_file(&p).map(|config| Loaded {
                config,
                path: Some(p),
            });
        }
    }
    Ok(Loaded {
        config: Config::default(),
        path: None,
    })
}

/// Reads and validates one file.
///
/// # Errors
/// [`ConfigError::Read`] when it cannot be read, else as [`parse`].
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates TOML text; `file` is only used in messages.
///
/// # Errors
/// [`ConfigError::Syntax`] for TOML and type errors (with line, column and dotted key),
/// [`ConfigError::Invalid`] for values that parse but make no sense.
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| error::from_toml(&e, text, file))?;
    config
        .validate()
        .map_err(|(key, message)| ConfigError::Invalid {
            file: file.to_path_buf(),
            line: error::line_of_key(text, &key),
            key,
            message,
        })?;
    Ok(config)
}

impl Config {
    /// Checks values that parse but cannot work; returns `(dotted key, message)`.
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: String| Err((k.to_string(), m));
        if self.gateway.bind.parse::<std::net::IpAddr>().is_err() {
            return bad(
                "gateway.bind",
                format!("{:?} is not an IP address", self.gateway.bind),
            );
        }
        if let Some((k, m)) = self
            .queue
            .check()
            .or_else(|| self.outbox.check())
            .or_else(|| channels::check(&self.session, &self.hooks, &self.channels))
            .or_else(|| {
                agents::check(&self.agents, &self.bindings, &|p| {
                    self.providers.contains_key(p)
                })
            })
            .or_else(|| {
                mcp::check(&self.mcp, &self.mcp_server, &|a| {
                    a == "main" || self.agents.contains_key(a)
                })
            })
        {
            return bad(&k, m);
        }
        let m = &self.memory;
        if m.search.fusion != "weighted" && m.search.fusion != "rrf" {
            return bad(
                "memory.search.fusion",
                format!("{:?} is neither \"weighted\" nor \"rrf\"", m.search.fusion),
            );
        }
        for (k, v) in [
            ("memory.search.vector_weight", m.search.vector_weight),
            ("memory.search.text_weight", m.search.text_weight),
            ("memory.search.min_score", m.search.min_score),
            (
                "agent.compaction_threshold",
                self.agent.compaction_threshold,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(k, format!("{v} is outside 0.0–1.0"));
            }
        }
        if m.search.vector_weight + m.search.text_weight <= 0.0 {
            return bad(
                "memory.search",
                "vector_weight and text_weight are both 0".into(),
            );
        }
        if let Some(l) = m.search.mmr_lambda
            && !(0.0..=1.0).contains(&l)
        {
            return bad(
                "memory.search.mmr_lambda",
                format!("{l} is outside 0.0–1.0"),
            );
        }
        if let Some(h) = m.search.decay_half_life_days
            && (h.is_nan() || h <= 0.0)
        {
            return bad(
                "memory.search.decay_half_life_days",
                format!("{h} must be positive"),
            );
        }
        if m.chunk_tokens < 32 || m.chunk_overlap >= m.chunk_tokens {
            return bad(
                "memory.chunk_tokens",
                format!(
                    "chunk_tokens must be at least 32 and above chunk_overlap (got {} and {})",
                    m.chunk_tokens, m.chunk_overlap
                ),
            );
        }
        if self.gateway.max_connections == 0 {
            return bad("gateway.max_connections", "must be at least 1".into());
        }
        let has = |p: &str| self.providers.contains_key(p);
        if let Some((k, m)) = agents::check_chain("agent.model", &self.agent.model, &has) {
            return bad(&k, m);
        }
        for (k, v) in [
            ("agent.max_steps", self.agent.max_steps as u64),
            ("agent.run_timeout_secs", self.agent.run_timeout_secs),
            ("agent.model_timeout_secs", self.agent.model_timeout_secs),
            (
                "agent.max_concurrent_runs",
                self.agent.max_concurrent_runs as u64,
            ),
            ("agent.max_tokens", self.agent.max_tokens as u64),
            ("storage.map_size_mib", self.storage.map_size_mib as u64),
        ] {
            if v == 0 {
                return bad(k, "must be greater than 0".into());
            }
        }
        if !(0.0..=2.0).contains(&self.agent.temperature) {
            return bad(
                "agent.temperature",
                format!("{} is outside 0.0..=2.0", self.agent.temperature),
            );
        }
        if let Some((k, m)) = self.local.check() {
            return bad(&k, m);
        }
        let agent_layers: Vec<(String, &tools::PolicyLayer)> = self
            .agents
            .iter()
            .filter_map(|(id, a)| Some((format!("agents.{id}.tools"), a.tools.as_ref()?)))
            .collect();
        if let Some((k, m)) = tools::check(&self.tools, &agent_layers)
            .or_else(|| tools::check_automation(&self.cron, &self.heartbeat))
        {
            return bad(&k, m);
        }
        for (name, p) in &self.providers {
            if name == "local" || name.contains('/') || name.is_empty() {
                return bad(
                    &format!("providers.{name}"),
                    "provider names must be non-empty, without `/`, and not `local`".into(),
                );
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return bad(
                    &format!("providers.{name}.base_url"),
                    format!("{:?} is not an http(s) URL", p.base_url),
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for prof in &p.profiles {
                if !seen.insert(&prof.name) {
                    return bad(
                        &format!("providers.{name}.profiles"),
                        format!("profile {:?} appears twice", prof.name),
                    );
                }
            }
        }
        Ok(())
    }

    /// Resolved data directory: `override_dir` (from `--data-dir`), then `data_dir` from the
    /// file, then the platform default.
    pub fn data_dir(&self, override_dir: Option<&Path>) -> PathBuf {
        override_dir
            .map(Path::to_path_buf)
            .or_else(|| self.data_dir.clone())
            .unwrap_or_else(default_data_dir)
    }

    /// Renders the configuration as TOML with every secret reference kept as a reference
    /// (references are not secrets; resolved values never appear here).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
