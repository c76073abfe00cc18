//! The model's WordPiece tokenizer (`tokenizer.json`, run by the `tokenizers` crate) with
//! padding off and truncation done here, so a text costs only its own tokens.

use super::EmbedError;
use std::path::{Path, PathBuf};

/// Bytes of text first tokenized when looking for the first `max` tokens of a long text;
/// doubled until enough tokens come out (English averages 4-5 bytes per word piece).
const PREFIX_BYTES_PER_TOKEN: usize = 8;

/// A loaded tokenizer that encodes with `[CLS]`/`[SEP]` and truncates to `max_tokens`.
pub(super) struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    /// `tokenizer.json`, for error messages.
    path: PathBuf,
    /// Longest encoding, specials included (2..=max_position_embeddings).
    max_tokens: usize,
    /// The id of `[SEP]`, which ends every truncated encoding.
    sep: u32,
}

impl TextTokenizer {
    /// Reads `tokenizer.json` (and `config.json` for the position limit) from `dir`.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`] or [`EmbedError::Load`].
    pub(super) fn open(dir: &Path, max_seq_tokens: usize) -> Result<Self, EmbedError> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(EmbedError::MissingFile { path });
        }
        let load_err = |detail: String| EmbedError::Load {
            path: path.clone(),
            detail,
        };
        let mut inner =
            tokenizers::Tokenizer::from_file(&path).map_err(|e| load_err(e.to_string()))?;
        // tokenizer.json pads every text to 128 and truncates at 128; neither is wanted here.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| load_err(e.to_string()))?;
        let sep = inner
            .token_to_id("[SEP]")
            .ok_or_else(|| load_err("the vocabulary has no [SEP] token".into()))?;
        let positions = super::model::BertConfig::open(dir)?.max_position_embeddings;
        Ok(Self {
            inner,
            path,
            max_tokens: max_seq_tokens.clamp(2, positions.max(2)),
            sep,
        })
    }

    /// All word pieces of `text`, `[CLS]` and `[SEP]` included.
    pub(super) fn count(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(self.encode_all(text)?.len())
    }

    /// Token ids of `text`: `[CLS]`, at most `max_tokens - 2` word pieces, `[SEP]`; the same
    /// ids the tokenizer's own longest-first truncation gives.
    ///
    /// A long text is not tokenized whole: a prefix ending at whitespace is tokenized first
    /// and grown until it yields more than `max_tokens`. BERT's normaliser and
    /// pre-tokenizer act per character and split at whitespace, so the tokens of such a
    /// prefix are exactly the first tokens of the whole text.
    pub(super) fn encode_truncated(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let mut budget = self.max_tokens * PREFIX_BYTES_PER_TOKEN;
        loop {
            let prefix = whitespace_prefix(text, budget);
            let mut ids = self.encode_all(prefix)?;
            if ids.len() > self.max_tokens {
                ids.truncate(self.max_tokens - 1);
                ids.push(self.sep);
                return Ok(ids);
            }
            if prefix.len() == text.len() {
                return Ok(ids);
            }
            budget *= 2;
        }
    }

    fn encode_all(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self
            .inner
            .encode_fast(text, true)
            .map_err(|e| EmbedError::Tokenize {
                path: self.path.clone(),
                detail: e.to_string(),
            })?;
        Ok(enc.get_ids().to_vec())
    }
}

/// `text` cut at the first whitespace at or after byte `min_len`, or all of it when there is
/// none (or it is not longer).
fn whitespace_prefix(text: &str, min_len: usize) -> &str {
    if text.len() <= min_len {
        return text;
    }
    let mut start = min_len;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    match text[start..].find(char::is_whitespace) {
        Some(i) => &text[..start + i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::whitespace_prefix;

    #[test]
    fn prefix_ends_at_whitespace() {
        assert_eq!(whitespace_prefix("abc def ghi", 2), "abc");
        assert_eq!(whitespace_prefix("abc def ghi", 3), "abc");
        assert_eq!(whitespace_prefix("abc def ghi", 4), "abc def");
        assert_eq!(whitespace_prefix("abcdefghi", 2), "abcdefghi");
        assert_eq!(whitespace_prefix("ab", 10), "ab");
        assert_eq!(whitespace_prefix("é é é", 1), "é");
    }
}
