//! Sans-IO HTTP/1.1 message framing (RFC 9112) for pushwire (under construction).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod entropy;
