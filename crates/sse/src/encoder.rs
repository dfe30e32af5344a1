//! The server side: events, comments and hints encoded once into [`Bytes`].
//!
//! Everything here is sans-IO and infallible at encode time: an [`Event`] can only hold
//! fields that survive the trip through a WHATWG parser, because its setters refuse the
//! rest ([`UsageError`]). Encode an event once with [`Event::to_bytes`] and hand the same
//! `Bytes` to every subscriber: cloning it is a reference-count increment.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use pushwire_http::ResponseHead;

use crate::error::{Error, UsageError};

/// One event to send: optional `id`, `event` type and `retry` hint, and data.
///
/// `data` may contain any text: each line break (LF, CRLF or a lone CR) starts a new
/// `data:` line, so a WHATWG parser hands back the same string with every line break
/// normalised to LF (SSE cannot carry a CR inside data: rules 4 and 51). Empty data and
/// trailing line breaks survive: `""` is sent as `data: ` and comes back as `""`, `"a\n"`
/// comes back as `"a\n"`. NUL is fine in data (rule 16; wpt format-null-character).
///
/// An event without data ([`Event::empty`]) encodes only its other fields: parsers update
/// the last event id and reconnection time but fire nothing (rules 21, 22).
///
/// ```
/// use pushwire_sse::Event;
/// let ev = Event::new("line 1\nline 2").with_id("q7k2-42")?.with_event("update")?;
/// assert_eq!(
///     &ev.to_bytes()[..],
///     b"event: update\nid: q7k2-42\ndata: line 1\ndata: line 2\n\n"
/// );
/// assert!(Event::new("x").with_id("a\nb").is_err());
/// # Ok::<(), pushwire_sse::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<Duration>,
}

impl Event {
    /// An event carrying `data` (type `message` unless [`Event::with_event`] says otherwise).
    pub fn new(data: impl Into<String>) -> Self {
        Event {
            data: Some(data.into()),
            ..Event::default()
        }
    }

    /// A block without data: only `id` / `event` / `retry` lines, nothing dispatched.
    pub fn empty() -> Self {
        Event::default()
    }

    /// Sets the data (see the type's docs for line breaks).
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the `id` field. Refused if it contains CR or LF (it would end the field, rule 51)
    /// or NUL (parsers ignore such an id, rule 17). An empty id is allowed: it resets the
    /// client's last event id.
    pub fn with_id(mut self, id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        if id.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(UsageError::IdLineBreak.into());
        }
        if id.bytes().any(|b| b == 0) {
            return Err(UsageError::IdNul.into());
        }
        self.id = Some(id);
        Ok(self)
    }

    /// Sets the `event` type. Refused if it contains CR or LF (rule 51). An empty type is
    /// received as `message` (rule 15).
    pub fn with_event(mut self, event: impl Into<String>) -> Result<Self, Error> {
        let event = event.into();
        if event.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(UsageError::EventTypeLineBreak.into());
        }
        self.event = Some(event);
        Ok(self)
    }

    /// Sets the `retry:` hint: the client's reconnection time from now on (rule 40), in
    /// whole milliseconds (sub-millisecond parts are dropped).
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The `id`, if set.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The `event` type, if set.
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The `retry` hint, if set.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Appends the encoded event, closing blank line included, to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let data_len = self.data.as_ref().map_or(0, String::len);
        dst.reserve(
            data_len
                + 32
                + self.id.as_ref().map_or(0, String::len)
                + self.event.as_ref().map_or(0, String::len),
        );
        if let Some(event) = &self.event {
            put_field(dst, b"event", event.as_bytes());
        }
        if let Some(id) = &self.id {
            put_field(dst, b"id", id.as_bytes());
        }
        if let Some(retry) = self.retry {
            put_retry(dst, retry);
        }
        if let Some(data) = &self.data {
            for line in split_lines(data.as_bytes()) {
                put_field(dst, b"data", line);
            }
        }
        dst.put_u8(b'\n');
    }

    /// The encoded event as shared bytes: encode once, send to every subscriber.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }
}

/// Writes `name: value\n`.
fn put_field(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.put_slice(name);
    // Always one space: the parser strips exactly one (rule 12), so a value that starts with
    // a space keeps it.
    dst.put_slice(b": ");
    dst.put_slice(value);
    dst.put_u8(b'\n');
}

fn put_retry(dst: &mut BytesMut, retry: Duration) {
    // Rule 18: ASCII digits only, base 10.
    put_field(dst, b"retry", retry.as_millis().to_string().as_bytes());
}

/// Splits at every LF, CRLF or lone CR (rule 4); `"a\n"` gives `["a", ""]`, `""` gives `[""]`.
fn split_lines(mut s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match s.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) => {
                let (line, rest) = s.split_at(i);
                s = match rest {
                    [b'\r', b'\n', tail @ ..] => tail,
                    [_, tail @ ..] => tail,
                    [] => rest,
                };
                Some(line)
            }
            None => {
                done = true;
                Some(s)
            }
        }
    })
}

/// A comment block: each line of `text` becomes one `:` line (comments are ignored by
/// parsers, rule 11; they keep idle connections alive through proxies, rule 49). No blank
/// line is added, so a comment never commits a half-sent event.
///
/// ```
/// assert_eq!(&pushwire_sse::comment("hi\nthere")[..], b": hi\n: there\n");
/// ```
pub fn comment(text: &str) -> Bytes {
    let mut dst = BytesMut::with_capacity(text.len() + 4);
    for line in split_lines(text.as_bytes()) {
        dst.put_slice(b": ");
        dst.put_slice(line);
        dst.put_u8(b'\n');
    }
    dst.freeze()
}

/// The keep-alive comment, `":\n"`: the smallest line a parser accepts and ignores
/// (rule 49: send one about every 15 s). Static: no allocation per send.
///
/// ```
/// assert_eq!(&pushwire_sse::keep_alive()[..], b":\n");
/// ```
pub fn keep_alive() -> Bytes {
    Bytes::from_static(b":\n")
}

/// A `retry:` hint on its own (`retry: MS\n\n`): sets the client's reconnection time
/// without firing an event (rules 18, 40, 53).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(&pushwire_sse::retry_hint(Duration::from_secs(3))[..], b"retry: 3000\n\n");
/// ```
pub fn retry_hint(retry: Duration) -> Bytes {
    let mut dst = BytesMut::with_capacity(16);
    put_retry(&mut dst, retry);
    dst.put_u8(b'\n');
    dst.freeze()
}

/// The header fields an event-stream response carries (rule 48, 50): the media type, no
/// caching anywhere, and `X-Accel-Buffering: no` so nginx-style proxies do not buffer the
/// stream. The status is 200.
pub const RESPONSE_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-store"),
    ("X-Accel-Buffering", "no"),
];

/// The head of an event-stream response: `200` with [`RESPONSE_HEADERS`]. Add more fields
/// (CORS, ...) through its `headers`, then write it with
/// [`pushwire_http::encode_response_head`].
///
/// ```
/// let head = pushwire_sse::response_head();
/// assert_eq!(head.status, 200);
/// assert_eq!(head.headers.get_str("content-type"), Some("text/event-stream"));
/// ```
pub fn response_head() -> ResponseHead {
    let mut head = ResponseHead::new(200);
    for (name, value) in RESPONSE_HEADERS {
        // Constant, valid fields: append cannot fail (a unit test checks all three land).
        let _ = head.headers.append(name, value);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(e: &Event) -> String {
        String::from_utf8(e.to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn data_line_breaks_become_data_lines() {
        assert_eq!(
            enc(&Event::new("a\r\nb\rc\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(enc(&Event::new("")), "data: \n\n");
        assert_eq!(enc(&Event::new("a\n")), "data: a\ndata: \n\n");
        assert_eq!(enc(&Event::new("\r\n")), "data: \ndata: \n\n");
        assert_eq!(enc(&Event::new(" x")), "data:  x\n\n");
    }

    #[test]
    fn rule_51_id_and_event_refuse_line_breaks_and_nul() {
        for bad in ["a\rb", "a\nb", "\r\n"] {
            assert_eq!(
                Event::new("").with_id(bad),
                Err(Error::Usage(UsageError::IdLineBreak))
            );
            assert_eq!(
                Event::new("").with_event(bad),
                Err(Error::Usage(UsageError::EventTypeLineBreak))
            );
        }
        assert_eq!(
            Event::new("").with_id("a\0"),
            Err(Error::Usage(UsageError::IdNul))
        );
        // NUL in an event type or data is fine: it round-trips.
        assert!(Event::new("\0").with_event("a\0").is_ok());
    }

    #[test]
    fn all_fields_and_empty_block() {
        let e = Event::new("d")
            .with_id("7")
            .unwrap()
            .with_event("t")
            .unwrap()
            .with_retry(Duration::from_millis(1500));
        assert_eq!(enc(&e), "event: t\nid: 7\nretry: 1500\ndata: d\n\n");
        assert_eq!(enc(&Event::empty().with_id("9").unwrap()), "id: 9\n\n");
        assert_eq!(e.id(), Some("7"));
        assert_eq!(e.event(), Some("t"));
        assert_eq!(e.data(), Some("d"));
        assert_eq!(e.retry(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn rule_48_response_head_has_all_headers() {
        let head = response_head();
        let mut out = BytesMut::new();
        pushwire_http::encode_response_head(&head, &mut out).unwrap();
        assert_eq!(
            &out[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nX-Accel-Buffering: no\r\n\r\n"
        );
    }

    #[test]
    fn comments_split_lines() {
        assert_eq!(&comment("")[..], b": \n");
        assert_eq!(&comment("a\r\nb")[..], b": a\n: b\n");
    }
}
