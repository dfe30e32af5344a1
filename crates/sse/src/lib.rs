//! Server-Sent Events as the WHATWG HTML standard defines them (§9.2).
//!
//! - Server side ([`Event`], [`comment`], [`keep_alive`], [`retry_hint`]): events encoded once
//!   into [`bytes::Bytes`], with every field checked so it survives the trip.
//! - Client side ([`EventParser`]): the standard's "interpret an event stream", incremental,
//!   exact under any chunking, linear time, bounded by [`Config`].
//! - [`client::EventSource`]: a reconnecting EventSource over tokio (`http://`; TLS plugs in
//!   through [`client::Connector`]).
//!
//! Rule numbers in the docs refer to `SSE-RULES.md`, a numbered restatement of the standard.
//!
//! ```
//! use pushwire_sse::{Event, EventParser, Item};
//!
//! // Server: encode once, send the same bytes to every subscriber.
//! let wire = Event::new("two\nlines").with_id("42")?.to_bytes();
//!
//! // Client: feed whatever chunks arrive, pull what the stream said.
//! let mut parser = EventParser::new();
//! for chunk in wire.chunks(3) {
//!     parser.feed(chunk);
//! }
//! let Some(Item::Event(ev)) = parser.next_item()? else { panic!() };
//! assert_eq!((&*ev.event_type, ev.data.as_str(), &*ev.last_event_id), ("message", "two\nlines", "42"));
//! # Ok::<(), pushwire_sse::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

#[cfg(any(feature = "stream", feature = "http-body", feature = "codec"))]
pub mod bridge;
pub mod client;
mod config;
mod encoder;
mod error;
mod parser;

pub use config::Config;
pub use encoder::{Event, RESPONSE_HEADERS, comment, keep_alive, response_head, retry_hint};
pub use error::{CapacityError, Error, UsageError};
pub use parser::{EventParser, Item, ItemRef, MessageEvent};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
