//! Reading the [`Board`] Hearth runs on from Linux's own files: `MemTotal` and the cgroup v2
//! `memory.max` of this process (read by [`crate::sysmem`], which the local provider's load
//! check shares), the board's name from `/proc/device-tree/model` or `/proc/cpuinfo`, the
//! cores this process may use, and the dot-product flag from `/proc/cpuinfo` (`asimddp` on
//! aarch64, `avx2` on x86-64). The parsers are pure functions over the files' text.

use std::fs;
use std::path::Path;

use super::error::ModelError;
use super::recommend::Board;
use crate::sysmem::{CGROUP_ROOT, cgroup_limit, mem_total};

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
}
