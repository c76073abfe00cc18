//! `[local]`: the on-device model runtime — where models live, threads, the context window,
//! requantisation, sampling and stop texts.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[local]`: the on-device model runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Installed models; `None` means `<data_dir>/models`.
    pub models_dir: Option<PathBuf>,
    /// CPU threads for generation (1 is fastest on a busy 2-core board).
    pub threads: usize,
    /// Context window used for local models, tokens.
    pub context_window: usize,
    /// Weights in types the decoder runs slower (Q4_1, Q5_1) are requantised once to this
    /// type and cached beside the file: `"q8_0"` (default; ~26% faster decoding for ~1.5x
    /// the file) or `"none"`.
    pub requantize: Requantize,
    /// `[local.sampling]`: how tokens are drawn when the temperature is above 0.
    pub sampling: LocalSampling,
    /// When local models are offered tools: `"auto"` (default) when the model's template has
    /// a tool-call format (Qwen's `<tool_call>`, Llama 3's JSON) or the model is a Gemma (its
    /// `tool_code` convention), `"always"` (also ChatML models without tools in their
    /// template, e.g. SmolLM2, told the Hermes format in the system prompt), `"never"`.
    pub tools: LocalTools,
    /// Texts that end an answer where the model writes them (not included in it), e.g.
    /// `["\nUser:"]`; the model's own end-of-turn tokens always end it.
    pub stop: Vec<String>,
}

/// `[local] tools`: when local models are offered tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalTools {
    /// When the model has a known tool-call format.
    #[default]
    Auto,
    /// Always (the Hermes format is taught to models without one).
    Always,
    /// Never.
    Never,
}

/// `[local.sampling]`: the sampler's settings (llama.cpp's defaults; see
/// <https://github.com/ggml-org/llama.cpp/tree/master/tools/main#generation-flags>). The
/// temperature and seed come from the agent (`[agent] temperature`, per-run seeds);
/// temperature 0 decodes greedily and ignores these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSampling {
    /// Keep only the `top_k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities add up to `top_p` (0 < p ≤ 1).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the most likely one (0 ≤ p < 1).
    pub min_p: f32,
    /// Divide the logits of recently generated tokens by this (1 disables; > 0). Stops
    /// small models looping on one phrase.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
}

impl Default for LocalSampling {
    fn default() -> Self {
        Self {
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
        }
    }
}

/// What `[local] requantize` converts slow quantisations to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requantize {
    /// GGML Q8_0 (8-bit blocks of 32 with an f16 scale).
    #[serde(rename = "q8_0")]
    Q8_0,
    /// Load files as they are.
    #[serde(rename = "none")]
    None,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            threads: 1,
            context_window: 2048,
            requantize: Requantize::Q8_0,
            sampling: LocalSampling::default(),
            tools: LocalTools::Auto,
            stop: Vec::new(),
        }
    }
}

impl LocalConfig {
    /// Checks values that parse but cannot work; returns `(dotted key, message)`.
    pub(super) fn check(&self) -> Option<(String, String)> {
        let bad = |k: &str, m: String| Some((k.to_string(), m));
        let s = &self.sampling;
        if self.threads == 0 {
            return bad("local.threads", "must be greater than 0".into());
        }
        if self.context_window < 256 {
            return bad("local.context_window", "must be at least 256 tokens".into());
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return bad(
                "local.sampling.top_p",
                format!("{} is outside (0, 1]", s.top_p),
            );
        }
        if !(0.0..1.0).contains(&s.min_p) {
            return bad(
                "local.sampling.min_p",
                format!("{} is outside [0, 1)", s.min_p),
            );
        }
        if !(s.repeat_penalty > 0.0 && s.repeat_penalty.is_finite()) {
            return bad(
                "local.sampling.repeat_penalty",
                format!("{} must be a number above 0", s.repeat_penalty),
            );
        }
        if let Some(i) = self.stop.iter().position(String::is_empty) {
            return bad(
                &format!("local.stop[{i}]"),
                "an empty stop text would end every answer at once".into(),
            );
        }
        None
    }
}
