//! `[agents.<id>]` (agents beside `main`, each with its own workspace and model chain) and
//! `[[bindings]]` (which channel conversations go to which agent), OpenClaw's multi-agent
//! routing (<https://docs.openclaw.ai/concepts/multi-agent>).

use crate::core::Binding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[agents.<id>]`: another agent; unset keys come from `[agent]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentEntry {
    /// Its workspace; `None`: `<data_dir>/agents/<id>/workspace`.
    pub workspace: Option<PathBuf>,
    /// Its model chain; `None`: `[agent] model`.
    pub model: Option<Vec<String>>,
    /// `[agents.<id>.tools]`: a policy layer for this agent (narrows `[tools]`).
    pub tools: Option<super::tools::PolicyLayer>,
}

/// The first problem with a model chain at `key`: empty, not `provider/model`, or naming a
/// provider that is neither `local` nor a `[providers.*]` table (`has` tells).
pub(super) fn check_chain(
    key: &str,
    models: &[String],
    has: &dyn Fn(&str) -> bool,
) -> Option<(String, String)> {
    if models.is_empty() {
        let m = "the model chain needs at least one `provider/model` ref";
        return Some((key.into(), m.into()));
    }
    for m in models {
        let Some((provider, model)) = m.split_once('/') else {
            return Some((
                key.into(),
                format!("{m:?} is not of the form `provider/model`"),
            ));
        };
        if model.is_empty() || (provider != "local" && !has(provider)) {
            return Some((
                key.into(),
                format!(
                    "{m:?} names provider {provider:?}, which is neither `local` nor a [providers.{provider}] table"
                ),
            ));
        }
    }
    None
}

/// The first problem with `[agents]` and `[[bindings]]`, as (key, message).
pub(super) fn check(
    agents: &BTreeMap<String, AgentEntry>,
    bindings: &[Binding],
    has: &dyn Fn(&str) -> bool,
) -> Option<(String, String)> {
    for id in agents.keys() {
        let ok = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok || id == "main" {
            return Some((
                format!("agents.{id}"),
                "agent ids are 1-32 of a-z, 0-9, - and _, and not \"main\" (that is [agent])"
                    .into(),
            ));
        }
        if let Some(m) = &agents[id].model
            && let Some(e) = check_chain(&format!("agents.{id}.model"), m, has)
        {
            return Some(e);
        }
    }
    for (i, b) in bindings.iter().enumerate() {
        let at = format!("bindings[{i}]");
        if b.agent != "main" && !agents.contains_key(&b.agent) {
            return Some((
                format!("{at}.agent"),
                format!(
                    "no agent {:?}: define [agents.{}] or use \"main\"",
                    b.agent, b.agent
                ),
            ));
        }
        if b.channel.is_empty() {
            return Some((format!("{at}.channel"), "required".into()));
        }
        let named = [b.peer.is_some(), b.group.is_some(), b.team.is_some()];
        if named.iter().filter(|x| **x).count() > 1 {
            return Some((at, "a binding names one of peer, group or team".into()));
        }
    }
    None
}
