//! `Log` against a straightforward model of DESIGN.md's cursor rules, over many random
//! sequences of appends (of random sizes, evicting by count and by bytes) and reads (with
//! every kind of cursor and random `max`). Every batch is also encoded as JSON and parsed
//! back with serde_json. A fixed-seed generator keeps failures reproducible.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use pushwire_poll::{Batch, Config, Cursor, Epoch, Id, Log, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The model: every message ever appended; the retained ones are the longest suffix within
/// the bounds (the newest always kept).
struct Model {
    all: Vec<Bytes>,
    history: usize,
    history_bytes: usize,
    batch_bytes: usize,
}

impl Model {
    fn retained(&self) -> (u64, &[Bytes]) {
        let mut n = 0;
        let mut bytes = 0;
        for m in self.all.iter().rev() {
            if n + 1 > self.history || (n >= 1 && bytes + m.len() > self.history_bytes) {
                break;
            }
            n += 1;
            bytes += m.len();
        }
        let first = (self.all.len() - n) as u64 + 1;
        (first, &self.all[self.all.len() - n..])
    }

    fn read(&self, epoch: Epoch, cursor: &Cursor, max: usize) -> (Vec<(u64, Bytes)>, u64, bool) {
        let head = self.all.len() as u64;
        let (first, retained) = self.retained();
        let (after, missed) = match cursor {
            Cursor::Now => (head, false),
            Cursor::Oldest => (first - 1, false),
            Cursor::After(id) if id.epoch != epoch => (first - 1, true),
            Cursor::After(id) if id.seq + 1 < first || id.seq > head => (first - 1, true),
            Cursor::After(id) => (id.seq, false),
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for (i, m) in retained.iter().enumerate() {
            let seq = first + i as u64;
            if seq <= after {
                continue;
            }
            if out.len() == max || (!out.is_empty() && bytes + m.len() > self.batch_bytes) {
                break;
            }
            bytes += m.len();
            out.push((seq, m.clone()));
        }
        let next = out.last().map_or(after, |(s, _)| *s);
        (out, next, missed)
    }
}

fn payload(rng: &mut Rng, n: u64) -> Bytes {
    let len = rng.below(40) as usize;
    match rng.below(4) {
        // Binary: not UTF-8.
        0 => Bytes::from((0..len).map(|i| 0x80 | (i as u8)).collect::<Vec<_>>()),
        // Text with characters that need escaping.
        1 => Bytes::from(format!("\"{n}\"\n\\\u{1}\u{2028}😀{}", "x".repeat(len))),
        _ => Bytes::from("y".repeat(len)),
    }
}

fn check_json(batch: &Batch) {
    let mut out = BytesMut::new();
    json::encode_batch(batch, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), batch.messages.len());
    for (j, m) in msgs.iter().zip(&batch.messages) {
        assert_eq!(j["id"], m.id.to_string());
        let data = j["data"].as_str().unwrap();
        match m.text() {
            Some(text) => {
                assert_eq!(data, text);
                assert!(j.get("encoding").is_none());
            }
            None => {
                assert_eq!(j["encoding"], "base64");
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap();
                assert_eq!(raw, m.data);
            }
        }
    }
    assert_eq!(v["next"], batch.next.to_string());
    assert_eq!(v["missed"], batch.missed);
}

#[test]
fn log_matches_the_model_over_random_operations() {
    let epoch = Epoch::new("model").unwrap();
    let other = Epoch::new("other").unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..200 {
        let history = 1 + rng.below(20) as usize;
        let history_bytes = 1 + rng.below(200) as usize;
        let batch_bytes = 1 + rng.below(120) as usize;
        let cfg = Config::default()
            .with_history(history)
            .with_history_bytes(history_bytes)
            .with_max_batch_bytes(batch_bytes);
        let mut log = Log::with_epoch(epoch, &cfg);
        let mut model = Model {
            all: Vec::new(),
            history,
            history_bytes,
            batch_bytes,
        };
        for step in 0..300 {
            if rng.below(3) == 0 {
                let data = payload(&mut rng, step);
                let id = log.append(data.clone());
                model.all.push(data);
                assert_eq!(id, Id::new(epoch, model.all.len() as u64));
                let (first, retained) = model.retained();
                assert_eq!(log.len(), retained.len(), "case {case} step {step}");
                assert_eq!(log.retained().first, first);
                assert!(log.len() <= history);
                assert!(log.retained_bytes() <= history_bytes || log.len() == 1);
                continue;
            }
            let head = model.all.len() as u64;
            let cursor = match rng.below(5) {
                0 => Cursor::Now,
                1 => Cursor::Oldest,
                2 => Cursor::After(Id::new(other, rng.below(head + 3))),
                _ => Cursor::After(Id::new(epoch, rng.below(head + 3))),
            };
            let max = rng.below(8) as usize;
            let batch = log.read_after(&cursor, max);
            let (want, next, missed) = model.read(epoch, &cursor, max);
            let got: Vec<(u64, Bytes)> = batch
                .messages
                .iter()
                .map(|m| (m.id.seq, m.data.clone()))
                .collect();
            assert_eq!(
                got, want,
                "case {case} step {step} cursor {cursor:?} max {max}"
            );
            assert_eq!(
                batch.next,
                Id::new(epoch, next),
                "case {case} step {step} {cursor:?}"
            );
            assert_eq!(batch.missed, missed, "case {case} step {step} {cursor:?}");
            // A long poll waits exactly while an unlimited read would come back empty.
            let (unlimited, _, _) = model.read(epoch, &cursor, usize::MAX);
            assert_eq!(log.has_after(&cursor), !unlimited.is_empty());
            check_json(&batch);
        }
    }
}

#[test]
fn following_next_from_any_cursor_reads_each_retained_message_once_in_order() {
    let epoch = Epoch::new("walk").unwrap();
    let cfg = Config::default()
        .with_history(30)
        .with_history_bytes(300)
        .with_max_batch_bytes(25);
    let mut log = Log::with_epoch(epoch, &cfg);
    let mut rng = Rng(42);
    for n in 0..100 {
        log.append(payload(&mut rng, n));
    }
    let first = log.retained().first;
    for start in 0..=log.head().seq + 2 {
        let mut cursor = Cursor::After(Id::new(epoch, start));
        let mut seen = Vec::new();
        for _ in 0..200 {
            let b = log.read_after(&cursor, 3);
            if b.messages.is_empty() {
                break;
            }
            seen.extend(b.messages.iter().map(|m| m.id.seq));
            cursor = Cursor::After(b.next);
        }
        // Ahead of the head (never handed out): everything retained, like an evicted one.
        let from = if start > log.head().seq {
            first
        } else {
            start.max(first - 1) + 1
        };
        let want: Vec<u64> = (from..=log.head().seq).collect();
        assert_eq!(seen, want, "start {start}");
    }
}
