//! `pushwire-bench token`: the cost of pushwire-server's token check per request (issue 13:
//! under 2 µs), HS256 verification, claims parsing and the topic match, as the server's router
//! runs them for a subscriber ([`Verifier::verify`] then [`Grant::may_subscribe`]).
//!
//! One typical subscriber token (a subject, an expiry, three subscribe patterns and one
//! publish topic, about 200 bytes) is checked `iterations` times per batch on this thread;
//! the figure is the median over the batches of this thread's CPU time per check
//! (`/proc/thread-self/schedstat`, so other processes on a shared machine do not count).

use std::hint::black_box;

use pushwire_server::auth::{Grant, Verifier, sign_hs256};

use crate::broadcast::thread_cpu_ns;
use crate::{Error, stats};

/// The claims of the typical subscriber token measured.
pub const CLAIMS: &str = r#"{"sub":"user-42","exp":4000000000,"subscribe":["news","chat.*","alerts.eu.*"],"publish":["chat.room1"]}"#;

/// The token benchmark: `batches` batches of `iterations` checks.
#[derive(Debug, Clone)]
pub struct TokenBench {
    /// Checks per batch.
    pub iterations: usize,
    /// Batches (the median is reported).
    pub batches: usize,
}

impl Default for TokenBench {
    fn default() -> Self {
        TokenBench {
            iterations: 100_000,
            batches: 7,
        }
    }
}

/// What [`run`] measured.
#[derive(Debug, Clone)]
pub struct TokenResult {
    /// Nanoseconds per check, one sample per batch.
    pub ns_per_check: Vec<f64>,
    /// Length of the token, bytes.
    pub token_len: usize,
    /// Whether the figures are thread CPU time (else wall clock).
    pub cpu_clock: bool,
}

/// One request's check: verify, then the topic match the subscribe route makes.
fn check(v: &Verifier, token: &str) -> Result<bool, Error> {
    let g: Grant = v
        .verify(black_box(token), 1_900_000_000)
        .map_err(|e| format!("token refused: {e}"))?;
    Ok(g.may_subscribe(black_box("chat.room1")))
}

/// Runs [`TokenBench`] on this thread.
pub fn run(o: &TokenBench) -> Result<TokenResult, Error> {
    if o.iterations == 0 || o.batches == 0 {
        return Err("--iterations and batches must be at least 1".into());
    }
    let key = b"0123456789abcdef0123456789abcdef";
    let v = Verifier::new(key);
    let token = sign_hs256(key, CLAIMS);
    if !check(&v, &token)? {
        return Err("the token does not grant chat.room1".into());
    }
    // Warm-up: caches and the allocator.
    for _ in 0..o.iterations.min(10_000) {
        black_box(check(&v, &token)?);
    }
    let mut ns_per_check = Vec::with_capacity(o.batches);
    for _ in 0..o.batches {
        let cpu = thread_cpu_ns();
        let wall = std::time::Instant::now();
        for _ in 0..o.iterations {
            black_box(check(&v, &token)?);
        }
        let spent = match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => wall.elapsed().as_nanos() as u64,
        };
        ns_per_check.push(spent as f64 / o.iterations as f64);
    }
    Ok(TokenResult {
        ns_per_check,
        token_len: token.len(),
        cpu_clock: thread_cpu_ns().is_some(),
    })
}

/// The result as text: the median and every batch.
pub fn text(o: &TokenBench, r: &TokenResult) -> String {
    let samples: Vec<String> = r.ns_per_check.iter().map(|x| format!("{x:.0}")).collect();
    let median = stats::median(&r.ns_per_check);
    format!(
        "token check (HS256 verify + claims + topic match), {} B subscriber token: {:.0} ns per request \
         ({:.2} µs; goal under 2 µs), median of {} batches of {} ({}): {}\n",
        r.token_len,
        median,
        median / 1000.0,
        o.batches,
        o.iterations,
        if r.cpu_clock {
            "thread CPU time"
        } else {
            "wall time"
        },
        samples.join(", ")
    )
}

/// `pushwire-bench token [--iterations 100000] [--batches 7]`.
pub fn command(opts: &std::collections::HashMap<String, String>) -> Result<(), Error> {
    let o = TokenBench {
        iterations: crate::ab::opt(opts, "--iterations", 100_000)?,
        batches: crate::ab::opt(opts, "--batches", 7)?,
    };
    let r = run(&o)?;
    print!("{}", text(&o, &r));
    crate::ab::print_uptime();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bench_checks_a_granting_token_and_reports_each_batch() {
        let o = TokenBench {
            iterations: 100,
            batches: 3,
        };
        let r = run(&o).unwrap();
        assert_eq!(r.ns_per_check.len(), 3);
        assert!(r.ns_per_check.iter().all(|x| *x > 0.0));
        assert!(r.token_len > CLAIMS.len());
        assert!(text(&o, &r).contains("ns per request"));
    }
}
