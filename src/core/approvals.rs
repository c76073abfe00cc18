//! Exec approvals and the audit ledger's records, as plain types.
//!
//! The approvals document has the shape of OpenClaw's `exec-approvals.json`, version 1
//! (<https://docs.openclaw.ai/tools/exec-approvals>; schema
//! `src/gateway/protocol/schema/exec-approvals.ts` in openclaw/openclaw): per agent an
//! allow-list of resolved-binary-path globs with an optional pinned argv regex, so a
//! document exported from one can be imported into the other. Hearth keeps it in LMDB and
//! leaves out the `socket` part (there is no separate approvals socket).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How `exec` is gated (OpenClaw's `tools.exec.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExecMode {
    /// Never run commands.
    Deny,
    /// Run allow-listed commands and safe bins; ask a human about the rest.
    #[default]
    Allowlist,
    /// Ask about every command (the allow-list is not consulted).
    Ask,
    /// Run everything without asking (still in the sandbox).
    Full,
}

impl ExecMode {
    /// Parses `deny` | `allowlist` | `ask` | `full`.
    ///
    /// # Errors
    /// The valid names.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "deny" => Ok(Self::Deny),
            "allowlist" => Ok(Self::Allowlist),
            "ask" => Ok(Self::Ask),
            "full" => Ok(Self::Full),
            _ => Err(format!(
                "unknown exec mode {s:?} (deny, allowlist, ask or full)"
            )),
        }
    }
}

/// A human's answer to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Run this once.
    AllowOnce,
    /// Run it, and add it to the agent's allow-list (binary and argv pinned).
    AllowAlways,
    /// Do not run it.
    Deny,
}

impl Decision {
    /// Parses a decision with OpenClaw's `/approve` aliases: `allow-once` (`allow`, `once`,
    /// `allowonce`), `allow-always` (`always`, `allowalways`), `deny` (`reject`, `block`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "allow-once" | "allow" | "once" | "allowonce" => Some(Self::AllowOnce),
            "allow-always" | "always" | "allowalways" => Some(Self::AllowAlways),
            "deny" | "reject" | "block" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The wire name (`allow-once`, `allow-always`, `deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowOnce => "allow-once",
            Self::AllowAlways => "allow-always",
            Self::Deny => "deny",
        }
    }
}

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AllowEntry {
    /// Entry id (random hex; OpenClaw uses a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A glob over the resolved binary path (`/usr/bin/git`, `/usr/bin/*`), or for a
    /// tool the policy gates, `tool:<name>`.
    pub pattern: String,
    /// A regex over argv[1..] joined by single spaces; the whole string must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg_pattern: Option<String>,
    /// `allow-always` when a human's decision added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Last match, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
    /// The command of the last match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_command: Option<String>,
    /// The binary path of the last match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resolved_path: Option<String>,
}

/// One agent's settings in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovals {
    /// OpenClaw's `security` (`deny` | `allowlist` | `full`); informational on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    /// OpenClaw's `ask` (`off` | `on-miss` | `always`); informational on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    /// What a request nobody answers becomes; Hearth always denies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_fallback: Option<String>,
    /// The allow-list.
    #[serde(default)]
    pub allowlist: Vec<AllowEntry>,
}

/// The approvals document (OpenClaw's `exec-approvals.json`, version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalsDoc {
    /// Always 1.
    pub version: u32,
    /// Defaults for agents with no entry (kept for round trips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<AgentApprovals>,
    /// Per agent id.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentApprovals>,
}

impl Default for ApprovalsDoc {
    fn default() -> Self {
        Self {
            version: 1,
            defaults: None,
            agents: BTreeMap::new(),
        }
    }
}

impl ApprovalsDoc {
    /// Parses a document exported by Hearth or OpenClaw: unknown top-level keys (`socket`)
    /// are ignored, a legacy `agents.default` becomes `agents.main`.
    ///
    /// # Errors
    /// The JSON error with its line and column, or a version other than 1.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let mut doc: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if doc.version != 1 {
            return Err(format!(
                "approvals document version {} (only version 1 is known)",
                doc.version
            ));
        }
        if let Some(d) = doc.agents.remove("default") {
            doc.agents.entry("main".into()).or_insert(d);
        }
        Ok(doc)
    }
}

/// A pending request for a human's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// Short id the human types (`/approve <id> …`).
    pub id: String,
    /// The tool (`exec`, or a tool the policy gates).
    pub tool: String,
    /// The command line (for `exec`) or a one-line summary of the call.
    pub command: String,
    /// The resolved binary path, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_path: Option<String>,
    /// Why it asks (`not in the allow-list`, `inline interpreter code`).
    pub reason: String,
    /// The agent.
    pub agent_id: String,
    /// The session of the run.
    pub session_key: String,
    /// `channel:peer` of the run's sender.
    pub requested_by: String,
    /// Created, ms since the epoch.
    pub created_at_ms: u64,
    /// Denied automatically after this, ms since the epoch.
    pub expires_at_ms: u64,
    /// Decisions the human may give.
    pub allowed_decisions: Vec<Decision>,
}

/// One row of the audit ledger: metadata of one tool call, never its arguments or output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Started, ms since the epoch.
    pub ts_ms: u64,
    /// The agent.
    pub agent_id: String,
    /// The run.
    pub run_id: String,
    /// The session.
    pub session_key: String,
    /// The channel of the run's message.
    pub channel: String,
    /// `channel:peer` of its sender.
    pub sender: String,
    /// The tool.
    pub tool: String,
    /// `ok`, `error`, `denied` (policy or approval) or `cancelled`.
    pub outcome: String,
    /// How it was decided: `policy: …`, `allowlist: /usr/bin/git`, `approval: allow-once
    /// by telegram:42`, `sandbox: …`.
    #[serde(default)]
    pub decision: Vec<String>,
    /// Duration, ms.
    pub duration_ms: u64,
}
