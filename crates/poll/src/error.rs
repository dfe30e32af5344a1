//! The crate's one error type, and the HTTP status each error earns.

/// Everything that can go wrong in this crate.
///
/// Each variant knows its HTTP answer ([`Error::status`]);
/// [`json::encode_error`](crate::json::encode_error) turns it into the `{"error":"..."}` body. `Display` is a
/// lowercase phrase naming the broken rule and never echoes the client's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed `since` / `Last-Event-ID` cursor (400).
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// A malformed query parameter other than the cursor (400).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A cross-origin request from an origin that is not allowed (403).
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// Our caller built an unusable [`Config`](crate::Config) (the field is named; 500).
    #[error("invalid config: {0}")]
    Config(&'static str),
}

impl Error {
    /// The HTTP status to answer with.
    ///
    /// ```
    /// use pushwire_poll::{Cursor, Error};
    /// let e: Error = Cursor::parse(Some("nope")).unwrap_err().into();
    /// assert_eq!(e.status(), 400);
    /// assert_eq!(Error::OriginNotAllowed.status(), 403);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Error::Cursor(_) | Error::Query(_) => 400,
            Error::OriginNotAllowed => 403,
            Error::Config(_) => 500,
        }
    }
}

/// How a cursor (`since`, `Last-Event-ID`) is malformed. All answered with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The value is empty (`since=`).
    #[error("malformed cursor: empty")]
    Empty,
    /// Neither `0` nor `EPOCH-SEQ`.
    #[error("malformed cursor: expected 0 or EPOCH-SEQ")]
    Syntax,
    /// The epoch is not 1 to 16 ASCII letters or digits.
    #[error("malformed cursor: bad epoch")]
    Epoch,
    /// The sequence number is not a canonical decimal u64.
    #[error("malformed cursor: bad sequence number")]
    Sequence,
}

/// Which query parameter of a poll request is malformed. All answered with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// `topic` does not match `[A-Za-z0-9_.:-]{1,128}`.
    #[error("invalid topic name")]
    Topic,
    /// `timeout` is not a non-negative decimal number of milliseconds.
    #[error("invalid timeout: expected milliseconds as a decimal number")]
    Timeout,
    /// `max` is not a decimal number of at least 1.
    #[error("invalid max: expected a decimal number of at least 1")]
    Max,
    /// The query string has a bad percent-escape or a value that is not UTF-8.
    #[error("invalid query string encoding")]
    Encoding,
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
    fn statuses_and_lowercase_display() {
        assert_eq!(Error::Cursor(CursorError::Syntax).status(), 400);
        assert_eq!(Error::Query(QueryError::Timeout).status(), 400);
        assert_eq!(Error::Config("history").status(), 500);
        for e in [
            Error::Cursor(CursorError::Empty),
            Error::Query(QueryError::Topic),
            Error::OriginNotAllowed,
        ] {
            let s = e.to_string();
            assert_eq!(s, s.to_lowercase(), "{s}");
        }
    }
}
