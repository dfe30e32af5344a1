//! What travels through Redis besides the scripts: the live message on the shared channel
//! and the catch-up snapshot. Parsers take bytes and return values; nothing here does I/O.

use bytes::Bytes;
use pushwire_poll::{Epoch, Id};
use pushwire_server::hub::Kind;

/// The kind as stored in Redis: `t` text, `b` binary.
pub(crate) fn kind_tag(k: Kind) -> &'static str {
    match k {
        Kind::Text => "t",
        Kind::Binary => "b",
    }
}

fn kind_of(tag: &[u8]) -> Kind {
    if tag == b"t" {
        Kind::Text
    } else {
        Kind::Binary
    }
}

/// One message on the shared channel. A channel message carries the records of one publish
/// batch back to back, each `KIND EPOCH-SEQ TOPIC LEN\nPAYLOAD` (the payload raw, `LEN`
/// bytes), in the order Redis assigned their sequence numbers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Live<'a> {
    pub(crate) kind: Kind,
    pub(crate) id: Id,
    pub(crate) topic: &'a str,
    pub(crate) data: &'a [u8],
}

/// Longest record head (`KIND EPOCH-SEQ TOPIC LEN`): a head without its newline within this
/// many bytes is malformed, so a bad channel message is never scanned past it.
const MAX_HEAD: usize = 512;

impl<'a> Live<'a> {
    /// Splits the next record off `rest`; `None` at the end or for anything not written by
    /// [`crate::PUBLISH_LUA`] (then the rest of the channel message is dropped too: the
    /// mirrors notice the gap and catch up from the streams).
    pub(crate) fn next(rest: &mut &'a [u8]) -> Option<Live<'a>> {
        let b: &'a [u8] = rest;
        let window = b.get(..b.len().min(MAX_HEAD))?;
        let nl = window.iter().position(|&c| c == b'\n')?;
        let head = std::str::from_utf8(b.get(..nl)?).ok()?;
        let mut parts = head.splitn(4, ' ');
        let kind = kind_of(parts.next()?.as_bytes());
        let id = Id::parse(parts.next()?).ok()?;
        let topic = parts.next()?;
        let len: usize = parts.next()?.parse().ok()?;
        if topic.is_empty() || id.seq == 0 {
            return None;
        }
        let end = (nl + 1).checked_add(len)?;
        let data = b.get(nl + 1..end)?;
        *rest = b.get(end..)?;
        Some(Live {
            kind,
            id,
            topic,
            data,
        })
    }
}

/// The answer of [`crate::SYNC_LUA`]: the topic's epoch and head in Redis, and the newest
/// entries after the mirror's head, in order.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) epoch: Epoch,
    pub(crate) head: u64,
    pub(crate) entries: Vec<(u64, Kind, Bytes)>,
}

fn bulk(v: redis::Value) -> Option<Vec<u8>> {
    match v {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.into_bytes()),
        redis::Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn number(v: redis::Value) -> Option<u64> {
    std::str::from_utf8(&bulk(v)?).ok()?.parse().ok()
}

impl Snapshot {
    pub(crate) fn parse(v: redis::Value) -> Option<Snapshot> {
        let redis::Value::Array(items) = v else {
            return None;
        };
        let mut it = items.into_iter();
        let epoch = Epoch::new(std::str::from_utf8(&bulk(it.next()?)?).ok()?).ok()?;
        let head = number(it.next()?)?;
        let mut entries = Vec::new();
        let mut prev = 0;
        while let Some(seq) = it.next() {
            let seq = number(seq)?;
            let kind = kind_of(&bulk(it.next()?)?);
            let data = Bytes::from(bulk(it.next()?)?);
            if seq == 0 || seq <= prev || seq > head {
                return None;
            }
            prev = seq;
            entries.push((seq, kind, data));
        }
        Some(Snapshot {
            epoch,
            head,
            entries,
        })
    }
}

/// The answer of [`crate::PUBLISH_LUA`] for a batch of `n`: `(epoch, seq)` per publish.
pub(crate) fn stored_ids(v: redis::Value, n: usize) -> Option<Vec<(Epoch, u64)>> {
    let redis::Value::Array(items) = v else {
        return None;
    };
    if items.len() != 2 * n {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut it = items.into_iter();
    while let (Some(e), Some(s)) = (it.next(), it.next()) {
        let epoch = Epoch::new(std::str::from_utf8(&bulk(e)?).ok()?).ok()?;
        let seq = number(s)?;
        if seq == 0 {
            return None;
        }
        out.push((epoch, seq));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(b: &[u8]) -> Vec<Live<'_>> {
        let mut rest = b;
        let mut out = Vec::new();
        while let Some(m) = Live::next(&mut rest) {
            out.push(m);
        }
        out
    }

    #[test]
    fn live_batch_round_trip() {
        let batch = b"b q7k2-42 chat.room 3\n\xff\nxt q7k2-43 chat.room 0\nt zz-1 other 2\n\n\n";
        let v = all(batch);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].kind, Kind::Binary);
        assert_eq!(v[0].id.to_string(), "q7k2-42");
        assert_eq!(v[0].topic, "chat.room");
        assert_eq!(v[0].data, b"\xff\nx");
        assert_eq!((v[1].id.seq, v[1].data), (43, &b""[..]));
        assert_eq!((v[2].topic, v[2].data), ("other", &b"\n\n"[..]));
        // Split anywhere, the records before the cut parse and nothing after it does.
        for cut in 0..batch.len() {
            let got = all(&batch[..cut]);
            assert!(got.len() <= 3);
            for (a, b) in got.iter().zip(&v) {
                assert_eq!(a, b);
            }
        }
        for bad in [
            &b"t e-1 t 1"[..],
            b"t e-x t 1\nd",
            b"t e-0 t 1\nd",
            b"t e-1  1\nd",
            b"t e-1 t 2\nd",
            b"t e-1 t x\nd",
            b"t e-1 t 99999999999999999999999\nd",
            b"",
        ] {
            assert!(all(bad).is_empty(), "{bad:?}");
        }
        // A head longer than MAX_HEAD is refused without looking further.
        let long = format!("t e-1 {} 1\nd", "a".repeat(MAX_HEAD));
        assert!(all(long.as_bytes()).is_empty());
    }

    #[test]
    fn stored_ids_shapes() {
        use redis::Value::{Array, BulkString as B, Int};
        let v = Array(vec![B(b"ep".to_vec()), Int(7), B(b"fq".to_vec()), Int(1)]);
        let ids = stored_ids(v, 2).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!((ids[0].0.as_str(), ids[0].1), ("ep", 7));
        assert_eq!((ids[1].0.as_str(), ids[1].1), ("fq", 1));
        // Wrong count, seq 0, bad epoch, not an array: refused.
        assert!(stored_ids(Array(vec![B(b"ep".to_vec()), Int(7)]), 2).is_none());
        assert!(stored_ids(Array(vec![B(b"ep".to_vec()), Int(0)]), 1).is_none());
        assert!(stored_ids(Array(vec![B(b"e-p".to_vec()), Int(1)]), 1).is_none());
        assert!(stored_ids(Int(1), 1).is_none());
    }

    #[test]
    fn snapshot_shapes() {
        use redis::Value::{Array, BulkString as B, Int};
        let v = Array(vec![
            B(b"ep".to_vec()),
            B(b"3".to_vec()),
            B(b"2".to_vec()),
            B(b"t".to_vec()),
            B(b"hi".to_vec()),
            B(b"3".to_vec()),
            B(b"b".to_vec()),
            B(b"\x00".to_vec()),
        ]);
        let s = Snapshot::parse(v).unwrap();
        assert_eq!((s.epoch.as_str(), s.head, s.entries.len()), ("ep", 3, 2));
        assert_eq!(s.entries[1].1, Kind::Binary);
        let empty = Snapshot::parse(Array(vec![B(b"ep".to_vec()), Int(0)])).unwrap();
        assert!(empty.entries.is_empty());
        // Out of order, beyond the head, truncated: refused.
        for bad in [
            vec![
                B(b"ep".to_vec()),
                Int(1),
                B(b"2".to_vec()),
                B(b"t".to_vec()),
                B(vec![]),
            ],
            vec![
                B(b"ep".to_vec()),
                Int(5),
                B(b"2".to_vec()),
                B(b"t".to_vec()),
            ],
            vec![B(b"e-p".to_vec()), Int(0)],
        ] {
            assert!(Snapshot::parse(Array(bad)).is_none());
        }
    }
}
