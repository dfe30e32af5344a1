//! The pushwire server: one hub, four transports (WebSocket, SSE, long and short polling) on a raw tokio listener. (under construction).
#![deny(missing_docs)]
