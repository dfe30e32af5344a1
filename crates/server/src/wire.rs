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
        Request::from_http_owned(r.clone())
    }

    /// As [`Request::from_http`], taking the head by value: the target moves instead of being
    /// copied, and every header value shares one buffer (one allocation, not one per field).
    fn from_http_owned(r: pushwire_http::Request) -> Request {
        let path = r.path().to_string();
        let query = r.query().unwrap_or("").to_string();
        let total = r.headers.iter().map(|(_, v)| v.len()).sum();
        let mut values = BytesMut::with_capacity(total);
        for (_, v) in r.headers.iter() {
            values.extend_from_slice(v);
        }
        let mut values = values.freeze();
        let headers = r
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), values.split_to(v.len())))
            .collect();
        Request {
            method: r.method.as_str().to_string(),
            version: u8::from(r.version == pushwire_http::Version::Http11),
            target: r.target,
            path,
            query,
            headers,
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

    /// Whether some value of header `name` (lowercase) lists `token` (comma-separated,
    /// compared case-insensitively), without allocating.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        if self.version == 0 {
            self.has_token("connection", "keep-alive")
        } else {
            !self.has_token("connection", "close")
        }
    }

    /// Whether the request announces a body (`Content-Length` or `Transfer-Encoding`); a GET
    /// without either skips body framing altogether.
    pub fn has_body_headers(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n == "content-length" || n == "transfer-encoding")
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
                Ok(Some(Request::from_http_owned(req)))
            }
            pushwire_http::Status::Partial => Ok(None),
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3), refusing every ambiguous form.
pub fn body_kind(req: &Request) -> Result<pushwire_http::BodyKind, HttpError> {
    // Neither header: no body (§6.3 rule 7 for requests), nothing to check.
    if !req.has_body_headers() {
        return Ok(pushwire_http::BodyKind::None);
    }
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

/// What goes out instead of a head that could not be encoded safely.
const FALLBACK_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n";

/// Writes a status line and headers (and the blank line) into `dst`. A field that could
/// inject anything (see `put_field`) turns the whole head into a bodiless 500.
pub fn encode_head(status: u16, headers: &[(&str, &str)], dst: &mut BytesMut) {
    let start = dst.len();
    put_status_line(status, dst);
    for (n, v) in headers {
        if !put_field(n, v.as_bytes(), dst) {
            return fallback_500(start, dst);
        }
    }
    dst.put_slice(b"\r\n");
}

/// Replaces whatever was written from `start` on with a bodiless 500.
pub(crate) fn fallback_500(start: usize, dst: &mut BytesMut) {
    dst.truncate(start);
    dst.put_slice(FALLBACK_500);
}

/// Appends `HTTP/1.1 NNN Reason\r\n` (the canonical reason phrase of pushwire-http). Written
/// straight into the connection's write buffer: the per-response `ResponseHead` (two
/// vectors) and the string copies around it were a quarter of a keep-alive GET's
/// allocations.
pub(crate) fn put_status_line(status: u16, dst: &mut BytesMut) {
    let s = status.clamp(100, 999);
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
        b' ',
    ]);
    dst.put_slice(pushwire_http::reason_phrase(s).as_bytes());
    dst.put_slice(b"\r\n");
}

/// Appends `name: value\r\n`, or nothing and `false` when the field could inject: a name
/// that is not a token, or a value with a control byte other than HTAB (CR, LF and NUL
/// among them; RFC 9110 §5.5). Every name here is ours; values are ours or checked echoes.
pub(crate) fn put_field(name: &str, value: &[u8], dst: &mut BytesMut) -> bool {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value_ok = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
    if !(name_ok && value_ok) {
        return false;
    }
    dst.put_slice(name.as_bytes());
    dst.put_slice(b": ");
    dst.put_slice(value);
    dst.put_slice(b"\r\n");
    true
}

/// Appends `n` in decimal without going through `fmt` (no `String`, no formatter).
pub(crate) fn put_decimal(mut n: u64, dst: &mut BytesMut) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&digits[i..]);
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
    fn rfc9110_s5_5_heads_refuse_injection_and_encode_numbers() {
        let mut out = BytesMut::new();
        encode_head(
            200,
            &[("Content-Type", "text/plain"), ("X", "a\tb")],
            &mut out,
        );
        assert_eq!(
            &out[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX: a\tb\r\n\r\n"
        );
        for bad in ["a\r\nSet-Cookie: x", "a\nb", "a\0b", "a\rb"] {
            let mut out = BytesMut::from(&b"before"[..]);
            encode_head(200, &[("X-Echo", bad)], &mut out);
            assert_eq!(&out[..6], b"before");
            assert_eq!(&out[6..], FALLBACK_500);
        }
        let mut out = BytesMut::new();
        encode_head(200, &[("Bad Name", "v")], &mut out);
        assert_eq!(&out[..], FALLBACK_500);
        for n in [0u64, 7, 10, 99, 174, 1_000_000, u64::MAX] {
            let mut out = BytesMut::new();
            put_decimal(n, &mut out);
            assert_eq!(&out[..], n.to_string().as_bytes());
        }
    }

    #[test]
    fn rfc9110_s7_6_1_connection_tokens() {
        let mut r = req(&[("connection", "Upgrade, CLOSE "), ("content-length", "0")]);
        r.method = "GET".into();
        assert!(r.has_token("connection", "close"));
        assert!(r.has_token("connection", "upgrade"));
        assert!(!r.has_token("connection", "keep-alive"));
        assert!(!r.keep_alive());
        assert!(r.has_body_headers());
        r.version = 0;
        assert!(!r.keep_alive());
        let r10 = Request {
            version: 0,
            ..req(&[("connection", "keep-alive")])
        };
        assert!(r10.keep_alive() && !r10.has_body_headers());
        assert_eq!(body_kind(&r10).unwrap(), pushwire_http::BodyKind::None);
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
