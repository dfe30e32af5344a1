//! Arbitrary bytes as one client connection: request heads (incremental `HeadParser` and the
//! one-shot `parse_request`), body framing (`request_body_kind` + `BodyDecoder`) and
//! pipelining, under small limits.
//!
//! Asserts:
//! - the connection's transcript (heads, bodies, errors, what is left at EOF) is identical
//!   whether the bytes arrive whole, at fuzzer-chosen cuts, or one at a time (short inputs);
//! - the one-shot `parse_request` agrees with the first head of the connection;
//! - every accepted head respects the limits and the syntax (token method, target without
//!   whitespace or controls, one valid Host on HTTP/1.1, trimmed valid field values);
//! - every error maps to a status the server may send (400, 413, 414, 431, 501, 505);
//! - an accepted head re-encoded with `encode_request_head` parses back to itself;
//! - a body never exceeds `max_body`, a `Content-Length` body is exactly that long, and a
//!   decoder never hands out an empty data chunk.
#![no_main]

use bytes::{Buf, BytesMut};
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit};
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, Error, HeadParser, Limits, Request, RequestHead, Status,
    Version, encode_request_head, parse_request, request_body_kind,
};

/// Most requests followed on one connection (bounds the work per input).
const MAX_REQUESTS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Head(Box<Request>, BodyKind),
    /// A body that ended: all its bytes.
    Body(Vec<u8>),
    /// A body cut by an error: the bytes handed out before it.
    BodyThenError(Vec<u8>, Error),
    Error(Error),
    /// EOF inside a head: how many bytes were buffered.
    EofInHead(usize),
}

enum State {
    Head,
    Body(BodyDecoder, BodyKind),
}

struct Conn {
    limits: Limits,
    parser: HeadParser,
    buf: BytesMut,
    state: State,
    body: Vec<u8>,
    events: Vec<Event>,
    done: bool,
    requests: usize,
}

impl Conn {
    fn new(limits: &Limits) -> Conn {
        Conn {
            limits: limits.clone(),
            parser: HeadParser::new(limits),
            buf: BytesMut::new(),
            state: State::Head,
            body: Vec::new(),
            events: Vec::new(),
            done: false,
            requests: 0,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if self.done {
            return;
        }
        self.buf.extend_from_slice(chunk);
        self.run();
    }

    fn fail(&mut self, e: Error) {
        check_status(&e);
        self.events.push(Event::Error(e));
        self.done = true;
    }

    fn run(&mut self) {
        while !self.done {
            match &mut self.state {
                State::Head => match self.parser.parse_request(&self.buf) {
                    Ok(Status::Partial) => {
                        assert!(
                            self.buf.len() <= self.limits.max_head_bytes,
                            "partial head of {} bytes over max_head_bytes {}",
                            self.buf.len(),
                            self.limits.max_head_bytes
                        );
                        return;
                    }
                    Ok(Status::Complete((req, n))) => {
                        assert!(n > 0 && n <= self.buf.len());
                        assert!(
                            n <= self.limits.max_head_bytes,
                            "head of {n} bytes accepted"
                        );
                        check_request(&req, &self.limits);
                        self.buf.advance(n);
                        self.requests += 1;
                        match request_body_kind(&req) {
                            Ok(kind) => {
                                self.events.push(Event::Head(Box::new(req), kind));
                                self.state =
                                    State::Body(BodyDecoder::new(kind, &self.limits), kind);
                            }
                            Err(e) => self.fail(e),
                        }
                    }
                    Err(e) => self.fail(e),
                },
                State::Body(dec, kind) => match dec.decode(&mut self.buf) {
                    Ok(Some(BodyChunk::Data(b))) => {
                        assert!(!b.is_empty(), "empty data chunk");
                        self.body.extend_from_slice(&b);
                        assert!(self.body.len() as u64 <= self.limits.max_body);
                        // `decoded()` counts a chunk's announced size when the chunk starts.
                        assert_eq!(dec.decoded(), self.body.len() as u64);
                    }
                    Ok(Some(BodyChunk::End)) => {
                        assert!(dec.is_done());
                        assert_eq!(dec.decoded(), self.body.len() as u64);
                        if let BodyKind::Length(n) = kind {
                            assert_eq!(self.body.len() as u64, *n);
                        }
                        self.events
                            .push(Event::Body(std::mem::take(&mut self.body)));
                        self.state = State::Head;
                        if self.requests >= MAX_REQUESTS {
                            self.done = true;
                        }
                    }
                    Ok(None) => {
                        assert!(
                            self.buf.is_empty(),
                            "decoder wants more with bytes buffered"
                        );
                        return;
                    }
                    Err(e) => {
                        check_status(&e);
                        let body = std::mem::take(&mut self.body);
                        self.events.push(Event::BodyThenError(body, e));
                        self.done = true;
                    }
                },
            }
        }
    }

    fn finish(mut self) -> Vec<Event> {
        if !self.done {
            match &mut self.state {
                State::Head => {
                    if !self.buf.is_empty() {
                        self.events.push(Event::EofInHead(self.buf.len()));
                    }
                }
                State::Body(dec, _) => match dec.decode_eof(&mut self.buf) {
                    Ok(Some(BodyChunk::End)) => self
                        .events
                        .push(Event::Body(std::mem::take(&mut self.body))),
                    Ok(other) => panic!("decode_eof on an empty buffer gave {other:?}"),
                    Err(e) => {
                        check_status(&e);
                        let body = std::mem::take(&mut self.body);
                        self.events.push(Event::BodyThenError(body, e));
                    }
                },
            }
        }
        self.events
    }
}

fn check_status(e: &Error) {
    let s = e.status();
    assert!(
        matches!(s, 400 | 413 | 414 | 431 | 501 | 505),
        "peer error {e:?} maps to status {s}"
    );
    let text = e.to_string();
    assert!(!text.is_empty() && !text.starts_with(char::is_uppercase));
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_request(req: &Request, limits: &Limits) {
    let m = req.method.as_str();
    assert!(!m.is_empty() && m.bytes().all(is_tchar), "method {m:?}");
    let t = req.target.as_bytes();
    assert!(
        !t.is_empty() && t.len() <= limits.max_uri_len,
        "target len {}",
        t.len()
    );
    assert!(t.iter().all(|&b| b > 0x20 && b != 0x7f), "target {t:?}");
    assert!(t.is_ascii(), "non-ASCII target {t:?} (F1)");
    assert!(req.headers.len() <= limits.max_headers);
    for (name, value) in req.headers.iter() {
        assert!(
            !name.is_empty() && name.bytes().all(is_tchar),
            "name {name:?}"
        );
        assert!(
            value
                .iter()
                .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80),
            "value {value:?}"
        );
        assert!(!value.starts_with(b" ") && !value.starts_with(b"\t"));
        assert!(!value.ends_with(b" ") && !value.ends_with(b"\t"));
    }
    let hosts = req.headers.count("host");
    match req.version {
        Version::Http11 => assert_eq!(hosts, 1, "HTTP/1.1 request with {hosts} Host headers"),
        Version::Http10 => assert!(hosts <= 1),
    }
    // The helpers never panic on what the parser accepted.
    let _ = (req.path(), req.query(), req.host(), req.keep_alive());
    let _ = (
        req.is_upgrade(),
        req.is_upgrade_to("websocket"),
        req.expects_continue(),
    );
    for (k, v) in req.query_pairs().take(64) {
        let _ = (k.len(), v.len());
    }
    let _ = req.headers.list("connection").count();
    roundtrip(req);
}

/// An accepted head, re-encoded by our own encoder, parses back to itself.
fn roundtrip(req: &Request) {
    if req.version != Version::Http11 {
        return; // The encoder always writes HTTP/1.1.
    }
    let mut head = RequestHead::new(req.method.clone(), req.target.clone()).unwrap_or_else(|e| {
        panic!(
            "accepted target {:?} refused by the encoder: {e}",
            req.target
        )
    });
    for (name, value) in req.headers.iter() {
        head = head
            .header(name, value)
            .unwrap_or_else(|e| panic!("accepted field {name:?} refused by the encoder: {e}"));
    }
    let mut wire = BytesMut::new();
    encode_request_head(&head, &mut wire).expect("encode an accepted head");
    let big = Limits::default()
        .with_max_head_bytes(1 << 20)
        .with_max_headers(1 << 16)
        .with_max_uri_len(1 << 20);
    match parse_request(&wire, &big) {
        Ok(Status::Complete((back, n))) => {
            assert_eq!(n, wire.len());
            assert_eq!(&back, req, "re-encoded head parsed differently");
        }
        other => panic!("re-encoded head {wire:?} gave {other:?}"),
    }
}

fn limits(cfg: [u8; 4]) -> Limits {
    let d = Limits::default();
    Limits::default()
        .with_max_head_bytes(small_limit(cfg[0], d.max_head_bytes, 16, 256))
        .with_max_headers(small_limit(cfg[1], d.max_headers, 0, 12))
        .with_max_uri_len(small_limit(cfg[2], d.max_uri_len, 1, 64))
        .with_max_body(small_limit(cfg[3], d.max_body as usize, 0, 64) as u64)
        .with_max_chunk_ext_bytes(small_limit(cfg[3] >> 4, d.max_chunk_ext_bytes, 0, 16))
        .with_max_trailer_bytes(small_limit(cfg[3] >> 2, d.max_trailer_bytes, 0, 32))
}

fn transcript<'a>(limits: &Limits, pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Event> {
    let mut conn = Conn::new(limits);
    for p in pieces {
        conn.push(p);
    }
    conn.finish()
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let limits = limits(input.cfg);
    let data = input.data;

    let whole = transcript(&limits, [data]);

    // The one-shot function agrees with the connection's first head.
    match parse_request(data, &limits) {
        Ok(Status::Complete((req, _))) => match whole.first() {
            Some(Event::Head(r, _)) => assert_eq!(**r, req),
            Some(Event::Error(e)) => assert!(request_body_kind(&req).err().as_ref() == Some(e)),
            other => panic!("one-shot complete, connection says {other:?}"),
        },
        Ok(Status::Partial) => assert!(
            matches!(whole.first(), None | Some(Event::EofInHead(_))),
            "one-shot partial, connection says {:?}",
            whole.first()
        ),
        Err(e) => assert_eq!(whole.first(), Some(&Event::Error(e))),
    }

    let split = transcript(&limits, input.pieces());
    assert_eq!(whole, split, "whole vs split at {:?}", input.cuts);
    if data.len() <= BYTEWISE_MAX {
        let bytewise = transcript(&limits, data.chunks(1));
        assert_eq!(whole, bytewise, "whole vs byte by byte");
    }
});
