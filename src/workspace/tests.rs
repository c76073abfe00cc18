//! Unit tests of [`Workspace`]: every test runs under both resolutions (`openat2` where
//! this kernel has it, and the forced descriptor walk).

use super::*;
use std::fs;
use std::os::unix::fs::symlink;

/// A unique directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("hearth-ws-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fixture: `t/ws` (the workspace) and `t/out` (outside, holding `secret` = "s" and
/// directory `sub`).
struct Fx {
    t: TempDir,
    ws: Workspace,
}

impl Fx {
    fn root(&self) -> PathBuf {
        self.t.0.join("ws")
    }
    fn out(&self) -> PathBuf {
        self.t.0.join("out")
    }
    /// The outside directory's entries and the secret's content.
    fn outside_state(&self) -> (Vec<String>, Vec<u8>) {
        let mut names: Vec<String> = fs::read_dir(self.out())
            .expect("outside")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (names, fs::read(self.out().join("secret")).expect("secret"))
    }
}

/// Runs `f` on a fresh fixture per resolution.
fn both(tag: &str, f: impl Fn(&Fx)) {
    for walk in [false, true] {
        let t = TempDir::new(tag);
        fs::create_dir_all(t.0.join("out/sub")).expect("out");
        fs::write(t.0.join("out/secret"), b"s").expect("secret");
        let mut ws = Workspace::open(&t.0.join("ws")).expect("open");
        if walk {
            ws.force_walk();
            assert_eq!(ws.resolution(), Resolution::Walk);
        }
        let fx = Fx { t, ws };
        f(&fx);
        assert_eq!(
            fx.outside_state(),
            (vec!["secret".into(), "sub".into()], b"s".to_vec()),
            "walk={walk}"
        );
    }
}

#[track_caller]
fn is_outside<T: std::fmt::Debug>(r: Result<T, WorkspaceError>, given: &str) {
    match r {
        Err(WorkspaceError::Outside { path }) => assert_eq!(path, given),
        other => panic!("expected Outside for {given:?}, got {other:?}"),
    }
}

#[track_caller]
fn is_symlink<T: std::fmt::Debug>(r: Result<T, WorkspaceError>, given: &str) {
    match r {
        Err(e @ WorkspaceError::Symlink { .. }) => {
            assert_eq!(e.path(), given);
            assert_eq!(
                e.to_string(),
                format!("path {given:?} crosses a symlink; the workspace does not follow symlinks")
            );
        }
        other => panic!("expected Symlink for {given:?}, got {other:?}"),
    }
}

#[test]
fn open_creates_the_root_and_reports_the_resolution() {
    let t = TempDir::new("open");
    let ws = Workspace::open(&t.0.join("a/./b")).expect("open");
    assert!(t.0.join("a/b").is_dir());
    assert_eq!(
        ws.root(),
        fs::canonicalize(t.0.join("a/b")).expect("canonical")
    );
    eprintln!("this kernel resolves with {:?}", ws.resolution());
    fs::write(t.0.join("file"), b"").expect("file");
    assert!(Workspace::open(&t.0.join("file")).is_err());
}

#[test]
fn relative_absolute_dot_and_empty_paths() {
    both("paths", |fx| {
        let ws = &fx.ws;
        ws.write_atomic("a/b.txt", b"hi").expect("write");
        assert_eq!(ws.read_to_string("a/b.txt", 10).expect("read"), "hi");
        assert_eq!(
            ws.read_to_string("./a/../a/./b.txt", 10).expect("read"),
            "hi"
        );
        let abs = ws.root().join("a/b.txt");
        assert_eq!(
            ws.read_to_string(abs.to_str().expect("utf8"), 10)
                .expect("abs"),
            "hi"
        );
        let given = fx.root().join("a/../a/b.txt");
        assert_eq!(
            ws.read_to_string(given.to_str().expect("utf8"), 10)
                .expect("given"),
            "hi"
        );
        for root in ["", ".", "./", "a/.."] {
            assert_eq!(ws.metadata(root).expect(root).kind, EntryKind::Dir);
            assert_eq!(ws.read_dir(root).expect(root).len(), 1, "{root}");
        }
        assert!(ws.exists("a").expect("exists") && !ws.exists("nope").expect("exists"));
    });
}

#[test]
fn escapes_by_dotdot_and_absolute_paths_are_outside() {
    both("escape", |fx| {
        let ws = &fx.ws;
        for p in [
            "..",
            "../out/secret",
            "a/../../x",
            "/etc/passwd",
            "/",
            "/etc/../etc/passwd",
        ] {
            is_outside(ws.open_read(p), p);
            is_outside(ws.write_atomic(p, b"x"), p);
            is_outside(ws.append(p, b"x"), p);
            is_outside(ws.read_dir(p), p);
            is_outside(ws.create_dir_all(p), p);
            is_outside(ws.remove(p), p);
        }
        let sibling = format!("{}/../out/secret", ws.root().display());
        is_outside(ws.read(&sibling, 10), &sibling);
        let e = ws.read("a\0b", 10).expect_err("nul");
        assert!(matches!(e, WorkspaceError::Invalid { .. }), "{e:?}");
        assert!(matches!(
            ws.write_atomic("", b"x"),
            Err(WorkspaceError::Invalid { .. })
        ));
        assert!(matches!(
            ws.remove("."),
            Err(WorkspaceError::Invalid { .. })
        ));
    });
}

#[test]
fn a_symlinked_file_is_refused_but_described() {
    both("symfile", |fx| {
        let ws = &fx.ws;
        symlink(fx.out().join("secret"), fx.root().join("out-link")).expect("link");
        ws.write_atomic("real.txt", b"inside").expect("write");
        symlink("real.txt", fx.root().join("in-link")).expect("link");
        for p in ["out-link", "in-link", "./in-link"] {
            is_symlink(ws.open_read(p), p);
            is_symlink(ws.read(p, 100), p);
            is_symlink(ws.write_atomic(p, b"x"), p);
            is_symlink(ws.append(p, b"x"), p);
            is_symlink(ws.read_dir(p), p);
            is_symlink(ws.create_dir_all(p), p);
            is_symlink(ws.walk(p, 3), p);
            assert_eq!(ws.metadata(p).expect("lstat").kind, EntryKind::Symlink);
            assert!(ws.exists(p).expect("exists"));
        }
        assert_eq!(
            fs::read(fx.root().join("real.txt")).expect("real"),
            b"inside"
        );
        ws.remove("out-link").expect("remove the link itself");
        assert!(!ws.exists("out-link").expect("exists"));
    });
}

#[test]
fn a_symlinked_directory_is_refused_anywhere_on_the_path() {
    both("symdir", |fx| {
        let ws = &fx.ws;
        ws.create_dir_all("a/real/deep").expect("mkdir");
        ws.write_atomic("a/real/f.txt", b"one").expect("write");
        // As the root's child, in the middle, pointing out and pointing in.
        symlink(fx.out(), fx.root().join("memory")).expect("link");
        symlink(fx.out(), fx.root().join("a/mid")).expect("link");
        symlink("real", fx.root().join("a/alias")).expect("link");
        for p in [
            "memory/secret",
            "memory/sub",
            "a/mid/secret",
            "a/mid/sub/x",
            "a/alias/f.txt",
            "memory/new/deep.md",
        ] {
            is_symlink(ws.open_read(p), p);
            is_symlink(ws.write_atomic(p, b"x"), p);
            is_symlink(ws.append(p, b"x"), p);
            is_symlink(ws.create_dir_all(p), p);
            is_symlink(ws.metadata(p), p);
            is_symlink(ws.exists(p), p);
            is_symlink(ws.remove(p), p);
        }
        for p in ["memory", "a/mid", "a/alias"] {
            is_symlink(ws.read_dir(p), p);
            is_symlink(ws.walk(p, 8), p);
        }
        // Listings show the links and never descend into them.
        let top = ws.read_dir("").expect("ls");
        let kinds: Vec<(&str, EntryKind)> = top.iter().map(|e| (e.name.as_str(), e.kind)).collect();
        assert_eq!(
            kinds,
            [("a", EntryKind::Dir), ("memory", EntryKind::Symlink)]
        );
        let all: Vec<String> = ws
            .walk("", 10)
            .expect("walk")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            all,
            [
                "a",
                "a/alias",
                "a/mid",
                "a/real",
                "a/real/deep",
                "a/real/f.txt",
                "memory"
            ]
        );
    });
}

#[test]
fn a_file_on_the_path_is_not_a_directory() {
    both("notdir", |fx| {
        let ws = &fx.ws;
        ws.write_atomic("f", b"x").expect("write");
        for e in [
            ws.read("f/g", 9).expect_err("read"),
            ws.write_atomic("f/g", b"y").expect_err("write"),
        ] {
            match e {
                WorkspaceError::Io { path, source } => {
                    assert_eq!(
                        (path.as_str(), source.raw_os_error()),
                        ("f/g", Some(libc::ENOTDIR))
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(ws.read_dir("f"), Err(WorkspaceError::Io { .. })));
    });
}

#[test]
fn missing_paths_and_messages_name_only_the_given_path() {
    both("missing", |fx| {
        let ws = &fx.ws;
        for p in ["nope.txt", "no/dir/file"] {
            let e = ws.read(p, 10).expect_err(p);
            assert!(matches!(e, WorkspaceError::NotFound { .. }), "{e:?}");
            assert_eq!(e.to_string(), format!("{p}: no such file or directory"));
        }
        symlink(fx.root().join("nowhere"), fx.root().join("dangling")).expect("link");
        let e = ws.write_atomic("dangling", b"x").expect_err("dangling");
        assert!(!e.to_string().contains(&*fx.t.0.to_string_lossy()), "{e}");
        assert!(!fx.root().join("nowhere").exists());
    });
}

#[test]
fn fifos_are_refused_and_limits_hold() {
    both("fifo", |fx| {
        let ws = &fx.ws;
        let fifo = cstr(fx.root().join("fifo").to_str().expect("utf8"));
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let msg = ws.open_read("fifo").expect_err("fifo").to_string();
        assert!(msg.starts_with("fifo: not a regular file"), "{msg}");
        assert!(matches!(
            ws.append("fifo", b"x"),
            Err(WorkspaceError::Invalid { .. })
        ));
        ws.write_atomic("big", &[b'a'; 100]).expect("write");
        assert!(matches!(
            ws.read("big", 99),
            Err(WorkspaceError::TooLarge {
                size: 100,
                max: 99,
                ..
            })
        ));
        assert_eq!(ws.read("big", 100).expect("read").len(), 100);
        ws.write_atomic("latin1", b"caf\xe9").expect("write");
        let e = ws.read_to_string("latin1", 100).expect_err("not utf8");
        assert!(
            matches!(&e, WorkspaceError::Io { source, .. } if source.kind() == io::ErrorKind::InvalidData)
        );
        assert!(matches!(ws.read("", 10), Err(WorkspaceError::Io { .. })));
        assert!(
            ws.open_read("")
                .expect("dir")
                .metadata()
                .expect("meta")
                .is_dir()
        );
    });
}

#[test]
fn write_atomic_keeps_mode_and_leaves_no_temp_file_even_on_failure() {
    both("atomic", |fx| {
        let ws = &fx.ws;
        ws.write_atomic("x.sh", b"#!/bin/sh\n").expect("write");
        fs::set_permissions(fx.root().join("x.sh"), fs::Permissions::from_mode(0o750))
            .expect("chmod");
        ws.write_atomic("x.sh", b"#!/bin/sh\necho\n")
            .expect("rewrite");
        let meta = fs::metadata(fx.root().join("x.sh")).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o750);
        assert_eq!(
            fs::read(fx.root().join("x.sh")).expect("read"),
            b"#!/bin/sh\necho\n"
        );
        // The rename over a directory fails after the temp file was written.
        ws.create_dir_all("d/e").expect("mkdir");
        let e = ws.write_atomic("d", b"x").expect_err("over a dir");
        assert!(
            matches!(&e, WorkspaceError::Io { source, .. } if source.raw_os_error() == Some(libc::EISDIR)),
            "{e:?}"
        );
        let names: Vec<String> = ws
            .read_dir("")
            .expect("ls")
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["d", "x.sh"]);
        assert_eq!(ws.walk("d", 5).expect("walk").len(), 1);
    });
}

#[test]
fn append_creates_and_appends_and_dirs_are_created() {
    both("append", |fx| {
        let ws = &fx.ws;
        ws.append("memory/2026-01-02.md", b"one\n").expect("append");
        ws.append("memory/2026-01-02.md", b"two\n").expect("append");
        assert_eq!(
            ws.read_to_string("memory/2026-01-02.md", 100)
                .expect("read"),
            "one\ntwo\n"
        );
        ws.create_dir_all("p/q/r").expect("mkdir");
        ws.create_dir_all("p/q/r").expect("again");
        assert_eq!(ws.metadata("p/q/r").expect("meta").kind, EntryKind::Dir);
        let e = ws.metadata("memory/2026-01-02.md").expect("meta");
        assert_eq!(
            (e.name.as_str(), e.kind, e.len),
            ("2026-01-02.md", EntryKind::File, 8)
        );
        assert!(e.modified_ms > 1_600_000_000_000);
    });
}

#[test]
fn walk_lists_sorted_paths_to_a_depth() {
    both("walk", |fx| {
        let ws = &fx.ws;
        for p in [
            "memory/a.md",
            "memory/.hidden/h.md",
            "memory/x/y/z.md",
            "MEMORY.md",
        ] {
            ws.write_atomic(p, b"n").expect(p);
        }
        let paths = |rel, depth| -> Vec<String> {
            ws.walk(rel, depth)
                .expect("walk")
                .into_iter()
                .map(|(p, _)| p)
                .collect()
        };
        assert!(paths("memory", 0).is_empty());
        assert_eq!(
            paths("memory", 1),
            ["memory/.hidden", "memory/a.md", "memory/x"]
        );
        assert_eq!(
            paths("./memory/", 9),
            [
                "memory/.hidden",
                "memory/.hidden/h.md",
                "memory/a.md",
                "memory/x",
                "memory/x/y",
                "memory/x/y/z.md"
            ]
        );
        assert_eq!(paths("", 1), ["MEMORY.md", "memory"]);
        is_outside(ws.walk("..", 1), "..");
        assert!(matches!(
            ws.walk("none", 1),
            Err(WorkspaceError::NotFound { .. })
        ));
    });
}

#[test]
fn remove_files_links_and_empty_dirs() {
    both("remove", |fx| {
        let ws = &fx.ws;
        ws.write_atomic("d/f", b"x").expect("write");
        assert!(matches!(ws.remove("d"), Err(WorkspaceError::Io { .. })));
        ws.remove("d/f").expect("file");
        ws.remove("d").expect("empty dir");
        assert!(matches!(
            ws.remove("d"),
            Err(WorkspaceError::NotFound { .. })
        ));
        symlink(fx.out(), fx.root().join("l")).expect("link");
        ws.remove("l").expect("link");
    });
}

/// Hard links are not a path property: `write_atomic` replaces the entry (the outside name
/// keeps its content), `append` refuses, reads read through (documented).
#[test]
fn hard_links_are_replaced_not_written_through() {
    both("hardlink", |fx| {
        let ws = &fx.ws;
        fs::hard_link(fx.out().join("secret"), fx.root().join("hl")).expect("hard link");
        assert_eq!(ws.read("hl", 10).expect("read through"), b"s");
        assert!(matches!(
            ws.append("hl", b"x"),
            Err(WorkspaceError::Invalid { .. })
        ));
        ws.write_atomic("hl", b"new").expect("replace");
        assert_eq!(fs::read(fx.root().join("hl")).expect("read"), b"new");
    });
}

/// The root is held as a descriptor: renamed, the workspace follows it.
#[test]
fn the_root_descriptor_survives_a_rename_of_the_root() {
    both("rename-root", |fx| {
        let ws = &fx.ws;
        ws.write_atomic("before", b"1").expect("write");
        fs::rename(fx.root(), fx.t.0.join("moved")).expect("rename");
        fs::create_dir(fx.root()).expect("a new dir at the old path");
        ws.write_atomic("after", b"2").expect("write");
        assert_eq!(ws.read("before", 9).expect("read"), b"1");
        assert!(fx.t.0.join("moved/after").is_file());
        assert!(!fx.root().join("after").exists());
    });
}

#[test]
fn the_same_workspace_is_usable_from_many_threads() {
    both("threads", |fx| {
        std::thread::scope(|s| {
            for i in 0..4 {
                let ws = &fx.ws;
                s.spawn(move || {
                    for j in 0..50 {
                        ws.write_atomic(&format!("t{i}/f{j}"), b"x").expect("write");
                        ws.append("shared.log", b"line\n").expect("append");
                    }
                });
            }
        });
        assert_eq!(
            fx.ws.read("shared.log", 1 << 20).expect("read").len(),
            4 * 50 * 5
        );
        assert_eq!(fx.ws.walk("", 2).expect("walk").len(), 1 + 4 + 4 * 50);
    });
}
