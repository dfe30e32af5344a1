//! Measures the heap held per idle server connection: N clients connect and complete the
//! handshake, every server task waits in `recv()`, and a counting allocator reports the
//! live heap growth divided by N (the WebSocket, its task, the tokio socket registration).
//!
//! `cargo run --release -p pushwire-ws --example idle_memory -- 1000`

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use pushwire_ws::{Config, WebSocket};

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

static READY: AtomicUsize = AtomicUsize::new(0);

fn main() -> std::io::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let Ok(mut ws) = WebSocket::accept_stream(tcp, Config::default()).await else {
                    return;
                };
                READY.fetch_add(1, Ordering::Relaxed);
                while let Ok(Some(_)) = ws.recv().await {}
            });
        }
    });
    // Warm up the runtime and allocator with a few connections first.
    let connect = |count: usize| -> std::io::Result<Vec<std::net::TcpStream>> {
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )?;
            v.push(s);
        }
        Ok(v)
    };
    let settle = |want: usize, clients: &mut Vec<std::net::TcpStream>| -> std::io::Result<()> {
        while READY.load(Ordering::Relaxed) < want {
            rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(5)).await });
        }
        rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(50)).await });
        for c in clients.iter_mut() {
            c.set_nonblocking(true)?;
            let mut b = [0u8; 512];
            let _ = c.read(&mut b);
        }
        Ok(())
    };
    let mut warm = connect(10)?;
    settle(10, &mut warm)?;
    let before = live();
    let mut clients: Vec<std::net::TcpStream> = Vec::with_capacity(n);
    let client_vec = (clients.capacity() * std::mem::size_of::<std::net::TcpStream>()) as isize;
    // In batches, so the accept backlog never overflows while the runtime is not polled.
    while clients.len() < n {
        let batch = (n - clients.len()).min(100);
        let mut more = connect(batch)?;
        settle(10 + clients.len() + batch, &mut more)?;
        clients.extend(more);
    }
    settle(10 + n, &mut clients)?;
    let after = live();
    let per = (after - before - client_vec) as f64 / n as f64;
    println!(
        "{n} idle server connections: {:.0} bytes of heap each \
         (WebSocket {} bytes inline, plus its task, socket registration and shared state)",
        per,
        std::mem::size_of::<WebSocket<tokio::net::TcpStream>>()
    );
    drop(clients);
    drop(warm);
    Ok(())
}
