//! Bridges to other people's stacks, each behind its own off-by-default feature. They sit on
//! the public API ([`handshake`](crate::handshake), [`WebSocket`](crate::WebSocket),
//! [`frame`](crate::frame)); the sans-IO core is unchanged.
//!
//! - feature `hyper`: [`upgrade`] a hyper 1 (or axum) request to a [`WebSocket`](crate::WebSocket)
//!   over the upgraded connection, like fastwebsockets' `upgrade::upgrade`; [`client`] does
//!   the client handshake over a hyper HTTP/1 connection, and [`client_request`] /
//!   [`client_upgrade`] split it for your own hyper client.
//! - feature `futures`: [`WsStream`], the connection as a `futures_core::Stream` and
//!   `futures_sink::Sink` of [`Message`](crate::Message)s, for `StreamExt` / `SinkExt` like
//!   tokio-tungstenite.
//! - feature `codec`: [`FrameCodec`], a tokio-util `Decoder` / `Encoder` of
//!   [`Frame`](crate::frame::Frame)s.

#[cfg(feature = "codec")]
mod codec;
#[cfg(feature = "futures")]
mod futures;
#[cfg(feature = "hyper")]
mod hyper;

#[cfg(feature = "codec")]
pub use codec::FrameCodec;
#[cfg(feature = "futures")]
pub use futures::WsStream;
#[cfg(feature = "hyper")]
pub use hyper::{
    HyperWebSocket, UpgradeFut, client, client_request, client_upgrade, is_upgrade_request, reject,
    upgrade,
};
