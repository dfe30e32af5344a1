//! The JSON bodies: batches and publish answers are pushwire-poll's ([`pushwire_poll::json`],
//! one encoder for the whole workspace); only the `/healthz` document is the server's own,
//! written with poll's RFC 8259 string escaper.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use pushwire_poll::json as pj;

use crate::cursor::Id;
use crate::hub::{Batch, HubHealth, Kind, Message};
use crate::listener::Stats;
use crate::wire::{decimal_len, write_decimal};

/// The body of a poll answering `m` alone: `{"messages":[m],"next":"<m's id>","missed":false}`.
pub(crate) fn single(m: &Arc<Message>) -> Bytes {
    let b = Batch {
        messages: vec![m.clone()],
        next: m.id.to_string(),
        missed: false,
    };
    let mut out = BytesMut::new();
    batch_parts_into(&b, &mut out);
    out.freeze()
}

/// Appends `s` as a JSON string literal (pushwire-poll's escaper).
fn string(s: &str, out: &mut BytesMut) {
    pj::write_string(s, out);
}

/// Appends `{"messages":[{"id":..,"data":..}],"next":..,"missed":..}`; binary payloads
/// (the [`Kind`] decides, not the bytes) as base64 with `"encoding":"base64"`. Written
/// straight into the connection's write buffer (see `Conn::send_json`).
pub fn batch_into(b: &Batch, out: &mut BytesMut) {
    // One message, nothing missed: the usual long-poll answer, the same bytes for every
    // waiter the publish wakes, encoded once by the first ([`Message::poll_json`]).
    if let [m] = &b.messages[..]
        && !b.missed
        && *b.next == *m.id
    {
        out.extend_from_slice(m.poll_json());
        return;
    }
    batch_parts_into(b, out);
}

/// [`batch_into`] without the one-message shortcut: what the shortcut's bytes are made with.
fn batch_parts_into(b: &Batch, out: &mut BytesMut) {
    let payload: usize = b.messages.iter().map(|m| m.data.len()).sum();
    out.reserve(64 + payload + b.messages.len() * 48);
    let items = b
        .messages
        .iter()
        .map(|m| (m.position(), &m.data[..], m.kind == Kind::Binary));
    match Id::parse(&b.next) {
        Ok(next) => pj::encode_batch_parts(items, &next, b.missed, out),
        Err(_) => {
            // Every hub writes `next` as an `EPOCH-SEQ` id; should one not, the body still
            // carries it verbatim (escaped) rather than failing the request.
            out.extend_from_slice(b"{\"messages\":[");
            for (i, (id, data, binary)) in items.enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",");
                }
                pj::encode_message_parts(&id, data, binary, out);
            }
            out.extend_from_slice(b"],\"next\":");
            string(&b.next, out);
            out.extend_from_slice(if b.missed {
                b",\"missed\":true}"
            } else {
                b",\"missed\":false}"
            });
        }
    }
}

/// Appends the `/healthz` document. It is the benchmark's GET: the `format!` it was first
/// built with cost a tenth of a keep-alive request's instructions, and a body buffer of its
/// own (allocated, frozen, copied into the write buffer) most of what was left.
pub fn health_into(h: &HubHealth, s: &Stats, out: &mut BytesMut) {
    use crate::wire::put_decimal;
    out.reserve(256);
    out.extend_from_slice(b"{\"hub\":");
    string(h.kind, out);
    if let Some(state) = h.backend {
        out.extend_from_slice(b",\"redis\":");
        string(state, out);
    }
    for (key, n) in HEALTH_KEYS.iter().zip(health_counts(h, s)) {
        out.extend_from_slice(key);
        put_decimal(n, out);
    }
    out.extend_from_slice(b"}");
}

/// The `/healthz` document written into `out` (a stack buffer): its length, or `None` when it
/// does not fit or a string would need escaping (then [`health_into`] writes it). Knowing the
/// length before anything goes into the write buffer lets the head go first, with no body
/// buffer and no reordering.
pub fn health_in(h: &HubHealth, s: &Stats, out: &mut [u8]) -> Option<usize> {
    health_write(h, &health_counts(h, s), out)
}

/// The ten counters of the `/healthz` document, in its order.
fn health_counts(h: &HubHealth, s: &Stats) -> [u64; 10] {
    use std::sync::atomic::Ordering::Relaxed;
    let total = s.total.load(Relaxed);
    let (ws, sse, lp) = (
        s.websocket.load(Relaxed),
        s.sse.load(Relaxed),
        s.long_poll.load(Relaxed),
    );
    [
        total as u64,
        total.saturating_sub(ws + sse + lp) as u64,
        ws as u64,
        sse as u64,
        lp as u64,
        s.rejected.load(Relaxed),
        h.topics as u64,
        h.subscribers as u64,
        h.slow_disconnects,
        h.published,
    ]
}

/// Writes the document for `counts` (from [`health_counts`]) into `out`: its length, or
/// `None` when it does not fit or a string would need escaping.
fn health_write(h: &HubHealth, counts: &[u64; 10], out: &mut [u8]) -> Option<usize> {
    let mut w = SliceWriter { out, len: 0 };
    w.put(b"{\"hub\":")?;
    w.plain_string(h.kind)?;
    if let Some(state) = h.backend {
        w.put(b",\"redis\":")?;
        w.plain_string(state)?;
    }
    // Each key is a literal of known length, and each number goes straight into the slice:
    // the copies compile to a few moves instead of a `memcpy` call per piece (those calls
    // were most of this document's cost in the pipelined-GET profile). The keys are
    // `HEALTH_KEYS` (a test holds this and `health_into` together).
    let [
        total,
        http,
        ws,
        sse,
        lp,
        rejected,
        topics,
        subs,
        slow,
        published,
    ] = *counts;
    w.put(b",\"connections\":{\"total\":")?;
    w.decimal(total)?;
    w.put(b",\"http\":")?;
    w.decimal(http)?;
    w.put(b",\"websocket\":")?;
    w.decimal(ws)?;
    w.put(b",\"sse\":")?;
    w.decimal(sse)?;
    w.put(b",\"long_poll\":")?;
    w.decimal(lp)?;
    w.put(b"},\"rejected_connections\":")?;
    w.decimal(rejected)?;
    w.put(b",\"topics\":")?;
    w.decimal(topics)?;
    w.put(b",\"subscribers\":")?;
    w.decimal(subs)?;
    w.put(b",\"slow_disconnects\":")?;
    w.decimal(slow)?;
    w.put(b",\"published\":")?;
    w.decimal(published)?;
    w.put(b"}")?;
    Some(w.len)
}

/// Appends to a fixed slice; `None` once it is full.
struct SliceWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl SliceWriter<'_> {
    #[inline(always)]
    fn put<const N: usize>(&mut self, b: &[u8; N]) -> Option<()> {
        self.put_slice(b)
    }

    #[inline(always)]
    fn put_slice(&mut self, b: &[u8]) -> Option<()> {
        let end = self.len.checked_add(b.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(b);
        self.len = end;
        Some(())
    }

    /// `n` in decimal, written in place.
    #[inline(always)]
    fn decimal(&mut self, n: u64) -> Option<()> {
        let end = self.len.checked_add(decimal_len(n))?;
        write_decimal(n, self.out.get_mut(self.len..end)?);
        self.len = end;
        Some(())
    }

    /// A string literal with nothing to escape; `None` otherwise.
    fn plain_string(&mut self, s: &str) -> Option<()> {
        if !plain(s) {
            return None;
        }
        self.put(b"\"")?;
        self.put_slice(s.as_bytes())?;
        self.put(b"\"")
    }
}

/// Whether `s` is a JSON string body as it is: printable ASCII, no `"` or `\\`.
fn plain(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// The keys of the `/healthz` counters, each with the JSON that precedes it, in order.
const HEALTH_KEYS: [&[u8]; 10] = [
    b",\"connections\":{\"total\":",
    b",\"http\":",
    b",\"websocket\":",
    b",\"sse\":",
    b",\"long_poll\":",
    b"},\"rejected_connections\":",
    b",\"topics\":",
    b",\"subscribers\":",
    b",\"slow_disconnects\":",
    b",\"published\":",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn into_string(b: BytesMut) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn batch(b: &Batch) -> String {
        let mut out = BytesMut::from(&b"held"[..]);
        batch_into(b, &mut out);
        assert_eq!(&out[..4], b"held", "appends");
        into_string(out.split_off(4))
    }

    /// Both ways of writing the document, which must agree.
    fn health(h: &HubHealth, s: &Stats) -> BytesMut {
        let mut out = BytesMut::new();
        health_into(h, s, &mut out);
        let mut stack = [0u8; 512];
        let n = health_in(h, s, &mut stack).unwrap();
        assert_eq!(&stack[..n], &out[..]);
        // Too small a buffer, or a string to escape: no answer (the caller falls back).
        assert_eq!(health_in(h, s, &mut stack[..n - 1]), None);
        let odd = HubHealth {
            kind: "a\"b",
            ..h.clone()
        };
        assert_eq!(health_in(&odd, s, &mut stack), None);
        let odd = HubHealth {
            backend: Some("\\"),
            ..h.clone()
        };
        assert_eq!(health_in(&odd, s, &mut stack), None);
        out
    }

    /// Every counter at 0, and at the largest values its type holds (20-digit numbers): the
    /// document is exact, and the stack writer, the fallback and the length agree.
    #[test]
    fn health_document_at_zero_and_at_the_largest_counters() {
        use std::sync::atomic::Ordering::Relaxed;
        let h = HubHealth {
            kind: "memory",
            ..HubHealth::default()
        };
        assert_eq!(
            &health(&h, &Stats::default())[..],
            br#"{"hub":"memory","connections":{"total":0,"http":0,"websocket":0,"sse":0,"long_poll":0},"rejected_connections":0,"topics":0,"subscribers":0,"slow_disconnects":0,"published":0}"#
        );
        let s = Stats::default();
        s.total.store(usize::MAX, Relaxed);
        s.websocket.store(99, Relaxed);
        s.sse.store(10, Relaxed);
        s.long_poll.store(9, Relaxed);
        s.rejected.store(u64::MAX, Relaxed);
        let h = HubHealth {
            kind: "redis",
            backend: Some("down"),
            topics: usize::MAX - 1,
            subscribers: 1_000_000,
            slow_disconnects: u64::MAX - 9,
            published: 10_000_000_000_000_000_000,
        };
        let doc = String::from_utf8(health(&h, &s).to_vec()).unwrap();
        let m = u64::MAX;
        let want = format!(
            r#"{{"hub":"redis","redis":"down","connections":{{"total":{m},"http":{},"websocket":99,"sse":10,"long_poll":9}},"rejected_connections":{m},"topics":{},"subscribers":1000000,"slow_disconnects":{},"published":10000000000000000000}}"#,
            m - 118,
            m - 1,
            m - 9
        );
        assert_eq!(doc, want);
    }

    #[test]
    fn rfc8259_s7_escapes() {
        let mut s = BytesMut::new();
        string("a\"b\\c\n\u{1}é", &mut s);
        assert_eq!(into_string(s), r#""a\"b\\c\n\u0001é""#);
    }

    #[test]
    fn binary_kind_stays_base64_even_when_utf8() {
        let e = crate::cursor::Epoch::new("e").unwrap();
        let b = Batch {
            messages: vec![Arc::new(Message::new(
                e,
                1,
                crate::hub::Payload::new(Bytes::from_static(b"hi"), Kind::Binary),
            ))],
            next: "e-1".into(),
            missed: true,
        };
        assert_eq!(
            batch(&b),
            r#"{"messages":[{"id":"e-1","data":"aGk=","encoding":"base64"}],"next":"e-1","missed":true}"#
        );
    }

    #[test]
    fn health_document_shape() {
        use std::sync::atomic::Ordering::Relaxed;
        let s = Stats::default();
        s.total.store(7, Relaxed);
        s.websocket.store(2, Relaxed);
        s.sse.store(1, Relaxed);
        s.long_poll.store(1, Relaxed);
        s.rejected.store(12, Relaxed);
        let h = HubHealth {
            kind: "redis",
            backend: Some("up"),
            topics: 3,
            subscribers: 4,
            slow_disconnects: 5,
            published: 1_234_567,
        };
        assert_eq!(
            &health(&h, &s)[..],
            br#"{"hub":"redis","redis":"up","connections":{"total":7,"http":3,"websocket":2,"sse":1,"long_poll":1},"rejected_connections":12,"topics":3,"subscribers":4,"slow_disconnects":5,"published":1234567}"#
        );
    }

    /// The one-message shortcut writes what the general encoder writes, for text, binary and
    /// escaped payloads, once and again (cached), and is skipped when `missed` or `next` differ.
    #[test]
    fn one_message_batch_is_encoded_once_and_the_same() {
        let e = crate::cursor::Epoch::new("e").unwrap();
        for (data, kind) in [
            (&b"hi"[..], Kind::Text),
            (&b"a\"b\n"[..], Kind::Text),
            (&b"hi"[..], Kind::Binary),
            (&b"\xff\x00"[..], Kind::Binary),
        ] {
            let m = Arc::new(Message::new(
                e,
                7,
                crate::hub::Payload::new(Bytes::copy_from_slice(data), kind),
            ));
            for missed in [false, true] {
                for next in ["e-7", "e-9"] {
                    let b = Batch {
                        messages: vec![m.clone()],
                        next: next.into(),
                        missed,
                    };
                    let mut general = BytesMut::new();
                    batch_parts_into(&b, &mut general);
                    let want = into_string(general);
                    assert_eq!(batch(&b), want, "{data:?} {kind:?} {missed} {next}");
                    assert_eq!(batch(&b), want, "cached: {data:?} {kind:?} {missed} {next}");
                }
            }
            assert_eq!(m.poll_json(), &single(&m));
        }
    }

    #[test]
    fn batch_shape() {
        let b = Batch {
            messages: vec![
                Arc::new(Message::new(
                    crate::cursor::Epoch::new("e").unwrap(),
                    1,
                    Bytes::from_static(b"hi"),
                )),
                Arc::new(Message::new(
                    crate::cursor::Epoch::new("e").unwrap(),
                    2,
                    Bytes::from_static(b"\xff\x00"),
                )),
            ],
            next: "e-2".into(),
            missed: false,
        };
        assert_eq!(
            batch(&b),
            r#"{"messages":[{"id":"e-1","data":"hi"},{"id":"e-2","data":"/wA=","encoding":"base64"}],"next":"e-2","missed":false}"#
        );
    }
}
