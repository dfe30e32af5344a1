//! Arbitrary bytes as the server's side of one client connection: response heads
//! (incremental `HeadParser::parse_response` and the one-shot `parse_response`), body framing
//! (`response_body_kind` for the request method picked by config byte 2: GET, HEAD, CONNECT
//! or POST; `BodyDecoder`, close-delimited bodies ended by `decode_eof`) and several responses
//! in a row (`100 Continue`, then the final one), under small limits. This is what the SSE
//! and WebSocket clients parse.
//!
//! Asserts:
//! - the transcript (heads, bodies, errors, what is left at EOF) is identical whether the
//!   bytes arrive whole, at fuzzer-chosen cuts, or one at a time (short inputs);
//! - the one-shot `parse_response` agrees with the first head;
//! - every accepted head has a three-digit status, a reason without control bytes, valid
//!   trimmed fields, and re-encoded with `encode_response_head` parses back to itself;
//! - no body after HEAD, 1xx, 204, 304 or a 2xx to CONNECT; a body never exceeds `max_body`;
//!   a `Content-Length` body is exactly that long; no empty data chunk.
#![no_main]

use bytes::{Buf, BytesMut};
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit};
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, Error, HeadParser, Limits, Method, Response, ResponseHead,
    Status, Version, encode_response_head, parse_response, response_body_kind,
};

/// Most responses followed on one connection (bounds the work per input).
const MAX_RESPONSES: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Head(Box<Response>, BodyKind),
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
    method: Method,
    limits: Limits,
    parser: HeadParser,
    buf: BytesMut,
    state: State,
    body: Vec<u8>,
    events: Vec<Event>,
    done: bool,
    responses: usize,
}

impl Conn {
    fn new(limits: &Limits, method: &Method) -> Conn {
        Conn {
            method: method.clone(),
            limits: limits.clone(),
            parser: HeadParser::new(limits),
            buf: BytesMut::new(),
            state: State::Head,
            body: Vec::new(),
            events: Vec::new(),
            done: false,
            responses: 0,
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
                State::Head => match self.parser.parse_response(&self.buf) {
                    Ok(Status::Partial) => {
                        assert!(
                            self.buf.len() <= self.limits.max_head_bytes,
                            "partial head of {} bytes over max_head_bytes {}",
                            self.buf.len(),
                            self.limits.max_head_bytes
                        );
                        return;
                    }
                    Ok(Status::Complete((res, n))) => {
                        assert!(n > 0 && n <= self.buf.len());
                        assert!(
                            n <= self.limits.max_head_bytes,
                            "head of {n} bytes accepted"
                        );
                        check_response(&res, &self.limits);
                        self.buf.advance(n);
                        self.responses += 1;
                        match response_body_kind(&res, &self.method) {
                            Ok(kind) => {
                                let s = res.status;
                                if self.method == Method::Head
                                    || (100..200).contains(&s)
                                    || s == 204
                                    || s == 304
                                    || (self.method == Method::Connect && (200..300).contains(&s))
                                {
                                    assert_eq!(
                                        kind,
                                        BodyKind::None,
                                        "status {s} to {}",
                                        self.method
                                    );
                                }
                                self.events.push(Event::Head(Box::new(res), kind));
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
                        if self.responses >= MAX_RESPONSES {
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

fn check_response(res: &Response, limits: &Limits) {
    assert!((100..=999).contains(&res.status), "status {}", res.status);
    assert!(
        res.reason
            .bytes()
            .all(|b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80),
        "reason {:?}",
        res.reason
    );
    assert!(res.headers.len() <= limits.max_headers);
    for (name, value) in res.headers.iter() {
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
    let _ = (res.keep_alive(), res.is_upgrade_to("websocket"));
    roundtrip(res);
}

/// An accepted head, re-encoded by our own encoder, parses back to itself.
fn roundtrip(res: &Response) {
    if res.version != Version::Http11 {
        return; // The encoder always writes HTTP/1.1.
    }
    let mut head = ResponseHead::new(res.status)
        .reason(res.reason.clone())
        .unwrap_or_else(|e| {
            panic!(
                "accepted reason {:?} refused by the encoder: {e}",
                res.reason
            )
        });
    for (name, value) in res.headers.iter() {
        head = head
            .header(name, value)
            .unwrap_or_else(|e| panic!("accepted field {name:?} refused by the encoder: {e}"));
    }
    let mut wire = BytesMut::new();
    encode_response_head(&head, &mut wire).expect("encode an accepted head");
    let big = Limits::default()
        .with_max_head_bytes(1 << 20)
        .with_max_headers(1 << 16);
    match parse_response(&wire, &big) {
        Ok(Status::Complete((back, n))) => {
            assert_eq!(n, wire.len());
            assert_eq!(&back, res, "re-encoded head parsed differently");
        }
        other => panic!("re-encoded head {wire:?} gave {other:?}"),
    }
}

fn limits(cfg: [u8; 4]) -> Limits {
    let d = Limits::default();
    Limits::default()
        .with_max_head_bytes(small_limit(cfg[0], d.max_head_bytes, 16, 256))
        .with_max_headers(small_limit(cfg[1], d.max_headers, 0, 12))
        .with_max_body(small_limit(cfg[3], d.max_body as usize, 0, 64) as u64)
        .with_max_chunk_ext_bytes(small_limit(cfg[3] >> 4, d.max_chunk_ext_bytes, 0, 16))
        .with_max_trailer_bytes(small_limit(cfg[3] >> 2, d.max_trailer_bytes, 0, 32))
}

fn transcript<'a>(
    limits: &Limits,
    method: &Method,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Event> {
    let mut conn = Conn::new(limits, method);
    for p in pieces {
        conn.push(p);
    }
    conn.finish()
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let limits = limits(input.cfg);
    let method = [Method::Get, Method::Head, Method::Connect, Method::Post]
        [usize::from(input.cfg[2] % 4)]
    .clone();
    let data = input.data;

    let whole = transcript(&limits, &method, [data]);

    // The one-shot function agrees with the first head.
    match parse_response(data, &limits) {
        Ok(Status::Complete((res, _))) => match whole.first() {
            Some(Event::Head(r, _)) => assert_eq!(**r, res),
            Some(Event::Error(e)) => {
                assert!(response_body_kind(&res, &method).err().as_ref() == Some(e))
            }
            other => panic!("one-shot complete, connection says {other:?}"),
        },
        Ok(Status::Partial) => assert!(
            matches!(whole.first(), None | Some(Event::EofInHead(_))),
            "one-shot partial, connection says {:?}",
            whole.first()
        ),
        Err(e) => assert_eq!(whole.first(), Some(&Event::Error(e))),
    }

    let split = transcript(&limits, &method, input.pieces());
    assert_eq!(whole, split, "whole vs split at {:?}", input.cuts);
    if data.len() <= BYTEWISE_MAX {
        let bytewise = transcript(&limits, &method, data.chunks(1));
        assert_eq!(whole, bytewise, "whole vs byte by byte");
    }
});
