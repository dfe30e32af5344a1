//! The streaming pumps' batched writes over real sockets on 127.0.0.1: large WebSocket echoes
//! written from the received buffer (header and payload in one vectored write) stay in order
//! with the small frames and pongs around them, and an SSE subscriber that wakes to a burst
//! gets every event of it, in order, in as few writes as the queue allows.

mod common;
use common::{client_frame, upgrade_echo};
use std::net::SocketAddr;
use std::time::Duration;

use pushwire_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Failure guard only: every wait below normally ends in milliseconds.
const GUARD: Duration = Duration::from_secs(10);

async fn start() -> (SocketAddr, Server2) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = Config::default();
    cfg.addr = addr;
    cfg.shutdown_grace = Duration::from_secs(2);
    let server = Server::new(cfg);
    let hub = server.hub();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async {
        let _ = rx.await;
    }));
    (
        addr,
        Server2 {
            stop: tx,
            task,
            hub,
        },
    )
}

struct Server2 {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    hub: std::sync::Arc<dyn pushwire_server::Hub>,
}

impl Server2 {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(GUARD, self.task).await;
    }
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, n: usize) {
    while buf.len() < n {
        let mut tmp = vec![0u8; 64 * 1024];
        let got = tokio::time::timeout(GUARD, s.read(&mut tmp))
            .await
            .expect("guard expired")
            .unwrap();
        assert!(got > 0, "connection closed early");
        buf.extend_from_slice(&tmp[..got]);
    }
}

/// Reads one unmasked server frame: (opcode byte, payload).
async fn server_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u8, Vec<u8>) {
    fill(s, buf, 2).await;
    let (b0, b1) = (buf[0], buf[1]);
    assert_eq!(b1 & 0x80, 0, "server frames are not masked (RFC 6455 §5.1)");
    let (len, at) = match b1 & 0x7f {
        126 => {
            fill(s, buf, 4).await;
            (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4)
        }
        127 => {
            fill(s, buf, 10).await;
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    fill(s, buf, at + len).await;
    let payload = buf[at..at + len].to_vec();
    buf.drain(..at + len);
    (b0, payload)
}

#[tokio::test]
async fn rfc6455_s5_large_echoes_keep_their_order_with_small_frames_and_pongs() {
    let (addr, srv) = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = upgrade_echo(&mut s).await;
    // Large (deferred, no copy), ping, small, large, small: all sent in one go.
    let big1: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let big2: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 241) as u8).collect();
    let mut burst = client_frame(0x82, &big1);
    burst.extend(client_frame(0x89, b"p1"));
    burst.extend(client_frame(0x81, b"small"));
    burst.extend(client_frame(0x82, &big2));
    burst.extend(client_frame(0x81, b"last"));
    // Write and read at once: the server stops reading while it owes more than 64 KiB.
    let (rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&burst).await.unwrap();
        wr
    });
    let mut s2 = {
        let mut got = Vec::new();
        let wr = tokio::time::timeout(GUARD, writer).await.unwrap().unwrap();
        let mut joined = rd.reunite(wr).unwrap();
        for _ in 0..5 {
            got.push(server_frame(&mut joined, &mut buf).await);
        }
        assert_eq!(got[0], (0x82, big1));
        assert_eq!(got[1], (0x8a, b"p1".to_vec()));
        assert_eq!(got[2], (0x81, b"small".to_vec()));
        assert_eq!(got[3].0, 0x82);
        assert!(got[3].1 == big2, "1 MiB echo corrupted");
        assert_eq!(got[4], (0x81, b"last".to_vec()));
        joined
    };
    // A clean close still works after the deferred writes.
    s2.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    let (op, payload) = server_frame(&mut s2, &mut buf).await;
    assert_eq!((op, payload), (0x88, 1000u16.to_be_bytes().to_vec()));
    drop(s2);
    srv.stop().await;
}

#[tokio::test]
async fn whatwg_sse_burst_drained_in_order_without_gaps() {
    let (addr, srv) = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /events?topic=burst HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    while !buf.windows(6).any(|w| w == b"retry:") {
        let n = buf.len();
        fill(&mut s, &mut buf, n + 1).await;
    }
    // 200 messages published back to back, faster than the subscriber task runs: it wakes to
    // a queue of many and must write all of them, once each, in order.
    for i in 0..200 {
        let payload = pushwire_server::hub::Payload::from(bytes::Bytes::from(format!("m{i}")));
        srv.hub.publish("burst", payload).await.unwrap();
    }
    let want: String = (0..200).map(|i| format!("data: m{i}\n\n")).collect();
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        let got: String = text
            .split("\n\n")
            .filter_map(|e| e.lines().find(|l| l.starts_with("data: ")))
            .map(|d| format!("{d}\n\n"))
            .collect();
        if got.len() >= want.len() {
            assert_eq!(got, want);
            assert!(text.contains("id: "));
            break;
        }
        let n = buf.len();
        fill(&mut s, &mut buf, n + 1).await;
    }
    srv.stop().await;
}
