use super::*;
use crate::tool::{BuiltinOptions, Registry, builtin_registry};
use crate::workspace::tests::TempDir;

fn setup(tag: &str) -> (TempDir, Registry) {
    let t = TempDir::new(tag);
    let ws = Workspace::open(&t.0.join("ws")).unwrap();
    let reg = builtin_registry(&BuiltinOptions {
        workspace: Arc::new(ws),
        web_fetch: None,
    });
    (t, reg)
}

fn cx() -> crate::tool::ToolCtx {
    crate::tool::ToolCtx::detached(std::time::Duration::from_secs(60))
}

fn err_text(r: Result<String, ToolError>) -> String {
    match r {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn registry_offers_the_file_tools() {
    let (_t, reg) = setup("fs-reg");
    let names: Vec<String> = reg.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["edit", "ls", "read", "write"]);
    for spec in reg.specs() {
        assert!(spec.description.contains("relative to"), "{}", spec.name);
        assert_eq!(spec.parameters["type"], "object");
    }
}

#[test]
fn write_then_read() {
    let (t, reg) = setup("fs-rw");
    let out = reg
        .call(
            &cx(),
            "write",
            &json!({"path": "notes/a.txt", "content": "héllo\nworld\n"}),
        )
        .unwrap();
    assert_eq!(out, "wrote 13 bytes to notes/a.txt");
    assert_eq!(
        std::fs::read_to_string(t.0.join("ws/notes/a.txt")).unwrap(),
        "héllo\nworld\n"
    );
    assert_eq!(
        reg.call(&cx(), "read", &json!({"path": "notes/a.txt"}))
            .unwrap(),
        "héllo\nworld\n"
    );
    reg.call(
        &cx(),
        "write",
        &json!({"path": "notes/a.txt", "content": ""}),
    )
    .unwrap();
    assert_eq!(
        reg.call(&cx(), "read", &json!({"path": "notes/a.txt"}))
            .unwrap(),
        "[empty file]"
    );
    assert!(
        err_text(reg.call(&cx(), "read", &json!({"path": "../../etc/passwd"})))
            .contains("outside the workspace")
    );
    assert!(
        err_text(reg.call(&cx(), "read", &json!({"path": "/etc/passwd"})))
            .contains("outside the workspace")
    );
    assert!(
        err_text(reg.call(&cx(), "write", &json!({"path": "/etc/x", "content": "x"})))
            .contains("outside")
    );
    assert!(
        err_text(reg.call(&cx(), "write", &json!({"path": "a.txt"}))).contains("missing `content`")
    );
    assert!(err_text(reg.call(&cx(), "read", &json!({"path": "notes"}))).contains("use `ls`"));
}

#[test]
fn read_offset_limit_and_cap() {
    let (_t, reg) = setup("fs-window");
    let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    reg.call(&cx(), "write", &json!({"path": "f.txt", "content": text}))
        .unwrap();
    let out = reg
        .call(
            &cx(),
            "read",
            &json!({"path": "f.txt", "offset": 3, "limit": 2}),
        )
        .unwrap();
    assert_eq!(
        out,
        "line 3\nline 4\n\n[more lines follow; continue with offset=5]"
    );
    let out = reg
        .call(&cx(), "read", &json!({"path": "f.txt", "offset": 9}))
        .unwrap();
    assert_eq!(out, "line 9\nline 10\n");
    assert!(
        err_text(reg.call(&cx(), "read", &json!({"path": "f.txt", "offset": 11})))
            .contains("past the end")
    );
    assert!(
        err_text(reg.call(&cx(), "read", &json!({"path": "f.txt", "offset": 0}))).contains(">= 1")
    );

    let big: String = (0..5000).map(|i| format!("{i:099}\n")).collect(); // 500 kB
    reg.call(&cx(), "write", &json!({"path": "big.txt", "content": big}))
        .unwrap();
    let out = reg
        .call(&cx(), "read", &json!({"path": "big.txt"}))
        .unwrap();
    assert!(out.len() <= READ_MAX_BYTES + 100);
    assert!(
        out.ends_with("[truncated at 256 KiB; continue with offset=2622]"),
        "{}",
        &out[out.len() - 80..]
    );
    let long = "x".repeat(READ_MAX_BYTES + 10);
    reg.call(
        &cx(),
        "write",
        &json!({"path": "long.txt", "content": long}),
    )
    .unwrap();
    let out = reg
        .call(&cx(), "read", &json!({"path": "long.txt"}))
        .unwrap();
    assert!(out.starts_with("xxx") && out.contains("longer than 256 KiB"));
}

#[test]
fn read_refuses_binary_and_non_utf8() {
    let (t, reg) = setup("fs-binary");
    std::fs::write(t.0.join("ws/latin1.txt"), b"caf\xe9\n").unwrap();
    std::fs::write(t.0.join("ws/blob.bin"), b"\x7fELF\0\0\x01").unwrap();
    for p in ["latin1.txt", "blob.bin"] {
        let msg = err_text(reg.call(&cx(), "read", &json!({ "path": p })));
        assert!(
            msg.starts_with(p) && msg.contains("not a UTF-8 text file"),
            "{msg}"
        );
    }
    let msg = err_text(reg.call(
        &cx(),
        "edit",
        &json!({"path": "latin1.txt", "old_string": "caf", "new_string": "x"}),
    ));
    assert!(msg.contains("not a UTF-8 text file"), "{msg}");
}

#[test]
fn edit_replaces_exact_matches() {
    let (t, reg) = setup("fs-edit");
    reg.call(
        &cx(),
        "write",
        &json!({"path": "e.txt", "content": "a b a c"}),
    )
    .unwrap();
    let e = |old: &str, new: &str, all: Option<bool>| {
        let mut args = json!({"path": "e.txt", "old_string": old, "new_string": new});
        if let Some(all) = all {
            args["replace_all"] = json!(all);
        }
        reg.call(&cx(), "edit", &args)
    };
    assert!(err_text(e("zzz", "y", None)).contains("not found"));
    assert!(err_text(e("a", "y", None)).contains("occurs 2 times"));
    assert!(err_text(e("a", "y", Some(false))).contains("occurs 2 times"));
    assert!(err_text(e("", "y", None)).contains("must not be empty"));
    assert!(err_text(e("a", "a", None)).contains("identical"));
    assert_eq!(e("b", "B", None).unwrap(), "replaced 1 occurrence in e.txt");
    assert_eq!(
        e("a", "x", Some(true)).unwrap(),
        "replaced 2 occurrences in e.txt"
    );
    assert_eq!(
        std::fs::read_to_string(t.0.join("ws/e.txt")).unwrap(),
        "x B x c"
    );
    assert!(
        err_text(reg.call(
            &cx(),
            "edit",
            &json!({"path": "none.txt", "old_string": "a", "new_string": "b"})
        ))
        .starts_with("none.txt: ")
    );
}

#[test]
fn ls_lists_sorted_with_sizes_and_caps() {
    let (t, reg) = setup("fs-ls");
    reg.call(
        &cx(),
        "write",
        &json!({"path": "b.txt", "content": "12345"}),
    )
    .unwrap();
    reg.call(
        &cx(),
        "write",
        &json!({"path": "a/inner.txt", "content": "x"}),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", t.0.join("ws/link")).unwrap();
    assert_eq!(
        reg.call(&cx(), "ls", &json!({})).unwrap(),
        "a/\nb.txt (5 bytes)\nlink@"
    );
    assert_eq!(
        reg.call(&cx(), "ls", &json!({"path": "a"})).unwrap(),
        "inner.txt (1 bytes)"
    );
    assert_eq!(
        reg.call(&cx(), "ls", &json!({"path": "b.txt"})).unwrap(),
        "b.txt (5 bytes)"
    );
    assert!(
        err_text(reg.call(&cx(), "ls", &json!({"path": "link"}))).contains("crosses a symlink")
    );
    assert!(err_text(reg.call(&cx(), "ls", &json!({"path": "../.."}))).contains("outside"));
    std::fs::create_dir(t.0.join("ws/many")).unwrap();
    assert_eq!(
        reg.call(&cx(), "ls", &json!({"path": "many"})).unwrap(),
        "[empty directory]"
    );
    for i in 0..LS_MAX_ENTRIES + 5 {
        std::fs::write(t.0.join(format!("ws/many/f{i:04}")), b"").unwrap();
    }
    let out = reg.call(&cx(), "ls", &json!({"path": "many"})).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), LS_MAX_ENTRIES + 1);
    assert_eq!(lines[0], "f0000 (0 bytes)");
    assert_eq!(
        lines[LS_MAX_ENTRIES],
        "[5 more entries not shown; 1005 in all]"
    );
}
