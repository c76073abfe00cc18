//! Tests of the skills module on real files in temporary directories.

use super::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hearth-skills-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
    /// Writes `<root>/<folder>/SKILL.md`.
    pub(super) fn skill(&self, root: &str, folder: &str, text: impl AsRef<[u8]>) {
        let dir = self.0.join(root).join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("SKILL.md"), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn roots(tmp: &TempDir) -> Roots {
    Roots {
        workspace: Some(Arc::new(StdFs::new(tmp.path().join("ws")))),
        managed: Some(Arc::new(StdFs::new(tmp.path().join("managed")))),
    }
}

/// A Linux host whose PATH is `<tmp>/bin` holding the executables `present`, `other` and
/// those the bundled skills need, and a non-executable `noexec`; env `SET_VAR` set.
pub(super) fn host(tmp: &TempDir) -> Host {
    use std::os::unix::fs::PermissionsExt;
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let execs = [
        "present",
        "other",
        "df",
        "free",
        "uptime",
        "systemctl",
        "journalctl",
    ]
    .map(|n| (n, 0o755));
    for (name, mode) in execs
        .into_iter()
        .chain([("other", 0o700), ("noexec", 0o644)])
    {
        std::fs::write(bin.join(name), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    Host {
        os: "linux".into(),
        path: vec![tmp.path().join("nowhere"), bin],
        env: ["SET_VAR".to_string()].into(),
        config: ["browser.enabled".to_string()].into(),
    }
}

pub(super) fn md(name: &str, metadata: &str) -> String {
    format!(
        "---\nname: {name}\ndescription: The {name} skill.\nmetadata: {metadata}\n---\n# {name}\n"
    )
}

pub(super) fn open(tmp: &TempDir) -> Catalog {
    Catalog::open(roots(tmp), &host(tmp), &LoadOptions::default())
}

fn status(catalog: &Catalog, name: &str) -> Availability {
    catalog
        .resolve(name)
        .unwrap_or_else(|| panic!("{name} not loaded"))
        .availability
        .clone()
}

#[test]
fn gating_bins_any_bins_env_os_always_config() {
    let tmp = TempDir::new();
    let cases = [
        (
            "bin-ok",
            r#"{"openclaw": {"requires": {"bins": ["present", "other"]}}}"#,
        ),
        (
            "bin-missing",
            r#"{"openclaw": {"requires": {"bins": ["present", "absent", "noexec"]}}}"#,
        ),
        (
            "any-ok",
            r#"{"openclaw": {"requires": {"anyBins": ["absent", "other"]}}}"#,
        ),
        (
            "any-missing",
            r#"{"openclaw": {"requires": {"anyBins": ["absent", "noexec"]}}}"#,
        ),
        (
            "env-ok",
            r#"{"openclaw": {"requires": {"env": "SET_VAR"}}}"#,
        ),
        (
            "env-missing",
            r#"{"openclaw": {"requires": {"env": ["SET_VAR", "UNSET_VAR"]}}}"#,
        ),
        ("os-ok", r#"{"openclaw": {"os": ["darwin", "linux"]}}"#),
        (
            "os-wrong",
            r#"{"openclaw": {"os": ["darwin"], "requires": {"bins": ["present"]}}}"#,
        ),
        (
            "always",
            r#"{"openclaw": {"always": true, "requires": {"bins": ["absent"], "env": ["UNSET_VAR"]}}}"#,
        ),
        (
            "always-os",
            r#"{"openclaw": {"always": true, "os": ["win32"], "requires": {"bins": ["absent"]}}}"#,
        ),
        (
            "config",
            r#"{"openclaw": {"requires": {"config": ["browser.enabled", "x.y"]}}}"#,
        ),
        (
            "legacy-key",
            r#"{"clawdbot": {"requires": {"bins": ["absent"]}}}"#,
        ),
        ("no-gating", r#"{"author": "me", "version": "1.0"}"#),
    ];
    for (name, meta) in cases {
        tmp.skill("managed", name, md(name, meta));
    }
    let c = open(&tmp);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    let unavailable = |m: Vec<Missing>| Availability::Unavailable(m);
    for ok in ["bin-ok", "any-ok", "env-ok", "os-ok", "always", "no-gating"] {
        assert_eq!(status(&c, ok), Availability::Available, "{ok}");
    }
    assert_eq!(
        status(&c, "bin-missing"),
        unavailable(vec![
            Missing::Bin("absent".into()),
            Missing::Bin("noexec".into())
        ])
    );
    assert_eq!(
        status(&c, "any-missing"),
        unavailable(vec![Missing::AnyBin(vec![
            "absent".into(),
            "noexec".into()
        ])])
    );
    assert_eq!(
        status(&c, "env-missing"),
        unavailable(vec![Missing::Env("UNSET_VAR".into())])
    );
    let os = |allowed: &str| Missing::Os {
        allowed: vec![allowed.into()],
        host: "linux".into(),
    };
    assert_eq!(status(&c, "os-wrong"), unavailable(vec![os("darwin")]));
    assert_eq!(status(&c, "always-os"), unavailable(vec![os("win32")]));
    assert_eq!(
        status(&c, "config"),
        unavailable(vec![Missing::Config("x.y".into())])
    );
    assert_eq!(
        status(&c, "legacy-key"),
        unavailable(vec![Missing::Bin("absent".into())])
    );
    assert_eq!(
        status(&c, "env-missing").to_string(),
        "unavailable: env UNSET_VAR unset"
    );
    assert_eq!(
        status(&c, "bin-missing").to_string(),
        "unavailable: missing bins absent, noexec"
    );
    let prompt: Vec<&str> = c.prompt_skills().map(Skill::name).collect();
    assert!(
        prompt.contains(&"bin-ok")
            && !prompt.contains(&"bin-missing")
            && !prompt.contains(&"os-wrong")
    );
    assert!(matches!(
        c.read_body("bin-missing"),
        Err(SkillError::NotOffered { .. })
    ));
}

#[test]
fn policy_disables_before_gating() {
    let tmp = TempDir::new();
    tmp.skill(
        "managed",
        "keyed",
        md("keyed", r#"{"openclaw": {"skillKey": "k1"}}"#),
    );
    tmp.skill("managed", "plain", md("plain", "{}"));
    let policy = Policy {
        disabled: ["k1".to_string()].into(),
        allow_bundled: Some(["system-health".to_string()].into()),
        only: None,
    };
    let c = Catalog::open(
        roots(&tmp),
        &host(&tmp),
        &LoadOptions {
            policy,
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        status(&c, "keyed"),
        Availability::Disabled(DisabledBy::Disabled)
    );
    assert_eq!(status(&c, "plain"), Availability::Available);
    assert_eq!(
        status(&c, "service-logs"),
        Availability::Disabled(DisabledBy::NotAllowedBundled)
    );
    let only = Policy {
        only: Some(["plain".to_string()].into()),
        ..Policy::default()
    };
    let c = Catalog::open(
        roots(&tmp),
        &host(&tmp),
        &LoadOptions {
            policy: only,
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        status(&c, "keyed"),
        Availability::Disabled(DisabledBy::NotInOnly)
    );
    assert_eq!(
        c.prompt_skills().map(Skill::name).collect::<Vec<_>>(),
        vec!["plain"]
    );
}

#[test]
fn precedence_and_shadowing() {
    let tmp = TempDir::new();
    tmp.skill(
        "ws",
        "weather",
        md(
            "weather",
            r#"{"openclaw": {"requires": {"bins": ["absent"]}}}"#,
        ),
    );
    tmp.skill("managed", "weather", md("weather", "{}"));
    tmp.skill("managed", "system-health", md("system-health", "{}"));
    tmp.skill("managed", "notes", md("notes", "{}"));
    let c = open(&tmp);
    let rows: Vec<(&str, Source, Option<Source>)> = c
        .entries()
        .iter()
        .map(|e| (e.skill.name(), e.skill.source(), e.shadowed_by))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("notes", Source::Managed, None),
            ("service-logs", Source::Bundled, None),
            ("system-health", Source::Managed, None),
            ("system-health", Source::Bundled, Some(Source::Managed)),
            ("weather", Source::Workspace, None),
            ("weather", Source::Managed, Some(Source::Workspace)),
        ]
    );
    // The workspace's weather wins although it is unavailable; the managed one is not offered.
    let weather = c.resolve("weather").unwrap();
    assert_eq!(weather.skill.source(), Source::Workspace);
    let ws_loc = tmp.path().join("ws/weather/SKILL.md").display().to_string();
    assert_eq!(weather.skill.location(), ws_loc);
    let prompt: Vec<(&str, Source)> = c.prompt_skills().map(|s| (s.name(), s.source())).collect();
    assert!(!prompt.iter().any(|(n, _)| *n == "weather"));
    assert!(prompt.contains(&("system-health", Source::Managed)));
    let body = c.read_body("system-health").unwrap();
    assert_eq!(body.text, "# system-health\n");
}

/// Every malformed case is reported at the right file line, and the good skill beside them
/// still loads.
#[test]
fn malformed_files_report_file_lines() {
    let tmp = TempDir::new();
    let cases: &[(&str, &[u8], usize, &str)] = &[
        ("no-open", b"name: x\n---\n", 1, "must start with a `---` line"),
        ("unterminated", b"---\nname: unterminated\ndescription: d\n", 1, "unterminated frontmatter"),
        ("bad-yaml", b"---\nname: bad-yaml\ndescription: Use this: when asked\n---\n", 3, "invalid YAML: mapping values are not allowed in this context (quote a value"),
        ("bad-flow", b"---\nname: bad-flow\ndescription: d\nmetadata: {\"openclaw\": {\"os\": [\"linux\"}}\n---\n", 4, "invalid YAML"),
        ("bad-indent", b"---\nname: bad-indent\ndescription: d\nmetadata:\n  a: 1\n b: 2\n---\n", 6, "invalid YAML"),
        ("no-name", b"---\ndescription: d\n---\n", 1, "missing `name`"),
        ("no-desc", b"---\n# comment\nname: no-desc\n---\n", 1, "missing `description`"),
        ("empty-desc", b"---\nname: empty-desc\ndescription: \"\"\n---\n", 3, "`description` is empty"),
        ("bad-name", b"---\n\nname: Bad_Name\ndescription: d\n---\n", 3, "invalid name `Bad_Name`: only lowercase"),
        ("double-hyphen", b"---\nname: a--b\ndescription: d\n---\n", 2, "two hyphens"),
        ("list-desc", b"---\nname: list-desc\ndescription:\n  - a\n---\n", 3, "`description` must be a string"),
        ("dup-key", b"---\nname: dup-key\ndescription: d\nname: again\n---\n", 4, "duplicate key `name`"),
        ("alias", b"---\nname: &n alias\ndescription: *n\n---\n", 3, "aliases"),
        ("not-map", b"---\n- a\n- b\n---\n", 2, "must be a mapping"),
        ("meta-type", b"---\nname: meta-type\ndescription: d\n\nmetadata: {\"openclaw\": {\"requires\": {\"bins\": 5}}}\n---\n", 5, "`metadata.openclaw.requires.bins` must be a list of strings"),
        ("meta-string", b"---\nname: meta-string\ndescription: d\nmetadata: '{not json'\n---\n", 4, "not a JSON object"),
        ("always-type", b"---\nname: always-type\ndescription: d\nmetadata:\n  openclaw:\n    always: maybe\n---\n", 4, "always` must be true or false"),
    ];
    for (folder, text, _, _) in cases {
        tmp.skill("ws", folder, text);
    }
    tmp.skill(
        "ws",
        "not-utf8",
        b"---\nname: not-utf8\ndescription: d\nlicense: caf\xe9\n---\n",
    );
    tmp.skill(
        "ws",
        "too-big",
        format!(
            "---\nname: too-big\ndescription: d\n---\n{}",
            "x".repeat(300_000)
        ),
    );
    tmp.skill("ws", "good", md("good", "{}"));
    std::fs::create_dir_all(tmp.path().join("ws/no-skill-md")).unwrap();
    let c = open(&tmp);
    assert_eq!(c.resolve("good").unwrap().skill.source(), Source::Workspace);
    assert!(
        !c.entries()
            .iter()
            .any(|e| e.skill.source() == Source::Workspace && e.skill.name() != "good")
    );
    let find = |folder: &str| {
        let path = tmp
            .path()
            .join("ws")
            .join(folder)
            .join("SKILL.md")
            .display()
            .to_string();
        c.problems()
            .iter()
            .find(|p| {
                p.to_string().starts_with(&format!("{path}:"))
                    || p.to_string().starts_with(&format!("{path}: "))
            })
            .unwrap_or_else(|| panic!("no problem for {folder}: {:?}", c.problems()))
    };
    for (folder, _, line, needle) in cases {
        match find(folder) {
            SkillError::Invalid {
                line: got, message, ..
            } => {
                assert_eq!((folder, *got), (folder, *line), "{message}");
                assert!(message.contains(needle), "{folder}: {message}");
            }
            other => panic!("{folder}: {other}"),
        }
    }
    assert!(matches!(
        find("not-utf8"),
        SkillError::NotUtf8 { line: 4, .. }
    ));
    assert!(matches!(
        find("too-big"),
        SkillError::TooLarge { limit: 256_000, .. }
    ));
    assert_eq!(c.problems().len(), cases.len() + 2, "{:?}", c.problems());
}

#[test]
fn frontmatter_fields_and_yaml_forms() {
    let tmp = TempDir::new();
    let text = "\u{feff}---\r\nname: forms\r\ndescription: >\r\n  Folded\r\n  text.\r\nlicense: 'Apache-2.0'\r\ncompatibility: \"Needs a Pi\"\r\nallowed-tools: Bash(git:*) Read\r\nuser-invocable: no\r\ndisable-model-invocation: true\r\nmetadata:\r\n  author: me   # a comment\r\n  openclaw:\r\n    emoji: \"\u{1f527}\"\r\n    os: linux, darwin\r\n    primaryEnv: KEY\r\n---\r\nBody\r\n";
    tmp.skill("managed", "forms", text);
    let c = open(&tmp);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    let skill = &c.resolve("forms").unwrap().skill;
    let fm = skill.frontmatter();
    assert_eq!(fm.description, "Folded text.");
    assert_eq!(fm.license.as_deref(), Some("Apache-2.0"));
    assert_eq!(fm.compatibility.as_deref(), Some("Needs a Pi"));
    assert_eq!(fm.allowed_tools, vec!["Bash(git:*)", "Read"]);
    assert!(!fm.user_invocable && fm.disable_model_invocation);
    assert_eq!(fm.metadata["author"], "me");
    let oc = fm.openclaw.as_ref().unwrap();
    assert_eq!(
        (
            oc.os.clone(),
            oc.primary_env.as_deref(),
            oc.emoji.as_deref()
        ),
        (
            vec!["linux".to_string(), "darwin".to_string()],
            Some("KEY"),
            Some("\u{1f527}")
        )
    );
    assert!(skill.warnings().is_empty());
    // Available but kept out of the prompt by disable-model-invocation; its body is readable.
    assert_eq!(c.prompt_skills().count(), 2);
    assert_eq!(
        c.read_body("forms").unwrap(),
        Body {
            text: "Body\r\n".into(),
            truncated: false,
            first_line: 18
        }
    );
}

#[test]
fn bundled_skills_are_clean() {
    let tmp = TempDir::new();
    let bare = Host {
        path: Vec::new(),
        ..host(&tmp)
    };
    let c = Catalog::open(Roots::default(), &bare, &LoadOptions::default());
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    let names: Vec<&str> = c.entries().iter().map(|e| e.skill.name()).collect();
    assert_eq!(names, vec!["service-logs", "system-health"]);
    for e in c.entries() {
        assert!(e.skill.warnings().is_empty(), "{:?}", e.skill.warnings());
        assert_eq!(
            e.skill.location(),
            format!("bundled:{}/SKILL.md", e.skill.name())
        );
        let bins = &e
            .skill
            .frontmatter()
            .openclaw
            .as_ref()
            .unwrap()
            .requires
            .bins;
        assert!(!bins.is_empty());
        // With an empty PATH: unavailable with the reasons.
        assert!(matches!(&e.availability, Availability::Unavailable(m) if m.len() == bins.len()));
    }
    assert_eq!(
        c.entries()[1].availability.to_string(),
        "unavailable: missing bins df, free, uptime"
    );
}

#[test]
fn limits_per_root() {
    let tmp = TempDir::new();
    for i in 0..5 {
        tmp.skill("managed", &format!("s{i}"), md(&format!("s{i}"), "{}"));
    }
    tmp.skill("managed", ".hidden", md("hidden", "{}"));
    let limits = Limits {
        max_dirs_per_root: 4,
        max_skills_per_root: 2,
        ..Limits::default()
    };
    let c = Catalog::open(
        roots(&tmp),
        &host(&tmp),
        &LoadOptions {
            limits,
            ..LoadOptions::default()
        },
    );
    let managed: Vec<&str> = c
        .entries()
        .iter()
        .filter(|e| e.skill.source() == Source::Managed)
        .map(|e| e.skill.name())
        .collect();
    assert_eq!(managed, vec!["s0", "s1"]);
    let problems: Vec<String> = c.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].ends_with("5 folders, only the first 4 were read; the rest were skipped"));
    assert!(problems[1].ends_with("more than 2 skills; the rest were skipped"));
}
