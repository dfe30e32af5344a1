//! The `bare_polling` example, served on 127.0.0.1 and driven over real sockets.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/bare_polling.rs"]
mod bare;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pushwire_http::{Limits, Response, Status, parse_response};
use pushwire_poll::Cors;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(10);

async fn start(origins: &[&str]) -> (SocketAddr, Arc<bare::Hub>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Arc::new(bare::Hub::new(Cors::new(origins.iter().copied())));
    tokio::spawn(bare::serve(listener, hub.clone()));
    (addr, hub)
}

/// Reads one response (head + `Content-Length` body) from `stream`.
async fn read_response(stream: &mut TcpStream, buf: &mut BytesMut) -> (Response, Vec<u8>) {
    let limits = Limits::default();
    loop {
        if let Status::Complete((res, len)) = parse_response(buf, &limits).unwrap() {
            let body_len: usize = res
                .headers
                .get_str("content-length")
                .map(|v| v.parse().unwrap())
                .unwrap_or(0);
            while buf.len() < len + body_len {
                assert_ne!(stream.read_buf(buf).await.unwrap(), 0, "eof in body");
            }
            let mut all = buf.split_to(len + body_len);
            let body = all.split_off(len).to_vec();
            return (res, body);
        }
        assert_ne!(stream.read_buf(buf).await.unwrap(), 0, "eof in head");
    }
}

/// Sends one request on a new connection and reads the answer.
async fn request(addr: SocketAddr, raw: String) -> (Response, Vec<u8>) {
    timeout(GUARD, async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        read_response(&mut s, &mut BytesMut::new()).await
    })
    .await
    .expect("no answer in time")
}

async fn get(addr: SocketAddr, target: &str) -> (Response, Value) {
    let (res, body) = request(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    (res, serde_json::from_slice(&body).expect("body is JSON"))
}

async fn publish(addr: SocketAddr, topic: &str, data: &[u8]) -> String {
    let mut raw = format!(
        "POST /publish?topic={topic} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    )
    .into_bytes();
    raw.extend_from_slice(data);
    let (res, body) = timeout(GUARD, async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&raw).await.unwrap();
        read_response(&mut s, &mut BytesMut::new()).await
    })
    .await
    .unwrap();
    assert_eq!(res.status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn publish_then_short_poll_since_zero() {
    let (addr, _) = start(&[]).await;
    let id1 = publish(addr, "t", b"hello").await;
    let id2 = publish(addr, "t", b"\xff\x00binary").await;
    assert!(id1.ends_with("-1") && id2.ends_with("-2"));
    let (res, v) = get(addr, "/poll?topic=t&since=0").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers.get_str("content-type"),
        Some("application/json")
    );
    assert_eq!(res.headers.get_str("cache-control"), Some("no-store"));
    assert_eq!(v["messages"][0]["id"], id1.as_str());
    assert_eq!(v["messages"][0]["data"], "hello");
    assert_eq!(v["messages"][1]["encoding"], "base64");
    assert_eq!(v["next"], id2.as_str());
    assert_eq!(v["missed"], false);
    // `since` absent: from now; `next` is the head.
    let (_, v) = get(addr, "/poll?topic=t").await;
    assert_eq!(v["messages"].as_array().unwrap().len(), 0);
    assert_eq!(v["next"], id2.as_str());
}

#[tokio::test]
async fn long_poll_is_answered_by_a_publish_on_another_connection() {
    let (addr, hub) = start(&[]).await;
    let (_, v) = get(addr, "/poll?topic=live").await;
    let next = v["next"].as_str().unwrap().to_owned();
    let waiter = tokio::spawn(async move {
        get(
            addr,
            &format!("/long-poll?topic=live&since={next}&timeout=60000"),
        )
        .await
    });
    let topic = hub.topic("live", false).unwrap();
    timeout(GUARD, async {
        while topic.waiting() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let id = publish(addr, "live", "news \"quoted\" \u{1F600}".as_bytes()).await;
    let (res, v) = timeout(GUARD, waiter).await.unwrap().unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(v["messages"][0]["id"], id.as_str());
    assert_eq!(v["messages"][0]["data"], "news \"quoted\" \u{1F600}");
    assert_eq!(v["next"], id.as_str());
}

#[tokio::test]
async fn long_poll_timeout_answers_empty_with_the_same_next() {
    let (addr, _) = start(&[]).await;
    let id = publish(addr, "quiet", b"x").await;
    let (res, v) = get(
        addr,
        &format!("/long-poll?topic=quiet&since={id}&timeout=50"),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(v["messages"].as_array().unwrap().len(), 0);
    assert_eq!(v["next"], id.as_str());
    assert_eq!(v["missed"], false);
}

#[tokio::test]
async fn malformed_parameters_get_400_with_a_json_error() {
    let (addr, _) = start(&[]).await;
    for target in [
        "/poll?since=nope",
        "/poll?since=",
        "/poll?since=abc-",
        "/poll?since=-5",
        "/long-poll?timeout=-1",
        "/long-poll?timeout=soon",
        "/poll?max=0",
        "/poll?topic=bad%20name",
        "/poll?topic=",
    ] {
        let (res, v) = get(addr, target).await;
        assert_eq!(res.status, 400, "{target}");
        assert!(v["error"].is_string(), "{target}");
    }
    let (res, _) = get(addr, "/nowhere").await;
    assert_eq!(res.status, 404);
    let (res, _) = get(addr, "/publish").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.headers.get_str("allow"), Some("POST, OPTIONS"));
}

#[tokio::test]
async fn other_epoch_cursor_gets_missed_and_the_retained_messages() {
    let (addr, _) = start(&[]).await;
    let id = publish(addr, "r", b"after restart").await;
    // A cursor from a previous run of the server: another epoch.
    let (_, v) = get(addr, "/long-poll?topic=r&since=zzzzzzzz-41&timeout=5000").await;
    assert_eq!(v["missed"], true);
    assert_eq!(v["messages"][0]["id"], id.as_str());
}

#[tokio::test]
async fn cors_echoes_allowed_origins_and_refuses_others() {
    let (addr, _) = start(&["https://app.example"]).await;
    let (res, _) = request(
        addr,
        format!(
            "GET /poll HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://app.example\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.headers.get_str("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        res.headers.get_str("access-control-allow-credentials"),
        Some("true")
    );
    let (res, body) = request(
        addr,
        format!(
            "GET /poll HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(res.status, 403);
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["error"].is_string());
    let (res, _) = request(
        addr,
        format!(
            "OPTIONS /long-poll HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(res.status, 204);
    assert!(res.headers.contains("access-control-allow-methods"));
}

#[tokio::test]
async fn keep_alive_serves_pipelined_requests_in_order() {
    let (addr, _) = start(&[]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let raw = format!(
        "POST /publish?topic=p HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1\r\n\r\naGET /poll?topic=p&since=0 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    );
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = BytesMut::new();
    let (r1, b1) = timeout(GUARD, read_response(&mut s, &mut buf))
        .await
        .unwrap();
    let (r2, b2) = timeout(GUARD, read_response(&mut s, &mut buf))
        .await
        .unwrap();
    assert_eq!((r1.status, r2.status), (200, 200));
    let id: Value = serde_json::from_slice(&b1).unwrap();
    let poll: Value = serde_json::from_slice(&b2).unwrap();
    assert_eq!(poll["messages"][0]["id"], id["id"]);
}

#[tokio::test]
async fn a_client_that_disconnects_during_a_long_poll_leaves_no_waiter() {
    let (addr, hub) = start(&[]).await;
    let _ = get(addr, "/poll?topic=gone").await; // creates the topic
    let topic = hub.topic("gone", false).unwrap();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET /long-poll?topic=gone&timeout=60000 HTTP/1.1\r\nHost: {addr}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        clients.push(s);
    }
    timeout(GUARD, async {
        while topic.waiting() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("long polls never started waiting");
    drop(clients);
    timeout(GUARD, async {
        while topic.waiting() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("waiters of closed connections were not dropped");
}

#[tokio::test]
async fn oversized_publish_gets_413() {
    let (addr, _) = start(&[]).await;
    let (res, _) = request(
        addr,
        format!(
            "POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        ),
    )
    .await;
    assert_eq!(res.status, 413);
}

#[tokio::test]
async fn chunked_publish_with_expect_continue() {
    let (addr, _) = start(&[]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST /publish?topic=c HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = BytesMut::new();
    let (interim, _) = timeout(GUARD, read_response(&mut s, &mut buf))
        .await
        .unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (res, body) = timeout(GUARD, read_response(&mut s, &mut buf))
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    let id: Value = serde_json::from_slice(&body).unwrap();
    let (_, v) = get(addr, "/poll?topic=c&since=0").await;
    assert_eq!(v["messages"][0]["id"], id["id"]);
    assert_eq!(v["messages"][0]["data"], "hello world");
}

#[tokio::test]
async fn slow_head_gets_408_and_other_clients_are_served() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut hub = bare::Hub::new(Cors::default());
    hub.limits = hub
        .limits
        .clone()
        .with_head_timeout(Duration::from_millis(200));
    tokio::spawn(bare::serve(listener, Arc::new(hub)));
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap(); // never ends
    let (_, v) = get(addr, "/poll?since=0").await;
    assert_eq!(v["messages"].as_array().unwrap().len(), 0);
    let (res, _) = timeout(GUARD, read_response(&mut slow, &mut BytesMut::new()))
        .await
        .unwrap();
    assert_eq!(res.status, 408);
}
