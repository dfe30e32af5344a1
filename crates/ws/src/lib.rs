//! RFC 6455 WebSocket for pushwire: a sans-IO frame codec, message layer and connection state
//! machine, the opening handshake on pushwire-http's heads, and a thin tokio shell.
//!
//! Layers, from the bytes up:
//! - [`frame`]: [`FrameDecoder`](frame::FrameDecoder) (incremental, split-proof, limits
//!   checked on the header), [`encode_frame`](frame::encode_frame), masking,
//!   [`SharedFrame`](frame::SharedFrame) (encode once, send to many).
//! - [`MessageAssembler`]: fragments into messages, UTF-8 validated as bytes arrive.
//! - [`Protocol`]: the sans-IO connection (close handshake, automatic pong, keep-alive timers
//!   given `now`).
//! - [`WebSocket`]: the tokio shell over any `AsyncRead + AsyncWrite` stream.
//! - `deflate` (feature `deflate`): permessage-deflate (RFC 7692) negotiation and codec.
//!
//! ```
//! use bytes::BytesMut;
//! use pushwire_ws::{Config, Message, Protocol, frame::Role};
//!
//! let cfg = Config::default();
//! let mut client = Protocol::new(Role::Client, &cfg);
//! let mut server = Protocol::new(Role::Server, &cfg);
//! let mut wire = BytesMut::new();
//! client.send(&Message::text("hello"), &mut wire)?;
//! assert_eq!(server.receive(&mut wire)?, Some(Message::text("hello")));
//! # Ok::<(), pushwire_ws::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

#[cfg(any(feature = "hyper", feature = "futures", feature = "codec"))]
pub mod bridge;
mod close;
mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
mod message;
mod proto;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;

pub use close::{CloseCode, CloseFrame, MAX_CLOSE_REASON, parse_close_payload};
pub use config::Config;
pub use error::{CapacityError, ConfigError, Error, HandshakeError, ProtocolError, UsageError};
pub use message::{Message, MessageAssembler, Utf8Bytes, Utf8Validator};
pub use proto::{Incoming, Protocol, State};
pub use stream::{WebSocket, WsReader, WsWriter};
