//! Polling: cursor/id parsing, `GET /poll` / `GET /long-poll` query parsing, and the cursor
//! rules of a small `Log`, with the JSON body checked by `serde_json`.
//!
//! Asserts:
//! - `Id::parse_bytes` accepts only the canonical `EPOCH-SEQ` form: what it accepts prints
//!   back byte for byte (`Display` and `write_to`), so ids round trip; `Cursor::parse_bytes`
//!   agrees with it (`0` = oldest, empty = error), and errors answer 400;
//!   an arbitrary valid epoch and sequence number round trip through the string form;
//! - `PollRequest::parse` on an arbitrary query either fails with 400 or yields a valid topic,
//!   the cursor `Cursor::parse` gives for `since`, `1 <= max <= max_batch` and a timeout
//!   within `max_timeout` (zero for short polls);
//! - `Log::read_after` never skips silently: without `missed`, a batch starts right after
//!   the cursor; ids are consecutive, at most `max` and within `max_batch_bytes` (beyond one
//!   message), `next` is the last id delivered (or the plan's position), the payloads are
//!   those appended, and a batch is never empty while messages after the cursor exist;
//! - `json::encode_batch` is valid JSON that decodes back to the batch.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use pushwire_http::{Method, Request};
use pushwire_poll::{Batch, Config, Cursor, Epoch, Id, Log, PollKind, PollRequest, json};

#[derive(Debug, Arbitrary)]
enum CursorSpec {
    Now,
    Oldest,
    /// Same epoch, this sequence number.
    Seq(u16),
    /// Another epoch.
    Other(u16),
    /// Whatever these bytes parse to (skipped when they do not).
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Append(Vec<u8>),
    Read(CursorSpec, u8),
}

#[derive(Debug, Arbitrary)]
struct Case {
    raw_id: Vec<u8>,
    epoch: String,
    seq: u64,
    query: String,
    limits: [u8; 4],
    ops: Vec<Op>,
}

fn check_ids(raw: &[u8]) {
    match Id::parse_bytes(raw) {
        Ok(id) => {
            assert_eq!(id.to_string().as_bytes(), raw, "id not canonical");
            let mut w = Vec::new();
            id.write_to(&mut w);
            assert_eq!(w, raw);
            assert_eq!(Cursor::parse_bytes(Some(raw)), Ok(Cursor::After(id)));
        }
        Err(e) => {
            assert_eq!(pushwire_poll::Error::from(e).status(), 400);
            match Cursor::parse_bytes(Some(raw)) {
                Ok(Cursor::Oldest) => assert_eq!(raw, b"0"),
                Ok(other) => panic!("{raw:?} is no id but cursor {other:?}"),
                Err(_) => assert_ne!(raw, b"0"),
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(raw) {
        assert_eq!(Cursor::parse(Some(s)), Cursor::parse_bytes(Some(raw)));
        assert_eq!(Id::parse(s), Id::parse_bytes(raw));
    }
}

fn check_query(query: &str, limits: [u8; 4]) {
    let max_timeout = std::time::Duration::from_millis(u64::from(limits[1]) * 100 + 1);
    let cfg = Config::default()
        .with_max_batch(usize::from(limits[0] % 8) + 1)
        .with_max_timeout(max_timeout)
        .with_default_timeout(max_timeout / 2);
    assert!(cfg.validate().is_ok());
    let req = Request::new(Method::Get, format!("/poll?{query}"));
    for kind in [PollKind::Short, PollKind::Long] {
        match PollRequest::parse(&req, kind, &cfg) {
            Ok(p) => {
                assert!(
                    pushwire_poll::request::validate_topic(&p.topic).is_ok(),
                    "{p:?}"
                );
                match req.query_param("topic") {
                    Some(t) => assert_eq!(*t, p.topic),
                    None => assert_eq!(p.topic, "default"),
                }
                assert_eq!(
                    Ok(p.cursor),
                    Cursor::parse(req.query_param("since").as_deref())
                );
                assert!((1..=cfg.max_batch).contains(&p.max), "max {}", p.max);
                match kind {
                    PollKind::Short => assert!(p.timeout.is_zero()),
                    PollKind::Long => assert!(p.timeout <= cfg.max_timeout),
                }
            }
            Err(e) => assert_eq!(e.status(), 400, "{e:?}"),
        }
    }
}

/// The JSON body decodes back to the batch.
fn check_json(batch: &Batch) {
    let mut body = BytesMut::new();
    json::encode_batch(batch, &mut body);
    let v: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("invalid JSON {e}: {:?}", String::from_utf8_lossy(&body)));
    assert_eq!(v["next"].as_str(), Some(batch.next.to_string().as_str()));
    assert_eq!(v["missed"].as_bool(), Some(batch.missed));
    let msgs = v["messages"].as_array().expect("messages array");
    assert_eq!(msgs.len(), batch.messages.len());
    for (m, j) in batch.messages.iter().zip(msgs) {
        assert_eq!(j["id"].as_str(), Some(m.id.to_string().as_str()));
        let data = j["data"].as_str().expect("data string");
        match std::str::from_utf8(&m.data) {
            Ok(text) => {
                assert_eq!(data, text);
                assert!(j.get("encoding").is_none());
            }
            Err(_) => {
                assert_eq!(j["encoding"].as_str(), Some("base64"));
                let back = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("valid base64");
                assert_eq!(back, m.data);
            }
        }
    }
}

fuzz_target!(|case: Case| {
    check_ids(&case.raw_id);
    if let Ok(epoch) = Epoch::new(&case.epoch) {
        let id = Id::new(epoch, case.seq);
        assert_eq!(Id::parse(&id.to_string()), Ok(id));
    }
    check_query(&case.query, case.limits);

    let epoch = Epoch::new("fuzz").expect("valid epoch");
    let other = Epoch::new("other").expect("valid epoch");
    let cfg = Config::default()
        .with_history(usize::from(case.limits[0] % 8) + 1)
        .with_history_bytes(usize::from(case.limits[1]) * 4)
        .with_max_batch(usize::from(case.limits[2] % 8) + 1)
        .with_max_batch_bytes(usize::from(case.limits[3]) * 2);
    let mut log = Log::with_epoch(epoch, &cfg);
    let mut all: Vec<Bytes> = Vec::new(); // every payload ever appended; seq n is all[n - 1]
    for op in case.ops.iter().take(256) {
        match op {
            Op::Append(data) => {
                let id = log.append(Bytes::copy_from_slice(data));
                all.push(Bytes::copy_from_slice(data));
                assert_eq!(id, Id::new(epoch, all.len() as u64));
                assert!(log.len() <= cfg.history && !log.is_empty());
                assert!(log.len() == 1 || log.retained_bytes() <= cfg.history_bytes);
            }
            Op::Read(spec, max) => {
                let cursor = match spec {
                    CursorSpec::Now => Cursor::Now,
                    CursorSpec::Oldest => Cursor::Oldest,
                    CursorSpec::Seq(s) => Cursor::After(Id::new(epoch, u64::from(*s))),
                    CursorSpec::Other(s) => Cursor::After(Id::new(other, u64::from(*s))),
                    CursorSpec::Raw(raw) => match Cursor::parse_bytes(Some(raw)) {
                        Ok(c) => c,
                        Err(_) => continue,
                    },
                };
                let max = usize::from(*max % 8);
                let batch = log.read_after(&cursor, max);
                check_batch(&log, &cursor, max, &batch, &all, &cfg);
                check_json(&batch);
            }
        }
    }
});

fn check_batch(log: &Log, cursor: &Cursor, max: usize, b: &Batch, all: &[Bytes], cfg: &Config) {
    let head = all.len() as u64;
    let first_retained = head - log.len() as u64 + 1;
    assert!(b.messages.len() <= max);
    let mut total = 0usize;
    for (i, m) in b.messages.iter().enumerate() {
        assert_eq!(m.id.epoch, log.epoch());
        assert!(m.id.seq >= first_retained && m.id.seq <= head);
        assert_eq!(m.data, all[(m.id.seq - 1) as usize], "payload of {}", m.id);
        if let Some(prev) = i.checked_sub(1) {
            assert_eq!(m.id.seq, b.messages[prev].id.seq + 1, "ids not consecutive");
        }
        total += m.data.len();
    }
    if b.messages.len() > 1 {
        assert!(total <= cfg.max_batch_bytes, "batch of {total} bytes");
    }
    // Where the batch starts, by the cursor rules of DESIGN.md.
    let (after, missed) = match cursor {
        Cursor::Now => (head, false),
        Cursor::Oldest => (first_retained - 1, false),
        Cursor::After(id) if id.epoch != log.epoch() => (first_retained - 1, true),
        // Older than the history, or ahead of the head (forged or from a lost log): from the
        // oldest retained, reported missed.
        Cursor::After(id) if id.seq < first_retained - 1 || id.seq > head => {
            (first_retained - 1, true)
        }
        Cursor::After(id) => (id.seq, false),
    };
    assert_eq!(b.missed, missed, "missed flag for {cursor:?}");
    match b.messages.first() {
        Some(m) => assert_eq!(m.id.seq, after + 1, "first message after {after}"),
        None => assert!(
            max == 0 || after >= head,
            "empty batch with messages after {after}"
        ),
    }
    let next = b
        .messages
        .last()
        .map_or(Id::new(log.epoch(), after), |m| m.id);
    assert_eq!(b.next, next);
}
