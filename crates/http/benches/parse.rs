//! Head parsing and chunked decoding throughput.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-http cargo bench -p pushwire-http --bench parse -- --measurement-time 2 --warm-up-time 1`
//! Each benchmark is reported twice: as bytes/s (criterion's MiB/s) and as heads/s or
//! bodies/s (elem/s).

// criterion_group!/criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, HeadParser, Limits, Status, encode_chunk, encode_last_chunk,
};

/// What Firefox sends for a same-origin `fetch` of a JSON endpoint (11 header fields).
const BROWSER_GET: &[u8] = b"GET /poll?topic=news&since=q7k2-42 HTTP/1.1\r\n\
Host: localhost:3000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: application/json, text/plain, */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://localhost:3000/\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef\r\n\
Sec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: cors\r\n\
Sec-Fetch-Site: same-origin\r\n\r\n";

/// What `pushwire-bench http` sends: one field.
const SHORT_GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n";

fn heads(c: &mut Criterion) {
    let limits = Limits::default();
    for (unit, tp) in [
        ("bytes", Throughput::Bytes(BROWSER_GET.len() as u64)),
        ("heads", Throughput::Elements(1)),
    ] {
        let mut g = c.benchmark_group(format!("head_parse_{unit}"));
        g.throughput(tp);
        g.bench_function("browser_get_whole", |b| {
            let mut p = HeadParser::new(&limits);
            b.iter(|| match p.parse_request(black_box(BROWSER_GET)) {
                Ok(Status::Complete((req, n))) => black_box((req, n)),
                other => panic!("{other:?}"),
            })
        });
        // The same head lent to a closure (`RequestRef`): no copy, no allocation.
        g.bench_function("browser_get_borrowed", |b| {
            let mut p = HeadParser::new(&limits);
            b.iter(|| {
                match p.parse_request_ref(black_box(BROWSER_GET), |r| {
                    (
                        r.path().len(),
                        r.keep_alive(),
                        r.header("host").map(<[u8]>::len),
                    )
                }) {
                    Ok(Status::Complete(r)) => black_box(r),
                    other => panic!("{other:?}"),
                }
            })
        });
        // A one-field GET (the load generator's), lent.
        g.bench_function("short_get_borrowed", |b| {
            let mut p = HeadParser::new(&limits);
            b.iter(
                || match p.parse_request_ref(black_box(SHORT_GET), |r| r.path().len()) {
                    Ok(Status::Complete(r)) => black_box(r),
                    other => panic!("{other:?}"),
                },
            )
        });
        // The same head arriving in 1-byte packets: the cost stays linear.
        g.bench_function("browser_get_bytewise", |b| {
            let mut p = HeadParser::new(&limits);
            b.iter(|| {
                for n in 1..BROWSER_GET.len() {
                    let _ = black_box(p.parse_request(&BROWSER_GET[..n]));
                }
                match p.parse_request(BROWSER_GET) {
                    Ok(Status::Complete(r)) => black_box(r),
                    other => panic!("{other:?}"),
                }
            })
        });
        // httparse alone, borrowing (no owned head): the floor we build on.
        g.bench_function("httparse_only", |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 16];
                let mut req = httparse::Request::new(&mut headers);
                black_box(req.parse(black_box(BROWSER_GET)).ok())
            })
        });
        g.finish();
    }
}

fn chunked(c: &mut Criterion) {
    let limits = Limits::default().with_max_body(u64::MAX);
    let body = vec![b'x'; 64 * 1024];
    for chunk_size in [16usize, 1024, 16 * 1024] {
        let mut wire = BytesMut::new();
        for piece in body.chunks(chunk_size) {
            encode_chunk(piece, &mut wire);
        }
        encode_last_chunk(&mut wire);
        let wire = wire.freeze();
        let mut g = c.benchmark_group(format!("chunked_decode_{chunk_size}b_chunks"));
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function("64KiB_body", |b| {
            b.iter(|| {
                let mut dec = BodyDecoder::new(BodyKind::Chunked, &limits);
                let mut buf = BytesMut::from(&wire[..]);
                let mut n = 0;
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Some(BodyChunk::Data(d))) => n += d.len(),
                        Ok(Some(BodyChunk::End)) => break,
                        other => panic!("{other:?}"),
                    }
                }
                black_box(n)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, heads, chunked);
criterion_main!(benches);
