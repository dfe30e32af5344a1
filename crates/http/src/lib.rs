//! Sans-IO HTTP/1.1 message framing (RFC 9112) for pushwire.
//!
//! This crate turns bytes into owned HTTP heads and bodies and back, without touching a
//! socket or a clock. The server uses the request side; the WebSocket and EventSource
//! clients use the response side.
//!
//! - **Heads**: [`HeadParser`] (incremental, linear time, split-proof; [`HeadParser::parse_request_ref`]
//!   lends the head as a [`RequestRef`] without copying it) or the one-shot
//!   [`parse_request`] / [`parse_response`] produce [`Request`] / [`Response`] with
//!   [`Headers`] (ordered, case-insensitive, comma-list helpers). Request helpers:
//!   [`Request::path`], [`Request::query_param`], [`Request::host`],
//!   [`Request::keep_alive`], [`Request::is_upgrade_to`], [`Request::expects_continue`].
//! - **Bodies** (RFC 9112 §6-7): [`request_body_kind`] / [`response_body_kind`] decide the
//!   [`BodyKind`] and reject smuggling-prone heads (CL with TE, bad or conflicting lengths,
//!   codings other than a single final `chunked`); [`BodyDecoder`] decodes length, chunked
//!   and close-delimited bodies into [`BodyChunk`]s; [`encode_chunk`] /
//!   [`encode_last_chunk`]; [`CONTINUE_RESPONSE`] for `Expect: 100-continue`.
//! - **Encoding**: [`ResponseHead`] / [`RequestHead`] builders that refuse header injection,
//!   written by [`encode_response_head`] / [`encode_request_head`]; [`reason_phrase`].
//! - **tokio** (feature `tokio`, on by default): [`io`] reads heads and bodies from an
//!   `AsyncRead`, cancel-safely, deciding nothing itself.
//! - **Limits**: every bound lives in [`Limits`]; exceeding one is an [`Error`] whose
//!   [`Error::status`] is the answer (413, 414, 431), as is every syntax error (400),
//!   unsupported transfer coding (501) and version (505).
//! - [`entropy`]: OS-seeded random numbers for the other crates.
//!
//! Parsing a request and answering it:
//!
//! ```
//! use bytes::BytesMut;
//! use pushwire_http::{HeadParser, Limits, ResponseHead, Status, encode_response_head};
//!
//! let limits = Limits::default();
//! let mut parser = HeadParser::new(&limits);
//! let mut buf = BytesMut::from(&b"GET /poll?topic=news&since=0 HTTP/1.1\r\nHost: example.com\r\n\r\n"[..]);
//!
//! let Status::Complete((req, head_len)) = parser.parse_request(&buf)? else {
//!     unreachable!("the head is complete");
//! };
//! let _ = buf.split_to(head_len); // what remains is the body or the next request
//! assert_eq!(req.path(), "/poll");
//! assert_eq!(req.query_param("topic").as_deref(), Some("news"));
//! assert!(req.keep_alive());
//!
//! let body = br#"{"messages":[]}"#;
//! let head = ResponseHead::new(200)
//!     .header("Content-Type", "application/json")?
//!     .header("Content-Length", body.len().to_string())?;
//! let mut out = BytesMut::new();
//! encode_response_head(&head, &mut out)?;
//! out.extend_from_slice(body);
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"));
//!
//! // A bad request is an error that knows its status code.
//! let err = pushwire_http::parse_request(b"GET / HTTP/1.1\r\n\r\n", &limits).unwrap_err();
//! assert_eq!(err.status(), 400); // HTTP/1.1 without Host
//! # Ok::<(), pushwire_http::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod body;
#[cfg(feature = "http")]
pub mod bridge;
mod encode;
pub mod entropy;
mod error;
mod framing;
mod head;
mod headers;
#[cfg(feature = "tokio")]
pub mod io;
mod limits;
mod query;

pub use body::{
    BodyChunk, BodyDecoder, CONTINUE_RESPONSE, encode_chunk, encode_continue, encode_last_chunk,
};
pub use encode::{
    RequestHead, ResponseHead, encode_request_head, encode_response_head, reason_phrase,
};
pub use error::{CapacityError, Error, ProtocolError, UsageError};
pub use framing::{BodyKind, content_length, request_body_kind, response_body_kind};
pub use head::{
    HeadParser, Method, Request, RequestRef, Response, Status, Version, parse_request,
    parse_response,
};
pub use headers::Headers;
pub use limits::Limits;
pub use query::percent_decode;

/// The README's examples, compiled and run as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
