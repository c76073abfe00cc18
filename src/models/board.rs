//! Reading the [`Board`] Hearth runs on from Linux's own files: `MemTotal` from
//! `/proc/meminfo` (proc(5)), the cgroup v2 `memory.max` of this process's cgroup and its
//! ancestors (the limit systemd's `MemoryMax=` sets; cgroup-v2.rst, "memory.max"), the
//! board's name from `/proc/device-tree/model` or `/proc/cpuinfo`, the cores this process
//! may use, and the dot-product flag from `/proc/cpuinfo` (`asimddp` on aarch64, `avx2` on
//! x86-64). The parsers are pure functions over the files' text.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::ModelError;
use super::recommend::Board;

/// Where cgroup v2 is mounted on systemd systems.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The board this process runs on.
///
/// # Errors
/// [`ModelError::Io`] when `/proc/meminfo` cannot be read or has no `MemTotal`; the other
/// facts fall back (no limit, "unknown board", one core, no dot product).
pub fn this_board() -> Result<Board, ModelError> {
    let meminfo_path = Path::new("/proc/meminfo");
    let meminfo =
        fs::read_to_string(meminfo_path).map_err(|e| ModelError::io("reading", meminfo_path, e))?;
    let ram_bytes = mem_total(&meminfo).ok_or_else(|| {
        ModelError::io(
            "reading",
            meminfo_path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no MemTotal line"),
        )
    })?;
    let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limit_bytes = cgroup_limit(&cgroup, Path::new(CGROUP_ROOT), &|p| {
        fs::read_to_string(p).ok()
    });
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = fs::read_to_string("/proc/device-tree/model").ok();
    let (name, dotprod) = cpu_facts(&cpuinfo, model.as_deref());
    let cores = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    Ok(Board {
        name,
        ram_bytes,
        limit_bytes,
        cores,
        dotprod,
    })
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes (the file counts kB of 1024 bytes).
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The tightest `memory.max` over this process's cgroup v2 and its ancestors, in bytes.
/// `proc_self_cgroup` is `/proc/self/cgroup`'s text (the v2 line is `0::/path`), `root`
/// the cgroup2 mount, `read` a file reader. `None` when no level sets a limit (`max`) or
/// cgroup v2 is absent.
pub fn cgroup_limit(
    proc_self_cgroup: &str,
    root: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Option<u64> {
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
    levels
        .iter()
        .filter_map(|d| read(&d.join("memory.max")))
        .filter_map(|text| text.trim().parse::<u64>().ok())
        .min()
}

/// The board's name and dot-product flag from `/proc/cpuinfo` and, when present, the
/// device tree's model string (NUL-terminated on disk). The name prefers the device tree,
/// then cpuinfo's `Model` (Raspberry Pi kernels), then `model name` (x86), then
/// "unknown board".
pub fn cpu_facts(cpuinfo: &str, device_tree_model: Option<&str>) -> (String, bool) {
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    };
    let name = device_tree_model
        .map(|m| m.trim_end_matches('\0').trim().to_owned())
        .filter(|m| !m.is_empty())
        .or_else(|| field("Model"))
        .or_else(|| field("model name"))
        .unwrap_or_else(|| "unknown board".to_owned());
    let flags = field("Features")
        .or_else(|| field("flags"))
        .unwrap_or_default();
    let dotprod = flags
        .split_whitespace()
        .any(|f| f == "asimddp" || f == "avx2");
    (name, dotprod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const PI5_CPUINFO: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n\nRevision\t: d04170\nSerial\t\t: 0000000000000000\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n";
    const PI4_CPUINFO: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";

    #[test]
    fn cpuinfo_gives_name_and_dotprod() {
        assert_eq!(
            cpu_facts(PI5_CPUINFO, None),
            ("Raspberry Pi 5 Model B Rev 1.0".to_owned(), true)
        );
        assert_eq!(
            cpu_facts(PI4_CPUINFO, Some("Raspberry Pi 4 Model B Rev 1.5\0")),
            ("Raspberry Pi 4 Model B Rev 1.5".to_owned(), false)
        );
        let x86 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n";
        assert_eq!(cpu_facts(x86, None), ("AMD EPYC 7B13".to_owned(), true));
        assert_eq!(cpu_facts("", None), ("unknown board".to_owned(), false));
    }

    #[test]
    fn meminfo_total_is_in_kib() {
        let text = "MemTotal:        8245920 kB\nMemFree:         7000000 kB\n";
        assert_eq!(mem_total(text), Some(8_245_920 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn the_tightest_cgroup_limit_on_the_path_wins() {
        let files: HashMap<PathBuf, &str> = [
            (PathBuf::from("/cg/system.slice/memory.max"), "max\n"),
            (
                PathBuf::from("/cg/system.slice/hearth.service/memory.max"),
                "805306368\n",
            ),
        ]
        .into();
        let read = |p: &Path| files.get(p).map(|s| s.to_string());
        let root = Path::new("/cg");
        assert_eq!(
            cgroup_limit("0::/system.slice/hearth.service\n", root, &read),
            Some(805_306_368)
        );
        assert_eq!(cgroup_limit("0::/system.slice\n", root, &read), None);
        // cgroup v1 only: no `0::` line.
        assert_eq!(cgroup_limit("4:memory:/user.slice\n", root, &read), None);
    }
}
