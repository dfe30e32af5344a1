//! permessage-deflate (RFC 7692), feature `deflate`: negotiation, compression of outgoing
//! messages and bounded, incremental inflation of incoming ones.
//!
//! DEFLATE itself comes from `flate2` on its `zlib-rs` backend (the only pure-Rust backend
//! that takes window sizes below 15 bits, which `server_max_window_bits` /
//! `client_max_window_bits` need, and faster than miniz_oxide in our measurements, see the
//! README). Everything else is ours.
//!
//! Memory: without context takeover (the default in both directions) no zlib context lives
//! between messages. Compressors and decompressors come from a small per-thread pool and go
//! back to it at the end of each message, so an idle connection holds none. With context
//! takeover (by configuration) the connection keeps its own, at several hundred KiB each.
//!
//! ```
//! use bytes::BytesMut;
//! use pushwire_ws::{Config, Message, Protocol, deflate::DeflateParams, frame::Role};
//! let mut client = Protocol::new(Role::Client, &Config::default());
//! let mut server = Protocol::new(Role::Server, &Config::default());
//! client.set_deflate(DeflateParams::default());
//! server.set_deflate(DeflateParams::default());
//! let json = "{\"topic\":\"prices\",\"value\":42}".repeat(8);
//! let mut wire = BytesMut::new();
//! client.send(&Message::text(json.as_str()), &mut wire)?;
//! assert!(wire.len() < json.len() / 2); // compressed, RSV1 set
//! assert_eq!(server.receive(&mut wire)?, Some(Message::text(json.as_str())));
//! # Ok::<(), pushwire_ws::Error>(())
//! ```

mod codec;
mod extensions;
mod negotiate;

pub use codec::compress_message;
pub(crate) use codec::{Deflater, Inflater};
pub use extensions::{Extension, MAX_EXTENSIONS, MAX_PARAMS, parse_extensions};
pub use negotiate::{NAME, client_offer, negotiate_server, verify_client};

/// What this endpoint offers or accepts, and how it compresses. Part of
/// [`Config`](crate::Config) (`cfg.deflate`).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `enabled` | true | offer (client) / accept (server) permessage-deflate |
/// | `threshold` | 64 bytes | smaller messages are sent uncompressed (a deflate block costs more than it saves) |
/// | `level` | 6 | zlib level 0-9 (CPU against ratio) |
/// | `own_context_takeover` | false | keep our compressor between messages (better ratio, ~300 KiB per connection) |
/// | `peer_context_takeover` | false | let the peer keep its compressor; we then keep a decompressor (~40 KiB per connection) |
///
/// The inflated size of a message is bounded by `Config::max_message` (close 1009), however
/// small the compressed frames: a compression bomb costs at most that much memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) permessage-deflate. Default true.
    pub enabled: bool,
    /// Messages shorter than this many bytes are sent uncompressed. Default 64.
    pub threshold: usize,
    /// zlib compression level, 0 (stored) to 9. Default 6.
    pub level: u32,
    /// Keep our compressor's context (its 32 KiB window of past messages) between messages.
    /// Default false: the server answers `server_no_context_takeover` (a client offers
    /// `client_no_context_takeover`), so no compressor lives between messages and a
    /// broadcast can be compressed once for every receiver.
    pub own_context_takeover: bool,
    /// Let the peer keep its compressor's context. Default false: the server answers
    /// `client_no_context_takeover` (a client first offers `server_no_context_takeover`),
    /// so no decompressor lives between messages either.
    pub peer_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            threshold: 64,
            level: 6,
            own_context_takeover: false,
            peer_context_takeover: false,
        }
    }
}

/// The agreed parameters of one connection (RFC 7692 §7.1), as the server answered them.
/// `Default` is what pushwire's server answers: no context takeover either way, 15-bit
/// windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window is at most 2^this bytes (8-15).
    pub server_max_window_bits: u8,
    /// The client's LZ77 window is at most 2^this bytes (8-15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// Does the sender in `role` reset its compressor after each message, and with what
    /// window? `(no_context_takeover, max_window_bits)`.
    pub fn sender(&self, role: crate::frame::Role) -> (bool, u8) {
        match role {
            crate::frame::Role::Server => {
                (self.server_no_context_takeover, self.server_max_window_bits)
            }
            crate::frame::Role::Client => {
                (self.client_no_context_takeover, self.client_max_window_bits)
            }
        }
    }
}

#[cfg(test)]
mod tests;
