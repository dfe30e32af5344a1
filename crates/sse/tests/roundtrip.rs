//! Encoder -> parser round trip over arbitrary strings (SSE-RULES 16, 23, 51): whatever the
//! data (CR, LF, CRLF, NUL, non-BMP characters, leading spaces, colons) and however the
//! bytes are chunked, the parser hands back the data with line breaks normalised to LF,
//! the event type (`message` when empty) and the id.

use proptest::prelude::*;
use pushwire_sse::{Event, EventParser, Item};

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('\r'),
            Just('\n'),
            Just('\0'),
            Just(' '),
            Just(':'),
            Just('\u{FEFF}'),
            Just('\u{1F600}'),
            any::<char>(),
        ],
        0..24,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn field(no: &'static [char]) -> impl Strategy<Value = String> {
    text().prop_map(move |s| s.chars().filter(|c| !no.contains(c)).collect())
}

fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_parse_gives_the_event_back(
        events in prop::collection::vec(
            (text(), prop::option::of(field(&['\r', '\n', '\0'])), prop::option::of(field(&['\r', '\n']))),
            1..5,
        ),
        cut in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        let mut last_id = String::new();
        for (data, id, ty) in &events {
            let mut e = Event::new(data.clone());
            if let Some(id) = id {
                e = e.with_id(id.clone()).unwrap();
                last_id = id.clone();
            }
            if let Some(ty) = ty {
                e = e.with_event(ty.clone()).unwrap();
            }
            wire.extend_from_slice(&e.to_bytes());
            let ty = ty.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "message".into());
            want.push((ty, normalise(data), last_id.clone()));
        }
        let mut points: Vec<usize> = cut.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut p = EventParser::new();
        let mut got = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([wire.len()]) {
            p.feed(&wire[start..end]);
            start = end;
            while let Some(item) = p.next_item().unwrap() {
                if let Item::Event(e) = item {
                    got.push((e.event_type.to_string(), e.data, e.last_event_id.to_string()));
                }
            }
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(p.buffered(), 0);
    }
}

/// Pieces that make interesting event streams: field names, separators, every line end, the
/// BOM and a split multi-byte character, invalid UTF-8, digits; plus any byte.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data".to_vec()),
        Just(b"id".to_vec()),
        Just(b"event".to_vec()),
        Just(b"retry".to_vec()),
        Just(b":".to_vec()),
        Just(b": ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xF0\x9F\x98\x80".to_vec()),
        Just(b"\xF0\x9F".to_vec()),
        Just(b"\xE2\x82".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"123".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

fn items(p: &mut EventParser, out: &mut Vec<String>) {
    loop {
        match p.next_item() {
            Ok(None) => return,
            other => out.push(format!("{other:?}")),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Rule 7 on arbitrary input: whole, byte by byte and at random cuts, the same items
    /// and the same final last event id (and no panic), also with tiny limits.
    #[test]
    fn arbitrary_streams_parse_the_same_under_any_chunking(
        input in stream(),
        cut in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        tiny in any::<bool>(),
    ) {
        let cfg = if tiny {
            pushwire_sse::Config::default().with_max_line(8).with_max_event_data(8).with_max_id_len(3).with_max_event_type_len(3)
        } else {
            pushwire_sse::Config::default()
        };
        let run = |chunks: Vec<&[u8]>| {
            let mut p = EventParser::with_config(cfg.clone());
            let mut out = Vec::new();
            for c in chunks {
                p.feed(c);
                items(&mut p, &mut out);
            }
            p.finish();
            (out, p.last_event_id().to_owned())
        };
        let whole = run(vec![&input]);
        prop_assert_eq!(&run(input.chunks(1).collect()), &whole);
        let mut points: Vec<usize> = cut.iter().map(|i| i.index(input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([input.len()]) {
            chunks.push(&input[start..end]);
            start = end;
        }
        prop_assert_eq!(&run(chunks), &whole);
    }
}
