//! The model's WordPiece tokenizer, read from `tokenizer.json` (the Hugging Face tokenizers
//! format, <https://huggingface.co/docs/tokenizers/api/normalizers>) and run here: BERT's
//! normaliser, BERT's pre-tokenizer, greedy longest-match-first WordPiece (Wu et al. 2016,
//! <https://arxiv.org/abs/1609.08144>, as in Google's BERT `tokenization.py`), and the
//! `[CLS] … [SEP]` template. Only that pipeline is accepted; anything else in the file is
//! refused by name at load. Padding is never applied and truncation is done here, so a text
//! costs only its own tokens.
//!
//! Character classes come from the Unicode tables the `regex` crate carries (general
//! categories) and canonical decomposition from `unicode-normalization`. Special-token
//! spellings in the text (`[SEP]`, `[MASK]`) are ordinary text here, whereas the tokenizers
//! library would turn them into the special ids; memory text is user data, not markup.

use super::EmbedError;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;

/// BERT's normaliser settings (`normalizer` of type `BertNormalizer`).
#[derive(Debug, Clone, Copy)]
struct Normalizer {
    /// Drop control characters, NUL and U+FFFD; every whitespace becomes a space.
    clean_text: bool,
    /// Put spaces around CJK ideographs, so each is a word.
    chinese: bool,
    /// Canonical decomposition (NFD), then drop non-spacing marks.
    strip_accents: bool,
    /// Lower-case every character.
    lowercase: bool,
}

/// The Unicode general categories the pipeline asks about.
struct Classes {
    /// Cc, Cf, Cn, Co: what BERT's cleaning calls control characters.
    other: Regex,
    /// Mn: non-spacing marks, dropped by accent stripping.
    mark: Regex,
    /// P*: punctuation, split off by the pre-tokenizer.
    punct: Regex,
}

impl Classes {
    fn new() -> Self {
        let re = |p: &str| Regex::new(p).expect("a valid Unicode class");
        Classes {
            other: re(r"^[\p{Cc}\p{Cf}\p{Cn}\p{Co}]$"),
            mark: re(r"^\p{Mn}$"),
            punct: re(r"^\p{P}$"),
        }
    }

    fn is(re: &Regex, c: char) -> bool {
        let mut buf = [0u8; 4];
        re.is_match(c.encode_utf8(&mut buf))
    }

    /// BERT's `_is_control`: tab, newline and carriage return count as whitespace instead.
    fn control(&self, c: char) -> bool {
        match c {
            '\t' | '\n' | '\r' => false,
            c if c.is_ascii() => c.is_ascii_control(),
            c => Self::is(&self.other, c),
        }
    }

    /// BERT's `_is_punctuation`: all ASCII symbols, and Unicode punctuation.
    fn punctuation(&self, c: char) -> bool {
        c.is_ascii_punctuation() || (!c.is_ascii() && Self::is(&self.punct, c))
    }

    fn nonspacing_mark(&self, c: char) -> bool {
        !c.is_ascii() && Self::is(&self.mark, c)
    }
}

/// The CJK ideograph blocks BERT isolates (the ranges of the tokenizers library, which
/// sentence-transformers runs).
fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// A loaded tokenizer that encodes with `[CLS]`/`[SEP]` and truncates to `max_tokens`.
pub(super) struct TextTokenizer {
    /// Word piece → id; continuation pieces carry `prefix`.
    vocab: HashMap<String, u32>,
    /// Marks a piece that continues a word (`##`).
    prefix: String,
    /// A word longer than this many characters is `[UNK]`.
    max_word_chars: usize,
    unk: u32,
    cls: u32,
    sep: u32,
    norm: Normalizer,
    classes: Classes,
    /// Longest encoding, specials included (2..=max_position_embeddings).
    max_tokens: usize,
}

impl TextTokenizer {
    /// Reads `tokenizer.json` (and `config.json` for the position limit) from `dir`.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`], or [`EmbedError::Load`] naming the field when the file is
    /// not JSON or not a BERT WordPiece pipeline.
    pub(super) fn open(dir: &Path, max_seq_tokens: usize) -> Result<Self, EmbedError> {
        let path = dir.join("tokenizer.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EmbedError::MissingFile { path });
            }
            Err(e) => return Err(load_err(&path, e.to_string())),
        };
        let json: Value =
            serde_json::from_str(&text).map_err(|e| load_err(&path, e.to_string()))?;
        let mut tk = Self::from_json(&json).map_err(|detail| load_err(&path, detail))?;
        let positions = super::model::BertConfig::open(dir)?.max_position_embeddings;
        tk.max_tokens = max_seq_tokens.clamp(2, positions.max(2));
        Ok(tk)
    }

    /// The pipeline a parsed `tokenizer.json` describes (`max_tokens` unlimited).
    fn from_json(json: &Value) -> Result<Self, String> {
        let n = &json["normalizer"];
        expect_type(n, "normalizer", "BertNormalizer")?;
        let flag = |key: &str, default: bool| match &n[key] {
            Value::Null => Ok(default),
            Value::Bool(b) => Ok(*b),
            other => Err(format!("normalizer.{key} is {other}, not true or false")),
        };
        let lowercase = flag("lowercase", true)?;
        let norm = Normalizer {
            clean_text: flag("clean_text", true)?,
            chinese: flag("handle_chinese_chars", true)?,
            strip_accents: flag("strip_accents", lowercase)?,
            lowercase,
        };
        expect_type(&json["pre_tokenizer"], "pre_tokenizer", "BertPreTokenizer")?;
        let model = &json["model"];
        expect_type(model, "model", "WordPiece")?;
        let vocab: HashMap<String, u32> = match &model["vocab"] {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    let id = v.as_u64().and_then(|i| u32::try_from(i).ok());
                    id.map(|id| (k.clone(), id))
                        .ok_or_else(|| format!("model.vocab[{k:?}] is {v}, not a token id"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("model.vocab is not an object of token ids".into()),
        };
        let string = |v: &Value, what: &str, default: &str| match v {
            Value::Null => Ok(default.to_owned()),
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("{what} is {other}, not a string")),
        };
        let id_of = |tok: &str, what: &str| {
            vocab
                .get(tok)
                .copied()
                .ok_or_else(|| format!("{what} {tok:?} is not in model.vocab"))
        };
        let unk = id_of(
            &string(&model["unk_token"], "model.unk_token", "[UNK]")?,
            "model.unk_token",
        )?;
        let (cls, sep) = specials(&json["post_processor"], &id_of)?;
        Ok(TextTokenizer {
            prefix: string(
                &model["continuing_subword_prefix"],
                "model.continuing_subword_prefix",
                "##",
            )?,
            max_word_chars: model["max_input_chars_per_word"].as_u64().unwrap_or(100) as usize,
            vocab,
            unk,
            cls,
            sep,
            norm,
            classes: Classes::new(),
            max_tokens: usize::MAX,
        })
    }

    /// All word pieces of `text`, `[CLS]` and `[SEP]` included.
    pub(super) fn count(&self, text: &str) -> usize {
        self.encode(text, usize::MAX).len()
    }

    /// Token ids of `text`: `[CLS]`, at most `max_tokens - 2` word pieces, `[SEP]`; the ids
    /// the tokenizers library gives with longest-first truncation at `max_tokens`. Words
    /// after the cut are not looked at.
    pub(super) fn encode_truncated(&self, text: &str) -> Vec<u32> {
        self.encode(text, self.max_tokens)
    }

    fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        let normal = self.normalize(text);
        let mut ids = vec![self.cls];
        let mut word = String::new();
        let mut piece = String::new();
        let mut flush = |word: &mut String, ids: &mut Vec<u32>| {
            if !word.is_empty() {
                self.word_pieces(word, &mut piece, ids);
                word.clear();
            }
        };
        for c in normal.chars() {
            if ids.len() >= max_tokens {
                break;
            }
            if c.is_whitespace() {
                flush(&mut word, &mut ids);
            } else if self.classes.punctuation(c) {
                flush(&mut word, &mut ids);
                word.push(c);
                flush(&mut word, &mut ids);
            } else {
                word.push(c);
            }
        }
        flush(&mut word, &mut ids);
        ids.truncate(max_tokens.saturating_sub(1).max(1));
        ids.push(self.sep);
        ids
    }

    /// BERT's normaliser (the tokenizers library's `BertNormalizer`).
    fn normalize(&self, text: &str) -> String {
        let n = self.norm;
        let mut cleaned = String::with_capacity(text.len());
        for c in text.chars() {
            if n.clean_text && (c == '\0' || c == '\u{fffd}' || self.classes.control(c)) {
                continue;
            }
            let c = if n.clean_text && c.is_whitespace() {
                ' '
            } else {
                c
            };
            if n.chinese && is_chinese(c) {
                cleaned.extend([' ', c, ' ']);
            } else {
                cleaned.push(c);
            }
        }
        let stripped: String = if n.strip_accents && !cleaned.is_ascii() {
            cleaned
                .nfd()
                .filter(|&c| !self.classes.nonspacing_mark(c))
                .collect()
        } else {
            cleaned
        };
        if n.lowercase {
            stripped.to_lowercase()
        } else {
            stripped
        }
    }

    /// Appends the word pieces of one word, or `[UNK]` when it is too long or some part of
    /// it is in no piece.
    fn word_pieces(&self, word: &str, piece: &mut String, ids: &mut Vec<u32>) {
        if word.chars().count() > self.max_word_chars {
            ids.push(self.unk);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                piece.clear();
                if start > 0 {
                    piece.push_str(&self.prefix);
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(piece.as_str()) {
                    break Some(id);
                }
                match word[start..end].char_indices().next_back() {
                    Some((i, _)) if i > 0 => end = start + i,
                    _ => break None,
                }
            };
            match found {
                Some(id) => ids.push(id),
                None => {
                    ids.truncate(first);
                    ids.push(self.unk);
                    return;
                }
            }
            start = end;
        }
    }
}

fn load_err(path: &Path, detail: String) -> EmbedError {
    EmbedError::Load {
        path: PathBuf::from(path),
        detail,
    }
}

fn expect_type(v: &Value, what: &str, want: &str) -> Result<(), String> {
    match v["type"].as_str() {
        Some(t) if t == want => Ok(()),
        Some(t) => Err(format!("{what} is {t}; Hearth's embedder runs {want} only")),
        None => Err(format!(
            "{what} has no type; Hearth's embedder runs {want} only"
        )),
    }
}

/// The `[CLS]` and `[SEP]` ids of the post-processor: `BertProcessing`, or
/// `TemplateProcessing` whose single-sequence template is exactly `<special> $A <special>`.
fn specials(
    pp: &Value,
    id_of: &dyn Fn(&str, &str) -> Result<u32, String>,
) -> Result<(u32, u32), String> {
    match pp["type"].as_str() {
        Some("BertProcessing") => {
            let tok = |k: &str| {
                pp[k][0]
                    .as_str()
                    .ok_or_else(|| format!("post_processor.{k} is not [token, id]"))
            };
            Ok((
                id_of(tok("cls")?, "post_processor.cls")?,
                id_of(tok("sep")?, "post_processor.sep")?,
            ))
        }
        Some("TemplateProcessing") => {
            let single = pp["single"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            fn special(v: &Value) -> Option<&str> {
                v["SpecialToken"]["id"].as_str()
            }
            match single {
                [a, s, b] if s.get("Sequence").is_some() => match (special(a), special(b)) {
                    (Some(a), Some(b)) => Ok((
                        id_of(a, "post_processor's first special token")?,
                        id_of(b, "post_processor's last special token")?,
                    )),
                    _ => Err("post_processor.single is not [special, $A, special]".into()),
                },
                _ => Err("post_processor.single is not [special, $A, special]".into()),
            }
        }
        Some(t) => Err(format!(
            "post_processor is {t}; Hearth's embedder runs BertProcessing or TemplateProcessing"
        )),
        None => Err("post_processor has no type".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> TextTokenizer {
        let vocab: serde_json::Map<String, Value> = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "cafe", "!", "中", "a",
            "##b",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), Value::from(i)))
        .collect();
        let json = serde_json::json!({
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 5,
                "vocab": vocab},
            "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        });
        TextTokenizer::from_json(&json).expect("a BERT pipeline")
    }

    #[test]
    fn greedy_longest_match_first_with_unknown_words() {
        let t = tiny();
        // un ##aff ##able; "Café" lowercased and stripped; "!" split off; 中 isolated;
        // "ab" → a ##b; "abc" has no piece for "c" → [UNK]; "unaffable" is over 5 chars.
        assert_eq!(t.encode("un", usize::MAX), [2, 4, 3]);
        assert_eq!(
            t.encode("Café!中ab abc\u{7}", usize::MAX),
            [2, 7, 8, 9, 10, 11, 1, 3]
        );
        assert_eq!(t.encode("unaffable", usize::MAX), [2, 1, 3]);
        assert_eq!(t.encode("", usize::MAX), [2, 3]);
        assert_eq!(t.encode("ab ab ab", 4), [2, 10, 11, 3]);
    }

    #[test]
    fn other_pipelines_are_refused_by_name() {
        let json = serde_json::json!({"normalizer": {"type": "NFC"}});
        let err = TextTokenizer::from_json(&json).err().expect("refused");
        assert!(err.contains("normalizer is NFC"), "{err}");
    }
}
