//! Fan-out and idle-memory figures over real loopback sockets (no criterion: one run of a
//! whole server is the unit).
//!
//! ```sh
//! cargo bench -p pushwire-server --bench fanout
//! ```
//!
//! 1. `N` WebSocket subscribers on one topic, `M` publishes through the hub: delivered
//!    messages per second and publish→receive latency percentiles.
//! 2. `K` idle keep-alive HTTP connections: resident memory per connection (whole process,
//!    clients included, so an upper bound).

use std::time::{Duration, Instant};

use pushwire_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const N: usize = 1000;
const M: usize = 200;
const K: usize = 2000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn ws_subscriber(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(
        format!(
            "GET /ws?topic=bench HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).await.expect("head");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// Reads `M` small text frames; returns each one's latency from the timestamp it carries.
async fn receive(mut s: TcpStream, t0: Instant) -> (TcpStream, Vec<Duration>) {
    let mut lat = Vec::with_capacity(M);
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    while lat.len() < M {
        // frames are < 126 bytes: 2-byte header
        while buf.len() >= 2 && buf.len() >= 2 + (buf[1] & 0x7f) as usize {
            let len = (buf[1] & 0x7f) as usize;
            let text = std::str::from_utf8(&buf[2..2 + len]).expect("utf8");
            let sent: u64 = text.parse().expect("timestamp");
            let now = t0.elapsed().as_nanos() as u64;
            lat.push(Duration::from_nanos(now.saturating_sub(sent)));
            buf.drain(..2 + len);
        }
        if lat.len() >= M {
            break;
        }
        let n = s.read(&mut tmp).await.expect("read");
        assert!(n > 0, "closed");
        buf.extend_from_slice(&tmp[..n]);
    }
    (s, lat)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::new(Config::default());
    let hub = server.hub();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async move {
        let _ = stop_rx.await;
    }));

    let mut subs = Vec::with_capacity(N);
    for _ in 0..N {
        subs.push(ws_subscriber(addr).await);
    }
    let t0 = Instant::now();
    // Phase 1: a burst, as fast as the hub takes it: delivery throughput.
    // Phase 2: one publish every 10 ms (100k deliveries/s offered): latency under load that
    // the server can keep up with.
    for (phase, pause) in [
        ("burst", None),
        ("paced 10 ms", Some(Duration::from_millis(10))),
    ] {
        let readers: Vec<_> = subs
            .drain(..)
            .map(|s| tokio::spawn(receive(s, t0)))
            .collect();
        let start = Instant::now();
        for _ in 0..M {
            let stamp = t0.elapsed().as_nanos().to_string();
            hub.publish("bench", bytes::Bytes::from(stamp).into())
                .await
                .expect("publish");
            if let Some(p) = pause {
                tokio::time::sleep(p).await;
            }
        }
        let mut all = Vec::with_capacity(N * M);
        for r in readers {
            let (s, lat) = r.await.expect("reader");
            subs.push(s);
            all.extend(lat);
        }
        let elapsed = start.elapsed();
        all.sort();
        println!(
            "fanout {phase}: {N} WebSocket subscribers x {M} messages = {} deliveries in {:.2} s ({:.0} deliveries/s); latency p50 {:?} p99 {:?} max {:?}",
            all.len(),
            elapsed.as_secs_f64(),
            all.len() as f64 / elapsed.as_secs_f64(),
            pct(&all, 0.5),
            pct(&all, 0.99),
            all.last().copied().unwrap_or_default(),
        );
    }
    drop(subs);

    let before = rss_kib();
    let mut idle = Vec::with_capacity(K);
    for _ in 0..K {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut tmp = [0u8; 1024];
        let _ = s.read(&mut tmp).await.expect("read");
        idle.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_kib();
    println!(
        "idle keep-alive: {K} connections after one request each: RSS +{} KiB ({:.1} KiB per connection, clients included)",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / K as f64
    );
    drop(idle);
    let _ = stop_tx.send(());
    let _ = task.await;
}
