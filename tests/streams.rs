//! SSE and WebSocket end to end: cursor rules, text vs binary, fan-out to 1,000 mixed
//! subscribers, slow consumers, limits and graceful shutdown.

mod common;
use common::*;

use std::time::Duration;

#[tokio::test]
async fn sse_retry_first_then_live_and_replay_rules() {
    let srv = start(config()).await;
    let a = srv.addr;
    let id1 = publish(a, "s", b"before").await;
    // absent cursor: live only
    let mut live = SseClient::open(a, "/events?topic=s", "").await;
    assert_eq!(live.resp.status, 200);
    assert_eq!(live.resp.header("content-type"), Some("text/event-stream"));
    assert!(live.c.buf.is_empty() || live.c.buf.starts_with(b"retry:"));
    let id2 = publish(a, "s", b"line1\nline2").await;
    let ev = tokio::time::timeout(GUARD, live.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.retry, Some(2000), "retry: comes first");
    assert_eq!(
        ev,
        Sse {
            event: "message".into(),
            id: Some(id2.clone()),
            data: "line1\nline2".into()
        }
    );
    // Last-Event-ID header replays after it
    let mut r = SseClient::open(a, "/events?topic=s", &format!("Last-Event-ID: {id1}\r\n")).await;
    assert_eq!(r.next().await.unwrap().id, Some(id2.clone()));
    // lastEventId query, and since=0
    let mut r = SseClient::open(a, &format!("/events?topic=s&lastEventId={id1}"), "").await;
    assert_eq!(r.next().await.unwrap().id, Some(id2.clone()));
    let mut r = SseClient::open(a, "/events?topic=s&since=0", "").await;
    assert_eq!(r.next().await.unwrap().id, Some(id1.clone()));
    assert_eq!(r.next().await.unwrap().id, Some(id2.clone()));
    // another epoch: event: missed, then the replay from the oldest
    let mut r = SseClient::open(a, "/events?topic=s", "Last-Event-ID: other-7\r\n").await;
    let ev = r.next().await.unwrap();
    assert_eq!(ev.event, "missed");
    assert_eq!(ev.id, None);
    assert_eq!(r.next().await.unwrap().id, Some(id1));
    // binary over SSE: base64 under event: binary
    publish(a, "s", &[0xff, 0xfe]).await;
    let ev = live.next().await.unwrap();
    assert_eq!((ev.event.as_str(), ev.data.as_str()), ("binary", "//4="));
}

#[tokio::test]
async fn sse_keepalive_comment_is_sent() {
    let mut cfg = config();
    cfg.sse_keepalive = Duration::from_millis(50);
    let srv = start(cfg).await;
    let mut s = SseClient::open(srv.addr, "/events?topic=k", "").await;
    while !s.c.buf.windows(2).any(|w| w == b":\n") {
        assert!(s.c.fill().await);
    }
}

#[tokio::test]
async fn ws_cursor_rules_text_binary_and_publish() {
    let srv = start(config()).await;
    let a = srv.addr;
    let id1 = publish(a, "w", b"first").await;
    publish(a, "w", &[0, 159, 146, 150]).await;
    let mut ws = Ws::open(a, &format!("/ws?topic=w&since={id1}")).await;
    assert_eq!(
        ws.next_data().await,
        Some(Frame::Binary(vec![0, 159, 146, 150]))
    );
    let mut all = Ws::open(a, "/ws?topic=w&since=0").await;
    assert_eq!(all.next_data().await, Some(Frame::Text("first".into())));
    assert_eq!(
        all.next_data().await,
        Some(Frame::Binary(vec![0, 159, 146, 150]))
    );
    let mut missed = Ws::open(a, "/ws?topic=w&since=zz-3").await;
    assert_eq!(
        missed.next_data().await,
        Some(Frame::Text("{\"missed\":true}".into()))
    );
    assert_eq!(missed.next_data().await, Some(Frame::Text("first".into())));
    // a client message is published to the topic, for everyone (itself included)
    ws.send_text("from ws").await;
    assert_eq!(ws.next_data().await, Some(Frame::Text("from ws".into())));
    assert_eq!(all.next_data().await, Some(Frame::Text("from ws".into())));
    ws.send_frame(0x82, &[1, 2, 3]).await;
    assert_eq!(all.next_data().await, Some(Frame::Binary(vec![1, 2, 3])));
    let (m, _, _) = batch(&get(a, "/poll?topic=w&since=0").await);
    assert_eq!(m[2].1, "from ws");
    // ping is answered with pong
    ws.send_frame(0x89, b"hi").await;
    loop {
        match ws.next().await.unwrap() {
            Frame::Pong(p) => {
                assert_eq!(p, b"hi");
                break;
            }
            Frame::Binary(_) => {}
            f => panic!("{f:?}"),
        }
    }
    // client close is echoed
    ws.send_frame(0x88, &1000u16.to_be_bytes()).await;
    assert_eq!(ws.next_data().await, Some(Frame::Close(Some(1000))));
}

#[tokio::test]
async fn ws_message_over_1_mib_closes_1009_and_echo_takes_more() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut ws = Ws::open(a, "/ws?topic=big").await;
    ws.send_frame(0x82, &vec![7u8; 1024 * 1024 + 1]).await;
    assert_eq!(ws.next_data().await, Some(Frame::Close(Some(1009))));
    let (m, _, _) = batch(&get(a, "/poll?topic=big&since=0").await);
    assert!(m.is_empty());
    let mut echo = Ws::open(a, "/echo").await;
    let big = vec![b'x'; 2 * 1024 * 1024];
    echo.send_frame(0x81, &big).await;
    assert_eq!(
        echo.next_data().await,
        Some(Frame::Text(String::from_utf8(big).unwrap()))
    );
    echo.send_frame(0x82, &[9, 9]).await;
    assert_eq!(echo.next_data().await, Some(Frame::Binary(vec![9, 9])));
}

#[tokio::test]
async fn same_cursor_same_messages_on_every_transport() {
    let srv = start(config()).await;
    let a = srv.addr;
    let c0 = publish(a, "x", b"m1").await;
    let ids: Vec<String> = vec![publish(a, "x", b"m2").await, publish(a, "x", b"m3").await];
    let (poll, _, _) = batch(&get(a, &format!("/poll?topic=x&since={c0}")).await);
    let (lp, _, _) = batch(&get(a, &format!("/long-poll?topic=x&since={c0}")).await);
    let mut sse = SseClient::open(a, &format!("/events?topic=x&lastEventId={c0}"), "").await;
    let mut ws = Ws::open(a, &format!("/ws?topic=x&since={c0}")).await;
    let mut sse_ids = vec![];
    let mut ws_data = vec![];
    for _ in 0..2 {
        sse_ids.push(sse.next().await.unwrap().id.unwrap());
        match ws.next_data().await.unwrap() {
            Frame::Text(t) => ws_data.push(t),
            f => panic!("{f:?}"),
        }
    }
    assert_eq!(poll.iter().map(|m| m.0.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(lp.iter().map(|m| m.0.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(sse_ids, ids);
    assert_eq!(ws_data, ["m2", "m3"]);
}

#[tokio::test]
async fn fan_out_to_1000_mixed_subscribers_no_loss_in_order() {
    let srv = start(config()).await;
    let a = srv.addr;
    const N: usize = 1000;
    const MSGS: usize = 20;
    let mut tasks = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(N);
    for i in 0..N {
        let ready = ready_tx.clone();
        tasks.spawn(async move {
            let mut got = Vec::new();
            match i % 4 {
                0 => {
                    let mut s = SseClient::open(a, "/events?topic=fan", "").await;
                    ready.send(()).await.unwrap();
                    while got.len() < MSGS {
                        got.push(s.next().await.unwrap().data);
                    }
                }
                1 => {
                    let mut w = Ws::open(a, "/ws?topic=fan").await;
                    ready.send(()).await.unwrap();
                    while got.len() < MSGS {
                        match w.next_data().await.unwrap() {
                            Frame::Text(t) => got.push(t),
                            f => panic!("{f:?}"),
                        }
                    }
                }
                2 => {
                    // long poll loop from "now"
                    let (_, mut next, _) = batch(&get(a, "/poll?topic=fan").await);
                    ready.send(()).await.unwrap();
                    let mut c = Client::new(a).await;
                    while got.len() < MSGS {
                        c.send(format!("GET /long-poll?topic=fan&since={next}&timeout=20000 HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes()).await;
                        let (m, n, missed) = batch(&c.response().await);
                        assert!(!missed);
                        got.extend(m.into_iter().map(|x| x.1));
                        next = n;
                    }
                }
                _ => {
                    let (_, mut next, _) = batch(&get(a, "/poll?topic=fan").await);
                    ready.send(()).await.unwrap();
                    let mut c = Client::new(a).await;
                    while got.len() < MSGS {
                        c.send(format!("GET /poll?topic=fan&since={next} HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes()).await;
                        let (m, n, missed) = batch(&c.response().await);
                        assert!(!missed);
                        got.extend(m.into_iter().map(|x| x.1));
                        next = n;
                        if got.len() < MSGS {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            got
        });
    }
    for _ in 0..N {
        tokio::time::timeout(Duration::from_secs(30), ready_rx.recv())
            .await
            .unwrap();
    }
    let want: Vec<String> = (0..MSGS).map(|i| format!("msg-{i}")).collect();
    for m in &want {
        publish(a, "fan", m.as_bytes()).await;
    }
    let mut done = 0;
    while let Some(r) = tokio::time::timeout(Duration::from_secs(60), tasks.join_next())
        .await
        .unwrap()
    {
        assert_eq!(r.unwrap(), want);
        done += 1;
    }
    assert_eq!(done, N);
}

#[tokio::test]
async fn slow_consumer_is_cut_while_others_keep_receiving() {
    let mut cfg = config();
    cfg.outbound_queue_messages = 8;
    cfg.outbound_queue_bytes = 64 * 1024;
    let srv = start(cfg).await;
    let a = srv.addr;
    // Never reads: its socket buffers fill, then its hub queue, then it is cut.
    let mut slow_ws = Ws::open(a, "/ws?topic=slow").await;
    let slow_sse = SseClient::open(a, "/events?topic=slow", "").await;
    let mut fast = Ws::open(a, "/ws?topic=slow").await;
    let payload = vec![b'p'; 16 * 1024];
    let mut sent = 0usize;
    let mut received = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = format!("{sent:06}{}", String::from_utf8_lossy(&payload));
        publish(a, "slow", body.as_bytes()).await;
        sent += 1;
        match fast.next_data().await.unwrap() {
            Frame::Text(t) => assert!(t.starts_with(&format!("{received:06}"))),
            f => panic!("{f:?}"),
        }
        received += 1;
        let h = get(a, "/healthz").await.json();
        if h["slow_disconnects"].as_u64().unwrap() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow consumers never cut"
        );
    }
    // The slow WebSocket gets close 1008 after whatever was already buffered.
    let mut code = None;
    while let Some(f) = slow_ws.next().await {
        if let Frame::Close(c) = f {
            code = c;
            break;
        }
    }
    assert_eq!(code, Some(1008));
    let mut slow_sse = slow_sse;
    assert!(slow_sse.c.closed().await, "slow SSE stream ended");
    // and the fast one is still served
    publish(a, "slow", b"after").await;
    assert_eq!(fast.next_data().await, Some(Frame::Text("after".into())));
}

#[tokio::test]
async fn graceful_shutdown_closes_everything_politely() {
    let mut srv = start(config()).await;
    let a = srv.addr;
    let mut ws = Ws::open(a, "/ws?topic=g").await;
    let mut sse = SseClient::open(a, "/events?topic=g", "").await;
    let (_, next, _) = batch(&get(a, "/poll?topic=g").await);
    let lp = tokio::spawn(async move {
        get(a, &format!("/long-poll?topic=g&since={next}&timeout=60000")).await
    });
    let mut idle = Client::new(a).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    srv.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(ws.next_data().await, Some(Frame::Close(Some(1001))));
    // SSE: a randomised retry, then the end of the stream
    let first_retry = sse.retry;
    assert!(sse.next().await.is_none());
    let retry = sse.retry.unwrap();
    assert!(
        first_retry.is_none() || (1000..=4000).contains(&retry),
        "{retry}"
    );
    let r = tokio::time::timeout(GUARD, lp).await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["messages"].as_array().unwrap().is_empty());
    assert!(idle.closed().await);
    assert!(
        tokio::net::TcpStream::connect(a).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn over_max_connections_gets_503_and_others_still_served() {
    let mut cfg = config();
    cfg.max_connections = 3;
    let srv = start(cfg).await;
    let a = srv.addr;
    let mut held = vec![];
    for _ in 0..3 {
        let mut c = Client::new(a).await;
        c.send(format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
            .await;
        assert_eq!(c.response().await.status, 200);
        held.push(c);
    }
    let mut extra = Client::new(a).await;
    extra
        .send(format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
        .await;
    let r = extra.response().await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(extra.closed().await);
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = get(a, "/healthz").await;
    assert_eq!(r.status, 200);
    assert!(r.json()["rejected_connections"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn ws_keepalive_pings_and_drops_a_dead_peer() {
    let mut cfg = config();
    cfg.ws_ping_interval = Duration::from_millis(100);
    let srv = start(cfg).await;
    let mut ws = Ws::open(srv.addr, "/ws?topic=ka").await;
    // A silent peer is pinged...
    assert!(matches!(ws.next().await, Some(Frame::Ping(_))));
    // ...and, never answering, dropped.
    loop {
        match ws.next().await {
            None => break,
            Some(Frame::Ping(_)) => {}
            Some(f) => panic!("unexpected {f:?}"),
        }
    }
    // A peer that answers stays.
    let mut live = Ws::open(srv.addr, "/ws?topic=ka").await;
    for _ in 0..5 {
        match live.next().await.unwrap() {
            Frame::Ping(p) => live.send_frame(0x8A, &p).await,
            f => panic!("unexpected {f:?}"),
        }
    }
    publish(srv.addr, "ka", b"still here").await;
    assert_eq!(
        live.next_data().await,
        Some(Frame::Text("still here".into()))
    );
}

/// The cursor rules of DESIGN.md on each of the four transports, one table: absent, `0`,
/// a retained id, the id just before the oldest retained, an id older than the history,
/// another epoch, an id ahead of the log. Each rule gets a fresh topic holding m1..m5 with a
/// history of 3 (m3, m4, m5 retained).
#[tokio::test]
async fn every_cursor_rule_on_every_transport() {
    let mut cfg = config();
    cfg.history = 3;
    let srv = start(cfg).await;
    let a = srv.addr;
    let all = vec!["m3", "m4", "m5"];
    // (cursor from the topic's ids, expected data, expected missed)
    type Pick = fn(&[String], &str) -> Option<String>;
    let rules: Vec<(&str, Pick, Vec<&str>, bool)> = vec![
        ("absent", |_, _| None, vec![], false),
        ("0", |_, _| Some("0".into()), all.clone(), false),
        (
            "retained id",
            |ids, _| Some(ids[2].clone()),
            vec!["m4", "m5"],
            false,
        ),
        (
            "just before the oldest",
            |ids, _| Some(ids[1].clone()),
            all.clone(),
            false,
        ),
        (
            "older than the history",
            |ids, _| Some(ids[0].clone()),
            all.clone(),
            true,
        ),
        (
            "another epoch",
            |_, _| Some("other-9".into()),
            all.clone(),
            true,
        ),
        (
            "ahead of the log",
            |_, e| Some(format!("{e}-99")),
            all.clone(),
            true,
        ),
    ];
    for (n, (label, pick, want, want_missed)) in rules.into_iter().enumerate() {
        let topic = format!("cr{n}");
        let mut ids = vec![];
        for i in 1..=5 {
            ids.push(publish(a, &topic, format!("m{i}").as_bytes()).await);
        }
        let epoch = ids[0].rsplit_once('-').unwrap().0.to_string();
        let cursor = pick(&ids, &epoch);
        let q = cursor
            .as_ref()
            .map(|c| format!("&since={c}"))
            .unwrap_or_default();
        // short poll
        let (m, _, missed) = batch(&get(a, &format!("/poll?topic={topic}{q}")).await);
        assert_eq!(
            m.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            want,
            "poll {label}"
        );
        assert_eq!(missed, want_missed, "poll {label}");
        // long poll (a short timeout answers the "nothing yet" case)
        let (m, _, missed) =
            batch(&get(a, &format!("/long-poll?topic={topic}&timeout=50{q}")).await);
        assert_eq!(
            m.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            want,
            "long-poll {label}"
        );
        assert_eq!(missed, want_missed, "long-poll {label}");
        // SSE (Last-Event-ID header) and WebSocket (since): the replay, then a marker
        let lei = cursor
            .as_ref()
            .map(|c| format!("Last-Event-ID: {c}\r\n"))
            .unwrap_or_default();
        let mut sse = SseClient::open(a, &format!("/events?topic={topic}"), &lei).await;
        let mut ws = Ws::open(a, &format!("/ws?topic={topic}{q}")).await;
        let marker = publish(a, &topic, b"marker").await;
        let mut sse_got = vec![];
        let mut sse_missed = false;
        loop {
            let ev = sse.next().await.unwrap();
            if ev.event == "missed" {
                sse_missed = true;
            } else if ev.id.as_deref() == Some(marker.as_str()) {
                break;
            } else {
                sse_got.push(ev.data);
            }
        }
        assert_eq!(sse_got, want, "sse {label}");
        assert_eq!(sse_missed, want_missed, "sse {label}");
        let mut ws_got = vec![];
        let mut ws_missed = false;
        loop {
            match ws.next_data().await.unwrap() {
                Frame::Text(t) if t == "{\"missed\":true}" => ws_missed = true,
                Frame::Text(t) if t == "marker" => break,
                Frame::Text(t) => ws_got.push(t),
                f => panic!("{f:?}"),
            }
        }
        assert_eq!(ws_got, want, "ws {label}");
        assert_eq!(ws_missed, want_missed, "ws {label}");
    }
}

/// Ten pings arriving in one read each get their own pong, in order (Autobahn 2.10; RFC 6455
/// §5.5.3 would allow answering only the latest, but a peer counting pongs is not surprised).
#[tokio::test]
async fn echo_answers_every_ping_of_a_burst_in_order() {
    let srv = start(config()).await;
    let mut ws = Ws::open(srv.addr, "/echo").await;
    let mut burst = Vec::new();
    for i in 0..10u8 {
        burst.extend_from_slice(&masked_frame(0x89, &[b'p', i]));
    }
    burst.extend_from_slice(&masked_frame(0x81, b"after"));
    ws.c.send(&burst).await;
    for i in 0..10u8 {
        let f = tokio::time::timeout(GUARD, ws.next()).await.unwrap();
        assert_eq!(f, Some(Frame::Pong(vec![b'p', i])), "pong {i}");
    }
    let f = tokio::time::timeout(GUARD, ws.next()).await.unwrap();
    assert_eq!(f, Some(Frame::Text("after".into())));
}
