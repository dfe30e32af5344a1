//! Short and long polling inside axum handlers: axum routes and reads the body, pushwire-poll
//! does the rest (query parsing, topics, waiting, JSON), with pushwire-http's `http` bridge
//! converting heads both ways.
//!
//! ```text
//! cargo run -p pushwire-poll --example axum_polling      # 127.0.0.1:3000, or $ADDR
//!
//! curl -s 'http://127.0.0.1:3000/long-poll?topic=news&timeout=30000' &   # waits...
//! curl -s -d 'hello' 'http://127.0.0.1:3000/publish?topic=news'          # {"id":"...-1"}
//! curl -s 'http://127.0.0.1:3000/poll?topic=news&since=0'                # short poll
//! ```
//!
//! A long poll is an ordinary `async` handler that awaits [`PollRequest::answer`]: no thread
//! is held while it waits, and when the client goes away hyper drops the handler's future,
//! which unregisters the waiter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use pushwire_poll::request::{self, JsonResponse, PollKind, PollRequest};
use pushwire_poll::{Config, Error, Topic};

/// Topics created on demand, at most `MAX_TOPICS` of them.
#[derive(Clone, Default)]
struct Hub {
    topics: Arc<Mutex<HashMap<String, Arc<Topic>>>>,
    config: Config,
}

const MAX_TOPICS: usize = 10_000;

impl Hub {
    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(name) {
            return Some(t.clone());
        }
        if topics.len() >= MAX_TOPICS {
            return None;
        }
        let t = Arc::new(Topic::new(&self.config));
        topics.insert(name.to_owned(), t.clone());
        Some(t)
    }
}

/// The head of an axum request as pushwire-http's `Request` (the `http` bridge).
fn our_request(parts: &Parts) -> Result<pushwire_http::Request, JsonResponse> {
    pushwire_http::Request::try_from(parts)
        .map_err(|e| request::status_response(e.status(), "bad request"))
}

/// A pushwire-poll answer as an axum response (the `http` bridge, the other way).
fn into_response(res: JsonResponse) -> Response {
    match axum::http::Response::try_from(&res.head) {
        Ok(head) => head.map(|()| Body::from(res.body)),
        Err(_) => Response::builder()
            .status(500)
            .body(Body::empty())
            .unwrap_or_default(),
    }
}

async fn poll(hub: State<Hub>, req: Request) -> Response {
    answer(hub, req, PollKind::Short).await
}

async fn long_poll(hub: State<Hub>, req: Request) -> Response {
    answer(hub, req, PollKind::Long).await
}

async fn answer(State(hub): State<Hub>, req: Request, kind: PollKind) -> Response {
    let (parts, _body) = req.into_parts();
    let req = match our_request(&parts) {
        Ok(r) => r,
        Err(res) => return into_response(res),
    };
    // `since`, `topic`, `timeout` (long poll, capped by the config), `max`.
    let p = match PollRequest::parse(&req, kind, &hub.config) {
        Ok(p) => p,
        Err(e) => return into_response(request::error_response(&e)),
    };
    into_response(match hub.topic(&p.topic) {
        // Short poll: what is there now. Long poll: waits for the first message after the
        // cursor, or the timeout (then an empty batch with the same cursor).
        Some(topic) => request::batch_response(&p.answer(&topic).await),
        None => request::status_response(503, "too many topics"),
    })
}

async fn publish(State(hub): State<Hub>, parts: Parts, body: Bytes) -> Response {
    let req = match our_request(&parts) {
        Ok(r) => r,
        Err(res) => return into_response(res),
    };
    let name = req
        .query_param("topic")
        .map_or_else(|| request::DEFAULT_TOPIC.to_owned(), |t| t.into_owned());
    if let Err(e) = request::validate_topic(&name) {
        return into_response(request::error_response(&Error::Query(e)));
    }
    into_response(match hub.topic(&name) {
        // Appending wakes every long poll waiting on the topic.
        Some(topic) => request::published_response(&topic.append(body)),
        None => request::status_response(503, "too many topics"),
    })
}

fn app() -> Router {
    Router::new()
        .route("/poll", get(poll))
        .route("/long-poll", get(long_poll))
        .route("/publish", post(publish))
        .with_state(Hub::default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app()).await
}
