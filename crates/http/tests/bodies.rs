//! Body framing (RFC 9112 §6) and the chunked decoder (§7.1): examples, hostile inputs,
//! split-proofness.

use bytes::BytesMut;
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, CapacityError, Error, Limits, Method, ProtocolError, Request,
    Response, Status, encode_chunk, encode_last_chunk, parse_request, parse_response,
    request_body_kind, response_body_kind,
};

/// What decoding a whole input produced: the body bytes, then either the leftover bytes
/// after the end, "needs more", or an error.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ended { body: Vec<u8>, leftover: Vec<u8> },
    NeedMore { body: Vec<u8> },
    Failed { body: Vec<u8>, error: Error },
}

/// Decodes `input` delivered in the given pieces.
fn decode_pieces(kind: BodyKind, limits: &Limits, pieces: &[&[u8]]) -> Outcome {
    let mut dec = BodyDecoder::new(kind, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(BodyChunk::Data(d))) => {
                    assert!(!d.is_empty(), "empty Data chunk");
                    body.extend_from_slice(&d);
                }
                Ok(Some(BodyChunk::End)) => {
                    // Errors and ends are sticky.
                    assert_eq!(dec.decode(&mut BytesMut::new()), Ok(Some(BodyChunk::End)));
                    let mut leftover = buf.to_vec();
                    for p in pieces
                        .iter()
                        .skip_while(|p| !std::ptr::eq(*p, piece))
                        .skip(1)
                    {
                        leftover.extend_from_slice(p);
                    }
                    return Outcome::Ended { body, leftover };
                }
                Ok(None) => break,
                Err(error) => {
                    assert_eq!(
                        dec.decode(&mut buf),
                        Err(error.clone()),
                        "error not terminal"
                    );
                    return Outcome::Failed { body, error };
                }
            }
        }
    }
    Outcome::NeedMore { body }
}

/// Whole, byte by byte, and every two-way split must agree.
fn decode_all_ways(kind: BodyKind, limits: &Limits, input: &[u8]) -> Outcome {
    let whole = decode_pieces(kind, limits, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        whole,
        decode_pieces(kind, limits, &bytes),
        "byte by byte, {input:?}"
    );
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        assert_eq!(
            whole,
            decode_pieces(kind, limits, &[a, b]),
            "split at {split}, {input:?}"
        );
    }
    whole
}

fn chunked(input: &[u8]) -> Outcome {
    decode_all_ways(BodyKind::Chunked, &Limits::default(), input)
}

fn chunked_err(input: &[u8]) -> Error {
    match chunked(input) {
        Outcome::Failed { error, .. } => error,
        other => panic!("expected an error for {input:?}, got {other:?}"),
    }
}

fn request(head: &str) -> Request {
    match parse_request(head.as_bytes(), &Limits::default()) {
        Ok(Status::Complete((r, _))) => r,
        other => panic!("{head:?}: {other:?}"),
    }
}

fn response(head: &str) -> Response {
    match parse_response(head.as_bytes(), &Limits::default()) {
        Ok(Status::Complete((r, _))) => r,
        other => panic!("{head:?}: {other:?}"),
    }
}

#[test]
fn rfc9112_7_1_chunked_example_with_extension_and_trailer() {
    let input = b"4\r\nWiki\r\n6;name=value\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nGET";
    assert_eq!(
        chunked(input),
        Outcome::Ended {
            body: b"Wikipedia in \r\n\r\nchunks.".to_vec(),
            leftover: b"GET".to_vec()
        }
    );
}

#[test]
fn rfc9112_7_1_uppercase_hex_and_leading_zeros() {
    let input = format!("00A\r\n{}\r\n0\r\n\r\n", "x".repeat(10));
    assert_eq!(
        chunked(input.as_bytes()),
        Outcome::Ended {
            body: b"xxxxxxxxxx".to_vec(),
            leftover: vec![]
        }
    );
}

#[test]
fn rfc9112_7_1_1_bws_before_extension() {
    assert_eq!(
        chunked(b"3 \t;ext\r\nabc\r\n0\r\n\r\n"),
        Outcome::Ended {
            body: b"abc".to_vec(),
            leftover: vec![]
        }
    );
}

#[test]
fn incomplete_chunked_needs_more() {
    assert_eq!(
        chunked(b"5\r\nhel"),
        Outcome::NeedMore {
            body: b"hel".to_vec()
        }
    );
    assert_eq!(chunked(b"0\r\n\r"), Outcome::NeedMore { body: vec![] });
}

#[test]
fn hostile_chunk_size_overflow() {
    assert_eq!(
        chunked_err(b"10000000000000000\r\nx\r\n0\r\n\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b"FFFFFFFFFFFFFFFFF\r\n"),
        ProtocolError::ChunkSize.into()
    );
}

#[test]
fn hostile_chunk_size_16_digits_over_limit_is_413() {
    let e = chunked_err(b"FFFFFFFFFFFFFFFF\r\nx");
    assert_eq!(
        (e.clone(), e.status()),
        (CapacityError::BodyTooLarge.into(), 413)
    );
}

#[test]
fn hostile_chunk_size_missing_digit() {
    assert_eq!(
        chunked_err(b"\r\nabc\r\n0\r\n\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b";ext\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b" 3\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
}

#[test]
fn hostile_chunk_size_not_hex() {
    assert_eq!(
        chunked_err(b"3g\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b"0x3\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b"-3\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b"+3\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
    assert_eq!(
        chunked_err(b"3 x\r\nabc\r\n"),
        ProtocolError::ChunkSize.into()
    );
}

#[test]
fn hostile_unlimited_chunk_extension() {
    let l = Limits::default().with_max_chunk_ext_bytes(32);
    let ok = format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(31));
    assert!(matches!(
        decode_all_ways(BodyKind::Chunked, &l, ok.as_bytes()),
        Outcome::Ended { .. }
    ));
    let long = format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(32));
    let Outcome::Failed { error, .. } = decode_all_ways(BodyKind::Chunked, &l, long.as_bytes())
    else {
        panic!()
    };
    assert_eq!(
        (error.clone(), error.status()),
        (CapacityError::ChunkExtensionTooLong.into(), 400)
    );
    // Summed over chunks: many short extensions add up.
    let many = "1;eeeeeeeeee\r\na\r\n".repeat(4) + "0\r\n\r\n";
    assert!(matches!(
        decode_all_ways(BodyKind::Chunked, &l, many.as_bytes()),
        Outcome::Failed {
            error: Error::Capacity(CapacityError::ChunkExtensionTooLong),
            ..
        }
    ));
}

#[test]
fn hostile_bare_lf_in_chunk_extension_and_size_line() {
    assert_eq!(
        chunked_err(b"3;a\nabc\r\n0\r\n\r\n"),
        ProtocolError::ChunkExtension.into()
    );
    assert_eq!(
        chunked_err(b"3\nabc\r\n0\r\n\r\n"),
        ProtocolError::LineEnding.into()
    );
}

#[test]
fn hostile_bare_cr_in_size_line() {
    assert_eq!(
        chunked_err(b"3\rabc\r\n0\r\n\r\n"),
        ProtocolError::LineEnding.into()
    );
}

#[test]
fn hostile_chunk_data_not_followed_by_crlf_ghsa_vqfr_h8mv_ghfj() {
    assert_eq!(
        chunked_err(b"3\r\nabcXX0\r\n\r\n"),
        ProtocolError::ChunkDataEnd.into()
    );
    assert_eq!(
        chunked_err(b"3\r\nabc\rX0\r\n\r\n"),
        ProtocolError::ChunkDataEnd.into()
    );
    assert_eq!(
        chunked_err(b"3\r\nabc\n0\r\n\r\n"),
        ProtocolError::ChunkDataEnd.into()
    );
    // Size shorter than the data: the excess must not be read as the next chunk size.
    assert_eq!(
        chunked_err(b"2\r\nabc\r\n0\r\n\r\n"),
        ProtocolError::ChunkDataEnd.into()
    );
}

#[test]
fn hostile_trailers() {
    assert_eq!(
        chunked_err(b"0\r\n bad\r\n\r\n"),
        ProtocolError::Trailer.into()
    );
    assert_eq!(
        chunked_err(b"0\r\nX : v\r\n\r\n"),
        ProtocolError::Trailer.into()
    );
    assert_eq!(
        chunked_err(b"0\r\nX: a\0b\r\n\r\n"),
        ProtocolError::Trailer.into()
    );
    assert_eq!(
        chunked_err(b"0\r\nX: v\n\r\n"),
        ProtocolError::Trailer.into()
    );
    assert_eq!(
        chunked_err(b"0\r\nX: v\r\r\n"),
        ProtocolError::LineEnding.into()
    );
    assert_eq!(chunked_err(b"0\r\n\rX"), ProtocolError::LineEnding.into());
    let l = Limits::default().with_max_trailer_bytes(16);
    let big = format!("0\r\nX: {}\r\n\r\n", "v".repeat(20));
    let Outcome::Failed { error, .. } = decode_all_ways(BodyKind::Chunked, &l, big.as_bytes())
    else {
        panic!()
    };
    assert_eq!(
        (error.clone(), error.status()),
        (CapacityError::TrailersTooLarge.into(), 431)
    );
}

#[test]
fn chunked_body_limit_413_counts_decoded_bytes() {
    let l = Limits::default().with_max_body(10);
    let ok = b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    assert!(matches!(
        decode_all_ways(BodyKind::Chunked, &l, ok),
        Outcome::Ended { .. }
    ));
    let over = b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n";
    assert_eq!(
        decode_all_ways(BodyKind::Chunked, &l, over),
        Outcome::Failed {
            body: b"hello".to_vec(),
            error: CapacityError::BodyTooLarge.into()
        }
    );
}

#[test]
fn content_length_body_and_pipelining() {
    let l = Limits::default();
    assert_eq!(
        decode_all_ways(BodyKind::Length(5), &l, b"helloGET /"),
        Outcome::Ended {
            body: b"hello".to_vec(),
            leftover: b"GET /".to_vec()
        }
    );
    assert_eq!(
        decode_all_ways(BodyKind::None, &l, b"GET /"),
        Outcome::Ended {
            body: vec![],
            leftover: b"GET /".to_vec()
        }
    );
    let small = Limits::default().with_max_body(4);
    assert_eq!(
        decode_all_ways(BodyKind::Length(5), &small, b"hello"),
        Outcome::Failed {
            body: vec![],
            error: CapacityError::BodyTooLarge.into()
        }
    );
}

#[test]
fn decode_eof_rules() {
    let l = Limits::default();
    let mut d = BodyDecoder::new(BodyKind::CloseDelimited, &l);
    let mut buf = BytesMut::from(&b"tail"[..]);
    assert_eq!(
        d.decode_eof(&mut buf),
        Ok(Some(BodyChunk::Data("tail".into())))
    );
    assert_eq!(d.decode_eof(&mut buf), Ok(Some(BodyChunk::End)));
    let mut d = BodyDecoder::new(BodyKind::Length(5), &l);
    let mut buf = BytesMut::from(&b"hel"[..]);
    assert_eq!(
        d.decode_eof(&mut buf),
        Ok(Some(BodyChunk::Data("hel".into())))
    );
    assert_eq!(
        d.decode_eof(&mut buf),
        Err(ProtocolError::UnexpectedEof.into())
    );
    assert_eq!(d.decode(&mut buf), Err(ProtocolError::UnexpectedEof.into()));
    let mut d = BodyDecoder::new(BodyKind::Chunked, &l);
    let mut buf = BytesMut::from(&b"5\r\nhello\r\n"[..]);
    assert!(matches!(
        d.decode_eof(&mut buf),
        Ok(Some(BodyChunk::Data(_)))
    ));
    assert_eq!(
        d.decode_eof(&mut buf),
        Err(ProtocolError::UnexpectedEof.into())
    );
    let small = Limits::default().with_max_body(3);
    let mut d = BodyDecoder::new(BodyKind::CloseDelimited, &small);
    let mut buf = BytesMut::from(&b"four"[..]);
    // What fits is handed out first, so the outcome does not depend on the split (F4).
    assert_eq!(d.decode(&mut buf), Ok(Some(BodyChunk::Data("fou".into()))));
    assert_eq!(d.decode(&mut buf), Err(CapacityError::BodyTooLarge.into()));
}

#[test]
fn chunk_encoder_round_trip() {
    let mut out = BytesMut::new();
    encode_chunk(b"", &mut out);
    assert!(out.is_empty(), "an empty chunk would end the body");
    encode_chunk(&[7u8; 300], &mut out);
    encode_chunk(b"x", &mut out);
    encode_last_chunk(&mut out);
    assert!(out.starts_with(b"12c\r\n"));
    let mut body = vec![7u8; 300];
    body.push(b'x');
    assert_eq!(
        chunked(&out),
        Outcome::Ended {
            body,
            leftover: vec![]
        }
    );
}

// ---- framing: RFC 9112 §6.3 ----

fn kind_err(head: &str) -> Error {
    request_body_kind(&request(head)).unwrap_err()
}

#[test]
fn rfc9112_6_3_request_framing() {
    let k = |h: &str| request_body_kind(&request(h));
    assert_eq!(k("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Ok(BodyKind::None));
    assert_eq!(
        k("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
        Ok(BodyKind::None)
    );
    assert_eq!(
        k("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"),
        Ok(BodyKind::Length(12))
    );
    assert_eq!(
        k("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n"),
        Ok(BodyKind::Length(3))
    );
    assert_eq!(
        k("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
        Ok(BodyKind::Length(3))
    );
    assert_eq!(
        k("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"),
        Ok(BodyKind::Chunked)
    );
}

#[test]
fn hostile_cl_and_te_together() {
    for h in [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    ] {
        let e = kind_err(h);
        assert_eq!(
            (e.clone(), e.status()),
            (ProtocolError::ContentLengthWithTransferEncoding.into(), 400)
        );
    }
}

#[test]
fn hostile_transfer_encodings() {
    let te = |v: &str| {
        kind_err(&format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n"
        ))
    };
    for v in [
        "gzip",
        "chunked, gzip",
        "gzip, chunked",
        "identity",
        "chunked;q=1",
        "xchunked",
    ] {
        let e = te(v);
        assert_eq!(
            (e.clone(), e.status()),
            (Error::UnsupportedTransferCoding, 501),
            "{v}"
        );
    }
    for v in ["chunked, chunked", ",", ""] {
        let e = te(v);
        assert_eq!(
            (e.clone(), e.status()),
            (ProtocolError::InvalidTransferEncoding.into(), 400),
            "{v:?}"
        );
    }
    // Duplicated Transfer-Encoding fields, each `chunked`.
    let e = kind_err(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(e, ProtocolError::InvalidTransferEncoding.into());
    let e = kind_err(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
    );
    assert_eq!(e, Error::UnsupportedTransferCoding);
    // Any Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1).
    let e = kind_err("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        (e.clone(), e.status()),
        (ProtocolError::InvalidTransferEncoding.into(), 400)
    );
}

#[test]
fn hostile_content_lengths() {
    let cl = |v: &str| {
        kind_err(&format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n"
        ))
    };
    for v in [
        "+5",
        "-1",
        "5 5",
        "0x5",
        "5.0",
        "18446744073709551616",
        "99999999999999999999999",
        "5,",
        "abc",
    ] {
        let e = cl(v);
        assert_eq!(
            (e.clone(), e.status()),
            (ProtocolError::InvalidContentLength.into(), 400),
            "{v}"
        );
    }
    for v in ["5, 6", "1,2"] {
        assert_eq!(cl(v), ProtocolError::ConflictingContentLength.into(), "{v}");
    }
    let e =
        kind_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    assert_eq!(e, ProtocolError::ConflictingContentLength.into());
    // Huge but valid: refused by the limit, before any body byte, as 413.
    let k = request_body_kind(&request(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
    ))
    .unwrap();
    let e = k.check(&Limits::default()).unwrap_err();
    assert_eq!(
        (e.clone(), e.status()),
        (CapacityError::BodyTooLarge.into(), 413)
    );
}

#[test]
fn rfc9112_6_3_response_framing() {
    let get = Method::Get;
    let k = |h: &str, m: &Method| response_body_kind(&response(h), m);
    assert_eq!(
        k(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            &Method::Head
        ),
        Ok(BodyKind::None)
    );
    for s in [100, 101, 103, 204, 304] {
        let h = format!("HTTP/1.1 {s} X\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(k(&h, &get), Ok(BodyKind::None), "{s}");
    }
    assert_eq!(
        k("HTTP/1.1 200 OK\r\n\r\n", &Method::Connect),
        Ok(BodyKind::None)
    );
    assert_eq!(
        k("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &get),
        Ok(BodyKind::Length(5))
    );
    assert_eq!(
        k(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            &get
        ),
        Ok(BodyKind::Chunked)
    );
    assert_eq!(
        k(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
            &get
        ),
        Ok(BodyKind::CloseDelimited)
    );
    assert_eq!(
        k("HTTP/1.0 200 OK\r\n\r\n", &get),
        Ok(BodyKind::CloseDelimited)
    );
    assert_eq!(
        k(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            &get
        ),
        Err(ProtocolError::ContentLengthWithTransferEncoding.into())
    );
    assert_eq!(
        k("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &get),
        Err(Error::UnsupportedTransferCoding)
    );
}
