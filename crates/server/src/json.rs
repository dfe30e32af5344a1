//! The JSON bodies: batches and publish answers are pushwire-poll's ([`pushwire_poll::json`],
//! one encoder for the whole workspace); only the `/healthz` document is the server's own,
//! written with poll's RFC 8259 string escaper.

use bytes::{Bytes, BytesMut};
use pushwire_poll::json as pj;

use crate::cursor::Id;
use crate::hub::{Batch, HubHealth, Kind};
use crate::listener::Stats;

/// The encoder writes only ASCII and the UTF-8 of `&str` inputs, so this never allocates
/// anew nor replaces anything; the lossy path keeps the function total.
fn into_string(b: BytesMut) -> String {
    match String::from_utf8(Vec::from(b)) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Appends `s` as a JSON string literal (pushwire-poll's escaper).
fn string(s: &str, out: &mut BytesMut) {
    pj::write_string(s, out);
}

/// `{"messages":[{"id":..,"data":..}],"next":..,"missed":..}`; binary payloads (the
/// [`Kind`] decides, not the bytes) as base64 with `"encoding":"base64"`.
pub fn batch(b: &Batch) -> String {
    let payload: usize = b.messages.iter().map(|m| m.data.len()).sum();
    let mut out = BytesMut::with_capacity(64 + payload + b.messages.len() * 48);
    let items = b
        .messages
        .iter()
        .map(|m| (m.position(), &m.data[..], m.kind == Kind::Binary));
    match Id::parse(&b.next) {
        Ok(next) => pj::encode_batch_parts(items, &next, b.missed, &mut out),
        Err(_) => {
            // Every hub writes `next` as an `EPOCH-SEQ` id; should one not, the body still
            // carries it verbatim (escaped) rather than failing the request.
            out.extend_from_slice(b"{\"messages\":[");
            for (i, (id, data, binary)) in items.enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",");
                }
                pj::encode_message_parts(&id, data, binary, &mut out);
            }
            out.extend_from_slice(b"],\"next\":");
            string(&b.next, &mut out);
            out.extend_from_slice(if b.missed {
                b",\"missed\":true}"
            } else {
                b",\"missed\":false}"
            });
        }
    }
    into_string(out)
}

/// `{"id":"E-N"}`.
pub fn published(id: &str) -> String {
    let mut out = BytesMut::with_capacity(id.len() + 10);
    match Id::parse(id) {
        Ok(id) => pj::encode_published(&id, &mut out),
        Err(_) => {
            out.extend_from_slice(b"{\"id\":");
            string(id, &mut out);
            out.extend_from_slice(b"}");
        }
    }
    into_string(out)
}

/// The `/healthz` document, written straight into one buffer (it is the benchmark's GET: the
/// `format!` it was built with cost a tenth of a keep-alive request's instructions).
pub fn health(h: &HubHealth, s: &Stats) -> Bytes {
    use crate::wire::put_decimal;
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = BytesMut::with_capacity(256);
    out.extend_from_slice(b"{\"hub\":");
    string(h.kind, &mut out);
    if let Some(state) = h.backend {
        out.extend_from_slice(b",\"redis\":");
        string(state, &mut out);
    }
    let total = s.total.load(Relaxed);
    let (ws, sse, lp) = (
        s.websocket.load(Relaxed),
        s.sse.load(Relaxed),
        s.long_poll.load(Relaxed),
    );
    let fields: [(&[u8], u64); 10] = [
        (b",\"connections\":{\"total\":", total as u64),
        (b",\"http\":", total.saturating_sub(ws + sse + lp) as u64),
        (b",\"websocket\":", ws as u64),
        (b",\"sse\":", sse as u64),
        (b",\"long_poll\":", lp as u64),
        (b"},\"rejected_connections\":", s.rejected.load(Relaxed)),
        (b",\"topics\":", h.topics as u64),
        (b",\"subscribers\":", h.subscribers as u64),
        (b",\"slow_disconnects\":", h.slow_disconnects),
        (b",\"published\":", h.published),
    ];
    for (key, n) in fields {
        out.extend_from_slice(key);
        put_decimal(n, &mut out);
    }
    out.extend_from_slice(b"}");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Message;
    use bytes::Bytes;
    use std::sync::Arc;

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
        assert_eq!(published("e-1"), r#"{"id":"e-1"}"#);
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
