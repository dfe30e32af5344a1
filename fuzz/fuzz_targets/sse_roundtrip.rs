//! Structure-aware round trip: arbitrary SSE events and comments, encoded with
//! `pushwire_sse::{Event, comment, keep_alive, retry_hint}`, then parsed by `EventParser`
//! fed at arbitrary cuts, give back exactly what was sent:
//! - every event with data is dispatched with its type (`"message"` when absent or empty),
//!   its data with each CR, LF or CRLF turned into LF, and the latest id sent;
//! - an event without data dispatches nothing, but reports an id change;
//! - every `retry` arrives as `Item::Retry` with the same milliseconds;
//! - every comment line arrives as `Item::Comment`.
//!
//! Setters that refuse a value (an id with CR/LF/NUL, a type with CR/LF) must refuse exactly
//! those values; the refused part is then left out of the expectation.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::split_at;
use pushwire_sse::{Event, EventParser, Item, MessageEvent, comment, keep_alive, retry_hint};

#[derive(Debug, Arbitrary)]
enum Block {
    Event {
        id: Option<String>,
        event: Option<String>,
        data: Option<String>,
        retry_ms: Option<u32>,
    },
    Comment(String),
    KeepAlive,
    RetryHint(u32),
}

#[derive(Debug, Arbitrary)]
struct Case {
    blocks: Vec<Block>,
    cuts: Vec<u16>,
}

/// Lines as the encoder splits them: on CRLF, CR or LF; the last (maybe empty) piece too.
fn lines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(['\r', '\n']) {
        out.push(rest[..i].to_owned());
        rest = if rest[i..].starts_with("\r\n") {
            &rest[i + 2..]
        } else {
            &rest[i + 1..]
        };
    }
    out.push(rest.to_owned());
    out
}

fuzz_target!(|case: Case| {
    let mut wire = Vec::new();
    let mut expect = Vec::new();
    let mut last_id = String::new();
    for block in case.blocks.iter().take(64) {
        match block {
            Block::Event {
                id,
                event,
                data,
                retry_ms,
            } => {
                let mut ev = match data {
                    Some(d) => Event::new(d.clone()),
                    None => Event::empty(),
                };
                let mut new_id = None;
                if let Some(id) = id {
                    let bad = id.contains(['\r', '\n', '\0']);
                    match ev.clone().with_id(id.clone()) {
                        Ok(e) => {
                            assert!(!bad, "id {id:?} accepted");
                            ev = e;
                            new_id = Some(id.clone());
                        }
                        Err(_) => assert!(bad, "id {id:?} refused"),
                    }
                }
                let mut ty = None;
                if let Some(t) = event {
                    let bad = t.contains(['\r', '\n']);
                    match ev.clone().with_event(t.clone()) {
                        Ok(e) => {
                            assert!(!bad, "type {t:?} accepted");
                            ev = e;
                            ty = Some(t.clone());
                        }
                        Err(_) => assert!(bad, "type {t:?} refused"),
                    }
                }
                if let Some(ms) = retry_ms {
                    ev = ev.with_retry(Duration::from_millis(u64::from(*ms)));
                    expect.push(Item::Retry(Duration::from_millis(u64::from(*ms))));
                }
                wire.extend_from_slice(&ev.to_bytes());
                let changed = new_id.as_ref().is_some_and(|n| *n != last_id);
                if let Some(n) = new_id {
                    last_id = n;
                }
                match data {
                    Some(d) => expect.push(Item::Event(MessageEvent::new(
                        match ty.as_deref() {
                            None | Some("") => "message",
                            Some(t) => t,
                        },
                        lines(d).join("\n"),
                        last_id.as_str(),
                    ))),
                    None if changed => expect.push(Item::LastEventId(last_id.as_str().into())),
                    None => {}
                }
            }
            Block::Comment(text) => {
                wire.extend_from_slice(&comment(text));
                expect.extend(lines(text).into_iter().map(Item::Comment));
            }
            Block::KeepAlive => {
                wire.extend_from_slice(&keep_alive());
                expect.push(Item::Comment(String::new()));
            }
            Block::RetryHint(ms) => {
                let d = Duration::from_millis(u64::from(*ms));
                wire.extend_from_slice(&retry_hint(d));
                expect.push(Item::Retry(d));
            }
        }
    }
    let mut cuts: Vec<usize> = case
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (wire.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut p = EventParser::new();
    let mut got = Vec::new();
    for piece in split_at(&wire, &cuts) {
        p.feed(piece);
        while let Some(item) = p.next_item().expect("default limits are not reached") {
            got.push(item);
        }
    }
    assert_eq!(got, expect, "wire {:?}", String::from_utf8_lossy(&wire));
    assert_eq!(p.buffered(), 0, "an encoded stream ends at a line end");
    assert_eq!(p.last_event_id().to_string(), last_id);
});
