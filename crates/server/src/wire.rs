//! The server's view of the wire: request heads, body framing, response heads, and the SSE /
//! WebSocket encodings of a hub message.
//!
//! Everything here is sans-IO. It is the one seam between the server and the codec crates: the
//! connection handler only calls these functions, so a codec crate that lands or changes is
//! wired in here without touching the transports.

use bytes::{BufMut, Bytes, BytesMut};

use crate::hub::{Kind, Message};

/// An HTTP error that ends the connection with a status (`status()`), then close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The head does not follow RFC 9112 syntax.
    #[error("malformed request head")]
    BadSyntax,
    /// Content-Length and Transfer-Encoding together, or several different Content-Lengths
    /// (request smuggling, RFC 9112 §6.3).
    #[error("ambiguous message body length")]
    AmbiguousLength,
    /// Bad chunked framing.
    #[error("malformed chunked body")]
    BadChunk,
    /// A transfer coding other than `chunked`.
    #[error("transfer coding not implemented")]
    UnknownCoding,
    /// Head larger than `max_head_bytes` or more fields than `max_headers`.
    #[error("request head too large")]
    HeadTooLarge,
    /// Request target longer than `max_uri_len`.
    #[error("request target too long")]
    UriTooLong,
    /// Body longer than `max_body`.
    #[error("request body too large")]
    BodyTooLarge,
    /// The head (or body) did not arrive in time.
    #[error("request timed out")]
    Timeout,
    /// Not HTTP/1.0 or HTTP/1.1.
    #[error("http version not supported")]
    Version,
    /// The peer closed in the middle of a request.
    #[error("connection closed mid-request")]
    Eof,
}

impl HttpError {
    /// The status this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            HttpError::BadSyntax
            | HttpError::AmbiguousLength
            | HttpError::BadChunk
            | HttpError::Eof => 400,
            HttpError::Timeout => 408,
            HttpError::BodyTooLarge => 413,
            HttpError::UriTooLong => 414,
            HttpError::HeadTooLarge => 431,
            HttpError::UnknownCoding => 501,
            HttpError::Version => 505,
        }
    }
}

/// Limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Request line + headers, bytes (-> 431).
    pub max_head_bytes: usize,
    /// Header fields (-> 431).
    pub max_headers: usize,
    /// Request target, bytes (-> 414).
    pub max_uri_len: usize,
}

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

/// Incremental head reader: remembers how far it scanned for the blank line, so a head that
/// trickles in byte by byte costs linear time, and checks the size limit on bytes buffered,
/// whatever the TCP chunking.
#[derive(Debug, Default)]
pub struct HeadReader {
    scanned: usize,
}

impl HeadReader {
    /// Parses a complete head at the front of `buf`, removing it; `Ok(None)` = need more.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &HeadLimits,
    ) -> Result<Option<Request>, HttpError> {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
        while buf.starts_with(b"\r\n") || buf.starts_with(b"\n") {
            let n = if buf.starts_with(b"\r\n") { 2 } else { 1 };
            let _ = buf.split_to(n);
            self.scanned = 0;
        }
        let start = self.scanned.saturating_sub(3);
        let end = find_head_end(&buf[start..]).map(|e| e + start);
        let Some(end) = end else {
            self.scanned = buf.len();
            if buf.len() > limits.max_head_bytes {
                return Err(over_limit_error(buf, limits));
            }
            return Ok(None);
        };
        self.scanned = 0;
        if end > limits.max_head_bytes {
            return Err(over_limit_error(buf, limits));
        }
        let head = buf.split_to(end);
        parse_head(&head, limits).map(Some)
    }
}

fn over_limit_error(buf: &[u8], limits: &HeadLimits) -> HttpError {
    // A request line that alone passes the URI limit is a 414, not a 431.
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if line_end > limits.max_uri_len {
        HttpError::UriTooLong
    } else {
        HttpError::HeadTooLarge
    }
}

/// End of the head (index after the blank line), accepting bare LF line ends.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn parse_head(head: &[u8], limits: &HeadLimits) -> Result<Request, HttpError> {
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HttpError::BadSyntax),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(httparse::Error::Version) => {
            // httparse only knows 1.x; a well-formed `HTTP/2.0` or `HTTP/1.2` line is a 505.
            return Err(if looks_like_other_version(head) {
                HttpError::Version
            } else {
                HttpError::BadSyntax
            });
        }
        Err(_) => return Err(HttpError::BadSyntax),
    }
    let method = req.method.ok_or(HttpError::BadSyntax)?.to_string();
    let target = req.path.ok_or(HttpError::BadSyntax)?.to_string();
    if target.len() > limits.max_uri_len {
        return Err(HttpError::UriTooLong);
    }
    let version = req.version.ok_or(HttpError::BadSyntax)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    if !(path.starts_with('/') || (method == "OPTIONS" && target == "*")) {
        return Err(HttpError::BadSyntax);
    }
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        headers.push((h.name.to_ascii_lowercase(), Bytes::copy_from_slice(h.value)));
    }
    let r = Request {
        method,
        target,
        path,
        query,
        version,
        headers,
    };
    // RFC 9112 §3.2: a 1.1 request without Host, or with several, is a 400.
    let hosts = r.headers.iter().filter(|(n, _)| n == "host").count();
    if (r.version == 1 && hosts != 1) || hosts > 1 {
        return Err(HttpError::BadSyntax);
    }
    Ok(r)
}

fn looks_like_other_version(head: &[u8]) -> bool {
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &head[..line_end.unwrap_or(head.len())];
    let Some(sp) = line.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    let v = &line[sp + 1..];
    v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit()
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Decides the body framing, refusing every ambiguous form a smuggler could use.
pub fn body_kind(req: &Request) -> Result<BodyKind, HttpError> {
    let te: Vec<&Bytes> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v)
        .collect();
    let cl: Vec<&Bytes> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v)
        .collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err(HttpError::AmbiguousLength);
        }
        if req.version == 0 {
            return Err(HttpError::BadSyntax);
        }
        let codings = req.tokens("transfer-encoding");
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(BodyKind::Chunked),
            list if list.last().is_some_and(|c| c == "chunked") => Err(HttpError::UnknownCoding),
            list if list.iter().all(|c| c.bytes().all(is_tchar)) && !list.is_empty() => {
                Err(HttpError::UnknownCoding)
            }
            _ => Err(HttpError::BadSyntax),
        };
    }
    let mut len: Option<u64> = None;
    for v in cl {
        for part in v.split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::BadSyntax);
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(HttpError::BadSyntax)?;
            if len.is_some_and(|l| l != n) {
                return Err(HttpError::AmbiguousLength);
            }
            len = Some(n);
        }
    }
    Ok(match len {
        None | Some(0) => BodyKind::Empty,
        Some(n) => BodyKind::Length(n),
    })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Sans-IO body decoder with a hard size limit.
#[derive(Debug)]
pub struct BodyDecoder {
    state: BodyState,
    limit: usize,
    total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// `Length` bytes left.
    Length(u64),
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes left.
    Data(u64),
    /// After chunk data: expect CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    Done,
}

/// Longest chunk-size line (size + extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Longest trailer section accepted.
const MAX_TRAILER: usize = 16 * 1024;

impl BodyDecoder {
    /// A decoder for `kind`, failing with `BodyTooLarge` past `limit` body bytes.
    pub fn new(kind: BodyKind, limit: usize) -> Result<BodyDecoder, HttpError> {
        let state = match kind {
            BodyKind::Empty => BodyState::Done,
            BodyKind::Length(n) if n > limit as u64 => return Err(HttpError::BodyTooLarge),
            BodyKind::Length(n) => BodyState::Length(n),
            BodyKind::Chunked => BodyState::Size,
        };
        Ok(BodyDecoder {
            state,
            limit,
            total: 0,
        })
    }

    /// Whether the whole body was read.
    pub fn is_done(&self) -> bool {
        self.state == BodyState::Done
    }

    /// Moves body bytes from `src` to `out`; returns `Ok(true)` when the body is complete.
    pub fn decode(&mut self, src: &mut BytesMut, out: &mut BytesMut) -> Result<bool, HttpError> {
        let mut trailer_bytes = 0usize;
        loop {
            match self.state {
                BodyState::Done => return Ok(true),
                BodyState::Length(left) => {
                    let n = (src.len() as u64).min(left) as usize;
                    out.extend_from_slice(&src.split_to(n));
                    self.state = if left == n as u64 {
                        BodyState::Done
                    } else {
                        BodyState::Length(left - n as u64)
                    };
                    if self.state != BodyState::Done {
                        return Ok(false);
                    }
                }
                BodyState::Size => {
                    let Some(nl) = src.iter().position(|&b| b == b'\n') else {
                        if src.len() > MAX_CHUNK_LINE {
                            return Err(HttpError::BadChunk);
                        }
                        return Ok(false);
                    };
                    if nl > MAX_CHUNK_LINE || nl == 0 || src[nl - 1] != b'\r' {
                        return Err(HttpError::BadChunk);
                    }
                    let line = src.split_to(nl + 1);
                    let line = &line[..nl - 1];
                    let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
                    if size_part.is_empty()
                        || size_part.len() > 16
                        || !size_part.iter().all(u8::is_ascii_hexdigit)
                    {
                        return Err(HttpError::BadChunk);
                    }
                    if line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
                        return Err(HttpError::BadChunk);
                    }
                    let size = std::str::from_utf8(size_part)
                        .ok()
                        .and_then(|s| u64::from_str_radix(s, 16).ok())
                        .ok_or(HttpError::BadChunk)?;
                    if size == 0 {
                        self.state = BodyState::Trailer;
                    } else {
                        if size > (self.limit - self.total) as u64 {
                            return Err(HttpError::BodyTooLarge);
                        }
                        self.total += size as usize;
                        self.state = BodyState::Data(size);
                    }
                }
                BodyState::Data(left) => {
                    let n = (src.len() as u64).min(left) as usize;
                    out.extend_from_slice(&src.split_to(n));
                    if left == n as u64 {
                        self.state = BodyState::DataEnd;
                    } else {
                        self.state = BodyState::Data(left - n as u64);
                        return Ok(false);
                    }
                }
                BodyState::DataEnd => {
                    if src.len() < 2 {
                        return Ok(false);
                    }
                    if &src[..2] != b"\r\n" {
                        return Err(HttpError::BadChunk);
                    }
                    let _ = src.split_to(2);
                    self.state = BodyState::Size;
                }
                BodyState::Trailer => {
                    let Some(nl) = src.iter().position(|&b| b == b'\n') else {
                        if src.len() > MAX_TRAILER {
                            return Err(HttpError::HeadTooLarge);
                        }
                        return Ok(false);
                    };
                    trailer_bytes += nl + 1;
                    if trailer_bytes > MAX_TRAILER || nl == 0 || src[nl - 1] != b'\r' {
                        return Err(HttpError::BadChunk);
                    }
                    let line = src.split_to(nl + 1);
                    if line.len() == 2 {
                        self.state = BodyState::Done;
                    }
                }
            }
        }
    }
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

/// Writes a status line and headers (and the blank line) into `dst`.
pub fn encode_head(status: u16, headers: &[(&str, &str)], dst: &mut BytesMut) {
    dst.reserve(
        64 + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>(),
    );
    dst.put_slice(b"HTTP/1.1 ");
    dst.put_slice(status.to_string().as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(reason(status).as_bytes());
    dst.put_slice(b"\r\n");
    for (n, v) in headers {
        dst.put_slice(n.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(v.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// The SSE event for a message: `id:` then one `data:` line per line of text; binary goes as
/// base64 under `event: binary` (an event stream is UTF-8 only).
pub fn encode_sse_message(m: &Message) -> Bytes {
    let mut out = BytesMut::with_capacity(m.data.len() + m.id.len() + 16);
    out.put_slice(b"id: ");
    out.put_slice(m.id.as_bytes());
    out.put_u8(b'\n');
    match m.kind {
        Kind::Text => {
            let text = std::str::from_utf8(&m.data).unwrap_or("");
            encode_sse_data(text, &mut out);
        }
        Kind::Binary => {
            use base64::Engine as _;
            out.put_slice(b"event: binary\ndata: ");
            out.put_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(&m.data)
                    .as_bytes(),
            );
            out.put_u8(b'\n');
        }
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// `data:` lines for `text`, split on CRLF, LF and CR (WHATWG: a value holds no line break).
pub fn encode_sse_data(text: &str, out: &mut BytesMut) {
    let mut rest = text;
    loop {
        let cut = rest.find(['\r', '\n']);
        let (line, after) = match cut {
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..i], Some(&rest[i + skip..]))
            }
            None => (rest, None),
        };
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
        match after {
            Some(a) => rest = a,
            None => break,
        }
    }
}

/// An unmasked, final WebSocket data frame (RFC 6455 §5.2): text or binary.
pub fn encode_ws_data(text: bool, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    encode_ws_frame(if text { 0x1 } else { 0x2 }, payload, &mut out);
    out.freeze()
}

/// An unmasked final frame with `opcode`.
pub fn encode_ws_frame(opcode: u8, payload: &[u8], out: &mut BytesMut) {
    out.put_u8(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    out.put_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: HeadLimits = HeadLimits {
        max_head_bytes: 1024,
        max_headers: 8,
        max_uri_len: 256,
    };

    fn parse_all(raw: &[u8]) -> Result<Option<Request>, HttpError> {
        let mut buf = BytesMut::from(raw);
        HeadReader::default().parse(&mut buf, &L)
    }

    #[test]
    fn rfc9112_s3_head_whole_and_split_at_every_byte() {
        let raw = b"GET /poll?topic=a&since=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nREST";
        let whole = parse_all(raw).unwrap().unwrap();
        assert_eq!(whole.path, "/poll");
        assert_eq!(whole.query_param("topic").as_deref(), Some("a"));
        assert!(!whole.keep_alive());
        for split in 1..raw.len() {
            let mut r = HeadReader::default();
            let mut buf = BytesMut::from(&raw[..split]);
            let mut got = r.parse(&mut buf, &L).unwrap();
            buf.extend_from_slice(&raw[split..]);
            if got.is_none() {
                got = r.parse(&mut buf, &L).unwrap();
            }
            assert_eq!(got.unwrap().target, whole.target);
            assert_eq!(&buf[..], b"REST");
        }
    }

    #[test]
    fn rfc9112_limits_and_errors() {
        assert_eq!(
            parse_all(format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000)).as_bytes()).unwrap_err(),
            HttpError::UriTooLong
        );
        let many: String = (0..20).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            parse_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()).unwrap_err(),
            HttpError::HeadTooLarge
        );
        assert_eq!(
            parse_all(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").unwrap_err(),
            HttpError::Version
        );
        assert_eq!(
            parse_all(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            HttpError::BadSyntax
        );
        assert_eq!(
            parse_all(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
            HttpError::BadSyntax
        );
        assert_eq!(
            parse_all(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            HttpError::BadSyntax
        );
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
        use BodyKind::*;
        assert_eq!(body_kind(&req(&[("content-length", "5")])), Ok(Length(5)));
        assert_eq!(
            body_kind(&req(&[("content-length", "5, 5")])),
            Ok(Length(5))
        );
        assert_eq!(
            body_kind(&req(&[("content-length", "5"), ("content-length", "6")])),
            Err(HttpError::AmbiguousLength)
        );
        for bad in ["+5", "-1", "0x5", "", "5 5", "99999999999999999999"] {
            assert_eq!(
                body_kind(&req(&[("content-length", bad)])),
                Err(HttpError::BadSyntax),
                "{bad}"
            );
        }
        assert_eq!(
            body_kind(&req(&[
                ("transfer-encoding", "chunked"),
                ("content-length", "5")
            ])),
            Err(HttpError::AmbiguousLength)
        );
        assert_eq!(
            body_kind(&req(&[("transfer-encoding", "chunked")])),
            Ok(Chunked)
        );
        assert_eq!(
            body_kind(&req(&[("transfer-encoding", "gzip, chunked")])),
            Err(HttpError::UnknownCoding)
        );
        assert_eq!(
            body_kind(&req(&[("transfer-encoding", "chunked, chunked")])),
            Err(HttpError::UnknownCoding)
        );
        assert_eq!(
            body_kind(&req(&[("transfer-encoding", "\"chunked\"")])),
            Err(HttpError::BadSyntax)
        );
    }

    #[test]
    fn rfc9112_s7_1_chunked_whole_and_split() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: y\r\n\r\nNEXT";
        for split in 0..=raw.len() {
            let mut d = BodyDecoder::new(BodyKind::Chunked, 100).unwrap();
            let mut out = BytesMut::new();
            let mut src = BytesMut::from(&raw[..split]);
            let mut done = d.decode(&mut src, &mut out).unwrap();
            src.extend_from_slice(&raw[split..]);
            if !done {
                done = d.decode(&mut src, &mut out).unwrap();
            }
            assert!(done);
            assert_eq!(&out[..], b"hello world");
            assert_eq!(&src[..], b"NEXT");
        }
    }

    #[test]
    fn chunked_errors_and_limits() {
        for bad in [
            &b"5\r\nhelloXX"[..],
            b"g\r\n",
            b"\r\n",
            b"5\n",
            b"11111111111111111\r\n",
        ] {
            let mut d = BodyDecoder::new(BodyKind::Chunked, 100).unwrap();
            let r = d.decode(&mut BytesMut::from(bad), &mut BytesMut::new());
            assert!(r.is_err(), "{bad:?}");
        }
        let mut d = BodyDecoder::new(BodyKind::Chunked, 4).unwrap();
        assert_eq!(
            d.decode(&mut BytesMut::from(&b"5\r\n"[..]), &mut BytesMut::new()),
            Err(HttpError::BodyTooLarge)
        );
        assert_eq!(
            BodyDecoder::new(BodyKind::Length(5), 4).unwrap_err(),
            HttpError::BodyTooLarge
        );
    }

    #[test]
    fn whatwg_sse_data_lines() {
        let m = Message::new("e", 3, Bytes::from_static(b"a\r\nb\nc\rd"));
        assert_eq!(
            &encode_sse_message(&m)[..],
            b"id: e-3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        let m = Message::new("e", 1, Bytes::from_static(b"\xff"));
        assert_eq!(
            &encode_sse_message(&m)[..],
            b"id: e-1\nevent: binary\ndata: /w==\n\n"
        );
    }

    #[test]
    fn rfc6455_s5_2_lengths() {
        assert_eq!(&encode_ws_data(true, b"hi")[..], b"\x81\x02hi");
        let f = encode_ws_data(false, &[0; 200]);
        assert_eq!(&f[..4], &[0x82, 126, 0, 200]);
        let f = encode_ws_data(false, &vec![0; 70_000]);
        assert_eq!(&f[..2], &[0x82, 127]);
        assert_eq!(f.len(), 70_000 + 10);
    }
}
