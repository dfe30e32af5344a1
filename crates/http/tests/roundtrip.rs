//! Property tests: whatever we encode, we parse back identically, however it is split.

use bytes::BytesMut;
use proptest::prelude::*;
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, HeadParser, Limits, Method, RequestHead, ResponseHead,
    Status, encode_chunk, encode_last_chunk, encode_request_head, encode_response_head,
    parse_request, parse_response,
};

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}"
}

/// Field values as the encoder keeps them: no leading/trailing whitespace.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof!["", "[!-~]([ !-~\t]{0,40}[!-~])?"]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Head),
        Just(Method::Delete),
        "[A-Z]{1,10}".prop_map(|m| Method::from_token(&m).unwrap()),
    ]
}

/// Headers other than Host (added separately so the request is valid HTTP/1.1).
fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((token(), field_value()), 0..20).prop_map(|v| {
        v.into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
            .collect()
    })
}

/// Percent-encodes everything outside unreserved characters.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Parses `wire` whole and split in two at `split`, asserting both agree.
fn parse_req_split(wire: &[u8], split: usize) -> (pushwire_http::Request, usize) {
    let l = Limits::default();
    let whole = parse_request(wire, &l);
    let mut p = HeadParser::new(&l);
    let split = split % (wire.len() + 1);
    let mut split_out = p.parse_request(&wire[..split]);
    if split_out == Ok(Status::Partial) {
        split_out = p.parse_request(wire);
    }
    assert_eq!(whole, split_out);
    match whole {
        Ok(Status::Complete(r)) => r,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #[test]
    fn request_head_round_trip(
        m in method(),
        segs in prop::collection::vec("[a-z0-9]{0,8}", 1..5),
        params in prop::collection::vec(("[a-z]{1,6}", any::<String>()), 0..4),
        host in "[a-z0-9.-]{1,30}(:[0-9]{1,5})?",
        fields in fields(),
        split in any::<usize>(),
        tail in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut target = format!("/{}", segs.join("/"));
        if !params.is_empty() {
            let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", pct(v))).collect();
            target.push('?');
            target.push_str(&q.join("&"));
        }
        let mut head = RequestHead::new(m.clone(), target.clone()).unwrap().header("Host", &host).unwrap();
        for (n, v) in &fields {
            head = head.header(n, v).unwrap();
        }
        let mut wire = BytesMut::new();
        encode_request_head(&head, &mut wire).unwrap();
        let head_len = wire.len();
        wire.extend_from_slice(&tail);
        let (req, n) = parse_req_split(&wire, split);
        prop_assert_eq!(n, head_len);
        prop_assert_eq!(&req.method, &m);
        prop_assert_eq!(&req.target, &target);
        prop_assert_eq!(req.host(), Some(host.as_str()));
        let got: Vec<(String, Vec<u8>)> = req.headers.iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
        let want: Vec<(String, Vec<u8>)> = head.headers.iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
        prop_assert_eq!(got, want);
        for (k, v) in &params {
            // The first parameter of that name wins.
            let first = params.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.clone());
            prop_assert_eq!(req.query_param(k).map(|c| c.into_owned()), first);
            let _ = v;
        }
    }

    #[test]
    fn response_head_round_trip(
        status in 100u16..=999,
        reason in "[ -~]{0,20}",
        fields in fields(),
        split in any::<usize>(),
    ) {
        let mut head = ResponseHead::new(status).reason(reason.trim().to_owned()).unwrap();
        for (n, v) in &fields {
            head = head.header(n, v).unwrap();
        }
        let mut wire = BytesMut::new();
        encode_response_head(&head, &mut wire).unwrap();
        let l = Limits::default();
        let whole = parse_response(&wire, &l);
        let mut p = HeadParser::new(&l);
        let split = split % (wire.len() + 1);
        let mut split_out = p.parse_response(&wire[..split]);
        if split_out == Ok(Status::Partial) {
            split_out = p.parse_response(&wire);
        }
        prop_assert_eq!(&whole, &split_out);
        let Ok(Status::Complete((res, n))) = whole else { panic!("{whole:?}") };
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(res.status, status);
        prop_assert_eq!(res.reason.as_str(), reason.trim());
        prop_assert_eq!(res.headers, head.headers);
    }

    #[test]
    fn chunked_body_round_trip(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..10),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut wire = BytesMut::new();
        for c in &chunks {
            encode_chunk(c, &mut wire);
        }
        encode_last_chunk(&mut wire);
        wire.extend_from_slice(b"NEXT");
        let want: Vec<u8> = chunks.concat();
        // Deliver the wire in pieces cut at arbitrary points.
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut dec = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut from = 0;
        let mut ended = false;
        for to in points {
            buf.extend_from_slice(&wire[from..to]);
            from = to;
            while let Some(chunk) = dec.decode(&mut buf).unwrap() {
                match chunk {
                    BodyChunk::Data(d) => got.extend_from_slice(&d),
                    BodyChunk::End => { ended = true; break; }
                }
            }
            if ended { break; }
        }
        prop_assert!(ended);
        prop_assert_eq!(got, want);
        buf.extend_from_slice(&wire[from..]);
        prop_assert_eq!(&buf[..], b"NEXT");
    }

    #[test]
    fn length_body_round_trip(body in prop::collection::vec(any::<u8>(), 1..2000), cut in any::<usize>()) {
        let cut = cut % (body.len() + 1);
        let mut dec = BodyDecoder::new(BodyKind::Length(body.len() as u64), &Limits::default());
        let mut got = Vec::new();
        let mut buf = BytesMut::from(&body[..cut]);
        while let Some(BodyChunk::Data(d)) = dec.decode(&mut buf).unwrap() {
            got.extend_from_slice(&d);
        }
        buf.extend_from_slice(&body[cut..]);
        buf.extend_from_slice(b"X");
        loop {
            match dec.decode(&mut buf).unwrap() {
                Some(BodyChunk::Data(d)) => got.extend_from_slice(&d),
                Some(BodyChunk::End) => break,
                None => panic!("body complete but decoder wants more"),
            }
        }
        prop_assert_eq!(got, body);
        prop_assert_eq!(&buf[..], b"X");
    }

    /// No input makes the head parser or body decoder panic, and splitting never changes
    /// the request-head outcome.
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200), split in any::<usize>()) {
        let l = Limits::default().with_max_head_bytes(128);
        let whole = parse_request(&input, &l);
        let split = split % (input.len() + 1);
        let mut p = HeadParser::new(&l);
        let mut out = p.parse_request(&input[..split]);
        if out == Ok(Status::Partial) {
            out = p.parse_request(&input);
        }
        prop_assert_eq!(whole, out);
        let _ = parse_response(&input, &l);
        let mut dec = BodyDecoder::new(BodyKind::Chunked, &l);
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(BodyChunk::Data(_))) = dec.decode(&mut buf) {}
    }
}

proptest! {
    /// A valid head with a few bytes replaced by structurally interesting ones: whole,
    /// and split at every boundary, must agree (small limits so they trip too).
    #[test]
    fn mutated_heads_are_split_proof(
        edits in prop::collection::vec((any::<usize>(), prop::sample::select(vec![b'\r', b'\n', b' ', b':', b'\t', 0u8, b'a', b'/', b'H'])), 1..4),
        max_head in 20usize..80,
        max_headers in 1usize..4,
        max_uri in 1usize..12,
    ) {
        let mut wire = b"GET /abc?x=1 HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\nZ".to_vec();
        for (at, b) in edits {
            let at = at % wire.len();
            wire[at] = b;
        }
        let l = Limits::default().with_max_head_bytes(max_head).with_max_headers(max_headers).with_max_uri_len(max_uri);
        let whole = parse_request(&wire, &l);
        for split in 0..=wire.len() {
            let mut p = HeadParser::new(&l);
            let mut out = p.parse_request(&wire[..split]);
            if out == Ok(Status::Partial) {
                out = p.parse_request(&wire);
            }
            prop_assert_eq!(&whole, &out, "split {}", split);
        }
    }
}
