//! Frame parse + unmask throughput against tungstenite and fastwebsockets, and unmask
//! bandwidth against `memcpy`.
//!
//! `cargo bench -p pushwire-ws --bench frame -- --measurement-time 2 --warm-up-time 1`
//!
//! Every implementation gets the same input: masked client-to-server binary frames (about
//! 1 MiB of payload per iteration, so 65 536 frames of 16 B or one of 1 MiB), read from an
//! in-memory source (tungstenite and fastwebsockets copy from their stream into their own
//! buffer; pushwire copies the same way into its read buffer, sized as its tokio shell
//! sizes it) and parsed and unmasked in the server role.
//! - `pushwire/frame`: [`FrameDecoder`] frames, compared with `fastwebsockets` `read_frame`.
//! - `pushwire/message`: [`Protocol::receive`] messages (adds the message layer), compared
//!   with `tungstenite` `WebSocket::read`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Cursor;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pushwire_ws::frame::{FrameDecoder, FrameHeader, OpCode, Role, apply_mask, encode_frame};
use pushwire_ws::{Config, Protocol};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// The read size: `Config::read_buffer`'s default, as the tokio shell uses it.
const READ: usize = 8 << 10;

fn input(size: usize) -> (Vec<u8>, usize) {
    let count = ((1 << 20) / size).max(1);
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut h = FrameHeader::new(OpCode::Binary, 0);
    h.mask = Some(KEY);
    let mut out = BytesMut::new();
    for _ in 0..count {
        encode_frame(&h, &payload, &mut out);
    }
    (out.to_vec(), count)
}

/// Polls a future that never waits (its I/O is a `Cursor`) to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// What the tokio shell does per read: reserve the read size (or what the frame in progress
/// still needs, up to 1 MiB), then take as much as the source has, up to the spare capacity
/// (`read_buf` on a `Cursor`).
fn read(src: &mut &[u8], buf: &mut BytesMut, hint: usize) {
    buf.reserve(READ.max(hint.min(1 << 20)));
    let n = (buf.capacity() - buf.len()).min(src.len());
    buf.extend_from_slice(&src[..n]);
    *src = &src[n..];
}

fn cfg() -> Config {
    Config::default()
}

fn parse(c: &mut Criterion) {
    for (name, size) in [
        ("16B", 16),
        ("1KiB", 1 << 10),
        ("64KiB", 64 << 10),
        ("1MiB", 1 << 20),
    ] {
        let (wire, count) = input(size);
        let mut g = c.benchmark_group(format!("parse_unmask/{name}"));
        g.throughput(Throughput::Bytes((size * count) as u64));

        g.bench_function("pushwire/frame", |b| {
            b.iter_batched(
                || FrameDecoder::new(Role::Server, &cfg()),
                |mut dec| {
                    let mut src = &wire[..];
                    let mut buf = BytesMut::new();
                    let mut got = 0;
                    while !src.is_empty() {
                        let hint = dec.remaining(&buf);
                        read(&mut src, &mut buf, hint);
                        while let Some(f) = dec.decode(&mut buf).unwrap() {
                            black_box(&f.payload);
                            got += 1;
                        }
                    }
                    assert_eq!(got, count);
                },
                BatchSize::SmallInput,
            )
        });

        g.bench_function("pushwire/message", |b| {
            b.iter_batched(
                || Protocol::new(Role::Server, &cfg()),
                |mut p| {
                    let mut src = &wire[..];
                    let mut buf = BytesMut::new();
                    let mut got = 0;
                    while !src.is_empty() {
                        let hint = p.read_hint(&buf);
                        read(&mut src, &mut buf, hint);
                        while let Some(m) = p.receive(&mut buf).unwrap() {
                            black_box(&m);
                            got += 1;
                        }
                    }
                    assert_eq!(got, count);
                },
                BatchSize::SmallInput,
            )
        });

        g.bench_function("fastwebsockets/frame", |b| {
            b.iter_batched(
                || {
                    let mut ws = fastwebsockets::WebSocket::after_handshake(
                        Cursor::new(wire.clone()),
                        fastwebsockets::Role::Server,
                    );
                    ws.set_auto_close(false);
                    ws.set_auto_pong(false);
                    ws.set_max_message_size(64 << 20);
                    ws
                },
                |mut ws| {
                    for _ in 0..count {
                        let f = block_on(ws.read_frame()).unwrap();
                        black_box(&f.payload);
                    }
                },
                BatchSize::LargeInput,
            )
        });

        g.bench_function("tungstenite/message", |b| {
            b.iter_batched(
                || {
                    let conf =
                        tungstenite::protocol::WebSocketConfig::default().read_buffer_size(READ);
                    tungstenite::WebSocket::from_raw_socket(
                        Cursor::new(wire.clone()),
                        tungstenite::protocol::Role::Server,
                        Some(conf),
                    )
                },
                |mut ws| {
                    for _ in 0..count {
                        black_box(ws.read().unwrap());
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

fn mask(c: &mut Criterion) {
    for (name, size) in [("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let src: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut g = c.benchmark_group(format!("mask/{name}"));
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = src.clone();
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                buf.copy_from_slice(black_box(&src));
                black_box(&buf);
            })
        });
        g.bench_function("pushwire/apply_mask", |b| {
            b.iter(|| {
                apply_mask(black_box(&mut buf), KEY, 0);
            })
        });
        g.bench_function("bytewise loop (reference)", |b| {
            b.iter(|| {
                mask_bytewise(black_box(&mut buf), KEY);
            })
        });
        g.bench_function("fastwebsockets/unmask", |b| {
            b.iter(|| {
                fastwebsockets::unmask(black_box(&mut buf), KEY);
            })
        });
        // Where a payload really sits: behind a 14-byte header (a masked frame of 64 KiB or
        // more), so not on a 16-byte boundary.
        let mut behind = vec![0u8; size + 14];
        g.bench_function("pushwire/apply_mask behind a 14-byte header", |b| {
            b.iter(|| {
                apply_mask(black_box(&mut behind[14..]), KEY, 0);
            })
        });
        g.bench_function(
            "word loop from the first byte (apply_mask before) behind a 14-byte header",
            |b| {
                b.iter(|| {
                    mask_words_unaligned(black_box(&mut behind[14..]), KEY);
                })
            },
        );
        g.bench_function("fastwebsockets/unmask behind a 14-byte header", |b| {
            b.iter(|| {
                fastwebsockets::unmask(black_box(&mut behind[14..]), KEY);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, parse, mask);
criterion_main!(benches);

/// The obvious byte loop: the baseline `apply_mask`'s word loop is measured against.
fn mask_bytewise(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// `apply_mask` as it was before it aligned its loop: the same u64 word loop, started at the
/// first byte wherever it lies.
fn mask_words_unaligned(buf: &mut [u8], key: [u8; 4]) {
    let k = u32::from_ne_bytes(key) as u64;
    let wide = k | (k << 32);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(w) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *b ^= m;
    }
}
