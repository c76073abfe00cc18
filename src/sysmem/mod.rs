//! What the kernel says about memory: `MemTotal` and `MemAvailable` from `/proc/meminfo`
//! (proc_meminfo(5), <https://man7.org/linux/man-pages/man5/proc_meminfo.5.html>), the cgroup
//! v2 `memory.max`, `memory.current` and `memory.stat` of this process's cgroup and its
//! ancestors (the limit systemd's `MemoryMax=` sets; "Memory Interface Files" in
//! <https://docs.kernel.org/admin-guide/cgroup-v2.html>), and the per-mapping counters of
//! `/proc/self/smaps` (`smaps.rs`; proc_pid_smaps(5)), and this process's resident set and open
//! descriptors for `/metrics` (`/proc/self/status`, `/proc/self/fd`).
//!
//! The parsers are pure functions over the files' text; [`MemoryLimits::read`] and
//! [`mapping_of`] do the reading. All figures are bytes (the `/proc` files count kB of 1024
//! bytes; cgroup files count bytes).
//!
//! Architecture invariant: a leaf — it imports nothing from the crate, so `models` (board
//! facts for `hearth models recommend`) and `provider` (the local model's load check and its
//! accounting) share one reader.

mod smaps;

#[cfg(test)]
pub use smaps::rollup;
pub use smaps::{Mapping, mapping_in, mapping_of};

use std::fs;
use std::path::{Path, PathBuf};

/// Where cgroup v2 is mounted on systemd systems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The value of `key` (e.g. `MemTotal`) in a `/proc/meminfo` text, in bytes.
fn meminfo_field(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| {
        l.strip_prefix(key)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `MemTotal` of a `/proc/meminfo` text (usable RAM), in bytes.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    meminfo_field(meminfo, "MemTotal")
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes: the kernel's estimate of what a new
/// program can get without swapping (free memory plus the page cache and slab it can
/// reclaim). Absent before Linux 3.14.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo_field(meminfo, "MemAvailable")
}

/// The cgroup v2 directories from `root` down to this process's own, outermost first.
/// `proc_self_cgroup` is `/proc/self/cgroup`'s text (the v2 line is `0::/path`); `None`
/// without a v2 line (cgroup v1 only).
fn cgroup_levels(proc_self_cgroup: &str, root: &Path) -> Option<Vec<PathBuf>> {
    let rel = proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim()
        .trim_start_matches('/');
    let mut dir = PathBuf::from(root);
    let mut levels = vec![dir.clone()];
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
        levels.push(dir.clone());
    }
    Some(levels)
}

/// A number of bytes in a cgroup file (`memory.max` is `max` when unlimited: `None`).
fn cgroup_bytes(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The tightest `memory.max` over this process's cgroup v2 and its ancestors, in bytes.
/// `proc_self_cgroup` is `/proc/self/cgroup`'s text, `root` the cgroup2 mount, `read` a file
/// reader. `None` when no level sets a limit (`max`) or cgroup v2 is absent.
pub fn cgroup_limit(
    proc_self_cgroup: &str,
    root: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Option<u64> {
    cgroup_levels(proc_self_cgroup, root)?
        .iter()
        .filter_map(|d| read(&d.join("memory.max")))
        .filter_map(|text| cgroup_bytes(&text))
        .min()
}

/// The file pages of a cgroup's `memory.stat` text, in bytes: `active_file + inactive_file`,
/// the page cache on the file LRU lists, which the kernel reclaims (clean pages dropped,
/// dirty ones written back) before it would OOM-kill. tmpfs and shared memory are on the
/// anonymous lists, so they are not counted.
pub fn reclaimable_file(memory_stat: &str) -> u64 {
    memory_stat
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| *k == "active_file" || *k == "inactive_file")
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// One cgroup v2 level that sets a memory limit, as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// The cgroup's directory under the cgroup2 mount.
    pub dir: PathBuf,
    /// `memory.max`, in bytes (systemd's `MemoryMax=`).
    pub max: u64,
    /// `memory.current`: everything charged to the cgroup, page cache included, in bytes.
    pub current: u64,
    /// The part of `current` that is reclaimable page cache ([`reclaimable_file`] of
    /// `memory.stat`), in bytes.
    pub reclaimable: u64,
}

impl CgroupMemory {
    /// Memory charged that the kernel cannot simply drop (`current − reclaimable`), in bytes.
    pub fn in_use(&self) -> u64 {
        self.current.saturating_sub(self.reclaimable)
    }

    /// What can still be charged before the limit forces the OOM killer
    /// (`max − in_use`), in bytes. Counting page cache as free mirrors how `MemAvailable`
    /// counts it: a model file read earlier (and a model just unloaded) must not make its
    /// own reload look impossible.
    pub fn headroom(&self) -> u64 {
        self.max.saturating_sub(self.in_use())
    }
}

/// The limited cgroup v2 level (this process's cgroup or an ancestor) with the least
/// [`CgroupMemory::headroom`]: the one that would OOM-kill first. Arguments as for
/// [`cgroup_limit`]; a level whose `memory.current` cannot be read counts as empty, one
/// without `memory.stat` as holding no page cache. `None` when no level sets a limit or
/// cgroup v2 is absent.
pub fn cgroup_memory(
    proc_self_cgroup: &str,
    root: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Option<CgroupMemory> {
    cgroup_levels(proc_self_cgroup, root)?
        .into_iter()
        .filter_map(|dir| {
            let max = cgroup_bytes(&read(&dir.join("memory.max"))?)?;
            let current = read(&dir.join("memory.current"))
                .and_then(|t| cgroup_bytes(&t))
                .unwrap_or(0);
            let reclaimable = read(&dir.join("memory.stat"))
                .map(|t| reclaimable_file(&t))
                .unwrap_or(0);
            Some(CgroupMemory {
                dir,
                max,
                current,
                reclaimable,
            })
        })
        .min_by_key(CgroupMemory::headroom)
}

/// The memory a new allocation can count on, as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimits {
    /// `MemAvailable` of `/proc/meminfo`, in bytes (`MemFree` on kernels without it).
    pub mem_available: u64,
    /// The tightest cgroup v2 limit on this process, when one is set.
    pub cgroup: Option<CgroupMemory>,
}

impl MemoryLimits {
    /// Reads `/proc/meminfo`, `/proc/self/cgroup` and the cgroup v2 files under
    /// [`CGROUP_ROOT`].
    ///
    /// # Errors
    /// When `/proc/meminfo` cannot be read or has neither `MemAvailable` nor `MemFree`; the
    /// cgroup files are optional (cgroup v1, no limit).
    pub fn read() -> std::io::Result<MemoryLimits> {
        let meminfo = fs::read_to_string("/proc/meminfo")?;
        let mem_available = mem_available(&meminfo)
            .or_else(|| meminfo_field(&meminfo, "MemFree"))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "/proc/meminfo has no MemAvailable or MemFree line",
                )
            })?;
        let proc_self_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let cgroup = cgroup_memory(&proc_self_cgroup, Path::new(CGROUP_ROOT), &|p| {
            fs::read_to_string(p).ok()
        });
        Ok(MemoryLimits {
            mem_available,
            cgroup,
        })
    }

    /// What a new allocation can count on: `min(MemAvailable, cgroup headroom)`, in bytes.
    pub fn available(&self) -> u64 {
        self.cgroup
            .as_ref()
            .map_or(self.mem_available, |c| c.headroom().min(self.mem_available))
    }
}

/// `VmRSS` of a `/proc/<pid>/status` text: the resident set (anonymous, file and shared
/// memory pages in RAM), bytes (proc_pid_status(5)).
pub fn vm_rss(proc_status: &str) -> Option<u64> {
    meminfo_field(proc_status, "VmRSS")
}

/// This process's resident set, bytes (`VmRSS` of `/proc/self/status`).
pub fn process_rss() -> Option<u64> {
    vm_rss(&fs::read_to_string("/proc/self/status").ok()?)
}

/// File descriptors this process has open (entries of `/proc/self/fd`, the one
/// `read_dir` uses while counting included).
pub fn open_fds() -> Option<u64> {
    Some(fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn vm_rss_reads_kib_as_bytes() {
        let t = "Name:\thearth\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nRssAnon:\t 100 kB\n";
        assert_eq!(super::vm_rss(t), Some(5120 * 1024));
        assert_eq!(super::vm_rss("Name: x\n"), None);
        assert!(super::process_rss().unwrap() > 0);
        assert!(super::open_fds().unwrap() >= 3);
    }

    use super::*;
    use std::collections::HashMap;

    const MEMINFO: &str =
        "MemTotal:        8245920 kB\nMemFree:         7000000 kB\nMemAvailable:    7500000 kB\n";

    #[test]
    fn meminfo_fields_are_in_kib() {
        assert_eq!(mem_total(MEMINFO), Some(8_245_920 * 1024));
        assert_eq!(mem_available(MEMINFO), Some(7_500_000 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        // A key that merely starts like another is not it.
        assert_eq!(meminfo_field("MemFreeish: 5 kB\n", "MemFree"), None);
    }

    fn files(entries: &[(&str, &str)]) -> HashMap<PathBuf, String> {
        entries
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect()
    }

    #[test]
    fn the_tightest_cgroup_limit_on_the_path_wins() {
        let files = files(&[
            ("/cg/system.slice/memory.max", "max\n"),
            ("/cg/system.slice/hearth.service/memory.max", "805306368\n"),
        ]);
        let read = |p: &Path| files.get(p).cloned();
        let root = Path::new("/cg");
        assert_eq!(
            cgroup_limit("0::/system.slice/hearth.service\n", root, &read),
            Some(805_306_368)
        );
        assert_eq!(cgroup_limit("0::/system.slice\n", root, &read), None);
        // cgroup v1 only: no `0::` line.
        assert_eq!(cgroup_limit("4:memory:/user.slice\n", root, &read), None);
    }

    #[test]
    fn headroom_counts_page_cache_as_reclaimable_and_the_tightest_level_wins() {
        let stat = "anon 100000000\nfile 200000000\nactive_file 50000000\ninactive_file 120000000\nshmem 30000000\n";
        assert_eq!(reclaimable_file(stat), 170_000_000);
        let files = files(&[
            ("/cg/a/memory.max", "1000000000\n"),
            ("/cg/a/memory.current", "900000000\n"),
            ("/cg/a/b/memory.max", "536870912\n"),
            ("/cg/a/b/memory.current", "400000000\n"),
            ("/cg/a/b/memory.stat", stat),
        ]);
        let read = |p: &Path| files.get(p).cloned();
        // a: 1000 − 900 = 100 MB left; b: 536.9 − (400 − 170) = 306.9 MB left.
        let cg = cgroup_memory("0::/a/b\n", Path::new("/cg"), &read).expect("limited");
        assert_eq!(cg.dir, PathBuf::from("/cg/a"));
        assert_eq!(cg.headroom(), 100_000_000);
        let only_b = files
            .iter()
            .filter(|(p, _)| p.starts_with("/cg/a/b"))
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect::<HashMap<_, _>>();
        let read_b = |p: &Path| only_b.get(p).cloned();
        let cg = cgroup_memory("0::/a/b\n", Path::new("/cg"), &read_b).expect("limited");
        assert_eq!(cg.in_use(), 230_000_000);
        assert_eq!(cg.headroom(), 536_870_912 - 230_000_000);
        let limits = MemoryLimits {
            mem_available: 200_000_000,
            cgroup: Some(cg.clone()),
        };
        assert_eq!(limits.available(), 200_000_000);
        let limits = MemoryLimits {
            mem_available: 8_000_000_000,
            cgroup: Some(cg),
        };
        assert_eq!(limits.available(), 536_870_912 - 230_000_000);
        assert_eq!(
            cgroup_memory("4:memory:/x\n", Path::new("/cg"), &read),
            None
        );
    }

    #[test]
    fn this_process_has_limits() {
        let limits = MemoryLimits::read().expect("/proc/meminfo");
        assert!(limits.mem_available > 0);
        assert!(limits.available() <= limits.mem_available);
    }
}
