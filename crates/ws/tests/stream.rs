//! The tokio shell over real sockets (127.0.0.1): our client against our server, and raw
//! TCP peers for the edges (split input, silence, protocol errors, handshake rejections).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushwire_ws::frame::{FrameHeader, OpCode, Role, SharedFrame, encode_frame};
use pushwire_ws::{CloseCode, Config, Error, Message, State, UsageError, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Failure guard only: a test that takes this long is broken, not slow.
const GUARD: Duration = Duration::from_secs(10);

async fn guard<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("test guard timeout")
}

/// An echo server on a free port; returns its `ws://` URL.
async fn echo_server(cfg: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = WebSocket::accept_stream(tcp, cfg).await else {
                    return;
                };
                while let Ok(Some(m)) = ws.recv().await {
                    if ws.send(&m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("ws://{addr}/echo")
}

#[tokio::test]
async fn echo_text_binary_and_large_messages() {
    let url = echo_server(Config::default()).await;
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    for m in [
        Message::text("hello"),
        Message::text(""),
        Message::binary(Bytes::from_static(b"\x00\xff")),
        Message::binary(big),
    ] {
        guard(ws.send(&m)).await.unwrap();
        assert_eq!(guard(ws.recv()).await.unwrap(), Some(m));
    }
    guard(ws.close(CloseCode::NORMAL, "done")).await.unwrap();
    assert_eq!(ws.state(), State::Closed);
    let peer = ws.peer_close().unwrap().unwrap();
    assert_eq!(peer.code, CloseCode::NORMAL);
}

#[tokio::test]
async fn batched_feed_then_flush_delivers_in_order() {
    let url = echo_server(Config::default()).await;
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    for i in 0..500 {
        guard(ws.feed(&Message::text(format!("m{i}"))))
            .await
            .unwrap();
    }
    guard(ws.flush()).await.unwrap();
    for i in 0..500 {
        assert_eq!(
            guard(ws.recv()).await.unwrap(),
            Some(Message::text(format!("m{i}")))
        );
    }
}

/// A raw server: completes the handshake for one client, then hands over the socket.
async fn raw_server() -> (String, tokio::task::JoinHandle<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut parser = pushwire_http::HeadParser::new(&pushwire_http::Limits::default());
        let req = pushwire_http::io::read_request_head(&mut tcp, &mut buf, &mut parser)
            .await
            .unwrap()
            .unwrap();
        let ok = pushwire_ws::handshake::accept(&req, &[]).unwrap();
        let mut out = BytesMut::new();
        pushwire_http::encode_response_head(&ok.response, &mut out).unwrap();
        tcp.write_all(&out).await.unwrap();
        tcp
    });
    (format!("ws://{addr}/"), h)
}

fn server_frame(op: OpCode, fin: bool, payload: &[u8]) -> BytesMut {
    let mut h = FrameHeader::new(op, 0);
    h.fin = fin;
    let mut b = BytesMut::new();
    encode_frame(&h, payload, &mut b);
    b
}

#[tokio::test]
async fn recv_is_cancellation_safe_in_select() {
    let (url, server) = raw_server().await;
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    let mut tcp = server.await.unwrap();
    // Three messages (one fragmented, with a ping inside) dribbled out in 3-byte pieces.
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&server_frame(OpCode::Text, true, "first €".as_bytes()));
    wire.extend_from_slice(&server_frame(OpCode::Binary, false, &[1; 300]));
    wire.extend_from_slice(&server_frame(OpCode::Ping, true, b"p"));
    wire.extend_from_slice(&server_frame(OpCode::Continuation, true, &[2; 300]));
    wire.extend_from_slice(&server_frame(OpCode::Text, true, b"last"));
    let writer = tokio::spawn(async move {
        for piece in wire.chunks(3) {
            tcp.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        tcp
    });
    let mut got = Vec::new();
    let mut cancelled = 0;
    while got.len() < 3 {
        tokio::select! {
            m = ws.recv() => got.push(m.unwrap().unwrap()),
            _ = tokio::task::yield_now() => cancelled += 1,
        }
        assert!(cancelled < 1_000_000, "no progress");
    }
    let mut tcp = guard(writer).await.unwrap();
    let mut expect_bin = vec![1u8; 300];
    expect_bin.extend_from_slice(&[2; 300]);
    assert_eq!(
        got,
        vec![
            Message::text("first €"),
            Message::binary(expect_bin),
            Message::text("last"),
        ]
    );
    // The ping was answered with a masked pong carrying "p".
    let mut head = [0u8; 7];
    guard(tcp.read_exact(&mut head)).await.unwrap();
    assert_eq!(head[0], 0x8a);
    assert_eq!(head[1], 0x81);
    assert_eq!(head[6] ^ head[2], b'p');
}

#[tokio::test]
async fn bytes_after_the_101_are_the_first_frames() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut parser = pushwire_http::HeadParser::new(&pushwire_http::Limits::default());
        let req = pushwire_http::io::read_request_head(&mut tcp, &mut buf, &mut parser)
            .await
            .unwrap()
            .unwrap();
        let ok = pushwire_ws::handshake::accept(&req, &[]).unwrap();
        let mut out = BytesMut::new();
        pushwire_http::encode_response_head(&ok.response, &mut out).unwrap();
        out.extend_from_slice(&server_frame(OpCode::Text, true, b"early"));
        tcp.write_all(&out).await.unwrap(); // one write: head and frame together
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    });
    let mut ws = guard(WebSocket::connect(
        &format!("ws://{addr}/"),
        Config::default(),
    ))
    .await
    .unwrap();
    assert_eq!(
        guard(ws.recv()).await.unwrap(),
        Some(Message::text("early"))
    );
}

#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    let url = echo_server(Config::default()).await;
    let ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    let (mut rx, tx) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..200 {
            tx.send(&Message::text(format!("{i}"))).await.unwrap();
        }
        tx
    });
    for i in 0..200 {
        assert_eq!(
            guard(rx.recv()).await.unwrap(),
            Some(Message::text(format!("{i}")))
        );
    }
    let tx = guard(sender).await.unwrap();
    tx.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(guard(rx.recv()).await.unwrap(), None);
    assert!(matches!(
        tx.send(&Message::text("late")).await,
        Err(Error::Usage(UsageError::AlreadyClosed))
    ));
}

#[tokio::test]
async fn shared_frame_goes_to_many_connections_and_clients_cannot_send_one() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let frame = SharedFrame::new(OpCode::Text, &vec![b'x'; 10_000]).unwrap();
    let f2 = frame.clone();
    tokio::spawn(async move {
        for _ in 0..3 {
            let (tcp, _) = listener.accept().await.unwrap();
            let f = f2.clone();
            tokio::spawn(async move {
                let mut ws = WebSocket::accept_stream(tcp, Config::default())
                    .await
                    .unwrap();
                ws.send_shared(&f).await.unwrap();
                while let Ok(Some(_)) = ws.recv().await {}
            });
        }
    });
    for _ in 0..3 {
        let mut ws = guard(WebSocket::connect(&url, Config::default()))
            .await
            .unwrap();
        assert_eq!(
            guard(ws.recv()).await.unwrap(),
            Some(Message::text("x".repeat(10_000)))
        );
        assert!(matches!(
            ws.send_shared(&frame).await,
            Err(Error::Usage(UsageError::SharedFrameFromClient))
        ));
    }
}

#[tokio::test]
async fn send_waits_when_the_peer_does_not_read() {
    let (url, server) = raw_server().await;
    let cfg = Config::default().with_write_high_water(64 * 1024);
    let ws = guard(WebSocket::connect(&url, cfg)).await.unwrap();
    let _tcp = server.await.unwrap(); // never read
    let (_rx, tx) = ws.split();
    let msg = Message::binary(vec![0u8; 16 * 1024]);
    let tx2 = tx.clone();
    let feeder = tokio::spawn(async move {
        // Far more than the socket buffers can hold: must block at some point.
        for _ in 0..100_000 {
            tx2.feed(&msg).await.unwrap();
        }
    });
    // Wait until the feeder is stuck, then check the queue stayed bounded.
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!feeder.is_finished(), "1.6 GB fed without the peer reading");
        let q = tx.queued();
        assert!(q <= 64 * 1024 + 16 * 1024 + 14, "queue grew to {q}");
        if q == last && q > 0 {
            break;
        }
        last = q;
    }
    feeder.abort();
}

#[tokio::test]
async fn keep_alive_detects_a_dead_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let cfg = Config::default()
            .with_ping_interval(Some(Duration::from_millis(50)))
            .with_pong_timeout(Duration::from_millis(50));
        let mut ws = WebSocket::accept_stream(tcp, cfg).await.unwrap();
        ws.recv().await
    });
    // A client that completes the handshake and then never reads nor answers.
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))
        .await
        .unwrap();
    let (_hs, head) = pushwire_ws::handshake::ClientHandshake::new("x", "/", &[]).unwrap();
    let mut out = BytesMut::new();
    pushwire_http::encode_request_head(&head, &mut out).unwrap();
    tcp.write_all(&out).await.unwrap();
    assert_eq!(guard(server).await.unwrap(), Err(Error::DeadPeer));
}

#[tokio::test]
async fn keep_alive_pings_are_answered_by_a_live_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let cfg = Config::default()
            .with_ping_interval(Some(Duration::from_millis(20)))
            .with_pong_timeout(Duration::from_secs(5));
        let mut ws = WebSocket::accept_stream(tcp, cfg).await.unwrap();
        ws.recv().await
    });
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    // Our client answers the pings inside recv(); after a while it says something.
    let client = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_millis(300), ws.recv()).await;
        ws.send(&Message::text("alive")).await.unwrap();
        ws
    });
    assert_eq!(
        guard(server).await.unwrap(),
        Ok(Some(Message::text("alive")))
    );
    drop(client);
}

#[tokio::test]
async fn protocol_error_gets_close_1002_and_the_server_closes_tcp() {
    let url = echo_server(Config::default()).await;
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches("/echo"))
        .await
        .unwrap();
    let (_hs, head) = pushwire_ws::handshake::ClientHandshake::new("x", "/", &[]).unwrap();
    let mut out = BytesMut::new();
    pushwire_http::encode_request_head(&head, &mut out).unwrap();
    out.extend_from_slice(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']); // unmasked
    tcp.write_all(&out).await.unwrap();
    let mut all = Vec::new();
    guard(tcp.read_to_end(&mut all)).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    let end = text.find("\r\n\r\n").unwrap() + 4;
    assert!(text.starts_with("HTTP/1.1 101"));
    assert_eq!(&all[end..], &[0x88, 0x02, 0x03, 0xea]);
}

#[tokio::test]
async fn too_big_message_gets_close_1009() {
    let cfg = Config::default()
        .with_max_frame(1000)
        .with_max_message(1000);
    let url = echo_server(cfg).await;
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    ws.send(&Message::binary(vec![0u8; 1001])).await.unwrap();
    assert_eq!(guard(ws.recv()).await, Ok(None));
    let peer = ws.peer_close().unwrap().unwrap();
    assert_eq!(peer.code, CloseCode::MESSAGE_TOO_BIG);
}

#[tokio::test]
async fn handshake_rejections_over_a_socket() {
    let url = echo_server(Config::default()).await;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/echo")
        .to_owned();
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await
    .unwrap();
    let mut all = Vec::new();
    guard(tcp.read_to_end(&mut all)).await.unwrap();
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 "), "{text}");
    assert!(text.contains("Sec-WebSocket-Version: 13\r\n"), "{text}");

    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    guard(tcp.read_to_end(&mut all)).await.unwrap();
    assert!(all.starts_with(b"HTTP/1.1 400 "));
}

#[tokio::test]
async fn wss_is_a_clear_unsupported_error() {
    assert!(matches!(
        WebSocket::connect("wss://127.0.0.1:1/", Config::default()).await,
        Err(Error::Usage(UsageError::TlsUnsupported))
    ));
}

#[tokio::test]
async fn peer_vanishing_without_close_is_abnormal() {
    let (url, server) = raw_server().await;
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    drop(server.await.unwrap());
    assert_eq!(guard(ws.recv()).await, Err(Error::AbnormalClosure));
    // Terminal for both halves.
    assert_eq!(guard(ws.recv()).await, Err(Error::AbnormalClosure));
    assert_eq!(
        guard(ws.send(&Message::text("x"))).await,
        Err(Error::AbnormalClosure)
    );
}

#[tokio::test]
async fn works_over_an_in_memory_duplex_stream() {
    let (a, b) = tokio::io::duplex(64);
    let mut server = WebSocket::from_upgrade(a, BytesMut::new(), Role::Server, Config::default());
    let mut client = WebSocket::from_upgrade(b, BytesMut::new(), Role::Client, Config::default());
    let t = tokio::spawn(async move {
        let m = server.recv().await.unwrap().unwrap();
        server.send(&m).await.unwrap();
        server.recv().await
    });
    client.send(&Message::text("through a pipe")).await.unwrap();
    assert_eq!(
        guard(client.recv()).await.unwrap(),
        Some(Message::text("through a pipe"))
    );
    guard(client.close(CloseCode::GOING_AWAY, ""))
        .await
        .unwrap();
    assert_eq!(guard(t).await.unwrap(), Ok(None));
}

#[tokio::test]
async fn many_queued_large_and_small_frames_arrive_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // A large queue so that hundreds of frames (more than one vectored write takes)
        // are pending before the flush.
        let cfg = Config::default().with_write_high_water(16 << 20);
        let mut ws = WebSocket::accept_stream(tcp, cfg).await.unwrap();
        for i in 0..300u32 {
            let big = SharedFrame::new(OpCode::Binary, &vec![(i % 251) as u8; 5000]).unwrap();
            ws.feed_shared(&big).await.unwrap();
            ws.feed(&Message::text(format!("{i}"))).await.unwrap();
        }
        ws.flush().await.unwrap();
        while let Ok(Some(_)) = ws.recv().await {}
    });
    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    for i in 0..300u32 {
        assert_eq!(
            guard(ws.recv()).await.unwrap(),
            Some(Message::binary(vec![(i % 251) as u8; 5000])),
            "binary {i}"
        );
        assert_eq!(
            guard(ws.recv()).await.unwrap(),
            Some(Message::text(format!("{i}")))
        );
    }
}
