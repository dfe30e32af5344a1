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

/// One message on the shared channel: `KIND EPOCH-SEQ TOPIC\nPAYLOAD` (the payload raw).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Live<'a> {
    pub(crate) kind: Kind,
    pub(crate) id: Id,
    pub(crate) topic: &'a str,
    pub(crate) data: &'a [u8],
}

impl<'a> Live<'a> {
    /// `None` for anything not written by [`crate::PUBLISH_LUA`].
    pub(crate) fn parse(b: &'a [u8]) -> Option<Live<'a>> {
        let nl = b.iter().position(|&c| c == b'\n')?;
        let (head, data) = (b.get(..nl)?, b.get(nl + 1..)?);
        let head = std::str::from_utf8(head).ok()?;
        let mut parts = head.splitn(3, ' ');
        let kind = kind_of(parts.next()?.as_bytes());
        let id = Id::parse(parts.next()?).ok()?;
        let topic = parts.next()?;
        if topic.is_empty() || id.seq == 0 {
            return None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_message_round_trip() {
        let m = Live::parse(b"b q7k2-42 chat.room\n\xff\nx").unwrap();
        assert_eq!(m.kind, Kind::Binary);
        assert_eq!(m.id.to_string(), "q7k2-42");
        assert_eq!(m.topic, "chat.room");
        assert_eq!(m.data, b"\xff\nx");
        assert_eq!(Live::parse(b"t e-1 t\n").unwrap().data, b"");
        for bad in [
            &b"t e-1 t"[..],
            b"t e-x t\nd",
            b"t e-0 t\nd",
            b"t e-1 \nd",
            b"",
        ] {
            assert!(Live::parse(bad).is_none(), "{bad:?}");
        }
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
