//! Stage two of configuration: turning a validated [`Config`] into live objects — the
//! provider routes of the model chain, the tool registry, and the gateway token.
//!
//! It is also where the optional on-device models (cargo features `local-llm` and
//! `embedder`) are wired in or, in a build without them, replaced: a chain naming `local/…`
//! is refused with [`ConfigError::Unsupported`], and memory gets
//! [`crate::memory::NoEmbedder`] (BM25 only).
//! The rest of the daemon does not know which features it was built with.

use crate::config::{Config, ConfigError, ProviderKind};
use crate::core::{LoadedModels, ModelMemory};
use crate::memory::Embed;
use crate::provider::anthropic::AnthropicProvider;
use crate::provider::failover::{CooldownStore, ProfileHealth, Route};
use crate::provider::openai::OpenAiProvider;
use crate::provider::{AuthProfile, Provider, Secret};
use crate::storage::{ProfileState, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cooldowns kept in the LMDB `profiles` database.
pub struct StoreCooldowns(pub Store);

impl CooldownStore for StoreCooldowns {
    fn health(&self, id: &str) -> ProfileHealth {
        let st = self
            .0
            .read_txn()
            .and_then(|r| self.0.profile_state(&r, id))
            .unwrap_or_else(|e| {
                tracing::error!(profile = id, "cannot read cooldown state: {e}");
                ProfileState::default()
            });
        ProfileHealth {
            failures: st.failures,
            cooldown_until_ms: st.cooldown_until_ms,
            last_error: st.last_error,
        }
    }

    fn set_health(&self, id: &str, h: &ProfileHealth) {
        let st = ProfileState {
            failures: h.failures,
            cooldown_until_ms: h.cooldown_until_ms,
            last_error: h.last_error.clone(),
        };
        let r = self.0.write_txn().and_then(|mut w| {
            self.0.put_profile_state(&mut w, id, &st)?;
            self.0.commit(w)
        });
        if let Err(e) = r {
            tracing::error!(profile = id, "cannot store cooldown state: {e}");
        }
    }
}

/// The models directory: `[local] models_dir`, else `<data_dir>/models`.
pub fn models_dir(config: &Config, data_dir: &Path) -> PathBuf {
    config
        .local
        .models_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("models"))
}

/// The optional parts of Hearth and whether this binary has them (`hearth doctor` lists them).
pub const FEATURES: [(&str, bool); 7] = [
    ("local-llm", cfg!(feature = "local-llm")),
    ("embedder", cfg!(feature = "embedder")),
    ("telegram", cfg!(feature = "telegram")),
    ("mqtt", cfg!(feature = "mqtt")),
    ("matrix", cfg!(feature = "matrix")),
    ("discord", cfg!(feature = "discord")),
    ("slack", cfg!(feature = "slack")),
];

/// The cargo feature this build lacks to run models of `kind`, if any.
pub fn missing_feature(kind: crate::models::Kind) -> Option<&'static str> {
    use crate::models::Kind;
    match kind {
        Kind::Llm if !cfg!(feature = "local-llm") => Some("local-llm"),
        Kind::Embedding if !cfg!(feature = "embedder") => Some("embedder"),
        _ => None,
    }
}

/// The `local` route and its provider again, as a memory report.
type LocalRoute = (Route, Arc<dyn LoadedModels>);

/// The provider routes by name, and the on-device provider among them as a memory report.
pub struct Routes {
    /// One route per provider name.
    pub routes: BTreeMap<String, Route>,
    /// The `local` provider, for `status`'s loaded models (`None` without one).
    pub local: Option<Arc<dyn LoadedModels>>,
}

/// Builds one route per provider: `local` (every installed LLM manifest; only in a build with
/// the `local-llm` feature) plus each `[providers.NAME]` with its auth profiles resolved.
///
/// # Errors
/// [`ConfigError::Secret`] when a profile's key reference cannot be resolved;
/// [`ConfigError::Unsupported`] when the chain names `local/…` in a build without `local-llm`.
pub fn routes(config: &Config, models_dir: &Path) -> Result<Routes, ConfigError> {
    let mut routes = BTreeMap::new();
    let mut local_models = None;
    if let Some((local, models)) = local_route(config, models_dir)? {
        routes.insert("local".to_string(), local);
        local_models = Some(models);
    }
    for (name, p) in &config.providers {
        let provider: Arc<dyn Provider> = match p.kind {
            ProviderKind::Openai => Arc::new(OpenAiProvider::new(
                name.clone(),
                p.base_url.clone(),
                Vec::new(),
            )),
            ProviderKind::Anthropic => {
                Arc::new(AnthropicProvider::new(name.clone(), p.base_url.clone()))
            }
        };
        let mut profiles = Vec::new();
        for prof in &p.profiles {
            let api_key = match &prof.api_key {
                Some(r) => Some(Secret::new(r.resolve().map_err(|m| {
                    ConfigError::Secret(format!("providers.{name}.profiles.{}: {m}", prof.name))
                })?)),
                None => None,
            };
            profiles.push(AuthProfile {
                id: format!("{name}:{}", prof.name),
                api_key,
            });
        }
        if profiles.is_empty() {
            profiles.push(AuthProfile {
                id: format!("{name}:default"),
                api_key: None,
            });
        }
        routes.insert(
            name.clone(),
            Route {
                provider,
                profiles,
                context_window: p.context_window,
                tools: true,
            },
        );
    }
    Ok(Routes {
        routes,
        local: local_models,
    })
}

/// What the on-device models hold in memory, for the gateway's `status`: the local
/// provider's loaded LLM and memory's embedder, when each is built and loaded.
pub struct OnDevice {
    /// The local provider ([`Routes::local`]).
    pub local: Option<Arc<dyn LoadedModels>>,
    /// Memory's embedder.
    pub embedder: Option<Arc<dyn Embed>>,
}

impl LoadedModels for OnDevice {
    fn loaded_models(&self) -> Vec<ModelMemory> {
        let mut all = self
            .local
            .as_ref()
            .map(|l| l.loaded_models())
            .unwrap_or_default();
        all.extend(self.embedder.as_ref().and_then(|e| e.memory()));
        all
    }
}

/// The `local` route: every LLM the models directory knows (the catalogue and models pulled
/// by URL or `hf:` reference), run on-device; with the provider again as a memory report.
#[cfg(feature = "local-llm")]
fn local_route(config: &Config, models_dir: &Path) -> Result<Option<LocalRoute>, ConfigError> {
    use crate::provider::local::{LocalOptions, LocalProvider, QType};
    let mut model_paths = BTreeMap::new();
    for m in crate::models::catalogue(models_dir) {
        if m.kind == crate::models::Kind::Llm {
            // A missing model is not fatal at startup: the call fails with a message that
            // says which `hearth models pull` to run, and `hearth doctor` reports it.
            let path = crate::models::installed_path(models_dir, &m.name).unwrap_or_else(|| {
                crate::models::model_dir(models_dir, &m.name).join(&m.files[0].name)
            });
            model_paths.insert(m.name.clone(), path);
        }
    }
    let local = Arc::new(LocalProvider::new(LocalOptions {
        model_paths,
        threads: config.local.threads,
        context_window: config.local.context_window,
        requantize: match config.local.requantize {
            crate::config::Requantize::Q8_0 => Some(QType::Q8_0),
            crate::config::Requantize::None => None,
        },
        sampling: {
            let s = &config.local.sampling;
            crate::provider::local::Sampling {
                top_k: s.top_k,
                top_p: s.top_p,
                min_p: s.min_p,
                repeat_penalty: s.repeat_penalty,
                repeat_last_n: s.repeat_last_n,
                ..Default::default()
            }
        },
        stop: config.local.stop.clone(),
        tools: match config.local.tools {
            crate::config::LocalTools::Auto => crate::provider::local::ToolOffer::Auto,
            crate::config::LocalTools::Always => crate::provider::local::ToolOffer::Always,
            crate::config::LocalTools::Never => crate::provider::local::ToolOffer::Never,
        },
    }));
    let route = Route {
        provider: local.clone(),
        profiles: vec![AuthProfile {
            id: "local:default".into(),
            api_key: None,
        }],
        context_window: config.local.context_window,
        tools: true,
    };
    Ok(Some((route, local)))
}

/// A build without the on-device LLM has no `local` route; a chain that names one is refused.
#[cfg(not(feature = "local-llm"))]
fn local_route(config: &Config, _models_dir: &Path) -> Result<Option<LocalRoute>, ConfigError> {
    match config.agent.model.iter().find(|m| m.starts_with("local/")) {
        None => Ok(None),
        Some(m) => Err(ConfigError::Unsupported {
            key: "agent.model".into(),
            message: format!(
                "{m:?} needs the on-device LLM, which this build of hearth leaves out (cargo feature `local-llm`); name a model of a [providers.NAME] table instead, e.g. model = [\"openai/gpt-4o-mini\"], or install a build with `local-llm`"
            ),
        }),
    }
}

/// The gateway token: the configured reference, else `<data_dir>/gateway.token`, generated
/// (256 random bits, hex) with mode 0600 on first start.
///
/// # Errors
/// [`ConfigError::Secret`] for an unresolvable reference; an I/O error message otherwise.
pub fn gateway_token(config: &Config, data_dir: &Path) -> Result<String, ConfigError> {
    if let Some(r) = &config.gateway.token {
        return r
            .resolve()
            .map_err(|m| ConfigError::Secret(format!("gateway.token: {m}")));
    }
    let path = token_path(data_dir);
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let token = crate::core::random_hex(32).map_err(ConfigError::Secret)?;
    write_private(&path, token.as_bytes())
        .map_err(|e| ConfigError::Secret(format!("cannot write {}: {e}", path.display())))?;
    Ok(token)
}

/// `<data_dir>/gateway.token`.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("gateway.token")
}

/// Writes `data` to `path` with mode 0600 (created so, never briefly wider), atomically.
///
/// # Errors
/// The I/O error.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The agent workspace: `[agent] workspace`, else `<data_dir>/workspace`.
pub fn workspace_dir(config: &Config, data_dir: &Path) -> PathBuf {
    config
        .agent
        .workspace
        .clone()
        .unwrap_or_else(|| data_dir.join("workspace"))
}

/// Memory settings from `[memory]`, with the index under the data dir.
pub fn memory_options(
    config: &Config,
    data_dir: &Path,
    ws: Arc<crate::workspace::Workspace>,
) -> crate::memory::MemoryOptions {
    use crate::memory::{MemoryOptions, Mode, SearchParams, hybrid::Fusion};
    let m = &config.memory;
    MemoryOptions {
        workspace: ws,
        index_dir: crate::memory::index_dir(data_dir),
        sessions: m.sessions,
        chunk_tokens: m.chunk_tokens,
        chunk_overlap: m.chunk_overlap,
        max_file_bytes: m.max_file_bytes,
        search: SearchParams {
            mode: Mode::Hybrid,
            fusion: if m.search.fusion == "rrf" {
                Fusion::Rrf
            } else {
                Fusion::Weighted
            },
            vector_weight: m.search.vector_weight,
            text_weight: m.search.text_weight,
            max_results: m.search.max_results,
            min_score: m.search.min_score,
            mmr_lambda: m.search.mmr_lambda,
            decay_half_life_days: m.search.decay_half_life_days,
        },
    }
}

/// Opens long-term memory over `store` with the on-device embedder (loaded lazily, from
/// `<models dir>/<embedding_model>/`), or `None` when `[memory] enabled = false`. A missing
/// embedding model is logged, not fatal: keyword search works without it. A build without the
/// `embedder` feature gets keyword (BM25) memory, and says so once at startup.
///
/// # Errors
/// [`crate::memory::MemoryError`] if the store or the text index cannot be opened.
pub fn open_memory(
    config: &Config,
    data_dir: &Path,
    store: &Store,
    ws: Arc<crate::workspace::Workspace>,
) -> Result<Option<Arc<crate::memory::Memory>>, crate::memory::MemoryError> {
    if !config.memory.enabled {
        return Ok(None);
    }
    let model_dir = models_dir(config, data_dir).join(&config.memory.embedding_model);
    let embed = embedder(config, model_dir);
    let opts = memory_options(config, data_dir, ws);
    let mem = crate::memory::Memory::open(store.clone(), embed, opts)?;
    Ok(Some(Arc::new(mem)))
}

/// The on-device embedder over `model_dir`, loaded on first use.
#[cfg(feature = "embedder")]
fn embedder(config: &Config, model_dir: PathBuf) -> Arc<dyn Embed> {
    use crate::embed::{EmbedOptions, Embedder};
    if let Err(e) = Embedder::check_files(&model_dir) {
        tracing::warn!("memory: {e}; searching by keywords only until it is installed");
    }
    let mut eo = EmbedOptions::new(model_dir);
    eo.threads = config.local.threads;
    eo.idle_unload = (config.memory.embedder_idle_secs > 0)
        .then(|| std::time::Duration::from_secs(config.memory.embedder_idle_secs));
    Arc::new(Embedder::new(eo))
}

/// A build without the embedder: memory runs on keywords alone.
#[cfg(not(feature = "embedder"))]
fn embedder(_config: &Config, _model_dir: PathBuf) -> Arc<dyn Embed> {
    use crate::memory::NoEmbedder;
    tracing::info!("memory: {}", NoEmbedder::REASON);
    Arc::new(NoEmbedder)
}

/// Whether memory's embedding model is installed in `model_dir`.
///
/// # Errors
/// Which file is missing or unreadable.
#[cfg(feature = "embedder")]
pub fn check_embedder(model_dir: &Path) -> Result<(), String> {
    crate::embed::Embedder::check_files(model_dir).map_err(|e| e.to_string())
}

/// A build without the embedder cannot use any embedding model.
///
/// # Errors
/// Always: [`crate::memory::NoEmbedder::REASON`].
#[cfg(not(feature = "embedder"))]
pub fn check_embedder(_model_dir: &Path) -> Result<(), String> {
    Err(crate::memory::NoEmbedder::REASON.into())
}

/// Keeps memory in step with its sources on a background thread: every `interval` it
/// re-reads changed sources and applies pending index work, until `stop` is dropped or
/// sent to. The first pass runs at once.
pub fn spawn_indexer(
    memory: Arc<crate::memory::Memory>,
    interval: std::time::Duration,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("memory-indexer".into())
        .spawn(move || {
            loop {
                match memory.sync() {
                    Ok(r) if r.sources_changed > 0 => {
                        tracing::debug!(
                            changed = r.sources_changed,
                            added = r.added,
                            removed = r.removed,
                            "memory sources synced"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("memory sync failed: {e}"),
                }
                match memory.index_pending(&mut |_, _| {}) {
                    Ok(n) if n > 0 => tracing::debug!(ops = n, "memory indexed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("memory indexing failed (will retry): {e}"),
                }
                match rx.recv_timeout(interval) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the memory indexer thread: {e}"));
    (tx, handle)
}

/// The webhook settings from `[hooks]`, with the token resolved (`None` when off).
///
/// # Errors
/// [`ConfigError::Secret`] when the token reference cannot be read.
pub fn hooks(config: &Config) -> Result<Option<crate::gateway::HooksOptions>, ConfigError> {
    let h = &config.hooks;
    if !h.enabled {
        return Ok(None);
    }
    let token = super::channels::secret(h.token.as_ref(), "hooks.token")?;
    Ok(Some(crate::gateway::HooksOptions {
        token: token.into(),
        allow_request_session_key: h.allow_request_session_key,
    }))
}

/// The Ollama API options from `[ollama]` (`None` when it is off).
///
/// # Errors
/// [`ConfigError`] when `key` cannot be resolved.
pub fn ollama(
    config: &Config,
) -> Result<Option<crate::gateway::ollama::OllamaOptions>, ConfigError> {
    let o = &config.ollama;
    if !o.enabled {
        return Ok(None);
    }
    let key = match &o.key {
        Some(k) => Some(super::channels::secret(Some(k), "ollama.key")?.into()),
        None => None,
    };
    Ok(Some(crate::gateway::ollama::OllamaOptions {
        key,
        conversations: std::sync::Arc::new(
            crate::gateway::ollama::conversations::Conversations::new(
                std::time::Duration::from_secs(o.conversation_idle_mins.max(1) * 60),
            ),
        ),
        started_ms: crate::core::now_ms(),
    }))
}

/// Hearth's MCP server from `[mcp_server]` (`None` when it is off).
///
/// # Errors
/// [`ConfigError`] when the token cannot be resolved.
pub fn mcp_server(
    config: &Config,
) -> Result<Option<crate::gateway::McpServerOptions>, ConfigError> {
    let m = &config.mcp_server;
    if !m.enabled {
        return Ok(None);
    }
    let token = super::channels::secret(m.token.as_ref(), "mcp_server.token")?;
    Ok(Some(crate::gateway::McpServerOptions {
        token: token.into(),
        agent: m.agent.clone().unwrap_or_else(|| "main".into()),
        ask_timeout: std::time::Duration::from_secs(m.ask_timeout_secs),
        sessions: Default::default(),
    }))
}
