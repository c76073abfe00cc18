//! Operator scopes, as OpenClaw's gateway protocol v4 defines them
//! (<https://docs.openclaw.ai/gateway/protocol>, "Roles and scopes"): what a connection may
//! call and which events it receives (run events need `operator.read`, approval events
//! `operator.approvals`; ticks and shutdown go to every connection). `operator.admin` satisfies every scope;
//! `operator.write` also satisfies `operator.read`. The method table follows OpenClaw's
//! (`health` needs none); Hearth's own methods are classed the same way.

use super::protocol::ErrorShape;
use serde_json::json;

/// One operator scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading state: status, sessions, history, models, config, logs.
    Read,
    /// Sending messages and aborting runs.
    Write,
    /// Answering approval requests (exec and other gated tools).
    Approvals,
    /// Approving or rejecting channel pairing requests.
    Pairing,
    /// Everything, including config, cron jobs, allow-lists and resets.
    Admin,
}

impl Scope {
    /// The wire name (`operator.read`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Approvals => "operator.approvals",
            Scope::Pairing => "operator.pairing",
            Scope::Admin => "operator.admin",
        }
    }

    /// The scope named `s`, if Hearth knows it (OpenClaw's others — `operator.questions`,
    /// `operator.talk`, … — grant nothing here).
    pub fn parse(s: &str) -> Option<Scope> {
        [
            Scope::Read,
            Scope::Write,
            Scope::Approvals,
            Scope::Pairing,
            Scope::Admin,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// Every scope, for a client that asks for none (Hearth's token is an operator's key).
pub const ALL: [&str; 5] = [
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
    "operator.pairing",
];

/// The scopes a connection was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted(Vec<Scope>);

impl Granted {
    /// The known scopes among `names` (unknown ones are ignored, as they grant nothing).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v: Vec<Scope> = names.into_iter().filter_map(Scope::parse).collect();
        v.dedup();
        Granted(v)
    }

    /// Whether the grant satisfies `need`.
    pub fn allows(&self, need: Scope) -> bool {
        self.0
            .iter()
            .any(|&g| g == need || g == Scope::Admin || (g == Scope::Write && need == Scope::Read))
    }

    /// The granted scopes' names, for `hello-ok.auth.scopes`.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.name()).collect()
    }
}

/// The scope `method` needs (`None`: any connected client, as `health`). Methods not
/// listed need `operator.admin`, as in OpenClaw.
pub fn required(method: &str) -> Option<Scope> {
    Some(match method {
        "health" | "connect" => return None,
        "status"
        | "models.list"
        | "sessions.list"
        | "sessions.describe"
        | "sessions.subscribe"
        | "sessions.unsubscribe"
        | "sessions.messages.subscribe"
        | "sessions.messages.unsubscribe"
        | "chat.history"
        | "agents.list"
        | "commands.list"
        | "system-presence"
        | "config.get"
        | "last-heartbeat"
        | "logs.tail"
        | "channels.status"
        | "memory.search"
        | "memory.status"
        | "audit.list"
        | "cron.list"
        | "cron.status"
        | "update.status" => Scope::Read,
        "agent" | "agent.wait" | "chat.send" | "chat.abort" | "message.send" | "send" | "wake" => {
            Scope::Write
        }
        "exec.approval.list"
        | "exec.approval.resolve"
        | "question.list"
        | "plugin.approval.list" => Scope::Approvals,
        "pairing.list" | "pairing.approve" | "pairing.reject" => Scope::Pairing,
        _ => Scope::Admin,
    })
}

/// OpenClaw's missing-scope error: `FORBIDDEN` with `details.code = MISSING_SCOPE`.
pub fn missing(need: Scope) -> ErrorShape {
    ErrorShape {
        code: "FORBIDDEN",
        message: format!("missing scope: {}", need.name()),
        retryable: false,
        details: Some(json!({
            "code": "MISSING_SCOPE", "missingScope": need.name(), "requiredScopes": [need.name()],
        })),
        retry_after_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_satisfies_all_and_write_satisfies_read() {
        let admin = Granted::from_names(["operator.admin"]);
        let write = Granted::from_names(["operator.write", "operator.talk"]);
        let read = Granted::from_names(["operator.read"]);
        for s in [
            Scope::Read,
            Scope::Write,
            Scope::Approvals,
            Scope::Pairing,
            Scope::Admin,
        ] {
            assert!(admin.allows(s));
        }
        assert!(write.allows(Scope::Read) && write.allows(Scope::Write));
        assert!(!write.allows(Scope::Approvals) && !write.allows(Scope::Admin));
        assert!(read.allows(Scope::Read) && !read.allows(Scope::Write));
        assert_eq!(
            write.names(),
            ["operator.write"],
            "unknown scopes grant nothing"
        );
    }

    #[test]
    fn methods_are_classed_as_openclaw_does() {
        assert_eq!(required("health"), None);
        assert_eq!(required("chat.history"), Some(Scope::Read));
        assert_eq!(required("agent"), Some(Scope::Write));
        assert_eq!(required("exec.approval.resolve"), Some(Scope::Approvals));
        assert_eq!(required("sessions.reset"), Some(Scope::Admin));
        assert_eq!(required("config.apply"), Some(Scope::Admin));
        assert_eq!(required("no.such"), Some(Scope::Admin));
        let e = missing(Scope::Write);
        assert_eq!(e.code, "FORBIDDEN");
        assert_eq!(e.details.unwrap()["missingScope"], "operator.write");
    }
}
