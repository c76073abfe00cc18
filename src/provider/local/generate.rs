//! The decode loop: prompt encoding, context-window checks, prefill in chunks, token-by-token
//! sampling with streaming, stop conditions, cancellation and the deadline.

use super::gguf::LoadedModel;
use super::template::Piece;
use super::tokenizer::Utf8Stream;
use super::toolcall::{OutputFilter, ToolParsing};
use crate::core::{ChatMessage, Role, ToolCall, Usage};
use crate::provider::{ChatRequest, ChatResponse, DeltaSink, FinishReason, ProviderError};
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Prompt tokens fed per forward pass; bounds the attention scratch memory
/// (heads × chunk × context floats) and lets cancellation be checked during long prefills.
const PREFILL_CHUNK: usize = 256;
/// Repeat penalty applied to the logits of recently generated tokens (1.0 = none).
const REPEAT_PENALTY: f32 = 1.1;
/// How many of the most recent generated tokens the repeat penalty looks at.
const REPEAT_LAST_N: usize = 64;
/// Nucleus (top-p) cut-off used when sampling with a temperature.
const TOP_P: f64 = 0.95;

/// Per-call limits decided by the provider.
pub(super) struct Limits {
    /// Context window for this call, in tokens (already capped by the model's own).
    pub window: usize,
    /// When the call must have finished.
    pub deadline: Instant,
    /// First number for `call_local_<n>` ids of this call's tool calls.
    pub next_call_id: u64,
}

/// What a finished generation produced besides the response.
pub(super) struct Generated {
    /// The answer.
    pub response: ChatResponse,
    /// How many `call_local_<n>` ids it used.
    pub call_ids_used: u64,
    /// Prompt tokens taken from the KV cache of the previous call instead of recomputed.
    pub reused_tokens: usize,
}

fn infer_err(e: candle_core::Error) -> ProviderError {
    ProviderError::Local(format!("inference failed: {e}"))
}

/// Encodes the rendered prompt: control pieces become their token ids, text is tokenized
/// literally.
pub(super) fn encode_prompt(
    model: &LoadedModel,
    pieces: &[Piece],
) -> Result<Vec<u32>, ProviderError> {
    let tk = &model.tokenizer;
    let mut ids = Vec::new();
    if tk.add_bos
        && let Some(bos) = tk.bos
    {
        ids.push(bos);
    }
    for p in pieces {
        match p {
            Piece::Control(s) => ids.push(tk.special_id(s).ok_or_else(|| {
                ProviderError::Local(format!(
                    "{}: the vocabulary has no {s} token",
                    model.path.display()
                ))
            })?),
            Piece::Text(t) => ids.extend(tk.encode_literal(t).map_err(ProviderError::Local)?),
        }
    }
    Ok(ids)
}

/// Runs one chat completion on a loaded model.
pub(super) fn generate(
    model: &mut LoadedModel,
    req: &ChatRequest<'_>,
    sink: &mut DeltaSink<'_>,
    cancel: &CancellationToken,
    limits: &Limits,
) -> Result<Generated, ProviderError> {
    let timeout = || ProviderError::Timeout {
        provider: "local".into(),
        after: req.timeout,
    };
    let check = || {
        if cancel.is_cancelled() {
            Err(ProviderError::Cancelled)
        } else if Instant::now() >= limits.deadline {
            Err(timeout())
        } else {
            Ok(())
        }
    };
    let pieces = model.template.render(req.messages, req.tools);
    let prompt = encode_prompt(model, &pieces)?;
    if prompt.len() + 1 > limits.window {
        return Err(ProviderError::Local(format!(
            "the prompt is {} tokens, {} over the context window of {} tokens (the answer needs at least 1)",
            prompt.len(),
            prompt.len() + 1 - limits.window,
            limits.window
        )));
    }
    let max_new = (req.max_tokens as usize).min(limits.window - prompt.len());

    let mut sampler = if req.temperature <= 0.0 {
        LogitsProcessor::from_sampling(req.seed, Sampling::ArgMax)
    } else {
        LogitsProcessor::from_sampling(
            req.seed,
            Sampling::TopP {
                p: TOP_P,
                temperature: f64::from(req.temperature),
            },
        )
    };
    let parsing = if req.tools.is_empty() {
        ToolParsing::Off
    } else {
        ToolParsing::On
    };
    let mut filter = OutputFilter::new(parsing);
    let mut utf8 = Utf8Stream::default();
    let mut generated: Vec<u32> = Vec::new();
    let mut finish = FinishReason::Length;

    // Reuse the KV cache when this prompt extends what it holds (a conversation going on);
    // otherwise position 0 restarts it.
    let reused = if prompt.len() > model.cached.len() && prompt.starts_with(&model.cached) {
        model.cached.len()
    } else {
        model.cached.clear();
        0
    };
    let mut logits = None;
    for chunk in prompt[reused..].chunks(PREFILL_CHUNK) {
        check()?;
        logits = Some(forward(model, chunk)?);
    }
    let mut logits = logits.expect("at least one prompt token is fed: prompt.len() > reused");
    while generated.len() < max_new {
        check()?;
        let start = generated.len().saturating_sub(REPEAT_LAST_N);
        let penalised = candle_transformers::utils::apply_repeat_penalty(
            &logits,
            REPEAT_PENALTY,
            &generated[start..],
        )
        .map_err(infer_err)?;
        let next = sampler.sample(&penalised).map_err(infer_err)?;
        if model.stop_ids.contains(&next) {
            finish = FinishReason::Stop;
            break;
        }
        generated.push(next);
        let text = utf8.push(model.tokenizer.token_bytes(next));
        emit(&mut filter, &text, sink);
        if generated.len() < max_new {
            logits = forward(model, &[next])?;
        }
    }
    let tail = utf8.finish();
    emit(&mut filter, &tail, sink);
    let (last, content, calls) = filter.finish();
    if !last.is_empty() {
        sink(&last);
    }
    let call_ids_used = calls.len() as u64;
    let tool_calls: Vec<ToolCall> = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall {
            id: format!("call_local_{}", limits.next_call_id + i as u64),
            name,
            arguments,
        })
        .collect();
    if !tool_calls.is_empty() {
        finish = FinishReason::ToolCalls;
    }
    let mut message = ChatMessage::text(Role::Assistant, content);
    message.tool_calls = tool_calls;
    let usage = Usage {
        prompt_tokens: prompt.len() as u32,
        completion_tokens: (generated.len() + usize::from(finish == FinishReason::Stop)) as u32,
    };
    Ok(Generated {
        response: ChatResponse {
            message,
            finish_reason: finish,
            usage,
        },
        call_ids_used,
        reused_tokens: reused,
    })
}

fn emit(filter: &mut OutputFilter, text: &str, sink: &mut DeltaSink<'_>) {
    if text.is_empty() {
        return;
    }
    let out = filter.push(text);
    if !out.is_empty() {
        sink(&out);
    }
}

/// Feeds `tokens` after those in the KV cache (position 0 restarts it), records them in
/// `model.cached`, and returns the next-token logits, shape `[vocab]`, as f32.
fn forward(model: &mut LoadedModel, tokens: &[u32]) -> Result<Tensor, ProviderError> {
    // Until the pass succeeds the cache content is unknown: an empty record forces a restart.
    let mut cached = std::mem::take(&mut model.cached);
    let input = Tensor::new(tokens, &Device::Cpu)
        .and_then(|t| t.unsqueeze(0))
        .map_err(infer_err)?;
    let logits = model
        .weights
        .forward(&input, cached.len())
        .map_err(infer_err)?;
    let logits = logits
        .squeeze(0)
        .and_then(|l| l.to_dtype(candle_core::DType::F32))
        .map_err(infer_err)?;
    cached.extend_from_slice(tokens);
    model.cached = cached;
    Ok(logits)
}
