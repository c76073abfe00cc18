//! On-device models: the manifests of the models Hearth knows, what is installed,
//! `hearth models pull` and `hearth models recommend`.
//!
//! Owns: the manifests in the repository's `models/*.toml` (embedded with `include_str!`, so
//! a bare binary knows them), the installed layout `<models_dir>/<name>/<file name>` with
//! the installed manifest `manifest.toml` a pull records (`record.rs`), downloading with
//! resume, mirrors and sha256 checks (blocking, over `ureq`), pulling any GGUF by `hf:`
//! reference (checked against the Hugging Face Hub's published sha256, `hf.rs`) or URL
//! (`reference.rs`), the GGUF header facts an install needs (`gguf.rs`), RAM estimates
//! (`ram.rs`) and the advice of `recommend` over a board read from `/proc` and cgroupfs
//! (`recommend.rs`, `board.rs`). Loading and running the weights is not here.
//!
//! Must not import: `agent`, `gateway`, `daemon`, `cli` — this is a leaf the CLI and the
//! providers call. It draws nothing: progress goes through the [`Progress`] trait.
//!
//! Layout while installing: a file is written to `<file name>.part` and renamed into place
//! only once its size and sha256 match (and, for an LLM's `.gguf`, its GGUF magic); wheel
//! sources are cached in `<models_dir>/.cache/` until the pull succeeds;
//! `<models_dir>/<name>/.lock` serialises pulls of one model; `<models_dir>/<name>/manifest.toml`
//! is written last, once every file is in place.

mod board;
mod error;
mod gguf;
mod hf;
mod http;
mod layout;
mod manifest;
mod pull;
mod ram;
mod recommend;
mod record;
mod reference;
mod wheel;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

pub use board::{cpu_facts, this_board};
pub use error::{ModelError, SourceError, SourceFailure};
pub use hf::{HfRef, Hub, HubFile, HubToken};
pub use layout::{
    ModelStatus, import_file, import_manifest_file, installed_path, list, model_dir, status,
};
pub use manifest::{
    Family, FileSpec, HfSource, Kind, Manifest, Source, UrlSource, WheelSource, find, manifests,
};
pub use pull::{PullOptions, pull, pull_manifest};
pub use ram::{EstimateOptions, KV_TOKENS, LlmShape, Quant, RamEstimate};
pub use recommend::{
    Advice, Board, Budget, HEARTH_RESERVE, OS_RESERVE_MIN, PRESETS, Recommendation,
    SLOW_TOKENS_PER_SEC, Verdict, budget, recommend,
};
pub use record::{RECORD_FILE, catalogue, find_in, record_path};
pub use reference::{Installed, ModelRef, RefOptions, pull_ref};

/// Receives download and extraction progress; the CLI draws it as a progress bar.
///
/// Per file (or wheel) the calls run `start`, `advance`…, `finish`; a resumed or retried
/// download starts again. `note` can come at any time.
pub trait Progress {
    /// A transfer begins: `file` is the name shown, `total_bytes` its full size and
    /// `already` the bytes already on disk (from an earlier, interrupted attempt), in bytes.
    fn start(&mut self, file: &str, total_bytes: u64, already: u64);
    /// `bytes` more bytes were written.
    fn advance(&mut self, bytes: u64);
    /// The transfer started last has ended (completed or not).
    fn finish(&mut self);
    /// A one-line message for the user: a skipped file, a failed source, a restart.
    fn note(&mut self, msg: &str);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _file: &str, _total_bytes: u64, _already: u64) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
    fn note(&mut self, _msg: &str) {}
}
