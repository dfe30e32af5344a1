//! permessage-deflate CPU figures on the sans-IO core (no sockets, one thread, wall time of
//! many repetitions: on a loaded machine the absolute figures inflate, the ratios hold):
//! - compressed echo: server receives a compressed client message and sends it back
//!   compressed, for JSON-like messages of 64 B, 1 KiB and 16 KiB (and without deflate);
//! - broadcast of one 1 KiB JSON message to 1000 deflate subscribers: compressed once
//!   (`SharedFrame::compressed`) against compressed per connection (`Protocol::send`).
//!
//! `cargo run --release -p pushwire-ws --features deflate --example deflate_bench`

use bytes::BytesMut;
use pushwire_ws::deflate::DeflateParams;
use pushwire_ws::frame::{OpCode, Role, SharedFrame};
use pushwire_ws::{Config, Message, Protocol};

/// Nanoseconds since the first call.
fn cpu_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

fn json(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"topic\":\"prices\",\"bid\":{}.25,\"sym\":\"S{}\"}},",
            i * 7919 % 10007,
            i % 97
        ));
        i += 1;
    }
    s.truncate(n);
    s
}

fn pair(deflate: bool) -> (Protocol, Protocol) {
    let mut c = Protocol::new(Role::Client, &Config::default());
    let mut s = Protocol::new(Role::Server, &Config::default());
    if deflate {
        c.set_deflate(DeflateParams::default());
        s.set_deflate(DeflateParams::default());
    }
    (c, s)
}

fn main() {
    println!("compressed echo (server side: inflate + compress + frame), per message:");
    for n in [64usize, 1024, 16384] {
        let msg = Message::text(json(n));
        for deflate in [true, false] {
            let (mut client, mut server) = pair(deflate);
            // The client's frames are prepared once; the server's work is what we time.
            let mut one = BytesMut::new();
            client.send(&msg, &mut one).unwrap();
            let wire_in = one.len();
            let iters = (8_000_000 / n).clamp(500, 50_000);
            let mut out = BytesMut::new();
            let t = cpu_ns();
            for _ in 0..iters {
                let mut rx = one.clone();
                let m = server.receive(&mut rx).unwrap().unwrap();
                out.clear();
                server.send(&m, &mut out).unwrap();
            }
            let per = (cpu_ns() - t) as f64 / iters as f64;
            println!(
                "  {n:6} B {:9}: {:8.0} ns/msg, {wire_in} B in, {} B out on the wire",
                if deflate { "deflate" } else { "plain" },
                per,
                out.len()
            );
        }
    }
    let payload = json(1024);
    const SUBS: usize = 1000;
    let mut subs: Vec<Protocol> = (0..SUBS).map(|_| pair(true).1).collect();
    const ROUNDS: u64 = 20;
    let mut wbuf = BytesMut::new();
    let mut shared_bytes = 0;
    let t = cpu_ns();
    for _ in 0..ROUNDS {
        wbuf.clear();
        let frame = SharedFrame::compressed(OpCode::Text, payload.as_bytes(), 6, 64)
            .unwrap()
            .unwrap();
        for s in subs.iter_mut() {
            s.check_shared(&frame).unwrap();
            wbuf.extend_from_slice(frame.as_bytes());
        }
        shared_bytes = wbuf.len();
    }
    let shared = (cpu_ns() - t) / ROUNDS;
    let msg = Message::text(payload.as_str());
    let t = cpu_ns();
    for _ in 0..ROUNDS {
        wbuf.clear();
        for s in subs.iter_mut() {
            s.send(&msg, &mut wbuf).unwrap();
        }
    }
    let per_conn = (cpu_ns() - t) / ROUNDS;
    println!("broadcast of 1 KiB JSON to {SUBS} deflate subscribers:");
    println!(
        "  shared (compressed once): {:8.0} ns per delivered message, {} B on the wire each",
        shared as f64 / SUBS as f64,
        shared_bytes / SUBS
    );
    println!(
        "  per-connection compression: {:8.0} ns per delivered message, {} B each ({:.0}x the shared CPU)",
        per_conn as f64 / SUBS as f64,
        wbuf.len() / SUBS,
        per_conn as f64 / shared.max(1) as f64
    );
}
