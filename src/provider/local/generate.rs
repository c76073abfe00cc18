//! The decode loop: prompt encoding, context-window checks, prefill in chunks, token-by-token
//! sampling with streaming, stop conditions, cancellation and the deadline.

use super::gguf::LoadedModel;
use super::template::Piece;
use super::tokenizer::Utf8Stream;
use super::toolcall::{OutputFilter, ToolParsing};
use crate::core::{ChatMessage, Role, ToolCall, Usage};
use crate::llm::Session;
use crate::llm::sample::{Sampler, Sampling};
use crate::provider::{ChatRequest, ChatResponse, DeltaSink, FinishReason, ProviderError};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Prompt tokens fed per forward pass: cancellation and the deadline are checked between
/// chunks of a long prefill.
const PREFILL_CHUNK: usize = 256;

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

    // llama.cpp's defaults (top-k 40, top-p 0.95, min-p 0.05, repeat penalty 1.1 over the
    // last 64 generated tokens) at the request's temperature and seed.
    let mut sampler = Sampler::new(Sampling {
        temperature: req.temperature,
        seed: req.seed,
        ..Sampling::default()
    });
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
    let fits = model
        .session
        .as_ref()
        .is_some_and(|s| s.window == limits.window);
    if !fits {
        model.session = Some(Session::new(&model.decoder.cfg, limits.window));
        model.cached.clear();
    }
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
        let next = sampler.pick(&mut logits, &generated);
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

/// Feeds `tokens` after those in the KV cache (an empty `model.cached` restarts it at
/// position 0), records them in `model.cached`, and returns the next-token logits (`vocab`
/// values).
fn forward(model: &mut LoadedModel, tokens: &[u32]) -> Result<Vec<f32>, ProviderError> {
    // Until the pass returns the cache content is unknown: an empty record forces a restart
    // should it panic.
    let cached = std::mem::take(&mut model.cached);
    let session = model
        .session
        .as_mut()
        .expect("generate allocates the session first");
    session.len = cached.len();
    if session.len + tokens.len() > session.window {
        return Err(ProviderError::Local(format!(
            "{} tokens do not fit the context window of {} tokens",
            session.len + tokens.len(),
            session.window
        )));
    }
    if let Some(bad) = tokens
        .iter()
        .find(|t| **t as usize >= model.decoder.weights.vocab)
    {
        return Err(ProviderError::Local(format!(
            "token id {bad} is outside the vocabulary"
        )));
    }
    let logits = model
        .decoder
        .forward(&model.pool, session, &mut model.scratch, tokens, false)
        .to_vec();
    let mut cached = cached;
    cached.extend_from_slice(tokens);
    model.cached = cached;
    Ok(logits)
}
