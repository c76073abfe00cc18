//! Tools the agent may call: the [`Tool`] trait and the context every call runs in
//! ([`ToolCtx`]), the [`Registry`] built from config, the tool [`policy`], and the
//! built-ins — `read`, `write`, `edit`, `ls` (confined to the workspace by
//! [`crate::workspace::Workspace`]), `web_fetch` (timeout, size cap, no loopback/private
//! addresses unless allowed), and `exec`/`process` (commands in [`crate::sandbox`], gated
//! by approvals: [`exec`]).
//!
//! Tools are blocking; the agent runs them on a blocking thread. This module must not import
//! `agent`, `gateway` or `storage`.

pub mod ask;
pub mod cron;
pub mod ctx;
pub mod exec;
pub mod fs;
pub mod policy;
pub mod sessions;
pub mod skill;
pub mod web_fetch;
pub mod web_search;

pub use ctx::{Caller, ToolCtx};

use crate::core::ToolSpec;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A tool failure, returned to the model as the tool result text (the run goes on).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Arguments missing or of the wrong type.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// The path leaves the workspace (by `..`, an absolute path or a symlink).
    #[error("path {path:?} is outside the workspace")]
    OutsideWorkspace {
        /// The path as the model gave it.
        path: String,
    },
    /// A filesystem error, with the workspace-relative path.
    #[error("{path}: {source}")]
    Io {
        /// The path as the model gave it.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `web_fetch` refused or failed.
    #[error("web_fetch: {0}")]
    Fetch(String),
    /// No tool of that name is registered.
    #[error("unknown tool {0:?}")]
    Unknown(String),
    /// A tool served by another process (an MCP server) failed, timed out or is
    /// unreachable; the message names the server.
    #[error("{0}")]
    External(String),
    /// The call was refused: by the tool policy, an approval (denied or expired), the
    /// sandbox (missing kernel features), or the exec mode. The message says which.
    #[error("refused: {0}")]
    Denied(String),
    /// The run was aborted (or its deadline passed) while the tool ran; what it started
    /// was stopped.
    #[error("cancelled: the run was aborted")]
    Cancelled,
}

impl ToolError {
    /// The audit ledger's outcome for this error: `denied`, `cancelled` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::Cancelled => "cancelled",
            _ => "error",
        }
    }
}

impl From<crate::workspace::WorkspaceError> for ToolError {
    /// `Outside` stays [`ToolError::OutsideWorkspace`]; the rest keep their message
    /// (which names the path) as [`ToolError::Io`].
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        use crate::workspace::WorkspaceError as W;
        match e {
            W::Outside { path } => Self::OutsideWorkspace { path },
            W::Io { path, source } => Self::Io { path, source },
            other => {
                let path = other.path().to_string();
                let kind = match other {
                    W::NotFound { .. } => std::io::ErrorKind::NotFound,
                    W::TooLarge { .. } => std::io::ErrorKind::FileTooLarge,
                    _ => std::io::ErrorKind::InvalidInput,
                };
                let text = other.to_string();
                let msg = text
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(&text)
                    .to_string();
                Self::Io {
                    path,
                    source: std::io::Error::new(kind, msg),
                }
            }
        }
    }
}

impl ToolError {
    /// A [`ToolError::Io`] naming `path` as the model gave it.
    pub fn io(path: &str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// A callable tool: a spec offered to the model, and a blocking call.
pub trait Tool: Send + Sync {
    /// Name, description and JSON Schema of the arguments.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool with the model's arguments in `ctx` and returns the text handed back
    /// to it.
    ///
    /// # Errors
    /// A [`ToolError`], which the agent reports to the model as the result.
    fn call(&self, ctx: &ToolCtx, args: &serde_json::Value) -> Result<String, ToolError>;
}

/// Tools whose set changes while the gateway runs (an MCP server's list): asked for its
/// specs at every model call.
pub trait ToolSource: Send + Sync {
    /// The tools it offers now.
    fn specs(&self) -> Vec<ToolSpec>;

    /// Runs tool `name` in `ctx`, or `None` when the source has no tool of that name.
    fn call(
        &self,
        ctx: &ToolCtx,
        name: &str,
        args: &serde_json::Value,
    ) -> Option<Result<String, ToolError>>;
}

/// The set of tools offered to one agent, by name: fixed tools, then the tools of its
/// sources (a fixed tool wins a name clash).
#[derive(Clone, Default)]
pub struct Registry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
    sources: Vec<Arc<dyn ToolSource>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tool under its spec name.
    pub fn insert(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.spec().name, tool);
    }

    /// Adds a source of changing tools.
    pub fn add_source(&mut self, source: Arc<dyn ToolSource>) {
        self.sources.push(source);
    }

    /// Specs of every tool: the fixed ones sorted by name, then each source's in its order
    /// (names a fixed tool already has are left out).
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut out: Vec<ToolSpec> = self.tools.values().map(|t| t.spec()).collect();
        for s in &self.sources {
            out.extend(
                s.specs()
                    .into_iter()
                    .filter(|t| !self.tools.contains_key(&t.name)),
            );
        }
        out
    }

    /// Calls tool `name` in `ctx`.
    ///
    /// # Errors
    /// [`ToolError::Unknown`] for a name no tool or source has, else the tool's own error.
    pub fn call(
        &self,
        ctx: &ToolCtx,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<String, ToolError> {
        if let Some(t) = self.tools.get(name) {
            return t.call(ctx, args);
        }
        self.sources
            .iter()
            .find_map(|s| s.call(ctx, name, args))
            .unwrap_or_else(|| Err(ToolError::Unknown(name.to_string())))
    }

    /// Whether no tool is registered and no source is attached.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty() && self.sources.is_empty()
    }
}

/// What [`builtin_registry`] offers.
#[derive(Clone)]
pub struct BuiltinOptions {
    /// The workspace of `read`, `write`, `edit` and `ls`.
    pub workspace: Arc<crate::workspace::Workspace>,
    /// Limits for `web_fetch`; `None` leaves the tool out.
    pub web_fetch: Option<web_fetch::WebFetchOptions>,
}

/// A registry holding `read`, `write`, `edit` and `ls` over [`BuiltinOptions::workspace`],
/// plus `web_fetch` when [`BuiltinOptions::web_fetch`] is set.
pub fn builtin_registry(opts: &BuiltinOptions) -> Registry {
    let ws = opts.workspace.clone();
    let mut reg = Registry::new();
    reg.insert(Arc::new(fs::ReadTool::new(ws.clone())));
    reg.insert(Arc::new(fs::WriteTool::new(ws.clone())));
    reg.insert(Arc::new(fs::EditTool::new(ws.clone())));
    reg.insert(Arc::new(fs::LsTool::new(ws)));
    if let Some(wf) = &opts.web_fetch {
        reg.insert(Arc::new(web_fetch::WebFetchTool::new(wf.clone())));
    }
    reg
}
