//! The JSON bodies: batches and publish answers are pushwire-poll's ([`pushwire_poll::json`],
//! one encoder for the whole workspace); only the `/healthz` document is the server's own,
//! written with poll's RFC 8259 string escaper.

use bytes::BytesMut;
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

/// The `/healthz` document.
pub fn health(h: &HubHealth, s: &Stats) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut head = BytesMut::from(&b"{\"hub\":"[..]);
    string(h.kind, &mut head);
    if let Some(state) = h.backend {
        head.extend_from_slice(b",\"redis\":");
        string(state, &mut head);
    }
    let mut out = into_string(head);
    out.push_str(&format!(
        ",\"connections\":{{\"total\":{},\"http\":{},\"websocket\":{},\"sse\":{},\"long_poll\":{}}},\
         \"rejected_connections\":{},\"topics\":{},\"subscribers\":{},\"slow_disconnects\":{},\"published\":{}}}",
        s.total.load(Relaxed),
        s.total
            .load(Relaxed)
            .saturating_sub(s.websocket.load(Relaxed) + s.sse.load(Relaxed) + s.long_poll.load(Relaxed)),
        s.websocket.load(Relaxed),
        s.sse.load(Relaxed),
        s.long_poll.load(Relaxed),
        s.rejected.load(Relaxed),
        h.topics,
        h.subscribers,
        h.slow_disconnects,
        h.published,
    ));
    out
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
