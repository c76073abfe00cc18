//! The tokenizer of a GGUF model, read from its metadata: byte-level BPE (`gpt2`) with the
//! pre-tokenizer its `tokenizer.ggml.pre` names, and SentencePiece (`llama`) merged by score
//! with byte fallback — the two vocabularies the `llama`, `qwen2`, `qwen3` and `gemma3`
//! families ship with. Output matches llama.cpp's `llama_tokenize` token for token (checked
//! against it in `tests/tokenizer.rs`).
//!
//! Metadata keys follow the GGUF spec (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>,
//! "Tokenizer"): `tokenizer.ggml.model`, `.pre`, `.tokens`, `.scores`, `.token_type` (1 normal,
//! 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), `.merges`, `.{bos,eos,eot,eom,
//! unknown}_token_id`, `.add_bos_token`, `.add_space_prefix`.
//!
//! Special tokens: user-defined tokens are always split out of the text; control tokens (and
//! the unknown token) only where the caller allows it — [`Tokenizer::encode_masked`] lets a
//! chat template's own text carry `<|im_start|>` while the same spelling inside a user's
//! message stays plain text.
//!
//! Memory: token texts live in one arena string with an offset table, looked up through a
//! sorted id index (about 10 bytes per token beyond the text), so Gemma 3's 262,144-token
//! vocabulary costs ~4 MB rather than a hash map of owned strings.

mod bpe;
mod spm;

use crate::gguf::{Gguf, GgufError, Value};
use aho_corasick::AhoCorasick;

/// GGUF `token_type` values (llama.cpp's `llama_token_type`).
const NORMAL: u8 = 1;
const UNKNOWN: u8 = 2;
const CONTROL: u8 = 3;
const USER_DEFINED: u8 = 4;
const UNUSED: u8 = 5;
const BYTE: u8 = 6;

/// The token texts of a vocabulary, with lookup by text.
pub(crate) struct Vocab {
    arena: String,
    /// `arena[offsets[i]..offsets[i + 1]]` is token `i`'s text.
    offsets: Vec<u32>,
    /// Token ids ordered by text, for binary search.
    sorted: Vec<u32>,
    /// `token_type` per token.
    types: Vec<u8>,
}

impl Vocab {
    fn text(&self, id: u32) -> &str {
        let i = id as usize;
        &self.arena[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The id of the token spelled `text`. Several ids with one text (a malformed vocabulary)
    /// resolve to the lowest.
    pub(crate) fn id(&self, text: &str) -> Option<u32> {
        let at = self.sorted.partition_point(|&id| self.text(id) < text);
        let id = *self.sorted.get(at)?;
        (self.text(id) == text).then_some(id)
    }

    fn len(&self) -> usize {
        self.types.len()
    }
}

/// Which algorithm splits text into tokens.
enum Model {
    Bpe(Box<bpe::Bpe>),
    Spm(Box<spm::Spm>),
}

/// A tokenizer built from GGUF metadata.
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    /// Control, unknown and user-defined tokens, for finding them in text.
    specials: AhoCorasick,
    /// The ids of the patterns in `specials`, in pattern order.
    special_ids: Vec<u32>,
    /// `tokenizer.ggml.bos_token_id` (SentencePiece default 1).
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id` (SentencePiece default 2).
    pub eos: Option<u32>,
    /// Whether a prompt starts with BOS (`tokenizer.ggml.add_bos_token`, else the model's
    /// default: true for SentencePiece and Llama 3's BPE).
    pub add_bos: bool,
    /// The token ids that end a generation: EOS, EOT, EOM, and control tokens spelled as one
    /// of the known turn ends (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, …), as llama.cpp
    /// collects them.
    pub end_of_generation: Vec<u32>,
}

/// Spellings llama.cpp treats as ends of generation when they are control tokens
/// (`llama_vocab::impl::load`, "special_eog_ids").
const EOG_SPELLINGS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
];

impl Tokenizer {
    /// Reads the tokenizer of a mapped GGUF file.
    ///
    /// # Errors
    /// [`GgufError`] naming the key: a missing vocabulary, a tokenizer model other than `gpt2`
    /// and `llama`, arrays of the wrong length or type, a pre-tokenizer pattern that does not
    /// compile.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, GgufError> {
        let kind = g
            .str("tokenizer.ggml.model")
            .ok_or_else(|| g.error(None, "metadata key tokenizer.ggml.model is missing"))?;
        let vocab = read_vocab(g)?;
        let n = vocab.len();
        let id_key = |key: &str| {
            g.uint(key)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| (v as usize) < n)
        };
        let (model, default_bos, default_eos, default_add_bos) = match kind {
            "gpt2" => {
                let merges: Vec<&str> = g
                    .array("tokenizer.ggml.merges")
                    .ok_or_else(|| {
                        g.error(
                            None,
                            "tokenizer.ggml.merges is missing (needed by gpt2 BPE)",
                        )
                    })?
                    .map(|v| g.text(v))
                    .collect();
                let pre_name = g.str("tokenizer.ggml.pre").unwrap_or("default");
                let b = bpe::Bpe::new(&vocab, &merges, pre_name)
                    .map_err(|e| g.error(None, format!("tokenizer.ggml.pre: {e}")))?;
                let add_bos = b.add_bos_default();
                (Model::Bpe(Box::new(b)), None, None, add_bos)
            }
            "llama" => {
                let scores: Vec<f32> = match g.array("tokenizer.ggml.scores") {
                    Some(a) => a
                        .map(|v| match v {
                            Value::Float(f) => f as f32,
                            _ => 0.0,
                        })
                        .collect(),
                    None => vec![0.0; n],
                };
                same_length(g, "tokenizer.ggml.scores", scores.len(), n)?;
                let add_space_prefix = g.bool("tokenizer.ggml.add_space_prefix").unwrap_or(true);
                let s = spm::Spm::new(&vocab, scores, add_space_prefix);
                (Model::Spm(Box::new(s)), Some(1), Some(2), true)
            }
            other => {
                return Err(g.error(
                    None,
                    format!(
                        "tokenizer.ggml.model is {other:?}; Hearth reads \"gpt2\" (byte-level \
                         BPE) and \"llama\" (SentencePiece)"
                    ),
                ));
            }
        };
        let bos = id_key("tokenizer.ggml.bos_token_id").or(default_bos);
        let eos = id_key("tokenizer.ggml.eos_token_id").or(default_eos);
        let add_bos = g
            .bool("tokenizer.ggml.add_bos_token")
            .unwrap_or(default_add_bos);
        let mut end_of_generation: Vec<u32> = [
            eos,
            id_key("tokenizer.ggml.eot_token_id"),
            id_key("tokenizer.ggml.eom_token_id"),
        ]
        .into_iter()
        .flatten()
        .collect();
        // As llama.cpp does, these spellings end a generation whatever their type, and count
        // as control tokens from then on (some conversions type `<end_of_turn>` user-defined).
        let mut vocab = vocab;
        for s in EOG_SPELLINGS {
            if let Some(id) = vocab.id(s) {
                end_of_generation.push(id);
                vocab.types[id as usize] = CONTROL;
            }
        }
        end_of_generation.sort_unstable();
        end_of_generation.dedup();

        let special_ids: Vec<u32> = (0..n as u32)
            .filter(|&id| {
                matches!(vocab.types[id as usize], CONTROL | USER_DEFINED | UNKNOWN)
                    && !vocab.text(id).is_empty()
            })
            .collect();
        let specials = AhoCorasick::new(special_ids.iter().map(|&id| vocab.text(id)))
            .map_err(|e| g.error(None, format!("special tokens: {e}")))?;
        Ok(Tokenizer {
            vocab,
            model,
            specials,
            special_ids,
            bos,
            eos,
            add_bos,
            end_of_generation,
        })
    }

    /// About the bytes the tokenizer holds on the heap: the token arena and its tables, the
    /// merge table (BPE) or the scores (SentencePiece), the special-token matcher. The
    /// pre-tokenizer's compiled patterns and their caches are not counted (no API reports
    /// them; they are tens to hundreds of KB).
    pub fn heap_bytes(&self) -> usize {
        let v = &self.vocab;
        let vocab = v.arena.capacity()
            + (v.offsets.capacity() + v.sorted.capacity()) * 4
            + v.types.capacity();
        let model = match &self.model {
            Model::Bpe(b) => b.heap_bytes(),
            Model::Spm(s) => s.heap_bytes(),
        };
        vocab + model + self.specials.memory_usage() + self.special_ids.capacity() * 4
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The id of a token by its exact text (any type), e.g. `<|im_end|>`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    /// The text of token `id` as stored in the vocabulary (byte-level or `▁`-escaped).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        ((id as usize) < self.vocab.len()).then(|| self.vocab.text(id))
    }

    /// Whether token `id` is a control token (never shown as text).
    pub fn is_control(&self, id: u32) -> bool {
        self.vocab.types.get(id as usize) == Some(&CONTROL)
    }

    /// Tokens for `text` with control-token spellings recognised everywhere (llama.cpp's
    /// `parse_special = true`); no BOS is added.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_where(text, |_, _, _| true)
    }

    /// Tokens for `text` as llama.cpp's `parse_special = false` gives them: control-token
    /// spellings stay plain text, user-defined tokens are still recognised.
    pub fn encode_literal(&self, text: &str) -> Vec<u32> {
        self.encode_where(text, |_, _, user_defined| user_defined)
    }

    /// Tokens for `text`, where a special token (control, unknown or user-defined) spelled at
    /// bytes `start..end` is recognised only if `allow(start, end)`: a prompt's untrusted
    /// ranges can then spell no structure at all, not even the user-defined `<tool_call>` or
    /// `<end_of_turn>` some vocabularies carry. Otherwise the same as llama.cpp's
    /// `llama_tokenize` without BOS: special tokens are claimed longest first, then each
    /// stretch of text between them is tokenized.
    pub fn encode_masked(&self, text: &str, allow: impl Fn(usize, usize) -> bool) -> Vec<u32> {
        self.encode_where(text, |s, e, _| allow(s, e))
    }

    /// The tokenizer proper: `keep(start, end, user_defined)` decides which special-token
    /// spellings count.
    fn encode_where(&self, text: &str, keep: impl Fn(usize, usize, bool) -> bool) -> Vec<u32> {
        // Candidate occurrences (overlapping), those kept, longest token first as llama.cpp
        // partitions (`tokenizer_st_partition`), then leftmost.
        let mut found: Vec<(usize, usize, u32)> = self
            .specials
            .find_overlapping_iter(text)
            .filter_map(|m| {
                let id = self.special_ids[m.pattern().as_usize()];
                let user_defined = self.vocab.types[id as usize] == USER_DEFINED;
                keep(m.start(), m.end(), user_defined).then_some((m.start(), m.end(), id))
            })
            .collect();
        found.sort_by_key(|&(s, e, _)| (std::cmp::Reverse(e - s), s));
        // Bytes already claimed, so each candidate is checked in its own length.
        let mut taken = vec![false; if found.is_empty() { 0 } else { text.len() }];
        let mut claimed: Vec<(usize, usize, u32)> = Vec::new();
        for (s, e, id) in found {
            if !taken[s..e].contains(&true) {
                taken[s..e].fill(true);
                claimed.push((s, e, id));
            }
        }
        claimed.sort_unstable_by_key(|&(s, _, _)| s);

        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let mut at = 0;
        let mut prev_special = true;
        for (s, e, id) in claimed {
            if s > at {
                self.encode_text(&text[at..s], prev_special, &mut out);
            }
            out.push(id);
            prev_special = true;
            at = e;
        }
        if at < text.len() {
            self.encode_text(&text[at..], prev_special, &mut out);
        }
        out
    }

    fn encode_text(&self, text: &str, prev_special: bool, out: &mut Vec<u32>) {
        match &self.model {
            Model::Bpe(b) => b.encode(&self.vocab, text, out),
            Model::Spm(s) => s.encode(&self.vocab, text, prev_special, out),
        }
    }

    /// The bytes token `id` stands for in generated text: byte-level BPE tokens unmapped to
    /// raw bytes, SentencePiece `▁` as a space and `<0xNN>` byte tokens as that byte,
    /// user-defined tokens as written; control, unused and unknown ids give nothing.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(&ty) = self.vocab.types.get(id as usize) else {
            return Vec::new();
        };
        let text = self.vocab.text(id);
        match (ty, &self.model) {
            (CONTROL | UNUSED | UNKNOWN, _) => Vec::new(),
            (USER_DEFINED, _) => text.as_bytes().to_vec(),
            (BYTE, _) => spm::byte_token_value(text)
                .map(|b| vec![b])
                .unwrap_or_default(),
            (_, Model::Bpe(_)) => bpe::unmap_bytes(text),
            (_, Model::Spm(_)) => text.replace('\u{2581}', " ").into_bytes(),
        }
    }

    /// The text of a token sequence (control tokens dropped, invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Checks that the per-token array `key` has one entry (`got`) per token (`n`).
fn same_length(g: &Gguf, key: &str, got: usize, n: usize) -> Result<(), GgufError> {
    if got == n {
        return Ok(());
    }
    Err(g.error(None, format!("{key} has {got} entries for {n} tokens")))
}

/// Reads `tokenizer.ggml.tokens` and `.token_type` into a [`Vocab`].
fn read_vocab(g: &Gguf) -> Result<Vocab, GgufError> {
    let tokens = g
        .array("tokenizer.ggml.tokens")
        .ok_or_else(|| g.error(None, "metadata key tokenizer.ggml.tokens is missing"))?;
    let mut arena = String::new();
    let mut offsets = vec![0u32];
    for v in tokens {
        if !matches!(v, Value::Str(..)) {
            return Err(g.error(None, "tokenizer.ggml.tokens is not an array of strings"));
        }
        arena.push_str(g.text(v));
        let end = u32::try_from(arena.len())
            .map_err(|_| g.error(None, "tokenizer.ggml.tokens is larger than 4 GiB"))?;
        offsets.push(end);
    }
    let n = offsets.len() - 1;
    if n == 0 {
        return Err(g.error(None, "tokenizer.ggml.tokens is empty"));
    }
    let types: Vec<u8> = match g.array("tokenizer.ggml.token_type") {
        Some(a) => a
            .map(|v| match v {
                Value::Int(t) => u8::try_from(t).unwrap_or(NORMAL),
                Value::Uint(t) => u8::try_from(t).unwrap_or(NORMAL),
                _ => NORMAL,
            })
            .collect(),
        None => vec![NORMAL; n],
    };
    same_length(g, "tokenizer.ggml.token_type", types.len(), n)?;
    let mut vocab = Vocab {
        arena,
        offsets,
        sorted: (0..n as u32).collect(),
        types,
    };
    let mut sorted = std::mem::take(&mut vocab.sorted);
    sorted.sort_by(|&a, &b| vocab.text(a).cmp(vocab.text(b)).then(a.cmp(&b)));
    vocab.sorted = sorted;
    Ok(vocab)
}

#[cfg(test)]
mod tests;
