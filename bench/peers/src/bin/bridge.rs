//! One hyper 1 server, two WebSocket upgrades: pushwire-ws's hyper bridge against
//! fastwebsockets' hyper upgrade (`pushwire-bench bridges`).
//!
//! ```text
//! bridge pushwire|pushwire-send|fastwebsockets [--addr 127.0.0.1:0]
//! ```
//!
//! Prints `listening on http://ADDR` like the other servers, then serves a WebSocket echo on
//! any path. Everything but the upgrade call and the echo loop is shared: the accept loop
//! (`TCP_NODELAY`), `http1::Builder::new().serve_connection(..).with_upgrades()`, and the
//! spawned connection task (`tokio::task::unconstrained`, as fastwebsockets' echo example
//! runs it, applied to both).
//!
//! - `fastwebsockets`: `upgrade::upgrade`, a `FragmentCollector`, each data frame written
//!   back (`write_frame`: one write per message), as fastwebsockets' `echo_server` example.
//! - `pushwire`: `pushwire_ws::bridge::upgrade`, then `recv` + `feed` for every message
//!   already readable (`recv` polled once without waiting: it is cancellation-safe), and
//!   one `flush` per batch (one write per batch of messages).
//! - `pushwire-send`: the bridge's documented example, `recv` + `send` (one write per
//!   message, like fastwebsockets).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::FutureExt as _;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpListener;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pushwire,
    PushwireSend,
    FastWebSockets,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = match args.next().as_deref() {
        Some("pushwire") => Kind::Pushwire,
        Some("pushwire-send") => Kind::PushwireSend,
        Some("fastwebsockets") => Kind::FastWebSockets,
        _ => {
            eprintln!("usage: bridge pushwire|pushwire-send|fastwebsockets [--addr HOST:PORT]");
            std::process::exit(2);
        }
    };
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
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{}", listener.local_addr().expect("addr"));
        let _ = out.flush();
    }
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // EMFILE and friends: wait and retry rather than spin or exit.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = http1::Builder::new()
                .serve_connection(io, service_fn(move |req| handle(kind, req)))
                .with_upgrades()
                .await;
        });
    }
}

/// The only part that differs: the upgrade call and the echo loop.
async fn handle(kind: Kind, mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, String> {
    match kind {
        Kind::FastWebSockets => {
            let (response, fut) =
                fastwebsockets::upgrade::upgrade(&mut req).map_err(|e| e.to_string())?;
            tokio::spawn(tokio::task::unconstrained(fastwebsockets_echo(fut)));
            Ok(response)
        }
        Kind::Pushwire | Kind::PushwireSend => {
            let cfg = pushwire_ws::Config::default();
            match pushwire_ws::bridge::upgrade(&mut req, &[], cfg) {
                Ok((response, fut)) => {
                    let batch = kind == Kind::Pushwire;
                    tokio::spawn(tokio::task::unconstrained(pushwire_echo(fut, batch)));
                    Ok(response)
                }
                Err(e) => Ok(pushwire_ws::bridge::reject(&e)),
            }
        }
    }
}

async fn fastwebsockets_echo(
    fut: fastwebsockets::upgrade::UpgradeFut,
) -> Result<(), fastwebsockets::WebSocketError> {
    use fastwebsockets::OpCode;
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

async fn pushwire_echo(
    fut: pushwire_ws::bridge::UpgradeFut,
    batch: bool,
) -> Result<(), pushwire_ws::Error> {
    let mut ws = fut.await?;
    while let Some(msg) = ws.recv().await? {
        if !batch {
            ws.send(&msg).await?;
            continue;
        }
        ws.feed(&msg).await?;
        // Every message already read goes into the same write: `recv` is cancellation-safe,
        // so polling it once and dropping it when it would wait loses nothing.
        while let Some(next) = ws.recv().now_or_never() {
            match next? {
                Some(m) => ws.feed(&m).await?,
                None => return Ok(()),
            }
        }
        ws.flush().await?;
    }
    Ok(())
}
