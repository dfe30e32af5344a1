//! Structure-aware round trip of HTTP heads: an arbitrary request head / response head
//! built with pushwire-http's builders, encoded with `encode_request_head` /
//! `encode_response_head`, parses back (`parse_request` / `parse_response`, whole and at an
//! arbitrary cut) to the same method, target, status, reason and fields.
//!
//! Also asserts that the builders refuse exactly what they must: a method or field name
//! that is not a token, a target that is empty or has bytes outside `0x21..=0x7e`, a field
//! value with CR, LF, NUL or another control byte, a reason phrase with a control byte.
//! What the encoder accepts, our own parser must accept (our client talks to our server).
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushwire_http::{
    HeadParser, Limits, Method, RequestHead, ResponseHead, Status, Version, encode_request_head,
    encode_response_head, parse_request, parse_response, reason_phrase,
};

#[derive(Debug, Arbitrary)]
struct Case {
    method: String,
    target: String,
    host: String,
    fields: Vec<(String, Vec<u8>)>,
    status: u16,
    reason: Option<String>,
    cut: u16,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn valid_value(v: &[u8]) -> bool {
    trim_ows(v)
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
}

fn big_limits() -> Limits {
    Limits::default()
        .with_max_head_bytes(1 << 20)
        .with_max_headers(1 << 16)
        .with_max_uri_len(1 << 20)
}

fuzz_target!(|case: Case| {
    let limits = big_limits();

    // ---- request ----
    let method = match Method::from_token(&case.method) {
        Ok(m) => {
            assert!(is_token(&case.method));
            m
        }
        Err(e) => {
            assert!(
                !is_token(&case.method),
                "token method {:?} refused: {e}",
                case.method
            );
            Method::Get
        }
    };
    let target_ok =
        !case.target.is_empty() && case.target.bytes().all(|b| (0x21..=0x7e).contains(&b));
    let head = match RequestHead::new(method.clone(), case.target.clone()) {
        Ok(h) => {
            assert!(target_ok, "target {:?} accepted", case.target);
            Some(h)
        }
        Err(_) => {
            assert!(!target_ok, "target {:?} refused", case.target);
            None
        }
    };
    let host_ok = !case.host.is_empty()
        && case
            .host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b));
    if let (Some(mut head), true) = (head, host_ok) {
        head = head.header("Host", &case.host).expect("valid host");
        for (name, value) in case.fields.iter().take(32) {
            if name.eq_ignore_ascii_case("host") {
                continue;
            }
            let ok = is_token(name) && valid_value(value);
            match head.clone().header(name, value) {
                Ok(h) => {
                    assert!(ok, "field {name:?}: {value:?} accepted");
                    head = h;
                }
                Err(_) => assert!(!ok, "field {name:?}: {value:?} refused"),
            }
        }
        let mut wire = BytesMut::new();
        encode_request_head(&head, &mut wire).expect("encode a built head");
        let req = match parse_request(&wire, &limits) {
            Ok(Status::Complete((req, n))) => {
                assert_eq!(n, wire.len());
                req
            }
            other => panic!("own request head {wire:?} parsed as {other:?}"),
        };
        assert_eq!(req.method, head.method);
        assert_eq!(req.target, head.target);
        assert_eq!(req.version, Version::Http11);
        assert_eq!(req.headers, head.headers);
        // The incremental parser, fed in two pieces, agrees.
        let cut = usize::from(case.cut) % (wire.len() + 1);
        let mut p = HeadParser::new(&limits);
        if cut < wire.len() {
            assert_eq!(p.parse_request(&wire[..cut]), Ok(Status::Partial));
        }
        assert_eq!(
            p.parse_request(&wire),
            Ok(Status::Complete((req, wire.len())))
        );
    }

    // ---- response ----
    let mut res = ResponseHead::new(case.status);
    if let Some(r) = &case.reason {
        let ok = r
            .bytes()
            .all(|b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b));
        match res.clone().reason(r.clone()) {
            Ok(h) => {
                assert!(ok, "reason {r:?} accepted");
                res = h;
            }
            Err(_) => assert!(!ok, "reason {r:?} refused"),
        }
    }
    for (name, value) in case.fields.iter().take(32) {
        if let Ok(h) = res.clone().header(name, value) {
            res = h;
        }
    }
    let mut wire = BytesMut::new();
    match encode_response_head(&res, &mut wire) {
        Ok(()) => assert!((100..=999).contains(&case.status)),
        Err(_) => {
            assert!(
                !(100..=999).contains(&case.status),
                "status {} refused",
                case.status
            );
            return;
        }
    }
    let back = match parse_response(&wire, &limits) {
        Ok(Status::Complete((back, n))) => {
            assert_eq!(n, wire.len());
            back
        }
        other => panic!("own response head {wire:?} parsed as {other:?}"),
    };
    assert_eq!(back.status, case.status);
    assert_eq!(back.version, Version::Http11);
    let reason = res.reason.as_deref().unwrap_or(reason_phrase(case.status));
    assert_eq!(back.reason, reason, "reason phrase");
    assert_eq!(back.headers, res.headers);
});
