//! Interop with a real peer: tokio-tungstenite as client of our server and as server for
//! our client, over 127.0.0.1 sockets. Text, binary, fragmented, 16 MiB, ping/pong, close.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use pushwire_ws::{CloseCode, Config, Message, WebSocket};
use tokio::net::TcpListener;
use tungstenite::Message as TMessage;
use tungstenite::protocol::frame::coding::{CloseCode as TCloseCode, Data, OpCode as TOpCode};
use tungstenite::protocol::frame::{CloseFrame as TCloseFrame, Frame as TFrame};

const GUARD: Duration = Duration::from_secs(30);

async fn guard<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("test guard timeout")
}

const SIXTEEN_MIB: usize = 16 << 20;

fn big() -> Vec<u8> {
    (0..SIXTEEN_MIB).map(|i| (i % 253) as u8).collect()
}

/// Our echo server for one connection; returns the URL and the task, which ends with the
/// peer's close frame code.
async fn our_server() -> (String, tokio::task::JoinHandle<Option<u16>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    let h = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut ws = WebSocket::accept_stream(tcp, Config::default())
            .await
            .unwrap();
        while let Some(m) = ws.recv().await.unwrap() {
            ws.send(&m).await.unwrap();
        }
        ws.peer_close().flatten().map(|c| c.code.0)
    });
    (url, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tungstenite_client_against_our_server() {
    let (url, server) = our_server().await;
    let (mut ws, res) = guard(tokio_tungstenite::connect_async(url.as_str()))
        .await
        .unwrap();
    assert_eq!(res.status(), 101);

    // Text and binary.
    ws.send(TMessage::text("héllo")).await.unwrap();
    assert_eq!(
        guard(ws.next()).await.unwrap().unwrap(),
        TMessage::text("héllo")
    );
    ws.send(TMessage::binary(vec![0u8, 1, 255])).await.unwrap();
    assert_eq!(
        guard(ws.next()).await.unwrap().unwrap(),
        TMessage::binary(vec![0u8, 1, 255])
    );

    // Fragmented text with a ping in the middle: the pong comes first, then the message.
    ws.send(TMessage::Frame(TFrame::message(
        Bytes::from_static(b"frag"),
        TOpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(TMessage::Ping(Bytes::from_static(b"mid")))
        .await
        .unwrap();
    ws.send(TMessage::Frame(TFrame::message(
        Bytes::from_static(b"mented"),
        TOpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(
        guard(ws.next()).await.unwrap().unwrap(),
        TMessage::Pong(Bytes::from_static(b"mid"))
    );
    assert_eq!(
        guard(ws.next()).await.unwrap().unwrap(),
        TMessage::text("fragmented")
    );

    // 16 MiB, the default frame limit on both sides.
    let payload = big();
    ws.send(TMessage::binary(payload.clone())).await.unwrap();
    match guard(ws.next()).await.unwrap().unwrap() {
        TMessage::Binary(b) => assert!(b[..] == payload[..], "16 MiB echo differs"),
        other => panic!("{other:?}"),
    }

    // Close: ours echoes the code and closes the TCP connection.
    ws.send(TMessage::Close(Some(TCloseFrame {
        code: TCloseCode::Library(4001),
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    match guard(ws.next()).await.unwrap().unwrap() {
        TMessage::Close(Some(f)) => assert_eq!(u16::from(f.code), 4001),
        other => panic!("{other:?}"),
    }
    assert!(
        guard(ws.next()).await.is_none(),
        "stream ends after the close"
    );
    drop(ws); // the client closes its side once the server closed TCP
    assert_eq!(guard(server).await.unwrap(), Some(4001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        // Echo data; on "go" send a fragmented message and a ping; report the pong.
        let mut pong = None;
        while let Some(m) = ws.next().await {
            match m.unwrap() {
                TMessage::Text(t) if t.as_str() == "go" => {
                    ws.send(TMessage::Frame(TFrame::message(
                        Bytes::from_static(b"\x00\x01"),
                        TOpCode::Data(Data::Binary),
                        false,
                    )))
                    .await
                    .unwrap();
                    ws.send(TMessage::Ping(Bytes::from_static(b"are you there")))
                        .await
                        .unwrap();
                    ws.send(TMessage::Frame(TFrame::message(
                        Bytes::from_static(b"\x02"),
                        TOpCode::Data(Data::Continue),
                        true,
                    )))
                    .await
                    .unwrap();
                }
                TMessage::Pong(p) => pong = Some(p),
                TMessage::Close(_) => break,
                m @ (TMessage::Text(_) | TMessage::Binary(_)) => ws.send(m).await.unwrap(),
                _ => {}
            }
        }
        // Drive the close handshake to its end.
        while ws.next().await.is_some() {}
        pong
    });

    let mut ws = guard(WebSocket::connect(&url, Config::default()))
        .await
        .unwrap();
    ws.send(&Message::text("hello")).await.unwrap();
    assert_eq!(
        guard(ws.recv()).await.unwrap(),
        Some(Message::text("hello"))
    );
    ws.send(&Message::binary(vec![9u8; 1000])).await.unwrap();
    assert_eq!(
        guard(ws.recv()).await.unwrap(),
        Some(Message::binary(vec![9u8; 1000]))
    );
    let payload = big();
    ws.send(&Message::binary(payload.clone())).await.unwrap();
    match guard(ws.recv()).await.unwrap() {
        Some(Message::Binary(b)) => assert!(b[..] == payload[..], "16 MiB echo differs"),
        other => panic!("{:?}", other.map(|m| m.payload().len())),
    }
    ws.send(&Message::text("go")).await.unwrap();
    assert_eq!(
        guard(ws.recv()).await.unwrap(),
        Some(Message::binary(Bytes::from_static(b"\x00\x01\x02")))
    );
    guard(ws.close(CloseCode::NORMAL, "done")).await.unwrap();
    assert_eq!(
        guard(server).await.unwrap(),
        Some(Bytes::from_static(b"are you there")),
        "our client answered the ping"
    );
}
