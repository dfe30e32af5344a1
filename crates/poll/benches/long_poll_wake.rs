//! 10,000 long-poll waiters on one topic: wake-up latency of one append, and memory per
//! waiting request, measured with a counting global allocator.
//!
//! ```text
//! cargo bench -p pushwire-poll --bench long_poll_wake            # 10,000 waiters, 100 rounds
//! cargo bench -p pushwire-poll --bench long_poll_wake -- 2000 20 # waiters, rounds
//! ```
//!
//! Latency: each waiter is a task looping on `Topic::wait_after`, and stamps the time when
//! its call returns (with the batch in hand). A round waits until all waiters are parked,
//! takes `t0`, appends one message, and waits for the last waiter; the figure is
//! `last stamp - t0`. Reported as p50 / p99 / max over the rounds.
//!
//! Memory: live heap bytes (allocated minus freed) before and after 10,000 waiters are
//! parked, divided by 10,000, for three things separately: the topic side (what polling
//! a `wait_after` future registers, with the futures pre-allocated), the waiter future
//! itself, and a whole spawned waiting task.

// A global allocator has to implement the `unsafe` `GlobalAlloc` trait: the only unsafe
// code here, and it only forwards to the system allocator while counting.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushwire_poll::{Config, Cursor, Topic};
use tokio::sync::Notify;

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter update has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; numbers are ours.
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let waiters = nums.first().copied().unwrap_or(10_000);
    let rounds = nums.get(1).copied().unwrap_or(100);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(memory(waiters));
    rt.block_on(latency(waiters, rounds));
}

/// Memory per waiter, three ways.
async fn memory(n: usize) {
    let topic = Arc::new(Topic::new(&Config::default()));
    topic.append(Bytes::from_static(b"warm-up"));
    let cursor = Cursor::After(topic.head());

    // (1) and (2): futures boxed up front (their size), then polled once each (what
    // registering costs beyond the future itself: the topic side).
    let before_box = live();
    let mut futs: Vec<Pin<Box<dyn Future<Output = _> + Send>>> = Vec::with_capacity(n);
    let vec_bytes = live() - before_box;
    for _ in 0..n {
        let t = topic.clone();
        futs.push(Box::pin(
            async move { t.wait_after(&cursor, 100, far()).await },
        ));
    }
    let boxed = live() - before_box - vec_bytes;
    let before_poll = live();
    let mut cx = Context::from_waker(Waker::noop());
    for f in futs.iter_mut() {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    let registered = live() - before_poll;
    assert_eq!(topic.waiting(), n);
    drop(futs);
    assert_eq!(topic.waiting(), 0);

    // (3) A whole spawned task per waiting request, as a server holds it.
    let before_tasks = live();
    let mut handles = Vec::with_capacity(n);
    let handles_bytes = live() - before_tasks;
    for _ in 0..n {
        let t = topic.clone();
        handles.push(tokio::spawn(async move {
            t.wait_after(&cursor, 100, far()).await
        }));
    }
    while topic.waiting() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let tasks = live() - before_tasks - handles_bytes;
    for h in &handles {
        h.abort();
    }
    for h in handles {
        let _ = h.await;
    }

    let per = |b: i64| b as f64 / n as f64;
    println!("memory, {n} waiters on one topic (live heap bytes / waiter, counting allocator):");
    println!(
        "  topic side (registering a waiter):        {:>7.1} B",
        per(registered)
    );
    println!(
        "  wait_after future (boxed, incl. Arc):     {:>7.1} B",
        per(boxed)
    );
    println!(
        "  whole spawned waiting task:               {:>7.1} B",
        per(tasks)
    );
}

/// Wake-up latency of one append with `n` parked waiters.
async fn latency(n: usize, rounds: usize) {
    let topic = Arc::new(Topic::new(&Config::default()));
    let base = Instant::now();
    let last_ns = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let all_done = Arc::new(Notify::new());
    let start = topic.head();
    for _ in 0..n {
        let (topic, last_ns, done, all_done) = (
            topic.clone(),
            last_ns.clone(),
            done.clone(),
            all_done.clone(),
        );
        tokio::spawn(async move {
            let mut cursor = Cursor::After(start);
            loop {
                let batch = topic.wait_after(&cursor, 100, far()).await;
                let t = base.elapsed().as_nanos() as u64;
                last_ns.fetch_max(t, Ordering::Relaxed);
                cursor = Cursor::After(batch.next);
                if done.fetch_add(1, Ordering::AcqRel) + 1 == n {
                    all_done.notify_one();
                }
            }
        });
    }
    let mut samples = Vec::with_capacity(rounds);
    let warm_up = 5;
    for round in 0..rounds + warm_up {
        while topic.waiting() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        done.store(0, Ordering::Release);
        last_ns.store(0, Ordering::Relaxed);
        let t0 = base.elapsed().as_nanos() as u64;
        topic.append(Bytes::from_static(b"tick"));
        all_done.notified().await;
        let took = Duration::from_nanos(last_ns.load(Ordering::Relaxed).saturating_sub(t0));
        if round >= warm_up {
            samples.push(took);
        }
    }
    samples.sort();
    println!(
        "wake-up, {n} waiters, one append, {rounds} rounds, 2 worker threads: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
