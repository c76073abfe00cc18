//! Memory honesty for the on-device model: what a model will need, checked against what the
//! board and its cgroup can give before the weights are read or the KV cache allocated (a
//! model that does not fit is refused with a message, so the chain fails over instead of the
//! gateway being OOM-killed), and what a loaded model holds, for `status`.
//!
//! **Need** is the sum of three parts. The file's size: the weights are mapped, and every
//! matrix is read at each decode step, so the whole file becomes resident and is charged to
//! the cgroup as page cache. The f16 KV cache for the whole window: allocated zeroed and
//! touched as a conversation fills it; a long one fills it all. Working memory: the
//! decoder's scratch buffers, the tokenizer, the norm vectors, the per-step copies of the
//! logits ([`TRANSIENT_BYTES_PER_TOKEN_ID`]) and [`MARGIN_BYTES`].
//!
//! **Available** = `min(MemAvailable, memory.max − (memory.current − reclaimable page
//! cache))` ([`MemoryLimits::available`]). The page cache is counted as free, as the
//! kernel's `MemAvailable` does: a model file read before (or a model just unloaded) is
//! dropped under pressure, not OOM-killed.
//!
//! Sizes in messages are MiB (2^20 bytes) with one decimal, as systemd's `MemoryMax=512M`
//! means 512 MiB.

use super::gguf::LoadedModel;
use crate::core::ModelMemory;
use crate::llm::{Decoder, Scratch, Session};
use crate::sysmem::{Mapping, MemoryLimits};
use std::ops::Range;
use std::path::PathBuf;

/// Bytes per vocabulary entry allocated for a moment at each decode step: the copy of the
/// logits (4), the sampler's candidates (id and logit, 8) and their probabilities (4) — 0.8
/// MiB for SmolLM2's 49,152 tokens, 4 MiB for Gemma 3's 262,144.
pub const TRANSIENT_BYTES_PER_TOKEN_ID: u64 = 16;

/// Allowance for what neither the dimensions nor the vocabulary size, in bytes: the prompt's
/// text and tokens and the chat template's output (a few copies of up to a window of text:
/// ~100 KB at 8k tokens), rotary tables per chunk, the pre-tokenizer's compiled patterns and
/// the allocator's slack on the generating thread. Measured with SmolLM2-135M and a
/// 2048-token window filled by one turn (1,980 prompt + 64 answer tokens): the process's
/// anonymous memory grew by 47.95 MiB against 48.14 MiB counted (KV cache, scratch,
/// tokenizer, norms), so the parts counted are the memory; this covers what a turn holds
/// for a moment on top.
pub const MARGIN_BYTES: u64 = 8 << 20;

/// Context window in tokens a call runs with: `[local] context_window`, or the model's own
/// when that is 0, never more than the model's own.
pub(super) fn window(context_window: usize, context_length: usize) -> usize {
    match context_window {
        0 => context_length,
        n => n.min(context_length),
    }
}

/// What a model needs while it answers, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The mapped file.
    pub weights: u64,
    /// The f16 KV cache for `kv_tokens` tokens.
    pub kv_cache: u64,
    /// The window the cache is allocated for, in tokens.
    pub kv_tokens: u64,
    /// Scratch buffers, tokenizer, norm vectors and [`MARGIN_BYTES`].
    pub working: u64,
}

impl Need {
    /// Everything, in bytes.
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.working
    }
}

/// What `decoder` (with a tokenizer of `tokenizer_bytes`) needs for a `window`-token session
/// on `threads` threads.
pub(super) fn need(
    decoder: &Decoder,
    window: usize,
    threads: usize,
    tokenizer_bytes: usize,
) -> Need {
    let cfg = &decoder.cfg;
    let vocab = decoder.weights.vocab;
    let scratch = Scratch::bytes_for(cfg, vocab, window, threads);
    let held = (scratch + tokenizer_bytes + decoder.weights.heap_bytes()) as u64;
    Need {
        weights: decoder.gguf.mapped_bytes() as u64,
        kv_cache: Session::bytes_for(cfg, window) as u64,
        kv_tokens: window as u64,
        working: held + TRANSIENT_BYTES_PER_TOKEN_ID * vocab as u64 + MARGIN_BYTES,
    }
}

/// `bytes` as MiB with one decimal, e.g. `98.0 MiB`.
pub(super) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// Whether model `name` needing `need` fits in `limits` ([`MemoryLimits::available`]).
///
/// # Errors
/// A sentence for the user: what the model needs and of what, what is available and what
/// bounds it (the cgroup's `MemoryMax` and its use, or the system's `MemAvailable`), and what
/// to change.
pub fn check(name: &str, need: &Need, limits: &MemoryLimits) -> Result<(), String> {
    let available = limits.available();
    if need.total() <= available {
        return Ok(());
    }
    let bound = match &limits.cgroup {
        Some(cg) if cg.headroom() <= limits.mem_available => {
            format!("MemoryMax {}, {} in use", mib(cg.max), mib(cg.in_use()))
        }
        _ => "MemAvailable in /proc/meminfo".to_owned(),
    };
    Err(format!(
        "{name}: needs ~{} (weights {} + KV cache {} for {} tokens + {} working memory) but {} \
         is available ({bound}); use a smaller model or a smaller [local] context_window",
        mib(need.total()),
        mib(need.weights),
        mib(need.kv_cache),
        need.kv_tokens,
        mib(need.working),
        mib(available),
    ))
}

/// What a loaded model holds, remembered after each call so `status` need not wait for a
/// running generation; the mapping's counters are read when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Footprint {
    /// The configured model name.
    pub name: String,
    /// The mapped file, canonical (as `/proc/self/smaps` spells it).
    pub file: PathBuf,
    /// Length of the mapping, in bytes.
    pub mapped_bytes: u64,
    /// Where the mapping lies in this process's address space (other mappings of the same
    /// file, e.g. by a header reader, are not this model's).
    pub addresses: Range<usize>,
    /// Norm vectors and biases on the heap, in bytes.
    pub weights_heap_bytes: u64,
    /// The KV cache allocated, in bytes (0 before the first call).
    pub kv_cache_bytes: u64,
    /// Its window, in tokens.
    pub kv_tokens: u64,
    /// Scratch buffers' capacity, in bytes.
    pub scratch_bytes: u64,
    /// The tokenizer's tables, in bytes (approximate).
    pub tokenizer_bytes: u64,
}

impl Footprint {
    /// The footprint of `model` now.
    pub(super) fn of(model: &LoadedModel) -> Footprint {
        let path = model.decoder.gguf.path();
        let session = model.session.as_ref();
        Footprint {
            name: model.name.clone(),
            file: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            mapped_bytes: model.decoder.gguf.mapped_bytes() as u64,
            addresses: {
                let b = model.decoder.gguf.bytes();
                b.as_ptr() as usize..b.as_ptr() as usize + b.len()
            },
            weights_heap_bytes: model.decoder.weights.heap_bytes() as u64,
            kv_cache_bytes: session.map_or(0, |s| s.bytes() as u64),
            kv_tokens: session.map_or(0, |s| s.window as u64),
            scratch_bytes: model.scratch.bytes() as u64,
            tokenizer_bytes: model.tokenizer.heap_bytes() as u64,
        }
    }

    /// The report, with the mapping's counters from `/proc/self/smaps` (`None`: not found,
    /// then the resident figure is 0 and the mapped one the mapping's length).
    pub(super) fn report(&self, mapping: Option<Mapping>) -> ModelMemory {
        let m = mapping.unwrap_or(Mapping {
            size: self.mapped_bytes,
            ..Mapping::default()
        });
        ModelMemory {
            name: self.name.clone(),
            file: self.file.clone(),
            mapped_bytes: m.size,
            resident_bytes: m.rss,
            mapping_anonymous_bytes: m.anonymous,
            private_bytes: self.weights_heap_bytes
                + self.kv_cache_bytes
                + self.scratch_bytes
                + self.tokenizer_bytes,
            weights_heap_bytes: self.weights_heap_bytes,
            kv_cache_bytes: self.kv_cache_bytes,
            kv_tokens: self.kv_tokens,
            scratch_bytes: self.scratch_bytes,
            tokenizer_bytes: self.tokenizer_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysmem::CgroupMemory;
    use std::path::PathBuf;

    const MIB: u64 = 1 << 20;

    fn need() -> Need {
        Need {
            weights: 98 * MIB,
            kv_cache: 288 * MIB,
            kv_tokens: 2048,
            working: 26 * MIB,
        }
    }

    fn cgroup(max: u64, current: u64, reclaimable: u64) -> Option<CgroupMemory> {
        Some(CgroupMemory {
            dir: PathBuf::from("/sys/fs/cgroup/system.slice/hearth.service"),
            max,
            current,
            reclaimable,
        })
    }

    #[test]
    fn a_model_that_fits_is_let_through() {
        let limits = MemoryLimits {
            mem_available: 8192 * MIB,
            cgroup: None,
        };
        assert_eq!(check("m", &need(), &limits), Ok(()));
        // Exactly enough is enough.
        let limits = MemoryLimits {
            mem_available: 8192 * MIB,
            cgroup: cgroup(512 * MIB, 100 * MIB, 0),
        };
        assert_eq!(need().total(), 412 * MIB);
        assert_eq!(check("m", &need(), &limits), Ok(()));
    }

    #[test]
    fn the_cgroup_limit_refuses_with_the_figures() {
        let limits = MemoryLimits {
            mem_available: 8192 * MIB,
            cgroup: cgroup(512 * MIB, 262 * MIB, 50 * MIB),
        };
        assert_eq!(
            check("smollm2-135m-instruct", &need(), &limits),
            Err(
                "smollm2-135m-instruct: needs ~412.0 MiB (weights 98.0 MiB + KV cache 288.0 MiB \
                 for 2048 tokens + 26.0 MiB working memory) but 300.0 MiB is available \
                 (MemoryMax 512.0 MiB, 212.0 MiB in use); use a smaller model or a smaller \
                 [local] context_window"
                    .to_owned()
            )
        );
    }

    #[test]
    fn page_cache_in_the_cgroup_counts_as_free() {
        // 480 MiB charged, 400 of it page cache (say the model's own file, read before).
        let limits = MemoryLimits {
            mem_available: 8192 * MIB,
            cgroup: cgroup(512 * MIB, 480 * MIB, 400 * MIB),
        };
        assert_eq!(check("m", &need(), &limits), Ok(()));
    }

    #[test]
    fn mem_available_refuses_when_it_is_the_tighter() {
        let limits = MemoryLimits {
            mem_available: 200 * MIB,
            cgroup: cgroup(4096 * MIB, 100 * MIB, 0),
        };
        let e = check("m", &need(), &limits).expect_err("does not fit");
        assert!(
            e.contains("but 200.0 MiB is available (MemAvailable in /proc/meminfo)"),
            "{e}"
        );
        let no_cgroup = MemoryLimits {
            mem_available: 200 * MIB,
            cgroup: None,
        };
        assert_eq!(check("m", &need(), &no_cgroup), Err(e));
    }

    #[test]
    fn the_window_is_capped_by_the_model() {
        assert_eq!(window(0, 8192), 8192);
        assert_eq!(window(2048, 8192), 2048);
        assert_eq!(window(16384, 8192), 8192);
    }

    #[test]
    fn a_report_sums_the_private_parts() {
        let f = Footprint {
            name: "m".into(),
            file: PathBuf::from("/m.gguf"),
            mapped_bytes: 100,
            addresses: 0x1000..0x1064,
            weights_heap_bytes: 1,
            kv_cache_bytes: 20,
            kv_tokens: 2048,
            scratch_bytes: 300,
            tokenizer_bytes: 4000,
        };
        let r = f.report(None);
        assert_eq!((r.mapped_bytes, r.resident_bytes), (100, 0));
        assert_eq!(r.private_bytes, 4321);
        let r = f.report(Some(Mapping {
            size: 4096,
            rss: 2048,
            ..Mapping::default()
        }));
        assert_eq!((r.mapped_bytes, r.resident_bytes), (4096, 2048));
    }
}
