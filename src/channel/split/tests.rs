use super::*;

const TG: Limits = Limits {
    max_len: 4000,
    max_lines: None,
};

fn small(max_len: usize) -> Limits {
    Limits {
        max_len,
        max_lines: None,
    }
}

/// Every message within the limits, with balanced fences.
fn check(parts: &[String], l: Limits) {
    for p in parts {
        assert!(
            utf16_len(p) <= l.max_len,
            "{} > {}: {p:?}",
            utf16_len(p),
            l.max_len
        );
        if let Some(n) = l.max_lines {
            assert!(p.lines().count() <= n, "{} lines: {p:?}", p.lines().count());
        }
        let fences = p.lines().filter(|x| fence(x).is_some()).count();
        assert_eq!(fences % 2, 0, "unbalanced fences: {p:?}");
        assert!(!p.is_empty() && p.trim_end() == p);
    }
}

/// The words of `s` outside fence lines, in order.
fn words(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| fence(l).is_none())
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn a_short_text_is_one_message_unchanged() {
    assert_eq!(
        split("Hello **world**\n\nsecond", TG),
        ["Hello **world**\n\nsecond"]
    );
    assert!(split("", TG).is_empty());
    assert!(split("\n \n", TG).is_empty());
}

#[test]
fn long_text_is_cut_at_paragraphs() {
    let para = |i: usize| {
        format!(
            "Paragraph {i}: {}",
            "lorem ipsum dolor ".repeat(10).trim_end()
        )
    };
    let text: Vec<String> = (0..12).map(para).collect();
    let text = text.join("\n\n");
    let l = small(500);
    let parts = split(&text, l);
    check(&parts, l);
    assert!(parts.len() > 2);
    for p in &parts {
        assert!(p.starts_with("Paragraph "), "cut inside a paragraph: {p:?}");
    }
    assert_eq!(words(&parts.join("\n")), words(&text));
}

#[test]
fn a_code_block_that_fits_moves_whole_to_the_next_message() {
    let prose = "intro ".repeat(50);
    let code = format!("```rust\n{}```", "let x = 1;\n".repeat(20));
    let text = format!("{}\n{code}\nafter", prose.trim_end());
    let l = small(400);
    let parts = split(&text, l);
    check(&parts, l);
    assert!(parts.iter().any(|p| p.contains(&code)), "{parts:#?}");
}

#[test]
fn a_code_block_longer_than_a_message_is_closed_and_reopened() {
    let body: String = (0..200).map(|i| format!("line {i} of code\n")).collect();
    let text = format!("Here:\n~~~python\n{body}~~~\nDone.");
    let l = small(300);
    let parts = split(&text, l);
    check(&parts, l);
    assert!(parts.len() > 5);
    for p in &parts[1..parts.len() - 1] {
        assert!(p.starts_with("~~~python\n") && p.ends_with("~~~"), "{p:?}");
    }
    assert_eq!(words(&parts.join("\n")), words(&text));
}

#[test]
fn an_unbroken_run_is_cut_at_char_boundaries() {
    let text = "é🙂".repeat(1000);
    let l = small(101);
    let parts = split(&text, l);
    check(&parts, l);
    assert_eq!(parts.concat(), text);
    let spaced = "word ".repeat(100);
    let parts = split(&spaced, small(64));
    check(&parts, small(64));
    assert!(parts.iter().all(|p| p.ends_with("word")), "{parts:?}");
}

#[test]
fn discord_limits_lines_too() {
    let l = Limits {
        max_len: 2000,
        max_lines: Some(17),
    };
    let text: String = (0..100).map(|i| format!("item {i}\n")).collect();
    let parts = split(&text, l);
    check(&parts, l);
    assert_eq!(parts.len(), 6);
    let code = format!("```\n{}```", "x\n".repeat(40));
    let parts = split(&code, l);
    check(&parts, l);
}

#[test]
fn mixed_random_texts_stay_within_limits_and_keep_every_word() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..500 {
        let mut text = String::new();
        for _ in 0..next(40) {
            match next(6) {
                0 => text.push_str("\n\n"),
                1 => {
                    if !text.is_empty() && !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str("```sh\n");
                    for _ in 0..next(30) {
                        text.push_str(&format!("echo {}\n", "y".repeat(next(90) as usize)));
                    }
                    text.push_str("```\n");
                }
                2 => text.push_str(&"z".repeat(next(700) as usize)),
                _ => text.push_str(&format!("{} ", "w".repeat(next(12) as usize + 1))),
            }
        }
        let l = Limits {
            max_len: 64 + next(400) as usize,
            max_lines: (round % 3 == 0).then_some(5 + next(15) as usize),
        };
        let parts = split(&text, l);
        check(&parts, l);
        let (a, b) = (words(&parts.join("\n")).concat(), words(&text).concat());
        assert_eq!(a, b, "round {round}, limits {l:?}");
    }
}

#[test]
fn every_platform_limit_holds_for_code_and_multibyte_text() {
    // Prose in three scripts (emoji are two UTF-16 units each), then a fenced block longer
    // than Discord's message, then more prose.
    let prose = "Grüße aus dem Haus 🏠🔑 — 鍵は青い植木鉢の下にあります。 ".repeat(60);
    let code: String = (0..60)
        .map(|i| format!("let x{i} = \"värde {i} 🙂\";\n"))
        .collect();
    let text = format!("{prose}\n\n```rust\n{code}```\n\n{prose}");
    for (name, l) in [
        ("telegram", Limits::TELEGRAM),
        ("matrix", Limits::MATRIX),
        ("discord", Limits::DISCORD),
        ("slack", Limits::SLACK),
    ] {
        let parts = split(&text, l);
        check(&parts, l);
        assert_eq!(
            words(&parts.join("\n")),
            words(&text),
            "{name}: no word lost or added"
        );
        // Every part that holds code is a whole fenced block.
        for p in parts.iter().filter(|p| p.contains("let x")) {
            assert!(
                p.contains("```rust"),
                "{name}: code outside its fence: {p:?}"
            );
        }
        let expect_more = utf16_len(&text) > l.max_len || l.max_lines.is_some();
        assert!(
            parts.len() > 1 || !expect_more,
            "{name}: {} part(s)",
            parts.len()
        );
    }
}
