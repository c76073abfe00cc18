//! `hearth models recommend`: which LLMs fit a board, which fit but run slowly, and which
//! to leave to a remote provider. A pure function of a [`Board`] and the manifests, so
//! "what if" questions (`--board`, `--ram`) and tests need no hardware; `board.rs` reads
//! the real one.
//!
//! **Headroom rule.** Of the board's RAM, the operating system keeps
//! `max(96 MiB, RAM / 8)` (Raspberry Pi OS Lite idles near 100 MB; bigger boards run more
//! beside Hearth and want page cache), and Hearth itself `128 MiB` (the gateway, LMDB and
//! the f16 MiniLM embedder). A cgroup limit (systemd `MemoryMax=`) caps what is left before
//! Hearth's share comes off: `budget = min(RAM − OS, limit) − Hearth`. A model fits when
//! its [`RamEstimate`] (weights + a 4096-token f16 KV cache) is within the budget.
//!
//! **Speed rule.** A decode step reads every weight once, so tokens per second is about
//! the bytes the CPU can stream through the matrix kernels divided by the weights' size.
//! Hearth's estimate of that rate: 1.25 GB/s per core without int8 dot-product
//! instructions, 2.5 GB/s with them (aarch64 `asimddp`, x86-64 AVX2), at most 4 cores
//! (decode stops scaling at the memory bus). That puts a Pi 4 near 5 GB/s and a Pi 5 near
//! 10 GB/s, which matches llama.cpp's published Pi figures within a factor of two — rough,
//! but it orders models correctly. Below [`SLOW_TOKENS_PER_SEC`] a model "fits but is
//! slow".

use super::manifest::{Kind, Manifest};
use super::ram::{EstimateOptions, RamEstimate};

const MIB: u64 = 1024 * 1024;

/// The least the operating system keeps, in bytes.
pub const OS_RESERVE_MIN: u64 = 96 * MIB;
/// What Hearth itself keeps besides the model (gateway, storage, embedder), in bytes.
pub const HEARTH_RESERVE: u64 = 128 * MIB;
/// Estimated decode speed below which a fitting model counts as slow, tokens/s.
pub const SLOW_TOKENS_PER_SEC: f64 = 5.0;

/// What recommendations depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// For humans, e.g. "Raspberry Pi 5 Model B Rev 1.0".
    pub name: String,
    /// Usable RAM (`MemTotal`), in bytes.
    pub ram_bytes: u64,
    /// The process's cgroup v2 memory limit (`memory.max`), in bytes, when set.
    pub limit_bytes: Option<u64>,
    /// CPU cores available to the process.
    pub cores: u32,
    /// Whether the CPU has int8 dot-product instructions the decoder uses (aarch64
    /// `asimddp`, x86-64 AVX2).
    pub dotprod: bool,
}

/// Names [`Board::preset`] accepts.
pub const PRESETS: [&str; 3] = ["pi-zero-2w", "pi4-4gb", "pi5-8gb"];

impl Board {
    /// A Raspberry Pi by preset name (see [`PRESETS`]), with the `MemTotal` Raspberry Pi OS
    /// (64-bit) reports on it — less than the nominal RAM by the firmware's and GPU's share.
    pub fn preset(name: &str) -> Option<Board> {
        let (full, ram_mib, dotprod) = match name {
            // 512 MB LPDDR2, Cortex-A53.
            "pi-zero-2w" => ("Raspberry Pi Zero 2 W", 432, false),
            // 4 GB LPDDR4, Cortex-A72.
            "pi4-4gb" => ("Raspberry Pi 4 Model B (4 GB)", 3_791, false),
            // 8 GB LPDDR4X, Cortex-A76 (with asimddp).
            "pi5-8gb" => ("Raspberry Pi 5 (8 GB)", 8_048, true),
            _ => return None,
        };
        Some(Board {
            name: full.to_owned(),
            ram_bytes: ram_mib * MIB,
            limit_bytes: None,
            cores: 4,
            dotprod,
        })
    }

    /// Bytes per second the decoder can stream through its kernels (see the module docs).
    pub fn decode_bytes_per_sec(&self) -> f64 {
        let per_core = if self.dotprod { 2.5e9 } else { 1.25e9 };
        per_core * f64::from(self.cores.clamp(1, 4))
    }
}

/// How the board's memory divides (see the module docs), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Kept for the operating system.
    pub os_reserve: u64,
    /// Kept for Hearth itself.
    pub hearth_reserve: u64,
    /// Left for one model's weights and KV cache.
    pub models: u64,
}

/// The headroom rule of the module docs.
pub fn budget(board: &Board) -> Budget {
    let os_reserve = OS_RESERVE_MIN.max(board.ram_bytes / 8);
    let outside_os = board.ram_bytes.saturating_sub(os_reserve);
    let capped = board.limit_bytes.map_or(outside_os, |l| l.min(outside_os));
    Budget {
        os_reserve,
        hearth_reserve: HEARTH_RESERVE,
        models: capped.saturating_sub(HEARTH_RESERVE),
    }
}

/// Where a model belongs on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Fits with headroom and decodes at a usable speed.
    Fits,
    /// Fits, but decodes below [`SLOW_TOKENS_PER_SEC`].
    Slow,
    /// Does not fit: keep it on a remote provider.
    Remote,
}

/// The advice for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// Model name.
    pub name: String,
    /// Its memory need, as the verdict used it.
    pub ram: RamEstimate,
    /// Estimated decode speed, tokens/s.
    pub tokens_per_sec: f64,
    /// Where it belongs.
    pub verdict: Verdict,
    /// It fits only with requantisation off (`[local] requantize = "none"`): its Q4_1/Q5_1
    /// weights would run as a larger Q8_0 copy otherwise.
    pub needs_no_requantize: bool,
}

/// The advice for a board.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// How the board's memory divides.
    pub budget: Budget,
    /// One entry per LLM with a RAM estimate, best verdict first, then smallest need
    /// first within a verdict.
    pub models: Vec<Advice>,
}

impl Recommendation {
    /// Names of the models with verdict `v`, in order.
    pub fn names(&self, v: Verdict) -> Vec<&str> {
        self.models
            .iter()
            .filter(|a| a.verdict == v)
            .map(|a| a.name.as_str())
            .collect()
    }
}

/// Advises on every LLM of `models` that has a RAM estimate (embedding models and
/// manifests without a `shape` are left out), for `board`, estimating as `opts` says.
pub fn recommend(board: &Board, models: &[Manifest], opts: EstimateOptions) -> Recommendation {
    let budget = budget(board);
    let rate = board.decode_bytes_per_sec();
    let mut advice: Vec<Advice> = models
        .iter()
        .filter(|m| m.kind == Kind::Llm)
        .filter_map(|m| {
            let as_set = m.ram_estimate(opts)?;
            let plain = m.ram_estimate(EstimateOptions { requantize: false })?;
            let needs_no_requantize =
                as_set.total() > budget.models && plain.total() <= budget.models;
            let ram = if needs_no_requantize { plain } else { as_set };
            let tokens_per_sec = rate / ram.weights.max(1) as f64;
            let verdict = if ram.total() > budget.models {
                Verdict::Remote
            } else if tokens_per_sec < SLOW_TOKENS_PER_SEC {
                Verdict::Slow
            } else {
                Verdict::Fits
            };
            Some(Advice {
                name: m.name.clone(),
                ram,
                tokens_per_sec,
                verdict,
                needs_no_requantize,
            })
        })
        .collect();
    advice.sort_by(|a, b| {
        (a.verdict, a.ram.total(), &a.name).cmp(&(b.verdict, b.ram.total(), &b.name))
    });
    Recommendation {
        budget,
        models: advice,
    }
}

#[cfg(test)]
#[path = "recommend_tests.rs"]
mod tests;
