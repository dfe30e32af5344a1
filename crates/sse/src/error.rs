//! The crate's one error type.

use std::sync::Arc;

/// Everything that can go wrong in this crate.
///
/// `Display` is a lowercase phrase naming the broken rule; it never echoes the peer's bytes.
///
/// Which errors end what:
/// - [`Error::Capacity`] from the [`EventParser`](crate::EventParser) is *not* terminal: the
///   parser has already dropped the offending event block and resynchronises at the next
///   blank line (the block is lost, the stream goes on).
/// - [`Error::Usage`] is our caller's mistake (an `id` with a line break, a bad config) and
///   changes nothing.
/// - The client errors ([`Error::Status`], [`Error::ContentType`], ...) *fail* an
///   [`EventSource`](crate::client::EventSource) for good (WHATWG "fail the connection");
///   [`Error::Io`], [`Error::Http`] and [`Error::Timeout`] make it *reestablish* instead.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stream exceeded one of the [`Config`](crate::Config) limits.
    #[error(transparent)]
    Capacity(CapacityError),
    /// Our own caller misused the API.
    #[error(transparent)]
    Usage(UsageError),
    /// The URL is not an absolute `http://` / `https://` URL we can fetch (SSE-RULES 27).
    #[error("invalid event source url")]
    InvalidUrl,
    /// The URL's scheme has no connector (`https://` until TLS lands, issue 13).
    #[error("url scheme not supported by the connector")]
    UnsupportedScheme,
    /// The server answered a status other than 200 (SSE-RULES 34; 204 is the documented
    /// "stop reconnecting" signal). The connection is failed, never reestablished.
    #[error("event stream response status is not 200")]
    Status(u16),
    /// The response's Content-Type essence is not `text/event-stream` (SSE-RULES 35).
    #[error("event stream content type is not text/event-stream")]
    ContentType,
    /// More redirects than `ClientBuilder::max_redirects` (fetch allows 20).
    #[error("too many redirects")]
    TooManyRedirects,
    /// A redirect without a usable `Location`.
    #[error("redirect without a valid location")]
    BadRedirect,
    /// The response head or body framing broke HTTP/1.1 (pushwire-http's error).
    #[error("http framing error: {0}")]
    Http(pushwire_http::Error),
    /// Nothing arrived for the read-idle timeout, or a connect / response head took too long.
    #[error("timed out waiting for the server")]
    Timeout,
    /// Connecting, reading or writing failed.
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
    /// The connector refused the server itself (for TLS: a certificate that is untrusted,
    /// expired or for another host; see [`Connector::is_futile`](crate::client::Connector::is_futile)).
    /// Retrying would meet the same server, so the connection is failed, never reestablished
    /// (SSE-RULES 33: "the UA MAY fail instead if it knows retrying is futile").
    #[error("server refused by the connector: {0}")]
    Refused(Arc<std::io::Error>),
}

impl PartialEq for Error {
    /// I/O errors compare by [`std::io::ErrorKind`]; everything else structurally.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::Capacity(a), Error::Capacity(b)) => a == b,
            (Error::Usage(a), Error::Usage(b)) => a == b,
            (Error::InvalidUrl, Error::InvalidUrl)
            | (Error::UnsupportedScheme, Error::UnsupportedScheme)
            | (Error::ContentType, Error::ContentType)
            | (Error::TooManyRedirects, Error::TooManyRedirects)
            | (Error::BadRedirect, Error::BadRedirect)
            | (Error::Timeout, Error::Timeout) => true,
            (Error::Status(a), Error::Status(b)) => a == b,
            (Error::Http(a), Error::Http(b)) => a == b,
            (Error::Io(a), Error::Io(b)) | (Error::Refused(a), Error::Refused(b)) => {
                a.kind() == b.kind()
            }
            _ => false,
        }
    }
}

impl Error {
    /// Does the WHATWG processing model *fail* the connection on this error (no reconnect,
    /// readyState CLOSED), rather than reestablish it?
    ///
    /// ```
    /// use pushwire_sse::Error;
    /// assert!(Error::Status(204).is_fatal());
    /// assert!(!Error::Timeout.is_fatal());
    /// ```
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Error::Io(_) | Error::Http(_) | Error::Timeout | Error::Capacity(_)
        )
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
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

impl From<pushwire_http::Error> for Error {
    fn from(e: pushwire_http::Error) -> Self {
        Error::Http(e)
    }
}

/// Which [`Config`](crate::Config) limit an event stream exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// A line longer than `Config::max_line`.
    #[error("event stream line longer than the limit")]
    LineTooLong,
    /// An event whose data buffer grew past `Config::max_event_data`.
    #[error("event data larger than the limit")]
    EventDataTooLarge,
    /// An `id` value longer than `Config::max_id_len`.
    #[error("event id longer than the limit")]
    IdTooLong,
    /// An `event` value longer than `Config::max_event_type_len`.
    #[error("event type longer than the limit")]
    EventTypeTooLong,
}

/// How our own caller misused the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// An `id` to send contains CR or LF: it would end the field early (SSE-RULES 51).
    #[error("event id to send contains a line break")]
    IdLineBreak,
    /// An `id` to send contains NUL: parsers ignore such an id (SSE-RULES 17, 51).
    #[error("event id to send contains nul")]
    IdNul,
    /// An `event` type to send contains CR or LF (SSE-RULES 51).
    #[error("event type to send contains a line break")]
    EventTypeLineBreak,
    /// A `Last-Event-ID` to send contains CR, LF or NUL, or is not a valid header value
    /// (SSE-RULES 45).
    #[error("last event id to send is not a valid header value")]
    LastEventId,
    /// A header to send is invalid (name not a token, value with control bytes).
    #[error("header to send is invalid")]
    Header,
    /// [`Builder::connect`](crate::client::Builder::connect) was called outside a tokio
    /// runtime.
    #[error("no tokio runtime to run the event source on")]
    NoRuntime,
    /// A [`Config`](crate::Config) or retry policy field has an unusable value (named).
    #[error("invalid config: {0}")]
    InvalidConfig(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(std::mem::size_of::<Error>() <= 32);
    }

    #[test]
    fn display_is_lowercase_and_payload_free() {
        for e in [
            Error::Capacity(CapacityError::LineTooLong),
            Error::Usage(UsageError::IdNul),
            Error::Status(503),
            Error::ContentType,
        ] {
            let s = e.to_string();
            assert_eq!(s, s.to_lowercase());
            assert!(!s.contains("503"));
        }
    }

    #[test]
    fn fatal_split_follows_whatwg() {
        assert!(Error::Status(404).is_fatal());
        assert!(Error::ContentType.is_fatal());
        assert!(Error::UnsupportedScheme.is_fatal());
        assert!(!Error::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset)).is_fatal());
    }
}
