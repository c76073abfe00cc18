//! What a command line would run, for the allow-list: split into top-level segments
//! (`&&`, `||`, `;`, `|`, newlines), each tokenised as POSIX `sh` would
//! (<https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_03>)
//! and its binary resolved on the sandbox's `PATH`. Anything whose effect the allow-list
//! cannot judge — command substitution, redirections, variable expansion, globs,
//! inline interpreter code — is reported so that the command asks instead of running.
//!
//! Safe bins follow OpenClaw (<https://docs.openclaw.ai/tools/exec-approvals-advanced>):
//! stdin-only filters (`cut uniq head tail tr wc`) run without an entry when they resolve
//! from `/bin` or `/usr/bin`, take no file arguments and none of the flags that read or
//! follow files.

use std::path::{Path, PathBuf};

/// The `PATH` commands run with in the sandbox.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Interpreters whose `-c`/`-e` argument is code.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "ash",
    "busybox",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "tclsh",
    "awk",
    "gawk",
    "mawk",
    "osascript",
];

/// One simple command of a command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its words after quote removal.
    pub argv: Vec<String>,
    /// The binary `argv[0]` resolves to (`None` when not found).
    pub resolved: Option<PathBuf>,
}

impl Segment {
    /// argv[1..] joined by single spaces (what an `argPattern` is matched against).
    pub fn args(&self) -> String {
        self.argv.get(1..).unwrap_or_default().join(" ")
    }

    /// Whether it runs interpreter code given inline (`python3 -c …`, `sh -c …`).
    pub fn inline_code(&self) -> bool {
        let Some(name) = self.argv.first().map(|a| basename(a)) else {
            return false;
        };
        let family = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        let interp = INTERPRETERS.contains(&name) || INTERPRETERS.contains(&family);
        interp
            && self.argv[1..].iter().any(|a| {
                matches!(
                    a.as_str(),
                    "-c" | "-e" | "-E" | "--eval" | "-r" | "--command"
                ) || (a.starts_with('-')
                    && !a.starts_with("--")
                    && a.contains('c')
                    && name.ends_with("sh"))
                    || (!a.starts_with('-') && name.contains("awk"))
            })
    }

    /// Whether it is a stdin-only safe bin (see the module docs), resolved from a trusted
    /// directory.
    pub fn safe_bin(&self) -> bool {
        let Some(p) = &self.resolved else {
            return false;
        };
        let trusted = p
            .parent()
            .is_some_and(|d| d == Path::new("/bin") || d == Path::new("/usr/bin"));
        let name = basename(&self.argv[0]);
        let (value_flags, max_positional, denied): (&[&str], usize, &[&str]) = match name {
            "head" | "tail" => (&["-n", "-c"], 0, &["-f", "-F", "--follow", "--retry"]),
            "cut" => (&["-d", "-f", "-c", "-b"], 0, &[]),
            "uniq" => (&["-f", "-s", "-w"], 0, &[]),
            "wc" => (&[], 0, &["--files0-from"]),
            "tr" => (&[], 2, &[]),
            _ => return false,
        };
        if !trusted || p.file_name().and_then(|f| f.to_str()) != Some(name) {
            return false;
        }
        let mut positional = 0;
        let mut args = self.argv[1..].iter();
        while let Some(a) = args.next() {
            if denied
                .iter()
                .any(|d| a == d || a.starts_with(&format!("{d}=")))
            {
                return false;
            }
            if value_flags.contains(&a.as_str()) {
                if args.next().is_none() {
                    return false;
                }
            } else if a.starts_with('-') && a.len() > 1 {
                if a.starts_with("--") && a.contains("file") {
                    return false;
                }
            } else {
                positional += 1;
                if positional > max_positional
                    || a.contains('/')
                    || a.starts_with('.')
                    || a.starts_with('~')
                {
                    return false;
                }
            }
        }
        true
    }
}

/// A command line, analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Its simple commands, in order.
    pub segments: Vec<Segment>,
    /// Why the allow-list cannot judge it (`command substitution`, `redirection`,
    /// `variable expansion`, `glob`), if so: such a line always asks, and its approval
    /// cannot be remembered.
    pub opaque: Option<String>,
}

impl Analysis {
    /// Whether any segment runs inline interpreter code.
    pub fn inline_code(&self) -> bool {
        self.segments.iter().any(Segment::inline_code)
    }
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Analyses `line` as `sh -c` would run it in `cwd`.
pub fn analyze(line: &str, cwd: &Path) -> Analysis {
    let mut opaque = None;
    let mut segments = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flag = |why: &str, o: &mut Option<String>| {
        o.get_or_insert_with(|| why.to_string());
    };
    let end_segment = |words: &mut Vec<String>, segments: &mut Vec<Segment>| {
        if !words.is_empty() {
            let argv = std::mem::take(words);
            let resolved = resolve(&argv[0], cwd);
            segments.push(Segment { argv, resolved });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        '$' => {
                            flag("variable expansion", &mut opaque);
                            word.push(q);
                        }
                        '`' => {
                            flag("command substitution", &mut opaque);
                            word.push(q);
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next()
                    && n != '\n'
                {
                    word.push(n);
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                flag("command substitution", &mut opaque);
                word.push(c);
                in_word = true;
            }
            '`' => {
                flag("command substitution", &mut opaque);
                in_word = true;
            }
            '$' => {
                flag("variable expansion", &mut opaque);
                word.push(c);
                in_word = true;
            }
            '*' | '?' | '[' => {
                flag("glob", &mut opaque);
                word.push(c);
                in_word = true;
            }
            '>' | '<' => {
                flag("redirection", &mut opaque);
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '(' | ')' | '{' | '}' if !in_word => {
                flag("subshell or group", &mut opaque);
            }
            '~' if !in_word => {
                flag("tilde expansion", &mut opaque);
                word.push(c);
                in_word = true;
            }
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                end_segment(&mut words, &mut segments);
            }
            ';' | '&' | '|' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if c == '&' && chars.peek() != Some(&'&') {
                    flag("background job", &mut opaque);
                }
                if matches!(c, '&' | '|') && chars.peek() == Some(&c) {
                    chars.next();
                }
                end_segment(&mut words, &mut segments);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    end_segment(&mut words, &mut segments);
    // `VAR=value cmd` assignments change the command's environment.
    if segments
        .iter()
        .any(|s| s.argv[0].contains('=') && !s.argv[0].starts_with('='))
    {
        flag("environment assignment", &mut opaque);
    }
    Analysis { segments, opaque }
}

/// The binary `arg0` names: a path (relative to `cwd`) when it has a `/`, else the first
/// executable file of that name on [`SANDBOX_PATH`]; canonicalised, so a symlink resolves
/// to its target.
pub fn resolve(arg0: &str, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if arg0.contains('/') {
        Some(cwd.join(arg0)).filter(|p| exec(p))
    } else {
        SANDBOX_PATH
            .split(':')
            .map(|d| Path::new(d).join(arg0))
            .find(|p| exec(p))
    }?;
    std::fs::canonicalize(&found).ok()
}

#[cfg(test)]
#[path = "analyze_tests.rs"]
mod tests;
