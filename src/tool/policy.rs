//! Tool policy in OpenClaw's vocabulary (<https://docs.openclaw.ai/tools> "Tool profiles",
//! "Tool groups"; <https://docs.openclaw.ai/gateway/sandbox-vs-tool-policy-vs-elevated>):
//! which tools a run is offered, decided per agent, channel, group chat and sender.
//!
//! A [`Layer`] is a profile (the base allow-list), `allow` (narrows: when non-empty only
//! these), `also_allow` (adds to the profile) and `deny` (always wins). Entries are tool
//! names, `*` globs (`ha__*`) or groups (`group:fs`). A run's tools are the ones every
//! applicable layer permits — the global lists, the agent's, the channel's — and the
//! *context* layer, which is the most specific of: the sender's entry
//! (`telegram:42`, then `42`, then `*`), else the group-chat default (`group_profile`,
//! `messaging` unless set) in a group, else the direct-chat default (`profile`). So the
//! owner's DM can run commands while the family group chat can only talk.
//!
//! Departure from OpenClaw: `group:mcp` (every tool of an MCP server, named
//! `<server>__<tool>`) stands for OpenClaw's `bundle-mcp`, and the `messaging` profile
//! leaves MCP tools out (a group chat does not get to switch the house's lights unless the
//! operator says so).

use super::Caller;
use std::collections::BTreeMap;

/// A tool profile: the base allow-list of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `session_status` only.
    Minimal,
    /// Talking: `message`, the session tools, skills, memory search.
    Messaging,
    /// Working in the workspace: files, commands, web, sessions, memory, cron, skills, MCP.
    Coding,
    /// No restriction.
    Full,
}

impl Profile {
    /// Parses `minimal` | `messaging` | `coding` | `full`.
    ///
    /// # Errors
    /// The list of valid names.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "minimal" => Ok(Self::Minimal),
            "messaging" => Ok(Self::Messaging),
            "coding" => Ok(Self::Coding),
            "full" => Ok(Self::Full),
            _ => Err(format!(
                "unknown tool profile {s:?} (minimal, messaging, coding or full)"
            )),
        }
    }

    fn entries(self) -> &'static [&'static str] {
        match self {
            Self::Minimal => &["session_status"],
            Self::Messaging => &[
                "group:messaging",
                "sessions_list",
                "sessions_history",
                "sessions_send",
                "session_status",
                "skill",
            ],
            Self::Coding => &[
                "group:fs",
                "group:runtime",
                "group:web",
                "group:sessions",
                "group:memory",
                "group:automation",
                "group:mcp",
                "skill",
            ],
            Self::Full => &["*"],
        }
    }
}

/// The members of `group:<name>`, or `None` for an unknown group (`group:mcp` is matched
/// by name shape instead, see [`matches()`]).
pub fn group(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "fs" => &["read", "write", "edit", "ls", "apply_patch"],
        "runtime" => &["exec", "process"],
        "web" => &["web_search", "web_fetch"],
        "memory" => &["memory_search", "memory_get"],
        "sessions" => &[
            "sessions_list",
            "sessions_history",
            "sessions_send",
            "session_status",
        ],
        "messaging" => &["message"],
        "automation" => &["cron"],
        "skills" => &["skill"],
        "openclaw" | "hearth" => &[
            "read",
            "write",
            "edit",
            "ls",
            "exec",
            "process",
            "web_search",
            "web_fetch",
            "memory_search",
            "memory_get",
            "sessions_list",
            "sessions_history",
            "sessions_send",
            "session_status",
            "message",
            "cron",
            "skill",
        ],
        _ => return None,
    })
}

/// Whether policy entry `entry` (a name, a `*` glob, or `group:…`) covers tool `tool`.
/// Case-insensitive, as OpenClaw matches.
pub fn matches(entry: &str, tool: &str) -> bool {
    let (entry, tool) = (entry.to_ascii_lowercase(), tool.to_ascii_lowercase());
    if let Some(g) = entry.strip_prefix("group:") {
        if g == "mcp" {
            return tool.contains("__");
        }
        return group(g).is_some_and(|m| m.contains(&tool.as_str()));
    }
    glob(&entry, &tool)
}

/// `*` matches any run of characters (including none); everything else is literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// One layer of policy (global, per agent, per channel, or the context's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    /// The base allow-list; `None` leaves the layer's base open.
    pub profile: Option<Profile>,
    /// When non-empty, only these (after the profile).
    pub allow: Vec<String>,
    /// Added to the profile's list.
    pub also_allow: Vec<String>,
    /// Never these; wins over everything.
    pub deny: Vec<String>,
}

impl Layer {
    /// A layer that is only a profile.
    pub fn profile(p: Profile) -> Self {
        Self {
            profile: Some(p),
            ..Self::default()
        }
    }

    /// Why this layer refuses `tool`, or `None` when it permits it.
    fn refuses(&self, tool: &str) -> Option<String> {
        if let Some(d) = self.deny.iter().find(|d| matches(d, tool)) {
            return Some(format!("denied by {d:?}"));
        }
        if let Some(p) = self.profile {
            let also = self.also_allow.iter().any(|a| matches(a, tool));
            if !also && !p.entries().iter().any(|e| matches(e, tool)) {
                return Some(format!("not in the {} profile", p.name()));
            }
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|a| matches(a, tool)) {
            return Some("not in allow".to_string());
        }
        None
    }
}

impl Profile {
    /// The profile's config name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Messaging => "messaging",
            Self::Coding => "coding",
            Self::Full => "full",
        }
    }
}

/// An agent's whole tool policy, resolved per run by [`Policy::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `[tools]` allow / also_allow / deny (its profiles are the context defaults below).
    pub global: Layer,
    /// `[agents.<id>.tools]`.
    pub agent: Layer,
    /// `[tools.by_channel.<channel>]`, by channel name (`telegram`, `ws`, …).
    pub by_channel: BTreeMap<String, Layer>,
    /// `[tools.by_sender."<channel>:<peer>"]`, `"<peer>"` or `"*"`.
    pub by_sender: BTreeMap<String, Layer>,
    /// The context layer of direct chats and the gateway's own APIs.
    pub direct: Layer,
    /// The context layer of group chats.
    pub group: Layer,
}

impl Default for Policy {
    /// `coding` in direct chats, `messaging` in groups, nothing else.
    fn default() -> Self {
        Self {
            global: Layer::default(),
            agent: Layer::default(),
            by_channel: BTreeMap::new(),
            by_sender: BTreeMap::new(),
            direct: Layer::profile(Profile::Coding),
            group: Layer::profile(Profile::Messaging),
        }
    }
}

/// The policy of one run: which tools it may see and call.
#[derive(Debug, Clone)]
pub struct ToolFilter {
    layers: Vec<(String, Layer)>,
}

impl Policy {
    /// The layers that apply to `caller`, each with the name it is reported under.
    pub fn resolve(&self, caller: &Caller) -> ToolFilter {
        let mut layers = vec![("tools".to_string(), self.global.clone())];
        if self.agent != Layer::default() {
            layers.push((format!("agents.{}.tools", caller.agent), self.agent.clone()));
        }
        if let Some(l) = self.by_channel.get(&caller.origin.channel) {
            let name = format!("tools.by_channel.{}", caller.origin.channel);
            layers.push((name, l.clone()));
        }
        let sender = [caller.sender(), caller.origin.peer.clone(), "*".to_string()];
        let context = sender
            .iter()
            .filter(|k| !k.is_empty())
            .find_map(|k| Some((format!("tools.by_sender.{k:?}"), self.by_sender.get(k)?)))
            .map(|(n, l)| (n, l.clone()));
        layers.push(context.unwrap_or_else(|| {
            if caller.in_group() {
                ("tools.group_profile".to_string(), self.group.clone())
            } else {
                ("tools.profile".to_string(), self.direct.clone())
            }
        }));
        ToolFilter { layers }
    }
}

impl ToolFilter {
    /// A filter that permits everything (the CLI, tests).
    pub fn open() -> Self {
        Self { layers: Vec::new() }
    }

    /// `Ok` when every layer permits `tool`, else which layer refused and why
    /// (`tools.group_profile: not in the messaging profile`).
    ///
    /// # Errors
    /// The refusal, for the model and the audit ledger.
    pub fn check(&self, tool: &str) -> Result<(), String> {
        for (name, l) in &self.layers {
            if let Some(why) = l.refuses(tool) {
                return Err(format!("{name}: {why}"));
            }
        }
        Ok(())
    }

    /// Whether `tool` is permitted.
    pub fn permits(&self, tool: &str) -> bool {
        self.check(tool).is_ok()
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
