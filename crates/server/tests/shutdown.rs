//! Graceful shutdown of idle keep-alive connections over real sockets on 127.0.0.1: a
//! connection between requests is closed at once, whether it never sent a request (the first
//! read's wait) or has been answered once or several times (the lasting wait kept across
//! keep-alive requests), so shutdown does not sit out its grace period.

use std::time::Duration;

use pushwire_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Failure guard only: every wait below normally ends in milliseconds.
const GUARD: Duration = Duration::from_secs(10);

/// Sends a keep-alive `GET /healthz` and reads its whole response (head and body).
async fn healthz(s: &mut TcpStream) {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200 "), "{head}");
            assert!(!head.contains("connection: close"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("content-length")
                .trim()
                .parse()
                .unwrap();
            if buf.len() >= end + 4 + len {
                assert_eq!(buf.len(), end + 4 + len, "nothing past the response");
                return;
            }
        }
        let mut tmp = [0u8; 4096];
        let n = tokio::time::timeout(GUARD, s.read(&mut tmp))
            .await
            .expect("response (guard expired)")
            .unwrap();
        assert!(n > 0, "closed before the response");
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Whether the server closes `s` (EOF) without sending anything more.
async fn closed(s: &mut TcpStream) -> bool {
    let mut tmp = [0u8; 64];
    matches!(
        tokio::time::timeout(GUARD, s.read(&mut tmp)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn idle_keep_alive_connections_close_at_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = Config::default();
    cfg.addr = addr;
    // Far longer than the guard: a connection left open would make the run outlast it.
    cfg.shutdown_grace = Duration::from_secs(60);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(Server::new(cfg).run(listener, async {
        let _ = rx.await;
    }));
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    let mut once = TcpStream::connect(addr).await.unwrap();
    healthz(&mut once).await;
    let mut thrice = TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        healthz(&mut thrice).await;
    }
    let _ = tx.send(());
    tokio::time::timeout(GUARD, task)
        .await
        .expect("shutdown waited for idle keep-alive connections")
        .unwrap()
        .unwrap();
    for (name, s) in [
        ("fresh", &mut fresh),
        ("once", &mut once),
        ("thrice", &mut thrice),
    ] {
        assert!(closed(s).await, "{name} connection closed");
    }
}
