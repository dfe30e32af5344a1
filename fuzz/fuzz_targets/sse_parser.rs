//! Arbitrary bytes through the WHATWG event-stream parser (`pushwire_sse::EventParser`).
//!
//! Asserts:
//! - the items (events, retries, comments, id changes, limit errors) are identical fed whole,
//!   split at fuzzer-chosen points, and one byte at a time (short inputs), and so are the
//!   last event id and the reconnection time after `finish()`;
//! - each item respects the limits (`max_event_data`, `max_event_type_len`, `max_id_len`),
//!   and buffered bytes never exceed `max_line` plus the piece just fed;
//! - under default limits the items equal those of a plain, non-incremental reference
//!   written from the WHATWG "interpret an event stream" steps (decode the whole stream,
//!   strip one BOM, split lines on CRLF/LF/CR, process fields, discard the unterminated tail).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit};
use pushwire_sse::{Config, Error, EventParser, Item};

#[derive(Debug, PartialEq)]
struct Run {
    items: Vec<Result<Item, Error>>,
    last_event_id: String,
    retry: Option<Duration>,
}

fn drain(p: &mut EventParser, items: &mut Vec<Result<Item, Error>>, cfg: &Config) {
    // An error is reported once and parsing goes on, so `Err` does not end the drain; the
    // bound only stops an endless loop (which would be a bug: each call makes progress).
    for _ in 0..1_000_000 {
        match p.next_item() {
            Ok(None) => return,
            Ok(Some(item)) => {
                check_item(&item, cfg);
                items.push(Ok(item));
            }
            Err(e) => {
                assert!(matches!(e, Error::Capacity(_)), "parser error {e:?}");
                items.push(Err(e));
            }
        }
    }
    panic!("next_item never returned Ok(None)");
}

fn check_item(item: &Item, cfg: &Config) {
    match item {
        Item::Event(ev) => {
            assert!(
                ev.data.len() < cfg.max_event_data,
                "data {} bytes",
                ev.data.len()
            );
            assert!(ev.event_type.len() <= cfg.max_event_type_len || &*ev.event_type == "message");
            assert!(!ev.event_type.is_empty());
            assert!(ev.last_event_id.len() <= cfg.max_id_len);
            assert!(!ev.last_event_id.contains(['\0', '\r', '\n']));
            assert!(!ev.event_type.contains(['\r', '\n']));
        }
        Item::LastEventId(id) => {
            assert!(id.len() <= cfg.max_id_len);
            assert!(!id.contains(['\0', '\r', '\n']));
        }
        Item::Comment(c) => assert!(!c.contains(['\r', '\n'])),
        Item::Retry(_) => {}
        other => panic!("unknown item {other:?}"),
    }
}

fn run<'a>(cfg: &Config, pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let mut p = EventParser::with_config(cfg.clone());
    let mut items = Vec::new();
    for piece in pieces {
        p.feed(piece);
        drain(&mut p, &mut items, cfg);
        assert!(
            p.buffered() <= cfg.max_line.saturating_add(3),
            "{} bytes buffered after a drain",
            p.buffered()
        );
    }
    p.finish();
    Run {
        items,
        last_event_id: p.last_event_id().to_string(),
        retry: p.reconnection_time(),
    }
}

/// The reference: WHATWG HTML §9.2.6 step by step, whole input at once, no limits.
fn reference(data: &[u8]) -> Vec<Item> {
    let text = String::from_utf8_lossy(data);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        lines.push(&rest[..i]);
        rest = if rest[i..].starts_with("\r\n") {
            &rest[i + 2..]
        } else {
            &rest[i + 1..]
        };
    }
    // `rest` has no line end: discarded at EOF.
    let (mut data_buf, mut type_buf, mut id_buf) = (String::new(), String::new(), String::new());
    let mut last_id = String::new();
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            let changed = last_id != id_buf;
            last_id = id_buf.clone();
            if data_buf.is_empty() {
                type_buf.clear();
                if changed {
                    out.push(Item::LastEventId(last_id.as_str().into()));
                }
                continue;
            }
            data_buf.pop();
            let ty = if type_buf.is_empty() {
                "message"
            } else {
                &type_buf
            };
            out.push(Item::Event(pushwire_sse::MessageEvent::new(
                ty,
                std::mem::take(&mut data_buf),
                last_id.as_str(),
            )));
            type_buf.clear();
            continue;
        }
        let (name, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match name {
            "" => out.push(Item::Comment(value.to_owned())),
            "event" => type_buf = value.to_owned(),
            "data" => {
                data_buf.push_str(value);
                data_buf.push('\n');
            }
            "id" if !value.contains('\0') => id_buf = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let ms = value.bytes().fold(0u64, |a, d| {
                    a.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                out.push(Item::Retry(Duration::from_millis(ms)));
            }
            _ => {}
        }
    }
    out
}

fn config(cfg: [u8; 4]) -> Config {
    let d = Config::default();
    Config::default()
        .with_max_line(small_limit(cfg[0], d.max_line, 0, 48))
        .with_max_event_data(small_limit(cfg[1], d.max_event_data, 0, 96))
        .with_max_id_len(small_limit(cfg[2], d.max_id_len, 0, 16))
        .with_max_event_type_len(small_limit(cfg[3], d.max_event_type_len, 0, 16))
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let cfg = config(input.cfg);
    let data = input.data;

    let whole = run(&cfg, [data]);
    let split = run(&cfg, input.pieces());
    assert_eq!(whole, split, "whole vs split at {:?}", input.cuts);
    if data.len() <= BYTEWISE_MAX {
        let bytewise = run(&cfg, data.chunks(1));
        assert_eq!(whole, bytewise, "whole vs byte by byte");
    }
    if input.cfg == [0; 4] {
        let expect: Vec<Result<Item, Error>> = reference(data).into_iter().map(Ok).collect();
        assert_eq!(whole.items, expect, "parser vs the WHATWG reference");
    }
});
