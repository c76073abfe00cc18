//! The tokenizer of a GGUF model, rebuilt from its metadata (no `tokenizer.json` needed), and
//! an incremental UTF-8 decoder for streaming.
//!
//! Metadata keys follow the GGUF spec
//! (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>, "Tokenizer"):
//! `tokenizer.ggml.model` (only `gpt2`, i.e. byte-level BPE, is supported),
//! `tokenizer.ggml.pre` (the pre-tokenizer flavour), `tokenizer.ggml.tokens`,
//! `tokenizer.ggml.merges`, `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control,
//! 4 user-defined, 5 unused, 6 byte), `tokenizer.ggml.{bos,eos}_token_id` and
//! `tokenizer.ggml.add_bos_token`.

use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

/// GGUF `token_type` of control tokens (`<|im_start|>`, `<|endoftext|>`, …).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF `token_type` of user-defined tokens (added tokens that are not control tokens).
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The Qwen2 pre-tokenizer split pattern (as used by llama.cpp for `tokenizer.ggml.pre` =
/// `qwen2`): contractions, letters with one leading non-letter, single digits, punctuation
/// runs, newlines, and whitespace.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE tokenizer built from GGUF metadata, plus the raw bytes of every token
/// for exact streaming decode.
pub(super) struct GgufTokenizer {
    /// Recognises control tokens written in the text as single tokens.
    with_specials: Tokenizer,
    /// Treats control-token spellings in the text as plain text (for untrusted content).
    literal: Tokenizer,
    /// Bytes each token id stands for; empty for control tokens (never shown).
    token_bytes: Vec<Vec<u8>>,
    /// Control and user-defined tokens by spelling.
    specials: HashMap<String, u32>,
    /// `tokenizer.ggml.bos_token_id`, when present.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`, when present.
    pub eos: Option<u32>,
    /// Whether the model wants the BOS token before the prompt.
    pub add_bos: bool,
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF metadata map.
    ///
    /// # Errors
    /// A message naming the missing or unsupported key.
    pub(super) fn from_metadata(md: &HashMap<String, Value>) -> Result<Self, String> {
        let model = md_str(md, "tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(format!(
                "tokenizer.ggml.model is {model:?}; only \"gpt2\" (byte-level BPE) is supported"
            ));
        }
        let tokens: Vec<String> = md_array(md, "tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tokenizer.ggml.tokens: {e}"))?;
        let merges: Vec<(String, String)> = md_array(md, "tokenizer.ggml.merges")?
            .iter()
            .map(|v| {
                let m = v.to_string().map_err(|e| e.to_string())?;
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| format!("merge {m:?} has no space"))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tokenizer.ggml.merges: {e}"))?;
        let types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.to_i32().or_else(|_| v.to_u32().map(|u| u as i32)))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("tokenizer.ggml.token_type: {e}"))?,
            _ => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                types.len(),
                tokens.len()
            ));
        }
        let id_of = |key: &str| md.get(key).and_then(|v| v.to_u32().ok());
        let bos = id_of("tokenizer.ggml.bos_token_id");
        let eos = id_of("tokenizer.ggml.eos_token_id");
        let add_bos = md
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);

        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| format!("cannot build the BPE model: {e}"))?;
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str);
        let pre_tokenizer = pre_tokenizer_for(pre.unwrap_or("default"))?;

        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevel::default())));

        let mut specials = HashMap::new();
        let (mut control, mut user_defined) = (Vec::new(), Vec::new());
        for (id, (tok, ty)) in tokens.iter().zip(&types).enumerate() {
            match *ty {
                TOKEN_TYPE_CONTROL => control.push(AddedToken::from(tok.clone(), true)),
                TOKEN_TYPE_USER_DEFINED => {
                    user_defined.push(AddedToken::from(tok.clone(), false).normalized(false))
                }
                _ => continue,
            }
            specials.insert(tok.clone(), id as u32);
        }
        tokenizer
            .add_special_tokens(control)
            .map_err(|e| format!("cannot add control tokens: {e}"))?;
        tokenizer
            .add_tokens(user_defined)
            .map_err(|e| format!("cannot add user-defined tokens: {e}"))?;
        let mut literal = tokenizer.clone();
        literal.set_encode_special_tokens(true);

        let unicode_to_byte = unicode_to_byte_table();
        let token_bytes = tokens
            .iter()
            .zip(&types)
            .map(|(tok, ty)| match *ty {
                TOKEN_TYPE_CONTROL => Vec::new(),
                TOKEN_TYPE_USER_DEFINED => tok.as_bytes().to_vec(),
                _ => byte_level_bytes(tok, &unicode_to_byte),
            })
            .collect();
        Ok(Self {
            with_specials: tokenizer,
            literal,
            token_bytes,
            specials,
            bos,
            eos,
            add_bos,
        })
    }

    /// Encodes text, treating spellings of control tokens as plain text: safe for content
    /// that comes from users or tools.
    ///
    /// # Errors
    /// The tokenizer's message (it fails only on internal errors).
    pub(super) fn encode_literal(&self, text: &str) -> Result<Vec<u32>, String> {
        encode(&self.literal, text)
    }

    /// Encodes text in which control tokens (`<|im_start|>`, …) are recognised and never split.
    ///
    /// # Errors
    /// The tokenizer's message (it fails only on internal errors).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn encode_with_specials(&self, text: &str) -> Result<Vec<u32>, String> {
        encode(&self.with_specials, text)
    }

    /// Decodes ids to text with the `tokenizers` byte-level decoder (control tokens kept).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.with_specials
            .decode(ids, false)
            .map_err(|e| e.to_string())
    }

    /// The id of a control or user-defined token, e.g. `<|im_end|>`.
    pub(super) fn special_id(&self, spelling: &str) -> Option<u32> {
        self.specials.get(spelling).copied()
    }

    /// The bytes token `id` stands for; empty for control tokens and unknown ids.
    pub(super) fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of tokens in the vocabulary.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }
}

fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, String> {
    tokenizer
        .encode(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| format!("tokenize: {e}"))
}

fn md_str<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a str, String> {
    match md.get(key) {
        Some(v) => v
            .to_string()
            .map(String::as_str)
            .map_err(|e| format!("{key}: {e}")),
        None => Err(format!("metadata key {key} is missing")),
    }
}

fn md_array<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a [Value], String> {
    match md.get(key) {
        Some(v) => v
            .to_vec()
            .map(Vec::as_slice)
            .map_err(|e| format!("{key}: {e}")),
        None => Err(format!("metadata key {key} is missing")),
    }
}

/// The pre-tokenizer for a `tokenizer.ggml.pre` value, mirroring the models' own
/// `tokenizer.json`: SmolLM/StarCoder split digits one by one before the GPT-2 byte-level
/// regex; Qwen2 uses its own split regex; plain GPT-2 uses the byte-level regex alone.
fn pre_tokenizer_for(pre: &str) -> Result<PreTokenizerWrapper, String> {
    let byte_level = |use_regex| {
        PreTokenizerWrapper::ByteLevel(
            tokenizers::pre_tokenizers::byte_level::ByteLevel::default()
                .add_prefix_space(false)
                .use_regex(use_regex),
        )
    };
    match pre {
        "smollm" | "starcoder" | "refact" => {
            Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                byte_level(true),
            ])))
        }
        "qwen2" => {
            let split = Split::new(
                SplitPattern::Regex(QWEN2_SPLIT.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("qwen2 split regex: {e}"))?;
            Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Split(split),
                byte_level(false),
            ])))
        }
        "default" | "gpt2" | "gpt-2" => Ok(byte_level(true)),
        other => Err(format!(
            "tokenizer.ggml.pre {other:?} is not supported (smollm, starcoder, qwen2, gpt2 are)"
        )),
    }
}

/// GPT-2's byte-to-character table, inverted: printable Latin-1 bytes stand for themselves,
/// the other 68 bytes are shifted to U+0100.. in byte order (Radford et al. 2019,
/// `encoder.py`'s `bytes_to_unicode`).
fn unicode_to_byte_table() -> HashMap<char, u8> {
    let printable = |b: u8| {
        (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("255 + at most 68 is a valid scalar value")
        };
        map.insert(c, b);
    }
    map
}

/// The raw bytes of a byte-level token; characters outside the table (not produced by a
/// byte-level vocabulary) keep their own UTF-8 encoding.
fn byte_level_bytes(token: &str, table: &HashMap<char, u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match table.get(&c) {
            Some(b) => out.push(*b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Turns a stream of token bytes into text without ever splitting a multi-byte character:
/// incomplete sequences wait for the next token, invalid bytes become U+FFFD.
#[derive(Default)]
pub(super) struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds bytes and returns the text that is now complete (possibly empty).
    pub(super) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(
                        std::str::from_utf8(&self.pending[..valid])
                            .expect("valid_up_to marks a valid prefix"),
                    );
                    match e.error_len() {
                        // An incomplete character at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Flushes what is left at the end of generation (a truncated character becomes U+FFFD).
    pub(super) fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_covers_every_byte() {
        let t = unicode_to_byte_table();
        assert_eq!(t.len(), 256);
        assert_eq!(t[&'Ġ'], b' ');
        assert_eq!(t[&'Ċ'], b'\n');
        assert_eq!(t[&'a'], b'a');
    }

    #[test]
    fn utf8_stream_never_splits_characters() {
        let text = "é中🦀";
        let mut s = Utf8Stream::default();
        let mut out = String::new();
        for b in text.as_bytes() {
            let piece = s.push(&[*b]);
            assert!(piece.is_empty() || text.contains(&piece));
            out.push_str(&piece);
        }
        out.push_str(&s.finish());
        assert_eq!(out, text);
    }

    #[test]
    fn utf8_stream_replaces_invalid_bytes() {
        let mut s = Utf8Stream::default();
        assert_eq!(s.push(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
        assert_eq!(s.push(&[0xE4, 0xB8]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
    }
}
