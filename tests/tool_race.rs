//! Every file tool and memory tool under a symlink-swap race: a second thread exchanges the
//! workspace's `memory/` folder with a symlink to an outside folder holding the same names
//! (`renameat2(RENAME_EXCHANGE)`, so `memory` always exists) in a tight loop, while this
//! thread calls `read`, `write`, `edit` and `ls` (through the registry, as the agent does),
//! `memory_get`, and the memory indexer's sync, through `memory/…`, 2000 rounds each.
//!
//! Nothing may come back from the outside folder (its files say "OUTSIDE") and nothing in
//! it may change; every call either works inside or is refused.

#[path = "common/swap.rs"]
mod swap;
use swap::exchange;

use hearth::memory::tools::MemoryGetTool;
use hearth::memory::{Memory, MemoryOptions, NoEmbedder, SearchParams};
use hearth::storage::{Store, StoreOptions};
use hearth::tool::{BuiltinOptions, Registry, Tool, ToolCtx, builtin_registry};
use hearth::workspace::Workspace;
use serde_json::json;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ROUNDS: usize = 2000;

struct CleanUp(PathBuf);
impl Drop for CleanUp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap_or_default())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn file_and_memory_tools_never_escape_through_a_swapped_folder() {
    let root = std::env::temp_dir().join(format!("hearth-tool-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let _clean = CleanUp(root.clone());
    let (ws_dir, outside) = (root.join("ws"), root.join("outside"));
    std::fs::create_dir_all(ws_dir.join("memory")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    for (dir, word) in [
        (ws_dir.join("memory"), "inside"),
        (outside.clone(), "OUTSIDE"),
    ] {
        for f in ["note.md", "e.md", "w.md"] {
            std::fs::write(dir.join(f), format!("{word} {f}\nline two\n")).expect("write");
        }
    }
    let before = tree(&outside);
    let link = root.join("link");
    std::os::unix::fs::symlink(&outside, &link).expect("symlink");

    let ws = Arc::new(Workspace::open(&ws_dir).expect("workspace"));
    let reg: Registry = builtin_registry(&BuiltinOptions {
        workspace: ws.clone(),
        web_fetch: None,
    });
    let store = Store::open(
        &root.join("store"),
        StoreOptions {
            map_size_bytes: 64 << 20,
        },
    )
    .expect("store");
    let memory = Arc::new(
        Memory::open(
            store,
            Arc::new(NoEmbedder),
            MemoryOptions {
                workspace: ws.clone(),
                index_dir: root.join("index"),
                sessions: false,
                chunk_tokens: 400,
                chunk_overlap: 80,
                max_file_bytes: 1 << 20,
                search: SearchParams::default(),
            },
        )
        .expect("memory"),
    );
    let get = MemoryGetTool::new(memory.clone());
    let ctx = ToolCtx::detached(Duration::from_secs(600));

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = {
        let stop = stop.clone();
        let a = CString::new(ws_dir.join("memory").as_os_str().as_bytes()).expect("path");
        let b = CString::new(link.as_os_str().as_bytes()).expect("path");
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += u64::from(exchange(&a, &b));
            }
            n
        })
    };
    let mut ok = [0u32; 6];
    for i in 0..ROUNDS {
        let (from, to) = if i % 2 == 0 {
            ("line two", "line 2")
        } else {
            ("line 2", "line two")
        };
        let results = [
            reg.call(&ctx, "read", &json!({"path": "memory/note.md"})),
            reg.call(
                &ctx,
                "write",
                &json!({"path": "memory/w.md", "content": format!("inside w {i}\n")}),
            ),
            reg.call(
                &ctx,
                "edit",
                &json!({"path": "memory/e.md", "old_string": from, "new_string": to}),
            ),
            reg.call(&ctx, "ls", &json!({"path": "memory"})),
            get.call(&ctx, &json!({"path": "memory/note.md"})),
        ];
        for (k, r) in results.iter().enumerate() {
            if let Ok(text) = r {
                assert!(
                    !text.contains("OUTSIDE"),
                    "round {i}, call {k} escaped: {text}"
                );
                ok[k] += 1;
            }
        }
        if i % 50 == 0 {
            if memory.sync().is_ok() {
                ok[5] += 1;
            }
            let hits = memory
                .search("OUTSIDE", &SearchParams::default())
                .map(|r| r.results.len())
                .unwrap_or(0);
            assert_eq!(hits, 0, "round {i}: the indexer read an outside file");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swapped = swaps.join().expect("swapper");
    assert!(swapped > 1000, "the swapper ran ({swapped} swaps)");
    assert_eq!(tree(&outside), before, "nothing outside changed");
    // Each tool also worked inside at times: the test exercised both outcomes.
    assert!(ok[..5].iter().all(|&n| n > 0), "successes per call: {ok:?}");
}
