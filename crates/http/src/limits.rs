//! Every size and time bound of the HTTP/1.1 layer, in one place.

use std::time::Duration;

use crate::error::{Error, UsageError};

/// Limits applied while parsing heads and decoding bodies.
///
/// Every buffer the parser fills is bounded by one of these fields, so no peer can make a
/// connection's memory grow without bound. Each field names its default, its unit, the status
/// a peer gets when it is exceeded and the attack it stops.
///
/// ```
/// use pushwire_http::Limits;
/// let limits = Limits::default().with_max_body(64 * 1024);
/// assert!(limits.validate().is_ok());
/// assert_eq!(limits.max_head_bytes, 16 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest head (request/status line, header lines and the empty line), in bytes,
    /// counted on bytes *buffered*, however TCP splits them. Default 16 KiB (h11); over it:
    /// 431. Stops slowloris-style header floods from growing the read buffer. Memory: a
    /// connection reading a head buffers at most this plus one 4 KiB read, and the parsed
    /// head keeps one copy of at most this many bytes.
    pub max_head_bytes: usize,
    /// Most header fields in one head. Default 100 (hyper); over it: 431. Bounds the
    /// per-request header table (32 bytes per entry; up to 32 entries of the parser's
    /// scratch table live on the stack).
    pub max_headers: usize,
    /// Longest request-target, in bytes. Default 8 KiB; over it: 414. Stops huge URIs from
    /// reaching routers and logs. Memory: part of the head, no extra.
    pub max_uri_len: usize,
    /// Longest chunk extension (everything after the chunk size up to the line end), in
    /// bytes, summed over all chunks of a body. Default 4 KiB; over it: 400. Extensions are
    /// ignored, so this only stops a peer from streaming them forever (hyper #3495).
    /// Memory: none (extensions are counted, never stored).
    pub max_chunk_ext_bytes: usize,
    /// Largest trailer section of a chunked body, in bytes. Default 16 KiB; over it: 431.
    /// Trailers are discarded; the bound stops an endless trailer section. Memory: none
    /// (trailers are validated and counted, never stored).
    pub max_trailer_bytes: usize,
    /// Largest decoded body, in bytes. Default 1 MiB (the `/publish` limit); over it: 413.
    /// Checked on the declared length and on bytes decoded, so a lying chunk size cannot
    /// slip past it; `u64::MAX` disables it (for endless streams such as SSE responses).
    /// Memory: the decoder itself stores nothing; it bounds what a caller collecting the
    /// body (`io::read_body`) can accumulate.
    pub max_body: u64,
    /// Time a client has to send a complete request head. Default 30 s (hyper); over it:
    /// 408. Applied by the tokio shells (the sans-IO parser never reads a clock); stops
    /// slowloris. Memory: none here (one timer in the shell).
    pub head_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_len: 8 * 1024,
            max_chunk_ext_bytes: 4 * 1024,
            max_trailer_bytes: 16 * 1024,
            max_body: 1024 * 1024,
            head_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_head_bytes`].
    pub fn with_max_head_bytes(mut self, n: usize) -> Self {
        self.max_head_bytes = n;
        self
    }
    /// Sets [`Limits::max_headers`].
    pub fn with_max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }
    /// Sets [`Limits::max_uri_len`].
    pub fn with_max_uri_len(mut self, n: usize) -> Self {
        self.max_uri_len = n;
        self
    }
    /// Sets [`Limits::max_chunk_ext_bytes`].
    pub fn with_max_chunk_ext_bytes(mut self, n: usize) -> Self {
        self.max_chunk_ext_bytes = n;
        self
    }
    /// Sets [`Limits::max_trailer_bytes`].
    pub fn with_max_trailer_bytes(mut self, n: usize) -> Self {
        self.max_trailer_bytes = n;
        self
    }
    /// Sets [`Limits::max_body`].
    pub fn with_max_body(mut self, n: u64) -> Self {
        self.max_body = n;
        self
    }
    /// Sets [`Limits::head_timeout`].
    pub fn with_head_timeout(mut self, d: Duration) -> Self {
        self.head_timeout = d;
        self
    }

    /// Checks that the limits can admit at least a minimal message.
    ///
    /// Returns `Error::Usage(UsageError::InvalidLimit(field))` naming the first bad field:
    /// a head limit under 16 bytes cannot hold `GET / HTTP/1.1\r\n\r\n`, zero headers
    /// cannot hold the `Host` every HTTP/1.1 request needs, a zero URI length cannot hold
    /// `/`, and a zero head timeout would time out every connection at once. Zero is fine
    /// for the body, extension and trailer limits (it forbids them).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field| Err(Error::Usage(UsageError::InvalidLimit(field)));
        if self.max_head_bytes < 16 {
            return bad("max_head_bytes");
        }
        if self.max_headers == 0 {
            return bad("max_headers");
        }
        if self.max_uri_len == 0 {
            return bad("max_uri_len");
        }
        if self.head_timeout.is_zero() {
            return bad("head_timeout");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let l = Limits::default();
        assert!(l.validate().is_ok());
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_uri_len, 8192);
        assert_eq!(l.max_chunk_ext_bytes, 4096);
        assert_eq!(l.max_trailer_bytes, 16384);
        assert_eq!(l.max_body, 1 << 20);
        assert_eq!(l.head_timeout, Duration::from_secs(30));
    }

    #[test]
    fn validate_names_the_bad_field() {
        let e = Limits::default().with_max_head_bytes(3).validate();
        assert_eq!(
            e,
            Err(Error::Usage(UsageError::InvalidLimit("max_head_bytes")))
        );
        let e = Limits::default().with_max_headers(0).validate();
        assert_eq!(
            e,
            Err(Error::Usage(UsageError::InvalidLimit("max_headers")))
        );
        let e = Limits::default().with_max_uri_len(0).validate();
        assert_eq!(
            e,
            Err(Error::Usage(UsageError::InvalidLimit("max_uri_len")))
        );
        let e = Limits::default()
            .with_head_timeout(Duration::ZERO)
            .validate();
        assert_eq!(
            e,
            Err(Error::Usage(UsageError::InvalidLimit("head_timeout")))
        );
    }
}
