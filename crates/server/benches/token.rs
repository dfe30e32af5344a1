//! Cost of the token check per request: HS256 verification, claims parsing and the topic
//! match, as `router::check_access` runs them.
//!
//! `CARGO_TARGET_DIR=/work/target-tls cargo bench -p pushwire-server --features auth --bench token -- --measurement-time 2 --warm-up-time 1`

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{Criterion, criterion_group, criterion_main};
use pushwire_server::auth::{Verifier, sign_hs256};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = b"0123456789abcdef0123456789abcdef";
    let v = Verifier::new(key);
    let token = sign_hs256(
        key,
        r#"{"sub":"user-42","exp":4000000000,"subscribe":["news","chat.*","alerts.eu.*"],"publish":["chat.room1"]}"#,
    );
    println!("token: {} bytes", token.len());
    c.bench_function("verify HS256 + claims + topic match", |b| {
        b.iter(|| {
            let g = v.verify(black_box(&token), 1_900_000_000).unwrap();
            black_box(g.may_subscribe(black_box("chat.room1")))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
