//! One HTTP/1.1 connection's transcript, shared by the `http_request` and `http_response`
//! targets: heads from the incremental `HeadParser`, then body framing with `BodyDecoder`,
//! repeated for pipelined messages, and what is left at EOF. The two targets differ only in
//! which head they parse, what they assert about it and how its body is framed: the
//! [`Side`] they pass in.

use std::fmt::Debug;

use bytes::{Buf, BytesMut};
use pushwire_http::{BodyChunk, BodyDecoder, BodyKind, Error, HeadParser, Headers, Limits, Status};

/// Most messages followed on one connection (bounds the work per input).
pub const MAX_MESSAGES: usize = 16;

/// The part of the transcript that depends on the direction.
pub trait Side {
    /// `Request` or `Response`.
    type Head: Debug + Clone + PartialEq;
    /// Parses the next head with the incremental parser.
    fn parse(
        &self,
        parser: &mut HeadParser,
        buf: &[u8],
    ) -> Result<Status<(Self::Head, usize)>, Error>;
    /// Asserts what every accepted head must satisfy.
    fn check(&self, head: &Self::Head, limits: &Limits);
    /// The head's body framing (asserting the side's own rules about it).
    fn body_kind(&self, head: &Self::Head) -> Result<BodyKind, Error>;
}

/// One entry of a connection's transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<H> {
    /// An accepted head and its body framing.
    Head(Box<H>, BodyKind),
    /// A body that ended: all its bytes.
    Body(Vec<u8>),
    /// A body cut by an error: the bytes handed out before it.
    BodyThenError(Vec<u8>, Error),
    /// A terminal error in a head or its framing.
    Error(Error),
    /// EOF inside a head: how many bytes were buffered.
    EofInHead(usize),
}

enum State {
    Head,
    Body(BodyDecoder, BodyKind),
}

struct Conn<'s, S: Side> {
    side: &'s S,
    limits: Limits,
    parser: HeadParser,
    buf: BytesMut,
    state: State,
    body: Vec<u8>,
    events: Vec<Event<S::Head>>,
    done: bool,
    messages: usize,
}

impl<S: Side> Conn<'_, S> {
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
                State::Head => match self.side.parse(&mut self.parser, &self.buf) {
                    Ok(Status::Partial) => {
                        assert!(
                            self.buf.len() <= self.limits.max_head_bytes,
                            "partial head of {} bytes over max_head_bytes {}",
                            self.buf.len(),
                            self.limits.max_head_bytes
                        );
                        return;
                    }
                    Ok(Status::Complete((head, n))) => {
                        assert!(n > 0 && n <= self.buf.len());
                        assert!(
                            n <= self.limits.max_head_bytes,
                            "head of {n} bytes accepted"
                        );
                        self.side.check(&head, &self.limits);
                        self.buf.advance(n);
                        self.messages += 1;
                        match self.side.body_kind(&head) {
                            Ok(kind) => {
                                self.events.push(Event::Head(Box::new(head), kind));
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
                        if self.messages >= MAX_MESSAGES {
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

    fn finish(mut self) -> Vec<Event<S::Head>> {
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

/// The transcript of one connection fed `pieces` in order.
pub fn transcript<'a, S: Side>(
    side: &S,
    limits: &Limits,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Event<S::Head>> {
    let mut conn = Conn {
        side,
        limits: limits.clone(),
        parser: HeadParser::new(limits),
        buf: BytesMut::new(),
        state: State::Head,
        body: Vec::new(),
        events: Vec::new(),
        done: false,
        messages: 0,
    };
    for p in pieces {
        conn.push(p);
    }
    conn.finish()
}

/// Every error the peer can cause maps to a status the server may send, and its message is
/// a lowercase phrase.
pub fn check_status(e: &Error) {
    let s = e.status();
    assert!(
        matches!(s, 400 | 413 | 414 | 431 | 501 | 505),
        "peer error {e:?} maps to status {s}"
    );
    let text = e.to_string();
    assert!(!text.is_empty() && !text.starts_with(char::is_uppercase));
}

/// RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Accepted fields: at most `max_headers`, token names, values without control bytes and
/// without surrounding whitespace.
pub fn check_fields(headers: &Headers, limits: &Limits) {
    assert!(headers.len() <= limits.max_headers);
    for (name, value) in headers.iter() {
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
}
