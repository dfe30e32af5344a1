//! Three nodes on one Redis: a publish on one reaches every transport on the others.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_on_a_reaches_ws_sse_long_poll_and_short_poll_on_b_and_c() {
    let Some(redis) = redis(false) else { return };
    let nodes: Vec<Node> = (0..3)
        .map(|_| Node::start(&redis.url(), config(1024)))
        .collect();
    let (a, others) = (nodes[0].addr, [nodes[1].addr, nodes[2].addr]);
    for n in &nodes {
        eventually("node subscribed to redis", || async {
            redis_state(n.addr).await == "up"
        })
        .await;
        let h = get(n.addr, "/healthz").await.json();
        assert_eq!(h["hub"], "redis");
        assert!(h["connections"].is_object());
    }

    // Each subscriber starts from the cursor of the empty topic (read on its own node), so
    // none can miss the publish however late its subscription lands.
    let mut subs = Vec::new();
    for &b in &others {
        let (_, start, missed) = batch(&get(b, "/poll?topic=news").await);
        assert!(!missed && start.ends_with("-0"), "{start}");
        let ws = Ws::open(b, &format!("/ws?topic=news&since={start}")).await;
        let sse = SseClient::open(
            b,
            "/events?topic=news",
            &format!("Last-Event-ID: {start}\r\n"),
        )
        .await;
        assert_eq!(sse.resp.status, 200);
        let lp = tokio::spawn({
            let start = start.clone();
            async move {
                get(
                    b,
                    &format!("/long-poll?topic=news&since={start}&timeout=9000"),
                )
                .await
            }
        });
        subs.push((b, start, ws, sse, lp));
    }

    let id = publish(a, "news", b"hello from A").await;
    let bin = {
        let r = post(a, "/publish?topic=news", &[0xff, 0x00, 0x80]).await;
        assert_eq!(r.status, 200);
        r.json()["id"].as_str().unwrap().to_string()
    };
    assert_eq!(epoch(&id), epoch(&bin));
    assert_eq!(seq(&bin), seq(&id) + 1);

    for (b, start, mut ws, mut sse, lp) in subs {
        assert_eq!(
            epoch(&start),
            epoch(&id),
            "the epoch is the topic's, on every node"
        );
        assert_eq!(
            ws.next_data().await,
            Some(Frame::Text("hello from A".into())),
            "ws on {b}"
        );
        assert_eq!(
            ws.next_data().await,
            Some(Frame::Binary(vec![0xff, 0x00, 0x80])),
            "ws on {b}"
        );
        let ev = sse.next().await.unwrap();
        assert_eq!(
            (ev.id.as_deref(), ev.data.as_str()),
            (Some(id.as_str()), "hello from A")
        );
        assert_eq!(sse.next().await.unwrap().id.as_deref(), Some(bin.as_str()));
        let (msgs, next, missed) = batch(&lp.await.unwrap());
        assert!(!missed);
        assert_eq!(
            msgs[0],
            (id.clone(), "hello from A".to_string()),
            "long poll on {b}"
        );
        assert!(next == id || next == bin);
        let r = get(b, &format!("/poll?topic=news&since={start}")).await;
        let v = r.json();
        assert_eq!(v["messages"][0]["id"], id.as_str());
        assert_eq!(v["messages"][0]["data"], "hello from A");
        assert_eq!(v["messages"][1]["id"], bin.as_str());
        assert_eq!(v["messages"][1]["encoding"], "base64");
        assert_eq!(v["messages"][1]["data"], "/wCA");
        assert_eq!(v["next"], bin.as_str());
    }
    // A WebSocket publish on C (binary frame of valid UTF-8) stays binary on B.
    let (_, start, _) = batch(&get(others[0], "/poll?topic=news").await);
    let mut wb = Ws::open(others[0], &format!("/ws?topic=news&since={start}")).await;
    let mut wc = Ws::open(others[1], "/ws?topic=news").await;
    wc.send_frame(0x82, b"utf8 but binary").await;
    assert_eq!(
        wb.next_data().await,
        Some(Frame::Binary(b"utf8 but binary".to_vec()))
    );
    let r = get(others[0], &format!("/poll?topic=news&since={start}"))
        .await
        .json();
    assert_eq!(r["messages"][0]["encoding"], "base64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_memory_without_redis() {
    // No Redis involved at all: the default hub.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let t = tokio::spawn(
        pushwire_server::Server::new(config(16)).run(listener, async move {
            let _ = rx.await;
        }),
    );
    let h = get(addr, "/healthz").await.json();
    assert_eq!(h["hub"], "memory");
    assert!(h.get("redis").is_none());
    let _ = tx.send(());
    let _ = t.await;
}
