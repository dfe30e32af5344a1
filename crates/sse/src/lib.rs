//! Server-Sent Events: encoder, WHATWG-exact incremental parser and a reconnecting EventSource client. (under construction).
#![deny(missing_docs)]
