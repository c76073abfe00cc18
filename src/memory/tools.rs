//! The agent's memory tools: `memory_search` (hybrid search → ranked snippets with source
//! path and lines) and `memory_get` (read a line range of a memory source), as OpenClaw
//! offers them (<https://docs.openclaw.ai/concepts/memory>).

use super::{MAX_GET_LINES, Memory, MemoryError};
use crate::core::ToolSpec;
use crate::tool::fs::{pos_arg, str_arg};
use crate::tool::{Tool, ToolError};
use serde_json::{Value, json};
use std::sync::Arc;

/// `memory_search`.
pub struct MemorySearchTool {
    memory: Arc<Memory>,
}

/// `memory_get`.
pub struct MemoryGetTool {
    memory: Arc<Memory>,
}

impl MemorySearchTool {
    /// The tool over `memory`.
    pub fn new(memory: Arc<Memory>) -> Self {
        Self { memory }
    }
}

impl MemoryGetTool {
    /// The tool over `memory`.
    pub fn new(memory: Arc<Memory>) -> Self {
        Self { memory }
    }
}

fn tool_err(e: MemoryError) -> ToolError {
    ToolError::InvalidArgs(format!("memory: {e}"))
}

impl Tool for MemorySearchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_search".into(),
            description: "Search long-term memory (MEMORY.md, memory/*.md notes and past \
                conversations) before answering questions about earlier work, decisions, \
                dates, people or preferences. Returns ranked snippets with path and lines; \
                use memory_get to read more."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for, in natural language."},
                    "maxResults": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Most results (default 6)."},
                    "minScore": {"type": "number", "minimum": 0, "maximum": 1, "description": "Drop results scoring below this (default 0.25)."}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let query = str_arg(args, "query")?;
        let mut params = self.memory.options().search.clone();
        if let Some(n) = pos_arg(args, "maxResults")? {
            params.max_results = n.clamp(1, 20);
        }
        if let Some(s) = args.get("minScore").and_then(Value::as_f64) {
            params.min_score = s.clamp(0.0, 1.0) as f32;
        }
        let out = self.memory.search(query, &params).map_err(tool_err)?;
        if out.results.is_empty() {
            return Ok(format!("No memory matches {query:?}."));
        }
        let mut text = String::new();
        if let Some(n) = &out.note {
            text.push_str(&format!("({n})\n"));
        }
        for r in &out.results {
            text.push_str(&format!(
                "[{}#L{}-L{}] score {:.2}\n{}\n\n",
                r.path, r.start_line, r.end_line, r.score, r.snippet
            ));
        }
        Ok(text.trim_end().to_string())
    }
}

impl Tool for MemoryGetTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_get".into(),
            description: "Read lines of a memory file or past conversation found by \
                memory_search (`path` as it printed, e.g. MEMORY.md or memory/2026-11-21.md)."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Source path from memory_search."},
                    "from": {"type": "integer", "minimum": 1, "description": "First line, 1-based (default 1)."},
                    "lines": {"type": "integer", "minimum": 1, "maximum": MAX_GET_LINES, "description": "How many lines (default 40)."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let path = str_arg(args, "path")?;
        let from = pos_arg(args, "from")?.unwrap_or(1);
        let lines = pos_arg(args, "lines")?.unwrap_or(40);
        self.memory.get(path, from, lines).map_err(tool_err)
    }
}
