//! SentencePiece BPE as GGUF stores it (`tokenizer.ggml.model = "llama"`: tokens with scores,
//! no merge list): spaces become `▁` (U+2581), the text starts as single characters, and the
//! adjacent pair whose concatenation is the best-scoring token merges first (ties to the
//! leftmost pair); characters left outside the vocabulary fall back to `<0xNN>` byte tokens.
//! The procedure is llama.cpp's `llm_tokenizer_spm_session`
//! (<https://github.com/ggml-org/llama.cpp/blob/master/src/llama-vocab.cpp>), itself
//! SentencePiece's `bpe_model.cc` (<https://github.com/google/sentencepiece>).

use super::Vocab;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// SentencePiece's whitespace marker, "▁".
const SPACE: char = '\u{2581}';

/// A SentencePiece model.
pub(super) struct Spm {
    scores: Vec<f32>,
    /// Whether text after BOS or a special token gets a leading space
    /// (`tokenizer.ggml.add_space_prefix`; false for Gemma).
    add_space_prefix: bool,
    /// The `<0xNN>` token of each byte, where the vocabulary has one.
    byte_tokens: [Option<u32>; 256],
}

/// A candidate merge: ordered by score (highest first), then leftmost.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

impl Spm {
    /// Builds the model from the vocabulary and `tokenizer.ggml.scores`.
    pub(super) fn new(vocab: &Vocab, scores: Vec<f32>, add_space_prefix: bool) -> Spm {
        let mut byte_tokens = [None; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            *slot = vocab.id(&format!("<0x{b:02X}>"));
        }
        Spm {
            scores,
            add_space_prefix,
            byte_tokens,
        }
    }

    /// Bytes of the scores (one f32 per token).
    pub(super) fn heap_bytes(&self) -> usize {
        self.scores.capacity() * 4
    }

    /// Appends the tokens of `text` (no special tokens in it) to `out`; `after_special` says
    /// whether BOS or a special token precedes it (then a space prefix may be added).
    pub(super) fn encode(
        &self,
        vocab: &Vocab,
        text: &str,
        after_special: bool,
        out: &mut Vec<u32>,
    ) {
        let mut s = String::with_capacity(text.len() + 3);
        if self.add_space_prefix && after_special {
            s.push(SPACE);
        }
        s.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));

        struct Sym {
            start: usize,
            end: usize,
            next: usize,
            prev: usize,
        }
        let mut syms: Vec<Sym> = s
            .char_indices()
            .enumerate()
            .map(|(i, (at, c))| Sym {
                start: at,
                end: at + c.len_utf8(),
                prev: i.wrapping_sub(1),
                next: i + 1,
            })
            .collect();
        let mut heap = BinaryHeap::new();
        let bigram = |syms: &[Sym], l: usize, r: usize| {
            let id = vocab.id(&s[syms[l].start..syms[r].end])?;
            Some(Bigram {
                score: self.scores[id as usize],
                left: l,
                right: r,
                len: syms[r].end - syms[l].start,
            })
        };
        for i in 1..syms.len() {
            heap.extend(bigram(&syms, i - 1, i));
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (&syms[b.left], &syms[b.right]);
            if l.start == l.end || r.start == r.end || l.next != b.right || r.end - l.start != b.len
            {
                continue;
            }
            let (r_end, r_next) = (r.end, r.next);
            syms[b.left].end = r_end;
            syms[b.left].next = r_next;
            syms[b.right].end = syms[b.right].start;
            if r_next < syms.len() {
                syms[r_next].prev = b.left;
            }
            let p = syms[b.left].prev;
            if p < syms.len() {
                heap.extend(bigram(&syms, p, b.left));
            }
            if r_next < syms.len() {
                heap.extend(bigram(&syms, b.left, r_next));
            }
        }
        let mut i = 0;
        while i < syms.len() {
            let piece = &s[syms[i].start..syms[i].end];
            match vocab.id(piece) {
                Some(id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        // Without a byte token, llama.cpp looks the single byte up as text.
                        let id = self.byte_tokens[b as usize]
                            .or_else(|| std::str::from_utf8(&[b]).ok().and_then(|t| vocab.id(t)));
                        out.extend(id);
                    }
                }
            }
            i = syms[i].next;
        }
    }
}

/// The byte a `<0xNN>` token stands for.
pub(super) fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}
