//! The parser against a plain reference on random input (proptest): every pulling API
//! (`feed` + `next_item` / `next_item_ref`, feeding several chunks before draining, the
//! `Stream` adapter with its line accumulation), fed in random chunkings down to single bytes, must give the
//! items of a non-incremental reference written from the WHATWG steps plus the documented
//! limits: decode the whole body (U+FFFD per maximal invalid subpart), strip one BOM, split
//! at CRLF / LF / CR, process fields; a limit hit reports once and drops its block up to the
//! next blank line; an unterminated last line is dropped, and reported if its text (complete
//! characters only) is longer than `max_line`.
//!
//! The alphabet is chosen to hit the corners: CR, LF and CRLF (so split across chunks), BOMs
//! whole and cut, invalid and cut UTF-8, NUL, field names with and without colons, long runs
//! that break small limits.

use std::time::Duration;

use proptest::prelude::*;
use pushwire_sse::{CapacityError, Config, Error, EventParser, Item, ItemRef};

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Ev(String, String, String),
    Retry(Duration),
    Comment(String),
    Id(String),
    Err(CapacityError),
}

fn out(item: Result<Item, Error>) -> Out {
    match item {
        Ok(Item::Event(e)) => Out::Ev(
            e.event_type.to_string(),
            e.data,
            e.last_event_id.to_string(),
        ),
        Ok(Item::Retry(d)) => Out::Retry(d),
        Ok(Item::Comment(c)) => Out::Comment(c),
        Ok(Item::LastEventId(id)) => Out::Id(id.to_string()),
        Ok(other) => panic!("unexpected item {other:?}"),
        Err(Error::Capacity(c)) => Out::Err(c),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn out_ref(item: Result<ItemRef<'_>, Error>) -> Out {
    match item {
        Ok(ItemRef::Event {
            event_type,
            data,
            last_event_id,
        }) => Out::Ev(event_type.into(), data.into(), last_event_id.into()),
        Ok(ItemRef::Retry(d)) => Out::Retry(d),
        Ok(ItemRef::Comment(c)) => Out::Comment(c.into()),
        Ok(ItemRef::LastEventId(id)) => Out::Id(id.into()),
        Ok(other) => panic!("unexpected item {other:?}"),
        Err(e) => out(Err(e)),
    }
}

/// The text of `tail` the parser has decoded at the end of the input: a character cut by
/// the end is not decoded yet.
fn decoded_complete_len(tail: &[u8]) -> usize {
    let lossy = String::from_utf8_lossy(tail).len();
    let cut = tail.utf8_chunks().last().is_some_and(|c| {
        !c.invalid().is_empty()
            && std::str::from_utf8(c.invalid()).is_err_and(|e| e.error_len().is_none())
    });
    if cut { lossy - 3 } else { lossy }
}

/// WHATWG HTML §9.2.6 on the whole input at once, with the `Config` limits.
fn reference(cfg: &Config, input: &[u8]) -> (Vec<Out>, String) {
    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        lines.push(&rest[..i]);
        let n = if rest[i..].starts_with(b"\r\n") { 2 } else { 1 };
        rest = &rest[i + n..];
    }
    let (mut data, mut ty, mut id_buf, mut last_id) =
        (String::new(), String::new(), String::new(), String::new());
    let mut skipping = false;
    let mut out = Vec::new();
    for raw in lines {
        let line = String::from_utf8_lossy(raw);
        let mut limit = None;
        if line.len() > cfg.max_line {
            limit = Some(CapacityError::LineTooLong);
        } else if line.is_empty() {
            if std::mem::take(&mut skipping) {
                continue;
            }
            let changed = id_buf != last_id;
            last_id = id_buf.clone();
            if data.is_empty() {
                ty.clear();
                if changed {
                    out.push(Out::Id(last_id.clone()));
                }
                continue;
            }
            data.pop();
            let t = if ty.is_empty() { "message" } else { &ty };
            out.push(Out::Ev(
                t.into(),
                std::mem::take(&mut data),
                last_id.clone(),
            ));
            ty.clear();
            continue;
        } else if skipping {
            continue;
        } else {
            let (name, value) = match line.find(':') {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                }
                None => (&*line, ""),
            };
            match name {
                "" => out.push(Out::Comment(value.into())),
                "event" if value.len() > cfg.max_event_type_len => {
                    limit = Some(CapacityError::EventTypeTooLong)
                }
                "event" => ty = value.into(),
                "data" if data.len() + value.len() + 1 > cfg.max_event_data => {
                    limit = Some(CapacityError::EventDataTooLarge)
                }
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                }
                "id" if value.contains('\0') => {}
                "id" if value.len() > cfg.max_id_len => limit = Some(CapacityError::IdTooLong),
                "id" => id_buf = value.into(),
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    let ms = value.bytes().fold(0u64, |a, d| {
                        a.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                    });
                    out.push(Out::Retry(Duration::from_millis(ms)));
                }
                _ => {}
            }
        }
        if let Some(e) = limit {
            // The block leaves no trace; lines are ignored up to the next blank one.
            out.push(Out::Err(e));
            data.clear();
            ty.clear();
            id_buf = last_id.clone();
            skipping = true;
        }
    }
    // The unterminated last line is dropped (rule 8), but its length was checked as it
    // was buffered.
    if decoded_complete_len(rest) > cfg.max_line {
        out.push(Out::Err(CapacityError::LineTooLong));
    }
    (out, last_id)
}

#[derive(Debug, Clone, Copy)]
enum Api {
    Feed,
    FeedRef,
    /// Even chunks fed without draining, odd ones fed and drained.
    Mixed,
}

fn run(cfg: &Config, chunks: &[&[u8]], api: Api) -> (Vec<Out>, String) {
    let mut p = EventParser::with_config(cfg.clone());
    let mut items = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let c: &[u8] = chunk;
        match api {
            Api::Feed => {
                p.feed(c);
                while let Some(r) = p.next_item().transpose() {
                    items.push(out(r));
                }
            }
            Api::FeedRef => {
                p.feed(c);
                while let Some(r) = p.next_item_ref().transpose() {
                    items.push(out_ref(r));
                }
            }
            Api::Mixed if i % 2 == 0 => {
                p.feed(c);
                continue;
            }
            Api::Mixed => {
                p.feed(c);
                while let Some(r) = p.next_item().transpose() {
                    items.push(out(r));
                }
            }
        }
        assert!(
            p.buffered() <= cfg.max_line + 3,
            "{} bytes buffered after a drain ({api:?})",
            p.buffered()
        );
    }
    while let Some(r) = p.next_item().transpose() {
        items.push(out(r));
    }
    p.finish();
    (items, p.last_event_id().to_string())
}

#[cfg(feature = "stream")]
fn run_stream(cfg: &Config, chunks: &[&[u8]]) -> (Vec<Out>, String) {
    use futures::StreamExt;
    let body = futures::stream::iter(chunks.iter().map(|c| Ok::<_, std::io::Error>(*c)));
    let mut s =
        pushwire_sse::bridge::EventStream::with_parser(body, EventParser::with_config(cfg.clone()));
    let items = futures::executor::block_on(async {
        let mut items = Vec::new();
        while let Some(r) = s.next().await {
            items.push(out(r));
        }
        items
    });
    (items, s.parser().last_event_id().to_string())
}

const TOKENS: &[&[u8]] = &[
    b"data",
    b"data:",
    b"data: ",
    b":",
    b" ",
    b"id:",
    b"id",
    b"event:",
    b"retry:",
    b"retry",
    b"0300",
    b"7x",
    b"x",
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    b"\xE2\x82\xAC",
    b"\0",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\r\r",
    b"\xEF\xBB\xBF",
    b"\xEF\xBB",
    b"\xFF",
    b"\xE2\x82",
    b"\xC0",
    b"\xF0\x9F\x98\x80",
    b"\xF0\x9F",
    b"foo:",
    b"Data:",
    b"event: t\n",
    b"data: d\n",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.concat())
}

fn config() -> impl Strategy<Value = Config> {
    prop_oneof![
        Just(Config::default()),
        (1usize..40, 0usize..60, 1usize..12, 1usize..12).prop_map(|(line, extra, id, ty)| {
            Config::default()
                .with_max_line(line)
                .with_max_event_data(line + extra)
                .with_max_id_len(id)
                .with_max_event_type_len(ty)
        }),
    ]
}

/// Cuts `input` into pieces of the given sizes (cycled); size 0 gives an empty chunk (all
/// zero: single bytes).
fn chunked<'a>(input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let one = [1];
    let sizes = if sizes.iter().all(|&n| n == 0) {
        &one[..]
    } else {
        sizes
    };
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1);
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
        i += 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn every_api_and_chunking_matches_the_reference(
        input in input(),
        cfg in config(),
        sizes in prop::collection::vec(0usize..12, 1..8),
    ) {
        let want = reference(&cfg, &input);
        let whole: Vec<&[u8]> = vec![&input];
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let pieces = chunked(&input, &sizes);
        for chunks in [&whole, &bytes, &pieces] {
            for api in [Api::Feed, Api::FeedRef, Api::Mixed] {
                prop_assert_eq!(&run(&cfg, chunks, api), &want, "{:?} {:x?}", api, chunks);
            }
            #[cfg(feature = "stream")]
            prop_assert_eq!(&run_stream(&cfg, chunks), &want, "stream {:x?}", chunks);
        }
    }
}

#[test]
fn reference_agrees_with_hand_checked_vectors() {
    // The reference itself, on vectors whose answers are worked out by hand.
    // "data: a\xFF" is 10 bytes of text; the third data line takes the buffer to 14 bytes.
    let cfg = Config::default().with_max_line(10).with_max_event_data(12);
    let (items, id) = reference(
        &cfg,
        b"\xEF\xBB\xBFid: 1\ndata: a\xFF\r\n\ndata:12345\ndata:12345\ndata:1\ndata: b\n\n\
          id: 2\n\nxxxxxxxxxxx",
    );
    assert_eq!(
        items,
        [
            Out::Ev("message".into(), "a\u{FFFD}".into(), "1".into()),
            Out::Err(CapacityError::EventDataTooLarge),
            Out::Id("2".into()),
            Out::Err(CapacityError::LineTooLong),
        ]
    );
    assert_eq!(id, "2");
    assert_eq!(decoded_complete_len(b"ab\xE2\x82"), 2);
    assert_eq!(decoded_complete_len(b"ab\xFF"), 5);
}
