//! The workspace under a symlink-swap race: a second thread exchanges the directory `ws/d`
//! with a symlink `ws/d -> <outside>` (`renameat2(RENAME_EXCHANGE)`, so `d` always exists)
//! in a tight loop, while this thread reads, writes, appends, lists, walks, creates,
//! describes and removes through `d/…`, 5000 times each, under both resolutions
//! (`openat2` where the kernel has it, and the forced descriptor walk).
//!
//! Nothing may ever be read from or written to the outside directory: every operation
//! either succeeds inside or fails with [`WorkspaceError::Symlink`]. The outside directory
//! holds the same names as the inside one (`f`, `w.txt`, `log.md`, `sub/`), with different
//! contents, so a read that escaped returns "OUTSIDE", and a write, append, mkdir or remove
//! that escaped changes the outside tree, which is compared byte for byte at the end.

#[path = "common/swap.rs"]
mod swap;
use swap::exchange;

use hearth::workspace::{EntryKind, Resolution, Workspace, WorkspaceError};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Calls of each operation per resolution.
const ROUNDS: usize = 5000;

/// Past [`ROUNDS`], the loop goes on until every operation has both succeeded and met the
/// symlink (a loaded machine can starve the swapper), for at most this long.
const MAX_EXTRA: std::time::Duration = std::time::Duration::from_secs(5);

/// Names that exist only outside: seeing one in a listing is an escape.
const OUTSIDE_ONLY: [&str; 2] = ["secret.txt", "deep.txt"];

/// Every file under `dir` (symlinks not followed) with its content, and every directory.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let meta = fs::symlink_metadata(&p).expect("lstat");
            if meta.is_dir() {
                stack.push(p.clone());
                out.insert(p, None);
            } else {
                out.insert(p.clone(), Some(fs::read(&p).expect("read")));
            }
        }
    }
    out
}

/// Removes the test's directory when dropped, on success and on panic alike.
struct CleanUp(PathBuf);

impl Drop for CleanUp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Outcome counts of one operation: (succeeded inside, refused as a symlink).
#[derive(Default, Debug)]
struct Tally(u64, u64);

/// Counts `r` under `op` in `tally`; anything but success or a symlink refusal fails.
#[track_caller]
fn note<T>(
    tally: &mut BTreeMap<&'static str, Tally>,
    op: &'static str,
    r: Result<T, WorkspaceError>,
) -> Option<T> {
    let t = tally.entry(op).or_default();
    match r {
        Ok(v) => {
            t.0 += 1;
            Some(v)
        }
        Err(WorkspaceError::Symlink { path }) => {
            assert!(path == "d" || path.starts_with("d/"), "{op}: {path}");
            t.1 += 1;
            None
        }
        Err(e) => panic!("{op}: neither inside nor a clear refusal: {e:?}"),
    }
}

fn race(walk: bool) {
    let base = std::env::temp_dir().join(format!("hearth-ws-race-{}-{walk}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let _clean_up = CleanUp(base.clone());
    let (root, out) = (base.join("ws"), base.join("out"));
    for (dir, tag) in [(root.join("d"), "INSIDE"), (out.clone(), "OUTSIDE")] {
        fs::create_dir_all(dir.join("sub")).expect("mkdir");
        fs::write(dir.join("f"), tag).expect("f");
        fs::write(dir.join("w.txt"), tag).expect("w");
        fs::write(dir.join("log.md"), tag).expect("log");
    }
    fs::write(out.join("secret.txt"), "OUTSIDE").expect("secret");
    fs::write(out.join("sub/deep.txt"), "OUTSIDE").expect("deep");
    std::os::unix::fs::symlink(&out, root.join("d.swap")).expect("symlink");
    let before = snapshot(&out);

    let mut ws = Workspace::open(&root).expect("open");
    if walk {
        ws.force_walk();
    }
    let which = ws.resolution();
    // Without forcing, this is `Openat2` on Linux >= 5.6 and `Walk` under qemu-user 7.2.
    if walk {
        assert_eq!(which, Resolution::Walk);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let a = CString::new(root.join("d").as_os_str().as_bytes()).expect("path");
        let b = CString::new(root.join("d.swap").as_os_str().as_bytes()).expect("path");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                assert!(exchange(&a, &b), "{}", std::io::Error::last_os_error());
                swaps.fetch_add(1, Ordering::Relaxed);
                // Lets a main thread sharing this core (a loaded CI box) see both states, not
                // only the one the swapper happens to be preempted in.
                std::thread::yield_now();
            }
            // Leave the directory at `d`.
            if fs::symlink_metadata(Path::new(std::ffi::OsStr::from_bytes(a.as_bytes())))
                .expect("lstat d")
                .file_type()
                .is_symlink()
            {
                assert!(exchange(&a, &b));
            }
        })
    };

    let mut tally: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let started = std::time::Instant::now();
    let mut i = 0;
    let exercised =
        |t: &BTreeMap<&str, Tally>| t.len() == 8 && t.values().all(|t| t.0 > 0 && t.1 > 0);
    while i < ROUNDS || (!exercised(&tally) && started.elapsed() < MAX_EXTRA) {
        i += 1;
        if let Some(text) = note(&mut tally, "read", ws.read_to_string("d/f", 64)) {
            assert_eq!(text, "INSIDE", "read escaped");
        }
        note(
            &mut tally,
            "write_atomic",
            ws.write_atomic("d/w.txt", format!("in {i}").as_bytes()),
        );
        note(&mut tally, "append", ws.append("d/log.md", b"+"));
        if let Some(entries) = note(&mut tally, "read_dir", ws.read_dir("d")) {
            for e in entries {
                assert!(
                    !OUTSIDE_ONLY.contains(&e.name.as_str()),
                    "read_dir escaped: {e:?}"
                );
            }
        }
        if let Some(entries) = note(&mut tally, "walk", ws.walk("d", 3)) {
            for (p, _) in entries {
                assert!(
                    !OUTSIDE_ONLY.iter().any(|o| p.ends_with(o)),
                    "walk escaped: {p}"
                );
            }
        }
        note(
            &mut tally,
            "create_dir_all",
            ws.create_dir_all("d/sub/made"),
        );
        if let Some(e) = note(&mut tally, "metadata", ws.metadata("d/sub")) {
            assert_eq!(e.kind, EntryKind::Dir);
        }
        // Remove what may have been made; NotFound is fine when a mkdir above was refused.
        match ws.remove("d/sub/made") {
            Err(WorkspaceError::NotFound { .. }) => {}
            r => {
                note(&mut tally, "remove", r);
            }
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");

    assert_eq!(snapshot(&out), before, "the outside directory changed");
    let log = fs::read_to_string(root.join("d/log.md")).expect("inside log");
    let appended = log.len() - "INSIDE".len();
    eprintln!(
        "{which:?} (forced walk: {walk}): {i} rounds in {elapsed:?}, {} swaps, \
         {appended} appends landed inside; (inside, refused) per op: {tally:?}",
        swaps.load(Ordering::Relaxed)
    );
    assert_eq!(
        appended as u64, tally["append"].0,
        "every successful append landed inside"
    );
    for (op, Tally(ok, refused)) in &tally {
        assert!(
            *ok > 0,
            "{op} never succeeded: the race test did not test much"
        );
        assert!(
            *refused > 0,
            "{op} never met the symlink: the race test did not test much"
        );
    }
    assert_eq!(tally.len(), 8, "every operation ran");
}

#[test]
fn symlink_swaps_never_escape_with_openat2_or_the_walk() {
    race(false);
    race(true);
}
