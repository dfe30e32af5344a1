//! Many tasks appending and waiting on one topic at once, on a multi-thread runtime.
//!
//! Each test is bounded: a lost wake-up or a deadlock shows up as a 10 s guard timeout,
//! never as a hang.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pushwire_poll::{Config, Cursor, Id, Topic};
use tokio::time::{Instant, timeout};

const GUARD: Duration = Duration::from_secs(10);

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Several appenders race; every waiter must see every id exactly once, in order, with no
/// gap and no `missed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appends_reach_every_waiter_without_gap_or_duplicate() {
    const APPENDERS: usize = 4;
    const PER_APPENDER: usize = 250;
    const WAITERS: usize = 100;
    const TOTAL: usize = APPENDERS * PER_APPENDER;
    let topic = Arc::new(Topic::new(&Config::default().with_history(TOTAL)));
    let start = topic.head();

    let mut waiters = Vec::new();
    for w in 0..WAITERS {
        let topic = topic.clone();
        waiters.push(tokio::spawn(async move {
            let mut cursor = Cursor::After(start);
            let mut got: Vec<(u64, Bytes)> = Vec::with_capacity(TOTAL);
            while got.len() < TOTAL {
                // Small batches on some waiters exercise paging by `next` too.
                let max = if w % 3 == 0 { 7 } else { 1024 };
                let batch = topic.wait_after(&cursor, max, far()).await;
                assert!(!batch.missed, "waiter {w} told it missed something");
                got.extend(batch.messages.iter().map(|m| (m.id.seq, m.data.clone())));
                cursor = Cursor::After(batch.next);
            }
            got
        }));
    }

    let mut appenders = Vec::new();
    for a in 0..APPENDERS {
        let topic = topic.clone();
        appenders.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(PER_APPENDER);
            for i in 0..PER_APPENDER {
                ids.push(topic.append(Bytes::from(format!("{a}:{i}"))));
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            ids
        }));
    }

    // Ids handed to appenders: dense 1..=TOTAL, each once, increasing per appender.
    let mut all_ids: Vec<Id> = Vec::new();
    for a in appenders {
        let ids = timeout(GUARD, a).await.expect("appender stuck").unwrap();
        assert!(ids.windows(2).all(|w| w[0].seq < w[1].seq));
        all_ids.extend(ids);
    }
    let mut seqs: Vec<u64> = all_ids.iter().map(|i| i.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=TOTAL as u64).collect::<Vec<_>>());

    let reference = topic.read_after(&Cursor::Oldest, TOTAL);
    assert_eq!(reference.messages.len(), TOTAL);
    for w in waiters {
        let got = timeout(GUARD, w)
            .await
            .expect("waiter stuck: lost wake-up?")
            .unwrap();
        let got_seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(got_seqs, (1..=TOTAL as u64).collect::<Vec<_>>());
        for ((_, data), m) in got.iter().zip(&reference.messages) {
            assert_eq!(data, &m.data);
        }
    }
    assert_eq!(topic.waiting(), 0);
}

/// One waiter, one append, many rounds, the append racing the waiter's check: a lost
/// wake-up would leave the waiter asleep until the guard fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_lost_wake_up_when_append_races_the_check() {
    let topic = Arc::new(Topic::new(&Config::default()));
    for round in 0..2000u64 {
        let cursor = Cursor::After(topic.head());
        let waiter = tokio::spawn({
            let topic = topic.clone();
            async move { topic.wait_after(&cursor, 10, far()).await }
        });
        // Vary the race: sometimes append at once, sometimes after a few yields.
        for _ in 0..(round % 4) {
            tokio::task::yield_now().await;
        }
        let id = topic.append(Bytes::from_static(b"x"));
        let batch = timeout(GUARD, waiter)
            .await
            .unwrap_or_else(|_| panic!("round {round}: waiter never woke"))
            .unwrap();
        assert_eq!(batch.messages.len(), 1, "round {round}");
        assert_eq!(batch.messages[0].id, id);
    }
}

/// Many waiters on one append: every one of them wakes with that message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_append_wakes_all_waiters() {
    const WAITERS: usize = 2000;
    let topic = Arc::new(Topic::new(&Config::default()));
    let mut handles = Vec::new();
    for _ in 0..WAITERS {
        let topic = topic.clone();
        handles.push(tokio::spawn(async move {
            topic.wait_after(&Cursor::Now, 10, far()).await
        }));
    }
    timeout(GUARD, async {
        while topic.waiting() < WAITERS {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("waiters never registered");
    let id = topic.append(Bytes::from_static(b"all"));
    for h in handles {
        let b = timeout(GUARD, h).await.expect("waiter not woken").unwrap();
        assert_eq!(b.messages.len(), 1);
        assert_eq!(b.messages[0].id, id);
    }
}

/// Cancelled waiters disappear; the remaining ones still wake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_waiters_leave_nothing_and_others_still_wake() {
    let topic = Arc::new(Topic::new(&Config::default()));
    let mut keep = Vec::new();
    let mut cancel = Vec::new();
    for i in 0..400 {
        let topic2 = topic.clone();
        let h = tokio::spawn(async move { topic2.wait_after(&Cursor::Now, 10, far()).await });
        if i % 2 == 0 {
            keep.push(h)
        } else {
            cancel.push(h)
        }
    }
    timeout(GUARD, async {
        while topic.waiting() < 400 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    for h in &cancel {
        h.abort();
    }
    for h in cancel {
        assert!(timeout(GUARD, h).await.unwrap().unwrap_err().is_cancelled());
    }
    assert_eq!(topic.waiting(), 200);
    topic.append(Bytes::from_static(b"x"));
    for h in keep {
        assert_eq!(timeout(GUARD, h).await.unwrap().unwrap().messages.len(), 1);
    }
    assert_eq!(topic.waiting(), 0);
    assert_eq!(
        Arc::strong_count(&topic),
        1,
        "a waiter still holds the topic"
    );
}

/// Bounds hold under concurrent appends: never more than `history` messages, and a reader
/// that falls behind is told `missed` and resumes at the oldest retained message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_hold_under_concurrent_appends_and_laggards_get_missed() {
    let cfg = Config::default().with_history(50).with_history_bytes(400);
    let topic = Arc::new(Topic::new(&cfg));
    let start = Cursor::After(topic.head());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500u32 {
                // 4 to 15 bytes.
                topic.append(Bytes::from(vec![b'a'; 4 + (i % 12) as usize]));
                let (len, bytes) = topic.with_log(|l| (l.len(), l.retained_bytes()));
                assert!(
                    len <= 50 && bytes <= 400,
                    "bounds broken: {len} msgs {bytes} B"
                );
            }
        }));
    }
    for t in tasks {
        timeout(GUARD, t).await.unwrap().unwrap();
    }
    assert_eq!(topic.head().seq, 2000);
    let b = topic.read_after(&start, 1000);
    assert!(b.missed);
    let first = b.messages.first().unwrap().id.seq;
    assert_eq!(b.next.seq, 2000);
    assert_eq!(
        b.messages.iter().map(|m| m.id.seq).collect::<Vec<_>>(),
        (first..=2000).collect::<Vec<_>>()
    );
    let unique: HashSet<u64> = b.messages.iter().map(|m| m.id.seq).collect();
    assert_eq!(unique.len(), b.messages.len());
}
