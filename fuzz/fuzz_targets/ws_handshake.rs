//! The WebSocket opening handshake (RFC 6455 §4) on arbitrary heads.
//!
//! Input layout as the other byte-stream targets; the low bit of config byte 0 picks:
//! - **server** (bit clear): the data is a request head, parsed with pushwire-http, then
//!   `handshake::accept(&req, &["chat", "superchat"])`. Accepted exactly when an independent
//!   check of §4.2.1 says so (GET, HTTP/1.1, a Host, `Upgrade` listing `websocket`,
//!   `Connection` listing `upgrade`, one `Sec-WebSocket-Version: 13`, one key that is the
//!   canonical base64 of 16 bytes). An accepted request's `101` encodes, parses back, and
//!   carries `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)) (computed here with the
//!   `sha1` crate, §4.2.2) and the first offered protocol we speak; a refused one's answer
//!   (`reject_response`) is 400, 403 or 426 (+ `Sec-WebSocket-Version: 13`).
//! - **client** (bit set): the data is a response head, in which `{ACCEPT}` is replaced by
//!   the right `Sec-WebSocket-Accept` for the client's random key (so the fuzzer can reach
//!   every later check), verified by `ClientHandshake::verify`. Accepted exactly when an
//!   independent check of §4.1 says so (101, `Upgrade: websocket`, `Connection: upgrade`,
//!   one correct accept, no extension, at most one protocol and one that was offered).
//!
//! Both modes also check that our client's request passes our server's `accept`, and that
//! the client verifies our server's `101` (the handshake round trip).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::Input;
use pushwire_http::{
    Headers, Limits, Method, Request, Response, Status, Version, encode_request_head,
    encode_response_head, parse_request, parse_response,
};
use pushwire_ws::HandshakeError;
use pushwire_ws::handshake::{ClientHandshake, accept, reject_response};
use sha1::{Digest, Sha1};

const PROTOCOLS: [&str; 2] = ["chat", "superchat"];

fn expected_accept(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(h.finalize())
}

/// The comma-separated elements of every `name` field, trimmed, empty ones skipped.
fn elements<'a>(h: &'a Headers, name: &'a str) -> Vec<&'a [u8]> {
    h.iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(|e| e.trim_ascii())
        .filter(|e| !e.is_empty())
        .collect()
}

fn lists(h: &Headers, name: &str, token: &str) -> bool {
    elements(h, name)
        .iter()
        .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

fn fields<'a>(h: &'a Headers, name: &'a str) -> Vec<&'a [u8]> {
    h.iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// 16 bytes in canonical base64: 21 free characters, one with the low 4 bits clear, `==`.
fn is_key(k: &[u8]) -> bool {
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    k.len() == 24 && k[..21].iter().all(b64) && b"AQgw".contains(&k[21]) && &k[22..] == b"=="
}

/// RFC 6455 §4.2.1, written from the text.
fn valid_request(req: &Request) -> bool {
    let h = &req.headers;
    req.method == Method::Get
        && req.version == Version::Http11
        && req.host().is_some_and(|host| !host.is_empty())
        && lists(h, "upgrade", "websocket")
        && lists(h, "connection", "upgrade")
        && fields(h, "sec-websocket-version") == [b"13"]
        && matches!(fields(h, "sec-websocket-key")[..], [k] if is_key(k))
}

/// RFC 6455 §4.1 (client side), written from the text; `Ok(protocol)` when valid.
fn valid_response(res: &Response, key: &str, offered: &[&str]) -> Option<Option<String>> {
    let h = &res.headers;
    let ok = res.status == 101
        && lists(h, "upgrade", "websocket")
        && lists(h, "connection", "upgrade")
        && fields(h, "sec-websocket-accept") == [expected_accept(key.as_bytes()).as_bytes()]
        && elements(h, "sec-websocket-extensions").is_empty();
    if !ok {
        return None;
    }
    match elements(h, "sec-websocket-protocol")[..] {
        [] => Some(None),
        [p] => {
            let p = std::str::from_utf8(p).ok()?;
            offered.contains(&p).then(|| Some(p.to_owned()))
        }
        _ => None,
    }
}

fn reparse_response(head: &pushwire_http::ResponseHead) -> Response {
    let mut wire = BytesMut::new();
    encode_response_head(head, &mut wire).expect("our response head encodes");
    match parse_response(&wire, &Limits::default()) {
        Ok(Status::Complete((res, n))) if n == wire.len() => res,
        other => panic!("our response head {wire:?} parses as {other:?}"),
    }
}

fn server(req: &Request) {
    let valid = valid_request(req);
    match accept(req, &PROTOCOLS) {
        Ok(acc) => {
            assert!(valid, "accepted a request §4.2.1 refuses: {req:?}");
            let res = reparse_response(&acc.response);
            assert_eq!(res.status, 101);
            assert!(res.is_upgrade_to("websocket"));
            let key = fields(&req.headers, "sec-websocket-key")[0];
            assert_eq!(
                fields(&res.headers, "sec-websocket-accept"),
                [expected_accept(key).as_bytes()],
                "Sec-WebSocket-Accept"
            );
            let first_spoken = elements(&req.headers, "sec-websocket-protocol")
                .into_iter()
                .filter_map(|p| std::str::from_utf8(p).ok())
                .find(|p| PROTOCOLS.contains(p));
            assert_eq!(acc.protocol.as_deref(), first_spoken);
            let sent: Vec<&[u8]> = fields(&res.headers, "sec-websocket-protocol");
            assert_eq!(
                sent,
                first_spoken
                    .map(str::as_bytes)
                    .into_iter()
                    .collect::<Vec<_>>()
            );
            assert!(fields(&res.headers, "sec-websocket-extensions").is_empty());
        }
        Err(e) => {
            assert!(!valid, "refused a valid request ({e:?}): {req:?}");
            let status = e.status();
            assert!(matches!(status, 400 | 403 | 426), "{e:?} answers {status}");
            let res = reparse_response(&reject_response(&e));
            assert_eq!(res.status, status);
            if e == HandshakeError::UnsupportedVersion {
                assert_eq!(fields(&res.headers, "sec-websocket-version"), [b"13"]);
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

fn round_trip() -> ClientHandshake {
    let (hs, head) = ClientHandshake::new("server.example.com", "/chat?topic=a", &PROTOCOLS)
        .expect("a valid client request");
    let mut wire = BytesMut::new();
    encode_request_head(&head, &mut wire).expect("our request head encodes");
    let req = match parse_request(&wire, &Limits::default()) {
        Ok(Status::Complete((req, _))) => req,
        other => panic!("our request head parses as {other:?}"),
    };
    assert!(valid_request(&req));
    let acc = accept(&req, &PROTOCOLS).expect("our server accepts our client");
    let res = reparse_response(&acc.response);
    assert_eq!(hs.verify(&res), Ok(acc.protocol.clone()));
    assert_eq!(acc.protocol.as_deref(), Some("chat"));
    hs
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let limits = Limits::default();
    let hs = round_trip();
    if input.cfg[0] & 1 == 0 {
        if let Ok(Status::Complete((req, _))) = parse_request(input.data, &limits) {
            server(&req);
        }
    } else {
        let accept = expected_accept(hs.key().as_bytes());
        let mut data = Vec::with_capacity(input.data.len() + 32);
        let mut rest = input.data;
        while let Some(i) = rest.windows(8).position(|w| w == b"{ACCEPT}") {
            data.extend_from_slice(&rest[..i]);
            data.extend_from_slice(accept.as_bytes());
            rest = &rest[i + 8..];
        }
        data.extend_from_slice(rest);
        if let Ok(Status::Complete((res, _))) = parse_response(&data, &limits) {
            let expect = valid_response(&res, hs.key(), &PROTOCOLS);
            match hs.verify(&res) {
                Ok(p) => assert_eq!(expect, Some(p), "verify accepted {res:?}"),
                Err(e) => assert_eq!(expect, None, "verify refused ({e:?}) {res:?}"),
            }
        }
    }
});
