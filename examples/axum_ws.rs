//! An axum app whose `/ws` route is a pushwire WebSocket through the hyper bridge
//! (`pushwire_ws::bridge::upgrade`), used as a `Stream` + `Sink` of messages
//! (`pushwire_ws::bridge::WsStream`): every message is echoed back.
//!
//! ```sh
//! cargo run --example axum_ws            # listens on 127.0.0.1:3000, or the address in $ADDR
//! websocat ws://127.0.0.1:3000/ws        # any WebSocket client
//! ```

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use pushwire_ws::Config;
use pushwire_ws::bridge::{self, HyperWebSocket, WsStream};

/// The app: `/ws` upgrades, `/` says what to do.
pub fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "connect a WebSocket client to /ws\n" }))
        .route("/ws", get(ws))
}

/// Checks the handshake, answers `101` and echoes on the upgraded connection; a request
/// that is not a valid WebSocket handshake gets its precise 400 / 426.
async fn ws(mut req: Request) -> Response {
    match bridge::upgrade::<_, Body>(&mut req, &["echo"], Config::default()) {
        Ok((response, upgraded)) => {
            tokio::spawn(async move {
                match upgraded.await {
                    Ok(ws) => echo(ws).await,
                    Err(e) => eprintln!("upgrade failed: {e}"),
                }
            });
            response
        }
        Err(e) => bridge::reject(&e),
    }
}

/// Echo with the `futures` API: split into a stream and a sink, forward one to the other.
async fn echo(ws: HyperWebSocket) {
    let (mut tx, mut rx) = WsStream::new(ws).split();
    while let Some(Ok(msg)) = rx.next().await {
        if tx.send(msg).await.is_err() {
            break;
        }
    }
}

#[allow(dead_code)] // `main` is unused when the end-to-end tests include this file.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}/ws", listener.local_addr()?);
    axum::serve(listener, app()).await
}
