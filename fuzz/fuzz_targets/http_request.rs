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

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::http_conn::{Event, Side, check_fields, is_tchar, transcript};
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit};
use pushwire_http::{
    BodyKind, Error, HeadParser, Limits, Request, RequestHead, Status, Version,
    encode_request_head, parse_request, request_body_kind,
};

struct RequestSide;

impl Side for RequestSide {
    type Head = Request;
    fn parse(
        &self,
        parser: &mut HeadParser,
        buf: &[u8],
    ) -> Result<Status<(Request, usize)>, Error> {
        parser.parse_request(buf)
    }
    fn check(&self, req: &Request, limits: &Limits) {
        check_request(req, limits);
    }
    fn body_kind(&self, req: &Request) -> Result<BodyKind, Error> {
        request_body_kind(req)
    }
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
    check_fields(&req.headers, limits);
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

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let limits = limits(input.cfg);
    let data = input.data;

    let whole = transcript(&RequestSide, &limits, [data]);

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

    let split = transcript(&RequestSide, &limits, input.pieces());
    assert_eq!(whole, split, "whole vs split at {:?}", input.cuts);
    if data.len() <= BYTEWISE_MAX {
        let bytewise = transcript(&RequestSide, &limits, data.chunks(1));
        assert_eq!(whole, bytewise, "whole vs byte by byte");
    }
});
