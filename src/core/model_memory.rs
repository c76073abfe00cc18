//! What an on-device model holds in memory, as `status` reports it: the model file's mapping
//! (address space and the pages of it in RAM, which are page cache the kernel can drop and
//! share) and the private heap it allocated (KV cache, scratch, tokenizer, weights kept on
//! the heap). All figures are bytes.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The memory one loaded on-device model holds, in bytes. One entry of `status`'s
/// `loadedModels` (camelCase keys; a missing key reads as 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelMemory {
    /// The model's name (`smollm2-135m-instruct`, `all-minilm-l6-v2`).
    pub name: String,
    /// The weights file (the mapped file when it is mapped).
    pub file: PathBuf,
    /// Address space of the file's mapping (smaps `Size`); 0 when the weights are read onto
    /// the heap instead.
    pub mapped_bytes: u64,
    /// Pages of the mapping in RAM now (smaps `Rss`): clean page cache, charged to the
    /// cgroup once touched but dropped under pressure rather than swapped or OOM-killed.
    pub resident_bytes: u64,
    /// Copy-on-write pages in the mapping (smaps `Anonymous`); 0 when the weights are read
    /// in place.
    pub mapping_anonymous_bytes: u64,
    /// Heap the model allocated; the sum of the parts below.
    pub private_bytes: u64,
    /// Weights (or small vectors of them: norms, biases) held on the heap.
    pub weights_heap_bytes: u64,
    /// The KV cache allocated for `kv_tokens` tokens (f16 keys and values, every layer).
    pub kv_cache_bytes: u64,
    /// Positions the KV cache has room for, in tokens (0 before the first call).
    pub kv_tokens: u64,
    /// Buffers of the forward pass.
    pub scratch_bytes: u64,
    /// The tokenizer's tables (approximate).
    pub tokenizer_bytes: u64,
}

/// Reports the on-device models in memory now (the gateway's `status`). Implemented by the
/// daemon over the local provider and the embedder; reading may touch `/proc` but never
/// waits for a running generation.
pub trait LoadedModels: Send + Sync {
    /// One entry per model in memory; empty when none is loaded.
    fn loaded_models(&self) -> Vec<ModelMemory>;
}
