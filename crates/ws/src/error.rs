//! The crate's one error type, and the answer each error earns.
//!
//! Everything fallible in this crate returns [`Error`] or, where only one kind of failure is
//! possible, that kind alone: the handshake functions return a [`HandshakeError`] (each an
//! HTTP status, [`HandshakeError::status`]), `Config::validate` a [`ConfigError`] inside
//! [`Error::Usage`], `tls::TlsClient`'s constructors a `tls::TlsError`. Every kind converts
//! into [`Error`] with `?` and is one of its variants, so a caller matching precisely writes
//! `Error::Protocol(ProtocolError::UnmaskedFrame)` and a caller that does not care holds one
//! type. The kinds are separate enums (as in tungstenite) because each maps to one answer —
//! every [`ProtocolError`] is close 1002, every [`CapacityError`] 1009, every
//! [`HandshakeError`] an HTTP status, [`UsageError`] and `TlsError` nothing on the wire — so
//! [`Error::close_code`] and [`Error::status`] are decided per kind, not per variant.

use std::sync::Arc;

use crate::close::CloseCode;

/// Everything that can go wrong on a WebSocket connection.
///
/// Each variant knows what the peer should be told ([`Error::close_code`]). Errors returned by
/// the decoder and the [`Protocol`](crate::Protocol) are terminal: the connection keeps
/// returning the same error, after having queued a close frame with that code when the peer can
/// still be told. `Display` is a lowercase phrase naming the broken rule; it never echoes the
/// peer's bytes.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke a framing or close-handshake rule of RFC 6455 (close 1002).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A text message or close reason was not valid UTF-8 (close 1007, RFC 6455 §8.1).
    #[error("invalid utf-8 in text message or close reason")]
    InvalidUtf8,
    /// The peer exceeded one of the [`Config`](crate::Config) limits (close 1009).
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The application refused the peer for a policy reason (close 1008), e.g. a slow consumer.
    #[error("policy violation")]
    Policy,
    /// No frame arrived within the keep-alive ping interval plus the pong timeout: the peer or
    /// the path to it is dead. Nothing is sent; the transport is dropped (1006 locally).
    #[error("peer did not answer the keep-alive ping in time")]
    DeadPeer,
    /// The peer did not finish the close handshake within `Config::close_timeout`.
    #[error("close handshake not completed within the close timeout")]
    CloseTimeout,
    /// The transport ended without a close handshake (1006 locally, never on the wire).
    #[error("connection closed without a close frame")]
    AbnormalClosure,
    /// The opening handshake failed (an HTTP answer, not a close code).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// Our caller misused the API, e.g. sent after closing.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// An internal failure on our side (close 1011).
    #[error("internal error")]
    Internal,
    /// Reading or writing the transport failed (tokio shell only).
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
    /// The TLS handshake failed or the server's certificate was refused (feature `tls`,
    /// `tls::connect`).
    #[cfg(feature = "tls")]
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl Error {
    /// The close code to send the peer for this error, if one should be sent at all.
    ///
    /// `None` for failures where nothing can or should reach the peer (I/O, dead peer,
    /// timeouts, our own API misuse, handshake failures, which are HTTP answers). 1005 and
    /// 1006 are never returned: RFC 6455 §7.4.1 forbids them on the wire.
    ///
    /// ```
    /// use pushwire_ws::{CloseCode, Error, ProtocolError};
    /// assert_eq!(Error::from(ProtocolError::UnmaskedFrame).close_code(), Some(CloseCode::PROTOCOL_ERROR));
    /// assert_eq!(Error::InvalidUtf8.close_code(), Some(CloseCode::INVALID_PAYLOAD));
    /// ```
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(_) => Some(CloseCode::PROTOCOL_ERROR),
            Error::InvalidUtf8 => Some(CloseCode::INVALID_PAYLOAD),
            Error::Capacity(_) => Some(CloseCode::MESSAGE_TOO_BIG),
            Error::Policy => Some(CloseCode::POLICY_VIOLATION),
            Error::Internal => Some(CloseCode::INTERNAL_ERROR),
            Error::DeadPeer
            | Error::CloseTimeout
            | Error::AbnormalClosure
            | Error::Handshake(_)
            | Error::Usage(_)
            | Error::Io(_) => None,
            #[cfg(feature = "tls")]
            Error::Tls(_) => None,
        }
    }

    /// The HTTP status a server answered (or should answer) a failed opening handshake
    /// with ([`HandshakeError::status`]: 400, 403, 426, or the HTTP parser's status); `None`
    /// for every error after the handshake, which gets [`Error::close_code`] instead.
    ///
    /// ```
    /// use pushwire_ws::{Error, HandshakeError};
    /// assert_eq!(Error::from(HandshakeError::UnsupportedVersion).status(), Some(426));
    /// assert_eq!(Error::InvalidUtf8.status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Handshake(h) => Some(h.status()),
            _ => None,
        }
    }
}

impl PartialEq for Error {
    /// I/O errors compare by [`std::io::ErrorKind`]; everything else structurally.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::Protocol(a), Error::Protocol(b)) => a == b,
            (Error::Capacity(a), Error::Capacity(b)) => a == b,
            (Error::Handshake(a), Error::Handshake(b)) => a == b,
            (Error::Usage(a), Error::Usage(b)) => a == b,
            (Error::Io(a), Error::Io(b)) => a.kind() == b.kind(),
            #[cfg(feature = "tls")]
            (Error::Tls(a), Error::Tls(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

/// Which RFC 6455 rule the peer broke (all answered with close 1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Opcodes 0x3-0x7 and 0xB-0xF are reserved (RFC 6455 §5.2).
    #[error("reserved opcode")]
    ReservedOpcode,
    /// An RSV bit was set without an extension that defines it (RFC 6455 §5.2).
    #[error("reserved bit set without a negotiated extension")]
    ReservedBits,
    /// A client frame arrived unmasked (RFC 6455 §5.1: the server MUST close).
    #[error("unmasked frame from client")]
    UnmaskedFrame,
    /// A server frame arrived masked (RFC 6455 §5.1: the client MUST close).
    #[error("masked frame from server")]
    MaskedFrame,
    /// A 64-bit payload length with its most significant bit set (RFC 6455 §5.2).
    #[error("payload length with the most significant bit set")]
    LengthMsb,
    /// A control frame with more than 125 payload bytes (RFC 6455 §5.5).
    #[error("control frame payload over 125 bytes")]
    ControlTooLong,
    /// A control frame without FIN (RFC 6455 §5.5: control frames MUST NOT be fragmented).
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A continuation frame with no fragmented message to continue (RFC 6455 §5.4).
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (RFC 6455 §5.4).
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A close frame with a one-byte payload (RFC 6455 §5.5.1: a code is two bytes).
    #[error("close frame payload of one byte")]
    CloseTooShort,
    /// A close code that may not be sent on the wire (RFC 6455 §7.4).
    #[error("invalid close code")]
    InvalidCloseCode,
    /// A compressed message whose payload is not a valid DEFLATE stream (RFC 7692 §7.2.2).
    #[error("compressed message does not inflate")]
    BadDeflateStream,
}

/// Which limit the peer exceeded (all answered with close 1009).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// A frame announced a payload larger than `Config::max_frame`.
    #[error("frame larger than the frame size limit")]
    FrameTooBig,
    /// A message grew larger than `Config::max_message`.
    #[error("message larger than the message size limit")]
    MessageTooBig,
}

/// How our own caller misused the API (no close code: it is a bug on our side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// Sending after a close frame was sent or received (RFC 6455 §5.5.1).
    #[error("connection already closing or closed")]
    AlreadyClosed,
    /// A control frame (ping, pong, close) with more than 125 payload bytes, or a close
    /// reason over 123 bytes.
    #[error("control frame payload over 125 bytes")]
    ControlTooLong,
    /// A close code that may not be sent (1005, 1006, 1015 and unassigned codes).
    #[error("close code not allowed on the wire")]
    InvalidCloseCode,
    /// A shared pre-encoded frame is unmasked, so only a server may send it.
    #[error("a client cannot send a shared unmasked frame")]
    SharedFrameFromClient,
    /// A compressed shared frame for a connection that did not negotiate permessage-deflate
    /// with `server_no_context_takeover` and a 15-bit window.
    #[error("compressed shared frame without compatible permessage-deflate")]
    SharedFrameNotNegotiated,
    /// An invalid [`Config`](crate::Config).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The URL is not `ws://host[:port][/path]`.
    #[error("invalid websocket url")]
    InvalidUrl,
    /// `wss://` needs TLS, which this crate does not provide yet.
    #[error("wss:// (tls) is not supported yet")]
    TlsUnsupported,
    /// A frame that is being received in parts was asked for whole, or a frame of ours was
    /// started or interrupted while one sent in parts is unfinished.
    #[error("frame in parts unfinished")]
    FrameInParts,
}

/// Why a [`Config`](crate::Config) is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A size limit is zero.
    #[error("size limit must not be zero")]
    ZeroLimit,
    /// `max_frame` is larger than `max_message`.
    #[error("max_frame must not exceed max_message")]
    FrameOverMessage,
    /// A duration is zero.
    #[error("timeout must not be zero")]
    ZeroTimeout,
    /// The deflate compression level is over 9.
    #[error("deflate level must be 0 to 9")]
    DeflateLevel,
}

/// Why an opening handshake failed. Server-side variants map to the HTTP status to answer
/// ([`HandshakeError::status`]); client-side variants describe what the server got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request method is not GET (RFC 6455 §4.2.1 item 1).
    #[error("websocket handshake requires get")]
    Method,
    /// The request is not HTTP/1.1 or later (RFC 6455 §4.2.1 item 1).
    #[error("websocket handshake requires http/1.1")]
    Version,
    /// No `Host` header (RFC 6455 §4.2.1 item 2).
    #[error("missing host header")]
    MissingHost,
    /// `Upgrade` does not contain `websocket` (RFC 6455 §4.2.1 item 3).
    #[error("upgrade header does not name websocket")]
    Upgrade,
    /// `Connection` does not contain `upgrade` (RFC 6455 §4.2.1 item 4).
    #[error("connection header does not contain upgrade")]
    Connection,
    /// `Sec-WebSocket-Key` missing, repeated, or not base64 of 16 bytes (RFC 6455 §4.2.1 item 5).
    #[error("missing or malformed sec-websocket-key")]
    Key,
    /// `Sec-WebSocket-Version` is not 13 (RFC 6455 §4.2.2: answer 426 with the version).
    #[error("unsupported sec-websocket-version")]
    UnsupportedVersion,
    /// The caller's origin policy refused the request (403).
    #[error("origin not allowed")]
    Forbidden,
    /// The request head itself was malformed (the HTTP parser's status).
    #[error("malformed http request head")]
    Http(u16),
    /// The server answered something other than 101 (client side).
    #[error("server answered with status {0} instead of 101")]
    Status(u16),
    /// The server's 101 lacks `Sec-WebSocket-Accept` or it does not match our key.
    #[error("missing or wrong sec-websocket-accept")]
    Accept,
    /// The server selected a subprotocol we did not offer, or sent several.
    #[error("server selected a subprotocol that was not offered")]
    Subprotocol,
    /// The server accepted an extension we did not offer (RFC 6455 §4.1).
    #[error("server accepted an extension that was not offered")]
    Extension,
    /// A `Sec-WebSocket-Extensions` field breaks the RFC 6455 §9.1 grammar
    /// (`deflate::parse_extensions`). A client fails the connection on it (RFC 6455 §4.1); a
    /// server declines every offer instead of answering 400 (RFC 7692 §5).
    #[error("malformed sec-websocket-extensions header")]
    MalformedExtensions,
    /// The connection ended before a complete response head arrived.
    #[error("connection closed during the handshake")]
    Eof,
}

impl HandshakeError {
    /// The HTTP status a server answers this failure with: 400, 403 or 426.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::Forbidden => 403,
            HandshakeError::Http(s) => *s,
            _ => 400,
        }
    }
}
