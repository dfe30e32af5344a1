//! Regression tests for what fuzzing found (fuzz/regressions/README.md).
use bytes::{Bytes, BytesMut};
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, CapacityError, Error, HeadParser, Limits, ProtocolError,
    ResponseHead, Status, UsageError, encode_response_head, parse_request,
};

/// F1 (fuzz target http_request): a request-target with bytes >= 0x80 was accepted.
#[test]
fn fuzz_f1_request_target_with_non_ascii_bytes_is_400() {
    let head = b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n";
    let limits = Limits::default();
    let err = parse_request(head, &limits).unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::Target));
    assert_eq!(err.status(), 400);
    // The same answer however the head is split.
    for cut in 0..head.len() {
        let mut p = HeadParser::new(&limits);
        let got = match p.parse_request(&head[..cut]) {
            Ok(Status::Partial) => p.parse_request(head),
            early => early,
        };
        assert_eq!(
            got,
            Err(Error::Protocol(ProtocolError::Target)),
            "cut at {cut}"
        );
    }
    // DEL is no URI character either.
    let del = b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(parse_request(del, &limits).unwrap_err().status(), 400);
}

/// F2 (fuzz target http_head_roundtrip): a reason phrase with non-ASCII text was accepted
/// by the builder, then parsed back as "" (httparse drops obs-text reason phrases).
#[test]
fn fuzz_f2_non_ascii_reason_phrase_is_refused_when_sending() {
    let refused = Err(Error::Usage(UsageError::InvalidReason));
    assert_eq!(
        ResponseHead::new(200).reason("\u{5dc}").map(|_| ()),
        refused
    );
    assert_eq!(
        ResponseHead::new(200).reason("caf\u{e9}").map(|_| ()),
        refused
    );
    let mut head = ResponseHead::new(200);
    head.reason = Some("\u{5dc}".into());
    assert_eq!(encode_response_head(&head, &mut BytesMut::new()), refused);
    // ASCII reasons still round trip.
    let head = ResponseHead::new(200).reason("Fine, Thanks").unwrap();
    let mut wire = BytesMut::new();
    encode_response_head(&head, &mut wire).unwrap();
    let (res, _) = pushwire_http::parse_response(&wire, &Limits::default())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(res.reason, "Fine, Thanks");
}

/// F3 (fuzz targets http_request, http_chunked): decoded() counted a chunk's announced
/// size as soon as its size line was read, before its data was handed out.
#[test]
fn fuzz_f3_decoded_counts_the_bytes_handed_out() {
    let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"5\r\nab"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(BodyChunk::Data(Bytes::from_static(b"ab"))))
    );
    assert_eq!(d.decoded(), 2);
    buf.extend_from_slice(b"cde\r\n0\r\n\r\n");
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(BodyChunk::Data(Bytes::from_static(b"cde"))))
    );
    assert_eq!(d.decode(&mut buf), Ok(Some(BodyChunk::End)));
    assert_eq!(d.decoded(), 5);
}

/// F4 (fuzz target http_response): a close-delimited body over `max_body` handed out
/// different bytes before `BodyTooLarge` depending on how the input was split.
#[test]
fn fuzz_f4_close_delimited_body_limit_is_split_proof() {
    let limits = Limits::default().with_max_body(1);
    let run = |pieces: &[&[u8]]| {
        let mut d = BodyDecoder::new(BodyKind::CloseDelimited, &limits);
        let (mut data, mut buf) = (Vec::new(), BytesMut::new());
        for p in pieces {
            buf.extend_from_slice(p);
            loop {
                match d.decode(&mut buf) {
                    Ok(Some(BodyChunk::Data(b))) => data.extend_from_slice(&b),
                    Ok(None) => break,
                    Ok(Some(BodyChunk::End)) => panic!("a close-delimited body ends at EOF"),
                    Err(e) => return (data, Some(e)),
                }
            }
        }
        (data, None)
    };
    let whole = run(&[b"ab"]);
    assert_eq!(
        whole,
        (
            b"a".to_vec(),
            Some(Error::Capacity(CapacityError::BodyTooLarge))
        )
    );
    assert_eq!(run(&[b"a", b"b"]), whole);
    // At the limit exactly, EOF ends the body.
    let mut d = BodyDecoder::new(BodyKind::CloseDelimited, &limits);
    let mut buf = BytesMut::from(&b"a"[..]);
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(BodyChunk::Data(Bytes::from_static(b"a"))))
    );
    assert_eq!(d.decode_eof(&mut buf), Ok(Some(BodyChunk::End)));
}
