//! 10,000 messages published concurrently round-robin on three nodes arrive at every
//! subscriber (WebSocket, SSE, long poll, short poll) on every node in one identical order,
//! with no gap and no duplicate.

mod common;
use common::*;

use std::collections::HashSet;
use std::net::SocketAddr;

const N: usize = 10_000;
const WORKERS_PER_NODE: usize = 4;

async fn ws_collect(addr: SocketAddr, start: String) -> Vec<(String, String)> {
    // The WebSocket carries no ids: the order of payloads is compared instead.
    let mut ws = Ws::open(addr, &format!("/ws?topic=load&since={start}")).await;
    let mut out = Vec::with_capacity(N);
    while out.len() < N {
        match ws.next_data().await {
            Some(Frame::Text(t)) => out.push((String::new(), t)),
            other => panic!("ws on {addr}: {other:?} after {}", out.len()),
        }
    }
    out
}

async fn sse_collect(addr: SocketAddr, start: String) -> Vec<(String, String)> {
    let mut sse = SseClient::open(
        addr,
        "/events?topic=load",
        &format!("Last-Event-ID: {start}\r\n"),
    )
    .await;
    let mut out = Vec::with_capacity(N);
    while out.len() < N {
        let ev = sse
            .next()
            .await
            .unwrap_or_else(|| panic!("sse on {addr} ended"));
        out.push((ev.id.unwrap(), ev.data));
    }
    out
}

async fn poll_collect(addr: SocketAddr, start: String, long: bool) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(N);
    let mut next = start;
    let mut c = Client::new(addr).await;
    while out.len() < N {
        let target = if long {
            format!("/long-poll?topic=load&since={next}&timeout=5000")
        } else {
            format!("/poll?topic=load&since={next}")
        };
        c.send(format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await;
        let (msgs, n, missed) = batch(&c.response().await);
        assert!(!missed, "poll on {addr} missed messages");
        if msgs.is_empty() && !long {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        out.extend(msgs);
        next = n;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_publishes_arrive_everywhere_in_one_order() {
    let Some(redis) = redis(false) else { return };
    let nodes: Vec<Node> = (0..3)
        .map(|_| Node::start(&redis.url(), config(N + 10)))
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    for &a in &addrs {
        eventually("node up", || async move { redis_state(a).await == "up" }).await;
    }
    let (_, start, _) = batch(&get(addrs[0], "/poll?topic=load").await);

    let mut subs = Vec::new();
    for &a in &addrs {
        subs.push(("ws", tokio::spawn(ws_collect(a, start.clone()))));
        subs.push(("sse", tokio::spawn(sse_collect(a, start.clone()))));
        subs.push((
            "long-poll",
            tokio::spawn(poll_collect(a, start.clone(), true)),
        ));
        subs.push(("poll", tokio::spawn(poll_collect(a, start.clone(), false))));
    }
    // Let the streaming subscriptions land (they replay from `start` anyway).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let t0 = std::time::Instant::now();
    let workers = addrs.len() * WORKERS_PER_NODE;
    let mut pubs = Vec::new();
    for w in 0..workers {
        let addr = addrs[w % addrs.len()];
        pubs.push(tokio::spawn(async move {
            let mut c = Client::new(addr).await;
            let mut ids = Vec::new();
            for i in (w..N).step_by(workers) {
                let body = format!("m{i}");
                let (status, id) = publish_on(&mut c, addr, "load", body.as_bytes())
                    .await
                    .unwrap();
                assert_eq!(status, 200);
                ids.push((id, body));
            }
            ids
        }));
    }
    let mut published = Vec::new();
    for p in pubs {
        published.extend(p.await.unwrap());
    }
    let publish_secs = t0.elapsed().as_secs_f64();
    published.sort_by_key(|(id, _)| seq(id));
    let e = epoch(&start);
    for (i, (id, _)) in published.iter().enumerate() {
        assert_eq!(id, &format!("{e}-{}", i + 1), "ids are dense and unique");
    }
    let expected_ids: Vec<&str> = published.iter().map(|(id, _)| id.as_str()).collect();
    let expected_data: Vec<&str> = published.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(expected_data.iter().collect::<HashSet<_>>().len(), N);

    for (what, s) in subs {
        let got = tokio::time::timeout(std::time::Duration::from_secs(60), s)
            .await
            .unwrap_or_else(|_| panic!("{what} subscriber did not get everything"))
            .unwrap();
        let data: Vec<&str> = got.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(
            data, expected_data,
            "{what}: one order, no gap, no duplicate"
        );
        if what != "ws" {
            let ids: Vec<&str> = got.iter().map(|(i, _)| i.as_str()).collect();
            assert_eq!(ids, expected_ids, "{what}");
        }
    }
    // Round trips to Redis per publish, from Redis' own counters (scripts' inner commands
    // are counted separately as xadd/publish/...; evalsha + eval are the client's calls).
    if let Ok(out) = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "info", "commandstats"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        let calls = |name: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(&format!("cmdstat_{name}:calls=")))
                .and_then(|l| l.split(['=', ',']).nth(1))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let scripts = calls("evalsha") + calls("eval");
        eprintln!(
            "redis script calls: {scripts} for {N} publishes ({:.2} per publish, catch-ups included)",
            scripts as f64 / N as f64
        );
    }
    eprintln!(
        "{N} publishes over {} keep-alive connections on 3 nodes: {publish_secs:.1} s ({:.0}/s), \
         delivered to 12 subscribers in {:.1} s",
        workers,
        N as f64 / publish_secs,
        t0.elapsed().as_secs_f64()
    );
}
