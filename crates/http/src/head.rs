//! Owned request and response heads, and the incremental parser that produces them.
//!
//! `httparse` does the syntax work. Around it, [`HeadParser`] adds what a server facing
//! hostile peers needs: it remembers how far it has scanned, so a head trickling in one byte
//! per packet costs O(n) in total rather than O(n²) (the quadratic re-parse behind
//! tungstenite CVE-2023-43669 and hyper 3900a238); it applies every limit to bytes
//! *buffered*, byte by byte in arrival order, so the outcome never depends on how TCP split
//! the input (h11 #182); and it only hands `httparse` a complete head, once.

use std::borrow::Cow;
use std::fmt;

use crate::error::{CapacityError, Error, ProtocolError};
use crate::headers::{Field, Headers, is_tchar, is_token, trim_ows};
use crate::limits::Limits;
use crate::query;

/// The outcome of feeding bytes to a parser: a finished value, or "need more bytes".
///
/// Shaped like `httparse::Status`: needing more input is never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete value.
    Complete(T),
    /// The input ends before the value does: read more and call again.
    Partial,
}

impl<T> Status<T> {
    /// Is this `Complete`?
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }
}

/// The HTTP version of a message. Only HTTP/1.0 and HTTP/1.1 exist on this wire; any other
/// well-formed version is [`Error::UnsupportedVersion`] (505).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each message unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: connections persist unless `Connection: close`.
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request method (RFC 9110 §9). Methods are case-sensitive: `get` is an extension
/// method, not `GET`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: the response has no body.
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`: the target is in authority-form.
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other token.
    Extension(Box<str>),
}

impl Method {
    /// Parses a method token; anything that is not a token is
    /// `Error::Protocol(ProtocolError::Method)`.
    pub fn from_token(s: &str) -> Result<Method, Error> {
        Ok(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other if is_token(other.as_bytes()) => Method::Extension(other.into()),
            _ => return Err(Error::Protocol(ProtocolError::Method)),
        })
    }

    /// The method as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed request head.
///
/// Fields are public so tests and other crates can build one directly; a head produced by
/// [`parse_request`] / [`HeadParser`] has also passed the RFC 9112 §3.2 `Host` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request-target exactly as received (origin-, absolute-, authority- or
    /// asterisk-form).
    pub target: String,
    /// The version from the request line.
    pub version: Version,
    /// The header fields in order.
    pub headers: Headers,
}

impl Request {
    /// A request with no headers (for tests and for clients building one to encode).
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Request {
            method,
            target: target.into(),
            version: Version::Http11,
            headers: Headers::new(),
        }
    }

    /// The path: `/a/b` for both `/a/b?x` and `http://host/a/b?x` (an absolute-form target
    /// with an empty path gives `/`). Not percent-decoded.
    pub fn path(&self) -> &str {
        query::split_target(&self.target).1
    }

    /// The raw query string after `?`, if any (not decoded).
    pub fn query(&self) -> Option<&str> {
        query::split_target(&self.target).2
    }

    /// Every query parameter in order, percent-decoded with `+` as space. Invalid UTF-8
    /// becomes U+FFFD.
    pub fn query_pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        query::pairs(self.query().unwrap_or(""))
    }

    /// The first query parameter whose decoded name is `name`, decoded.
    ///
    /// ```
    /// let req = pushwire_http::Request::new(pushwire_http::Method::Get, "/poll?topic=a%2Eb&since=E-1+2");
    /// assert_eq!(req.query_param("topic").as_deref(), Some("a.b"));
    /// assert_eq!(req.query_param("since").as_deref(), Some("E-1 2"));
    /// assert_eq!(req.query_param("nope"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The host the request is for: the authority of an absolute-form target (RFC 9112
    /// §3.2.2: it overrides `Host`), else the `Host` header. Includes any port.
    pub fn host(&self) -> Option<&str> {
        match query::split_target(&self.target).0 {
            Some(authority) => Some(authority),
            None => self.headers.get_str("host"),
        }
    }

    /// Does the client want the connection kept open after this exchange (RFC 9112 §9.3)?
    /// HTTP/1.1: yes unless `Connection: close`; HTTP/1.0: only with
    /// `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.version, &self.headers)
    }

    /// Does the request ask to switch protocols (`Connection: upgrade` and an `Upgrade`
    /// header, RFC 9110 §7.8)?
    pub fn is_upgrade(&self) -> bool {
        self.headers.contains_token("connection", "upgrade") && self.headers.contains("upgrade")
    }

    /// Does the request ask to switch to `protocol` (case-insensitive, e.g. `websocket`)?
    pub fn is_upgrade_to(&self, protocol: &str) -> bool {
        self.headers.contains_token("connection", "upgrade")
            && self.headers.contains_token("upgrade", protocol)
    }

    /// Does the client wait for `100 Continue` before sending the body (RFC 9110 §10.1.1)?
    /// Only HTTP/1.1 clients may; an HTTP/1.0 `Expect` is ignored.
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11
            && self
                .headers
                .get("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
    }
}

/// A request head borrowed from the caller's buffer: what [`HeadParser::parse_request_ref`]
/// hands its closure. Nothing is copied or allocated (the owned [`Request`] copies the head
/// and its target, and keeps a table of offsets: three allocations per request, most of a
/// keep-alive GET's parse in pushwire-server's profile). It has passed every check an owned
/// parse applies (limits, RFC 9112 syntax, method token, target bytes, version, `Host`).
///
/// ```
/// use pushwire_http::{HeadParser, Limits, Status};
/// let mut parser = HeadParser::new(&Limits::default());
/// let buf = b"GET /poll?topic=a HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\nnext";
/// let Status::Complete(((path, close), n)) = parser.parse_request_ref(buf, |r| {
///     (r.path().to_owned(), !r.keep_alive())
/// })? else { panic!() };
/// assert_eq!((path.as_str(), close, n), ("/poll", true, buf.len() - 4));
/// # Ok::<(), pushwire_http::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestRef<'b, 'h> {
    method: &'b str,
    target: &'b str,
    version: Version,
    fields: &'h [httparse::Header<'b>],
}

impl<'b> RequestRef<'b, '_> {
    /// The method token, as sent (case-sensitive).
    pub fn method(&self) -> &'b str {
        self.method
    }

    /// The request-target exactly as received.
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The version from the request line.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The path, as [`Request::path`] gives it.
    pub fn path(&self) -> &'b str {
        query::split_target(self.target).1
    }

    /// The raw query after `?`, as [`Request::query`] gives it.
    pub fn query(&self) -> Option<&'b str> {
        query::split_target(self.target).2
    }

    /// [`RequestRef::path`] and [`RequestRef::query`] from one look at the target.
    pub fn path_and_query(&self) -> (&'b str, Option<&'b str>) {
        let (_, path, query) = query::split_target(self.target);
        (path, query)
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.fields.len()
    }

    /// Every field as `(name, value)` in order, names as sent, values without surrounding
    /// whitespace (as [`Headers`] stores them).
    pub fn headers(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.fields.iter().map(|h| (h.name, trim_ows(h.value)))
    }

    /// Every value of `name` (compared case-insensitively), in order.
    pub fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.header_all(name).next()
    }

    /// Does some value of `name` list `token` (comma-separated, case-insensitive)?
    pub fn contains_token(&self, name: &str, token: &str) -> bool {
        self.header_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
    }

    /// As [`Request::keep_alive`] (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        if self.contains_token("connection", "close") {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => self.contains_token("connection", "keep-alive"),
        }
    }

    /// The owned head (the same value [`HeadParser::parse_request`] returns).
    pub fn to_owned_request(&self) -> Result<Request, Error> {
        let len = self
            .fields
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        let mut data = Vec::with_capacity(len);
        let mut fields = Vec::with_capacity(self.fields.len());
        for h in self.fields {
            let n0 = data.len();
            data.extend_from_slice(h.name.as_bytes());
            let v0 = data.len();
            data.extend_from_slice(trim_ows(h.value));
            fields.push(Field {
                name: (n0, v0),
                value: (v0, data.len()),
            });
        }
        Ok(Request {
            method: Method::from_token(self.method)?,
            target: self.target.to_owned(),
            version: self.version,
            headers: Headers::from_parsed(data, fields),
        })
    }
}

/// A parsed response head (client role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The version from the status line.
    pub version: Version,
    /// The three-digit status code.
    pub status: u16,
    /// The reason phrase (may be empty; carries no meaning).
    pub reason: String,
    /// The header fields in order.
    pub headers: Headers,
}

impl Response {
    /// Will the server keep the connection open after this response (RFC 9112 §9.3)?
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.version, &self.headers)
    }

    /// Is this a `101 Switching Protocols` to `protocol` (case-insensitive)?
    pub fn is_upgrade_to(&self, protocol: &str) -> bool {
        self.status == 101
            && self.headers.contains_token("connection", "upgrade")
            && self.headers.contains_token("upgrade", protocol)
    }
}

fn keep_alive(version: Version, headers: &Headers) -> bool {
    if headers.contains_token("connection", "close") {
        return false;
    }
    match version {
        Version::Http11 => true,
        Version::Http10 => headers.contains_token("connection", "keep-alive"),
    }
}

/// Parses one request head from the start of `buf`.
///
/// Returns `Complete((request, head_len))`, where the bytes after `head_len` belong to the
/// body or the next pipelined request, or `Partial`. Every call scans `buf` from its start;
/// a connection that reads more and calls again should use a [`HeadParser`], which does not.
///
/// ```
/// use pushwire_http::{Limits, Status, parse_request};
/// let buf = b"GET /events?topic=x HTTP/1.1\r\nHost: a\r\n\r\nrest";
/// let Status::Complete((req, n)) = parse_request(buf, &Limits::default())? else { panic!() };
/// assert_eq!((req.path(), n), ("/events", 41));
/// # Ok::<(), pushwire_http::Error>(())
/// ```
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Status<(Request, usize)>, Error> {
    HeadParser::new(limits).parse_request(buf)
}

/// Parses one response head from the start of `buf` (client role); see [`parse_request`].
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Status<(Response, usize)>, Error> {
    HeadParser::new(limits).parse_response(buf)
}

/// Which kind of head a [`HeadParser`] scan is looking at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Request,
    Response,
}

/// Where the scan of the current head stands. Every field is a position in the caller's
/// buffer, which must keep its first bytes between calls.
#[derive(Debug, Clone, Default)]
struct Scan {
    /// Next byte to examine; everything before it has passed every per-byte check.
    pos: usize,
    /// Where the start line begins (after the empty lines RFC 9112 §2.2 lets us skip).
    start: Option<usize>,
    /// First SP of a request line: the method ends there, the target starts after it.
    first_sp: Option<usize>,
    /// Has the request-target ended (second SP or line end)?
    target_done: bool,
    /// Where the request-target ended (the byte that ended it).
    target_end: usize,
    /// The request line, when it had the plain form [`plain_request_line`] checks (nearly
    /// every request): the head's parse then starts at the header section.
    line: Option<StartLine>,
    /// Has the start line ended (and passed `httparse`)?
    start_line_done: bool,
    /// Where the current line starts.
    line_start: usize,
    /// Complete header lines so far.
    header_lines: usize,
    /// The head's length, once its empty line has been seen (by [`HeadParser::scan_request`]
    /// before the parse that follows it).
    end: Option<usize>,
}

/// An incremental head parser that never re-scans bytes it has seen.
///
/// Keep one per connection and call [`HeadParser::parse_request`] (or
/// [`HeadParser::parse_response`]) with the connection's whole read buffer each time more
/// bytes arrive: the buffer must start at the head's first byte and only grow between
/// calls. On `Complete((head, n))` the caller splits `n` bytes off the buffer, and the parser
/// is ready for the next head. On `Err` the parser stays errored and returns the same error.
///
/// ```
/// use pushwire_http::{HeadParser, Limits, Status};
/// let mut parser = HeadParser::new(&Limits::default());
/// let wire = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
/// let mut buf = Vec::new();
/// for &b in &wire[..wire.len() - 1] {
///     buf.push(b);
///     assert_eq!(parser.parse_request(&buf)?, Status::Partial);
/// }
/// buf.push(b'\n');
/// assert!(parser.parse_request(&buf)?.is_complete());
/// # Ok::<(), pushwire_http::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HeadParser {
    limits: Limits,
    scan: Scan,
    errored: Option<Error>,
}

impl HeadParser {
    /// A parser applying `limits`.
    pub fn new(limits: &Limits) -> Self {
        HeadParser {
            limits: limits.clone(),
            scan: Scan::default(),
            errored: None,
        }
    }

    /// Forgets the head in progress (and any error): the next call starts a new head.
    pub fn reset(&mut self) {
        self.scan = Scan::default();
        self.errored = None;
    }

    /// The limits this parser applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes of the current head examined so far.
    pub fn scanned(&self) -> usize {
        self.scan.pos
    }

    /// Feeds the buffer holding a request head; see the type docs.
    pub fn parse_request(&mut self, buf: &[u8]) -> Result<Status<(Request, usize)>, Error> {
        let end = match self.scan_for_end(buf, Role::Request)? {
            Some(end) => end,
            None => return Ok(Status::Partial),
        };
        let out = build_request(
            buf.get(..end).unwrap_or(buf),
            self.scan.header_lines,
            self.scan.line,
            &self.limits,
        );
        self.finish(out.map(|r| Status::Complete((r, end))))
    }

    /// Feeds the buffer holding a request head, like [`HeadParser::parse_request`], but
    /// copies nothing: once the head is complete and valid, `f` gets it borrowed from `buf`
    /// ([`RequestRef`]) and its result comes back with the head length. Same scan, limits,
    /// checks, errors and errored state as `parse_request`; `f` is not called on `Partial`
    /// or `Err`.
    pub fn parse_request_ref<R>(
        &mut self,
        buf: &[u8],
        f: impl FnOnce(&RequestRef<'_, '_>) -> R,
    ) -> Result<Status<(R, usize)>, Error> {
        let end = match self.scan_for_end(buf, Role::Request)? {
            Some(end) => end,
            None => return Ok(Status::Partial),
        };
        let out = with_request_ref(
            buf.get(..end).unwrap_or(buf),
            self.scan.header_lines,
            self.scan.line,
            &self.limits,
            f,
        );
        self.finish(out.map(|r| Status::Complete((r, end))))
    }

    /// Looks for the end of the request head at the start of `buf` without parsing it:
    /// `Complete(head_len)` once the empty line that ends it is buffered. Same incremental
    /// scan, limits and errors as [`HeadParser::parse_request`], which remembers the scan:
    /// a server that asks whether the next pipelined request is already here, then parses
    /// it, examines its bytes once. Consumes nothing; the parse still has to be called.
    ///
    /// ```
    /// use pushwire_http::{HeadParser, Limits, Status};
    /// let mut parser = HeadParser::new(&Limits::default());
    /// assert_eq!(parser.scan_request(b"GET / HTTP/1.1\r\nHost: h\r\n")?, Status::Partial);
    /// let buf = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET";
    /// assert_eq!(parser.scan_request(buf)?, Status::Complete(buf.len() - 3));
    /// assert!(parser.parse_request(buf)?.is_complete());
    /// # Ok::<(), pushwire_http::Error>(())
    /// ```
    pub fn scan_request(&mut self, buf: &[u8]) -> Result<Status<usize>, Error> {
        Ok(match self.scan_for_end(buf, Role::Request)? {
            Some(end) => Status::Complete(end),
            None => Status::Partial,
        })
    }

    /// Feeds the buffer holding a response head; see the type docs.
    pub fn parse_response(&mut self, buf: &[u8]) -> Result<Status<(Response, usize)>, Error> {
        let end = match self.scan_for_end(buf, Role::Response)? {
            Some(end) => end,
            None => return Ok(Status::Partial),
        };
        let out = build_response(buf.get(..end).unwrap_or(buf), self.scan.header_lines);
        self.finish(out.map(|r| Status::Complete((r, end))))
    }

    fn finish<T>(&mut self, out: Result<T, Error>) -> Result<T, Error> {
        match out {
            Ok(v) => {
                self.scan = Scan::default();
                Ok(v)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.errored = Some(e.clone());
        e
    }

    /// Examines the bytes not yet seen, one at a time and in order, so each limit trips at
    /// the same byte however the input was split. Returns the head length once the empty
    /// line ending the head has been seen.
    fn scan_for_end(&mut self, buf: &[u8], role: Role) -> Result<Option<usize>, Error> {
        if let Some(e) = &self.errored {
            return Err(e.clone());
        }
        if buf.len() < self.scan.pos {
            // The caller dropped bytes we had examined: start over rather than misread.
            self.scan = Scan::default();
        }
        if let Some(end) = self.scan.end {
            return Ok(Some(end));
        }
        match self.scan.advance(buf, role, &self.limits) {
            Ok(end) => {
                self.scan.end = end;
                Ok(end)
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl Scan {
    fn advance(&mut self, buf: &[u8], role: Role, limits: &Limits) -> Result<Option<usize>, Error> {
        let max_head = limits.max_head_bytes;
        let max_uri = limits.max_uri_len;
        let max_headers = limits.max_headers;
        let s = self;
        if role == Role::Request && s.pos == 0 {
            s.plain_start(buf, limits);
        }
        loop {
            if s.start_line_done {
                // Header section: the only per-byte rules left are the head limit and line
                // ends, so jump from LF to LF. Same outcome as the byte loop below: bytes
                // before `max_head` are searched, and a byte at `max_head` is an error.
                let limit = buf.len().min(max_head);
                let window = buf.get(s.pos..limit).unwrap_or(&[]);
                let Some(i) = find_lf(window) else {
                    s.pos = s.pos.max(limit);
                    if buf.len() > max_head {
                        return Err(CapacityError::HeadTooLarge.into());
                    }
                    return Ok(None);
                };
                let pos = s.pos + i;
                s.pos = pos + 1;
                let line = buf.get(s.line_start..pos).unwrap_or(&[]);
                if line.is_empty() || line == b"\r" {
                    return Ok(Some(pos + 1));
                }
                s.header_lines += 1;
                if s.header_lines > max_headers {
                    return Err(CapacityError::TooManyHeaders.into());
                }
                s.line_start = pos + 1;
                continue;
            }
            if role == Role::Request
                && !s.target_done
                && let Some(sp) = s.first_sp
            {
                // Inside the request-target the only per-byte rules are its end (SP, CR,
                // LF) and the two limits, so skip to the first delimiter before either
                // limit: the bytes skipped are exactly those the loop below would accept
                // one at a time (a long-poll target was most of the scan).
                let stop = buf
                    .len()
                    .min(max_head)
                    .min(sp.saturating_add(max_uri).saturating_add(1));
                if let Some(window) = buf.get(s.pos..stop) {
                    s.pos += window
                        .iter()
                        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
                        .unwrap_or(window.len());
                }
            }
            if s.start.is_some() && (role == Role::Response || s.target_done) {
                // The rest of the start line (the version, or a status line after its
                // start) has no per-byte rule but the head limit: on to its LF, which the
                // loop below takes (it checks the line with httparse).
                let stop = buf.len().min(max_head);
                if let Some(window) = buf.get(s.pos..stop) {
                    s.pos += find_lf(window).unwrap_or(window.len());
                }
            }
            let Some(&b) = buf.get(s.pos) else {
                return Ok(None);
            };
            let pos = s.pos;
            // RFC 6585 §5 / h11 #182: the limit is on bytes buffered, checked per byte.
            if pos >= max_head {
                return Err(CapacityError::HeadTooLarge.into());
            }
            s.pos += 1;
            let start = match s.start {
                Some(start) => start,
                // RFC 9112 §2.2: "a server that is expecting to receive and parse a
                // request-line SHOULD ignore at least one empty line (CRLF) received prior
                // to the request-line". httparse re-checks these bytes for bare CRs.
                None if b == b'\r' || b == b'\n' => continue,
                None => {
                    s.start = Some(pos);
                    s.line_start = pos;
                    pos
                }
            };
            if role == Role::Request && !s.target_done {
                match s.first_sp {
                    None if b == b' ' => s.first_sp = Some(pos),
                    // A method byte that is no tchar: fail now, not after 16 KiB of
                    // garbage (a TLS ClientHello on the plain port, say).
                    None if !is_tchar(b) && b != b'\r' && b != b'\n' => {
                        return Err(ProtocolError::Method.into());
                    }
                    None => {}
                    Some(_) if matches!(b, b' ' | b'\r' | b'\n') => {
                        s.target_done = true;
                        s.target_end = pos;
                    }
                    Some(sp) if pos - sp > max_uri => {
                        return Err(CapacityError::UriTooLong.into());
                    }
                    Some(_) => {}
                }
            }
            if b == b'\n' {
                s.start_line_done = true;
                s.line_start = pos + 1;
                // Check the start line now, so a bad one fails at its end rather than
                // after the whole head. httparse answers Partial (it wants headers) or
                // an error about the start line.
                let line = buf.get(..=pos).unwrap_or(buf);
                if role == Role::Request
                    && let Some(l) = plain_request_line(line, start, s.first_sp, s.target_end)
                {
                    s.line = Some(l);
                    continue;
                }
                check_start_line(line, start, role)?;
            }
        }
    }
}

impl Scan {
    /// Crosses a whole request line in plain form (see [`plain_request_line`]) in a few
    /// searches, leaving the scan where the byte loop of [`Scan::advance`] would leave it
    /// after the line's LF: no byte of such a line trips a rule or a limit there (its method
    /// bytes are tokens, its target within `max_uri_len`, its LF before `max_head_bytes`),
    /// so only the positions are to be set. Anything else (a line not yet complete among
    /// them) leaves the scan untouched for the byte loop. The loop's per-byte branches were
    /// most of a short GET's scan.
    fn plain_start(&mut self, buf: &[u8], limits: &Limits) {
        let within = buf
            .get(..buf.len().min(limits.max_head_bytes))
            .unwrap_or(buf);
        let Some(sp) = within.iter().position(|&b| b == b' ') else {
            return;
        };
        let after = within.get(sp + 1..).unwrap_or(&[]);
        let Some(te) = after
            .iter()
            .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
            .map(|i| sp + 1 + i)
        else {
            return;
        };
        if te - sp - 1 > limits.max_uri_len {
            return;
        }
        let Some(lf) = within.get(te..).and_then(find_lf).map(|i| te + i) else {
            return;
        };
        let Some(line) = buf.get(..=lf) else {
            return;
        };
        let Some(l) = plain_request_line(line, 0, Some(sp), te) else {
            return;
        };
        *self = Scan {
            pos: lf + 1,
            start: Some(0),
            first_sp: Some(sp),
            target_done: true,
            target_end: te,
            line: Some(l),
            start_line_done: true,
            line_start: lf + 1,
            header_lines: 0,
            end: None,
        };
    }
}

/// The index of the first LF in `hay`.
///
/// Eight bytes at a time with the "has a zero byte" bit trick, in safe code: the plain
/// `position` loop was half of the head-parsing time in `benches/parse.rs` (perf), as
/// header lines are scanned for their end one byte per iteration.
fn find_lf(hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LF: u64 = LO * b'\n' as u64;
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(word) ^ LF;
        // Some byte of `x` is zero (that byte of the word is LF) iff this is non-zero.
        if x.wrapping_sub(LO) & !x & HI != 0 {
            return chunk.iter().position(|&b| b == b'\n').map(|i| offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

/// Where the parts of a request line in plain form lie in the head.
#[derive(Debug, Clone, Copy)]
struct StartLine {
    /// The method is `..method_end` (the line starts the head: no empty lines before it).
    method_end: usize,
    /// The request-target is `method_end + 1..target_end`.
    target_end: usize,
    version: Version,
    /// Where the header section starts (after the line's LF).
    headers_at: usize,
}

/// The request line `line` (the head up to and including its first LF) when it has the
/// plain form `token SP target SP HTTP/1.x CRLF` (or bare LF), starts the buffer, and its
/// target is visible ASCII: then httparse accepts it as it is (its method bytes are tokens,
/// its URI bytes a superset of visible ASCII, its versions exactly these two) and the
/// request rules after it (method token, target bytes) hold, so neither needs running on
/// it. Anything else (`None`) goes to [`check_start_line`] and httparse, which name the
/// rule broken. `first_sp` and `target_end` are the scan's positions of the method's SP and
/// of the byte that ended the target.
fn plain_request_line(
    line: &[u8],
    start: usize,
    first_sp: Option<usize>,
    target_end: usize,
) -> Option<StartLine> {
    let sp = first_sp?;
    if start != 0 || sp == 0 || target_end <= sp + 1 {
        return None;
    }
    let method = line.get(..sp)?;
    let target = line.get(sp + 1..target_end)?;
    let rest = line.get(target_end..)?;
    let version = match rest {
        b" HTTP/1.1\r\n" | b" HTTP/1.1\n" => Version::Http11,
        b" HTTP/1.0\r\n" | b" HTTP/1.0\n" => Version::Http10,
        _ => return None,
    };
    if !is_token(method) || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return None;
    }
    Some(StartLine {
        method_end: sp,
        target_end,
        version,
        headers_at: line.len(),
    })
}

/// Runs httparse on a buffer ending with the start line's LF.
fn check_start_line(line: &[u8], start: usize, role: Role) -> Result<(), Error> {
    let r = match role {
        Role::Request => httparse::Request::new(&mut []).parse(line).map(|_| ()),
        Role::Response => httparse::Response::new(&mut []).parse(line).map(|_| ()),
    };
    match r {
        Ok(()) | Err(httparse::Error::TooManyHeaders) => Ok(()),
        // httparse reads `HTTP/1.10` as `HTTP/1.1` followed by a stray byte; name the
        // version as the broken part.
        Err(httparse::Error::NewLine)
            if role == Role::Request
                && !line
                    .windows(2)
                    .any(|w| matches!(w, [b'\r', n] if *n != b'\n')) =>
        {
            let l = line.get(start..).unwrap_or(&[]);
            let l = l.strip_suffix(b"\n").unwrap_or(l);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            match l.splitn(3, |&b| b == b' ').nth(2) {
                Some(b"HTTP/1.0" | b"HTTP/1.1") => Err(ProtocolError::LineEnding.into()),
                _ => Err(classify_version(l, role)),
            }
        }
        Err(e) => Err(map_httparse_error(e, line, start, role)),
    }
}

/// Header array size that needs no allocation for typical heads (browsers send 10-20).
const STACK_HEADERS: usize = 32;

/// Header array size for the heads of API clients and load generators.
const SMALL_HEADERS: usize = 8;

/// Runs `f` with `header_lines` empty httparse slots: on the stack for typical heads, on the
/// heap only for heads with more lines than that.
fn with_slots<'b, R>(header_lines: usize, f: impl FnOnce(&mut [httparse::Header<'b>]) -> R) -> R {
    // A small table for small heads (a keep-alive API request has one to four fields):
    // clearing 32 slots (1 KiB) per parse was a tenth of a short pipelined GET's parse.
    if header_lines <= SMALL_HEADERS {
        f(&mut [httparse::EMPTY_HEADER; SMALL_HEADERS])
    } else if header_lines <= STACK_HEADERS {
        f(&mut [httparse::EMPTY_HEADER; STACK_HEADERS])
    } else {
        f(&mut vec![httparse::EMPTY_HEADER; header_lines])
    }
}

/// httparse's verdict on a head whose end the scan has already found.
fn parsed(
    r: Result<httparse::Status<usize>, httparse::Error>,
    head: &[u8],
    role: Role,
) -> Result<(), Error> {
    match r {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        // The scan saw the empty line, so httparse cannot want more; treat it as a syntax
        // error rather than loop.
        Ok(httparse::Status::Partial) => Err(ProtocolError::LineEnding.into()),
        Err(e) => Err(map_httparse_error(e, head, first_non_empty(head), role)),
    }
}

fn version(v: Option<u8>) -> Result<Version, Error> {
    match v {
        Some(0) => Ok(Version::Http10),
        Some(1) => Ok(Version::Http11),
        _ => Err(Error::UnsupportedVersion),
    }
}

fn build_request(
    head: &[u8],
    header_lines: usize,
    line: Option<StartLine>,
    limits: &Limits,
) -> Result<Request, Error> {
    let (method, target, version, fields) =
        with_request_ref(head, header_lines, line, limits, |r| {
            Ok::<_, Error>((
                Method::from_token(r.method)?,
                r.target.to_owned(),
                r.version,
                field_offsets(head, r.fields),
            ))
        })??;
    Ok(Request {
        method,
        target,
        version,
        headers: Headers::from_parsed(head.to_vec(), fields),
    })
}

/// Runs httparse over a head whose end the scan found, applies the request-line and `Host`
/// rules, and hands the borrowed view to `f`: the one validation both the owned and the
/// borrowed parse go through. A request line the scan found plain (`line`) is taken as
/// it is, and httparse reads only the header section after it (with the same rules as in
/// a whole parse, so the same fields and errors): walking the line again was a third of the
/// parse of a short GET.
fn with_request_ref<R>(
    head: &[u8],
    header_lines: usize,
    line: Option<StartLine>,
    limits: &Limits,
    f: impl FnOnce(&RequestRef<'_, '_>) -> R,
) -> Result<R, Error> {
    with_slots(header_lines, |slots| {
        if let Some(l) = line {
            let text = |a: usize, b: usize| {
                head.get(a..b)
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .unwrap_or("")
            };
            let rest = head.get(l.headers_at..).unwrap_or(&[]);
            let fields = match httparse::parse_headers(rest, slots) {
                Ok(httparse::Status::Complete((_, fields))) => fields,
                // As in `parsed`: the scan saw the empty line.
                Ok(httparse::Status::Partial) => return Err(ProtocolError::LineEnding.into()),
                Err(e) => return Err(map_httparse_error(e, head, 0, Role::Request)),
            };
            let r = RequestRef {
                method: text(0, l.method_end),
                target: text(l.method_end + 1, l.target_end),
                version: l.version,
                fields,
            };
            if r.target.len() > limits.max_uri_len {
                return Err(CapacityError::UriTooLong.into());
            }
            check_host_ref(&r)?;
            return Ok(f(&r));
        }
        let mut req = httparse::Request::new(slots);
        parsed(req.parse(head), head, Role::Request)?;
        let method = req.method.unwrap_or("");
        if !is_token(method.as_bytes()) {
            return Err(Error::from(ProtocolError::Method));
        }
        let target = req.path.unwrap_or("");
        if !target.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(Error::from(ProtocolError::Target));
        }
        if target.len() > limits.max_uri_len {
            return Err(CapacityError::UriTooLong.into());
        }
        let version = version(req.version)?;
        let r = RequestRef {
            method,
            target,
            version,
            fields: req.headers,
        };
        check_host_ref(&r)?;
        Ok(f(&r))
    })
}

fn build_response(head: &[u8], header_lines: usize) -> Result<Response, Error> {
    let data = head.to_vec();
    let (version, status, reason, fields) = with_slots(header_lines, |slots| {
        let mut res = httparse::Response::new(slots);
        parsed(res.parse(&data), head, Role::Response)?;
        let version = version(res.version)?;
        let status = res.code.ok_or(ProtocolError::StatusLine)?;
        if !(100..=999).contains(&status) {
            return Err(Error::from(ProtocolError::StatusLine));
        }
        let reason = res.reason.unwrap_or("").to_owned();
        Ok((version, status, reason, field_offsets(&data, res.headers)))
    })?;
    Ok(Response {
        version,
        status,
        reason,
        headers: Headers::from_parsed(data, fields),
    })
}

/// Turns httparse's borrowed fields into offsets into `data`, the buffer they borrow from
/// (a copy of it gets the same offsets).
fn field_offsets(data: &[u8], parsed: &[httparse::Header<'_>]) -> Vec<Field> {
    let base = data.as_ptr() as usize;
    let span = |s: &[u8]| {
        let start = (s.as_ptr() as usize).wrapping_sub(base);
        (start, start + s.len())
    };
    parsed
        .iter()
        .map(|h| Field {
            name: span(h.name.as_bytes()),
            value: span(trim_ows(h.value)),
        })
        .collect()
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
/// HTTP/1.1 request message that lacks a Host header field and to any request message that
/// contains more than one Host header field line or a Host header field with an invalid
/// field value."
fn check_host_ref(r: &RequestRef<'_, '_>) -> Result<(), Error> {
    let mut hosts = r.header_all("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if r.version == Version::Http11 => Err(ProtocolError::MissingHost.into()),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(ProtocolError::DuplicateHost.into()),
        (Some(v), None) if v.iter().all(|&b| is_host_byte(b)) => Ok(()),
        (Some(_), None) => Err(ProtocolError::InvalidHost.into()),
    }
}

/// Bytes of `uri-host [":" port]`: reg-name (unreserved, pct-encoded, sub-delims), IP
/// literals in brackets, and the port separator.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
        )
}

fn first_non_empty(head: &[u8]) -> usize {
    head.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0)
}

/// Turns an httparse error into the precise rule broken. Runs only on the error path, so it
/// may look at the head again.
fn map_httparse_error(e: httparse::Error, head: &[u8], start: usize, role: Role) -> Error {
    let from_start = head.get(start..).unwrap_or(&[]);
    let start_line = from_start.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let start_line = start_line.strip_suffix(b"\r").unwrap_or(start_line);
    match e {
        httparse::Error::Version => classify_version(start_line, role),
        httparse::Error::Token => {
            let method = start_line.split(|&b| b == b' ').next().unwrap_or(&[]);
            if role == Role::Request && !is_token(method) {
                ProtocolError::Method.into()
            } else {
                ProtocolError::Target.into()
            }
        }
        httparse::Error::Status => ProtocolError::StatusLine.into(),
        httparse::Error::TooManyHeaders => CapacityError::TooManyHeaders.into(),
        httparse::Error::NewLine | httparse::Error::HeaderName | httparse::Error::HeaderValue => {
            classify_field_error(e, head, start)
        }
    }
}

/// 505 for a well-formed `HTTP/x.y` we do not speak (RFC 9110 §15.6.6), 400 for garbage.
fn classify_version(start_line: &[u8], role: Role) -> Error {
    let token = match role {
        // request-line = method SP request-target SP HTTP-version: the version is all
        // that follows the second SP, so `GET /  HTTP/1.1` has the version ` HTTP/1.1`.
        Role::Request => start_line.splitn(3, |&b| b == b' ').nth(2),
        Role::Response => start_line.split(|&b| b == b' ').next(),
    }
    .unwrap_or(&[]);
    match token {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Error::UnsupportedVersion
        }
        _ => ProtocolError::Version.into(),
    }
}

/// Names the header-line rule behind an httparse field error.
fn classify_field_error(e: httparse::Error, head: &[u8], start: usize) -> Error {
    let from_start = head.get(start..).unwrap_or(&[]);
    // A CR anywhere that is not followed by LF is a bare CR (RFC 9112 §2.2: MUST NOT
    // be treated as a line ending; we reject the message).
    let bare_cr = from_start
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && from_start.get(i + 1) != Some(&b'\n'));
    if bare_cr {
        return ProtocolError::LineEnding.into();
    }
    for line in from_start.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return ProtocolError::ObsFold.into();
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = line.get(..colon).unwrap_or(&[]);
            if matches!(name.last(), Some(b' ' | b'\t')) && is_token(trim_ows(name)) {
                return ProtocolError::WhitespaceBeforeColon.into();
            }
        }
    }
    match e {
        httparse::Error::HeaderValue => ProtocolError::HeaderValue.into(),
        httparse::Error::NewLine => ProtocolError::LineEnding.into(),
        _ => ProtocolError::HeaderName.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the head at the front of `input` parses to through the plain-line shortcut (when
    /// the scan took it) and through httparse's whole parse: `(took the shortcut, shortcut
    /// result, whole-parse result)`, each as the owned head or the error.
    #[allow(clippy::type_complexity)]
    fn both_ways(
        input: &[u8],
        limits: &Limits,
    ) -> Option<(bool, Result<Request, Error>, Result<Request, Error>)> {
        let mut p = HeadParser::new(limits);
        let end = match p.scan_request(input) {
            Ok(Status::Complete(end)) => end,
            _ => return None,
        };
        let head = input.get(..end)?;
        let lines = p.scan.header_lines;
        let line = p.scan.line;
        let fast = build_request(head, lines, line, limits);
        let whole = build_request(head, lines, None, limits);
        Some((line.is_some(), fast, whole))
    }

    /// The shortcut for plain request lines (RFC 9112 §3: `method SP request-target SP
    /// HTTP-version CRLF`) gives what httparse's whole parse gives, fields and errors alike,
    /// over a grid of lines and header sections, the broken ones included; and it is taken
    /// for the usual requests.
    #[test]
    fn rfc9112_3_plain_request_line_shortcut_agrees_with_httparse() {
        let methods: &[&[u8]] = &[b"GET", b"POST", b"get", b"G@T", b"", b"GE\rT", b"X-Y"];
        let seps: &[&[u8]] = &[b" ", b"  ", b"\t"];
        let targets: &[&[u8]] = &[
            b"/",
            b"/healthz",
            b"/a?b=c#d",
            b"*",
            b"http://h/x?y",
            b"/\x80",
            b"/a\x7f",
            b"",
            b"/a\"b",
        ];
        let versions: &[&[u8]] = &[
            b"HTTP/1.1",
            b"HTTP/1.0",
            b"HTTP/2.0",
            b"HTTP/1.10",
            b"http/1.1",
            b"HTTP/1.",
            b"",
        ];
        let ends: &[&[u8]] = &[b"\r\n", b"\n", b"\r\r\n", b" \r\n"];
        let fields: &[&[u8]] = &[
            b"Host: h\r\n\r\n",
            b"Host: h\n\n",
            b"\r\n",
            b"Host: a\r\nHost: b\r\n\r\n",
            b"Host : h\r\n\r\n",
            b" Host: h\r\n\r\n",
            b"Host: h\r\nX: \x01\r\n\r\n",
            b"Host: h\r\n folded\r\n\r\n",
            b"H\xc3st: h\r\n\r\n",
            b"Host: h\rX: y\r\n\r\n",
            b"Host: h:1\r\nConnection: close\r\nA: b\r\n\r\n",
            b"Host: a b\r\n\r\n",
        ];
        let limits = Limits::default().with_max_uri_len(10);
        let (mut fast, mut total) = (0, 0);
        for lead in [&b""[..], b"\r\n"] {
            for m in methods {
                for s1 in seps {
                    for t in targets {
                        for v in versions {
                            for e in ends {
                                for f in fields {
                                    let input = [lead, m, s1, t, b" ", v, e, f, b"GET"].concat();
                                    let Some((took, a, b)) = both_ways(&input, &limits) else {
                                        continue;
                                    };
                                    total += 1;
                                    fast += usize::from(took);
                                    assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&input));
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            fast > 100 && fast < total,
            "shortcut taken {fast} of {total}"
        );
        let get = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
        assert!(matches!(
            both_ways(get, &limits),
            Some((true, Ok(_), Ok(_)))
        ));
    }

    #[test]
    fn find_lf_matches_position_at_every_length_and_offset() {
        for len in 0..40 {
            for at in 0..=len {
                let mut hay = vec![b'a'; len];
                // Bytes next to LF in value (0x0b, 0x09, 0x8a) must not match.
                for (i, b) in hay.iter_mut().enumerate() {
                    *b = [b'a', 0x0b, 0x09, 0x8a, 0xff, 0x00][i % 6];
                }
                if at < len {
                    hay[at] = b'\n';
                    if at + 3 < len {
                        hay[at + 3] = b'\n';
                    }
                }
                let want = hay.iter().position(|&b| b == b'\n');
                assert_eq!(find_lf(&hay), want, "len {len} at {at}");
            }
        }
    }
}
