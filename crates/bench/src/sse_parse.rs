//! `pushwire-bench sse-parse`: SSE parsing through pushwire-sse's `Stream` adapter
//! (`bridge::EventStream`) against eventsource-stream and sse-codec, in process.
//!
//! Every parser reads the same [`mixed_events`] byte stream as a `futures` `Stream` of
//! `&[u8]` chunks of one size (1, 7, 4096 bytes): pushwire's `EventStream` and
//! eventsource-stream's `EventStream` take the chunk stream directly, sse-codec's
//! `decode_stream` reads it through `TryStreamExt::into_async_read` (its `AsyncRead` input).
//! Each counts the events it dispatched and their data bytes; the counts must agree or the
//! run fails. Two more pushwire rows, without the adapter, split the adapter's per-chunk cost
//! from the parser's: `EventParser::feed` + `next_item` (the same owned items the adapter
//! yields) and `feed` + `next_item_ref` (borrowed, no allocation per event).
//!
//! Parsers alternate within a round (A B C ... A B C ...); each round runs every parser
//! enough times to take about `round_time` of this thread's CPU time (read from
//! `/proc/thread-self/schedstat`, so that other processes on a shared machine do not count;
//! the wall clock where it is missing). The table gives per parser the median MiB/s over
//! the rounds and, per round, pushwire's adapter / that parser (median, min–max).

use crate::broadcast::thread_cpu_ns;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use pushwire_sse::{EventParser, Item, ItemRef};

use crate::Error;
use crate::stats::median;

/// What a parser found: dispatched events and the sum of their data lengths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Events dispatched (blocks with data).
    pub events: u64,
    /// Bytes of event data (lines joined by LF, final LF removed).
    pub data_bytes: u64,
}

impl Count {
    fn add(&mut self, data: &str) {
        self.events += 1;
        self.data_bytes += data.len() as u64;
    }
}

/// One parser under test: a name and a function parsing `input` in `chunk`-byte chunks.
pub type Parser = (&'static str, fn(&[u8], usize) -> Count);

/// The parsers compared, pushwire's adapter first (the ratios are against it), and last the
/// [`FLOOR`] reference.
pub const PARSERS: [Parser; 6] = [
    ("pushwire EventStream (Stream adapter)", pushwire_stream),
    ("eventsource-stream 0.2", eventsource_stream),
    ("sse-codec 0.3 (decode_stream)", sse_codec),
    (
        "pushwire EventParser next_item (no adapter)",
        pushwire_parser_owned,
    ),
    (
        "pushwire EventParser next_item_ref (no adapter)",
        pushwire_parser_ref,
    ),
    (FLOOR, floor),
];

/// The reference row: no parsing, only the work any parser handing out owned text must do.
pub const FLOOR: &str = "floor: append chunks + one UTF-8 check (no parsing)";

/// Appends every chunk to one buffer and checks it is UTF-8, once: a lower bound on the
/// time of a parser that copies its input and yields `String`s (it finds no events).
pub fn floor(input: &[u8], chunk: usize) -> Count {
    let mut buf = Vec::with_capacity(input.len());
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(black_box(piece));
    }
    let len = String::from_utf8(buf).map_or(0, |s| black_box(s).len());
    Count {
        events: 0,
        data_bytes: len as u64,
    }
}

/// The peers among [`PARSERS`] (the target is against the best of them).
pub const PEERS: [&str; 2] = ["eventsource-stream 0.2", "sse-codec 0.3 (decode_stream)"];

/// About `total` bytes of mixed events, deterministic: ids, event types, multi-line data,
/// comments, `retry`, an unknown field, an id-only block (dispatches nothing), LF and CRLF
/// line ends, short lines (a few bytes) and long ones (1–4 KiB of data in one line).
pub fn mixed_events(total: usize) -> Vec<u8> {
    let mut out = String::with_capacity(total + 8192);
    // A small LCG (no `rand`): varied lengths, the same bytes on every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let text = "The quick brown fox jumps over the lazy dog; 0123456789 ÄÖÜ äöü € ";
    let slice = |len: usize| -> String { text.chars().cycle().take(len).collect() };
    let mut i = 0u64;
    while out.len() < total {
        // One long line every 32 blocks (about half the bytes), short blocks in between.
        let kind = if i % 32 == 4 { 8 } else { i % 8 };
        match kind {
            0 => {
                let _ = write!(out, "id: {i}\nevent: update\ndata: {}\n\n", slice(40));
            }
            1 => {
                let _ = write!(
                    out,
                    "data: first line {i}\ndata: {}\ndata:\ndata: last\n\n",
                    slice(10 + next(60) as usize)
                );
            }
            2 => {
                let _ = write!(out, ": keep-alive {i}\ndata: {}\n\n", slice(8));
            }
            3 => {
                let _ = write!(
                    out,
                    "event: tick\r\nid: t-{i}\r\ndata: {}\r\n\r\n",
                    slice(100 + next(300) as usize)
                );
            }
            8 => {
                // A long line: 1-4 KiB.
                let _ = write!(out, "data: {}\n\n", slice(1024 + next(3072) as usize));
            }
            5 => {
                let _ = write!(out, "retry: 3000\nfoo: ignored\ndata:x{i}\n\n");
            }
            6 => {
                // An id-only block: no event (no data), the last event id changes.
                let _ = write!(out, "id: only-{i}\n\n");
            }
            _ => {
                let _ = write!(out, ":\ndata: {i}\n\n");
            }
        }
        i += 1;
    }
    out.into_bytes()
}

fn chunk_stream(
    input: &[u8],
    chunk: usize,
) -> impl futures::Stream<Item = Result<&[u8], Infallible>> + '_ {
    futures::stream::iter(input.chunks(chunk).map(Ok))
}

/// pushwire-sse's `bridge::EventStream` over the chunk stream (owned [`Item`]s).
pub fn pushwire_stream(input: &[u8], chunk: usize) -> Count {
    let mut events = pushwire_sse::bridge::EventStream::new(chunk_stream(input, chunk));
    futures::executor::block_on(async {
        let mut c = Count::default();
        while let Some(item) = events.next().await {
            if let Ok(Item::Event(ev)) = item {
                c.add(&black_box(ev).data);
            }
        }
        c
    })
}

/// eventsource-stream's `EventStream` over the chunk stream.
pub fn eventsource_stream(input: &[u8], chunk: usize) -> Count {
    let mut events = eventsource_stream::EventStream::new(chunk_stream(input, chunk));
    futures::executor::block_on(async {
        let mut c = Count::default();
        while let Some(ev) = events.next().await {
            if let Ok(ev) = ev {
                c.add(&black_box(ev).data);
            }
        }
        c
    })
}

/// sse-codec's `decode_stream` (a `FramedRead`) over the chunk stream as an `AsyncRead`.
pub fn sse_codec(input: &[u8], chunk: usize) -> Count {
    let reader =
        futures::stream::iter(input.chunks(chunk).map(Ok::<_, std::io::Error>)).into_async_read();
    let mut events = sse_codec::decode_stream(reader);
    futures::executor::block_on(async {
        let mut c = Count::default();
        while let Some(ev) = events.next().await {
            if let Ok(sse_codec::Event::Message { data, .. }) = ev {
                c.add(&black_box(data));
            }
        }
        c
    })
}

/// pushwire's `EventParser` fed chunk by chunk, owned items: the adapter's work without the
/// adapter.
pub fn pushwire_parser_owned(input: &[u8], chunk: usize) -> Count {
    let mut p = EventParser::new();
    let mut c = Count::default();
    for piece in input.chunks(chunk) {
        p.feed(piece);
        while let Ok(Some(item)) = p.next_item() {
            if let Item::Event(ev) = item {
                c.add(&black_box(ev).data);
            }
        }
    }
    c
}

/// pushwire's `EventParser` fed chunk by chunk, borrowed items (no allocation per event).
pub fn pushwire_parser_ref(input: &[u8], chunk: usize) -> Count {
    let mut p = EventParser::new();
    let mut c = Count::default();
    for piece in input.chunks(chunk) {
        p.feed(piece);
        while let Ok(Some(item)) = p.next_item_ref() {
            if let ItemRef::Event { data, .. } = black_box(item) {
                c.add(data);
            }
        }
    }
    c
}

/// Options of the run.
#[derive(Debug, Clone)]
pub struct SseParse {
    /// Input size in bytes (1 MiB).
    pub size: usize,
    /// Chunk sizes (1, 7, 4096).
    pub chunks: Vec<usize>,
    /// Rounds (5).
    pub rounds: usize,
    /// Time each parser gets per round (200 ms); a parser slower than that runs once.
    pub round_time: Duration,
}

impl Default for SseParse {
    fn default() -> Self {
        SseParse {
            size: 1 << 20,
            chunks: vec![1, 7, 4096],
            rounds: 5,
            round_time: Duration::from_millis(200),
        }
    }
}

/// The measurements of one chunk size.
#[derive(Debug, Clone)]
pub struct ChunkResult {
    /// Chunk size in bytes.
    pub chunk: usize,
    /// What every parser counted (they agree).
    pub count: Count,
    /// Per parser (in [`PARSERS`] order): MiB/s of each round.
    pub rates: Vec<Vec<f64>>,
}

/// Runs every parser on `input` at every chunk size; fails if the counts disagree.
pub fn run(o: &SseParse, input: &[u8]) -> Result<Vec<ChunkResult>, Error> {
    let mib = input.len() as f64 / (1u64 << 20) as f64;
    let mut out = Vec::new();
    for &chunk in &o.chunks {
        if chunk == 0 {
            return Err("chunk size 0".into());
        }
        // One run each: the counts, and how many runs fill a round.
        let mut reps = Vec::new();
        let mut count = None;
        for (name, f) in PARSERS {
            let t = Clock::start();
            let c = f(input, chunk);
            let once = t.elapsed().max(Duration::from_micros(1));
            match count {
                _ if name == FLOOR => {}
                None => count = Some(c),
                Some(first) if first != c => {
                    return Err(format!(
                        "{chunk}-byte chunks: {name} counted {c:?}, {} counted {first:?}",
                        PARSERS[0].0
                    )
                    .into());
                }
                Some(_) => {}
            }
            let n = (o.round_time.as_secs_f64() / once.as_secs_f64()).ceil() as usize;
            reps.push(n.clamp(1, 10_000));
        }
        let count = count.unwrap_or_default();
        if count.events == 0 {
            return Err("the input holds no event".into());
        }
        let mut rates = vec![Vec::new(); PARSERS.len()];
        for round in 0..o.rounds {
            for (k, (name, f)) in PARSERS.iter().enumerate() {
                let t = Clock::start();
                for _ in 0..reps[k] {
                    black_box(f(black_box(input), chunk));
                }
                let rate = mib * reps[k] as f64 / t.elapsed().as_secs_f64();
                eprintln!(
                    "  {chunk:>4} B chunks, round {}/{}: {name:<48} {rate:>9.1} MiB/s",
                    round + 1,
                    o.rounds
                );
                rates[k].push(rate);
            }
        }
        out.push(ChunkResult {
            chunk,
            count,
            rates,
        });
    }
    Ok(out)
}

/// This thread's CPU time (`/proc/thread-self/schedstat`, ns), or the wall clock where that
/// is missing: on a shared machine the thread may get a fraction of a core, and the wall
/// clock would count the time other processes ran.
struct Clock {
    cpu: Option<u64>,
    wall: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            cpu: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => Duration::from_nanos(b - a),
            _ => self.wall.elapsed(),
        }
    }
}

/// Whether the figures are CPU time (else wall clock).
pub fn cpu_clock() -> bool {
    thread_cpu_ns().is_some()
}

fn ratio_text(ours: &[f64], theirs: &[f64]) -> String {
    let r: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| o / t).collect();
    if r.is_empty() {
        return "-".into();
    }
    let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.1} ({:.1}–{:.1})", median(&r), lo, hi)
}

/// The Markdown table: per chunk size and parser, the median MiB/s and the ratio of
/// pushwire's adapter to it; then per chunk size the ratio to the best peer.
pub fn markdown(o: &SseParse, input_len: usize, results: &[ChunkResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} bytes of mixed events, {} rounds; MiB/s ({}) median over the rounds; \
         ratio = pushwire EventStream / parser, median (min–max) of the per-round ratios.\n",
        input_len,
        o.rounds,
        if cpu_clock() {
            "per second of this thread's CPU time"
        } else {
            "per second of wall-clock time"
        },
    );
    let _ = writeln!(
        s,
        "| chunk | parser | events | MiB/s | pushwire EventStream / parser |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|");
    for r in results {
        let ours = &r.rates[0];
        for (k, (name, _)) in PARSERS.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} B | {} | {} | {:.1} | {} |",
                r.chunk,
                name,
                if *name == FLOOR {
                    "-".to_string()
                } else {
                    r.count.events.to_string()
                },
                median(&r.rates[k]),
                if k == 0 {
                    "1".into()
                } else {
                    ratio_text(ours, &r.rates[k])
                },
            );
        }
    }
    let _ = writeln!(
        s,
        "\n| chunk | best peer | pushwire EventStream / best peer | floor / best peer (the most any parser could reach) | target |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---|");
    for r in results {
        let best = PARSERS
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| PEERS.contains(n))
            .max_by(|a, b| median(&r.rates[a.0]).total_cmp(&median(&r.rates[b.0])));
        if let Some((k, (name, _))) = best {
            let _ = writeln!(
                s,
                "| {} B | {} | {} | {} | ≥ 10× |",
                r.chunk,
                name,
                ratio_text(&r.rates[0], &r.rates[k]),
                ratio_text(&r.rates[PARSERS.len() - 1], &r.rates[k]),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parser_counts_the_same_events_at_every_chunk_size() {
        let input = mixed_events(64 << 10);
        let expected = pushwire_parser_ref(&input, input.len());
        assert!(expected.events > 100, "{expected:?}");
        for chunk in [1, 2, 3, 7, 64, 4096, input.len()] {
            for (name, f) in PARSERS {
                if name == FLOOR {
                    assert_eq!(f(&input, chunk).data_bytes, input.len() as u64);
                    continue;
                }
                assert_eq!(f(&input, chunk), expected, "{name} at {chunk}-byte chunks");
            }
        }
    }

    #[test]
    fn mixed_events_has_every_field_kind_and_both_line_ends() {
        let input = mixed_events(64 << 10);
        let text = std::str::from_utf8(&input).unwrap();
        for needle in [
            "\nid: ",
            "event: ",
            "\ndata:\n",
            ": keep",
            "retry: ",
            "foo: ",
            "\r\n\r\n",
        ] {
            assert!(text.contains(needle), "{needle:?}");
        }
        let longest = text.lines().map(str::len).max().unwrap();
        assert!(longest > 1024, "{longest}");
        assert!(input.len() >= 64 << 10);
    }

    #[test]
    fn run_measures_every_parser_and_the_table_names_them() {
        let o = SseParse {
            size: 16 << 10,
            chunks: vec![7, 4096],
            rounds: 2,
            round_time: Duration::from_millis(1),
        };
        let input = mixed_events(o.size);
        let res = run(&o, &input).unwrap();
        assert_eq!(res.len(), 2);
        for r in &res {
            assert_eq!(r.rates.len(), PARSERS.len());
            assert!(r.rates.iter().all(|v| v.len() == 2 && v[0] > 0.0));
        }
        let md = markdown(&o, input.len(), &res);
        for (name, _) in PARSERS {
            assert!(md.contains(name), "{name}");
        }
    }
}
