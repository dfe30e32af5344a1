//! End to end through the bridges: the `axum_ws`, `axum_sse` and `hyper_echo` examples
//! served on 127.0.0.1 and driven by real third-party clients (tokio-tungstenite,
//! reqwest) and by our own hyper client handshake.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;

#[allow(dead_code)]
#[path = "../examples/axum_ws.rs"]
mod axum_ws;

#[allow(dead_code)]
#[path = "../examples/axum_sse.rs"]
mod axum_sse;

#[allow(dead_code)]
#[path = "../examples/hyper_echo.rs"]
mod hyper_echo;

/// Failure guard only: every step here takes milliseconds.
const GUARD: Duration = Duration::from_secs(10);

async fn serve_axum(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn serve_hyper() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(hyper_echo::serve(listener));
    addr
}

/// Text, binary (one large enough to span many reads), a ping, then the close handshake,
/// from tokio-tungstenite.
async fn tungstenite_echo_session(url: String, protocol: Option<&str>) {
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let (mut ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(res.status(), 101);
    if let Some(p) = protocol {
        assert_eq!(res.headers()["sec-websocket-protocol"], p);
    }
    let sent = [
        tungstenite::Message::text("hello"),
        tungstenite::Message::binary(vec![0xA5; 300_000]),
        tungstenite::Message::text("ünïcödé"),
    ];
    for m in &sent {
        ws.send(m.clone()).await.unwrap();
    }
    ws.send(tungstenite::Message::Ping(b"p".to_vec().into()))
        .await
        .unwrap();
    let mut echoed = Vec::new();
    let mut pong = false;
    while echoed.len() < sent.len() || !pong {
        match ws.next().await.unwrap().unwrap() {
            tungstenite::Message::Pong(p) => {
                assert_eq!(&p[..], b"p");
                pong = true;
            }
            m => echoed.push(m),
        }
    }
    assert_eq!(echoed, sent);
    ws.close(None).await.unwrap();
    // The server answers the close and ends the connection: the stream ends.
    loop {
        match ws.next().await {
            None => break,
            Some(Ok(tungstenite::Message::Close(_))) => continue,
            Some(Err(tungstenite::Error::ConnectionClosed)) => break,
            other => panic!("after close: {other:?}"),
        }
    }
}

#[tokio::test]
async fn axum_ws_echoes_to_tokio_tungstenite() {
    let addr = serve_axum(axum_ws::app()).await;
    tokio::time::timeout(
        GUARD,
        tungstenite_echo_session(format!("ws://{addr}/ws"), Some("echo")),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn axum_ws_answers_a_bad_handshake_with_its_status() {
    let addr = serve_axum(axum_ws::app()).await;
    let client = reqwest::Client::new();
    // Not an upgrade at all: 400.
    let res = client
        .get(format!("http://{addr}/ws"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Wrong version: 426 with the version we speak.
    let res = client
        .get(format!("http://{addr}/ws"))
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 426);
    assert_eq!(res.headers()["sec-websocket-version"], "13");
}

#[tokio::test]
async fn hyper_echo_echoes_to_tokio_tungstenite() {
    let addr = serve_hyper().await;
    tokio::time::timeout(
        GUARD,
        tungstenite_echo_session(format!("ws://{addr}/ws"), None),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn hyper_echo_echoes_to_our_hyper_client_as_stream_and_sink() {
    let addr = serve_hyper().await;
    tokio::time::timeout(GUARD, async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let uri: http::Uri = format!("ws://{addr}/ws").parse().unwrap();
        let (ws, protocol) = pushwire_ws::bridge::client(
            hyper_util::rt::TokioIo::new(tcp),
            &uri,
            &[],
            pushwire_ws::Config::default(),
        )
        .await
        .unwrap();
        assert_eq!(protocol, None);
        let mut ws = pushwire_ws::bridge::WsStream::new(ws);
        let msgs: Vec<pushwire_ws::Message> = (0..50)
            .map(|i| pushwire_ws::Message::text(format!("message {i}")))
            .collect();
        ws.send_all(&mut futures_util::stream::iter(
            msgs.clone().into_iter().map(Ok),
        ))
        .await
        .unwrap();
        for m in &msgs {
            assert_eq!(&ws.next().await.unwrap().unwrap(), m);
        }
        ws.close().await.unwrap();
        assert!(ws.next().await.is_none());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn hyper_echo_serves_plain_requests_too() {
    let addr = serve_hyper().await;
    let body = reqwest::get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("/ws"), "{body}");
}

#[tokio::test]
async fn axum_sse_streams_published_events_to_reqwest_through_the_stream_adapter() {
    use pushwire_sse::Item;
    let addr = serve_axum(axum_sse::app()).await;
    tokio::time::timeout(GUARD, async {
        let client = reqwest::Client::new();
        let res = client
            .get(format!("http://{addr}/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let mut events = pushwire_sse::bridge::EventStream::new(res.bytes_stream());
        // The retry hint comes first: we are subscribed.
        assert_eq!(
            events.next().await.unwrap().unwrap(),
            Item::Retry(Duration::from_secs(3))
        );
        for text in ["first", "two\nlines", "third"] {
            let published = client
                .post(format!("http://{addr}/publish"))
                .body(text)
                .send()
                .await
                .unwrap();
            assert_eq!(published.status(), 200);
            assert_eq!(published.text().await.unwrap(), "1\n", "one subscriber");
        }
        let mut got = Vec::new();
        while got.len() < 3 {
            match events.next().await.unwrap().unwrap() {
                Item::Event(ev) => got.push((ev.data, ev.last_event_id.to_string())),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            got,
            [
                ("first".to_owned(), "1".to_owned()),
                ("two\nlines".to_owned(), "2".to_owned()),
                ("third".to_owned(), "3".to_owned()),
            ]
        );
        assert_eq!(events.parser().last_event_id(), "3");
    })
    .await
    .unwrap();
}

/// What users of the bridges hold across `.await`s and threads must be `Send`, and every
/// public error `Send + Sync + 'static` (boxable into `anyhow`/`Box<dyn Error + Send + Sync>`).
#[test]
fn bridge_types_are_send_and_public_errors_are_send_sync_static() {
    fn send<T: Send>() {}
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    type Io = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;
    send::<pushwire_ws::bridge::WsStream<Io>>();
    send::<pushwire_ws::bridge::UpgradeFut>();
    send::<pushwire_ws::WebSocket<tokio::net::TcpStream>>();
    send::<
        pushwire_sse::bridge::SseBody<
            futures_util::stream::Iter<std::vec::IntoIter<pushwire_sse::Event>>,
        >,
    >();
    send::<
        pushwire_sse::bridge::EventStream<
            futures_util::stream::Empty<Result<bytes::Bytes, std::io::Error>>,
        >,
    >();
    error::<pushwire_http::Error>();
    error::<pushwire_ws::Error>();
    error::<pushwire_ws::HandshakeError>();
    error::<pushwire_sse::Error>();
    error::<pushwire_poll::Error>();
    error::<pushwire_server::HubError>();
    error::<pushwire_server::ConfigError>();
}
