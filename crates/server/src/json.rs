//! The few JSON shapes the server answers with, written by hand (RFC 8259 string escaping).

use base64::Engine as _;

use crate::hub::{Batch, HubHealth, Kind};
use crate::listener::Stats;

/// Appends `s` as a JSON string literal.
pub fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `{"messages":[{"id":..,"data":..}],"next":..,"missed":..}`; binary payloads as base64 with
/// `"encoding":"base64"`.
pub fn batch(b: &Batch) -> String {
    let mut out =
        String::with_capacity(64 + b.messages.iter().map(|m| m.data.len() + 40).sum::<usize>());
    out.push_str("{\"messages\":[");
    for (i, m) in b.messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        string(&m.id, &mut out);
        out.push_str(",\"data\":");
        match (m.kind, std::str::from_utf8(&m.data)) {
            (Kind::Text, Ok(text)) => string(text, &mut out),
            _ => {
                string(
                    &base64::engine::general_purpose::STANDARD.encode(&m.data),
                    &mut out,
                );
                out.push_str(",\"encoding\":\"base64\"");
            }
        }
        out.push('}');
    }
    out.push_str("],\"next\":");
    string(&b.next, &mut out);
    out.push_str(if b.missed {
        ",\"missed\":true}"
    } else {
        ",\"missed\":false}"
    });
    out
}

/// `{"id":"E-N"}`.
pub fn published(id: &str) -> String {
    let mut out = String::from("{\"id\":");
    string(id, &mut out);
    out.push('}');
    out
}

/// The `/healthz` document.
pub fn health(h: &HubHealth, s: &Stats) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let mut out = String::from("{\"hub\":");
    string(h.kind, &mut out);
    if let Some(state) = h.backend {
        out.push_str(",\"redis\":");
        string(state, &mut out);
    }
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
        let mut s = String::new();
        string("a\"b\\c\n\u{1}é", &mut s);
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
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
