//! Hostile input against a running server: each case gets its exact status (then close) or
//! WebSocket close code, and the server keeps serving a live SSE subscriber and other clients
//! throughout.

mod common;
use common::*;

use std::time::Duration;

/// Sends `raw` on a fresh connection; returns the status and whether the server then closed.
async fn status_then_close(addr: std::net::SocketAddr, raw: &[u8]) -> (u16, bool) {
    let mut c = Client::new(addr).await;
    c.send(raw).await;
    let r = c.response().await;
    (r.status, c.closed().await)
}

fn cases(a: std::net::SocketAddr) -> Vec<(&'static str, Vec<u8>, u16)> {
    let h = format!("Host: {a}\r\n");
    let many_headers: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let v = |s: String| s.into_bytes();
    vec![
        ("no Host in HTTP/1.1", v("GET /healthz HTTP/1.1\r\n\r\n".into()), 400),
        ("two Host fields", v(format!("GET /healthz HTTP/1.1\r\n{h}{h}\r\n")), 400),
        ("CL and TE together (smuggling)", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")), 400),
        ("two different Content-Lengths", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")), 400),
        ("Content-Length list that disagrees", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: 1, 2\r\n\r\nab")), 400),
        ("Content-Length with a plus", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: +3\r\n\r\nabc")), 400),
        ("negative Content-Length", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: -1\r\n\r\n")), 400),
        ("hex Content-Length", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: 0x3\r\n\r\nabc")), 400),
        ("unknown transfer coding", v(format!("POST /publish HTTP/1.1\r\n{h}Transfer-Encoding: gzip\r\n\r\n")), 501),
        ("chunked not last", v(format!("POST /publish HTTP/1.1\r\n{h}Transfer-Encoding: chunked, gzip\r\n\r\n")), 501),
        ("bad chunk size", v(format!("POST /publish HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\nzz\r\n")), 400),
        ("chunk data without its CRLF", v(format!("POST /publish HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n")), 400),
        ("chunk size overflow", v(format!("POST /publish HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n")), 400),
        ("chunk over the body limit", v(format!("POST /publish HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\nfffffff\r\n")), 413),
        ("Content-Length over the body limit", v(format!("POST /publish HTTP/1.1\r\n{h}Content-Length: 99999999\r\n\r\n")), 413),
        ("URI over 8 KiB", v(format!("GET /poll?topic={} HTTP/1.1\r\n{h}\r\n", "a".repeat(9000))), 414),
        ("head over 16 KiB", v(format!("GET / HTTP/1.1\r\n{h}X-Big: {}\r\n\r\n", "b".repeat(17 * 1024))), 431),
        ("101 header fields", v(format!("GET / HTTP/1.1\r\n{h}{many_headers}\r\n")), 431),
        ("HTTP/2.0 request line", v(format!("GET / HTTP/2.0\r\n{h}\r\n")), 505),
        ("HTTP/3.0 request line", v(format!("GET / HTTP/3.0\r\n{h}\r\n")), 505),
        ("TLS ClientHello on a plain port", vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, b'\r', b'\n', b'\r', b'\n'], 400),
        ("bad method token", v(format!("G@T / HTTP/1.1\r\n{h}\r\n")), 400),
        ("space before header colon", v(format!("GET / HTTP/1.1\r\n{h}X-A : b\r\n\r\n")), 400),
        ("obsolete line folding", v(format!("GET / HTTP/1.1\r\n{h}X-A: b\r\n c\r\n\r\n")), 400),
        ("NUL in a header value", v(format!("GET / HTTP/1.1\r\n{h}X-A: b\0c\r\n\r\n")), 400),
        ("header without a colon", v(format!("GET / HTTP/1.1\r\n{h}garbage\r\n\r\n")), 400),
        ("missing request target", v(format!("GET HTTP/1.1\r\n{h}\r\n")), 400),
        ("WebSocket without a key", v(format!("GET /ws HTTP/1.1\r\n{h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")), 400),
        ("WebSocket key not 16 bytes", v(format!("GET /ws HTTP/1.1\r\n{h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n")), 400),
        ("WebSocket version 8", v(format!("GET /ws HTTP/1.1\r\n{h}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")), 426),
        ("WebSocket path without upgrade", v(format!("GET /echo HTTP/1.1\r\n{h}\r\n")), 426),
        ("WebSocket upgrade over HTTP/1.0", v("GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".into()), 400),
        ("WebSocket upgrade from a foreign origin", v(format!("GET /ws HTTP/1.1\r\n{h}Origin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")), 403),
    ]
}

#[tokio::test]
async fn hostile_requests_get_exact_statuses_and_others_are_served() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut watcher = SseClient::open(a, "/events?topic=watch", "").await;
    let mut failures = vec![];
    let list = cases(a);
    assert!(list.len() >= 30);
    for (i, (name, raw, want)) in list.into_iter().enumerate() {
        let (got, closed) = status_then_close(a, &raw).await;
        if got != want {
            failures.push(format!("{name}: got {got}, want {want}"));
        } else if want != 426 && want != 403 && !closed {
            failures.push(format!("{name}: connection left open after {got}"));
        }
        // Everyone else is still served, and the SSE subscriber still receives.
        let id = publish(a, "watch", format!("after case {i}").as_bytes()).await;
        let ev = tokio::time::timeout(GUARD, watcher.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ev.id, Some(id));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn smuggled_request_after_a_refused_one_is_never_served() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut c = Client::new(a).await;
    c.send(format!("POST /publish?topic=smuggle HTTP/1.1\r\nHost: {a}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST /publish?topic=smuggle HTTP/1.1\r\nHost: {a}\r\nContent-Length: 1\r\n\r\nX").as_bytes()).await;
    assert_eq!(c.response().await.status, 400);
    assert!(c.closed().await);
    let (m, _, _) = batch(&get(a, "/poll?topic=smuggle&since=0").await);
    assert!(m.is_empty(), "the smuggled publish was executed");
}

#[tokio::test]
async fn pipelined_garbage_after_a_good_request() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut c = Client::new(a).await;
    c.send(
        format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n\x01\x02garbage \r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(c.response().await.status, 200);
    assert_eq!(c.response().await.status, 400);
    assert!(c.closed().await);
}

#[tokio::test]
async fn slowloris_head_and_slow_body_get_408() {
    let mut cfg = config();
    cfg.head_timeout = Duration::from_millis(300);
    let srv = start(cfg).await;
    let a = srv.addr;
    // a head that trickles and never ends
    let mut c = Client::new(a).await;
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ").await;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send(b"a").await;
    }
    assert_eq!(c.response().await.status, 408);
    assert!(c.closed().await);
    // a body that stops half-way
    let mut c = Client::new(a).await;
    c.send(
        format!("POST /publish HTTP/1.1\r\nHost: {a}\r\nContent-Length: 10\r\n\r\nabcde")
            .as_bytes(),
    )
    .await;
    assert_eq!(c.response().await.status, 408);
    // a connection that says nothing is dropped too (no answer owed)
    let mut silent = Client::new(a).await;
    assert!(silent.closed().await);
    // and the server is fine
    assert_eq!(get(a, "/healthz").await.status, 200);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(200);
    let srv = start(cfg).await;
    let a = srv.addr;
    let mut c = Client::new(a).await;
    c.send(format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(c.response().await.status, 200);
    assert!(c.closed().await);
}

/// Opens `/ws`, sends `frame`, expects a close frame with `code`.
async fn ws_violation(a: std::net::SocketAddr, frame: Vec<u8>, code: u16, name: &str) {
    let mut ws = Ws::open(a, "/ws?topic=wsbad").await;
    ws.c.send(&frame).await;
    let mut got = None;
    while let Some(f) = ws.next().await {
        if let Frame::Close(c) = f {
            got = c;
            break;
        }
    }
    assert_eq!(got, Some(code), "{name}");
}

#[tokio::test]
async fn websocket_violations_get_their_close_codes() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut huge = vec![0x82, 0xFF];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked client frame", vec![0x81, 0x02, b'h', b'i'], 1002),
        (
            "invalid UTF-8 text",
            masked_frame(0x81, &[0xc3, 0x28]),
            1007,
        ),
        ("reserved opcode 3", masked_frame(0x83, b"x"), 1002),
        ("reserved control opcode B", masked_frame(0x8B, b""), 1002),
        ("RSV1 without an extension", masked_frame(0xC1, b"x"), 1002),
        (
            "continuation without a start",
            masked_frame(0x80, b"x"),
            1002,
        ),
        ("fragmented ping", masked_frame(0x09, b"x"), 1002),
        ("ping over 125 bytes", masked_frame(0x89, &[0; 126]), 1002),
        (
            "close with a 1-byte payload",
            masked_frame(0x88, &[3]),
            1002,
        ),
        (
            "close with code 1005",
            masked_frame(0x88, &1005u16.to_be_bytes()),
            1002,
        ),
        ("64-bit length with the top bit set", huge, 1002),
        (
            "message over 1 MiB",
            masked_frame(0x82, &vec![0; (1 << 20) + 1]),
            1009,
        ),
    ];
    for (name, frame, code) in cases {
        ws_violation(a, frame, code, name).await;
    }
    // fragments that add up past the limit
    let mut ws = Ws::open(a, "/ws?topic=wsbad").await;
    ws.send_frame(0x02, &vec![0; 700 * 1024]).await;
    ws.send_frame(0x80, &vec![0; 400 * 1024]).await;
    let mut got = None;
    while let Some(f) = ws.next().await {
        if let Frame::Close(c) = f {
            got = c;
            break;
        }
    }
    assert_eq!(got, Some(1009));
    let (m, _, _) = batch(&get(a, "/poll?topic=wsbad&since=0").await);
    assert!(
        m.is_empty(),
        "nothing from a violating client was published"
    );
}

/// A stand-in for TLS: the handshake is one byte `T`; anything else stalls forever.
struct OneByteHandshake;

impl pushwire::server::Acceptor for OneByteHandshake {
    type Io = tokio::net::TcpStream;
    fn scheme(&self) -> &'static str {
        "https"
    }
    fn accept(
        &self,
        mut tcp: tokio::net::TcpStream,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Self::Io>> + Send + '_>>
    {
        Box::pin(async move {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            tcp.read_exact(&mut b).await?;
            if b[0] != b'T' {
                std::future::pending::<()>().await;
            }
            Ok(tcp)
        })
    }
}

#[tokio::test]
async fn a_stalled_handshake_is_cut_and_the_acceptor_sets_the_own_origin() {
    let mut cfg = config();
    cfg.head_timeout = Duration::from_millis(300);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pushwire::server::Server::new(cfg).run_with(
        listener,
        OneByteHandshake,
        async move {
            let _ = rx.await;
        },
    ));
    let mut stalled = Client::new(a).await;
    stalled.send(b"X").await;
    let mut ok = Client::new(a).await;
    ok.send(format!("TGET /poll HTTP/1.1\r\nHost: {a}\r\nOrigin: https://{a}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(
        ok.response().await.status,
        200,
        "https:// + Host is the own origin"
    );
    ok.send(format!("GET /poll HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(
        ok.response().await.status,
        403,
        "http:// is foreign behind TLS"
    );
    assert!(stalled.closed().await, "stalled handshake cut");
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}
