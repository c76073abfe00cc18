//! The file tools `read`, `write`, `edit` and `ls`, each confined to a [`Workspace`].
//!
//! Every path argument is workspace-relative (absolute paths inside the workspace are
//! accepted too). Results are plain text for the model; failures are [`ToolError`]s whose
//! messages name the path as given. This module imports nothing of Hearth beyond `core`
//! and `tool`.

use super::{Tool, ToolError};
use crate::core::ToolSpec;
use crate::workspace::{EntryKind, Workspace};
use serde_json::{Value, json};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

/// Most bytes of file text `read` returns in one call: 256 KiB.
pub const READ_MAX_BYTES: usize = 256 * 1024;

/// Largest file `edit` will load: 16 MiB.
pub const EDIT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Most directory entries `ls` lists.
pub const LS_MAX_ENTRIES: usize = 1000;

/// Fetches a required string argument.
pub fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ToolError::InvalidArgs(format!("`{key}` must be a string"))),
        None => Err(ToolError::InvalidArgs(format!("missing `{key}`"))),
    }
}

/// Fetches an optional positive integer argument (`null` counts as absent).
pub fn pos_arg(args: &Value, key: &str) -> Result<Option<usize>, ToolError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            _ => Err(ToolError::InvalidArgs(format!(
                "`{key}` must be an integer >= 1"
            ))),
        },
    }
}

/// The error for a file that is not UTF-8 text.
fn not_text(path: &str) -> ToolError {
    let msg = "not a UTF-8 text file (binary or another encoding); these tools only handle text";
    ToolError::io(path, io::Error::new(io::ErrorKind::InvalidData, msg))
}

/// `read`: returns a text file's lines, optionally a window of them.
pub struct ReadTool {
    ws: Arc<Workspace>,
}

impl ReadTool {
    /// A `read` tool over `ws`.
    pub fn new(ws: Arc<Workspace>) -> Self {
        Self { ws }
    }
}

impl Tool for ReadTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read".into(),
            description: "Read a UTF-8 text file from the workspace. `path` is relative to the \
                workspace root. Returns at most 256 KiB; use `offset` (1-based first line) and \
                `limit` (number of lines) to page through larger files."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Workspace-relative file path."},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line to return, 1-based (default 1)."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Most lines to return (default: all, up to 256 KiB)."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let path = str_arg(args, "path")?;
        let offset = pos_arg(args, "offset")?.unwrap_or(1);
        let limit = pos_arg(args, "limit")?;
        let io_err = |e: io::Error| ToolError::io(path, e);
        let file = self.ws.open_read(path)?;
        if file.metadata().map_err(io_err)?.is_dir() {
            return Err(io_err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory; use `ls` to list it",
            )));
        }
        let mut reader = BufReader::new(file);
        if reader.fill_buf().map_err(io_err)?.contains(&0) {
            return Err(not_text(path));
        }

        let mut out = String::new();
        let mut line = Vec::new();
        let mut lineno = 0usize;
        let mut shown = 0usize;
        // Why output stopped early, as a notice for the model.
        let mut notice = None;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
                break;
            }
            lineno += 1;
            let text = std::str::from_utf8(&line).map_err(|_| not_text(path))?;
            if text.contains('\0') {
                return Err(not_text(path));
            }
            if lineno < offset {
                continue;
            }
            if limit.is_some_and(|l| shown >= l) {
                notice = Some(format!(
                    "[more lines follow; continue with offset={lineno}]"
                ));
                break;
            }
            if out.len() + text.len() > READ_MAX_BYTES {
                if shown == 0 {
                    // A single line longer than the cap: cut it at a char boundary.
                    let mut end = READ_MAX_BYTES;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    out.push_str(&text[..end]);
                    notice = Some(format!(
                        "[truncated: line {lineno} is longer than 256 KiB; only its start is shown]"
                    ));
                } else {
                    notice = Some(format!(
                        "[truncated at 256 KiB; continue with offset={lineno}]"
                    ));
                }
                break;
            }
            out.push_str(text);
            shown += 1;
        }
        if lineno == 0 {
            return Ok("[empty file]".into());
        }
        if offset > lineno {
            return Err(ToolError::InvalidArgs(format!(
                "offset {offset} is past the end of {path} ({lineno} lines)"
            )));
        }
        if let Some(n) = notice {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&n);
        }
        Ok(out)
    }
}

/// `write`: creates or replaces a file with the given content, atomically.
pub struct WriteTool {
    ws: Arc<Workspace>,
}

impl WriteTool {
    /// A `write` tool over `ws`.
    pub fn new(ws: Arc<Workspace>) -> Self {
        Self { ws }
    }
}

impl Tool for WriteTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write".into(),
            description: "Create or overwrite a file in the workspace with `content`. `path` is \
                relative to the workspace root; missing parent directories are created."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Workspace-relative file path."},
                    "content": {"type": "string", "description": "The complete new file content."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let path = str_arg(args, "path")?;
        let content = str_arg(args, "content")?;
        self.ws.write_atomic(path, content.as_bytes())?;
        Ok(format!("wrote {} bytes to {path}", content.len()))
    }
}

/// `edit`: replaces an exact string in a file.
pub struct EditTool {
    ws: Arc<Workspace>,
}

impl EditTool {
    /// An `edit` tool over `ws`.
    pub fn new(ws: Arc<Workspace>) -> Self {
        Self { ws }
    }
}

impl Tool for EditTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "edit".into(),
            description: "Replace an exact string in a workspace file. `path` is relative to \
                the workspace root. `old_string` must occur exactly once (include surrounding \
                lines to make it unique) unless `replace_all` is true."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Workspace-relative file path."},
                    "old_string": {"type": "string", "description": "Exact text to find, whitespace included."},
                    "new_string": {"type": "string", "description": "Replacement text."},
                    "replace_all": {"type": "boolean", "description": "Replace every occurrence (default false)."}
                },
                "required": ["path", "old_string", "new_string"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let path = str_arg(args, "path")?;
        let old = str_arg(args, "old_string")?;
        let new = str_arg(args, "new_string")?;
        let replace_all = match args.get("replace_all") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ToolError::InvalidArgs(
                    "`replace_all` must be a boolean".into(),
                ));
            }
        };
        if old.is_empty() {
            return Err(ToolError::InvalidArgs(
                "`old_string` must not be empty".into(),
            ));
        }
        if old == new {
            return Err(ToolError::InvalidArgs(
                "`old_string` and `new_string` are identical; nothing to do".into(),
            ));
        }
        let io_err = |e: io::Error| ToolError::io(path, e);
        let file = self.ws.open_read(path)?;
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(io_err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        if meta.len() > EDIT_MAX_BYTES {
            return Err(io_err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "file is larger than 16 MiB; edit refuses it",
            )));
        }
        let mut bytes = Vec::new();
        file.take(EDIT_MAX_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        let text = String::from_utf8(bytes).map_err(|_| not_text(path))?;
        let count = text.matches(old).count();
        if count == 0 {
            return Err(ToolError::InvalidArgs(format!(
                "`old_string` not found in {path}; it must match exactly, whitespace included"
            )));
        }
        if count > 1 && !replace_all {
            return Err(ToolError::InvalidArgs(format!(
                "`old_string` occurs {count} times in {path}; add surrounding context to make \
                 it unique, or set `replace_all`"
            )));
        }
        let updated = if replace_all {
            text.replace(old, new)
        } else {
            text.replacen(old, new, 1)
        };
        self.ws.write_atomic(path, updated.as_bytes())?;
        let noun = if count == 1 {
            "occurrence"
        } else {
            "occurrences"
        };
        Ok(format!("replaced {count} {noun} in {path}"))
    }
}

/// `ls`: lists a workspace directory.
pub struct LsTool {
    ws: Arc<Workspace>,
}

impl LsTool {
    /// An `ls` tool over `ws`.
    pub fn new(ws: Arc<Workspace>) -> Self {
        Self { ws }
    }
}

impl Tool for LsTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "ls".into(),
            description: "List a workspace directory: one entry per line, sorted, directories \
                with a trailing `/`, files with their size in bytes, symlinks with a trailing \
                `@`. `path` is relative to the workspace root (default `.`)."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Workspace-relative directory (default \".\")."}
                },
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &crate::tool::ToolCtx, args: &Value) -> Result<String, ToolError> {
        let path = match args.get("path") {
            None | Some(Value::Null) => ".",
            Some(_) => str_arg(args, "path")?,
        };
        let meta = self.ws.metadata(path)?;
        match meta.kind {
            EntryKind::Dir => {}
            EntryKind::Symlink => {
                return Err(crate::workspace::WorkspaceError::Symlink { path: path.into() }.into());
            }
            _ => return Ok(format!("{path} ({} bytes)", meta.len)),
        }
        let mut entries: Vec<(String, String)> = Vec::new();
        for entry in self.ws.read_dir(path)? {
            let name = entry.name.clone();
            let line = match entry.kind {
                EntryKind::Dir => format!("{name}/"),
                // The target is not shown: it may name host paths outside the workspace.
                EntryKind::Symlink => format!("{name}@"),
                _ => format!("{name} ({} bytes)", entry.len),
            };
            entries.push((name, line));
        }
        if entries.is_empty() {
            return Ok("[empty directory]".into());
        }
        entries.sort();
        let total = entries.len();
        let mut out: Vec<String> = entries
            .into_iter()
            .take(LS_MAX_ENTRIES)
            .map(|(_, l)| l)
            .collect();
        if total > LS_MAX_ENTRIES {
            out.push(format!(
                "[{} more entries not shown; {total} in all]",
                total - LS_MAX_ENTRIES
            ));
        }
        Ok(out.join("\n"))
    }
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
