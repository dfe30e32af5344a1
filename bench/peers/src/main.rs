//! The peer servers of `pushwire-bench compare`, one binary:
//!
//! ```text
//! peer tungstenite|fastwebsockets|hyper|axum [--addr 127.0.0.1:0]
//! ```
//!
//! Each prints `listening on http://ADDR` on stdout like the `pushwire` binary, then serves
//! the URL shapes the load generator drives:
//!
//! - `tungstenite`, `fastwebsockets`: a WebSocket echo on any path (`/echo`), written the way
//!   each crate's own echo example does it.
//! - `hyper`: `GET` on any path answers the same 174-byte JSON as pushwire's `/healthz`.
//! - `axum`: `/events?topic=` (SSE from a `tokio::sync::broadcast` channel, as axum's SSE
//!   example does), `/long-poll?topic=&since=&timeout=`, `/poll?topic=&since=`,
//!   `/publish?topic=` with pushwire's JSON shapes (`{"id":"E-N"}`,
//!   `{"messages":[{"id":"E-N","data":"..."}],"next":"E-N","missed":false}`), and `/healthz`.
//!
//! Written for the benchmark, idiomatically and without tuning beyond what each crate's
//! documentation suggests (`TCP_NODELAY` everywhere, as pushwire sets it).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The body pushwire's `/healthz` answers on an idle server, byte for byte the same length,
/// so that the HTTP workload compares equal responses.
const HEALTH: &str = r#"{"hub":"memory","connections":{"total":1,"http":1,"websocket":0,"sse":0,"long_poll":0},"rejected_connections":0,"topics":0,"subscribers":0,"slow_disconnects":0,"published":0}"#;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let mut addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    while let Some(a) = args.next() {
        if a == "--addr" {
            addr = args
                .next()
                .and_then(|s| s.parse().ok())
                .expect("--addr HOST:PORT");
        }
    }
    let listener = TcpListener::bind(addr).await.expect("bind");
    let local = listener.local_addr().expect("local addr");
    match kind.as_str() {
        "tungstenite" => {
            announce(local);
            tungstenite_echo(listener).await
        }
        "fastwebsockets" => {
            announce(local);
            fastwebsockets_echo(listener).await
        }
        "hyper" => {
            announce(local);
            hyper_get(listener).await
        }
        "axum" => {
            announce(local);
            axum_push(listener).await
        }
        _ => {
            eprintln!("usage: peer tungstenite|fastwebsockets|hyper|axum [--addr HOST:PORT]");
            std::process::exit(2);
        }
    }
}

fn announce(addr: SocketAddr) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
}

async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                return s;
            }
            // EMFILE and friends: wait and retry rather than spin or exit.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

// ---------------------------------------------------------------- tokio-tungstenite

/// tokio-tungstenite's `echo-server` example: `read.forward(write)` of data messages
/// (`forward` feeds and flushes only when the reader has nothing ready: batched writes).
async fn tungstenite_echo(listener: TcpListener) {
    use futures_util::{StreamExt, TryStreamExt, future};
    loop {
        let stream = accept(&listener).await;
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (write, read) = ws.split();
            let _ = read
                .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
                .forward(write)
                .await;
        });
    }
}

// ---------------------------------------------------------------- fastwebsockets

/// fastwebsockets' `echo_server` example: hyper's upgrade, a `FragmentCollector`, each data
/// frame written back.
async fn fastwebsockets_echo(listener: TcpListener) {
    use fastwebsockets::{OpCode, WebSocketError, upgrade};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};

    async fn client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = fastwebsockets::FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut req)?;
        tokio::spawn(async move {
            let _ = tokio::task::unconstrained(client(fut)).await;
        });
        Ok(response)
    }

    loop {
        let stream = accept(&listener).await;
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = http1::Builder::new()
                .serve_connection(io, service_fn(upgrade))
                .with_upgrades()
                .await;
        });
    }
}

// ---------------------------------------------------------------- hyper

/// hyper 1's `hello` server shape with `pipeline_flush` on (hyper's own optimisation for
/// pipelined requests: one flush for a batch of responses).
async fn hyper_get(listener: TcpListener) {
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};

    async fn health(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let mut res = Response::new(Full::new(Bytes::from_static(HEALTH.as_bytes())));
        let h = res.headers_mut();
        h.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        h.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-store"),
        );
        Ok(res)
    }

    loop {
        let stream = accept(&listener).await;
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(io, service_fn(health))
                .await;
        });
    }
}

// ---------------------------------------------------------------- axum

/// Retained messages per topic, like pushwire's default history.
const HISTORY: usize = 1024;
const EPOCH: &str = "peer";

struct Topic {
    /// Retained messages, oldest first, and the last sequence number.
    log: Mutex<(VecDeque<(u64, Arc<str>)>, u64)>,
    /// SSE subscribers (axum's SSE example: a broadcast channel; a lagging receiver skips).
    tx: tokio::sync::broadcast::Sender<(u64, Arc<str>)>,
    /// Long-poll waiters watch the last sequence number.
    seq: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct Hub {
    topics: Mutex<HashMap<String, Arc<Topic>>>,
}

impl Hub {
    fn topic(&self, name: &str) -> Arc<Topic> {
        let mut topics = self.topics.lock().expect("topics lock");
        topics
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Topic {
                    log: Mutex::new((VecDeque::new(), 0)),
                    tx: tokio::sync::broadcast::channel(HISTORY).0,
                    seq: tokio::sync::watch::channel(0).0,
                })
            })
            .clone()
    }
}

#[derive(serde::Deserialize)]
struct Q {
    topic: Option<String>,
    since: Option<String>,
    timeout: Option<u64>,
}

fn parse_cursor(s: &str) -> Option<u64> {
    s.strip_prefix("peer-")?.parse().ok()
}

fn poll_json(topic: &Topic, since: u64) -> (String, bool) {
    let log = topic.log.lock().expect("log lock");
    let mut out = String::from(r#"{"messages":["#);
    let mut any = false;
    for (seq, data) in log.0.iter().filter(|(s, _)| *s > since) {
        if any {
            out.push(',');
        }
        any = true;
        out.push_str(&format!(
            r#"{{"id":"{EPOCH}-{seq}","data":{}}}"#,
            serde_json::to_string(&**data).unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        r#"],"next":"{EPOCH}-{}","missed":false}}"#,
        log.1.max(since)
    ));
    (out, any)
}

async fn axum_push(listener: TcpListener) {
    use axum::Router;
    use axum::extract::{Query, State};
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::routing::{get, post};
    use tokio_stream::StreamExt as _;

    type St = State<Arc<Hub>>;
    fn json(body: String) -> impl IntoResponse {
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
    }

    async fn publish(State(hub): St, Query(q): Query<Q>, body: String) -> impl IntoResponse {
        let topic = hub.topic(q.topic.as_deref().unwrap_or("default"));
        let data: Arc<str> = body.into();
        let seq = {
            let mut log = topic.log.lock().expect("log lock");
            log.1 += 1;
            let seq = log.1;
            if log.0.len() == HISTORY {
                log.0.pop_front();
            }
            log.0.push_back((seq, data.clone()));
            // Sent under the lock so that every subscriber sees the log's order.
            let _ = topic.tx.send((seq, data));
            seq
        };
        topic.seq.send_replace(seq);
        json(format!(r#"{{"id":"{EPOCH}-{seq}"}}"#))
    }

    async fn poll(State(hub): St, Query(q): Query<Q>) -> impl IntoResponse {
        let topic = hub.topic(q.topic.as_deref().unwrap_or("default"));
        let since = match q.since.as_deref() {
            Some(s) => parse_cursor(s).unwrap_or(0),
            None => topic.log.lock().expect("log lock").1,
        };
        json(poll_json(&topic, since).0)
    }

    async fn long_poll(State(hub): St, Query(q): Query<Q>) -> impl IntoResponse {
        let topic = hub.topic(q.topic.as_deref().unwrap_or("default"));
        let mut rx = topic.seq.subscribe();
        let since = match q.since.as_deref() {
            Some(s) => parse_cursor(s).unwrap_or(0),
            None => *rx.borrow_and_update(),
        };
        let deadline = Duration::from_millis(q.timeout.unwrap_or(25_000).min(120_000));
        let _ = tokio::time::timeout(deadline, rx.wait_for(|seq| *seq > since)).await;
        json(poll_json(&topic, since).0)
    }

    async fn events(State(hub): St, Query(q): Query<Q>) -> impl IntoResponse {
        let topic = hub.topic(q.topic.as_deref().unwrap_or("default"));
        let rx = topic.tx.subscribe();
        let first = tokio_stream::once(Ok::<Event, Infallible>(
            Event::default().retry(Duration::from_secs(3)),
        ));
        let rest = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|m| match m {
            Ok((seq, data)) => Some(Ok(Event::default()
                .id(format!("{EPOCH}-{seq}"))
                .data(&*data))),
            // Lagged: axum's example shape skips; the load generator's gap check sees it.
            Err(_) => None,
        });
        Sse::new(first.chain(rest)).keep_alive(KeepAlive::default())
    }

    async fn health() -> impl IntoResponse {
        json(HEALTH.to_owned())
    }

    let app = Router::new()
        .route("/publish", post(publish))
        .route("/poll", get(poll))
        .route("/long-poll", get(long_poll))
        .route("/events", get(events))
        .route("/healthz", get(health))
        .with_state(Arc::new(Hub::default()));
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app).await;
}
