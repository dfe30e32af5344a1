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
