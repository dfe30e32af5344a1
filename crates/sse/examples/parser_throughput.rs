//! Parser throughput on the benchmark's inputs, one parser per process, so that the CPU time
//! the process used can be measured with `perf stat -e task-clock` on a busy machine where
//! criterion's wall-clock figures mostly measure the scheduler.
//!
//! ```text
//! cargo build --release -p pushwire-sse --example parser_throughput
//! perf stat -e task-clock target/release/examples/parser_throughput PARSER CHUNK [line]
//! ```
//!
//! `PARSER`: `pushwire` (borrowed items), `pushwire-owned`, `sse-codec` or
//! `eventsource-stream`; `CHUNK`: feed size
//! in bytes (`0`: whole input); `line`: one 1 MiB data line instead of 1 MiB of small events.
//! Parses the input 200 times (`ROUNDS=n` to change): MiB/s = rounds / task-clock seconds.

use std::hint::black_box;

use futures_codec::Decoder;
use pushwire_sse::{EventParser, ItemRef};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(parser), Some(chunk)) = (args.next(), args.next()) else {
        eprintln!(
            "usage: parser_throughput pushwire|pushwire-owned|sse-codec|eventsource-stream CHUNK [line]"
        );
        std::process::exit(2);
    };
    let chunk: usize = chunk.parse().unwrap_or(0);
    let mut input = Vec::new();
    if args.next().as_deref() == Some("line") {
        input.extend_from_slice(b"data: ");
        input.extend(std::iter::repeat_n(b'x', 1 << 20));
        input.extend_from_slice(b"\n\n");
    } else {
        let mut i = 0u64;
        while input.len() < (1 << 20) {
            let ev = format!(
                "id: {i:07}\nevent: update\ndata: 0123456789abcdefghijklmnopqrstuvwxyzABCD\n\n"
            );
            input.extend_from_slice(ev.as_bytes());
            i += 1;
        }
    }
    let chunk = if chunk == 0 { input.len() } else { chunk };
    let mut events = 0usize;
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    for _ in 0..rounds {
        match parser.as_str() {
            "pushwire" => {
                let mut p = EventParser::new();
                for c in input.chunks(chunk) {
                    p.feed(c);
                    while let Ok(Some(item)) = p.next_item_ref() {
                        if let ItemRef::Event { .. } = black_box(item) {
                            events += 1;
                        }
                    }
                }
            }
            "pushwire-owned" => {
                let mut p = EventParser::new();
                for c in input.chunks(chunk) {
                    p.feed(c);
                    while let Ok(Some(item)) = p.next_item() {
                        black_box(item);
                        events += 1;
                    }
                }
            }
            "eventsource-stream" => {
                let owned: Vec<Result<bytes::Bytes, std::convert::Infallible>> = input
                    .chunks(chunk)
                    .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                    .collect();
                let stream = eventsource_stream::EventStream::new(futures::stream::iter(owned));
                events += futures::executor::block_on(futures::StreamExt::count(stream));
            }
            _ => {
                let mut codec = sse_codec::SSECodec::default();
                let mut buf = bytes::BytesMut::new();
                for c in input.chunks(chunk) {
                    buf.extend_from_slice(c);
                    while let Ok(Some(ev)) = codec.decode(&mut buf) {
                        black_box(ev);
                        events += 1;
                    }
                }
            }
        }
    }
    println!("{events} events");
}
