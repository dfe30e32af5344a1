//! The server's view of the wire: request heads, body framing, response heads, and the SSE /
//! WebSocket encodings of a hub message.
//!
//! Everything here is sans-IO. It is the one seam between the server and the codec crates: the
//! connection handler only calls these functions, so a codec crate that lands or changes is
//! wired in here without touching the transports.

use std::borrow::Cow;

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
        query_param_in(&self.query, name).map(Cow::into_owned)
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

impl HeadReader {
    /// Parses a complete head at the front of `buf` without copying it: the head's bytes
    /// leave `buf` as one shared [`Bytes`] (the whole buffer, without a copy or allocation,
    /// when the head is all it holds) and [`Head`] keeps positions into them. `Ok(None)` =
    /// need more. Same limits, checks and errors as [`HeadReader::parse`].
    pub(crate) fn parse_head(&mut self, buf: &mut BytesMut) -> Result<Option<Head>, HttpError> {
        let (base, len) = (buf.as_ptr() as usize, buf.len());
        let parsed = self
            .parser
            .parse_request_ref(buf, |r| Spans::of(r, base, len))?;
        match parsed {
            pushwire_http::Status::Complete((spans, len)) => {
                let bytes = if len >= buf.len() {
                    std::mem::take(buf).freeze()
                } else {
                    buf.split_to(len).freeze()
                };
                Ok(Some(Head { bytes, spans }))
            }
            pushwire_http::Status::Partial => Ok(None),
        }
    }

    /// Whether `buf` starts with a complete request head, i.e. the next request can be
    /// answered without waiting for the peer. The scan is remembered, so the parse that
    /// follows does not look at these bytes again; a broken head answers `false` (and its
    /// parse reports the error).
    pub(crate) fn has_complete_head(&mut self, buf: &[u8]) -> bool {
        matches!(
            self.parser.scan_request(buf),
            Ok(pushwire_http::Status::Complete(_))
        )
    }
}

/// A byte range in a [`Head`]: `u32` keeps the head small (the connection clamps
/// `max_head_bytes` to 4 GiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `s`, a slice of the `len` bytes at `base`, lies in them; `None` for a slice of
    /// something else (pushwire-http answers `/` for an absolute-form target's empty path).
    fn within(s: &[u8], base: usize, len: usize) -> Option<Span> {
        let start = (s.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(s.len())?;
        if end > len {
            return None;
        }
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    fn of(s: &[u8], base: usize, len: usize) -> Span {
        Span::within(s, base, len).unwrap_or_default()
    }

    fn get(self, bytes: &[u8]) -> &[u8] {
        bytes
            .get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }
}

/// The path of an absolute-form target with an empty path, which pushwire-http answers as a
/// `/` of its own rather than a slice of the head: a span no slice has (it ends before it
/// starts), so that the path needs no `Option` (four bytes of [`Head`]).
const ROOT_PATH: Span = Span { start: 1, end: 0 };

/// A header field kept inline: the spans of its name and value as 16-bit positions, which
/// any field within the first 64 KiB of a head has (the default `max_head_bytes` is 16 KiB).
/// Half the size of two [`Span`]s: with four of them a [`Head`] is 128 bytes, and the
/// compiler moves a value that small with a few vector moves instead of a `memcpy` call. A
/// head is moved several times on its way from the parser to its handler (returned from the
/// parse, from `read_head`, into `dispatch`'s future): at 168 bytes those calls were most of
/// the pipelined-GET profile's `memcpy`.
#[derive(Debug, Clone, Copy, Default)]
struct ShortField([u16; 4]);

impl ShortField {
    /// `None` when a position does not fit in 16 bits.
    fn of((name, value): (Span, Span)) -> Option<ShortField> {
        let short = |x: u32| u16::try_from(x).ok();
        Some(ShortField([
            short(name.start)?,
            short(name.end)?,
            short(value.start)?,
            short(value.end)?,
        ]))
    }

    fn spans(self) -> (Span, Span) {
        let [a, b, c, d] = self.0.map(u32::from);
        (Span { start: a, end: b }, Span { start: c, end: d })
    }
}

/// Header fields kept inline: a benchmark GET has one, curl three (more go to the heap, one
/// allocation). Four keeps the connection's future at its size before (its unit test).
const INLINE_FIELDS: usize = 4;

/// Where the parts of a head lie in its bytes.
#[derive(Debug, Clone)]
struct Spans {
    method: Span,
    target: Span,
    /// [`ROOT_PATH`]: the path is `/` (absolute-form target with an empty path).
    path: Span,
    query: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    version: u8,
    inline: [ShortField; INLINE_FIELDS],
    inline_len: u8,
    /// Some `Connection` value lists `close` / `keep-alive`; some field is `Content-Length`
    /// or `Transfer-Encoding` (looked at once, in the pass that records the fields: every
    /// request asks all three).
    conn_close: bool,
    conn_keep_alive: bool,
    framing: bool,
    /// Every field, when there are more than fit inline (or one lies past 64 KiB).
    spilled: Vec<(Span, Span)>,
}

impl Spans {
    fn of(r: &pushwire_http::RequestRef<'_, '_>, base: usize, len: usize) -> Spans {
        let (path, query) = r.path_and_query();
        let mut s = Spans {
            method: Span::of(r.method().as_bytes(), base, len),
            target: Span::of(r.target().as_bytes(), base, len),
            path: Span::within(path.as_bytes(), base, len).unwrap_or(ROOT_PATH),
            query: query.map_or_else(Span::default, |q| Span::of(q.as_bytes(), base, len)),
            version: u8::from(r.version() == pushwire_http::Version::Http11),
            inline: [ShortField::default(); INLINE_FIELDS],
            inline_len: 0,
            conn_close: false,
            conn_keep_alive: false,
            framing: false,
            spilled: Vec::new(),
        };
        // The flags are noted in the pass that records the spans: every request asks them.
        let (mut close, mut keep_alive, mut framing) = (false, false, false);
        let mut fields = r.headers().map(|(n, v)| {
            let n = n.as_bytes();
            if n.eq_ignore_ascii_case(b"connection") {
                for t in v.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    close |= t.eq_ignore_ascii_case(b"close");
                    keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if n.eq_ignore_ascii_case(b"content-length")
                || n.eq_ignore_ascii_case(b"transfer-encoding")
            {
                framing = true;
            }
            (Span::of(n, base, len), Span::of(v, base, len))
        });
        if r.header_count() <= INLINE_FIELDS {
            let mut n = 0;
            while let Some(f) = fields.next() {
                match (ShortField::of(f), s.inline.get_mut(n)) {
                    (Some(short), Some(slot)) => {
                        *slot = short;
                        n += 1;
                    }
                    // A field past 64 KiB: every field goes to the heap, in order.
                    _ => {
                        let kept = s.inline.iter().take(n).map(|f| f.spans());
                        s.spilled = kept.chain([f]).chain(fields.by_ref()).collect();
                        n = 0;
                        break;
                    }
                }
            }
            s.inline_len = n as u8;
        } else {
            s.spilled = fields.by_ref().collect();
        }
        drop(fields);
        (s.conn_close, s.conn_keep_alive, s.framing) = (close, keep_alive, framing);
        s
    }

    /// Every field's name and value spans, in order (one of the two parts is empty).
    fn fields(&self) -> impl Iterator<Item = (Span, Span)> + '_ {
        let inline = self.inline.get(..usize::from(self.inline_len));
        let inline = inline.unwrap_or(&[]).iter().map(|f| f.spans());
        self.spilled.iter().copied().chain(inline)
    }
}

/// A request head as the connection's own routes read it: the bytes it arrived in, shared,
/// and where its parts lie. Nothing is copied, decoded or lower-cased until asked for (the
/// owned [`Request`], with its `String`s and lower-cased names, cost about ten allocations
/// per request on top of pushwire-http's owned head: most of a keep-alive GET's parse).
/// [`Head::to_request`] makes the owned form for the handlers that keep a request (files,
/// the WebSocket and SSE hand-offs, once per connection).
#[derive(Debug, Clone)]
pub(crate) struct Head {
    bytes: Bytes,
    spans: Spans,
}

impl Head {
    fn text(&self, span: Span) -> &str {
        // httparse admitted only ASCII tokens and visible ASCII in the target: always UTF-8.
        std::str::from_utf8(span.get(&self.bytes)).unwrap_or("")
    }

    /// The method, as sent.
    pub(crate) fn method(&self) -> &str {
        self.method_str()
    }

    /// The path (before `?`), still percent-encoded.
    pub(crate) fn path(&self) -> &str {
        if self.spans.path == ROOT_PATH {
            "/"
        } else {
            self.text(self.spans.path)
        }
    }

    /// [`Head::path`] as bytes, without the UTF-8 check (for routing).
    pub(crate) fn path_bytes(&self) -> &[u8] {
        if self.spans.path == ROOT_PATH {
            b"/"
        } else {
            self.spans.path.get(&self.bytes)
        }
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) fn version(&self) -> u8 {
        self.spans.version
    }

    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans
            .fields()
            .map(|(n, v)| (n.get(&self.bytes), v.get(&self.bytes)))
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub(crate) fn keep_alive(&self) -> bool {
        if self.spans.version == 0 {
            self.spans.conn_keep_alive
        } else {
            !self.spans.conn_close
        }
    }

    /// The owned request, and the head gone with it: a long-lived handler (a stream) that
    /// kept the head beside its request would hold its bytes for the connection's life.
    pub(crate) fn into_request(self) -> Request {
        self.to_request()
    }

    /// The owned request (names lower-cased, values sharing the head's bytes).
    pub(crate) fn to_request(&self) -> Request {
        let text = |s: Span| self.text(s).to_string();
        Request {
            method: text(self.spans.method),
            target: text(self.spans.target),
            path: self.path().to_string(),
            query: text(self.spans.query),
            version: self.spans.version,
            headers: self
                .spans
                .fields()
                .map(|(n, v)| {
                    let name = String::from_utf8_lossy(n.get(&self.bytes)).to_ascii_lowercase();
                    let (a, b) = (v.start as usize, v.end as usize);
                    let value = if a <= b && b <= self.bytes.len() {
                        self.bytes.slice(a..b)
                    } else {
                        Bytes::new()
                    };
                    (name, value)
                })
                .collect(),
        }
    }
}

/// What the routes read of a request, from either form: the owned [`Request`] or the
/// connection's borrowed [`Head`]. Header names are asked for in lower case.
pub(crate) trait HeadView {
    /// The method, as sent.
    fn method_str(&self) -> &str;
    /// The first value of header `name`.
    fn first_header(&self, name: &str) -> Option<&[u8]>;
    /// The first decoded value of query parameter `name` (borrowed when nothing needed
    /// decoding).
    fn param(&self, name: &str) -> Option<Cow<'_, str>>;
    /// Whether the request announces a body (`Content-Length` or `Transfer-Encoding`).
    fn announces_body(&self) -> bool;
    /// pushwire-http's head with only the framing fields, for [`pushwire_http::request_body_kind`].
    fn framing_head(&self) -> Result<pushwire_http::Request, HttpError>;
    /// The access token (`Authorization: Bearer`, else `token=`).
    #[cfg(feature = "auth")]
    fn token(&self) -> Option<String>;

    /// The first value of header `name` as UTF-8 text.
    fn first_header_str(&self, name: &str) -> Option<&str> {
        self.first_header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn framing_head_of<'a>(
    version: u8,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<pushwire_http::Request, HttpError> {
    let mut r = pushwire_http::Request::new(pushwire_http::Method::Post, "/");
    if version == 0 {
        r.version = pushwire_http::Version::Http10;
    }
    for (n, v) in fields {
        for name in ["content-length", "transfer-encoding"] {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                r.headers.append(name, v).map_err(HttpError::Http)?;
            }
        }
    }
    Ok(r)
}

impl HeadView for Head {
    fn method_str(&self) -> &str {
        self.text(self.spans.method)
    }
    fn first_header(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
    fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        query_param_in(self.text(self.spans.query), name)
    }
    fn announces_body(&self) -> bool {
        self.spans.framing
    }
    fn framing_head(&self) -> Result<pushwire_http::Request, HttpError> {
        framing_head_of(self.spans.version, self.fields())
    }
    #[cfg(feature = "auth")]
    fn token(&self) -> Option<String> {
        crate::auth::token_of(&self.to_request())
    }
}

impl HeadView for Request {
    fn method_str(&self) -> &str {
        &self.method
    }
    fn first_header(&self, name: &str) -> Option<&[u8]> {
        self.header(name)
    }
    fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        query_param_in(&self.query, name)
    }
    fn announces_body(&self) -> bool {
        self.has_body_headers()
    }
    fn framing_head(&self) -> Result<pushwire_http::Request, HttpError> {
        framing_head_of(
            self.version,
            self.headers.iter().map(|(n, v)| (n.as_bytes(), &v[..])),
        )
    }
    #[cfg(feature = "auth")]
    fn token(&self) -> Option<String> {
        crate::auth::token_of(self)
    }
}

/// The first decoded value of parameter `name` in `query`: borrowed when neither name nor
/// value holds an escape or `+`. A broken escape or non-UTF-8 value is kept raw (lossy): it
/// then fails the parameter's own validation with a 400 instead of reading as "absent".
fn query_param_in<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    // Byte searches instead of `str::split`: three or four lookups per long poll (topic,
    // since, timeout, token) made this a seventh of its user-space instructions. `name` is
    // always ours and plain, so a key equal to it matches as it is, and only a key holding
    // an escape or `+` can decode to it.
    let escaped = |s: &[u8]| s.iter().any(|&b| b == b'%' || b == b'+');
    let mut at = 0;
    for pair in query.as_bytes().split(|&b| b == b'&') {
        let start = at;
        at += pair.len() + 1;
        let eq = pair.iter().position(|&b| b == b'=');
        let k = eq.map_or(pair, |i| pair.get(..i).unwrap_or(pair));
        let matches = k == name.as_bytes()
            || (escaped(k) && percent_decode(k, true).as_deref() == Some(name.as_bytes()));
        if !matches {
            continue;
        }
        // `&` and `=` are ASCII, so these offsets are char boundaries of `query`.
        let v = match eq {
            Some(i) => query.get(start + i + 1..start + pair.len()).unwrap_or(""),
            None => "",
        };
        if !escaped(v.as_bytes()) {
            return Some(Cow::Borrowed(v));
        }
        return Some(Cow::Owned(match percent_decode(v.as_bytes(), true) {
            Some(d) => String::from_utf8(d)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            None => v.to_string(),
        }));
    }
    None
}

/// How the request body is delimited (RFC 9112 §6.3), from either form of the head.
pub(crate) fn body_kind_of(req: &impl HeadView) -> Result<pushwire_http::BodyKind, HttpError> {
    // Neither header: no body (§6.3 rule 7 for requests), nothing to check.
    if !req.announces_body() {
        return Ok(pushwire_http::BodyKind::None);
    }
    Ok(pushwire_http::request_body_kind(&req.framing_head()?)?)
}

/// How the request body is delimited (RFC 9112 §6.3), refusing every ambiguous form.
pub fn body_kind(req: &Request) -> Result<pushwire_http::BodyKind, HttpError> {
    body_kind_of(req)
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
pub(crate) fn put_decimal(n: u64, dst: &mut BytesMut) {
    let mut digits = [0u8; 20];
    if let Some(d) = digits.get_mut(..decimal_len(n)) {
        write_decimal(n, d);
        dst.put_slice(d);
    }
}

/// `"00"` to `"99"`: a decimal is written two digits per division.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// How many decimal digits `n` has (1 for 0).
#[inline]
pub(crate) fn decimal_len(n: u64) -> usize {
    // Compared up from one digit: counters and lengths are mostly short, and a short number
    // costs a compare or two here (`ilog10` was about twenty instructions whatever the size).
    let mut len = 1;
    let mut bound = 10u64;
    while n >= bound {
        len += 1;
        match bound.checked_mul(10) {
            Some(b) => bound = b,
            None => break,
        }
    }
    len
}

/// Writes `n` in decimal into `dst`, which is [`decimal_len`]`(n)` bytes long (a longer one
/// gets leading digits of 0 for pairs past the number, a shorter one the low digits only).
/// Two digits per division from a table: `/healthz` writes ten numbers and a
/// `Content-Length` per request, and a division per digit was most of its document's cost.
#[inline]
pub(crate) fn write_decimal(mut n: u64, dst: &mut [u8]) {
    let mut pairs = dst.rchunks_exact_mut(2);
    for pair in &mut pairs {
        pair.copy_from_slice(&DIGIT_PAIRS[(n % 100) as usize]);
        n /= 100;
    }
    if let [d] = pairs.into_remainder() {
        *d = b'0' + (n % 10) as u8;
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

    /// The one complete head at the front of `buf`, read in place (what follows stays).
    fn head_of(buf: &mut BytesMut) -> Head {
        HeadReader::new(&limits()).parse_head(buf).unwrap().unwrap()
    }

    #[test]
    fn query_params_first_match_decoded_and_borrowed_when_plain() {
        let q = |query: &str, name: &str| query_param_in(query, name).map(Cow::into_owned);
        // The first pair wins, later ones are ignored.
        assert_eq!(q("topic=a&topic=b", "topic").as_deref(), Some("a"));
        // An escaped key decodes to the name; `+` is a space in keys and values.
        assert_eq!(
            q("x=1&%74opic=c%2Fd&topic=z", "topic").as_deref(),
            Some("c/d")
        );
        assert_eq!(q("topic=a+b", "topic").as_deref(), Some("a b"));
        assert_eq!(q("top+ic=a", "top ic").as_deref(), Some("a"));
        // A key alone, an empty value, a lone `=`, empty pairs and a missing name.
        assert_eq!(q("a&topic", "topic").as_deref(), Some(""));
        assert_eq!(q("topic=", "topic").as_deref(), Some(""));
        assert_eq!(q("&&=&topic=v&", "topic").as_deref(), Some("v"));
        assert_eq!(q("=v", ""), Some("v".into()));
        assert_eq!(q("", "topic"), None);
        assert_eq!(q("topics=a&atopic=b&topi=c", "topic"), None);
        // Only the first `=` splits; a broken escape stays raw; bad UTF-8 is lossy.
        assert_eq!(q("since=1=2", "since").as_deref(), Some("1=2"));
        assert_eq!(q("since=%zz", "since").as_deref(), Some("%zz"));
        assert_eq!(q("t=%ff", "t").as_deref(), Some("\u{fffd}"));
        // Non-ASCII text around the pair keeps its offsets on char boundaries.
        assert_eq!(q("é=1&t=ü&u=2", "t").as_deref(), Some("ü"));
        assert!(matches!(
            query_param_in("a=1&since=42", "since"),
            Some(Cow::Borrowed("42"))
        ));
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

    /// Method, target, path, query, version, headers.
    type Fields = (String, String, String, String, u8, Vec<(String, Vec<u8>)>);

    /// The owned request's fields, for comparing the two parse paths.
    fn fields(r: &Request) -> Fields {
        (
            r.method.clone(),
            r.target.clone(),
            r.path.clone(),
            r.query.clone(),
            r.version,
            r.headers
                .iter()
                .map(|(n, v)| (n.clone(), v.to_vec()))
                .collect(),
        )
    }

    /// Feeds `wire` to one reader in two pieces split at `split`, the way the connection
    /// does: ask whether a head is complete, parse heads while there are, read more. Returns
    /// every head (as owned requests) and what is left.
    fn heads_split(wire: &[u8], split: usize) -> (Vec<Request>, Vec<u8>) {
        let mut r = HeadReader::new(&limits());
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in [&wire[..split], &wire[split..]] {
            buf.extend_from_slice(piece);
            loop {
                let complete = r.has_complete_head(&buf);
                match r.parse_head(&mut buf).unwrap() {
                    Some(h) => {
                        assert!(complete, "scan and parse agree");
                        assert_eq!(h.keep_alive(), h.to_request().keep_alive());
                        out.push(h.to_request());
                    }
                    None => {
                        assert!(!complete);
                        break;
                    }
                }
            }
        }
        (out, buf.to_vec())
    }

    #[test]
    fn rfc9112_s9_3_pipelined_heads_split_at_every_byte() {
        let wire: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n\
GET /long-poll?topic=t%2Ex&since=e-1&timeout=5 HTTP/1.1\r\nHOST: a\r\nX-A:  v \r\n\r\n\
GET http://h:1?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /tail HTTP/1.1\r\nHo";
        let mut owned = Vec::new();
        let mut rest = BytesMut::from(wire);
        let mut r = HeadReader::new(&limits());
        while let Some(req) = r.parse(&mut rest).unwrap() {
            owned.push(req);
        }
        assert_eq!(owned.len(), 3);
        assert_eq!(owned[2].path, "/");
        assert_eq!(owned[1].headers[1], ("x-a".to_string(), Bytes::from("v")));
        let want: Vec<_> = owned.iter().map(fields).collect();
        for split in 0..=wire.len() {
            let (got, left) = heads_split(wire, split);
            let got: Vec<_> = got.iter().map(fields).collect();
            assert_eq!(got, want, "split at {split}");
            assert_eq!(&left[..], &rest[..], "split at {split}");
        }
    }

    /// The connection's and body-framing flags recorded at parse time answer what the owned
    /// request's field scans answer (RFC 9112 §9.3 persistence, §6.3 framing fields).
    #[test]
    fn rfc9112_9_3_head_flags_match_the_owned_request() {
        let heads: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nconnection: Upgrade ,  CLOSE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, x-close\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: x\r\nCONNECTION: keep-alive, close\r\n\r\n",
            b"GET / HTTP/1.0\r\nKeep-Alive: 1\r\nConnectionX: keep-alive\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\ncontent-LENGTH: 0\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Lengthy: 1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ];
        for raw in heads {
            let mut buf = BytesMut::from(&raw[..]);
            let head = head_of(&mut buf);
            let owned = parse_all(raw).unwrap().unwrap();
            let text = String::from_utf8_lossy(raw);
            assert_eq!(head.keep_alive(), owned.keep_alive(), "{text}");
            assert_eq!(head.announces_body(), owned.has_body_headers(), "{text}");
        }
    }

    #[test]
    fn head_reads_like_the_owned_request() {
        let raw = b"POST /publish?topic=a+b&since=%41-1&bad=%zz&e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: Upgrade, CLOSE\r\nOrigin: http://h\r\n\r\nhi";
        let mut buf = BytesMut::from(&raw[..]);
        let head = head_of(&mut buf);
        assert_eq!(&buf[..], b"hi");
        let owned = parse_all(raw).unwrap().unwrap();
        assert_eq!(fields(&head.to_request()), fields(&owned));
        assert_eq!(
            (head.method(), head.path(), head.version()),
            ("POST", "/publish", 1)
        );
        assert!(!head.keep_alive() && head.announces_body());
        assert!(head.to_request().has_token("connection", "upgrade"));
        assert_eq!(head.first_header("ORIGIN"), Some(&b"http://h"[..]));
        assert_eq!(
            body_kind_of(&head).unwrap(),
            pushwire_http::BodyKind::Length(2)
        );
        for name in ["topic", "since", "bad", "e", "none"] {
            assert_eq!(
                head.param(name).map(Cow::into_owned),
                owned.query_param(name),
                "{name}"
            );
        }
        assert_eq!(head.param("topic").as_deref(), Some("a b"));
        assert!(matches!(head.param("e"), Some(Cow::Borrowed(""))));
        assert_eq!(head.param("bad").as_deref(), Some("%zz"));
        // A head is the whole buffer: it leaves without a copy and the buffer is empty.
        let raw = b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut buf = BytesMut::new();
        buf.extend_from_slice(raw);
        let ptr = buf.as_ptr();
        let head = head_of(&mut buf);
        assert!(buf.is_empty());
        assert_eq!(head.bytes.as_ptr(), ptr);
        assert_eq!(head.path(), "/healthz");
    }

    /// A head is moved from the parser to its handler several times per request: at most
    /// 128 bytes, the compiler moves it inline instead of calling `memcpy` (168 bytes before).
    #[test]
    fn head_is_at_most_128_bytes() {
        let size = std::mem::size_of::<Head>();
        println!("Head: {size} bytes");
        assert!(size <= 128, "Head is {size} bytes");
        assert!(std::mem::size_of::<Result<Option<Head>, HttpError>>() <= 128);
    }

    /// Fields inline take 16-bit positions: a head whose fields reach past 64 KiB keeps them
    /// all on the heap, in order, and reads the same as the owned request, whether the field
    /// count would fit inline or not, and whether the first field is already past 64 KiB.
    #[test]
    fn head_fields_past_64_kib_read_like_the_owned_request() {
        let big = HeadLimits::default()
            .with_max_head_bytes(256 * 1024)
            .with_max_uri_len(200 * 1024);
        let long = "a".repeat(70 * 1024);
        let heads = [
            format!("GET /x HTTP/1.1\r\nHost: h\r\nX-Long: {long}\r\nOrigin: o\r\n\r\n"),
            format!("GET /{long}?q=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
            format!(
                "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: {long}\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"
            ),
        ];
        for raw in &heads {
            let mut buf = BytesMut::from(raw.as_bytes());
            let head = HeadReader::new(&big).parse_head(&mut buf).unwrap().unwrap();
            let owned = HeadReader::new(&big)
                .parse(&mut BytesMut::from(raw.as_bytes()))
                .unwrap()
                .unwrap();
            assert!(!head.spans.spilled.is_empty());
            assert_eq!(fields(&head.to_request()), fields(&owned));
            assert_eq!(head.path(), owned.path);
            assert_eq!(head.keep_alive(), owned.keep_alive());
            assert_eq!(head.first_header("host"), Some(&b"h"[..]));
        }
        // Under 64 KiB, four fields stay inline and a fifth spills everything.
        for raw in [
            &b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
        ] {
            let mut buf = BytesMut::from(raw);
            let head = head_of(&mut buf);
            assert_eq!(
                head.spans.spilled.is_empty(),
                head.spans.fields().count() <= INLINE_FIELDS
            );
            assert_eq!(
                fields(&head.to_request()),
                fields(&parse_all(raw).unwrap().unwrap())
            );
        }
    }

    /// RFC 9112 §3.2.2: an absolute-form target with an empty path has the path `/`, which
    /// is not in the head's bytes.
    #[test]
    fn rfc9112_3_2_2_absolute_form_empty_path_is_root() {
        let raw = b"GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut buf = BytesMut::from(&raw[..]);
        let head = head_of(&mut buf);
        let owned = parse_all(raw).unwrap().unwrap();
        assert_eq!((head.path(), head.path_bytes()), ("/", &b"/"[..]));
        assert_eq!(head.path(), owned.path);
        assert_eq!(head.param("x").as_deref(), Some("1"));
    }

    #[test]
    fn head_errors_map_to_the_same_statuses() {
        for raw in [
            &b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let want = parse_all(raw).unwrap_err().status();
            let mut buf = BytesMut::from(raw);
            let mut r = HeadReader::new(&limits());
            // The scan alone may find the end (a missing Host is the parse's to see).
            let _ = r.has_complete_head(&buf);
            assert_eq!(r.parse_head(&mut buf).unwrap_err().status(), want);
            // The error is terminal: asked again, the reader says the same.
            assert_eq!(r.parse_head(&mut buf).unwrap_err().status(), want);
        }
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
        let mut numbers = vec![u64::MAX, u64::MAX - 1];
        for d in 0..20 {
            let p = 10u64.pow(d);
            numbers.extend([p - 1, p, p + 1, p.saturating_mul(7).saturating_add(3)]);
        }
        for n in numbers {
            let mut out = BytesMut::new();
            put_decimal(n, &mut out);
            assert_eq!(&out[..], n.to_string().as_bytes());
            assert_eq!(decimal_len(n), out.len());
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
