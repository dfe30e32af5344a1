//! The EventSource client against real servers on 127.0.0.1, written here with hand-made
//! responses (SSE-RULES 27-42 and the wpt `eventsource/` connection tests). Timeouts are
//! failure guards only.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pushwire_sse::client::{ClientEvent, EventSource, ReadyState, RetryPolicy};
use pushwire_sse::{CapacityError, Config, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const GUARD: Duration = Duration::from_secs(10);
const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";

/// What the test server does with connection `n`.
enum Reply {
    /// Write the bytes, then close.
    Close(Vec<u8>),
    /// Write the bytes, then keep the connection open and silent.
    Hold(Vec<u8>),
}

fn close(s: impl AsRef<[u8]>) -> Reply {
    Reply::Close(s.as_ref().to_vec())
}
fn hold(s: impl AsRef<[u8]>) -> Reply {
    Reply::Hold(s.as_ref().to_vec())
}

struct Server {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<String>,
    count: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    async fn request(&mut self) -> String {
        guard(self.requests.recv()).await.expect("server gone")
    }
}

/// A server answering connection `n` (from 0) with `handler(n, request_head)`.
async fn serve(handler: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, requests) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(handler);
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = c.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1];
                    if sock.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let reply = handler(n, &head);
                let _ = tx.send(head);
                match reply {
                    Reply::Close(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        let _ = sock.shutdown().await;
                    }
                    Reply::Hold(bytes) => {
                        let _ = sock.write_all(&bytes).await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                }
            });
        }
    });
    Server {
        addr,
        requests,
        count,
    }
}

async fn guard<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("timed out (guard)")
}

/// Fast reconnects so tests do not wait the default 3 s.
fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .with_reconnection_time(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(20))
}

async fn next(es: &mut EventSource) -> ClientEvent {
    guard(es.next()).await.expect("source ended")
}

/// The next item that is not a comment.
async fn next_message(es: &mut EventSource) -> (String, String, String) {
    loop {
        match next(es).await {
            ClientEvent::Message { event, .. } => {
                return (
                    event.event_type.to_string(),
                    event.data,
                    event.last_event_id.to_string(),
                );
            }
            ClientEvent::Comment(_) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn rule_30_39_wpt_eventsource_reconnect_resumes_with_last_event_id() {
    let mut srv = serve(|n, _| match n {
        0 => close(format!("{SSE_HEAD}id: 1\ndata: a\n\n")),
        _ => hold(format!("{SSE_HEAD}data: b\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&srv.url("/events"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    assert_eq!(es.ready_state(), ReadyState::Connecting);
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(es.ready_state(), ReadyState::Open);
    let first = srv.request().await;
    assert!(first.starts_with("GET /events HTTP/1.1\r\n"), "{first}");
    assert_eq!(header(&first, "accept"), Some("text/event-stream"));
    assert_eq!(header(&first, "cache-control"), Some("no-cache"));
    assert_eq!(
        header(&first, "last-event-id"),
        None,
        "rule 39: never on the first request"
    );
    assert_eq!(
        next_message(&mut es).await,
        ("message".into(), "a".into(), "1".into())
    );
    match next(&mut es).await {
        ClientEvent::Reconnecting { error: None, .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(es.ready_state(), ReadyState::Connecting);
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    let second = srv.request().await;
    assert_eq!(header(&second, "last-event-id"), Some("1"));
    // Rule 20: the id persists into events that carry none, across the reconnect.
    assert_eq!(
        next_message(&mut es).await,
        ("message".into(), "b".into(), "1".into())
    );
}

#[tokio::test]
async fn rule_40_wpt_format_field_retry_is_honoured() {
    // The policy's own reconnection time is an hour: only the server's `retry: 10` can
    // bring the second connection within the guard.
    let mut srv = serve(|n, _| match n {
        0 => close(format!("{SSE_HEAD}retry: 10\ndata: a\n\n")),
        _ => hold(format!("{SSE_HEAD}data: b\n\n")),
    })
    .await;
    let policy = RetryPolicy::default().with_reconnection_time(Duration::from_secs(3600));
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(policy)
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "a");
    match next(&mut es).await {
        ClientEvent::Reconnecting { delay, .. } => assert_eq!(delay, Duration::from_millis(10)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "b");
    srv.request().await;
    srv.request().await;
}

#[tokio::test]
async fn rule_34_wpt_eventsource_close_204_stops_reconnecting() {
    let srv = serve(|n, _| match n {
        0 => close(format!("{SSE_HEAD}data: a\n\n")),
        _ => close("HTTP/1.1 204 No Content\r\n\r\n"),
    })
    .await;
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "a");
    assert!(matches!(
        next(&mut es).await,
        ClientEvent::Reconnecting { .. }
    ));
    assert_eq!(next(&mut es).await, ClientEvent::Failed(Error::Status(204)));
    assert_eq!(es.ready_state(), ReadyState::Closed);
    assert_eq!(guard(es.next()).await, None);
    // Well past the reconnection time: still two connections.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(srv.count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rule_34_wpt_request_status_error_fails_without_reconnect() {
    for status in [205, 210, 299, 404, 410, 503] {
        let srv = serve(move |_, _| {
            close(format!("HTTP/1.1 {status} X\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n"))
        })
        .await;
        let mut es = EventSource::builder(&srv.url("/"))
            .retry_policy(fast())
            .connect()
            .unwrap();
        assert_eq!(
            next(&mut es).await,
            ClientEvent::Failed(Error::Status(status))
        );
        assert_eq!(guard(es.next()).await, None);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(srv.count.load(Ordering::SeqCst), 1, "status {status}");
    }
}

#[tokio::test]
async fn rule_35_wpt_format_mime_bogus_fails_and_trailing_semicolon_is_ok() {
    for (ct, ok) in [
        ("text/plain", false),
        ("text/event-stream-bogus", false),
        ("text/event-stream;", true),
        ("text/event-stream; charset=windows-1252", true),
    ] {
        let srv = serve(move |_, _| {
            hold(format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\n\r\ndata: \u{e9}\n\n"
            ))
        })
        .await;
        let mut es = EventSource::builder(&srv.url("/"))
            .retry_policy(fast())
            .connect()
            .unwrap();
        if ok {
            assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
            // wpt format-utf-8: the charset parameter is ignored, always UTF-8.
            assert_eq!(next_message(&mut es).await.1, "\u{e9}");
        } else {
            assert_eq!(next(&mut es).await, ClientEvent::Failed(Error::ContentType));
            assert_eq!(es.ready_state(), ReadyState::Closed);
        }
    }
}

#[tokio::test]
async fn rule_31_wpt_request_redirect_followed_origin_is_final_url() {
    for status in [301, 302, 303, 307, 308] {
        let mut srv = serve(move |_, head| {
            if head.starts_with("GET /start ") {
                close(format!(
                    "HTTP/1.1 {status} Moved\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n"
                ))
            } else {
                close(format!("{SSE_HEAD}data: here\n\n"))
            }
        })
        .await;
        let port = srv.addr.port();
        let mut es = EventSource::builder(&srv.url("/start"))
            .retry_policy(fast())
            .connect()
            .unwrap();
        match next(&mut es).await {
            ClientEvent::Open { origin } => {
                assert_eq!(&*origin, format!("http://127.0.0.1:{port}"))
            }
            other => panic!("{other:?}"),
        }
        match next(&mut es).await {
            ClientEvent::Message { event, origin } => {
                assert_eq!(event.data, "here");
                assert_eq!(&*origin, format!("http://127.0.0.1:{port}"));
            }
            other => panic!("{other:?}"),
        }
        assert!(srv.request().await.starts_with("GET /start "));
        assert!(srv.request().await.starts_with("GET /final "));
        // Rule 31: the reconnect starts again from the original URL.
        assert!(matches!(
            next(&mut es).await,
            ClientEvent::Reconnecting { .. }
        ));
        assert!(
            srv.request().await.starts_with("GET /start "),
            "status {status}"
        );
        es.close();
    }
}

#[tokio::test]
async fn rule_31_redirect_to_another_origin_and_hop_limit() {
    let target = serve(|_, _| hold(format!("{SSE_HEAD}data: there\n\n"))).await;
    let to = format!("http://localhost:{}/x", target.addr.port());
    let srv = serve(move |_, _| close(format!("HTTP/1.1 307 T\r\nLocation: {to}\r\n\r\n"))).await;
    let mut es = EventSource::connect(&srv.url("/")).unwrap();
    match next(&mut es).await {
        ClientEvent::Open { origin } => {
            assert_eq!(&*origin, format!("http://localhost:{}", target.addr.port()))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(es.url(), srv.url("/"), "rule 27: url stays the original");

    let looping = serve(|_, _| close("HTTP/1.1 302 L\r\nLocation: /again\r\n\r\n")).await;
    let mut es = EventSource::builder(&looping.url("/"))
        .max_redirects(3)
        .connect()
        .unwrap();
    assert_eq!(
        next(&mut es).await,
        ClientEvent::Failed(Error::TooManyRedirects)
    );
    assert_eq!(looping.count.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn rule_08_wpt_format_data_before_final_empty_line_server_dies_mid_event() {
    let mut srv = serve(|n, _| match n {
        0 => close(format!("{SSE_HEAD}data: a\n\nid: 9\ndata: partial")),
        _ => hold(format!("{SSE_HEAD}data: c\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(
        next_message(&mut es).await,
        ("message".into(), "a".into(), "".into())
    );
    assert!(matches!(
        next(&mut es).await,
        ClientEvent::Reconnecting { .. }
    ));
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    // The partial event is gone: not dispatched, not glued to the next stream's data.
    assert_eq!(
        next_message(&mut es).await,
        ("message".into(), "c".into(), "".into())
    );
    srv.request().await;
    // Its id was never committed, so no Last-Event-ID on the reconnect.
    assert_eq!(header(&srv.request().await, "last-event-id"), None);
}

#[tokio::test]
async fn limit_endless_line_is_skipped_and_the_stream_goes_on() {
    let srv = serve(|_, _| {
        let mut body = format!("{SSE_HEAD}data: ").into_bytes();
        body.extend(std::iter::repeat_n(b'x', 3 << 20));
        body.extend_from_slice(b"\ndata: rest of the block\n\ndata: after\n\n");
        hold(body)
    })
    .await;
    let cfg = Config::default()
        .with_max_line(64 * 1024)
        .with_max_event_data(64 * 1024);
    let mut es = EventSource::builder(&srv.url("/"))
        .config(cfg)
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(
        next(&mut es).await,
        ClientEvent::Skipped(CapacityError::LineTooLong)
    );
    assert_eq!(next_message(&mut es).await.1, "after");
}

#[tokio::test]
async fn bodies_chunked_and_content_length() {
    let mut srv = serve(|n, _| match n {
        0 => close(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\ndata:\r\n4\r\n a\nd\r\n7\r\nata: b\n\r\n1\r\n\n\r\n0\r\n\r\n",
        ),
        1 => close("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: c\n\nIGNORED"),
        _ => hold(format!("{SSE_HEAD}\u{feff}data: d\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "a\nb");
    assert!(matches!(
        next(&mut es).await,
        ClientEvent::Reconnecting { error: None, .. }
    ));
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "c");
    assert!(matches!(
        next(&mut es).await,
        ClientEvent::Reconnecting { error: None, .. }
    ));
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    // Rule 2: each new response body gets its BOM stripped.
    assert_eq!(next_message(&mut es).await.1, "d");
    for _ in 0..3 {
        srv.request().await;
    }
}

#[tokio::test]
async fn read_idle_timeout_counts_as_a_drop() {
    let srv = serve(|n, _| match n {
        0 => hold(format!("{SSE_HEAD}data: a\n\n")),
        _ => hold(format!("{SSE_HEAD}:\ndata: b\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(fast())
        .read_idle_timeout(Some(Duration::from_millis(200)))
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "a");
    match next(&mut es).await {
        ClientEvent::Reconnecting {
            error: Some(Error::Timeout),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next(&mut es).await, ClientEvent::Comment(String::new()));
    assert_eq!(next_message(&mut es).await.1, "b");
}

#[tokio::test]
async fn rule_42_wpt_eventsource_close_drops_queued_events_and_never_reconnects() {
    let srv = serve(|_, _| close(format!("{SSE_HEAD}data: 1\n\ndata: 2\n\ndata: 3\n\n"))).await;
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "1");
    es.close();
    assert_eq!(es.ready_state(), ReadyState::Closed);
    // Rule 26: events 2 and 3 may already be queued; none is handed out.
    assert_eq!(es.next().await, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(srv.count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rule_33_network_error_before_headers_reestablishes() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let mut es = EventSource::builder(&format!("http://{addr}/"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    for _ in 0..3 {
        match next(&mut es).await {
            ClientEvent::Reconnecting {
                error: Some(Error::Io(_)),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(es.ready_state(), ReadyState::Connecting);
    }
}

#[tokio::test]
async fn builder_custom_headers_and_starting_last_event_id() {
    let mut srv = serve(|_, _| hold(format!("{SSE_HEAD}data: x\n\n"))).await;
    let mut es = EventSource::builder(&srv.url("/e?topic=a"))
        .header("Authorization", "Bearer t")
        .header("Accept", "text/event-stream, */*;q=0.1")
        .header("Last-Event-ID", "q7k2-41")
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(
        next_message(&mut es).await,
        ("message".into(), "x".into(), "q7k2-41".into())
    );
    let head = srv.request().await;
    assert!(head.starts_with("GET /e?topic=a HTTP/1.1\r\n"));
    assert_eq!(header(&head, "authorization"), Some("Bearer t"));
    assert_eq!(
        head.matches("Accept:").count(),
        1,
        "the caller's Accept replaces ours"
    );
    assert_eq!(
        header(&head, "accept"),
        Some("text/event-stream, */*;q=0.1")
    );
    assert_eq!(header(&head, "last-event-id"), Some("q7k2-41"));
    assert_eq!(
        header(&head, "host"),
        Some(srv.url("").trim_start_matches("http://"))
    );
}

#[tokio::test]
async fn rule_27_bad_urls_and_https_are_refused_up_front() {
    assert_eq!(
        EventSource::connect("not a url").unwrap_err(),
        Error::InvalidUrl
    );
    assert_eq!(
        EventSource::connect("https://127.0.0.1/").unwrap_err(),
        Error::UnsupportedScheme
    );
    assert_eq!(
        EventSource::connect("ws://127.0.0.1/").unwrap_err(),
        Error::UnsupportedScheme
    );
    let e = EventSource::builder("http://h/")
        .last_event_id("a\nb")
        .connect()
        .unwrap_err();
    assert_eq!(e, Error::Usage(pushwire_sse::UsageError::LastEventId));
    let e = EventSource::builder("http://h/")
        .header("Bad Name", "v")
        .connect()
        .unwrap_err();
    assert_eq!(e, Error::Usage(pushwire_sse::UsageError::Header));
}

#[test]
fn connect_outside_a_runtime_is_an_error_not_a_panic() {
    assert_eq!(
        EventSource::connect("http://127.0.0.1:1/").unwrap_err(),
        Error::Usage(pushwire_sse::UsageError::NoRuntime)
    );
}

#[tokio::test]
async fn wpt_format_field_id_2_utf8_last_event_id_round_trips() {
    let mut srv = serve(|n, _| match n {
        0 => close(format!("{SSE_HEAD}id: \u{2026}\ndata: a\n\n")),
        _ => hold(format!("{SSE_HEAD}data: b\n\n")),
    })
    .await;
    let mut es = EventSource::builder(&srv.url("/"))
        .retry_policy(fast())
        .connect()
        .unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.2, "\u{2026}");
    assert!(matches!(
        next(&mut es).await,
        ClientEvent::Reconnecting { .. }
    ));
    srv.request().await;
    assert_eq!(
        header(&srv.request().await, "last-event-id"),
        Some("\u{2026}")
    );
}

#[tokio::test]
async fn rule_36_open_fires_once_per_response_and_rule_46_drop_aborts_the_fetch() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut b).await.unwrap();
            assert!(n > 0);
            head.extend_from_slice(&b[..n]);
        }
        sock.write_all(format!("{SSE_HEAD}data: 1\n\n:\n\ndata: 2\n\n").as_bytes())
            .await
            .unwrap();
        // Wait for the client to go away: read answers 0 (or an error) once it does.
        let _ = sock.read(&mut b).await;
        let _ = closed_tx.send(());
    });
    let mut es = EventSource::connect(&format!("http://{addr}/")).unwrap();
    assert!(matches!(next(&mut es).await, ClientEvent::Open { .. }));
    assert_eq!(next_message(&mut es).await.1, "1");
    assert_eq!(next_message(&mut es).await.1, "2");
    drop(es);
    guard(closed_rx.recv())
        .await
        .expect("server saw the client go");
}
