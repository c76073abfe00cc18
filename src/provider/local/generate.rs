//! The decode loop: prompt rendering and encoding, context-window checks, prefill in chunks,
//! token-by-token sampling with streaming, stop tokens and stop sequences, cancellation and
//! the deadline; then tool calls checked against their schemas, with one re-ask when the
//! model wrote an unusable call.

use super::gguf::LoadedModel;
use super::prompt::compact;
use super::template::Rendered;
use super::toolcall::{Filtered, OutputFilter};
use super::utf8::Utf8Stream;
use crate::core::schema;
use crate::core::{ChatMessage, Role, ToolCall, ToolSpec, Usage};
use crate::llm::Session;
use crate::llm::sample::{Sampler, Sampling};
use crate::provider::{ChatRequest, ChatResponse, DeltaSink, FinishReason, ProviderError};
use std::borrow::Cow;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Prompt tokens fed per forward pass: cancellation and the deadline are checked between
/// chunks of a long prefill.
const PREFILL_CHUNK: usize = 256;

/// Per-call limits and settings decided by the provider.
pub(super) struct Limits<'a> {
    /// Context window for this call, in tokens (already capped by the model's own).
    pub window: usize,
    /// When the call must have finished.
    pub deadline: Instant,
    /// First number for `call_local_<n>` ids of this call's tool calls.
    pub next_call_id: u64,
    /// Sampling settings; the request's temperature and seed replace the ones here.
    pub sampling: Sampling,
    /// Texts that end the answer where they appear (not included in it).
    pub stop: &'a [String],
    /// Tests only: per attempt, the tokens to produce instead of sampling (the decoder still
    /// runs on them), so tool calls and re-asks can be driven through the real model.
    #[cfg(test)]
    pub forced: Option<&'a std::sync::Mutex<std::collections::VecDeque<Vec<u32>>>>,
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

/// Encodes a rendered prompt: special tokens count only in the template's own text, and BOS
/// goes first when the model wants it and the template did not write it.
pub(super) fn encode_prompt(model: &LoadedModel, r: &Rendered) -> Vec<u32> {
    let tk = &model.tokenizer;
    let mut ids = tk.encode_masked(&r.text, |s, e| r.trusted(s, e));
    if tk.add_bos
        && let Some(bos) = tk.bos
        && ids.first() != Some(&bos)
    {
        ids.insert(0, bos);
    }
    ids
}

/// Renders and encodes the conversation with the tools that fit: tools may take the prompt
/// past half the window only in no form; beyond that they are offered in their compact form,
/// and when even that is too long, not at all (logged). Returns the prompt and the tools
/// offered.
fn prompt_for<'t>(
    model: &LoadedModel,
    messages: &[ChatMessage],
    tools: &'t [ToolSpec],
    window: usize,
) -> Result<(Vec<u32>, Cow<'t, [ToolSpec]>), ProviderError> {
    let render = |tools: &[ToolSpec]| {
        model
            .format
            .render(&model.template, messages, tools)
            .map(|r| encode_prompt(model, &r))
            .map_err(|e| ProviderError::Local(format!("{}: {e}", model.path.display())))
    };
    let prompt = render(tools)?;
    if tools.is_empty() || prompt.len() <= window / 2 {
        return Ok((prompt, Cow::Borrowed(tools)));
    }
    let small = compact(tools);
    let with_small = render(&small)?;
    if with_small.len() <= window / 2 {
        return Ok((with_small, Cow::Owned(small)));
    }
    tracing::warn!(model = %model.name, tools = tools.len(), prompt_tokens = with_small.len(), window, "the tool list does not fit half the local model's window; no tools offered");
    Ok((render(&[])?, Cow::Owned(Vec::new())))
}

/// Runs one chat completion on a loaded model.
pub(super) fn generate(
    model: &mut LoadedModel,
    req: &ChatRequest<'_>,
    sink: &mut DeltaSink<'_>,
    cancel: &CancellationToken,
    limits: &Limits<'_>,
) -> Result<Generated, ProviderError> {
    let mut messages = req.messages.to_vec();
    let offered: &[ToolSpec] = if model.format.offer_tools {
        req.tools
    } else {
        &[]
    };
    let mut reasks = 0;
    // Visible text of an attempt that was asked again: it was streamed already, so the final
    // content starts with it (the deltas still concatenate to the content).
    let mut shown = String::new();
    loop {
        let (prompt, tools) = prompt_for(model, &messages, offered, limits.window)?;
        let mut attempt = decode(model, req, &prompt, !tools.is_empty(), sink, cancel, limits)?;
        let f = &attempt.filtered;
        let mut problems = f.malformed.clone();
        let mut calls = Vec::new();
        for (name, mut args) in f.calls.iter().cloned() {
            // Checked against the tool as defined, not its compact form.
            let offered_now = tools.iter().any(|t| t.name == name);
            match offered.iter().find(|t| t.name == name && offered_now) {
                None => {
                    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                    problems.push(format!(
                        "there is no tool `{name}` (the tools are: {})",
                        names.join(", ")
                    ));
                }
                Some(t) => {
                    schema::coerce(&t.parameters, &mut args);
                    match schema::validate(&t.parameters, &args) {
                        Ok(()) => calls.push((name, args)),
                        Err(e) => problems.push(format!("`{name}` arguments: {e}")),
                    }
                }
            }
        }
        if problems.is_empty() {
            if !shown.is_empty() && !attempt.filtered.content.is_empty() {
                shown.push_str("\n\n");
                sink("\n\n");
            }
            shown.push_str(&attempt.filtered.content);
            attempt.filtered.content = shown;
            return Ok(finish(attempt, calls, limits));
        }
        if reasks == 1 {
            return Err(ProviderError::BadResponse {
                provider: "local".into(),
                detail: format!(
                    "{} wrote no usable tool call after a re-ask: {}",
                    model.name,
                    problems.join("; ")
                ),
            });
        }
        reasks += 1;
        shown.push_str(&attempt.filtered.content);
        tracing::info!(model = %model.name, problems = %problems.join("; "), "local model wrote an unusable tool call; asking again");
        let mut said = ChatMessage::text(Role::Assistant, attempt.raw.trim().to_string());
        said.tool_calls.clear();
        messages.push(said);
        messages.push(ChatMessage::text(Role::User, model.format.reask(&problems)));
    }
}

/// One pass of decoding.
struct Attempt {
    filtered: Filtered,
    /// Everything the model wrote, calls included.
    raw: String,
    finish: FinishReason,
    prompt_tokens: usize,
    completion_tokens: usize,
    reused: usize,
}

/// Builds the response from a clean attempt.
fn finish(a: Attempt, calls: Vec<(String, serde_json::Value)>, limits: &Limits<'_>) -> Generated {
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
    let finish_reason = if tool_calls.is_empty() {
        a.finish
    } else {
        FinishReason::ToolCalls
    };
    let mut message = ChatMessage::text(Role::Assistant, a.filtered.content);
    message.tool_calls = tool_calls;
    Generated {
        response: ChatResponse {
            message,
            finish_reason,
            usage: Usage {
                prompt_tokens: a.prompt_tokens as u32,
                completion_tokens: a.completion_tokens as u32,
            },
        },
        call_ids_used,
        reused_tokens: a.reused,
    }
}

/// Decodes one answer to `prompt`, streaming visible text to `sink`; tool calls are parsed
/// out of it when `with_tools`.
fn decode(
    model: &mut LoadedModel,
    req: &ChatRequest<'_>,
    prompt: &[u32],
    with_tools: bool,
    sink: &mut DeltaSink<'_>,
    cancel: &CancellationToken,
    limits: &Limits<'_>,
) -> Result<Attempt, ProviderError> {
    let check = || {
        if cancel.is_cancelled() {
            Err(ProviderError::Cancelled)
        } else if Instant::now() >= limits.deadline {
            Err(ProviderError::Timeout {
                provider: "local".into(),
                after: req.timeout,
            })
        } else {
            Ok(())
        }
    };
    if prompt.is_empty() {
        return Err(ProviderError::Local(format!(
            "{}: the chat template rendered an empty prompt",
            model.path.display()
        )));
    }
    if prompt.len() + 1 > limits.window {
        return Err(ProviderError::Local(format!(
            "the prompt is {} tokens, {} over the context window of {} tokens (the answer needs at least 1)",
            prompt.len(),
            prompt.len() + 1 - limits.window,
            limits.window
        )));
    }
    let max_new = (req.max_tokens as usize).min(limits.window - prompt.len());
    let mut sampler = Sampler::new(Sampling {
        temperature: req.temperature,
        seed: req.seed,
        ..limits.sampling
    });
    let format = with_tools.then_some(model.format.tools);
    let mut filter = OutputFilter::new(format);
    let mut stops = StopScan::new(limits.stop);
    let mut utf8 = Utf8Stream::default();
    let mut generated: Vec<u32> = Vec::new();
    let mut finish = FinishReason::Length;
    // Whether an end-of-generation token (sampled, not fed) ended the answer.
    let mut stop_token = false;

    // Reuse the KV cache for what this prompt shares with what it holds (a conversation
    // going on); a new window restarts it.
    let fits = model
        .session
        .as_ref()
        .is_some_and(|s| s.window == limits.window);
    if !fits {
        model.session = Some(Session::new(&model.decoder.cfg, limits.window));
        model.cached.clear();
    }
    // Keys and values depend only on the tokens up to their position, so the longest common
    // prefix stays valid (at least one prompt token is fed, for the logits).
    let reused = model
        .cached
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count()
        .min(prompt.len() - 1);
    model.cached.truncate(reused);
    let mut logits = None;
    for chunk in prompt[reused..].chunks(PREFILL_CHUNK) {
        check()?;
        logits = Some(forward(model, chunk)?);
    }
    let mut logits = logits.expect("at least one prompt token is fed: prompt.len() > reused");
    #[cfg(test)]
    let mut forced: Option<std::collections::VecDeque<u32>> = limits
        .forced
        .and_then(|q| q.lock().expect("script").pop_front())
        .map(Into::into);
    while generated.len() < max_new {
        check()?;
        #[cfg(test)]
        let next = match forced.as_mut() {
            Some(f) => f.pop_front().unwrap_or(model.stop_ids[0]),
            None => sampler.pick(&mut logits, &generated),
        };
        #[cfg(not(test))]
        let next = sampler.pick(&mut logits, &generated);
        if model.stop_ids.contains(&next) {
            finish = FinishReason::Stop;
            stop_token = true;
            break;
        }
        generated.push(next);
        let text = utf8.push(&model.tokenizer.token_bytes(next));
        let (ready, stopped) = stops.push(&text);
        emit(&mut filter, &ready, sink);
        if stopped {
            finish = FinishReason::Stop;
            break;
        }
        if generated.len() < max_new {
            logits = forward(model, &[next])?;
        }
    }
    if !stops.stopped {
        let tail = utf8.finish();
        let (ready, _) = stops.push(&tail);
        emit(&mut filter, &ready, sink);
    }
    emit(&mut filter, &stops.flush(), sink);
    let filtered = filter.finish();
    if !filtered.last.is_empty() {
        sink(&filtered.last);
    }
    Ok(Attempt {
        filtered,
        raw: stops.raw,
        finish,
        prompt_tokens: prompt.len(),
        completion_tokens: generated.len() + usize::from(stop_token),
        reused,
    })
}

/// Finds stop sequences in streamed text: text that could still be the start of one is held
/// back; at a match, the text before it is released and the rest dropped.
struct StopScan<'a> {
    stops: &'a [String],
    held: String,
    /// All text released so far (the answer as the model wrote it, calls included).
    raw: String,
    stopped: bool,
}

impl<'a> StopScan<'a> {
    fn new(stops: &'a [String]) -> Self {
        Self {
            stops,
            held: String::new(),
            raw: String::new(),
            stopped: false,
        }
    }

    /// Adds text; returns what can be released and whether a stop sequence was met.
    fn push(&mut self, text: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), true);
        }
        self.held.push_str(text);
        let hit = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = hit {
            self.stopped = true;
            let out = self.held[..at].to_string();
            self.held.clear();
            self.raw.push_str(&out);
            return (out, true);
        }
        // Keep the longest tail that is a prefix of some stop sequence.
        let keep = self
            .stops
            .iter()
            .flat_map(|s| {
                (1..s.len())
                    .rev()
                    .filter(|&n| s.is_char_boundary(n))
                    .find(|&n| self.held.ends_with(&s[..n]))
            })
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let out: String = self.held.drain(..cut).collect();
        self.raw.push_str(&out);
        (out, false)
    }

    /// Releases what was held at the end of the answer.
    fn flush(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        let out = std::mem::take(&mut self.held);
        self.raw.push_str(&out);
        out
    }
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
