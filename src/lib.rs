//! # pushwire
//!
//! Server push over HTTP/1.1, written from scratch: the four ways a server tells a browser
//! something new, side by side. This facade re-exports the crates; depend on one of them
//! directly if you need only that protocol.
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`http`] | `pushwire-http` | HTTP/1.1 heads and body framing, sans-IO |
//! | [`ws`] | `pushwire-ws` | WebSocket (RFC 6455) handshake, frames, messages, tokio shell |
//! | [`sse`] | `pushwire-sse` | Server-Sent Events encoder, parser, EventSource client |
//! | [`poll`] | `pushwire-poll` | message log with cursors, short and long polling |
//! | [`server`] | `pushwire-server` | the server tying the four together |
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub use pushwire_http as http;
pub use pushwire_poll as poll;
pub use pushwire_server as server;
pub use pushwire_sse as sse;
pub use pushwire_ws as ws;
