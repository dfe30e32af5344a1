//! A bare hyper 1 server: `GET /ws` is upgraded to a pushwire WebSocket
//! (`pushwire_ws::bridge::upgrade`, like fastwebsockets' `upgrade`) that echoes every
//! message; any other request gets a short text answer.
//!
//! ```sh
//! cargo run --example hyper_echo         # listens on 127.0.0.1:3000, or the address in $ADDR
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use pushwire_ws::Config;
use pushwire_ws::bridge;

/// Answers one request: upgrades `/ws`, says hello otherwise.
pub async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/ws" {
        return Ok(Response::new(Full::new(Bytes::from_static(
            b"connect a WebSocket client to /ws\n",
        ))));
    }
    Ok(match bridge::upgrade(&mut req, &[], Config::default()) {
        Ok((response, upgraded)) => {
            tokio::spawn(async move {
                let Ok(mut ws) = upgraded.await else { return };
                // The plain async API: recv, send; pings and the close handshake are
                // handled inside `recv`.
                while let Ok(Some(msg)) = ws.recv().await {
                    if ws.send(&msg).await.is_err() {
                        break;
                    }
                }
            });
            response
        }
        Err(e) => bridge::reject(&e),
    })
}

/// Accepts connections forever, one task each, upgrades enabled.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(handle))
                .with_upgrades();
            if let Err(e) = conn.await {
                eprintln!("connection: {e}");
            }
        });
    }
}

#[allow(dead_code)] // `main` is unused when the end-to-end tests include this file.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}/ws", listener.local_addr()?);
    serve(listener).await
}
