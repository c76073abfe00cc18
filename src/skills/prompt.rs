//! Text views of a [`Catalog`]: the system prompt's `<available_skills>` block and the lines
//! of `hearth skills list`. Imports nothing of Hearth.

use super::{Catalog, Skill, Source};

/// How the prompt block is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptOptions {
    /// The tool the agent reads a skill with, named in the block's second line (OpenClaw:
    /// `read`; Hearth's `skill` tool).
    pub read_tool: String,
    /// The command named in the truncation note (OpenClaw: `openclaw skills check`).
    pub audit_command: String,
}

impl Default for PromptOptions {
    fn default() -> PromptOptions {
        PromptOptions {
            read_tool: "skill".to_string(),
            audit_command: "hearth skills list".to_string(),
        }
    }
}

/// Escapes `& < > " '` as OpenClaw's `escapeXml` does.
fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A description cut to the AgentSkills maximum for the prompt.
fn prompt_description(skill: &Skill) -> String {
    let max = super::frontmatter::DESCRIPTION_MAX_CHARS;
    let d = skill.description();
    if d.chars().count() <= max {
        d.to_string()
    } else {
        d.chars().take(max - 1).chain(['…']).collect()
    }
}

/// OpenClaw's `formatSkillsForPrompt` (`src/agents/skills/skill-contract.ts`), or its compact
/// form without descriptions; `""` for no skills.
fn format(skills: &[&Skill], options: &PromptOptions, compact: bool) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let mut lines = vec![
        "\n\nThe following skills provide specialized instructions for specific tasks.".to_string(),
        format!("Use the {} tool to load a skill's file when the task matches its description.", options.read_tool),
        "When a skill file references a relative path, resolve it against the skill directory (parent of SKILL.md / dirname of the path) and use that absolute path in tool commands.".to_string(),
        String::new(),
        "<available_skills>".to_string(),
    ];
    for skill in skills {
        lines.push("  <skill>".to_string());
        lines.push(format!("    <name>{}</name>", escape_xml(skill.name())));
        if !compact {
            lines.push(format!(
                "    <description>{}</description>",
                escape_xml(&prompt_description(skill))
            ));
        }
        lines.push(format!(
            "    <location>{}</location>",
            escape_xml(skill.location())
        ));
        lines.push("  </skill>".to_string());
    }
    lines.push("</available_skills>".to_string());
    lines.join("\n")
}

impl Catalog {
    /// The skills block for the system prompt: [`Catalog::prompt_skills`] in OpenClaw's
    /// `<available_skills>` shape (see the module docs), at most
    /// [`super::Limits::max_skills_in_prompt`] skills. When the block is over
    /// [`super::Limits::max_prompt_chars`] characters it drops the descriptions, then the
    /// skills past the longest prefix that fits, and a `⚠️` note line before the block says
    /// so, as OpenClaw's `applySkillsPromptLimits` does. `""` when no skill is offered.
    pub fn prompt_block(&self, options: &PromptOptions) -> String {
        let all: Vec<&Skill> = self.prompt_skills().collect();
        let max_chars = self.limits.max_prompt_chars;
        let by_count = &all[..all.len().min(self.limits.max_skills_in_prompt)];
        let combined = |subset: &[&Skill], compact: bool| {
            let audit = format!(" Run `{}` to audit.", options.audit_command);
            let note = if subset.len() < all.len() {
                let how = if compact {
                    " (compact format, descriptions omitted)"
                } else {
                    ""
                };
                format!(
                    "⚠️ Skills truncated: included {} of {}{how}.{audit}",
                    subset.len(),
                    all.len()
                )
            } else if compact {
                format!("⚠️ Skills catalog using compact format (descriptions omitted).{audit}")
            } else {
                String::new()
            };
            let block = format(subset, options, compact);
            if note.is_empty() {
                block
            } else {
                format!("{note}\n{block}")
            }
        };
        let fits = |text: &String| text.chars().count() <= max_chars;
        for compact in [false, true] {
            let text = combined(by_count, compact);
            if fits(&text) {
                return text;
            }
        }
        // The longest prefix of compact entries that fits (binary search; the length grows
        // with the prefix).
        let (mut lo, mut hi) = (0usize, by_count.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(&combined(&by_count[..mid], true)) {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        if lo == 0 {
            String::new()
        } else {
            combined(&by_count[..lo], true)
        }
    }

    /// The output of `hearth skills list`: a header, one aligned row per loaded skill
    /// (`NAME SOURCE STATUS`, status being `available`, `unavailable: <reasons>`,
    /// `disabled…` or `shadowed by <source>`, plus `; shadows <sources>` on a winner), an
    /// indented `warning:` line per warning, then one `error:` line per file that failed.
    pub fn list_lines(&self) -> Vec<String> {
        let mut rows: Vec<(String, &'static str, String, &Skill)> = Vec::new();
        for entry in &self.entries {
            let skill = &entry.skill;
            let status = match entry.shadowed_by {
                Some(by) => format!("shadowed by {by} ({})", entry.availability),
                None => {
                    let shadows: Vec<&str> = self
                        .entries
                        .iter()
                        .filter(|e| e.skill.name() == skill.name() && e.shadowed_by.is_some())
                        .map(|e| e.skill.source().as_str())
                        .collect();
                    if shadows.is_empty() {
                        entry.availability.to_string()
                    } else {
                        format!("{}; shadows {}", entry.availability, shadows.join(", "))
                    }
                }
            };
            rows.push((
                skill.name().to_string(),
                skill.source().as_str(),
                status,
                skill,
            ));
        }
        let name_w = rows
            .iter()
            .map(|r| r.0.chars().count())
            .max()
            .unwrap_or(0)
            .max("NAME".len());
        let source_w = Source::Workspace.as_str().len();
        let mut lines = vec![format!(
            "{:name_w$}  {:source_w$}  STATUS",
            "NAME", "SOURCE"
        )];
        if rows.is_empty() {
            lines.push("(no skills)".to_string());
        }
        for (name, source, status, skill) in &rows {
            lines.push(format!("{name:name_w$}  {source:source_w$}  {status}"));
            for w in skill.warnings() {
                lines.push(format!(
                    "  warning: {}:{}: {}",
                    skill.location(),
                    w.line,
                    w.message
                ));
            }
        }
        lines.extend(self.problems.iter().map(|p| format!("error: {p}")));
        lines
    }
}
