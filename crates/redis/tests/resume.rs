//! A client moves to another node with its cursor and resumes exactly: after a clean
//! disconnect, after its node was killed abruptly, and over five reconnects in a row.

mod common;
use common::*;

use std::net::SocketAddr;

/// Reads `n` SSE events; returns `(id, data)` pairs.
async fn take(sse: &mut SseClient, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let ev = sse.next().await.expect("stream ended early");
        out.push((ev.id.unwrap(), ev.data));
    }
    out
}

async fn publish_n(addr: SocketAddr, from: usize, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in from..from + n {
        ids.push(publish(addr, "room", format!("m{i}").as_bytes()).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_resumes_exactly_on_another_node_even_after_a_crash() {
    let Some(redis) = redis(false) else { return };
    let mut a = Node::start(&redis.url(), config(1024));
    let b = Node::start(&redis.url(), config(1024));
    let c = Node::start(&redis.url(), config(1024));
    for n in [&a, &b, &c] {
        eventually("up", || async { redis_state(n.addr).await == "up" }).await;
    }
    let mut all = publish_n(c.addr, 0, 5).await;

    // On A from the start: read 3 of 5, leave, come back on B with the cursor.
    let mut sse = SseClient::open(a.addr, "/events?topic=room", "Last-Event-ID: 0\r\n").await;
    let got = take(&mut sse, 3).await;
    assert_eq!(
        got.iter().map(|g| &g.0).collect::<Vec<_>>(),
        all[..3].iter().collect::<Vec<_>>()
    );
    drop(sse);
    all.extend(publish_n(a.addr, 5, 2).await);
    let mut sse = SseClient::open(
        b.addr,
        "/events?topic=room",
        &format!("Last-Event-ID: {}\r\n", got[2].0),
    )
    .await;
    let got = take(&mut sse, 4).await;
    assert_eq!(
        got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        all[3..7].to_vec()
    );
    drop(sse);

    // Connected to A when A dies abruptly; resume on C with the last id seen.
    let mut ws_cursor = all[6].clone();
    let mut sse = SseClient::open(
        a.addr,
        "/events?topic=room",
        &format!("Last-Event-ID: {ws_cursor}\r\n"),
    )
    .await;
    all.extend(publish_n(b.addr, 7, 3).await);
    let got = take(&mut sse, 2).await;
    assert_eq!(
        got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
        all[7..9].to_vec()
    );
    ws_cursor = got[1].0.clone();
    a.kill();
    // The stream ends with the node (whatever was still in flight is read first; the client
    // keeps the cursor of the last message it handled).
    let mut rest = 0;
    while sse.next().await.is_some() {
        rest += 1;
        assert!(rest <= 1, "only the message published before the kill");
    }
    all.extend(publish_n(b.addr, 10, 2).await);
    let r = get(c.addr, &format!("/poll?topic=room&since={ws_cursor}")).await;
    let (msgs, next, missed) = batch(&r);
    assert!(!missed);
    assert_eq!(
        msgs.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
        all[9..].to_vec()
    );
    assert_eq!(next, *all.last().unwrap());

    // Five reconnects in a row, alternating B and C over WebSocket (`since`), with publishes
    // in between on both: every message exactly once, in order.
    let mut cursor = next;
    let mut seen: Vec<String> = Vec::new();
    let expected_start = all.len();
    for round in 0..5 {
        let node = if round % 2 == 0 { b.addr } else { c.addr };
        let other = if round % 2 == 0 { c.addr } else { b.addr };
        let base = all.len();
        all.extend(publish_n(other, base, 3).await);
        let mut ws = Ws::open(node, &format!("/ws?topic=room&since={cursor}")).await;
        for _ in 0..3 {
            match ws.next_data().await {
                Some(Frame::Text(t)) => seen.push(t),
                f => panic!("round {round}: {f:?}"),
            }
        }
        // The WebSocket carries payloads; the cursor is the id of the last one received.
        cursor = all[all.len() - 1].clone();
        drop(ws);
    }
    let expected: Vec<String> = (expected_start..all.len())
        .map(|i| format!("m{i}"))
        .collect();
    assert_eq!(seen, expected, "no duplicate, no gap over five reconnects");
    // And the SSE view of the same walk (ids checked), node after node.
    let mut cursor = all[expected_start - 1].clone();
    let mut ids = Vec::new();
    for round in 0..5 {
        let node = if round % 2 == 0 { c.addr } else { b.addr };
        let mut sse = SseClient::open(
            node,
            "/events?topic=room",
            &format!("Last-Event-ID: {cursor}\r\n"),
        )
        .await;
        let got = take(&mut sse, 3).await;
        cursor = got[2].0.clone();
        ids.extend(got.into_iter().map(|g| g.0));
    }
    assert_eq!(ids, all[expected_start..].to_vec());
}
