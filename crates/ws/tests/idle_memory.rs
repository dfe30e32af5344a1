//! DESIGN's memory goal: an idle server connection holds under 5 KiB of heap (no read or
//! write buffer while idle). A counting allocator measures the live heap growth over 200
//! idle connections (each server task waiting in `recv()`), including the task, the tokio
//! socket registration and the shared state. Alone in its test binary so no other test
//! allocates meanwhile.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pushwire_ws::{Config, WebSocket};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

static READY: AtomicUsize = AtomicUsize::new(0);

#[test]
fn idle_server_connection_holds_under_5_kib() {
    const N: usize = 200;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = WebSocket::accept_stream(tcp, Config::default()).await else {
                    return;
                };
                READY.fetch_add(1, Ordering::Relaxed);
                while let Ok(Some(_)) = ws.recv().await {}
            });
        }
    });
    let connect = |count: usize, into: &mut Vec<std::net::TcpStream>| {
        for _ in 0..count {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
            into.push(s);
        }
    };
    // Waits (failure guard: 10 s) until `want` servers are up and idle, and reads the 101s.
    let settle = |want: usize, clients: &mut [std::net::TcpStream]| {
        let mut waited = 0;
        while READY.load(Ordering::Relaxed) < want {
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
            waited += 5;
            assert!(waited < 10_000, "servers did not come up");
        }
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
        for c in clients.iter_mut() {
            c.set_nonblocking(true).unwrap();
            let mut b = [0u8; 512];
            let _ = c.read(&mut b);
        }
    };
    let mut warm = Vec::with_capacity(10);
    connect(10, &mut warm);
    settle(10, &mut warm);
    let mut clients = Vec::with_capacity(N);
    let before = live();
    while clients.len() < N {
        let start = clients.len();
        connect(50, &mut clients);
        settle(10 + clients.len(), &mut clients[start..]);
    }
    let per = (live() - before) / N as isize;
    println!("heap per idle server connection: {per} bytes");
    assert!(per < 5 * 1024, "{per} bytes per idle connection");
    drop(clients);
}
