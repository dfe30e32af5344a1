//! Redis failures: restart with and without persistence, killed under publish load, and a
//! node started while Redis is down.

mod common;
use common::*;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Collects SSE events of `topic` from `start` until one whose data is `end`.
fn sse_until(
    addr: SocketAddr,
    topic: &str,
    start: String,
    end: &'static str,
) -> tokio::task::JoinHandle<Vec<(String, String)>> {
    let target = format!("/events?topic={topic}");
    tokio::spawn(async move {
        let mut sse = SseClient::open(addr, &target, &format!("Last-Event-ID: {start}\r\n")).await;
        let mut out = Vec::new();
        loop {
            let ev = sse
                .next()
                .await
                .unwrap_or_else(|| panic!("sse on {addr} ended"));
            let done = ev.data == end;
            out.push((ev.id.unwrap(), ev.data));
            if done {
                return out;
            }
        }
    })
}

/// Collects WebSocket text messages from `start` until `end`.
fn ws_until(
    addr: SocketAddr,
    topic: &str,
    start: String,
    end: &'static str,
) -> tokio::task::JoinHandle<Vec<(String, String)>> {
    let target = format!("/ws?topic={topic}&since={start}");
    tokio::spawn(async move {
        let mut ws = Ws::open(addr, &target).await;
        let mut out = Vec::new();
        loop {
            match ws.next_data().await {
                Some(Frame::Text(t)) => {
                    let done = t == end;
                    out.push((String::new(), t));
                    if done {
                        return out;
                    }
                }
                f => panic!("ws on {addr}: {f:?}"),
            }
        }
    })
}

async fn start_nodes(redis: &RedisServer, n: usize) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n)
        .map(|_| Node::start(&redis.url(), config(100_000)))
        .collect();
    for node in &nodes {
        eventually("node up", || async { redis_state(node.addr).await == "up" }).await;
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appendonly_restart_loses_nothing_and_every_node_receives_again() {
    let Some(mut redis) = redis(true) else { return };
    let nodes = start_nodes(&redis, 2).await;
    let (a, b) = (nodes[0].addr, nodes[1].addr);
    let (_, start, _) = batch(&get(a, "/poll?topic=t").await);
    let subs = vec![
        sse_until(a, "t", start.clone(), "end"),
        sse_until(b, "t", start.clone(), "end"),
        ws_until(b, "t", start.clone(), "end"),
    ];
    let mut sent = Vec::new();
    for i in 0..20 {
        let body = format!("m{i}");
        publish(if i % 2 == 0 { a } else { b }, "t", body.as_bytes()).await;
        sent.push(body);
    }
    redis.kill();
    let t0 = Instant::now();
    let r = post(a, "/publish?topic=t", b"lost").await;
    assert_eq!(r.status, 503, "never 200 for a message Redis did not store");
    assert!(r.header("retry-after").is_some());
    assert!(t0.elapsed() < Duration::from_secs(5));
    eventually("healthz says down", || async {
        redis_state(b).await == "down"
    })
    .await;

    redis.restart();
    let back = Instant::now();
    eventually("publishes work again", || async {
        post(b, "/publish?topic=t", b"after").await.status == 200
    })
    .await;
    sent.push("after".into());
    publish(a, "t", b"end").await;
    sent.push("end".into());
    for s in subs {
        let got = tokio::time::timeout(GUARD, s)
            .await
            .expect("subscriber stalled")
            .unwrap();
        let data: Vec<&String> = got.iter().map(|g| &g.1).collect();
        assert_eq!(
            data,
            sent.iter().collect::<Vec<_>>(),
            "nothing lost, nothing repeated"
        );
        for (i, (id, _)) in got.iter().enumerate().filter(|(_, g)| !g.0.is_empty()) {
            assert_eq!(seq(id), i as u64 + 1);
            assert_eq!(epoch(id), epoch(&start), "same epoch across the restart");
        }
    }
    eprintln!(
        "every node received again {:?} after redis came back",
        back.elapsed()
    );
    // Replay from the start on either node shows the same history.
    let (msgs, _, missed) = batch(&get(b, "/poll?topic=t&since=0").await);
    assert!(!missed);
    assert_eq!(msgs.len(), sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_without_persistence_starts_a_new_epoch_and_old_cursors_get_missed() {
    let Some(mut redis) = redis(false) else {
        return;
    };
    let nodes = start_nodes(&redis, 2).await;
    let (a, b) = (nodes[0].addr, nodes[1].addr);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(publish(a, "t", format!("old{i}").as_bytes()).await);
    }
    let old = ids[1].clone();
    let (_, start, _) = batch(&get(b, "/poll?topic=t").await);
    let mut live =
        SseClient::open(b, "/events?topic=t", &format!("Last-Event-ID: {start}\r\n")).await;

    redis.kill();
    redis.restart();
    let t0 = Instant::now();
    let id = loop {
        let r = post(a, "/publish?topic=t", b"new").await;
        if r.status == 200 {
            break r.json()["id"].as_str().unwrap().to_string();
        }
        assert!(t0.elapsed() < GUARD, "publishes never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(epoch(&id), epoch(&old), "a new epoch");
    assert_eq!(seq(&id), 1, "ids start again in the new epoch");
    for node in [a, b] {
        let (msgs, next, missed) = batch(&get(node, &format!("/poll?topic=t&since={old}")).await);
        assert!(
            missed,
            "an old cursor is told it missed messages, never silently skipped: {old} {id} {msgs:?} {next}"
        );
        assert_eq!(msgs, vec![(id.clone(), "new".to_string())]);
        assert_eq!(next, id);
        let (msgs, _, missed) = batch(&get(node, &format!("/poll?topic=t&since={id}")).await);
        assert!(msgs.is_empty() && !missed);
    }
    // The live subscriber of the old epoch is ended (not fed a silent jump); resuming with
    // its cursor starts over in the new epoch.
    assert!(
        tokio::time::timeout(GUARD, live.next())
            .await
            .expect("stream not ended")
            .is_none(),
        "old-epoch stream ends"
    );
    let mut again =
        SseClient::open(b, "/events?topic=t", &format!("Last-Event-ID: {old}\r\n")).await;
    let first = again.next().await.unwrap();
    assert_eq!(first.event, "missed", "SSE says so before the replay");
    assert_eq!(again.next().await.unwrap().id, Some(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_during_publish_load_every_200_arrives_once_and_no_503_appears() {
    let Some(mut redis) = redis(true) else { return };
    let nodes = start_nodes(&redis, 3).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let (_, start, _) = batch(&get(addrs[0], "/poll?topic=load").await);
    let mut subs = Vec::new();
    for &a in &addrs {
        subs.push(sse_until(a, "load", start.clone(), "end"));
        subs.push(ws_until(a, "load", start.clone(), "end"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Outcome {
        Stored,
        Refused,
        Unknown,
    }
    /// body -> (outcome, sent at, answered at)
    type Log = Arc<Mutex<HashMap<String, (Outcome, Instant, Instant)>>>;
    let log: Log = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..6 {
        let addr = addrs[w % 3];
        let (log, stop) = (log.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut c = Client::new(addr).await;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 2000 {
                let body = format!("w{w}-{i}");
                i += 1;
                let t0 = Instant::now();
                let outcome = match publish_on(&mut c, addr, "load", body.as_bytes()).await {
                    Some((200, _)) => Outcome::Stored,
                    Some((503, _)) => Outcome::Refused,
                    Some((s, _)) => panic!("status {s}"),
                    None => {
                        c = Client::new(addr).await;
                        Outcome::Unknown
                    }
                };
                if outcome == Outcome::Refused {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                log.lock()
                    .unwrap()
                    .insert(body, (outcome, t0, Instant::now()));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis.kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let restarting = Instant::now();
    redis.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    eventually("publish the end marker", || async {
        post(addrs[1], "/publish?topic=load", b"end").await.status == 200
    })
    .await;

    let log = log.lock().unwrap().clone();
    let stored: HashSet<&String> = log
        .iter()
        .filter(|(_, v)| v.0 == Outcome::Stored)
        .map(|(k, _)| k)
        .collect();
    let refused_while_down: HashSet<&String> = log
        .iter()
        .filter(|(_, v)| v.0 == Outcome::Refused && v.1 > killed && v.2 < restarting)
        .map(|(k, _)| k)
        .collect();
    assert!(
        stored.len() > 100,
        "load before and after: {}",
        stored.len()
    );
    assert!(
        !refused_while_down.is_empty(),
        "some publishes hit the outage"
    );
    for s in subs {
        let got = tokio::time::timeout(Duration::from_secs(20), s)
            .await
            .expect("subscriber stalled")
            .unwrap();
        let bodies: Vec<&String> = got.iter().map(|g| &g.1).collect();
        let unique: HashSet<&String> = bodies.iter().copied().collect();
        assert_eq!(unique.len(), bodies.len(), "no duplicate");
        for s in &stored {
            assert!(unique.contains(s), "acknowledged {s} never arrived");
        }
        for r in &refused_while_down {
            assert!(!unique.contains(r), "{r} got 503 but appeared");
        }
        for (i, (id, _)) in got.iter().enumerate().filter(|(_, g)| !g.0.is_empty()) {
            assert_eq!(seq(id), i as u64 + 1, "no gap");
        }
    }
    eprintln!(
        "{} stored, {} refused while down, {} in flight/unknown",
        stored.len(),
        refused_while_down.len(),
        log.len() - stored.len() - refused_while_down.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_started_with_redis_down_binds_answers_503_and_recovers() {
    if redis(false).is_none() {
        return;
    }
    let port = free_port();
    let mut redis = RedisServer::stopped(port, false);
    let node = Node::start(&redis.url(), config(64));
    // Bound and serving at once.
    assert_eq!(redis_state(node.addr).await, "down");
    let t0 = Instant::now();
    let r = post(node.addr, "/publish?topic=t", b"x").await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert!(t0.elapsed() < Duration::from_secs(5));
    redis.restart();
    eventually("node connects", || async {
        redis_state(node.addr).await == "up"
    })
    .await;
    let (_, start, _) = batch(&get(node.addr, "/poll?topic=t").await);
    let sub = sse_until(node.addr, "t", start, "hello");
    let id = publish(node.addr, "t", b"hello").await;
    let got = tokio::time::timeout(GUARD, sub).await.unwrap().unwrap();
    assert_eq!(got, vec![(id, "hello".to_string())]);
}
