//! Parser throughput against `sse-codec` and `eventsource-stream`, in one run:
//! - small events (an id, an event type, 40 B of data) fed in 16 KiB and in 64 B chunks;
//! - one 1 MiB data line fed whole and in 64 B chunks (linear time: the two should be close;
//!   a parser that re-scans its partial line is quadratic here).
//!
//! `cargo bench -p pushwire-sse --bench parser -- --measurement-time 2 --warm-up-time 1`

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use futures_codec::Decoder;
use pushwire_sse::{EventParser, Item, ItemRef};

fn small_events(total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + 128);
    let mut i = 0u64;
    while out.len() < total {
        out.extend_from_slice(
            format!(
                "id: {:07}\nevent: update\ndata: {}\n\n",
                i, "0123456789abcdefghijklmnopqrstuvwxyzABCD"
            )
            .as_bytes(),
        );
        i += 1;
    }
    out
}

fn long_line(len: usize) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    out.extend(std::iter::repeat_n(b'x', len));
    out.extend_from_slice(b"\n\n");
    out
}

/// Borrowed items (`next_item_ref`): no allocation per event.
fn pushwire(chunks: &[&[u8]]) -> usize {
    let mut p = EventParser::new();
    let mut n = 0;
    for c in chunks {
        p.feed(c);
        while let Ok(Some(item)) = p.next_item_ref() {
            if let ItemRef::Event { data, .. } = black_box(item) {
                n += data.len();
            }
        }
    }
    n
}

/// Owned items (`next_item`): the data `String` of each event is handed over.
fn pushwire_owned(chunks: &[&[u8]]) -> usize {
    let mut p = EventParser::new();
    let mut n = 0;
    for c in chunks {
        p.feed(c);
        while let Ok(Some(item)) = p.next_item() {
            if let Item::Event(e) = item {
                n += e.data.len();
                black_box(e);
            }
        }
    }
    n
}

fn sse_codec(chunks: &[&[u8]]) -> usize {
    let mut codec = sse_codec::SSECodec::default();
    let mut buf = bytes::BytesMut::new();
    let mut n = 0;
    for c in chunks {
        buf.extend_from_slice(c);
        while let Ok(Some(ev)) = codec.decode(&mut buf) {
            if let sse_codec::Event::Message { data, .. } = &ev {
                n += data.len();
            }
            black_box(ev);
        }
    }
    n
}

fn eventsource_stream(chunks: &[&[u8]]) -> usize {
    let owned: Vec<Result<Bytes, Infallible>> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = eventsource_stream::EventStream::new(futures::stream::iter(owned));
    futures::executor::block_on(stream.fold(0usize, |n, ev| async move {
        match ev {
            Ok(e) => n + black_box(e).data.len(),
            Err(_) => n,
        }
    }))
}

/// Does the command line's filter (criterion's positional argument) select `id`? Used
/// for the one-shot measurement that criterion's own filter cannot skip.
fn wanted(id: &str) -> bool {
    let mut filters = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .peekable();
    filters.peek().is_none() || filters.any(|f| id.contains(f.trim_end_matches('$')))
}

type Parser = fn(&[&[u8]]) -> usize;
const PARSERS: [(&str, Parser); 4] = [
    ("pushwire", pushwire),
    ("pushwire-owned", pushwire_owned),
    ("sse-codec", sse_codec),
    ("eventsource-stream", eventsource_stream),
];

fn bench_small(c: &mut Criterion) {
    let input = small_events(1 << 20);
    for chunk in [16 * 1024, 64] {
        let chunks: Vec<&[u8]> = input.chunks(chunk).collect();
        let mut g = c.benchmark_group(format!("small_events_{chunk}B_chunks"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        for (name, f) in PARSERS {
            assert!(f(&chunks) > 0, "{name} found no events");
            g.bench_with_input(BenchmarkId::from_parameter(name), &chunks, |b, ch| {
                b.iter(|| f(ch))
            });
        }
        g.finish();
    }
}

fn bench_long_line(c: &mut Criterion) {
    let input = long_line(1 << 20);
    let whole: Vec<&[u8]> = vec![&input];
    let small: Vec<&[u8]> = input.chunks(64).collect();
    let mut g = c.benchmark_group("line_1MiB");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    for (name, f) in PARSERS {
        assert_eq!(f(&whole), 1 << 20, "{name}");
        g.bench_with_input(BenchmarkId::new(name, "whole"), &whole, |b, ch| {
            b.iter(|| f(ch))
        });
        if name == "eventsource-stream" {
            if !wanted("line_1MiB/eventsource-stream/64B_chunks") {
                continue;
            }
            // Quadratic here (about 8 s per run): timed once instead of sampled, so the
            // benchmark stays short on a shared machine.
            let t = std::time::Instant::now();
            assert_eq!(black_box(f(&small)), 1 << 20);
            println!("line_1MiB/{name}/64B_chunks (one run): {:?}", t.elapsed());
            continue;
        }
        g.bench_with_input(BenchmarkId::new(name, "64B_chunks"), &small, |b, ch| {
            b.iter(|| f(ch))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_small, bench_long_line);
criterion_main!(benches);
