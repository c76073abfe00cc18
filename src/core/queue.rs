//! Queue modes: what a session's lane does with a message that arrives while a run of the
//! same session is active. Semantics and names follow OpenClaw
//! (<https://docs.openclaw.ai/concepts/queue>): `collect` (default here), `followup`,
//! `steer`, `interrupt`; a debounce, a cap, and a drop policy for when the cap is reached.

use serde::{Deserialize, Serialize};

/// What a busy lane does with a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueMode {
    /// Messages arriving during a run are merged into one follow-up turn after it (after
    /// the debounce has passed quietly).
    #[default]
    Collect,
    /// Strictly one turn per message, in arrival order.
    Followup,
    /// The message joins the running turn at its next step boundary (after the current
    /// tool batch, before the next model call).
    Steer,
    /// The running turn is aborted and the newest message runs.
    Interrupt,
}

/// What happens when a lane already holds `cap` waiting messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropPolicy {
    /// The oldest waiting message is dropped (its run ends as `dropped`).
    Old,
    /// The new message is refused before it is acknowledged.
    New,
    /// The oldest waiting message is dropped, and a one-line summary of it is given to
    /// the next turn so the model knows it existed.
    #[default]
    Summarize,
}

/// A lane's queue settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSettings {
    /// The mode.
    pub mode: QueueMode,
    /// Quiet time before a collected follow-up turn starts, ms.
    pub debounce_ms: u64,
    /// Most messages waiting in one lane.
    pub cap: usize,
    /// What happens at the cap.
    pub drop: DropPolicy,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            mode: QueueMode::Collect,
            debounce_ms: 500,
            cap: 20,
            drop: DropPolicy::Summarize,
        }
    }
}

/// A partial override of [`QueueSettings`] (per channel or per session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsPatch {
    /// The mode, if overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<QueueMode>,
    /// The debounce, ms, if overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce_ms: Option<u64>,
    /// The cap, if overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<usize>,
    /// The drop policy, if overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropPolicy>,
}

impl QueueSettings {
    /// These settings with `patch`'s overrides applied (a cap of 0 counts as 1).
    pub fn with(self, patch: &QueueSettingsPatch) -> Self {
        Self {
            mode: patch.mode.unwrap_or(self.mode),
            debounce_ms: patch.debounce_ms.unwrap_or(self.debounce_ms),
            cap: patch.cap.unwrap_or(self.cap).max(1),
            drop: patch.drop.unwrap_or(self.drop),
        }
    }
}

/// A `/queue` directive sent as a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueDirective {
    /// `/queue <mode> [debounce:<ms|Ns>] [cap:<n>] [drop:old|new|summarize]`: set this
    /// session's overrides.
    Set(QueueSettingsPatch),
    /// `/queue reset`: drop this session's overrides.
    Reset,
    /// `/queue` alone: report the effective settings.
    Show,
}

impl QueueDirective {
    /// Parses `text` when it is a `/queue` directive; `None` when it is an ordinary message.
    ///
    /// # Errors
    /// `Some(Err(message))` naming the bad word when the directive is malformed.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let mut words = text.split_whitespace();
        if words.next()? != "/queue" {
            return None;
        }
        let rest: Vec<&str> = words.collect();
        if rest.is_empty() {
            return Some(Ok(Self::Show));
        }
        if rest == ["reset"] {
            return Some(Ok(Self::Reset));
        }
        let mut patch = QueueSettingsPatch::default();
        for w in rest {
            let r = match w.split_once(':') {
                None => parse_mode(w).map(|m| patch.mode = Some(m)),
                Some(("debounce", v)) => parse_ms(v).map(|ms| patch.debounce_ms = Some(ms)),
                Some(("cap", v)) => match v.parse::<usize>() {
                    Ok(n) if (1..=1000).contains(&n) => {
                        patch.cap = Some(n);
                        Ok(())
                    }
                    _ => Err(format!("cap:{v}: want a whole number 1..=1000")),
                },
                Some(("drop", v)) => match v {
                    "old" => Ok(DropPolicy::Old),
                    "new" => Ok(DropPolicy::New),
                    "summarize" => Ok(DropPolicy::Summarize),
                    _ => Err(format!("drop:{v}: want old, new or summarize")),
                }
                .map(|d| patch.drop = Some(d)),
                Some((k, _)) => Err(format!(
                    "unknown option {k:?} (want debounce:, cap: or drop:)"
                )),
            };
            if let Err(e) = r {
                return Some(Err(format!("/queue: {e}")));
            }
        }
        Some(Ok(Self::Set(patch)))
    }
}

fn parse_mode(w: &str) -> Result<QueueMode, String> {
    Ok(match w {
        "collect" => QueueMode::Collect,
        "followup" => QueueMode::Followup,
        "steer" => QueueMode::Steer,
        "interrupt" => QueueMode::Interrupt,
        _ => {
            return Err(format!(
                "unknown mode {w:?} (want collect, followup, steer, interrupt or reset)"
            ));
        }
    })
}

/// `750`, `750ms`, `2s` → ms; at most 60 s.
fn parse_ms(v: &str) -> Result<u64, String> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else {
        (v, 1)
    };
    match num.parse::<u64>() {
        Ok(n) if n.saturating_mul(scale) <= 60_000 => Ok(n * scale),
        _ => Err(format!("debounce:{v}: want milliseconds (or Ns) up to 60s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse() {
        assert_eq!(QueueDirective::parse("hello"), None);
        assert_eq!(
            QueueDirective::parse("/queue"),
            Some(Ok(QueueDirective::Show))
        );
        assert_eq!(
            QueueDirective::parse("/queue reset"),
            Some(Ok(QueueDirective::Reset))
        );
        let Some(Ok(QueueDirective::Set(p))) =
            QueueDirective::parse("/queue followup debounce:2s cap:5 drop:new")
        else {
            panic!("not a set directive");
        };
        assert_eq!(p.mode, Some(QueueMode::Followup));
        assert_eq!(p.debounce_ms, Some(2000));
        assert_eq!(p.cap, Some(5));
        assert_eq!(p.drop, Some(DropPolicy::New));
        for bad in [
            "/queue sideways",
            "/queue cap:0",
            "/queue drop:all",
            "/queue debounce:9m",
            "/queue x:1",
        ] {
            assert!(matches!(QueueDirective::parse(bad), Some(Err(_))), "{bad}");
        }
        let s = QueueSettings::default().with(&p);
        assert_eq!(
            (s.mode, s.debounce_ms, s.cap, s.drop),
            (QueueMode::Followup, 2000, 5, DropPolicy::New)
        );
    }
}
