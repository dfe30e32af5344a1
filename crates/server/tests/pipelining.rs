//! Pipelined requests over real sockets on 127.0.0.1: responses are batched into one write
//! while more requests are buffered, yet every response arrives complete, in request order, and
//! is never held behind something that waits (an upgrade, an event stream, a long poll, a
//! request body still in flight, the end of the pipeline).

use std::net::SocketAddr;
use std::time::Duration;

use pushwire_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Failure guard only: every wait below normally ends in milliseconds.
const GUARD: Duration = Duration::from_secs(10);

struct Srv {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Srv {
    async fn start() -> Srv {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = Config::default();
        cfg.addr = addr;
        cfg.shutdown_grace = Duration::from_secs(2);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(Server::new(cfg).run(listener, async {
            let _ = rx.await;
        }));
        Srv {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = tokio::time::timeout(GUARD, self.task).await;
    }
}

/// A response as read off the socket: status, lowercased headers, body (`Content-Length`
/// bytes; none for 101 and for an event stream, whose body never ends).
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads from `s` into `buf` until `buf` holds `n` bytes (under the guard).
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, n: usize) {
    while buf.len() < n {
        let mut tmp = [0u8; 4096];
        let got = tokio::time::timeout(GUARD, s.read(&mut tmp))
            .await
            .expect("response held back or missing (guard expired)")
            .unwrap();
        assert!(
            got > 0,
            "connection closed early; have {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&tmp[..got]);
    }
}

/// Reads one response from `s` (leftover bytes stay in `buf`).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Resp {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let have = buf.len();
        fill(s, buf, have + 1).await;
    };
    let head = String::from_utf8(buf.drain(..end).collect()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let mut r = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = r.header("content-length") {
        let len: usize = len.parse().unwrap();
        fill(s, buf, len).await;
        r.body = buf.drain(..len).collect();
    }
    r
}

const GET_HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

fn upgrade(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

fn assert_health(r: &Resp) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        body.starts_with("{\"hub\":\"memory\"") && body.ends_with('}'),
        "{body}"
    );
}

#[tokio::test]
async fn rfc9112_s9_3_2_pipelined_gets_then_websocket_upgrade_in_one_write() {
    let srv = Srv::start().await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut burst = Vec::new();
    burst.extend_from_slice(GET_HEALTH);
    burst.extend_from_slice(GET_HEALTH);
    burst.extend_from_slice(&upgrade("/echo"));
    // A masked text frame "hi" right behind the upgrade: it must reach the WebSocket pump.
    let mask = [1u8, 2, 3, 4];
    burst.extend_from_slice(&[0x81, 0x82]);
    burst.extend_from_slice(&mask);
    burst.extend_from_slice(&[b'h' ^ mask[0], b'i' ^ mask[1]]);
    s.write_all(&burst).await.unwrap();
    let mut buf = Vec::new();
    assert_health(&read_response(&mut s, &mut buf).await);
    assert_health(&read_response(&mut s, &mut buf).await);
    let up = read_response(&mut s, &mut buf).await;
    assert_eq!(up.status, 101);
    // RFC 6455 §1.3's sample key.
    assert_eq!(
        up.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    fill(&mut s, &mut buf, 4).await;
    assert_eq!(&buf[..4], &[0x81, 0x02, b'h', b'i']);
    srv.stop().await;
}

#[tokio::test]
async fn pipelined_get_then_event_stream_in_one_write() {
    let srv = Srv::start().await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut burst = Vec::new();
    burst.extend_from_slice(GET_HEALTH);
    burst.extend_from_slice(b"GET /events?topic=pipe HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&burst).await.unwrap();
    let mut buf = Vec::new();
    assert_health(&read_response(&mut s, &mut buf).await);
    let sse = read_response(&mut s, &mut buf).await;
    assert_eq!(sse.status, 200);
    assert_eq!(sse.header("content-type"), Some("text/event-stream"));
    fill(&mut s, &mut buf, 6).await;
    assert_eq!(&buf[..6], b"retry:");
    // The stream is live: a publish on another connection arrives as an event.
    let mut p = TcpStream::connect(srv.addr).await.unwrap();
    p.write_all(b"POST /publish?topic=pipe HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let mut pbuf = Vec::new();
    assert_eq!(read_response(&mut p, &mut pbuf).await.status, 200);
    loop {
        if buf.windows(12).any(|w| w == b"\ndata: hello") {
            break;
        }
        let have = buf.len();
        fill(&mut s, &mut buf, have + 1).await;
    }
    srv.stop().await;
}

#[tokio::test]
async fn held_response_is_not_delayed_by_a_long_poll_behind_it() {
    let srv = Srv::start().await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut burst = Vec::new();
    burst.extend_from_slice(GET_HEALTH);
    burst.extend_from_slice(GET_HEALTH);
    // Waits a minute for news that never comes: the two answers before it must not wait too.
    burst.extend_from_slice(b"GET /long-poll?topic=lp&timeout=60000 HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&burst).await.unwrap();
    let mut buf = Vec::new();
    assert_health(&read_response(&mut s, &mut buf).await);
    assert_health(&read_response(&mut s, &mut buf).await);
    // Then a publish answers the long poll, still in order.
    let mut p = TcpStream::connect(srv.addr).await.unwrap();
    p.write_all(b"POST /publish?topic=lp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nlp")
        .await
        .unwrap();
    let mut pbuf = Vec::new();
    assert_eq!(read_response(&mut p, &mut pbuf).await.status, 200);
    let lp = read_response(&mut s, &mut buf).await;
    assert_eq!(lp.status, 200);
    assert!(
        String::from_utf8(lp.body)
            .unwrap()
            .contains("\"data\":\"lp\"")
    );
    srv.stop().await;
}

#[tokio::test]
async fn held_response_is_not_delayed_by_a_body_still_in_flight() {
    let srv = Srv::start().await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut burst = Vec::new();
    burst.extend_from_slice(GET_HEALTH);
    // A publish whose body has not been sent yet: the GET's answer must not wait for it.
    burst.extend_from_slice(
        b"POST /publish?topic=b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n",
    );
    s.write_all(&burst).await.unwrap();
    let mut buf = Vec::new();
    assert_health(&read_response(&mut s, &mut buf).await);
    s.write_all(b"body").await.unwrap();
    let r = read_response(&mut s, &mut buf).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8(r.body).unwrap().starts_with("{\"id\":"));
    srv.stop().await;
}

#[tokio::test]
async fn deep_pipeline_answers_every_request_in_order_and_then_waits() {
    let srv = Srv::start().await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // 64 requests whose answers together pass the 64 KiB hold limit several times over (the
    // 404 page of a path is small, so mix in the demo page), plus half a request at the end:
    // everything complete is answered without the rest arriving.
    let mut burst = Vec::new();
    for i in 0..64 {
        if i % 8 == 0 {
            burst.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        } else {
            burst
                .extend_from_slice(format!("GET /nope/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        }
    }
    burst.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHo");
    s.write_all(&burst).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..64 {
        let r = read_response(&mut s, &mut buf).await;
        let want = if i % 8 == 0 { 200 } else { 404 };
        assert_eq!(r.status, want, "response {i}");
        assert_eq!(
            r.body.len(),
            r.header("content-length")
                .unwrap()
                .parse::<usize>()
                .unwrap()
        );
    }
    assert!(buf.is_empty());
    s.write_all(b"st: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let last = read_response(&mut s, &mut buf).await;
    assert_health(&last);
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let n = tokio::time::timeout(GUARD, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "nothing after the last response");
    srv.stop().await;
}

/// Every plain route pipelined in one burst, sent in two writes split at every byte
/// boundary: the connection's borrowed head parse, its look-ahead for the next complete head
/// and the body framing must give the same answers, in order, however TCP splits them.
#[tokio::test]
async fn rfc9112_s9_3_2_plain_routes_pipelined_split_at_every_byte() {
    let srv = Srv::start().await;
    let mut burst = Vec::new();
    burst.extend_from_slice(GET_HEALTH);
    burst.extend_from_slice(
        b"POST /publish?topic=mix HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    burst.extend_from_slice(b"GET /poll?topic=mix&since=0 HTTP/1.1\r\nHost: x\r\n\r\n");
    burst.extend_from_slice(
        b"GET /long-poll?topic=mix&since=0&timeout=5000 HTTP/1.1\r\nHOST: x\r\n\r\n",
    );
    burst.extend_from_slice(b"GET /poll?topic=a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n");
    burst.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for split in 0..=burst.len() {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(&burst[..split]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        s.write_all(&burst[split..]).await.unwrap();
        let mut buf = Vec::new();
        assert_health(&read_response(&mut s, &mut buf).await);
        let published = read_response(&mut s, &mut buf).await;
        assert_eq!(published.status, 200, "split {split}");
        let id = String::from_utf8(published.body).unwrap();
        assert!(id.starts_with("{\"id\":\""), "{id}");
        for _ in 0..2 {
            let batch = read_response(&mut s, &mut buf).await;
            assert_eq!(batch.status, 200, "split {split}");
            let body = String::from_utf8(batch.body).unwrap();
            assert!(body.starts_with("{\"messages\":[{\"id\":"), "{body}");
            assert!(body.contains("\"data\":\"abc\""), "{body}");
        }
        assert_eq!(read_response(&mut s, &mut buf).await.status, 400);
        let last = read_response(&mut s, &mut buf).await;
        assert_health(&last);
        assert_eq!(last.header("connection"), Some("close"));
        let mut rest = Vec::new();
        let n = tokio::time::timeout(GUARD, s.read_to_end(&mut rest)).await;
        assert!(matches!(n, Ok(Ok(0))), "closed after the last answer");
        assert!(buf.is_empty());
    }
    srv.stop().await;
}
