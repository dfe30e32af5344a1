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

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::http_conn::{Event, Side, check_fields, transcript};
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit};
use pushwire_http::{
    BodyKind, Error, HeadParser, Limits, Method, Response, ResponseHead, Status, Version,
    encode_response_head, parse_response, response_body_kind,
};

struct ResponseSide(Method);

impl Side for ResponseSide {
    type Head = Response;
    fn parse(
        &self,
        parser: &mut HeadParser,
        buf: &[u8],
    ) -> Result<Status<(Response, usize)>, Error> {
        parser.parse_response(buf)
    }
    fn check(&self, res: &Response, limits: &Limits) {
        check_response(res, limits);
    }
    fn body_kind(&self, res: &Response) -> Result<BodyKind, Error> {
        let kind = response_body_kind(res, &self.0)?;
        let (s, method) = (res.status, &self.0);
        if *method == Method::Head
            || (100..200).contains(&s)
            || s == 204
            || s == 304
            || (*method == Method::Connect && (200..300).contains(&s))
        {
            assert_eq!(kind, BodyKind::None, "status {s} to {method}");
        }
        Ok(kind)
    }
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
    check_fields(&res.headers, limits);
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

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let limits = limits(input.cfg);
    let method = [Method::Get, Method::Head, Method::Connect, Method::Post]
        [usize::from(input.cfg[2] % 4)]
    .clone();
    let data = input.data;
    let side = ResponseSide(method.clone());

    let whole = transcript(&side, &limits, [data]);

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

    let split = transcript(&side, &limits, input.pieces());
    assert_eq!(whole, split, "whole vs split at {:?}", input.cuts);
    if data.len() <= BYTEWISE_MAX {
        let bytewise = transcript(&side, &limits, data.chunks(1));
        assert_eq!(whole, bytewise, "whole vs byte by byte");
    }
});
