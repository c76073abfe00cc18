//! [`WordTokenizer`]: words for BM25 in any script.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Splits text into runs of letters and digits; every CJK ideograph, kana and hangul
/// syllable is a token of its own (unigrams), since those scripts write words without
/// spaces. Offsets are byte offsets into the text; lower-casing is a separate filter.
#[derive(Debug, Clone, Default)]
pub struct WordTokenizer {
    tokens: Vec<Token>,
}

/// The tokens of one text, in order.
pub struct WordStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

/// Whether `c` is written without spaces between words (Unicode blocks: CJK Unified
/// Ideographs and extensions, Hiragana, Katakana, Hangul syllables and jamo, CJK
/// compatibility ideographs).
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF
        | 0x3040..=0x30FF
        | 0x3130..=0x318F
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2FA1F)
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.tokens.clear();
        let mut start: Option<usize> = None;
        let push = |tokens: &mut Vec<Token>, from: usize, to: usize| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: text[from..to].to_string(),
                position_length: 1,
            });
        };
        for (i, c) in text.char_indices() {
            if is_unspaced(c) {
                if let Some(s) = start.take() {
                    push(&mut self.tokens, s, i);
                }
                push(&mut self.tokens, i, i + c.len_utf8());
            } else if c.is_alphanumeric() {
                start.get_or_insert(i);
            } else if let Some(s) = start.take() {
                push(&mut self.tokens, s, i);
            }
        }
        if let Some(s) = start {
            push(&mut self.tokens, s, text.len());
        }
        WordStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1))]
    }

    fn token_mut(&mut self) -> &mut Token {
        let i = self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1));
        &mut self.tokens[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let mut t = WordTokenizer::default();
        let mut st = t.token_stream(s);
        let mut out = Vec::new();
        while st.advance() {
            out.push(st.token().text.clone());
        }
        out
    }

    #[test]
    fn splits_words_and_cjk() {
        assert_eq!(
            words("Hello, tax-payer 42!"),
            ["Hello", "tax", "payer", "42"]
        );
        assert_eq!(
            words("東京タワーabc"),
            ["東", "京", "タ", "ワ", "ー", "abc"]
        );
        assert_eq!(words("한국어 text"), ["한", "국", "어", "text"]);
        assert!(words("🎉🎉 !!").is_empty());
        assert_eq!(words("café naïve"), ["café", "naïve"]);
    }
}
