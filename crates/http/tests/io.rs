//! The tokio helpers over real 127.0.0.1 sockets.

use std::time::Duration;

use bytes::BytesMut;
use pushwire_http::io::{
    read_body, read_body_chunk, read_request_head, read_request_head_timed, read_response_head,
};
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, CapacityError, Error, HeadParser, Limits, ProtocolError,
    request_body_kind, response_body_kind,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Failure guard only: a stuck test fails instead of hanging CI.
const GUARD: Duration = Duration::from_secs(10);

/// A connected pair: (client side, server side).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), server.unwrap().0)
}

#[tokio::test]
async fn request_head_in_tiny_writes_then_body_and_pipelined_request() {
    let (mut client, mut server) = pair().await;
    client.set_nodelay(true).unwrap();
    let wire = b"POST /publish?topic=t HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    let writer = tokio::spawn(async move {
        for piece in wire.chunks(3) {
            client.write_all(piece).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        client.shutdown().await.unwrap();
        client
    });
    let limits = Limits::default();
    let mut parser = HeadParser::new(&limits);
    let mut buf = BytesMut::new();
    let req = tokio::time::timeout(GUARD, read_request_head(&mut server, &mut buf, &mut parser))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(req.path(), "/publish");
    let kind = request_body_kind(&req).unwrap();
    assert_eq!(kind, BodyKind::Length(5));
    let mut dec = BodyDecoder::new(kind, &limits);
    let body = read_body(&mut server, &mut buf, &mut dec).await.unwrap();
    assert_eq!(&body[..], b"hello");
    let next = read_request_head(&mut server, &mut buf, &mut parser)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.path(), "/next");
    // Then the clean close: no partial head, so Ok(None).
    assert_eq!(
        read_request_head(&mut server, &mut buf, &mut parser).await,
        Ok(None)
    );
    writer.await.unwrap();
}

#[tokio::test]
async fn eof_mid_head_is_an_error_and_eof_before_any_byte_is_none() {
    let (mut client, mut server) = pair().await;
    client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    client.shutdown().await.unwrap();
    let mut parser = HeadParser::new(&Limits::default());
    let mut buf = BytesMut::new();
    let r = tokio::time::timeout(GUARD, read_request_head(&mut server, &mut buf, &mut parser))
        .await
        .unwrap();
    assert_eq!(r, Err(ProtocolError::UnexpectedEof.into()));

    let (client, mut server) = pair().await;
    drop(client);
    let mut parser = HeadParser::new(&Limits::default());
    let mut buf = BytesMut::new();
    let r = tokio::time::timeout(GUARD, read_request_head(&mut server, &mut buf, &mut parser))
        .await
        .unwrap();
    assert_eq!(r, Ok(None));
}

#[tokio::test]
async fn head_limit_holds_over_a_socket() {
    let (mut client, mut server) = pair().await;
    let writer = tokio::spawn(async move {
        let _ = client.write_all(b"GET / HTTP/1.1\r\nX: ").await;
        let _ = client.write_all(&[b'a'; 64 * 1024]).await;
        client
    });
    let limits = Limits::default();
    let mut parser = HeadParser::new(&limits);
    let mut buf = BytesMut::new();
    let r = tokio::time::timeout(GUARD, read_request_head(&mut server, &mut buf, &mut parser))
        .await
        .unwrap();
    let e = r.unwrap_err();
    assert_eq!(
        (e.clone(), e.status()),
        (CapacityError::HeadTooLarge.into(), 431)
    );
    // The buffer grew at most one read past the limit.
    assert!(buf.len() <= limits.max_head_bytes + 4096, "{}", buf.len());
    drop(server);
    let _ = writer.await;
}

#[tokio::test]
async fn cancelled_read_loses_nothing() {
    let (mut client, mut server) = pair().await;
    let mut parser = HeadParser::new(&Limits::default());
    let mut buf = BytesMut::new();
    client.write_all(b"GET /a HTTP/1.1\r\nHo").await.unwrap();
    // The first call times out half-way through the head and is dropped.
    let first = tokio::time::timeout(
        Duration::from_millis(50),
        read_request_head(&mut server, &mut buf, &mut parser),
    )
    .await;
    assert!(first.is_err(), "head cannot be complete yet");
    client.write_all(b"st: h\r\n\r\n").await.unwrap();
    let req = tokio::time::timeout(GUARD, read_request_head(&mut server, &mut buf, &mut parser))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(req.path(), "/a");
    assert_eq!(req.host(), Some("h"));
}

#[tokio::test]
async fn client_reads_chunked_and_close_delimited_responses() {
    let (mut client, mut server) = pair().await;
    server
        .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .await
        .unwrap();
    let limits = Limits::default();
    let mut parser = HeadParser::new(&limits);
    let mut buf = BytesMut::new();
    let res = read_response_head(&mut client, &mut buf, &mut parser)
        .await
        .unwrap()
        .unwrap();
    let kind = response_body_kind(&res, &pushwire_http::Method::Get).unwrap();
    let mut dec = BodyDecoder::new(kind, &limits);
    let body = tokio::time::timeout(GUARD, read_body(&mut client, &mut buf, &mut dec))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&body[..], b"hello world");

    server
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n")
        .await
        .unwrap();
    server.shutdown().await.unwrap();
    let res = read_response_head(&mut client, &mut buf, &mut parser)
        .await
        .unwrap()
        .unwrap();
    let kind = response_body_kind(&res, &pushwire_http::Method::Get).unwrap();
    assert_eq!(kind, BodyKind::CloseDelimited);
    let mut dec = BodyDecoder::new(kind, &limits);
    let first = read_body_chunk(&mut client, &mut buf, &mut dec)
        .await
        .unwrap();
    assert_eq!(first, BodyChunk::Data("data: 1\n\n".into()));
    let end = tokio::time::timeout(GUARD, read_body_chunk(&mut client, &mut buf, &mut dec))
        .await
        .unwrap();
    assert_eq!(end, Ok(BodyChunk::End));
}

#[tokio::test]
async fn truncated_body_is_unexpected_eof() {
    let (mut client, mut server) = pair().await;
    client.write_all(b"1234").await.unwrap();
    client.shutdown().await.unwrap();
    let mut dec = BodyDecoder::new(BodyKind::Length(10), &Limits::default());
    let mut buf = BytesMut::new();
    let r = tokio::time::timeout(GUARD, read_body(&mut server, &mut buf, &mut dec))
        .await
        .unwrap();
    assert_eq!(r, Err(Error::Protocol(ProtocolError::UnexpectedEof)));
}

#[tokio::test]
async fn slow_head_gets_408() {
    let (mut client, mut server) = pair().await;
    // Half a head, then silence (the connection stays open).
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let limits = Limits::default().with_head_timeout(Duration::from_millis(200));
    let mut parser = HeadParser::new(&limits);
    let mut buf = BytesMut::new();
    let r = tokio::time::timeout(
        GUARD,
        read_request_head_timed(&mut server, &mut buf, &mut parser),
    )
    .await
    .unwrap();
    let e = r.unwrap_err();
    assert_eq!((e.clone(), e.status()), (Error::HeadTimeout, 408));
    // A complete head within the limit is read normally.
    client.write_all(b"\r\n").await.unwrap();
    let req = read_request_head_timed(&mut server, &mut buf, &mut parser)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req.host(), Some("a"));
    drop(client);
}
