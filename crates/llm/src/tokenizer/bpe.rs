//! Byte-level BPE (GPT-2's scheme, Radford et al. 2019, `encoder.py`): text is split into
//! words by the pre-tokenizer's regular expressions, each word's bytes are written as
//! printable characters (`bytes_to_unicode`), then adjacent symbols are merged, lowest merge
//! rank first, as llama.cpp's `llm_tokenizer_bpe_session` does.
//!
//! The split patterns per `tokenizer.ggml.pre` are the models' own (`tokenizer.json`), as
//! llama.cpp lists them in `llama-vocab.cpp`; several patterns apply in sequence, each
//! splitting the pieces of the one before, and text no pattern matches stays a piece of its
//! own.

use super::Vocab;
use fancy_regex::Regex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// GPT-2's word pattern (also the second pass of SmolLM's and StarCoder's).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's pattern: case-insensitive contractions, digits in groups of up to three.
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's pattern: Llama 3's with single digits.
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Mistral's Tekken pattern (case runs, single digits).
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-4o's pattern (also Llama 4).
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split patterns, whether a whole word found in the vocabulary skips merging, and
/// whether BOS is added by default, for a `tokenizer.ggml.pre` name (`None` if unknown).
fn patterns(pre: &str) -> Option<(Vec<&'static str>, bool, bool)> {
    Some(match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => (vec![LLAMA3], true, true),
        "dbrx" | "smaug-bpe" | "glm4" | "chatglm-bpe" => (vec![LLAMA3], false, false),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "megrez" | "stablelm2" | "hunyuan" => {
            (vec![QWEN2], false, false)
        }
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            (vec![r"\p{N}", GPT2], false, false)
        }
        "gpt-2" | "gpt2" | "phi-2" | "olmo" | "mpt" | "jais" | "trillion" | "granite-docling"
        | "exaone4" | "jina-es" | "jina-de" | "jina-v2-es" | "jina-v2-de" | "jina-v1-en"
        | "jina-v2-code" | "roberta-bpe" | "gigachat" | "a.x-4.0" | "mellum" => {
            (vec![GPT2], false, false)
        }
        "tekken" => (vec![TEKKEN], true, true),
        "gpt-4o" | "llama4" => (vec![GPT4O], false, false),
        "default" => (DEFAULT.to_vec(), false, false),
        _ => return None,
    })
}

/// llama.cpp's default splitter (`tokenizer.ggml.pre = "default"`).
const DEFAULT: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"];

/// A byte-level BPE model.
pub(super) struct Bpe {
    split: Vec<Regex>,
    ignore_merges: bool,
    add_bos: bool,
    /// (left id, right id) → (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// The character each byte is written as.
    byte_char: [char; 256],
}

impl Bpe {
    /// Builds the model from the vocabulary, `tokenizer.ggml.merges` (`"left right"`, best
    /// first) and the pre-tokenizer name. Merges whose halves or result are not tokens are
    /// ignored.
    ///
    /// # Errors
    /// A message when the pre-tokenizer is not one llama.cpp knows (llama.cpp refuses such
    /// files too: guessing would tokenize differently from the model's training).
    pub(super) fn new(vocab: &Vocab, merges: &[&str], pre: &str) -> Result<Bpe, String> {
        let (pats, ignore_merges, add_bos) = patterns(pre).ok_or_else(|| {
            format!(
                "pre-tokenizer {pre:?} is unknown (known: llama-bpe, qwen2, smollm, gpt-2, \
                 tekken, gpt-4o and their aliases, default)"
            )
        })?;
        let split = pats
            .iter()
            .map(|p| Regex::new(p).map_err(|e| format!("pattern {p:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut table = HashMap::with_capacity(merges.len());
        let mut joined = String::new();
        for (rank, m) in merges.iter().enumerate() {
            // A merge's left half may itself start with a space (llama.cpp looks after the
            // first character).
            let first = m.chars().next().map_or(0, char::len_utf8);
            let Some(cut) = m[first..].find(' ').map(|i| i + first) else {
                continue;
            };
            let (a, b) = (&m[..cut], &m[cut + 1..]);
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            if let (Some(l), Some(r), Some(j)) = (vocab.id(a), vocab.id(b), vocab.id(&joined)) {
                table.entry((l, r)).or_insert((rank as u32, j));
            }
        }
        let mut byte_char = ['\0'; 256];
        for b in 0..=255u8 {
            byte_char[b as usize] = byte_to_char(b);
        }
        let bpe = Bpe {
            split,
            ignore_merges,
            add_bos,
            merges: table,
            byte_char,
        };
        Ok(bpe)
    }

    /// About the bytes of the merge table: 16 bytes per slot (key and value, four `u32`)
    /// plus one control byte, over the table's capacity.
    pub(super) fn heap_bytes(&self) -> usize {
        self.merges.capacity() * 17
    }

    /// Whether this pre-tokenizer's models start prompts with BOS when the file does not say.
    pub(super) fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// Appends the tokens of `text` (which holds no special tokens) to `out`.
    pub(super) fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let mut word = String::new();
        for (s, e) in self.words(text) {
            word.clear();
            word.extend(text[s..e].bytes().map(|b| self.byte_char[b as usize]));
            if self.ignore_merges
                && let Some(id) = vocab.id(&word)
            {
                out.push(id);
                continue;
            }
            self.merge(vocab, &word, out);
        }
    }

    /// Byte ranges of the pre-tokenized words of `text`, in order, covering it.
    fn words(&self, text: &str) -> Vec<(usize, usize)> {
        let mut pieces = vec![(0, text.len())];
        for re in &self.split {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for (s, e) in pieces {
                let piece = &text[s..e];
                let mut at = 0;
                for m in re.find_iter(piece) {
                    // A pattern that fails at run time (backtracking limit) leaves the rest
                    // of the piece whole.
                    let Ok(m) = m else { break };
                    if m.start() > at {
                        next.push((s + at, s + m.start()));
                    }
                    if m.end() > m.start() {
                        next.push((s + m.start(), s + m.end()));
                    }
                    at = m.end();
                }
                if at < piece.len() {
                    next.push((s + at, e));
                }
            }
            pieces = next;
        }
        pieces
    }

    /// Merges the characters of one byte-level word and appends its tokens.
    fn merge(&self, vocab: &Vocab, word: &str, out: &mut Vec<u32>) {
        const NONE: u32 = u32::MAX;
        struct Sym {
            start: usize,
            end: usize,
            id: u32,
            prev: usize,
            next: usize,
        }
        let mut syms: Vec<Sym> = Vec::with_capacity(word.len());
        for (i, (at, c)) in word.char_indices().enumerate() {
            let end = at + c.len_utf8();
            syms.push(Sym {
                start: at,
                end,
                id: vocab.id(&word[at..end]).unwrap_or(NONE),
                prev: i.wrapping_sub(1),
                next: i + 1,
            });
        }
        // Min-heap of (rank, left index, right index, joined length): lowest rank first,
        // ties to the leftmost pair, as llama.cpp orders bigrams.
        let mut heap = BinaryHeap::new();
        let pair = |syms: &[Sym], l: usize, r: usize| {
            let (a, b) = (syms[l].id, syms[r].id);
            if a == NONE || b == NONE {
                return None;
            }
            let &(rank, _) = self.merges.get(&(a, b))?;
            Some(Reverse((rank, l, r, syms[r].end - syms[l].start)))
        };
        for i in 1..syms.len() {
            heap.extend(pair(&syms, i - 1, i));
        }
        while let Some(Reverse((_, l, r, len))) = heap.pop() {
            let (ls, rs) = (&syms[l], &syms[r]);
            if ls.start == ls.end || rs.start == rs.end || ls.next != r || rs.end - ls.start != len
            {
                continue; // stale: one side was merged since
            }
            let merged = self.merges[&(ls.id, rs.id)].1;
            let (r_end, r_next) = (rs.end, rs.next);
            syms[l].end = r_end;
            syms[l].id = merged;
            syms[l].next = r_next;
            syms[r].end = syms[r].start;
            if r_next < syms.len() {
                syms[r_next].prev = l;
            }
            let p = syms[l].prev;
            if p < syms.len() {
                heap.extend(pair(&syms, p, l));
            }
            if r_next < syms.len() {
                heap.extend(pair(&syms, l, r_next));
            }
        }
        let mut i = 0;
        while i < syms.len() {
            let s = &syms[i];
            if s.id != NONE {
                out.push(s.id);
            } else {
                // Not in the vocabulary: one token per character, those that exist.
                for (at, c) in word[s.start..s.end].char_indices() {
                    let at = s.start + at;
                    out.extend(vocab.id(&word[at..at + c.len_utf8()]));
                }
            }
            i = s.next;
        }
    }
}

/// Whether GPT-2 writes byte `b` as itself.
fn printable(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
}

/// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the other 68 are
/// shifted to U+0100.. in byte order.
pub(super) fn byte_to_char(b: u8) -> char {
    if printable(b) {
        return char::from(b);
    }
    // The 68 others, in order: 0x00–0x20, 0x7F–0xA0, 0xAD.
    let rank = match b {
        0x00..=0x20 => u32::from(b),
        0x7F..=0xA0 => 33 + u32::from(b - 0x7F),
        _ => 67,
    };
    char::from_u32(256 + rank).expect("256 + at most 67 is a scalar value")
}

/// The raw bytes of a byte-level token; characters outside GPT-2's table keep their UTF-8.
pub(super) fn unmap_bytes(token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        let u = c as u32;
        let b = match u {
            0..=255 if printable(u as u8) => Some(u as u8),
            // The inverse of `byte_to_char`'s ranks.
            256..=288 => Some((u - 256) as u8),
            289..=322 => Some(0x7F + (u - 289) as u8),
            323 => Some(0xAD),
            _ => None,
        };
        match b {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}
