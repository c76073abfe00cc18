//! Whether a command runs, asks a human, or is refused, under an [`ExecMode`] and an
//! agent's allow-list (OpenClaw's rules, <https://docs.openclaw.ai/tools/exec-approvals>):
//! every segment of a chain or pipeline must be allow-listed or a safe bin; inline
//! interpreter code always asks; a line the allow-list cannot judge asks and its approval
//! cannot be remembered.

use super::analyze::{Analysis, Segment};
use crate::core::{AllowEntry, Decision, ExecMode};
use crate::tool::policy::glob;

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Run it; the steps that allowed it (`allowlist: /usr/bin/git`, `safe bin: wc`,
    /// `mode: full`), and the allow-list entries that matched (by index).
    Run {
        /// Decision steps for the audit ledger.
        notes: Vec<String>,
        /// Indices of the matched entries (their `lastUsedAt` is updated).
        matched: Vec<usize>,
    },
    /// Ask a human.
    Ask {
        /// Why (`/usr/bin/rm is not in the allow-list`).
        reason: String,
        /// The decisions offered (no `allow-always` when it could not be remembered).
        decisions: Vec<Decision>,
    },
    /// Refuse without asking.
    Refuse(String),
}

/// Whether `entry` allows `seg`: its pattern globs the resolved path and its argv pattern
/// (if any) matches the whole of argv[1..].
pub fn entry_allows(entry: &AllowEntry, seg: &Segment) -> bool {
    let Some(path) = seg.resolved.as_ref().and_then(|p| p.to_str()) else {
        return false;
    };
    if entry.pattern.starts_with("tool:") || !glob(&entry.pattern, path) {
        return false;
    }
    match &entry.arg_pattern {
        None => true,
        Some(p) => regex::Regex::new(&format!("^(?:{p})$")).is_ok_and(|r| r.is_match(&seg.args())),
    }
}

/// The verdict on `a` for `mode` and the agent's `allowlist`.
pub fn decide(mode: ExecMode, a: &Analysis, allowlist: &[AllowEntry]) -> Verdict {
    let all = vec![Decision::AllowOnce, Decision::AllowAlways, Decision::Deny];
    let once = vec![Decision::AllowOnce, Decision::Deny];
    match mode {
        ExecMode::Deny => {
            return Verdict::Refuse("exec is disabled (tools.exec.mode = \"deny\")".into());
        }
        ExecMode::Full => {
            return Verdict::Run {
                notes: vec!["mode: full".into()],
                matched: Vec::new(),
            };
        }
        ExecMode::Ask => {
            return Verdict::Ask {
                reason: "every command asks (tools.exec.mode = \"ask\")".into(),
                decisions: once,
            };
        }
        ExecMode::Allowlist => {}
    }
    if a.segments.is_empty() {
        return Verdict::Refuse("the command is empty".into());
    }
    if let Some(why) = &a.opaque {
        return Verdict::Ask {
            reason: format!("the allow-list cannot judge a {why}"),
            decisions: once,
        };
    }
    if a.inline_code() {
        return Verdict::Ask {
            reason: "inline interpreter code always asks".into(),
            decisions: once,
        };
    }
    let (mut notes, mut matched) = (Vec::new(), Vec::new());
    for seg in &a.segments {
        let Some(path) = &seg.resolved else {
            return Verdict::Ask {
                reason: format!("{} is not an executable on the sandbox's PATH", seg.argv[0]),
                decisions: once,
            };
        };
        if let Some(i) = allowlist.iter().position(|e| entry_allows(e, seg)) {
            notes.push(format!("allowlist: {}", allowlist[i].pattern));
            matched.push(i);
        } else if seg.safe_bin() {
            notes.push(format!("safe bin: {}", path.display()));
        } else {
            return Verdict::Ask {
                reason: format!("{} is not in the allow-list", path.display()),
                decisions: all,
            };
        }
    }
    Verdict::Run { notes, matched }
}

/// The entries an `allow-always` adds for `a`: each segment's resolved binary with its
/// argv pinned (OpenClaw's generated, argv-bound `argPattern`); segments already allowed
/// by `allowlist` or safe bins add nothing.
pub fn entries_for(a: &Analysis, allowlist: &[AllowEntry], now_ms: u64) -> Vec<AllowEntry> {
    a.segments
        .iter()
        .filter(|s| !s.safe_bin() && !allowlist.iter().any(|e| entry_allows(e, s)))
        .filter_map(|s| {
            let path = s.resolved.as_ref()?.to_str()?.to_string();
            Some(AllowEntry {
                id: Some(super::short_id(8)),
                pattern: path.clone(),
                arg_pattern: Some(regex::escape(&s.args())),
                source: Some("allow-always".into()),
                last_used_at: Some(now_ms),
                last_used_command: Some(s.argv.join(" ")),
                last_resolved_path: Some(path),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::analyze::analyze;
    use super::*;
    use std::path::Path;

    fn verdict(mode: ExecMode, line: &str, list: &[AllowEntry]) -> Verdict {
        decide(mode, &analyze(line, Path::new("/")), list)
    }

    fn entry(pattern: &str, args: Option<&str>) -> AllowEntry {
        AllowEntry {
            pattern: pattern.into(),
            arg_pattern: args.map(str::to_string),
            ..AllowEntry::default()
        }
    }

    #[test]
    fn modes() {
        assert!(matches!(
            verdict(ExecMode::Deny, "ls", &[]),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            verdict(ExecMode::Full, "rm -rf x", &[]),
            Verdict::Run { .. }
        ));
        let Verdict::Ask { decisions, .. } =
            verdict(ExecMode::Ask, "ls", &[entry("/usr/bin/ls", None)])
        else {
            panic!("ask mode asks")
        };
        assert!(!decisions.contains(&Decision::AllowAlways));
    }

    #[test]
    fn allowlist_hits_run_and_misses_ask() {
        let list = [entry("/usr/*git", None), entry("/usr/bin/l*", Some("-la?"))];
        let Verdict::Run { notes, matched } =
            verdict(ExecMode::Allowlist, "git status && ls -l | wc -l", &list)
        else {
            panic!("allowed")
        };
        assert_eq!(
            notes,
            [
                "allowlist: /usr/*git",
                "allowlist: /usr/bin/l*",
                "safe bin: /usr/bin/wc"
            ]
        );
        assert_eq!(matched, [0, 1]);
        // The pinned argv must match the whole of argv[1..].
        let Verdict::Ask { reason, decisions } = verdict(ExecMode::Allowlist, "ls -l /", &list)
        else {
            panic!("asks")
        };
        assert_eq!(reason, "/usr/bin/ls is not in the allow-list");
        assert_eq!(decisions.len(), 3);
        // One unlisted segment in a chain asks for the whole line.
        assert!(matches!(
            verdict(ExecMode::Allowlist, "git status; rm -rf .", &list),
            Verdict::Ask { .. }
        ));
    }

    #[test]
    fn inline_code_and_opaque_lines_ask_without_allow_always() {
        let list = [entry("/usr/bin/*", None)];
        for line in ["python3 -c 'print(1)'", "echo $(id)", "ls > x"] {
            let Verdict::Ask { decisions, .. } = verdict(ExecMode::Allowlist, line, &list) else {
                panic!("{line} asks")
            };
            assert_eq!(decisions, [Decision::AllowOnce, Decision::Deny], "{line}");
        }
    }

    #[test]
    fn allow_always_pins_binary_and_argv() {
        let a = analyze("ls -l /tmp && wc -l", Path::new("/"));
        let added = entries_for(&a, &[], 5);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].pattern, "/usr/bin/ls");
        assert_eq!(added[0].arg_pattern.as_deref(), Some("\\-l /tmp"));
        assert!(matches!(
            decide(ExecMode::Allowlist, &a, &added),
            Verdict::Run { .. }
        ));
        let other = analyze("ls -l /etc", Path::new("/"));
        assert!(matches!(
            decide(ExecMode::Allowlist, &other, &added),
            Verdict::Ask { .. }
        ));
    }
}
