//! The JSON bodies of the polling endpoints, written by hand (no serde in the library).
//!
//! ```text
//! {"messages":[{"id":"E-N","data":"..."}],"next":"E-N","missed":false}
//! {"id":"E-N","data":"<base64>","encoding":"base64"}      a binary (non-UTF-8) message
//! {"id":"E-N"}                                             the answer to a publish
//! {"error":"..."}                                          every 4xx/5xx body
//! ```
//!
//! Strings are escaped per RFC 8259 §7: `"` and `\` escaped, every control character below
//! U+0020 written as a short escape (`\n`, `\t`, ...) or `\u00XX`. U+2028 and U+2029 are
//! also written as `\u2028` / `\u2029`: valid in JSON, but line terminators in JavaScript
//! before ES2019, so a body pasted into a script cannot break it. Everything else, non-BMP
//! characters included, is passed through as UTF-8 (§8.1).

use base64::Engine as _;
use bytes::BytesMut;

use crate::cursor::Id;
use crate::log::{Batch, Message};

/// Appends `s` as a JSON string literal (with the quotes) to `dst`.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// pushwire_poll::json::write_string("a\"b\n\u{2028}", &mut out);
/// assert_eq!(&out[..], br#""a\"b\n\u2028""#);
/// ```
pub fn write_string(s: &str, dst: &mut BytesMut) {
    dst.reserve(s.len() + 2);
    dst.extend_from_slice(b"\"");
    let bytes = s.as_bytes();
    // Copy runs of plain bytes in one call; stop only at bytes that need an escape.
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            // U+2028 / U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                if bytes.get(i + 2) == Some(&0xa8) {
                    Some(b"\\u2028")
                } else {
                    Some(b"\\u2029")
                }
            }
            _ => None,
        };
        if let Some(esc) = escape {
            dst.extend_from_slice(&bytes[run..i]);
            dst.extend_from_slice(esc);
            i += if b == 0xe2 { 3 } else { 1 };
            run = i;
        } else if b < 0x20 {
            dst.extend_from_slice(&bytes[run..i]);
            const HEX: &[u8; 16] = b"0123456789abcdef";
            dst.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
            i += 1;
            run = i;
        } else {
            i += 1;
        }
    }
    dst.extend_from_slice(&bytes[run..]);
    dst.extend_from_slice(b"\"");
}

/// Appends an id as a JSON string (ids need no escaping: letters, digits and one `-`).
fn write_id(id: &Id, dst: &mut BytesMut) {
    dst.extend_from_slice(b"\"");
    dst.extend_from_slice(id.epoch.as_str().as_bytes());
    dst.extend_from_slice(b"-");
    crate::cursor::push_decimal(id.seq, dst);
    dst.extend_from_slice(b"\"");
}

/// Appends one message object: `{"id":"E-N","data":"..."}` for text, or
/// `{"id":"E-N","data":"<base64>","encoding":"base64"}` when the payload is not UTF-8.
pub fn encode_message(m: &Message, dst: &mut BytesMut) {
    encode_message_parts(&m.id, &m.data, m.text().is_none(), dst);
}

/// Appends one message object from its parts, with the text/binary choice made by the
/// caller: a WebSocket binary message stays binary (base64 with `"encoding":"base64"`) even
/// when its bytes happen to be valid UTF-8. A `binary: false` payload that is not UTF-8 is
/// still written as base64, so the output is always valid JSON.
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_poll::{json, Epoch, Id};
/// let id = Id::new(Epoch::new("e").unwrap(), 1);
/// let mut out = BytesMut::new();
/// json::encode_message_parts(&id, b"hi", true, &mut out);
/// assert_eq!(&out[..], br#"{"id":"e-1","data":"aGk=","encoding":"base64"}"#);
/// ```
pub fn encode_message_parts(id: &Id, data: &[u8], binary: bool, dst: &mut BytesMut) {
    dst.extend_from_slice(b"{\"id\":");
    write_id(id, dst);
    dst.extend_from_slice(b",\"data\":");
    let text = if binary {
        None
    } else {
        std::str::from_utf8(data).ok()
    };
    match text {
        Some(text) => {
            write_string(text, dst);
            dst.extend_from_slice(b"}");
        }
        None => {
            // Standard alphabet with padding (RFC 4648 §4): what `atob` decodes.
            let engine = base64::engine::general_purpose::STANDARD;
            let start = dst.len();
            let len = base64::encoded_len(data.len(), true).unwrap_or(0);
            dst.resize(start + 1 + len, 0);
            dst[start] = b'"';
            // The slice is exactly `encoded_len` long, so encoding cannot run out of room;
            // should it ever, an empty string keeps the JSON valid.
            if engine.encode_slice(data, &mut dst[start + 1..]).is_err() {
                dst.truncate(start + 1);
            }
            dst.extend_from_slice(b"\",\"encoding\":\"base64\"}");
        }
    }
}

/// Appends a whole poll answer from parts: `(id, payload, binary)` for each message, the
/// `next` cursor and `missed` (for a store whose messages are not [`Message`]s, such as
/// pushwire-server's hub). Same output as [`encode_batch`].
pub fn encode_batch_parts<'a, I>(messages: I, next: &Id, missed: bool, dst: &mut BytesMut)
where
    I: IntoIterator<Item = (Id, &'a [u8], bool)>,
{
    dst.extend_from_slice(b"{\"messages\":[");
    for (i, (id, data, binary)) in messages.into_iter().enumerate() {
        if i > 0 {
            dst.extend_from_slice(b",");
        }
        dst.reserve(data.len() + 48);
        encode_message_parts(&id, data, binary, dst);
    }
    dst.extend_from_slice(b"],\"next\":");
    write_id(next, dst);
    dst.extend_from_slice(if missed {
        b",\"missed\":true}"
    } else {
        b",\"missed\":false}"
    });
}

/// Appends a whole poll answer:
/// `{"messages":[...],"next":"E-N","missed":false}`.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use pushwire_poll::{json, Batch, Epoch, Id, Message};
/// let e = Epoch::new("q7k2").unwrap();
/// let batch = Batch {
///     messages: vec![Message::new(Id::new(e, 1), Bytes::from_static(b"hi"))],
///     next: Id::new(e, 1),
///     missed: false,
/// };
/// let mut out = BytesMut::new();
/// json::encode_batch(&batch, &mut out);
/// assert_eq!(
///     &out[..],
///     br#"{"messages":[{"id":"q7k2-1","data":"hi"}],"next":"q7k2-1","missed":false}"#
/// );
/// ```
pub fn encode_batch(batch: &Batch, dst: &mut BytesMut) {
    let payload: usize = batch.messages.iter().map(|m| m.data.len()).sum();
    dst.reserve(64 + payload + batch.messages.len() * 48);
    encode_batch_parts(
        batch
            .messages
            .iter()
            .map(|m| (m.id, &m.data[..], m.text().is_none())),
        &batch.next,
        batch.missed,
        dst,
    );
}

/// Appends the answer to a publish: `{"id":"E-N"}`.
pub fn encode_published(id: &Id, dst: &mut BytesMut) {
    dst.extend_from_slice(b"{\"id\":");
    write_id(id, dst);
    dst.extend_from_slice(b"}");
}

/// Appends an error body: `{"error":"..."}`. Pass an error's `Display` (a fixed phrase),
/// never the client's input.
pub fn encode_error(message: &str, dst: &mut BytesMut) {
    dst.extend_from_slice(b"{\"error\":");
    write_string(message, dst);
    dst.extend_from_slice(b"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Epoch;
    use bytes::Bytes;

    fn enc(s: &str) -> String {
        let mut out = BytesMut::new();
        write_string(s, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn rfc8259_section7_escapes() {
        assert_eq!(enc(""), r#""""#);
        assert_eq!(enc("plain"), r#""plain""#);
        assert_eq!(enc("q\"b\\s/"), r#""q\"b\\s/""#);
        assert_eq!(enc("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(
            enc("\u{0}\u{1}\u{1f}\u{7f}"),
            "\"\\u0000\\u0001\\u001f\u{7f}\""
        );
        assert_eq!(enc("\u{2028}x\u{2029}"), r#""\u2028x\u2029""#);
        // Other E2 80 xx characters are not escaped.
        assert_eq!(
            enc("\u{2026}\u{2027}\u{202a}"),
            "\"\u{2026}\u{2027}\u{202a}\""
        );
        // Non-BMP passes through as UTF-8.
        assert_eq!(enc("😀𝄞"), "\"😀𝄞\"");
        assert_eq!(enc("é ü 中"), "\"é ü 中\"");
    }

    #[test]
    fn every_control_char_round_trips_through_serde_json() {
        let all: String = (0u32..0x80)
            .chain([0x2028, 0x2029, 0x1f600, 0xfffd])
            .filter_map(char::from_u32)
            .collect();
        let parsed: String = serde_json::from_str(&enc(&all)).unwrap();
        assert_eq!(parsed, all);
        for c in 0u32..0x20 {
            let s = char::from_u32(c).unwrap().to_string();
            let out = enc(&s);
            assert!(
                !out.bytes().any(|b| b < 0x20),
                "raw control byte for {c:#x}"
            );
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }
    }

    #[test]
    fn batch_and_binary_message_shapes() {
        let e = Epoch::new("q7k2").unwrap();
        let batch = Batch {
            messages: vec![
                Message::new(Id::new(e, 41), Bytes::from_static(b"he said \"hi\"")),
                Message::new(Id::new(e, 42), Bytes::from_static(&[0xff, 0x00, 0x80])),
            ],
            next: Id::new(e, 42),
            missed: true,
        };
        let mut out = BytesMut::new();
        encode_batch(&batch, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["messages"][0]["id"], "q7k2-41");
        assert_eq!(v["messages"][0]["data"], "he said \"hi\"");
        assert!(v["messages"][0].get("encoding").is_none());
        assert_eq!(v["messages"][1]["data"], "/wCA");
        assert_eq!(v["messages"][1]["encoding"], "base64");
        assert_eq!(v["next"], "q7k2-42");
        assert_eq!(v["missed"], true);
        assert_eq!(v.as_object().unwrap().len(), 3);

        let empty = Batch {
            messages: vec![],
            next: Id::new(e, 0),
            missed: false,
        };
        let mut out = BytesMut::new();
        encode_batch(&empty, &mut out);
        assert_eq!(
            &out[..],
            br#"{"messages":[],"next":"q7k2-0","missed":false}"#
        );
    }

    #[test]
    fn base64_of_every_length_decodes_back() {
        use base64::Engine as _;
        let e = Epoch::new("b").unwrap();
        for len in 1..40usize {
            let data: Vec<u8> = (0..len).map(|i| 0x80 | i as u8).collect();
            let mut out = BytesMut::new();
            encode_message(
                &Message::new(Id::new(e, 1), Bytes::from(data.clone())),
                &mut out,
            );
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(v["data"].as_str().unwrap())
                .unwrap();
            assert_eq!(decoded, data);
        }
    }

    #[test]
    fn binary_flag_keeps_utf8_bytes_as_base64() {
        let e = Epoch::new("w").unwrap();
        // A WebSocket binary message whose bytes are valid UTF-8 stays binary.
        let mut out = BytesMut::new();
        encode_message_parts(&Id::new(e, 3), b"hello", true, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"], "aGVsbG8=");
        assert_eq!(v["encoding"], "base64");
        // Text stays text; text that is not UTF-8 still falls back to base64.
        let mut out = BytesMut::new();
        encode_batch_parts(
            [
                (Id::new(e, 4), &b"hi"[..], false),
                (Id::new(e, 5), &b"\xff"[..], false),
                (Id::new(e, 6), &b""[..], true),
            ],
            &Id::new(e, 6),
            false,
            &mut out,
        );
        assert_eq!(
            &out[..],
            br#"{"messages":[{"id":"w-4","data":"hi"},{"id":"w-5","data":"/w==","encoding":"base64"},{"id":"w-6","data":"","encoding":"base64"}],"next":"w-6","missed":false}"#
        );
        // The Message path is unchanged: the bytes decide.
        let m = Message::new(Id::new(e, 7), Bytes::from_static(b"ok"));
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_message(&m, &mut a);
        encode_message_parts(&m.id, &m.data, false, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn published_and_error_bodies() {
        let mut out = BytesMut::new();
        encode_published(&Id::new(Epoch::new("ab").unwrap(), 7), &mut out);
        assert_eq!(&out[..], br#"{"id":"ab-7"}"#);
        let mut out = BytesMut::new();
        encode_error("invalid \"topic\"", &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"], "invalid \"topic\"");
    }
}
