//! Request and response heads: RFC 9112 examples, hostile inputs, and split-proofness.

use pushwire_http::{
    CapacityError, Error, HeadParser, Limits, Method, ProtocolError, Request, RequestRef, Response,
    Status, Version, parse_request, parse_response,
};

type ReqOut = Result<Status<(Request, usize)>, Error>;

/// Feeds `input` whole, byte by byte, and split at every boundary; asserts every way gives
/// the same outcome and returns it.
fn req_all_ways(input: &[u8], limits: &Limits) -> ReqOut {
    let whole = parse_request(input, limits);
    // One byte at a time through one incremental parser.
    let mut p = HeadParser::new(limits);
    let mut bytewise = Ok(Status::Partial);
    for n in 1..=input.len() {
        bytewise = p.parse_request(&input[..n]);
        if !matches!(bytewise, Ok(Status::Partial)) {
            break;
        }
    }
    if input.is_empty() {
        bytewise = p.parse_request(input);
    }
    assert_eq!(whole, bytewise, "byte-by-byte differs for {input:?}");
    for split in 0..=input.len() {
        let mut p = HeadParser::new(limits);
        let first = p.parse_request(&input[..split]);
        let out = match first {
            Ok(Status::Partial) => p.parse_request(input),
            other => other,
        };
        assert_eq!(whole, out, "split at {split} differs for {input:?}");
    }
    ref_all_ways(input, limits, &whole);
    whole
}

/// The borrowed view of `r`, copied: what the owned parse should equal, and the view's own
/// accessors checked against the owned head's.
fn from_ref(r: &RequestRef<'_, '_>) -> Result<Request, Error> {
    let owned = r.to_owned_request()?;
    assert_eq!(r.path(), owned.path());
    assert_eq!(r.query(), owned.query());
    assert_eq!(r.keep_alive(), owned.keep_alive());
    assert_eq!(r.method(), owned.method.as_str());
    assert_eq!(r.header("host"), owned.headers.get("host"));
    assert_eq!(r.header_count(), owned.headers.len());
    Ok(owned)
}

fn ref_parse(p: &mut HeadParser, buf: &[u8]) -> ReqOut {
    match p.parse_request_ref(buf, from_ref)? {
        Status::Complete((r, n)) => Ok(Status::Complete((r?, n))),
        Status::Partial => Ok(Status::Partial),
    }
}

/// `parse_request_ref` whole, byte by byte and at every split gives what `parse_request` gave.
fn ref_all_ways(input: &[u8], limits: &Limits, want: &ReqOut) {
    let mut p = HeadParser::new(limits);
    assert_eq!(
        &ref_parse(&mut p, input),
        want,
        "borrowed whole for {input:?}"
    );
    let mut p = HeadParser::new(limits);
    let mut bytewise = ref_parse(&mut p, &input[..0]);
    for n in 1..=input.len() {
        bytewise = ref_parse(&mut p, &input[..n]);
        if !matches!(bytewise, Ok(Status::Partial)) {
            break;
        }
    }
    assert_eq!(&bytewise, want, "borrowed byte by byte for {input:?}");
    for split in 0..=input.len() {
        let mut p = HeadParser::new(limits);
        let out = match ref_parse(&mut p, &input[..split]) {
            Ok(Status::Partial) => ref_parse(&mut p, input),
            other => other,
        };
        assert_eq!(&out, want, "borrowed split at {split} for {input:?}");
    }
}

fn res_all_ways(input: &[u8], limits: &Limits) -> Result<Status<(Response, usize)>, Error> {
    let whole = parse_response(input, limits);
    for split in 0..=input.len() {
        let mut p = HeadParser::new(limits);
        let mut out = p.parse_response(&input[..split]);
        if matches!(out, Ok(Status::Partial)) {
            out = p.parse_response(input);
        }
        assert_eq!(whole, out, "split at {split} differs for {input:?}");
    }
    let mut p = HeadParser::new(limits);
    let mut bytewise = Ok(Status::Partial);
    for n in 1..=input.len() {
        bytewise = p.parse_response(&input[..n]);
        if !matches!(bytewise, Ok(Status::Partial)) {
            break;
        }
    }
    assert_eq!(whole, bytewise);
    whole
}

fn req_ok(input: &[u8]) -> (Request, usize) {
    match req_all_ways(input, &Limits::default()) {
        Ok(Status::Complete(r)) => r,
        other => panic!("expected a request from {input:?}, got {other:?}"),
    }
}

fn req_err(input: &[u8]) -> Error {
    match req_all_ways(input, &Limits::default()) {
        Err(e) => e,
        other => panic!("expected an error from {input:?}, got {other:?}"),
    }
}

#[test]
fn rfc9112_3_2_origin_form_example() {
    let (req, n) = req_ok(b"GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
    assert_eq!(n, 52);
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.version, Version::Http11);
    assert_eq!(req.path(), "/where");
    assert_eq!(req.query(), Some("q=now"));
    assert_eq!(req.host(), Some("www.example.org"));
    assert!(req.keep_alive());
}

#[test]
fn rfc9112_3_2_2_absolute_form_example() {
    let (req, _) = req_ok(
        b"GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: other\r\n\r\n",
    );
    assert_eq!(req.path(), "/pub/WWW/TheProject.html");
    // The target's authority overrides Host.
    assert_eq!(req.host(), Some("www.example.org"));
}

#[test]
fn rfc9112_3_2_4_asterisk_form_example() {
    let (req, _) = req_ok(b"OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n");
    assert_eq!(req.method, Method::Options);
    assert_eq!(req.path(), "*");
}

#[test]
fn rfc9112_3_2_3_authority_form_example() {
    let (req, _) = req_ok(b"CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    assert_eq!(req.method, Method::Connect);
    assert_eq!(req.target, "www.example.com:80");
}

#[test]
fn rfc9110_example_response_head() {
    let input = b"HTTP/1.1 200 OK\r\nDate: Mon, 27 Jul 2009 12:28:53 GMT\r\nServer: Apache\r\nContent-Length: 51\r\nContent-Type: text/plain\r\n\r\nHello World! My content includes a trailing CRLF.\r\n";
    let Ok(Status::Complete((res, n))) = res_all_ways(input, &Limits::default()) else {
        panic!()
    };
    assert_eq!(res.status, 200);
    assert_eq!(res.reason, "OK");
    assert_eq!(res.headers.get_str("content-length"), Some("51"));
    assert_eq!(
        &input[n..],
        b"Hello World! My content includes a trailing CRLF.\r\n"
    );
    assert!(res.keep_alive());
}

#[test]
fn response_101_upgrade() {
    let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
    let Ok(Status::Complete((res, n))) = res_all_ways(input, &Limits::default()) else {
        panic!()
    };
    assert!(res.is_upgrade_to("WebSocket"));
    assert_eq!(&input[n..], b"\x81\x02hi");
}

#[test]
fn rfc9112_2_2_leading_empty_line_is_ignored() {
    let (req, n) = req_ok(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(req.path(), "/");
    assert_eq!(n, 29);
}

#[test]
fn pipelined_requests_leave_the_next_one() {
    let input = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let (a, n) = req_ok(input);
    assert_eq!(a.path(), "/a");
    let (b, m) = req_ok(&input[n..]);
    assert_eq!(b.path(), "/b");
    assert_eq!(n + m, input.len());
    // One parser serves both heads in turn.
    let mut p = HeadParser::new(&Limits::default());
    let Ok(Status::Complete((_, n1))) = p.parse_request(input) else {
        panic!()
    };
    let Ok(Status::Complete((b2, _))) = p.parse_request(&input[n1..]) else {
        panic!()
    };
    assert_eq!(b2.path(), "/b");
}

#[test]
fn connection_semantics_rfc9112_9_3() {
    let r = |s: &[u8]| req_ok(s).0;
    assert!(!r(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive());
    assert!(!r(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(r(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
    let up = r(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert!(up.is_upgrade());
    assert!(up.is_upgrade_to("websocket"));
    assert!(!up.is_upgrade_to("h2c"));
    let cont = r(
        b"POST /publish HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
    );
    assert!(cont.expects_continue());
    assert!(!r(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
}

#[test]
fn query_params_are_decoded() {
    let (req, _) =
        req_ok(b"GET /long-poll?topic=a%3Ab&since=q7k2-42&x=a+b HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(req.query_param("topic").as_deref(), Some("a:b"));
    assert_eq!(req.query_param("since").as_deref(), Some("q7k2-42"));
    assert_eq!(req.query_param("x").as_deref(), Some("a b"));
    assert_eq!(req.query_pairs().count(), 3);
}

#[test]
fn partial_head_is_partial_not_error() {
    let l = Limits::default();
    for input in [
        &b""[..],
        b"G",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r",
    ] {
        assert_eq!(parse_request(input, &l), Ok(Status::Partial), "{input:?}");
    }
}

// ---- hostile inputs: each asserts the exact error and status ----

fn assert_req_err(input: &[u8], want: Error, status: u16) {
    let e = req_err(input);
    assert_eq!(e, want, "for {input:?}");
    assert_eq!(e.status(), status, "for {input:?}");
}

#[test]
fn hostile_missing_host_in_1_1() {
    assert_req_err(
        b"GET / HTTP/1.1\r\n\r\n",
        ProtocolError::MissingHost.into(),
        400,
    );
}

#[test]
fn hostile_two_hosts() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ProtocolError::DuplicateHost.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
        ProtocolError::DuplicateHost.into(),
        400,
    );
}

#[test]
fn hostile_invalid_host_value() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        ProtocolError::InvalidHost.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        ProtocolError::InvalidHost.into(),
        400,
    );
}

#[test]
fn hostile_versions() {
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/9.9", "HTTP/0.9", "HTTP/3.0"] {
        let input = format!("GET / {v}\r\nHost: a\r\n\r\n");
        assert_req_err(input.as_bytes(), Error::UnsupportedVersion, 505);
    }
    for v in [
        "HTTP/1",
        "HTTP/1.10",
        "http/1.1",
        "HTTX/1.1",
        "HTTP/a.b",
        " HTTP/1.1",
        "HTTP/1.1 ",
        "HTTP/2.0 x",
    ] {
        let input = format!("GET / {v}\r\nHost: a\r\n\r\n");
        assert_req_err(input.as_bytes(), ProtocolError::Version.into(), 400);
    }
}

#[test]
fn hostile_request_line_whitespace() {
    assert_req_err(
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Target.into(),
        400,
    );
    assert_req_err(
        b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Method.into(),
        400,
    );
    assert_req_err(
        b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Method.into(),
        400,
    );
    // A space inside the target makes the rest a malformed version.
    assert_req_err(
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Version.into(),
        400,
    );
}

#[test]
fn hostile_leading_bare_cr() {
    assert_req_err(
        b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::LineEnding.into(),
        400,
    );
    assert_req_err(
        b"\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::LineEnding.into(),
        400,
    );
}

#[test]
fn hostile_host_with_userinfo() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
        ProtocolError::InvalidHost.into(),
        400,
    );
}

#[test]
fn hostile_non_ascii_header_name_and_control_in_value() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nH\xc3\xa9: a\r\nHost: a\r\n\r\n",
        ProtocolError::HeaderName.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX:\x01\r\n\r\n",
        ProtocolError::HeaderValue.into(),
        400,
    );
    assert_req_err(
        b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Target.into(),
        400,
    );
}

#[test]
fn rfc9112_2_2_bare_lf_line_ends_are_accepted_and_values_trimmed() {
    // "a recipient MAY recognize a single LF as a line terminator": httparse does, so do we.
    let (req, n) = req_ok(b"GET / HTTP/1.1\nHost: a\nX: caf\xc3\xa9 \t\n\n");
    assert_eq!(n, 35);
    assert_eq!(req.headers.get_str("x"), Some("caf\u{e9}"));
    // An empty Host is allowed (the target has no authority), and obs-text values are kept.
    let (req, _) = req_ok(b"GET /a#frag HTTP/1.1\r\nHost:\r\n\r\n");
    assert_eq!(req.host(), Some(""));
    assert_eq!(req.path(), "/a");
}

#[test]
fn hostile_invalid_methods() {
    assert_req_err(
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Method.into(),
        400,
    );
    assert_req_err(
        b"\x16\x03\x01\x02\x00\x01",
        ProtocolError::Method.into(),
        400,
    );
    assert_req_err(
        b"GE\0T / HTTP/1.1\r\n\r\n",
        ProtocolError::Method.into(),
        400,
    );
}

#[test]
fn hostile_obs_fold() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
        ProtocolError::ObsFold.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n",
        ProtocolError::ObsFold.into(),
        400,
    );
}

#[test]
fn hostile_whitespace_before_colon() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n",
        ProtocolError::WhitespaceBeforeColon.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
        ProtocolError::WhitespaceBeforeColon.into(),
        400,
    );
}

#[test]
fn hostile_nul_in_field_value() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
        ProtocolError::HeaderValue.into(),
        400,
    );
}

#[test]
fn hostile_bare_cr() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        ProtocolError::LineEnding.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        ProtocolError::LineEnding.into(),
        400,
    );
}

#[test]
fn hostile_bad_header_names() {
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n",
        ProtocolError::HeaderName.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
        ProtocolError::HeaderName.into(),
        400,
    );
    assert_req_err(
        b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        ProtocolError::HeaderName.into(),
        400,
    );
}

#[test]
fn hostile_bad_targets() {
    assert_req_err(
        b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Target.into(),
        400,
    );
    assert_req_err(
        b"GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n",
        ProtocolError::Target.into(),
        400,
    );
}

#[test]
fn hostile_uri_too_long_414() {
    let l = Limits::default().with_max_uri_len(64);
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(64));
    assert_eq!(
        req_all_ways(long.as_bytes(), &l),
        Err(CapacityError::UriTooLong.into())
    );
    let fits = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(63));
    assert!(req_all_ways(fits.as_bytes(), &l).is_ok_and(|s| s.is_complete()));
    // The default 8 KiB limit, with the request line never finishing: 414, not 431.
    let unfinished = format!("GET /{}", "a".repeat(9000));
    let e = req_err(unfinished.as_bytes());
    assert_eq!(
        (e.clone(), e.status()),
        (CapacityError::UriTooLong.into(), 414)
    );
}

#[test]
fn hostile_too_many_headers_431() {
    let l = Limits::default().with_max_headers(3);
    let ok = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(req_all_ways(ok, &l).is_ok_and(|s| s.is_complete()));
    let bad = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let e = req_all_ways(bad, &l).unwrap_err();
    assert_eq!(
        (e.clone(), e.status()),
        (CapacityError::TooManyHeaders.into(), 431)
    );
    let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_req_err(many.as_bytes(), CapacityError::TooManyHeaders.into(), 431);
}

#[test]
fn hostile_head_too_large_431_whole_or_split() {
    let l = Limits::default().with_max_head_bytes(100);
    let head = |pad: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(pad)
        )
    };
    let exact = head(100 - head(0).len());
    assert_eq!(exact.len(), 100);
    assert!(req_all_ways(exact.as_bytes(), &l).is_ok_and(|s| s.is_complete()));
    let over = head(101 - head(0).len());
    let e = req_all_ways(over.as_bytes(), &l).unwrap_err();
    assert_eq!(
        (e.clone(), e.status()),
        (CapacityError::HeadTooLarge.into(), 431)
    );
    // Inside a request-target (which the scan crosses in one step): 431 too, every split.
    let target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "t".repeat(150));
    assert_eq!(
        req_all_ways(target.as_bytes(), &l),
        Err(CapacityError::HeadTooLarge.into())
    );
    // A head that never ends: the limit trips on bytes buffered, at byte 101.
    let endless = "GET / HTTP/1.1\r\nX: ".to_string() + &"v".repeat(200);
    let mut p = HeadParser::new(&l);
    assert_eq!(
        p.parse_request(&endless.as_bytes()[..100]),
        Ok(Status::Partial)
    );
    assert_eq!(
        p.parse_request(&endless.as_bytes()[..101]),
        Err(CapacityError::HeadTooLarge.into())
    );
    // Errors are terminal.
    assert_eq!(
        p.parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err(CapacityError::HeadTooLarge.into())
    );
}

#[test]
fn response_hostile_inputs() {
    let l = Limits::default();
    let e = |s: &[u8]| res_all_ways(s, &l).unwrap_err();
    assert_eq!(
        e(b"HTTP/1.1 2000 OK\r\n\r\n"),
        ProtocolError::StatusLine.into()
    );
    assert_eq!(
        e(b"HTTP/1.1 abc OK\r\n\r\n"),
        ProtocolError::StatusLine.into()
    );
    assert_eq!(e(b"HTTP/2.0 200 OK\r\n\r\n"), Error::UnsupportedVersion);
    assert_eq!(e(b"ICY 200 OK\r\n\r\n"), ProtocolError::Version.into());
    assert_eq!(
        e(b"HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"),
        ProtocolError::HeaderValue.into()
    );
}

#[test]
fn head_in_one_byte_packets_is_scanned_once() {
    // Linear time: the parser's position only moves forward, one byte per byte fed.
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for _ in 0..500 {
        input.extend_from_slice(b"X-Pad: 0123456789\r\n");
    }
    let l = Limits::default().with_max_headers(1000);
    let mut p = HeadParser::new(&l);
    for n in 1..=input.len() {
        assert_eq!(p.parse_request(&input[..n]), Ok(Status::Partial));
        assert_eq!(p.scanned(), n);
    }
    input.extend_from_slice(b"\r\n");
    assert!(p.parse_request(&input).is_ok_and(|s| s.is_complete()));
}
