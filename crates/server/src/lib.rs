//! # pushwire-server
//!
//! The pushwire server: one hub, four transports on a raw tokio `TcpListener`.
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /` | the demo page: the four techniques live side by side on one topic |
//! | `POST /publish?topic=T` | the body (≤ 1 MiB) becomes one message; `{"id":"E-N"}` |
//! | `GET /poll?topic=T&since=C` | short poll, answered at once |
//! | `GET /long-poll?topic=T&since=C&timeout=MS` | held until news or the timeout |
//! | `GET /events?topic=T` | Server-Sent Events, resumable with `Last-Event-ID` |
//! | `GET /ws?topic=T&since=C` | WebSocket: publish what you send, receive the topic |
//! | `GET /echo` | WebSocket echo |
//! | `GET /healthz` | hub kind and connection counts |
//!
//! The pieces: [`config`] (every limit, and the command line), [`hub`] (the [`Hub`] trait and
//! the in-memory [`MemoryHub`]), [`Server`] (accept loop, connection limit, shutdown), and
//! per-connection HTTP/1.1 handling with a router whose access check refuses foreign origins.
//!
//! ```no_run
//! use pushwire_server::{Config, Server, shutdown_signal};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let cfg = Config::default();
//!     let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
//!     println!("listening on http://{}", listener.local_addr()?);
//!     Server::new(cfg).run(listener, shutdown_signal()).await
//! }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

#[cfg(feature = "auth")]
pub mod auth;
pub mod config;
mod conn;
pub mod cursor;
mod files;
pub mod hub;
mod json;
mod listener;
pub mod router;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wire;

pub use config::{Command, Config, ConfigError, USAGE, parse_args};
pub use files::DEMO_PAGE;
pub use hub::{Batch, Hub, HubError, HubFuture, HubHealth, MemoryHub, Message, Subscription};
pub use listener::{Acceptor, PlainTcp, Server, Stats, raise_fd_limit, shutdown_signal};

use std::future::Future;
use tokio::net::TcpListener;

/// Runs a server with an in-memory hub on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    Server::new(cfg).run(listener, shutdown).await
}
