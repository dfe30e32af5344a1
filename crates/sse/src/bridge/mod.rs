//! Bridges to other people's stacks, each behind its own off-by-default feature. The
//! WHATWG parser and the encoder are used unchanged; these are adapters over their public
//! API.
//!
//! - feature `stream`: [`EventStream`], events from any `Stream<Item = Result<Bytes, E>>`
//!   (a reqwest `bytes_stream()`, a hyper body through `http_body_util::BodyStream`, ...),
//!   like eventsource-stream.
//! - feature `http-body`: [`SseBody`] and [`response`], a stream of our [`Event`](crate::Event)s
//!   served as an `http_body::Body` with the event-stream headers and keep-alive comments:
//!   return it from an axum or hyper handler.
//! - feature `codec`: [`EventCodec`], a tokio-util `Decoder` of [`Item`](crate::Item)s and
//!   `Encoder` of [`Event`](crate::Event)s, like sse-codec.

#[cfg(feature = "http-body")]
mod body;
#[cfg(feature = "codec")]
mod codec;
#[cfg(feature = "stream")]
mod stream;

#[cfg(feature = "http-body")]
pub use body::{DEFAULT_KEEP_ALIVE, SseBody, response};
#[cfg(feature = "codec")]
pub use codec::EventCodec;
#[cfg(feature = "stream")]
pub use stream::EventStream;
