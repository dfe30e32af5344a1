//! # pushwire
//!
//! Server push over HTTP/1.1, written from scratch: the four ways a server tells a browser
//! something new, side by side. This facade re-exports the codec crates; depend on one of
//! them directly if you need only that protocol.
//!
//! | crate | what |
//! |---|---|
//! | [`http`] | HTTP/1.1 heads and body framing, sans-IO |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use pushwire_http as http;
