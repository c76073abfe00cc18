//! Tests of the SSE parser (line endings, fields, limits, incremental reads) and of
//! `Retry-After` parsing.

use super::*;

fn events(input: &[u8]) -> Vec<SseEvent> {
    SseReader::new(input).collect::<Result<_, _>>().unwrap()
}

fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
    SseEvent {
        event: event.into(),
        data: data.into(),
        id: id.map(Into::into),
    }
}

#[test]
fn parses_basic_events_and_joins_data_lines() {
    let got = events(b"data: first\n\nevent: add\ndata: a\ndata:b\ndata\n\n");
    assert_eq!(
        got,
        vec![ev("message", "first", None), ev("add", "a\nb\n", None)]
    );
}

#[test]
fn handles_crlf_lone_cr_and_mixed_terminators() {
    let got = events(b"data: one\r\n\r\ndata: two\r\rdata: three\r\n\ndata: four\n\r\n");
    let data: Vec<_> = got.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["one", "two", "three", "four"]);
}

#[test]
fn skips_comments_unknown_fields_and_empty_events() {
    let got = events(b": keep-alive\n\nfoo: bar\n\nevent: x\n\ndata: y\n\n");
    // `event: x` without data dispatches nothing and its type does not leak.
    assert_eq!(got, vec![ev("message", "y", None)]);
}

#[test]
fn strips_only_one_space_after_the_colon() {
    let got = events(b"data:  two spaces\ndata:none\n\n");
    assert_eq!(got[0].data, " two spaces\nnone");
}

#[test]
fn keeps_colons_inside_values() {
    let got = events(b"data: {\"a\":\"b:c\"}\n\n");
    assert_eq!(got[0].data, "{\"a\":\"b:c\"}");
}

#[test]
fn id_persists_and_resets_and_retry_is_kept() {
    let mut reader = SseReader::new(&b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\nretry: 1500\nretry: 2s\ndata: d\n\n"[..]);
    let got: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    let ids: Vec<_> = got.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, [Some("7"), Some("7"), None, None]);
    assert_eq!(reader.retry_ms(), Some(1500));
}

#[test]
fn discards_an_unterminated_event_at_eof() {
    assert_eq!(
        events(b"data: done\n\ndata: partial\n"),
        vec![ev("message", "done", None)]
    );
    assert_eq!(events(b"data: no newline at all"), vec![]);
}

#[test]
fn skips_a_leading_bom_and_replaces_bad_utf8() {
    let got = events(b"\xEF\xBB\xBFdata: hi \xFF\n\n");
    assert_eq!(got[0].data, "hi \u{FFFD}");
}

#[test]
fn rejects_lines_and_events_over_the_limit() {
    let long = format!("data: {}\n\n", "x".repeat(100));
    let err = SseReader::with_max_len(long.as_bytes(), 64)
        .next_event()
        .unwrap_err();
    assert!(matches!(err, SseError::LineTooLong { limit: 64 }), "{err}");
    let many = "data: 0123456789\n".repeat(10) + "\n";
    let err = SseReader::with_max_len(many.as_bytes(), 64)
        .next_event()
        .unwrap_err();
    assert!(matches!(err, SseError::EventTooLong { limit: 64 }), "{err}");
}

/// Feeds the input one byte per read, as a slow network would, including a CRLF split
/// across reads.
#[test]
fn works_incrementally_across_tiny_reads() {
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }
    let input = b"event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\r";
    let reader = io::BufReader::with_capacity(1, Trickle(input));
    let got: Vec<_> = SseReader::new(reader).collect::<Result<_, _>>().unwrap();
    assert_eq!(got, vec![ev("e", "a\nb", None), ev("message", "c", None)]);
}

#[test]
fn parses_http_dates_and_retry_after_headers() {
    assert_eq!(
        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(parse_http_date("yesterday"), None);
    let mut headers = ureq::http::HeaderMap::new();
    headers.insert("retry-after", "7".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    headers.insert(
        "retry-after",
        "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
    );
    assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    headers.insert("retry-after-ms", "250".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
}

#[test]
fn f32_values_keep_their_short_decimal_form() {
    assert_eq!(f32_json(0.7).to_string(), "0.7");
    assert_eq!(f32_json(0.0).to_string(), "0.0");
    assert!(f32_json(f32::NAN).is_null());
}
