//! Bounds on what an event stream may make the parser buffer.

use crate::error::{Error, UsageError};

/// Limits applied by the [`EventParser`](crate::EventParser) (and so by the client).
///
/// The WHATWG parser has no limits: a hostile or broken server could grow a client's memory
/// without bound with one endless line or one endless event. Each limit below caps one
/// buffer; exceeding it yields a [`CapacityError`](crate::CapacityError), the current event
/// block is dropped and parsing resumes after the next blank line. Defaults are generous: a
/// 1 MiB event goes through. Worst-case parser memory is about `max_line + max_event_data`
/// plus the caller's largest chunk.
///
/// ```
/// use pushwire_sse::Config;
/// let cfg = Config::default().with_max_line(16 * 1024).with_max_event_data(64 * 1024);
/// assert!(cfg.validate().is_ok());
/// assert_eq!(cfg.max_id_len, 4 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Longest line, in bytes of decoded text (an invalid byte counts as the 3 bytes of
    /// U+FFFD), without its line end, counted on what is buffered however the input is
    /// chunked. Default 2 MiB. Stops one endless line (no CR/LF ever) from growing
    /// the line buffer; the line is dropped as it streams, so memory stays at the limit.
    pub max_line: usize,
    /// Largest data buffer of one event, in bytes (the `data` values plus one LF per `data`
    /// line). Default 4 MiB. Stops an endless run of `data:` lines without a blank line.
    pub max_event_data: usize,
    /// Longest `id` value, in bytes. Default 4 KiB. The id is kept for the stream's life and
    /// sent back as `Last-Event-ID`, so it must also fit a request head.
    pub max_id_len: usize,
    /// Longest `event` value, in bytes. Default 4 KiB. Bounds the event type buffer.
    pub max_event_type_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: 2 * 1024 * 1024,
            max_event_data: 4 * 1024 * 1024,
            max_id_len: 4 * 1024,
            max_event_type_len: 4 * 1024,
        }
    }
}

impl Config {
    /// Sets [`Config::max_line`].
    pub fn with_max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Sets [`Config::max_event_data`].
    pub fn with_max_event_data(mut self, bytes: usize) -> Self {
        self.max_event_data = bytes;
        self
    }

    /// Sets [`Config::max_id_len`].
    pub fn with_max_id_len(mut self, bytes: usize) -> Self {
        self.max_id_len = bytes;
        self
    }

    /// Sets [`Config::max_event_type_len`].
    pub fn with_max_event_type_len(mut self, bytes: usize) -> Self {
        self.max_event_type_len = bytes;
        self
    }

    /// Checks that every limit is usable: all non-zero, and a `data:` line of `max_line`
    /// bytes can be stored (`max_event_data` is not smaller than `max_line`), so that the line
    /// limit, not the data limit, reports an over-long line.
    ///
    /// ```
    /// use pushwire_sse::Config;
    /// assert!(Config::default().with_max_line(0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |name| Err(Error::Usage(UsageError::InvalidConfig(name)));
        if self.max_line == 0 {
            return bad("max_line must be positive");
        }
        if self.max_event_data < self.max_line {
            return bad("max_event_data must be at least max_line");
        }
        if self.max_id_len == 0 {
            return bad("max_id_len must be positive");
        }
        if self.max_event_type_len == 0 {
            return bad("max_event_type_len must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_match_docs() {
        let c = Config::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.max_event_data, 4 << 20);
        assert_eq!(c.max_id_len, 4096);
        assert_eq!(c.max_event_type_len, 4096);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let e = Config::default().with_max_event_data(1).validate();
        assert!(
            matches!(e, Err(Error::Usage(UsageError::InvalidConfig(m))) if m.contains("max_event_data"))
        );
        assert!(Config::default().with_max_id_len(0).validate().is_err());
        assert!(
            Config::default()
                .with_max_event_type_len(0)
                .validate()
                .is_err()
        );
    }
}
