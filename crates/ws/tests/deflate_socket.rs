//! permessage-deflate over real sockets between our client and our server: negotiation by
//! `connect`/`accept_stream`, messages up to 300 KB both ways with and without context
//! takeover, a bomb closed with 1009, and a server with deflate off.
#![cfg(feature = "deflate")]

use std::time::Duration;

use pushwire_ws::deflate::DeflateConfig;
use pushwire_ws::{CapacityError, CloseCode, Config, Error, Message, WebSocket};
use tokio::net::TcpListener;

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
    format!("ws://{addr}/")
}

fn json(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!("{{\"seq\":{i},\"v\":{}}},", i * 31 % 977));
        i += 1;
    }
    s.truncate(n);
    s
}

fn takeover() -> DeflateConfig {
    let mut d = DeflateConfig::default();
    d.own_context_takeover = true;
    d.peer_context_takeover = true;
    d
}

#[tokio::test]
async fn echo_with_and_without_context_takeover() {
    tokio::time::timeout(Duration::from_secs(60), async {
        for (server_cfg, client_cfg, expect_takeover) in [
            (DeflateConfig::default(), DeflateConfig::default(), false),
            (takeover(), takeover(), true),
            // The server keeps no context even if the client would allow it.
            (DeflateConfig::default(), takeover(), false),
        ] {
            let url = echo_server(Config::default().with_deflate(server_cfg)).await;
            let mut ws = WebSocket::connect(&url, Config::default().with_deflate(client_cfg))
                .await
                .unwrap();
            let p = ws.deflate().expect("negotiated");
            assert_eq!(p.server_no_context_takeover, !expect_takeover);
            for n in [0, 5, 64, 1000, 70_000, 300_000] {
                for m in [
                    Message::text(json(n)),
                    Message::binary(json(n).into_bytes()),
                ] {
                    ws.send(&m).await.unwrap();
                    assert_eq!(ws.recv().await.unwrap(), Some(m));
                }
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn inflated_size_over_the_server_limit_is_1009() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let url = echo_server(
            Config::default()
                .with_max_message(64 << 10)
                .with_max_frame(64 << 10),
        )
        .await;
        let mut ws = WebSocket::connect(&url, Config::default()).await.unwrap();
        // 1 MiB of one byte compresses to about 1 KiB: under max_frame, far over max_message.
        ws.send(&Message::binary(vec![b'a'; 1 << 20]))
            .await
            .unwrap();
        assert_eq!(ws.recv().await, Ok(None));
        let close = ws.peer_close().unwrap().unwrap();
        assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
        let _ = Error::from(CapacityError::MessageTooBig);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn server_with_deflate_off_declines() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut off = DeflateConfig::default();
        off.enabled = false;
        let url = echo_server(Config::default().with_deflate(off)).await;
        let mut ws = WebSocket::connect(&url, Config::default()).await.unwrap();
        assert_eq!(ws.deflate(), None);
        let m = Message::text(json(5000));
        ws.send(&m).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(m));
    })
    .await
    .unwrap();
}
