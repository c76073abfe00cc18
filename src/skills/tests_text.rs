//! Tests of the text views (prompt block, `hearth skills list`) and of body reading, on real
//! files in temporary directories.

use super::tests::{TempDir, host, md, open, roots};
use super::*;
use std::collections::BTreeSet;

#[test]
fn list_lines_text() {
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
    tmp.skill("managed", "renamed-folder", md("system-health", "{}"));
    tmp.skill("managed", "broken", "---\nname: broken\n");
    let c = open(&tmp);
    let root = tmp.path().display();
    let expected = vec![
        "NAME           SOURCE     STATUS".to_string(),
        "service-logs   bundled    available".to_string(),
        "system-health  managed    available; shadows bundled".to_string(),
        format!(
            "  warning: {root}/managed/renamed-folder/SKILL.md:2: name `system-health` differs from its folder `renamed-folder` (AgentSkills requires them equal)"
        ),
        "system-health  bundled    shadowed by managed (available)".to_string(),
        "weather        workspace  unavailable: missing bin absent; shadows managed".to_string(),
        "weather        managed    shadowed by workspace (available)".to_string(),
        format!(
            "error: {root}/managed/broken/SKILL.md:1: unterminated frontmatter: no closing `---` line"
        ),
    ];
    assert_eq!(c.list_lines(), expected);
}

#[test]
fn prompt_block_exact_text() {
    let tmp = TempDir::new();
    tmp.skill(
        "ws",
        "alpha",
        "---\nname: alpha\ndescription: Use for <tags> & \"quotes\" and 'apostrophes'.\n---\n",
    );
    let options = LoadOptions {
        policy: Policy {
            allow_bundled: Some(BTreeSet::new()),
            ..Policy::default()
        },
        ..LoadOptions::default()
    };
    let c = Catalog::open(roots(&tmp), &host(&tmp), &options);
    let loc = tmp.path().join("ws/alpha/SKILL.md").display().to_string();
    let expected = format!(
        "\n\nThe following skills provide specialized instructions for specific tasks.\n\
Use the skill tool to load a skill's file when the task matches its description.\n\
When a skill file references a relative path, resolve it against the skill directory (parent of SKILL.md / dirname of the path) and use that absolute path in tool commands.\n\
\n\
<available_skills>\n  <skill>\n    <name>alpha</name>\n    <description>Use for &lt;tags&gt; &amp; &quot;quotes&quot; and &apos;apostrophes&apos;.</description>\n    <location>{loc}</location>\n  </skill>\n</available_skills>"
    );
    assert_eq!(c.prompt_block(&PromptOptions::default()), expected);
    let openclaw = PromptOptions {
        read_tool: "read".into(),
        ..PromptOptions::default()
    };
    assert!(
        c.prompt_block(&openclaw)
            .contains("\nUse the read tool to load a skill's file")
    );

    // Nothing offered: no block at all.
    let none = LoadOptions {
        policy: Policy {
            only: Some(BTreeSet::new()),
            ..Policy::default()
        },
        ..LoadOptions::default()
    };
    assert_eq!(
        Catalog::open(roots(&tmp), &host(&tmp), &none).prompt_block(&PromptOptions::default()),
        ""
    );
}

#[test]
fn prompt_block_compacts_then_truncates() {
    let tmp = TempDir::new();
    for i in 0..6 {
        let name = format!("skill-{i}");
        tmp.skill(
            "managed",
            &name,
            format!("---\nname: {name}\ndescription: {}\n---\n", "d".repeat(400)),
        );
    }
    let policy = Policy {
        allow_bundled: Some(BTreeSet::new()),
        ..Policy::default()
    };
    let block = |max_prompt_chars: usize| {
        let limits = Limits {
            max_prompt_chars,
            ..Limits::default()
        };
        let options = LoadOptions {
            limits,
            policy: policy.clone(),
        };
        Catalog::open(roots(&tmp), &host(&tmp), &options).prompt_block(&PromptOptions::default())
    };
    let full = block(100_000);
    assert_eq!(full.matches("<skill>").count(), 6);
    assert!(full.starts_with("\n\nThe following") && full.contains("<description>"));
    let compact = block(full.chars().count() - 1);
    assert!(compact.starts_with("⚠️ Skills catalog using compact format (descriptions omitted). Run `hearth skills list` to audit.\n\n\nThe following"));
    assert!(!compact.contains("<description>") && compact.matches("<skill>").count() == 6);
    let cut = block(compact.chars().count() - 1);
    assert!(
        cut.starts_with(
            "⚠️ Skills truncated: included 5 of 6 (compact format, descriptions omitted)."
        ),
        "{cut}"
    );
    assert_eq!(cut.matches("<skill>").count(), 5);
    assert!(cut.chars().count() < compact.chars().count());
    assert_eq!(block(10), "");
}

#[test]
fn body_reading() {
    let tmp = TempDir::new();
    tmp.skill(
        "ws",
        "tool",
        "---\nname: tool\ndescription: d\n---\n\nRun {baseDir}/scripts/go.sh — ünïcode.\n",
    );
    let c = open(&tmp);
    let base = tmp.path().join("ws/tool").display().to_string();
    let body = c.read_body("tool").unwrap();
    assert_eq!(
        body,
        Body {
            text: format!("\nRun {base}/scripts/go.sh — ünïcode.\n"),
            truncated: false,
            first_line: 5
        }
    );
    // By location too, as the prompt shows it.
    let loc = c.resolve("tool").unwrap().skill.location().to_string();
    assert_eq!(c.read_body(&loc).unwrap(), body);
    assert!(matches!(c.read_body("nope"), Err(SkillError::NotFound(_))));

    // Capped at a character boundary: "ü" straddles the cap.
    let cap = body.text.find('ü').unwrap() + 1;
    let limits = Limits {
        max_body_bytes: cap,
        ..Limits::default()
    };
    let c2 = Catalog::open(
        roots(&tmp),
        &host(&tmp),
        &LoadOptions {
            limits,
            ..LoadOptions::default()
        },
    );
    let cut = c2.read_body("tool").unwrap();
    assert!(cut.truncated);
    assert_eq!(cut.text, body.text[..cap - 1]);

    // Re-read from disk: an edit after loading shows; a file broken since is an error.
    tmp.skill("ws", "tool", "---\nname: tool\ndescription: d\n---\nNew\n");
    assert_eq!(c.read_body("tool").unwrap().text, "New\n");
    tmp.skill("ws", "tool", "no frontmatter\n");
    assert!(matches!(
        c.read_body("tool"),
        Err(SkillError::Invalid { line: 1, .. })
    ));

    // Bundled bodies come from the binary.
    let health = c.read_body("system-health").unwrap();
    assert!(health.text.starts_with("\n# System health\n") && !health.truncated);
}
