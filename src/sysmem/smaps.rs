//! `/proc/self/smaps`: the kernel's per-mapping memory counters (proc_pid_smaps(5),
//! <https://man7.org/linux/man-pages/man5/proc_pid_smaps.5.html>; also proc(5)). Each
//! mapping is a header line — `start-end perms offset dev inode pathname` — followed by
//! `Key: value kB` lines (`Size`, `Rss`, `Shared_Clean`, …, `VmFlags`).

use std::ops::Range;
use std::path::Path;

/// The counters of one file's mappings in this process, summed over every mapping of it, in
/// bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Address space mapped (`Size`).
    pub size: u64,
    /// Pages of the mapping in RAM now (`Rss`).
    pub rss: u64,
    /// Resident pages also mapped by another process, unmodified (`Shared_Clean`).
    pub shared_clean: u64,
    /// Resident pages also mapped by another process, modified (`Shared_Dirty`).
    pub shared_dirty: u64,
    /// Resident pages mapped by this process only, unmodified (`Private_Clean`); for a
    /// read-only file mapping these are still page cache the kernel can drop.
    pub private_clean: u64,
    /// Resident pages mapped by this process only, modified (`Private_Dirty`).
    pub private_dirty: u64,
    /// Anonymous (heap-like, not file-backed) pages in the mapping: copy-on-write copies of
    /// a private file mapping (`Anonymous`). 0 for weights read in place.
    pub anonymous: u64,
}

/// Whether `line` opens a mapping: its first field is `start-end` in hex.
fn header(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|range| range.split_once('-'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_hexdigit())
        })
}

/// The address range of a header line (`start-end`, hex), when it is one.
fn addresses(line: &str) -> Option<Range<usize>> {
    let (a, b) = line.split_whitespace().next()?.split_once('-')?;
    Some(usize::from_str_radix(a, 16).ok()?..usize::from_str_radix(b, 16).ok()?)
}

/// The pathname of a header line (after five fields; it may contain spaces), or `""`.
fn pathname(line: &str) -> &str {
    let mut rest = line;
    for _ in 0..5 {
        rest = rest.trim_start();
        rest = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]);
    }
    rest.trim()
}

/// Sums the counters of every mapping of `path` in an smaps text, or only of those that
/// overlap the addresses `within` (one `mmap` of the file, which the kernel may have split
/// into several mappings; another mapping of the same file is then left out). `path` must be
/// spelled as the kernel prints it: absolute, symlinks resolved (see
/// [`std::fs::canonicalize`]); a file deleted or replaced since it was mapped
/// (`path (deleted)`) still matches. `None` when `path` is not mapped (there).
pub fn mapping_in(smaps: &str, path: &Path, within: Option<Range<usize>>) -> Option<Mapping> {
    let want = path.to_str()?;
    let mut total: Option<Mapping> = None;
    let mut inside = false;
    for line in smaps.lines() {
        if header(line) {
            let name = pathname(line);
            let overlaps = match (&within, addresses(line)) {
                (None, _) => true,
                (Some(w), Some(r)) => r.start < w.end && w.start < r.end,
                (Some(_), None) => false,
            };
            inside = overlaps && (name == want || name.strip_suffix(" (deleted)") == Some(want));
            if inside {
                total.get_or_insert_with(Mapping::default);
            }
            continue;
        }
        let Some(m) = total.as_mut().filter(|_| inside) else {
            continue;
        };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut parts = value.split_whitespace();
        let (Some(n), Some("kB")) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(bytes) = n.parse::<u64>().ok().and_then(|k| k.checked_mul(1024)) else {
            continue;
        };
        let field = match key {
            "Size" => &mut m.size,
            "Rss" => &mut m.rss,
            "Shared_Clean" => &mut m.shared_clean,
            "Shared_Dirty" => &mut m.shared_dirty,
            "Private_Clean" => &mut m.private_clean,
            "Private_Dirty" => &mut m.private_dirty,
            "Anonymous" => &mut m.anonymous,
            _ => continue,
        };
        *field += bytes;
    }
    total
}

/// The counters of `path`'s mappings in this process (those overlapping `within`, when
/// given), read from `/proc/self/smaps` ([`mapping_in`]). `path` must be canonical (see
/// [`std::fs::canonicalize`]). `Ok(None)` when it is not mapped (there).
///
/// # Errors
/// When `/proc/self/smaps` cannot be read.
pub fn mapping_of(path: &Path, within: Option<Range<usize>>) -> std::io::Result<Option<Mapping>> {
    // Lossy: a non-UTF-8 path elsewhere in the process must not make the whole file unreadable.
    let smaps = std::fs::read("/proc/self/smaps")?;
    Ok(mapping_in(&String::from_utf8_lossy(&smaps), path, within))
}

/// This process's counters summed over all its mappings, from `/proc/self/smaps_rollup`
/// (the same `Key: value kB` lines under one pseudo-mapping named `[rollup]`,
/// proc_pid_smaps(5)). Tests compare anonymous memory before and after an action with it.
///
/// # Errors
/// When the file cannot be read or holds no `[rollup]` entry.
#[cfg(test)]
pub fn rollup() -> std::io::Result<Mapping> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")?;
    mapping_in(&text, Path::new("[rollup]"), None)
        .ok_or_else(|| std::io::Error::other("/proc/self/smaps_rollup has no [rollup] entry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55e56ff82000-55e56ff84000 r--p 00000000 fe:00 247282                     /usr/bin/head
Size:                  8 kB
Rss:                   8 kB
Shared_Clean:          8 kB
VmFlags: rd mr mw me
7f0000000000-7f0008000000 r--s 00000000 fe:01 1234                       /models/my model.gguf
Size:             131072 kB
KernelPageSize:        4 kB
Rss:              100000 kB
Pss:              100000 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:     99000 kB
Private_Dirty:      1000 kB
Anonymous:             0 kB
THPeligible:           0
VmFlags: rd mr me ms
7f0008000000-7f0009000000 r--s 08000000 fe:01 1234                       /models/my model.gguf (deleted)
Size:              16384 kB
Rss:                  40 kB
Shared_Clean:         40 kB
Anonymous:             4 kB
7f0009000000-7f000a000000 rw-p 00000000 00:00 0 
Size:              16384 kB
Rss:               16384 kB
Anonymous:         16384 kB
";

    #[test]
    fn sums_every_mapping_of_the_file() {
        let path = Path::new("/models/my model.gguf");
        let m = mapping_in(SMAPS, path, None).expect("mapped");
        assert_eq!(
            m,
            Mapping {
                size: (131_072 + 16_384) * 1024,
                rss: 100_040 * 1024,
                shared_clean: 40 * 1024,
                shared_dirty: 0,
                private_clean: 99_000 * 1024,
                private_dirty: 1_000 * 1024,
                anonymous: 4 * 1024,
            }
        );
        assert_eq!(
            mapping_in(SMAPS, Path::new("/models/other.gguf"), None),
            None
        );
        assert_eq!(mapping_in(SMAPS, Path::new("/models/my"), None), None);
        assert_eq!(
            mapping_in(SMAPS, Path::new("/usr/bin/head"), None).map(|m| m.rss),
            Some(8 * 1024)
        );
        // Only the first mapping lies in this address range.
        let first = mapping_in(SMAPS, path, Some(0x7f00_0000_0000..0x7f00_0800_0000));
        assert_eq!(
            first.map(|m| (m.size, m.rss)),
            Some((131_072 * 1024, 100_000 * 1024))
        );
        assert_eq!(mapping_in(SMAPS, path, Some(0x1000..0x2000)), None);
    }

    #[test]
    fn finds_a_file_this_process_maps() {
        let exe = std::fs::canonicalize(std::env::current_exe().expect("exe")).expect("exe");
        let m = mapping_of(&exe, None)
            .expect("read smaps")
            .expect("the test binary is mapped");
        assert!(m.size > 0 && m.rss > 0, "{m:?}");
        let dir = std::env::temp_dir();
        assert_eq!(mapping_of(&dir, None).expect("read smaps"), None);
    }
}
