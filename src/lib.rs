//! Hearth: a personal AI-agent gateway for small always-on boards.
//!
//! The crate is a library with a thin binary (`main.rs`). See `ARCHITECTURE.md` at the
//! repository root for the code map and the invariants each module holds.

pub mod agent;
pub mod channel;
pub mod cli;
pub mod config;
pub mod core;
pub mod cron;
pub mod daemon;
#[cfg(feature = "embedder")]
pub mod embed;
pub mod gateway;
/// Hearth's own decoder and GGUF reader (crates/llm).
pub use hearth_llm as llm;
pub mod mcp;
pub mod memory;
pub mod models;
pub mod provider;
pub mod router;
pub mod sandbox;
pub mod scheduler;
pub mod search;
pub mod service;
pub mod setup;
pub mod skills;
pub mod storage;
pub mod sysmem;
pub mod tool;
pub mod update;
pub mod workspace;
