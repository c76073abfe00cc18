//! `hearth doctor`'s MCP checks: every enabled `[mcp.servers.*]` is connected the way the
//! gateway would (`initialize`, `tools/list`) and its tools are named; for a Home Assistant
//! URL (`…/mcp_server/sse` or `…/api/mcp`) Home Assistant's REST API is asked too (`GET
//! /api/` with the token: 200 means reachable and valid,
//! <https://developers.home-assistant.io/docs/api/rest/>).

use crate::config::{Config, McpServerConfig};
use std::path::Path;
use std::time::{Duration, Instant};

/// What one check found: `Ok(line)` or `Err((line, fix))`.
pub(super) type Finding = Result<String, (String, String)>;

/// The Home Assistant base URL of an MCP server URL, if it is one.
fn home_assistant_base(url: &str) -> Option<&str> {
    ["/mcp_server/sse", "/api/mcp"]
        .iter()
        .find_map(|p| url.strip_suffix(p))
}

/// `GET <base>/api/` with the server's bearer token.
fn check_home_assistant(name: &str, base: &str, s: &McpServerConfig) -> Finding {
    let what = format!("mcp.servers.{name}: Home Assistant at {base}");
    let token = match s.bearer.as_ref().map(|b| b.resolve()) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return Err((format!("{what}: {e}"), "set the token reference".into())),
        None => {
            return Err((
                format!("{what}: no bearer token"),
                "bearer = \"credential:ha_token\" (a long-lived access token from your Home Assistant profile)".into(),
            ));
        }
    };
    match super::onboard_checks::home_assistant_status(base, &token) {
        Ok(200) => Ok(format!("{what}: reachable, token valid")),
        Ok(401) => Err((
            format!("{what}: reachable, but the token is refused (401)"),
            "create a new long-lived access token (profile → Security) and update the reference"
                .into(),
        )),
        Ok(status) => Err((
            format!("{what}: answered HTTP {status}"),
            "check the URL (http://<host>:8123)".into(),
        )),
        Err(e) => Err((
            format!("{what}: unreachable: {e}"),
            "check that Home Assistant runs and the host and port are right".into(),
        )),
    }
}

/// Connects every enabled MCP server (each within its `connect_timeout_secs`) and reports
/// it, with the Home Assistant check for Home Assistant URLs.
pub(super) fn check(cfg: &Config, workspace: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let enabled: Vec<(&String, &McpServerConfig)> =
        cfg.mcp.servers.iter().filter(|(_, s)| s.enabled).collect();
    if enabled.is_empty() {
        return out;
    }
    for (name, s) in &enabled {
        if let Some(base) = s.url.as_deref().and_then(home_assistant_base) {
            out.push(check_home_assistant(name, base, s));
        }
    }
    let hub = crate::mcp::start(&cfg.mcp, workspace);
    let wait = enabled
        .iter()
        .map(|(_, s)| s.connect_timeout_secs)
        .max()
        .unwrap_or(20);
    let t0 = Instant::now();
    let done = |st: &[serde_json::Value]| {
        st.iter().all(|s| {
            (s["connected"] == true && s["tools"].as_u64().is_some_and(|n| n > 0))
                || !s["lastError"].is_null()
        })
    };
    let mut status = hub.status();
    while !done(&status) && t0.elapsed() < Duration::from_secs(wait) {
        std::thread::sleep(Duration::from_millis(100));
        status = hub.status();
    }
    let names: Vec<String> = hub
        .sources()
        .iter()
        .flat_map(|s| s.specs())
        .map(|t| t.name)
        .collect();
    for st in &status {
        let name = st["name"].as_str().unwrap_or("?");
        let prefix = format!("{name}__");
        let tools: Vec<&str> = names
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix))
            .collect();
        if st["connected"] == true {
            out.push(Ok(format!(
                "mcp.servers.{name}: connected ({}, protocol {}), {} tools: {}",
                st["transport"].as_str().unwrap_or("?"),
                st["protocolVersion"].as_str().unwrap_or("?"),
                tools.len(),
                tools.join(", ")
            )));
        } else {
            let why = st["lastError"]
                .as_str()
                .map_or_else(|| format!("no answer within {wait} s"), str::to_string);
            out.push(Err((
                format!("mcp.servers.{name}: not connected: {why}"),
                "check the command or URL, the token, and that the server runs".into(),
            )));
        }
    }
    hub.shutdown();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn home_assistant_urls_are_recognised() {
        assert_eq!(
            super::home_assistant_base("http://ha:8123/mcp_server/sse"),
            Some("http://ha:8123")
        );
        assert_eq!(
            super::home_assistant_base("https://ha.example/api/mcp"),
            Some("https://ha.example")
        );
        assert_eq!(super::home_assistant_base("http://x/mcp"), None);
    }
}
