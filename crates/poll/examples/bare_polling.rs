//! Short and long polling on a bare tokio `TcpListener`, without pushwire-server.
//!
//! ```text
//! cargo run -p pushwire-poll --example bare_polling [-- --addr 127.0.0.1:3000 --allow-origin https://app.example]
//!
//! curl -s 'http://127.0.0.1:3000/long-poll?topic=news&timeout=30000' &   # waits...
//! curl -s -d 'hello' 'http://127.0.0.1:3000/publish?topic=news'          # {"id":"...-1"}
//! curl -s 'http://127.0.0.1:3000/poll?topic=news&since=0'                # short poll
//! ```
//!
//! Everything HTTP-specific comes from pushwire-http (head reader, body framing and
//! reader, head encoder) and everything polling-specific from pushwire-poll (query parsing, topics,
//! waiting, JSON, CORS). What is left here is the part a user adapts to their own server:
//! a topic map, a router and a connection loop. Copy [`Hub`], [`route`] and
//! [`serve_connection`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushwire_http::io::{read_body, read_request_head};
use pushwire_http::{
    BodyDecoder, BodyKind, HeadParser, Limits, Method, Request, encode_continue, request_body_kind,
};
use pushwire_poll::request::{self, JsonResponse, PollKind, PollRequest};
use pushwire_poll::{Config, Cors, Error, Topic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Topics created on demand, at most `max_topics` of them.
pub struct Hub {
    topics: Mutex<HashMap<String, Arc<Topic>>>,
    /// Log and poll limits of every topic.
    pub config: Config,
    /// HTTP limits (head size, body size 1 MiB, head timeout).
    pub limits: Limits,
    /// Allowed cross-origin callers.
    pub cors: Cors,
    /// Most topics alive at once; a new one past it gets 503.
    pub max_topics: usize,
}

impl Hub {
    /// A hub with default limits and the given allowed origins.
    pub fn new(cors: Cors) -> Hub {
        Hub {
            topics: Mutex::new(HashMap::new()),
            config: Config::default(),
            limits: Limits::default(),
            cors,
            max_topics: 10_000,
        }
    }

    /// The topic named `name`, created if `create` and there is room.
    pub fn topic(&self, name: &str, create: bool) -> Option<Arc<Topic>> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(name) {
            return Some(t.clone());
        }
        if !create || topics.len() >= self.max_topics {
            return None;
        }
        let t = Arc::new(Topic::new(&self.config));
        topics.insert(name.to_owned(), t.clone());
        Some(t)
    }
}

/// Answers one request whose body (if any) has been read.
pub async fn route(hub: &Hub, req: &Request, body: Bytes) -> JsonResponse {
    // CORS first: a foreign origin learns nothing, not even whether the path exists.
    let allowed = match hub.cors.check(req) {
        Ok(a) => a,
        Err(e) => return request::error_response(&e),
    };
    let path = req.path();
    let endpoint = match path {
        "/poll" => Some((Method::Get, "GET, OPTIONS")),
        "/long-poll" => Some((Method::Get, "GET, OPTIONS")),
        "/publish" => Some((Method::Post, "POST, OPTIONS")),
        _ => None,
    };
    let Some((method, allow)) = endpoint else {
        return request::status_response(404, "not found");
    };
    if req.method == Method::Options {
        return match hub.cors.preflight(req) {
            Ok(head) => JsonResponse {
                head,
                body: Default::default(),
            },
            Err(e) => request::error_response(&e),
        };
    }
    let mut res = if req.method != method {
        let mut r = request::status_response(405, "method not allowed");
        let _ = r.head.headers.append("Allow", allow);
        r
    } else if path == "/publish" {
        publish(hub, req, body)
    } else {
        let kind = if path == "/poll" {
            PollKind::Short
        } else {
            PollKind::Long
        };
        poll(hub, req, kind).await
    };
    allowed.apply(&mut res.head);
    res
}

fn publish(hub: &Hub, req: &Request, body: Bytes) -> JsonResponse {
    let name = match req.query_param("topic") {
        Some(t) => t.into_owned(),
        None => request::DEFAULT_TOPIC.to_owned(),
    };
    if let Err(e) = request::validate_topic(&name) {
        return request::error_response(&Error::Query(e));
    }
    match hub.topic(&name, true) {
        Some(topic) => request::published_response(&topic.append(body)),
        None => request::status_response(503, "too many topics"),
    }
}

async fn poll(hub: &Hub, req: &Request, kind: PollKind) -> JsonResponse {
    let p = match PollRequest::parse(req, kind, &hub.config) {
        Ok(p) => p,
        Err(e) => return request::error_response(&e),
    };
    match hub.topic(&p.topic, true) {
        Some(topic) => request::batch_response(&p.answer(&topic).await),
        None => request::status_response(503, "too many topics"),
    }
}

/// Serves one connection: keep-alive, pipelining, `Expect: 100-continue`, and a long poll
/// cancelled as soon as its client disconnects.
pub async fn serve_connection(mut stream: TcpStream, hub: Arc<Hub>) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut parser = HeadParser::new(&hub.limits);
    let mut out = BytesMut::new();
    loop {
        // 1. The head, within the head timeout (slowloris). The helper leaves whatever
        //    follows the head (body, pipelined requests) in `buf`.
        let head = tokio::time::timeout(
            hub.limits.head_timeout,
            read_request_head(&mut stream, &mut buf, &mut parser),
        )
        .await;
        let req = match head {
            Ok(Ok(Some(req))) => req,
            Ok(Ok(None)) => return Ok(()), // clean close between requests
            Ok(Err(e)) => return answer_and_close(&mut stream, e.status()).await,
            Err(_elapsed) => return answer_and_close(&mut stream, 408).await,
        };

        // 2. The body, bounded by `limits.max_body` (413, refused before reading a byte
        //    when `Content-Length` already says so).
        let kind = match request_body_kind(&req).and_then(|k| k.check(&hub.limits).map(|()| k)) {
            Ok(k) => k,
            Err(e) => return answer_and_close(&mut stream, e.status()).await,
        };
        if req.expects_continue() && kind != BodyKind::None {
            let mut c = BytesMut::new();
            encode_continue(&mut c);
            stream.write_all(&c).await?;
        }
        let mut decoder = BodyDecoder::new(kind, &hub.limits);
        let body = match read_body(&mut stream, &mut buf, &mut decoder).await {
            Ok(b) => b,
            Err(e) => return answer_and_close(&mut stream, e.status()).await,
        };

        // 3. Route. While a long poll waits, keep reading so that a closed connection
        //    cancels it (dropping the future unregisters the waiter). Bytes of a pipelined
        //    next request stay in `buf`, up to the head limit.
        let mut res = {
            let answer = route(&hub, &req, body);
            tokio::pin!(answer);
            loop {
                tokio::select! {
                    res = &mut answer => break res,
                    n = stream.read_buf(&mut buf), if buf.len() < hub.limits.max_head_bytes => {
                        if n? == 0 {
                            return Ok(()); // client went away: the waiter is dropped here
                        }
                    }
                }
            }
        };
        let keep_alive = req.keep_alive();
        if !keep_alive {
            let _ = res.head.headers.append("Connection", "close");
        }
        out.clear();
        if res.encode(&mut out).is_err() {
            return Ok(());
        }
        stream.write_all(&out).await?;
        if !keep_alive {
            return stream.shutdown().await;
        }
    }
}

async fn answer_and_close(stream: &mut TcpStream, status: u16) -> io::Result<()> {
    let phrase = match status {
        408 => "request head timeout",
        413 => "body too large",
        414 => "uri too long",
        431 => "request head too large",
        501 => "transfer coding not implemented",
        505 => "http version not supported",
        _ => "bad request",
    };
    let mut res = request::status_response(status, phrase);
    let _ = res.head.headers.append("Connection", "close");
    let mut out = BytesMut::new();
    if res.encode(&mut out).is_ok() {
        stream.write_all(&out).await?;
    }
    stream.shutdown().await
}

/// Accepts connections forever, one task each.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, hub.clone()));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[allow(dead_code)] // unused when a test includes this file as a module
#[tokio::main]
async fn main() -> io::Result<()> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 3000).into();
    let mut origins = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => {
                addr = a
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad --addr"))?
            }
            ("--allow-origin", Some(o)) => origins.push(o),
            _ => {
                eprintln!("usage: bare_polling [--addr HOST:PORT] [--allow-origin ORIGIN]...");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, Arc::new(Hub::new(Cors::new(origins)))).await;
    Ok(())
}
