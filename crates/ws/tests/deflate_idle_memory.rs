//! Issue 11's memory goal: a server connection with permessage-deflate negotiated (no
//! context takeover, the default) that has received compressed messages holds at most
//! 8 KiB of heap once idle: no zlib context lives between messages. Counted like
//! `idle_memory.rs` (a counting allocator, 200 connections, each server task waiting in
//! `recv()`), alone in its test binary.
#![cfg(feature = "deflate")]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pushwire_ws::{Config, Message, WebSocket};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

/// Compressed messages received by all server tasks.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
static NEGOTIATED: AtomicUsize = AtomicUsize::new(0);

/// Messages each client sends.
const MESSAGES: usize = 3;

/// A masked client text frame with RSV1 (the key is zero, so the payload is as given).
fn compressed_frame(text: &str) -> Vec<u8> {
    let c = pushwire_ws::deflate::compress_message(text.as_bytes(), 6)
        .unwrap()
        .unwrap();
    assert!(c.len() < 126);
    let mut f = vec![0xc1, 0x80 | c.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(&c);
    f
}

#[test]
fn idle_deflate_server_connection_holds_at_most_8_kib() {
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
                while let Ok(Some(m)) = ws.recv().await {
                    if matches!(m, Message::Text(t) if t.contains("\"seq\"")) {
                        RECEIVED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let text = "{\"topic\":\"prices\",\"seq\":1,\"bid\":101.25,\"ask\":101.5}".repeat(3);
    let frame = compressed_frame(&text);
    let connect = |count: usize, into: &mut Vec<std::net::TcpStream>| {
        for _ in 0..count {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
            )
            .unwrap();
            for _ in 0..MESSAGES {
                s.write_all(&frame).unwrap();
            }
            into.push(s);
        }
    };
    // Waits (failure guard: 10 s) until every server task has inflated its messages and
    // is idle again, and checks each 101 agreed on permessage-deflate.
    let settle = |want: usize, clients: &mut [std::net::TcpStream]| {
        let mut waited = 0;
        while RECEIVED.load(Ordering::Relaxed) < want * MESSAGES {
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
            waited += 5;
            assert!(waited < 10_000, "servers did not receive");
        }
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
        for c in clients.iter_mut() {
            c.set_nonblocking(true).unwrap();
            let mut b = [0u8; 512];
            let n = c.read(&mut b).unwrap_or(0);
            let head = String::from_utf8_lossy(&b[..n]).to_ascii_lowercase();
            if head.contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover") {
                NEGOTIATED.fetch_add(1, Ordering::Relaxed);
            }
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
    println!(
        "heap per idle deflate server connection after {MESSAGES} compressed messages: {per} bytes"
    );
    assert_eq!(
        NEGOTIATED.load(Ordering::Relaxed),
        10 + N,
        "every 101 accepted deflate"
    );
    assert!(per <= 8 * 1024, "{per} bytes per idle deflate connection");
    drop(clients);
}
