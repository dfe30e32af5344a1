//! RFC 6455 WebSocket: sans-IO handshake, frame codec and message layer, with a thin tokio shell. (under construction).
#![deny(missing_docs)]
