//! An axum app serving Server-Sent Events with pushwire's encoder through the `http-body`
//! bridge (`pushwire_sse::bridge::response`): `GET /events` streams what `POST /publish`
//! receives, with the event-stream headers, ids and keep-alive comments.
//!
//! ```sh
//! cargo run --example axum_sse           # listens on 127.0.0.1:3000, or the address in $ADDR
//! curl -N http://127.0.0.1:3000/events &
//! curl -d 'hello' http://127.0.0.1:3000/publish
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use pushwire_sse::Event;
use tokio::sync::broadcast;

/// Shared by the handlers: the fan-out channel and the next event id.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Event>,
    next_id: Arc<AtomicU64>,
}

/// The app: `/events` subscribes, `/publish` sends its body as one event to everyone.
pub fn app() -> Router {
    // 256 events of slack per subscriber; a slower one is cut off and reconnects.
    let (tx, _) = broadcast::channel(256);
    let hub = Hub {
        tx,
        next_id: Arc::new(AtomicU64::new(1)),
    };
    Router::new()
        .route("/events", get(events))
        .route("/publish", post(publish))
        .with_state(hub)
}

async fn events(State(hub): State<Hub>) -> impl IntoResponse {
    let rx = hub.tx.subscribe();
    // First a `retry:` hint (no event fires; the client now knows it is subscribed), then
    // every published event until the subscriber lags or the hub goes away.
    let hello = Event::empty().with_retry(Duration::from_secs(3));
    let published = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.ok().map(|ev| (ev, rx))
    });
    pushwire_sse::bridge::response(futures_util::stream::iter([hello]).chain(published))
}

async fn publish(State(hub): State<Hub>, body: String) -> impl IntoResponse {
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let ev = match Event::new(body).with_id(id.to_string()) {
        Ok(ev) => ev,
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()),
    };
    let receivers = hub.tx.send(ev).unwrap_or(0);
    (axum::http::StatusCode::OK, format!("{receivers}\n"))
}

#[allow(dead_code)] // `main` is unused when the end-to-end tests include this file.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/events", listener.local_addr()?);
    axum::serve(listener, app()).await
}
