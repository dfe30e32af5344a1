//! `/echo`'s cut-through of large binary messages over real sockets on 127.0.0.1: a binary
//! message of 64 KiB or more that arrives as one frame is echoed as it arrives
//! (`pushwire_ws::Protocol::receive_parts`). Echoes stay intact around the threshold and in
//! any write pattern, fragmented messages and text are still echoed whole, pongs and our
//! close never land inside an echo frame, and a client that stalls or leaves in the middle
//! of a frame is dropped without harming the server.

mod common;
use common::{client_frame, upgrade_echo};
use std::net::SocketAddr;
use std::time::Duration;

use pushwire_server::{Config, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Failure guard only: every wait below normally ends well within it.
const GUARD: Duration = Duration::from_secs(10);

/// The server's threshold for cut-through (documented in `stream.rs`).
const MIN: usize = 64 * 1024;

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(cfg: impl FnOnce(&mut Config)) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut c = Config::default();
    c.addr = addr;
    c.shutdown_grace = GUARD;
    cfg(&mut c);
    let server = Server::new(c);
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async {
        let _ = rx.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let r = tokio::time::timeout(GUARD, self.task).await;
        assert!(r.is_ok(), "server did not stop");
    }
}

/// Reads until `buf` holds `n` bytes; false at end of stream (or a reset).
async fn fill<R: AsyncRead + Unpin>(s: &mut R, buf: &mut Vec<u8>, n: usize) -> bool {
    while buf.len() < n {
        let mut tmp = vec![0u8; 64 * 1024];
        let got = tokio::time::timeout(GUARD, s.read(&mut tmp))
            .await
            .expect("guard expired");
        match got {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    }
    true
}

/// Opens `/echo` and returns the stream and what followed the `101`.
async fn open(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let rest = upgrade_echo(&mut s).await;
    (s, rest)
}

/// The header of an unmasked server frame at the front of `buf`: (first byte, payload
/// length, header length), once complete.
fn server_header(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    assert_eq!(b1 & 0x80, 0, "server frames are not masked (RFC 6455 §5.1)");
    match b1 & 0x7f {
        126 => Some((
            b0,
            u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize,
            4,
        )),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().unwrap();
            Some((b0, u64::from_be_bytes(b) as usize, 10))
        }
        n => Some((b0, n as usize, 2)),
    }
}

/// Reads one server frame: (first byte, payload); `None` at end of stream.
async fn server_frame<R: AsyncRead + Unpin>(s: &mut R, buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let mut need = 2;
    loop {
        if !fill(s, buf, need).await {
            return None;
        }
        match server_header(buf) {
            Some((b0, len, at)) => {
                if !fill(s, buf, at + len).await {
                    return None;
                }
                let payload = buf[at..at + len].to_vec();
                buf.drain(..at + len);
                return Some((b0, payload));
            }
            None => need += 1,
        }
    }
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

/// Sizes around the threshold and above a MiB, written whole, in odd pieces and a byte at a
/// time around the header; a fragmented large message with pings between its fragments
/// and a large text message are echoed whole, after the pongs.
#[tokio::test]
async fn rfc6455_5_4_large_binary_echoes_intact_in_any_write_pattern() {
    let srv = start(|_| {}).await;
    let (s, mut buf) = open(srv.addr).await;
    let (mut rd, mut wr) = s.into_split();
    let sizes = [MIN - 1, MIN, MIN + 1, (1 << 20) + 3];
    let mut expect: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut sends: Vec<(Vec<u8>, usize)> = Vec::new(); // (bytes, write size)
    for (i, &n) in sizes.iter().enumerate() {
        let p = pattern(n, i);
        for chunk in [usize::MAX, 7919, 1] {
            let f = client_frame(0x82, &p);
            if chunk == 1 {
                // A byte at a time through the header and the first payload bytes, then the
                // rest at once.
                let (head, rest) = f.split_at(20);
                sends.push((head.to_vec(), 1));
                sends.push((rest.to_vec(), usize::MAX));
            } else {
                sends.push((f, chunk));
            }
            expect.push((0x82, p.clone()));
        }
    }
    // A fragmented binary message of large fragments, pings between them: the pongs come
    // first, then the message, reassembled.
    let (a, b) = (pattern(100_000, 9), pattern(100_000, 10));
    let mut frag = client_frame(0x02, &a);
    frag.extend(client_frame(0x89, b"p1"));
    frag.extend(client_frame(0x00, &b));
    frag.extend(client_frame(0x89, b"p2"));
    frag.extend(client_frame(0x80, b"end"));
    sends.push((frag, 4096));
    expect.push((0x8a, b"p1".to_vec()));
    expect.push((0x8a, b"p2".to_vec()));
    expect.push((0x82, [a, b, b"end".to_vec()].concat()));
    // A large text message is validated and echoed whole; a ping right after a large binary
    // echo is answered after it.
    let text = "é".repeat(50_000).into_bytes();
    let big = pattern(MIN * 3, 11);
    let mut tail = client_frame(0x81, &text);
    tail.extend(client_frame(0x82, &big));
    tail.extend(client_frame(0x89, b"p3"));
    sends.push((tail, usize::MAX));
    expect.push((0x81, text));
    expect.push((0x82, big));
    expect.push((0x8a, b"p3".to_vec()));
    // Written while reading: the server stops reading while it owes more than 64 KiB.
    let writer = tokio::spawn(async move {
        for (bytes, chunk) in sends {
            for piece in bytes.chunks(chunk.min(bytes.len()).max(1)) {
                wr.write_all(piece).await.unwrap();
            }
        }
        wr
    });
    for (i, want) in expect.iter().enumerate() {
        let got = server_frame(&mut rd, &mut buf).await.expect("closed early");
        assert_eq!(got.0, want.0, "frame {i}: first byte");
        assert!(
            got.1 == want.1,
            "frame {i}: payload of {} bytes differs",
            want.1.len()
        );
    }
    let wr = tokio::time::timeout(GUARD, writer).await.unwrap().unwrap();
    let mut s = rd.reunite(wr).unwrap();
    s.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    let got = server_frame(&mut s, &mut buf).await;
    assert_eq!(got, Some((0x88, 1000u16.to_be_bytes().to_vec())));
    srv.stop().await;
}

/// A server shutting down while it echoes a large frame queues its close (1001) until the
/// frame is complete: the close follows the intact echo (RFC 6455 §5.4: nothing is
/// injected inside a frame).
#[tokio::test]
async fn rfc6455_5_4_close_owed_inside_an_echo_frame_follows_it() {
    let srv = start(|_| {}).await;
    let (mut s, mut buf) = open(srv.addr).await;
    let p = pattern(300_000, 3);
    let f = client_frame(0x82, &p);
    let (first, rest) = f.split_at(100_000);
    s.write_all(first).await.unwrap();
    // The echo has started: its header and first bytes are back.
    assert!(fill(&mut s, &mut buf, 10 + 1000).await);
    assert_eq!(server_header(&buf), Some((0x82, 300_000, 10)));
    let stopping = tokio::spawn(srv.stop());
    // Give the shutdown time to reach the connection (mid-frame); if it is late, the close
    // simply follows the echo anyway.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(rest).await.unwrap();
    let got = server_frame(&mut s, &mut buf).await.expect("closed early");
    assert_eq!(got.0, 0x82);
    assert!(got.1 == p, "echo corrupted");
    let close = server_frame(&mut s, &mut buf).await.expect("no close");
    assert_eq!(close.0, 0x88);
    assert_eq!(close.1[..2], 1001u16.to_be_bytes(), "going away");
    s.write_all(&client_frame(0x88, &1001u16.to_be_bytes()))
        .await
        .unwrap();
    tokio::time::timeout(GUARD, stopping)
        .await
        .unwrap()
        .unwrap();
}

/// A client that stops sending in the middle of a large frame is dropped once its keep-alive
/// runs out (the ping it is owed cannot go inside the echo frame, and it answers nothing),
/// and one that disconnects mid-frame is dropped at once; the server echoes on for others.
#[tokio::test]
async fn clients_that_stall_or_leave_mid_frame_are_dropped() {
    let srv = start(|c| c.ws_ping_interval = Duration::from_millis(300)).await;
    // Stalls: 150,000 of 1 MiB sent. It gets back the echo's header and those bytes,
    // unmasked, then the end of the connection (no ping inside the frame).
    let p = pattern(1 << 20, 5);
    let f = client_frame(0x82, &p);
    let (mut s, mut buf) = open(srv.addr).await;
    s.write_all(&f[..150_000 + 14]).await.unwrap();
    loop {
        let n = buf.len() + 1;
        if !fill(&mut s, &mut buf, n).await {
            break;
        }
    }
    assert_eq!(server_header(&buf), Some((0x82, 1 << 20, 10)));
    assert!(buf[10..] == p[..150_000], "the echoed part differs");
    // Leaves mid-frame, while its echo is being written.
    for cut in [14, 14 + 1, 14 + MIN + 5, 700_000] {
        let (mut s, _) = open(srv.addr).await;
        s.write_all(&f[..cut]).await.unwrap();
        drop(s);
    }
    // The server still echoes, large and small.
    let (mut s, mut buf) = open(srv.addr).await;
    let mut both = f.clone();
    both.extend(client_frame(0x81, b"still here"));
    let (mut rd, mut wr) = s.split();
    let (_, got) = tokio::join!(wr.write_all(&both), async {
        let a = server_frame(&mut rd, &mut buf).await;
        let b = server_frame(&mut rd, &mut buf).await;
        (a, b)
    });
    assert!(got.0 == Some((0x82, p)), "1 MiB echo differs");
    assert_eq!(got.1, Some((0x81, b"still here".to_vec())));
    srv.stop().await;
}
