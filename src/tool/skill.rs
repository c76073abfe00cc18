//! Skills for an agent: the catalog of its workspace's `skills/` (read through the
//! race-free [`Workspace`]), the managed directory and the bundled skills
//! ([`crate::skills`]), the `<available_skills>` block of its system prompt, and the
//! `skill` tool that reads a skill's body on demand.

use super::fs::str_arg;
use super::{Tool, ToolCtx, ToolError};
use crate::core::ToolSpec;
use crate::skills::{Catalog, Host, LoadOptions, PromptOptions, Roots, SkillFs, StdFs};
use crate::workspace::{EntryKind, Workspace};
use serde_json::{Value, json};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// The folder of the workspace that holds its skills.
const SKILLS_DIR: &str = "skills";

/// [`SkillFs`] over the workspace's `skills/`: no symlink is followed (a linked skill
/// folder is not loaded), and locations are workspace-relative so `read` can open them.
struct WorkspaceSkills(Arc<Workspace>);

impl WorkspaceSkills {
    fn rel(rel: &str) -> String {
        if rel.is_empty() {
            SKILLS_DIR.to_string()
        } else {
            format!("{SKILLS_DIR}/{rel}")
        }
    }
}

impl SkillFs for WorkspaceSkills {
    fn list_dirs(&self, rel: &str) -> io::Result<Vec<String>> {
        Ok(self
            .0
            .read_dir(&Self::rel(rel))?
            .into_iter()
            .filter(|e| e.kind == EntryKind::Dir)
            .map(|e| e.name)
            .collect())
    }

    fn read(&self, rel: &str, max_bytes: u64) -> io::Result<Vec<u8>> {
        Ok(self.0.read(&Self::rel(rel), max_bytes)?)
    }

    fn display(&self, rel: &str) -> String {
        Self::rel(rel)
    }
}

/// Where an agent's skills come from; [`SkillSetup::catalog`] reads them afresh, so a
/// skill added to the workspace is seen at the next turn.
#[derive(Clone)]
pub struct SkillSetup {
    /// The agent's workspace.
    pub workspace: Arc<Workspace>,
    /// The managed directory (`[skills] managed_dir`), if any.
    pub managed: Option<PathBuf>,
    /// Limits and config rules.
    pub options: LoadOptions,
    /// The `PATH` gating looks for binaries on: the one commands run with.
    pub path: String,
}

impl SkillSetup {
    /// The catalog as the files are now; problems are in [`Catalog::problems`].
    pub fn catalog(&self) -> Catalog {
        let roots = Roots {
            workspace: Some(Arc::new(WorkspaceSkills(self.workspace.clone()))),
            managed: self
                .managed
                .as_ref()
                .map(|d| Arc::new(StdFs::new(d.clone())) as Arc<dyn SkillFs>),
        };
        let mut host = Host::current();
        host.path = std::env::split_paths(&self.path).collect();
        let cat = Catalog::open(roots, &host, &self.options);
        for p in cat.problems() {
            tracing::warn!("skill not loaded: {p}");
        }
        cat
    }

    /// The system prompt's `<available_skills>` block (empty when no skill is offered).
    pub fn prompt_block(&self) -> String {
        self.catalog().prompt_block(&PromptOptions::default())
    }
}

/// `skill`: returns a skill's instructions.
pub struct SkillTool {
    setup: SkillSetup,
}

impl SkillTool {
    /// The tool over `setup`.
    pub fn new(setup: SkillSetup) -> Self {
        Self { setup }
    }
}

impl Tool for SkillTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "skill".into(),
            description: "Read the instructions of one of the available skills (by name or \
                location) before doing a task it covers."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The skill's name or location."}
                },
                "required": ["name"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, _ctx: &ToolCtx, args: &Value) -> Result<String, ToolError> {
        let name = str_arg(args, "name")?;
        let body = self
            .setup
            .catalog()
            .read_body(name)
            .map_err(|e| ToolError::InvalidArgs(e.to_string()))?;
        let mut text = body.text;
        if body.truncated {
            text.push_str("\n[the rest of this skill was cut: it is over the size limit]");
        }
        Ok(text)
    }
}
