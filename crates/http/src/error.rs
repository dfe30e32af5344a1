//! The crate's one error type, and the status code each error earns.

use std::sync::Arc;

/// Everything that can go wrong in this crate.
///
/// Each variant knows what the peer should be told ([`Error::status`]). Decode errors are
/// terminal: the parser or decoder that returned one keeps returning it, and the connection
/// should be answered (if no response byte went out yet) and closed. `Display` is a lowercase
/// phrase naming the broken rule; it never echoes the peer's bytes.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the HTTP/1.1 syntax or framing rules (400).
    #[error(transparent)]
    Protocol(ProtocolError),
    /// The peer exceeded one of the [`Limits`](crate::Limits) (413, 414 or 431).
    #[error(transparent)]
    Capacity(CapacityError),
    /// The request head did not arrive within `Limits::head_timeout` (408). Raised by the
    /// shells, which own the clock.
    #[error("request head not received within the head timeout")]
    HeadTimeout,
    /// A request used a transfer coding other than a final `chunked` (501, RFC 9112 §6.1).
    #[error("transfer coding not implemented")]
    UnsupportedTransferCoding,
    /// A well-formed HTTP version other than 1.0 or 1.1 (505).
    #[error("http version not supported")]
    UnsupportedVersion,
    /// Our own caller misused the API, e.g. tried to encode a header value containing CR/LF
    /// (500: a bug on our side, not the peer's).
    #[error(transparent)]
    Usage(UsageError),
    /// Reading or writing the transport failed (tokio helpers only).
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
}

impl Error {
    /// The status code to answer the peer with.
    ///
    /// ```
    /// use pushwire_http::{CapacityError, Error, ProtocolError};
    /// assert_eq!(Error::Capacity(CapacityError::UriTooLong).status(), 414);
    /// assert_eq!(Error::Protocol(ProtocolError::MissingHost).status(), 400);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Error::Protocol(_) => 400,
            Error::Capacity(c) => c.status(),
            Error::HeadTimeout => 408,
            Error::UnsupportedTransferCoding => 501,
            Error::UnsupportedVersion => 505,
            Error::Usage(_) | Error::Io(_) => 500,
        }
    }
}

impl PartialEq for Error {
    /// I/O errors compare by [`std::io::ErrorKind`]; everything else structurally.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::Protocol(a), Error::Protocol(b)) => a == b,
            (Error::Capacity(a), Error::Capacity(b)) => a == b,
            (Error::HeadTimeout, Error::HeadTimeout) => true,
            (Error::UnsupportedTransferCoding, Error::UnsupportedTransferCoding) => true,
            (Error::UnsupportedVersion, Error::UnsupportedVersion) => true,
            (Error::Usage(a), Error::Usage(b)) => a == b,
            (Error::Io(a), Error::Io(b)) => a.kind() == b.kind(),
            _ => false,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<CapacityError> for Error {
    fn from(e: CapacityError) -> Self {
        Error::Capacity(e)
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

/// Which syntax or framing rule the peer broke (all answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The method is not a token (RFC 9110 §9.1).
    #[error("invalid request method")]
    Method,
    /// The request-target contains bytes a URI may not (RFC 9112 §3.2).
    #[error("invalid request target")]
    Target,
    /// The HTTP-version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3).
    #[error("malformed http version")]
    Version,
    /// The status line's code is not three digits or its reason phrase is invalid.
    #[error("malformed status line")]
    StatusLine,
    /// A field name is not a token (RFC 9110 §5.1).
    #[error("invalid header field name")]
    HeaderName,
    /// A field value contains a forbidden byte such as NUL or a bare CR (RFC 9110 §5.5).
    #[error("invalid header field value")]
    HeaderValue,
    /// Whitespace between a field name and the colon (RFC 9112 §5.1: MUST be rejected).
    #[error("whitespace between header field name and colon")]
    WhitespaceBeforeColon,
    /// A header line starts with whitespace: obsolete line folding (RFC 9112 §5.2).
    #[error("obsolete line folding in header")]
    ObsFold,
    /// A CR not followed by LF, or another broken line ending (RFC 9112 §2.2).
    #[error("invalid line ending")]
    LineEnding,
    /// An HTTP/1.1 request without a `Host` header (RFC 9112 §3.2).
    #[error("missing host header")]
    MissingHost,
    /// A request with more than one `Host` header (RFC 9112 §3.2).
    #[error("more than one host header")]
    DuplicateHost,
    /// A `Host` value that is not a valid `uri-host [":" port]` (RFC 9112 §3.2).
    #[error("invalid host header")]
    InvalidHost,
    /// A `Content-Length` that is not a decimal number that fits in 64 bits (RFC 9112 §6.3).
    #[error("invalid content-length")]
    InvalidContentLength,
    /// Several `Content-Length` values that differ (RFC 9112 §6.3).
    #[error("conflicting content-length values")]
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` on a request (RFC 9112 §6.3: a
    /// request smuggling vector).
    #[error("content-length together with transfer-encoding")]
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` in which `chunked` is not the final coding, appears twice, or is
    /// empty (RFC 9112 §6.3), or any `Transfer-Encoding` on an HTTP/1.0 message (§6.1).
    #[error("invalid transfer-encoding")]
    InvalidTransferEncoding,
    /// A chunk size that is missing, not hex, longer than 16 digits or overflowing
    /// (RFC 9112 §7.1).
    #[error("invalid chunk size")]
    ChunkSize,
    /// A chunk extension with a forbidden byte (RFC 9112 §7.1.1).
    #[error("invalid chunk extension")]
    ChunkExtension,
    /// Chunk data not followed by exactly CRLF (RFC 9112 §7.1; h11 GHSA-vqfr-h8mv-ghfj).
    #[error("chunk data not followed by crlf")]
    ChunkDataEnd,
    /// A malformed trailer field (RFC 9112 §7.1.2).
    #[error("invalid trailer section")]
    Trailer,
    /// The connection closed before the message was complete.
    #[error("connection closed before the message was complete")]
    UnexpectedEof,
}

/// Which limit the peer exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// The head exceeded `Limits::max_head_bytes` (431).
    #[error("request head larger than the limit")]
    HeadTooLarge,
    /// The head had more than `Limits::max_headers` fields (431).
    #[error("more header fields than the limit")]
    TooManyHeaders,
    /// The request-target exceeded `Limits::max_uri_len` (414).
    #[error("request target longer than the limit")]
    UriTooLong,
    /// The body exceeded `Limits::max_body` (413).
    #[error("body larger than the limit")]
    BodyTooLarge,
    /// Chunk extensions exceeded `Limits::max_chunk_ext_bytes` (400).
    #[error("chunk extensions longer than the limit")]
    ChunkExtensionTooLong,
    /// The trailer section exceeded `Limits::max_trailer_bytes` (431).
    #[error("trailer section larger than the limit")]
    TrailersTooLarge,
}

impl CapacityError {
    /// The status code for this limit.
    pub fn status(self) -> u16 {
        match self {
            CapacityError::HeadTooLarge
            | CapacityError::TooManyHeaders
            | CapacityError::TrailersTooLarge => 431,
            CapacityError::UriTooLong => 414,
            CapacityError::BodyTooLarge => 413,
            CapacityError::ChunkExtensionTooLong => 400,
        }
    }
}

/// How our own caller misused the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A header name to send is not a token.
    #[error("header name to send is not a token")]
    InvalidHeaderName,
    /// A header value to send contains CR, LF, NUL or another control byte.
    #[error("header value to send contains a control byte")]
    InvalidHeaderValue,
    /// A status code to send is outside 100..=999.
    #[error("status code to send is not three digits")]
    InvalidStatus,
    /// A reason phrase to send contains a control byte.
    #[error("reason phrase to send contains a control byte")]
    InvalidReason,
    /// A method to send is not a token.
    #[error("method to send is not a token")]
    InvalidMethod,
    /// A request-target to send is empty or contains whitespace or control bytes.
    #[error("request target to send is invalid")]
    InvalidTarget,
    /// A [`Limits`](crate::Limits) field has an unusable value (the field is named).
    #[error("invalid limit: {0}")]
    InvalidLimit(&'static str),
    /// A body encoder or decoder was used after it finished or failed.
    #[error("body coder used after its end")]
    BodyFinished,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(std::mem::size_of::<Error>() <= 24);
    }

    #[test]
    fn statuses() {
        assert_eq!(Error::HeadTimeout.status(), 408);
        assert_eq!(Error::UnsupportedTransferCoding.status(), 501);
        assert_eq!(Error::UnsupportedVersion.status(), 505);
        assert_eq!(Error::Capacity(CapacityError::BodyTooLarge).status(), 413);
        assert_eq!(Error::Capacity(CapacityError::HeadTooLarge).status(), 431);
        assert_eq!(Error::Capacity(CapacityError::TooManyHeaders).status(), 431);
        assert_eq!(Error::Usage(UsageError::InvalidHeaderName).status(), 500);
    }

    #[test]
    fn display_is_lowercase_phrase() {
        let e = Error::Protocol(ProtocolError::ObsFold);
        assert_eq!(e.to_string(), "obsolete line folding in header");
    }
}
