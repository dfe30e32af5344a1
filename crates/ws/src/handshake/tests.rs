//! Handshake tests: RFC 6455 §1.3 / §4 samples and every rejection.

use super::*;
use pushwire_http::{Limits, Status, parse_request, parse_response};

const SAMPLE: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn req(raw: &str) -> Request {
    match parse_request(raw.as_bytes(), &Limits::default()).unwrap() {
        Status::Complete((r, _)) => r,
        Status::Partial => panic!("partial"),
    }
}

fn replace(from: &str, to: &str) -> Request {
    assert!(SAMPLE.contains(from), "{from}");
    req(&SAMPLE.replacen(from, to, 1))
}

#[test]
fn rfc6455_1_3_accept_key_sample() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn rfc6455_4_2_sample_request_is_accepted() {
    let r = req(SAMPLE);
    assert_eq!(origin(&r), Some("http://example.com"));
    let ok = accept(&r, &["chat"]).unwrap();
    let mut out = bytes::BytesMut::new();
    pushwire_http::encode_response_head(&ok.response, &mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
    // No common subprotocol: none selected, still accepted.
    assert_eq!(accept(&r, &["mqtt"]).unwrap().protocol, None);
}

#[test]
fn rfc6455_4_2_1_case_insensitive_tokens_in_lists() {
    let r = replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    let r2 = Request {
        headers: {
            let mut h = r.headers.clone();
            h.set("Upgrade", "WebSocket").unwrap();
            h
        },
        ..r
    };
    assert!(accept(&r2, &[]).is_ok());
}

#[test]
fn rfc6455_4_2_1_rejections_with_their_status() {
    let cases: Vec<(Request, HandshakeError, u16)> = vec![
        (replace("GET", "POST"), HandshakeError::Method, 400),
        (
            replace("HTTP/1.1\r\n", "HTTP/1.0\r\n"),
            HandshakeError::Version,
            400,
        ),
        (
            replace("Upgrade: websocket", "Upgrade: h2c"),
            HandshakeError::Upgrade,
            400,
        ),
        (
            replace("Connection: Upgrade", "Connection: keep-alive"),
            HandshakeError::Connection,
            400,
        ),
        (
            replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
            HandshakeError::UnsupportedVersion,
            426,
        ),
        (
            replace("Sec-WebSocket-Version: 13\r\n", ""),
            HandshakeError::UnsupportedVersion,
            426,
        ),
        (
            replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ=="),
            HandshakeError::Key,
            400,
        ),
        (
            replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!"),
            HandshakeError::Key,
            400,
        ),
        (
            replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            HandshakeError::Key,
            400,
        ),
        (
            replace(
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            ),
            HandshakeError::Key,
            400,
        ),
    ];
    for (r, err, status) in cases {
        assert_eq!(accept(&r, &[]).unwrap_err(), err);
        assert_eq!(err.status(), status);
        let head = reject_response(&err);
        assert_eq!(head.status, status);
        assert_eq!(
            head.headers.get_str("sec-websocket-version").is_some(),
            status == 426
        );
    }
    assert_eq!(HandshakeError::Forbidden.status(), 403);
    let mut no_host = req(SAMPLE);
    no_host.headers.remove("host");
    assert_eq!(
        accept(&no_host, &[]).unwrap_err(),
        HandshakeError::MissingHost
    );
}

#[test]
fn permessage_deflate_offer_is_declined() {
    let r = replace(
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    );
    let ok = accept(&r, &[]).unwrap();
    assert!(!ok.response.headers.contains("sec-websocket-extensions"));
}

fn response(raw: &str) -> Response {
    match parse_response(raw.as_bytes(), &Limits::default()).unwrap() {
        Status::Complete((r, _)) => r,
        Status::Partial => panic!("partial"),
    }
}

#[test]
fn client_request_and_response_validation() {
    let (hs, head) = ClientHandshake::new("example.com:8080", "/ws?x=1", &["chat", "v2"]).unwrap();
    let mut out = bytes::BytesMut::new();
    pushwire_http::encode_request_head(&head, &mut out).unwrap();
    // The request we build is one our own server accepts.
    let r = req(std::str::from_utf8(&out).unwrap());
    let ok = accept(&r, &["v2"]).unwrap();
    let mut res = bytes::BytesMut::new();
    pushwire_http::encode_response_head(&ok.response, &mut res).unwrap();
    let good = std::str::from_utf8(&res).unwrap().to_owned();
    assert_eq!(hs.verify(&response(&good)), Ok(Some("v2".to_owned())));
    // Keys are fresh.
    let (hs2, _) = ClientHandshake::new("h", "/", &[]).unwrap();
    assert_ne!(hs.key(), hs2.key());

    let accept_line = format!(
        "Sec-WebSocket-Accept: {}\r\n",
        accept_key(hs.key().as_bytes())
    );
    let bad: Vec<(String, HandshakeError)> = vec![
        (
            good.replace("101 Switching Protocols", "200 OK"),
            HandshakeError::Status(200),
        ),
        (
            good.replace("Upgrade: websocket\r\n", ""),
            HandshakeError::Upgrade,
        ),
        (
            good.replace("Connection: Upgrade\r\n", ""),
            HandshakeError::Connection,
        ),
        (
            good.replace(
                &accept_line,
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
            ),
            HandshakeError::Accept,
        ),
        (good.replace(&accept_line, ""), HandshakeError::Accept),
        (
            good.replace("Sec-WebSocket-Protocol: v2", "Sec-WebSocket-Protocol: mqtt"),
            HandshakeError::Subprotocol,
        ),
        (
            good.replace(
                "Sec-WebSocket-Protocol: v2",
                "Sec-WebSocket-Protocol: v2, chat",
            ),
            HandshakeError::Subprotocol,
        ),
        (
            good.replace(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            ),
            HandshakeError::Extension,
        ),
    ];
    for (raw, err) in bad {
        assert_eq!(hs.verify(&response(&raw)), Err(err), "{raw}");
    }
}

#[test]
fn ws_urls() {
    let u = parse_ws_url("ws://example.com").unwrap();
    assert_eq!(
        (u.addr.as_str(), u.host.as_str(), u.target.as_str()),
        ("example.com:80", "example.com", "/")
    );
    let u = parse_ws_url("WS://[::1]:9001?x=1").unwrap();
    assert_eq!(
        (u.addr.as_str(), u.target.as_str()),
        ("[::1]:9001", "/?x=1")
    );
    let u = parse_ws_url("ws://[::1]/p").unwrap();
    assert_eq!(u.addr, "[::1]:80");
    assert_eq!(
        parse_ws_url("wss://x/"),
        Err(crate::UsageError::TlsUnsupported.into())
    );
    for bad in ["http://x/", "ws://", "ws://u@x/", "x"] {
        assert_eq!(
            parse_ws_url(bad),
            Err(crate::UsageError::InvalidUrl.into()),
            "{bad}"
        );
    }
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use crate::Config;

    fn with_ext(values: &[&str]) -> Request {
        let ext: String = values
            .iter()
            .map(|v| format!("\r\nSec-WebSocket-Extensions: {v}"))
            .collect();
        replace(
            "Sec-WebSocket-Version: 13",
            &format!("Sec-WebSocket-Version: 13{ext}"),
        )
    }

    #[test]
    fn rfc7692_5_accept_with_takes_the_first_valid_offer_across_fields() {
        let r = with_ext(&[
            "permessage-deflate; server_max_window_bits=99",
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        ]);
        let ok = accept_with(&r, &[], &Config::default()).unwrap();
        assert_eq!(ok.response.status, 101);
        assert_eq!(
            ok.response.headers.get_str("sec-websocket-extensions"),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10"
            )
        );
        assert_eq!(ok.deflate.unwrap().server_max_window_bits, 10);
    }

    #[test]
    fn rfc7692_5_no_acceptable_offer_is_101_without_the_extension() {
        for bad in [
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; \"unterminated",
            "x-unknown",
        ] {
            let ok = accept_with(&with_ext(&[bad]), &[], &Config::default()).unwrap();
            assert_eq!(ok.response.status, 101, "{bad}");
            assert!(!ok.response.headers.contains("sec-websocket-extensions"));
            assert_eq!(ok.deflate, None);
        }
    }

    #[test]
    fn client_offers_and_checks_the_answer() {
        let cfg = Config::default();
        let (hs, head) = ClientHandshake::with_config("x", "/", &[], &cfg).unwrap();
        let mut out = bytes::BytesMut::new();
        pushwire_http::encode_request_head(&head, &mut out).unwrap();
        // Our own server accepts our offer with our defaults.
        let ok = accept_with(&req(std::str::from_utf8(&out).unwrap()), &[], &cfg).unwrap();
        let mut res = bytes::BytesMut::new();
        pushwire_http::encode_response_head(&ok.response, &mut res).unwrap();
        let res = response(std::str::from_utf8(&res).unwrap());
        let (_, params) = hs.verify_extensions(&res).unwrap();
        assert_eq!(params, Some(crate::deflate::DeflateParams::default()));
        // An answer with an extension the client did not offer fails the connection.
        let accept = accept_key(hs.key().as_bytes());
        let bad = response(&format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n"
        ));
        assert_eq!(hs.verify_extensions(&bad), Err(HandshakeError::Extension));
        assert_eq!(hs.verify(&bad), Err(HandshakeError::Extension));
        // Without an offer, even permessage-deflate fails.
        let (plain, _) = ClientHandshake::new("x", "/", &[]).unwrap();
        let accept = accept_key(plain.key().as_bytes());
        let pmd = response(&format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        ));
        assert_eq!(plain.verify(&pmd), Err(HandshakeError::Extension));
    }
}
