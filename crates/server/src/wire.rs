//! The server's view of the wire: request heads, body framing, response heads, and the SSE /
//! WebSocket encodings of a hub message.
//!
//! Everything here is sans-IO. It is the one seam between the server and the codec crates: the
//! connection handler only calls these functions, so a codec crate that lands or changes is
//! wired in here without touching the transports.

use bytes::{BufMut, Bytes, BytesMut};

use crate::hub::{Kind, Message};

/// An HTTP error that ends the connection with a status (`status()`), then close.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The head or body broke RFC 9112 or a limit (pushwire-http knows the status).
    #[error(transparent)]
    Http(#[from] pushwire_http::Error),
    /// The head (or body) did not arrive in time (408).
    #[error("request timed out")]
    Timeout,
    /// The peer closed in the middle of a request (400 if anyone is still listening).
    #[error("connection closed mid-request")]
    Eof,
}

impl HttpError {
    /// The status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Http(e) => e.status(),
            HttpError::Timeout => 408,
            HttpError::Eof => 400,
        }
    }
}

/// Limits the head parser and body decoder enforce (pushwire-http's).
pub type HeadLimits = pushwire_http::Limits;

/// A parsed request head, owned.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, as sent (case-sensitive).
    pub method: String,
    /// The whole request target.
    pub target: String,
    /// The path part of the target (before `?`), still percent-encoded.
    pub path: String,
    /// The query part (after `?`), still percent-encoded; empty when absent.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header fields in order, names lowercased.
    pub headers: Vec<(String, Bytes)>,
}

impl Request {
    /// Rebuilds pushwire-http's head (for the codecs that take one, like the WebSocket
    /// handshake).
    pub fn to_http(&self) -> pushwire_http::Request {
        let method =
            pushwire_http::Method::from_token(&self.method).unwrap_or(pushwire_http::Method::Get);
        let mut r = pushwire_http::Request::new(method, self.target.clone());
        if self.version == 0 {
            r.version = pushwire_http::Version::Http10;
        }
        for (n, v) in &self.headers {
            let _ = r.headers.append(n, v);
        }
        r
    }

    /// The server's view of a head parsed by pushwire-http.
    pub fn from_http(r: &pushwire_http::Request) -> Request {
        Request {
            method: r.method.as_str().to_string(),
            target: r.target.clone(),
            path: r.path().to_string(),
            query: r.query().unwrap_or("").to_string(),
            version: u8::from(r.version == pushwire_http::Version::Http11),
            headers: r
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), Bytes::copy_from_slice(v)))
                .collect(),
        }
    }
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &v[..])
    }

    /// The first value of header `name` as UTF-8 text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, split on commas, trimmed, lowercased (for `Connection`,
    /// `Upgrade`, `Transfer-Encoding`).
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let conn = self.tokens("connection");
        if self.version == 0 {
            conn.iter().any(|t| t == "keep-alive")
        } else {
            !conn.iter().any(|t| t == "close")
        }
    }

    /// The first decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // A broken escape or non-UTF-8 value is kept raw (lossy): it then fails the
            // parameter's own validation with a 400 instead of reading as "absent".
            (percent_decode(k.as_bytes(), true).as_deref() == Some(name.as_bytes())).then(|| {
                match percent_decode(v.as_bytes(), true) {
                    Some(d) => String::from_utf8(d)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                    None => v.to_string(),
                }
            })
        })
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus` is set); `None` on a broken escape.
pub fn percent_decode(s: &[u8], plus: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'%' => {
                let hi = s.get(i + 1).and_then(|c| (*c as char).to_digit(16))?;
                let lo = s.get(i + 2).and_then(|c| (*c as char).to_digit(16))?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Incremental head reader on pushwire-http's [`pushwire_http::HeadParser`] (linear time,
/// limits checked on bytes buffered whatever the TCP chunking).
#[derive(Debug)]
pub struct HeadReader {
    parser: pushwire_http::HeadParser,
}

impl HeadReader {
    /// A reader applying `limits`.
    pub fn new(limits: &HeadLimits) -> HeadReader {
        HeadReader {
            parser: pushwire_http::HeadParser::new(limits),
        }
    }

    /// Parses a complete head at the front of `buf`, removing it; `Ok(None)` = need more.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, HttpError> {
        match self.parser.parse_request(buf)? {
            pushwire_http::Status::Complete((req, len)) => {
                let _ = buf.split_to(len);
                Ok(Some(Request::from_http(&req)))
            }
            pushwire_http::Status::Partial => Ok(None),
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3), refusing every ambiguous form.
pub fn body_kind(req: &Request) -> Result<pushwire_http::BodyKind, HttpError> {
    // pushwire-http decides from its own head type; rebuild the framing headers only.
    let mut r = pushwire_http::Request::new(pushwire_http::Method::Post, "/");
    if req.version == 0 {
        r.version = pushwire_http::Version::Http10;
    }
    for (n, v) in &req.headers {
        if n == "content-length" || n == "transfer-encoding" {
            r.headers.append(n, v).map_err(HttpError::Http)?;
        }
    }
    Ok(pushwire_http::request_body_kind(&r)?)
}

/// Reason phrase for the statuses the server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a status line and headers (and the blank line) into `dst`, with pushwire-http's
/// encoder (which refuses header injection; every value here is ours or a checked echo).
pub fn encode_head(status: u16, headers: &[(&str, &str)], dst: &mut BytesMut) {
    let mut head = pushwire_http::ResponseHead::new(status);
    for (n, v) in headers {
        head = match head.header(n, v) {
            Ok(h) => h,
            Err(_) => pushwire_http::ResponseHead::new(500),
        };
    }
    if pushwire_http::encode_response_head(&head, dst).is_err() {
        dst.put_slice(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
    }
}

/// The SSE event for a message, encoded by pushwire-sse: `id:` then one `data:` line per
/// line of text; binary goes as base64 under `event: binary` (an event stream is UTF-8 only).
pub fn encode_sse_message(m: &Message) -> Bytes {
    let event = match (m.kind, std::str::from_utf8(&m.data)) {
        (Kind::Text, Ok(text)) => pushwire_sse::Event::new(text),
        _ => {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&m.data);
            match pushwire_sse::Event::new(b64.clone()).with_event("binary") {
                Ok(e) => e,
                Err(_) => pushwire_sse::Event::new(b64),
            }
        }
    };
    // Our ids are `[A-Za-z0-9]+-[0-9]+`: never a NUL or line break, so this cannot fail.
    match event.clone().with_id(m.id.to_string()) {
        Ok(e) => e.to_bytes(),
        Err(_) => event.to_bytes(),
    }
}

/// `data:` lines for `text`, split on CRLF, LF and CR, then the blank line that dispatches it.
pub fn encode_sse_event(event: &str, text: &str, out: &mut BytesMut) {
    let e = pushwire_sse::Event::new(text);
    match e.clone().with_event(event) {
        Ok(e) => e.encode(out),
        Err(_) => e.encode(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HeadLimits {
        HeadLimits::default()
            .with_max_head_bytes(1024)
            .with_max_headers(8)
            .with_max_uri_len(256)
    }

    fn parse_all(raw: &[u8]) -> Result<Option<Request>, HttpError> {
        let mut buf = BytesMut::from(raw);
        HeadReader::new(&limits()).parse(&mut buf)
    }

    #[test]
    fn rfc9112_s3_head_whole_and_split_at_every_byte() {
        let raw = b"GET /poll?topic=a&since=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nREST";
        let whole = parse_all(raw).unwrap().unwrap();
        assert_eq!(whole.path, "/poll");
        assert_eq!(whole.query_param("topic").as_deref(), Some("a"));
        assert!(!whole.keep_alive());
        for split in 1..raw.len() {
            let mut r = HeadReader::new(&limits());
            let mut buf = BytesMut::from(&raw[..split]);
            let mut got = r.parse(&mut buf).unwrap();
            buf.extend_from_slice(&raw[split..]);
            if got.is_none() {
                got = r.parse(&mut buf).unwrap();
            }
            assert_eq!(got.unwrap().target, whole.target);
            assert_eq!(&buf[..], b"REST");
        }
    }

    #[test]
    fn rfc9112_limits_and_errors_map_to_statuses() {
        let status = |raw: &[u8]| parse_all(raw).unwrap_err().status();
        assert_eq!(
            status(format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000)).as_bytes()),
            414
        );
        let many: String = (0..20).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()),
            431
        );
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    }

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "POST".into(),
            target: "/".into(),
            path: "/".into(),
            query: String::new(),
            version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
        }
    }

    #[test]
    fn rfc9112_s6_3_body_length_smuggling() {
        use pushwire_http::BodyKind::*;
        assert_eq!(
            body_kind(&req(&[("content-length", "5")])).unwrap(),
            Length(5)
        );
        let st = |h: &[(&str, &str)]| body_kind(&req(h)).unwrap_err().status();
        assert_eq!(st(&[("content-length", "5"), ("content-length", "6")]), 400);
        assert_eq!(st(&[("content-length", "+5")]), 400);
        assert_eq!(
            st(&[("transfer-encoding", "chunked"), ("content-length", "5")]),
            400
        );
        assert_eq!(
            body_kind(&req(&[("transfer-encoding", "chunked")])).unwrap(),
            Chunked
        );
        assert_eq!(st(&[("transfer-encoding", "gzip")]), 501);
    }

    #[test]
    fn whatwg_sse_data_lines() {
        let m = Message::new(
            crate::cursor::Epoch::new("e").unwrap(),
            3,
            Bytes::from_static(b"a\r\nb\nc\rd"),
        );
        assert_eq!(
            &encode_sse_message(&m)[..],
            b"id: e-3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        let m = Message::new(
            crate::cursor::Epoch::new("e").unwrap(),
            1,
            Bytes::from_static(b"\xff"),
        );
        assert_eq!(
            &encode_sse_message(&m)[..],
            b"event: binary\nid: e-1\ndata: /w==\n\n"
        );
    }
}
