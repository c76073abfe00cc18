//! `hearth memory search|status|reindex`. Each goes through the running gateway when one
//! answers (it owns the index writer); with no gateway running it opens the data dir's
//! store and index itself, so memory works offline and before the first start.

use super::Remote;
use super::client::{Client, target};
use crate::config::Config;
use crate::memory::{Memory, MemoryStatus, Mode, SearchOutcome};
use crate::storage::{Store, StoreOptions};
use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// `hearth memory …`.
#[derive(Debug, Subcommand)]
pub enum MemoryCmd {
    /// Search memory (hybrid: on-device embeddings + BM25).
    Search {
        /// What to look for.
        query: String,
        /// Most results.
        #[arg(long, default_value_t = 6)]
        max_results: usize,
        /// Drop results scoring below this (0–1).
        #[arg(long)]
        min_score: Option<f32>,
        /// `hybrid`, `vector` or `text`.
        #[arg(long, default_value = "hybrid")]
        mode: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Chunk, vector and index counts, index size, watermark and sources.
    Status {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Re-read every source and rebuild the text index and vectors from the store.
    Reindex {
        #[command(flatten)]
        remote: Remote,
    },
}

/// Where the command runs.
enum Via {
    Gateway(Box<Client>),
    Local(Arc<Memory>),
}

fn via(cfg: &Config, dir: &Path, remote: &Remote) -> Result<Via> {
    let explicit = remote.url.is_some();
    match Client::connect(&target(
        remote.url.as_deref(),
        remote.token.as_deref(),
        dir,
        cfg,
    )) {
        Ok(c) => Ok(Via::Gateway(Box::new(c))),
        Err(e) if explicit || crate::daemon::discovery_path(dir).exists() => {
            Err(e.context("the gateway did not answer (stop it cleanly, or pass --url)"))
        }
        Err(_) => {
            let store = Store::open(
                &dir.join("store"),
                StoreOptions {
                    map_size_bytes: cfg.storage.map_size_mib << 20,
                },
            )
            .with_context(|| format!("opening the store in {}", dir.display()))?;
            let root = crate::daemon::build::workspace_dir(cfg, dir);
            let ws = crate::workspace::Workspace::open(&root)
                .with_context(|| format!("opening the workspace {}", root.display()))?;
            let mem = crate::daemon::build::open_memory(cfg, dir, &store, Arc::new(ws))?
                .ok_or_else(|| anyhow!("memory is disabled ([memory] enabled = false)"))?;
            Ok(Via::Local(mem))
        }
    }
}

/// Runs one `memory` subcommand.
///
/// # Errors
/// Connection, store, index or embedder failures, with what and where.
pub fn run(cmd: MemoryCmd, cfg: &Config, dir: &Path) -> Result<()> {
    match cmd {
        MemoryCmd::Search {
            query,
            max_results,
            min_score,
            mode,
            json,
            remote,
        } => {
            let m: Mode = serde_json::from_value(json!(mode))
                .map_err(|_| anyhow!("--mode must be hybrid, vector or text"))?;
            let out: SearchOutcome = match via(cfg, dir, &remote)? {
                Via::Gateway(mut c) => {
                    let mut p = json!({"query": query, "maxResults": max_results, "mode": mode});
                    if let Some(s) = min_score {
                        p["minScore"] = json!(s);
                    }
                    let v = c.request("memory.search", p)?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&v)?);
                        return Ok(());
                    }
                    outcome_from(&v)?
                }
                Via::Local(mem) => {
                    mem.sync()?;
                    mem.index_pending(&mut |_, _| {})?;
                    let mut p = mem.options().search.clone();
                    p.max_results = max_results.max(1);
                    p.mode = m;
                    if let Some(s) = min_score {
                        p.min_score = s;
                    }
                    let out = mem.search(&query, &p)?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&out)?);
                        return Ok(());
                    }
                    out
                }
            };
            if let Some(n) = &out.note {
                eprintln!("note: {n}");
            }
            if out.results.is_empty() {
                println!("No memory matches {query:?}.");
            }
            for r in &out.results {
                println!("{:.3}  {}:{}-{}", r.score, r.path, r.start_line, r.end_line);
                for line in r.snippet.lines().take(6) {
                    println!("    {line}");
                }
            }
            Ok(())
        }
        MemoryCmd::Status { json, remote } => {
            let s: MemoryStatus = match via(cfg, dir, &remote)? {
                Via::Gateway(mut c) => {
                    serde_json::from_value(c.request("memory.status", json!({}))?)?
                }
                Via::Local(mem) => {
                    mem.sync()?;
                    mem.status()?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            println!("chunks      {}", s.chunks);
            println!("vectors     {}", s.vectors);
            println!(
                "text index  {} documents, {} bytes",
                s.text_docs, s.index_bytes
            );
            println!(
                "outbox      {} pending, watermark {}",
                s.pending, s.watermark
            );
            if let Some(n) = &s.note {
                println!("note        {n}");
            }
            println!("sources     {}", s.sources.len());
            for src in &s.sources {
                match &src.rejected {
                    Some(why) => println!("  {}: not indexed: {why}", src.path),
                    None => println!("  {}: {} chunks", src.path, src.chunks),
                }
            }
            Ok(())
        }
        MemoryCmd::Reindex { remote } => match via(cfg, dir, &remote)? {
            Via::Gateway(mut c) => {
                let sp = ProgressBar::new_spinner();
                sp.set_message("the gateway is rebuilding the memory index…");
                sp.enable_steady_tick(std::time::Duration::from_millis(120));
                let v = c.request("memory.reindex", json!({}));
                sp.finish_and_clear();
                println!("reindexed {} chunks", v?["indexed"]);
                Ok(())
            }
            Via::Local(mem) => {
                let bar = ProgressBar::new(0).with_style(
                    ProgressStyle::with_template("{bar:40} {pos}/{len} chunks ({eta} left)")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                let n = mem.reindex(&mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })?;
                bar.finish_and_clear();
                println!("reindexed {n} chunks");
                Ok(())
            }
        },
    }
}

fn outcome_from(v: &Value) -> Result<SearchOutcome> {
    let mode: Mode = serde_json::from_value(v["mode"].clone()).unwrap_or(Mode::Hybrid);
    let mut results = Vec::new();
    for r in v["results"].as_array().into_iter().flatten() {
        results.push(crate::memory::SearchResult {
            path: r["path"].as_str().unwrap_or_default().to_string(),
            start_line: r["startLine"].as_u64().unwrap_or(0) as u32,
            end_line: r["endLine"].as_u64().unwrap_or(0) as u32,
            score: r["score"].as_f64().unwrap_or(0.0) as f32,
            vector_score: r["vectorScore"].as_f64().map(|x| x as f32),
            text_score: r["textScore"].as_f64().map(|x| x as f32),
            snippet: r["snippet"].as_str().unwrap_or_default().to_string(),
            chunk_id: r["chunkId"].as_u64().unwrap_or(0),
        });
    }
    Ok(SearchOutcome {
        results,
        mode,
        note: v["note"].as_str().map(str::to_string),
    })
}
