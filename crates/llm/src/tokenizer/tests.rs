//! Unit tests of the byte tables; tokenization itself is checked against llama.cpp in
//! `tests/tokenizer.rs`.

use super::bpe::{byte_to_char, unmap_bytes};
use super::spm::byte_token_value;

#[test]
fn byte_level_characters_unmap_to_every_byte() {
    assert_eq!(unmap_bytes("Ġ"), b" ");
    assert_eq!(unmap_bytes("Ċ"), b"\n");
    assert_eq!(unmap_bytes("a"), b"a");
    assert_eq!(unmap_bytes("ĠhÃ©"), " h\u{e9}".as_bytes());
    // A character outside the table keeps its own UTF-8.
    assert_eq!(unmap_bytes("中"), "中".as_bytes());
    // Every byte round-trips, through 256 distinct characters.
    let chars: std::collections::BTreeSet<char> = (0..=255u8).map(byte_to_char).collect();
    assert_eq!(chars.len(), 256);
    for b in 0..=255u8 {
        assert_eq!(
            unmap_bytes(&byte_to_char(b).to_string()),
            [b],
            "byte {b:#04x}"
        );
    }
}

#[test]
fn byte_tokens_parse_only_their_own_spelling() {
    assert_eq!(byte_token_value("<0x0A>"), Some(b'\n'));
    assert_eq!(byte_token_value("<0xFF>"), Some(0xFF));
    assert_eq!(byte_token_value("<0xZZ>"), None);
    assert_eq!(byte_token_value("0x0A"), None);
}
