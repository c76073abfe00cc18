use super::*;

fn argv(a: &Analysis) -> Vec<Vec<&str>> {
    a.segments
        .iter()
        .map(|s| s.argv.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn lines_split_into_segments_with_quotes_removed() {
    let a = analyze(
        r#"git log --oneline -n 3 && echo 'a b' "c d" e\ f | wc -l; ls"#,
        Path::new("/"),
    );
    assert_eq!(
        argv(&a),
        [
            vec!["git", "log", "--oneline", "-n", "3"],
            vec!["echo", "a b", "c d", "e f"],
            vec!["wc", "-l"],
            vec!["ls"],
        ]
    );
    assert_eq!(a.opaque, None);
    assert_eq!(
        a.segments[2].resolved.as_deref(),
        Some(Path::new("/usr/bin/wc"))
    );
    assert_eq!(a.segments[0].args(), "log --oneline -n 3");
}

#[test]
fn what_the_allowlist_cannot_judge_is_reported() {
    for (line, why) in [
        ("echo $(id)", "command substitution"),
        ("echo `id`", "command substitution"),
        ("echo \"$HOME\"", "variable expansion"),
        ("cat < /etc/passwd", "redirection"),
        ("echo x > out.txt", "redirection"),
        ("rm *.txt", "glob"),
        ("sleep 5 &", "background job"),
        ("(cd /; ls)", "subshell or group"),
        ("cat ~/.ssh/id_rsa", "tilde expansion"),
        ("PATH=/tmp ls", "environment assignment"),
    ] {
        assert_eq!(
            analyze(line, Path::new("/")).opaque.as_deref(),
            Some(why),
            "{line}"
        );
    }
    // Quoted, they are plain words.
    assert_eq!(
        analyze("echo '$(id) *.txt > x'", Path::new("/")).opaque,
        None
    );
    // A comment ends the line.
    assert_eq!(argv(&analyze("ls # $(boom)", Path::new("/"))), [vec!["ls"]]);
}

#[test]
fn inline_interpreter_code_is_recognised() {
    for line in [
        "python3 -c 'print(1)'",
        "python3.13 -c 'print(1)'",
        "sh -c 'rm -rf x'",
        "bash -lc 'id'",
        "/usr/bin/perl -e 'print 1'",
        "node --eval 1",
        "awk '{print}'",
        "ls | sh -c 'id'",
    ] {
        assert!(analyze(line, Path::new("/")).inline_code(), "{line}");
    }
    for line in [
        "python3 script.py",
        "sh script.sh",
        "ls -c",
        "git commit -c x",
    ] {
        assert!(!analyze(line, Path::new("/")).inline_code(), "{line}");
    }
}

#[test]
fn safe_bins_take_stdin_only() {
    let safe = |l: &str| {
        analyze(l, Path::new("/"))
            .segments
            .iter()
            .all(Segment::safe_bin)
    };
    for ok in [
        "wc -l",
        "head -n 5",
        "tail -c 100",
        "cut -d , -f 2",
        "tr a-z A-Z",
        "uniq -c",
    ] {
        assert!(safe(ok), "{ok}");
    }
    for bad in [
        "wc -l secrets.txt",
        "head /etc/passwd",
        "tail -f log",
        "tail --follow=name log",
        "wc --files0-from=list",
        "tr a-z A-Z extra",
        "tr ./a b",
        "uniq in out",
        "sort",
        "grep x",
        "./wc",
    ] {
        assert!(!safe(bad), "{bad}");
    }
}

#[test]
fn binaries_resolve_on_the_sandbox_path_and_through_symlinks() {
    let dir = std::env::temp_dir().join(format!("hearth-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/usr/bin/wc", dir.join("count")).unwrap();
    let a = analyze("./count -l", &dir);
    assert_eq!(
        a.segments[0].resolved.as_deref(),
        Some(Path::new("/usr/bin/wc"))
    );
    // A renamed link to a safe bin is not the safe bin.
    assert!(!a.segments[0].safe_bin());
    assert_eq!(resolve("no-such-binary-hearth", &dir), None);
    std::fs::remove_dir_all(&dir).unwrap();
}
