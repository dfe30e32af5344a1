//! Every bound of a topic log and of poll requests, with its default.

use std::time::Duration;

use crate::error::Error;

/// Limits of one topic log and of the poll requests that read it.
///
/// Each field names its default, its unit and what it stops. Build with
/// `Config::default()` and the `with_*` setters, then [`Config::validate`].
///
/// ```
/// use pushwire_poll::Config;
/// let cfg = Config::default().with_history(100);
/// assert!(cfg.validate().is_ok());
/// assert_eq!(cfg.default_timeout.as_millis(), 25_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Most messages a topic retains (the server's `--history N`). Default 1024 (DESIGN.md);
    /// at least 1. Older messages are evicted first; a cursor pointing before them gets
    /// `missed: true`. Bounds each topic's memory together with `history_bytes`.
    pub history: usize,
    /// Most payload bytes a topic retains. Default 8 MiB. Oldest messages are evicted first;
    /// the newest message is always kept even if it alone exceeds this, so a long poll woken
    /// by it can read it (its size is bounded by the publish limit, 1 MiB). Stops a stream
    /// of large publishes from growing a topic to `history` x 1 MiB.
    pub history_bytes: usize,
    /// Most messages in one response (the `max` query parameter is clamped to it; absent, it
    /// is used). Default 1024, so `since=0` returns a whole default history. At least 1.
    pub max_batch: usize,
    /// Most payload bytes in one response, default 4 MiB. A batch stops before the message
    /// that would pass it, but always carries at least one message so every client makes
    /// progress. Stops one request from building a response as big as the whole history.
    /// The JSON body is then at most about 6 x this (a control byte escapes to `\u00XX`;
    /// base64 adds a third) plus some 60 bytes per message.
    pub max_batch_bytes: usize,
    /// Long-poll hold time when the request names no `timeout`. Default 25 s: under the
    /// common 30 s idle limit of proxies and load balancers.
    pub default_timeout: Duration,
    /// Longest long-poll hold a client may ask for; larger `timeout`s are clamped to it.
    /// Default 120 s. Stops clients from pinning a request (and its slot) for hours.
    pub max_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history: 1024,
            history_bytes: 8 * 1024 * 1024,
            max_batch: 1024,
            max_batch_bytes: 4 * 1024 * 1024,
            default_timeout: Duration::from_millis(25_000),
            max_timeout: Duration::from_millis(120_000),
        }
    }
}

impl Config {
    /// Sets [`Config::history`].
    pub fn with_history(mut self, n: usize) -> Self {
        self.history = n;
        self
    }
    /// Sets [`Config::history_bytes`].
    pub fn with_history_bytes(mut self, n: usize) -> Self {
        self.history_bytes = n;
        self
    }
    /// Sets [`Config::max_batch`].
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// Sets [`Config::max_batch_bytes`].
    pub fn with_max_batch_bytes(mut self, n: usize) -> Self {
        self.max_batch_bytes = n;
        self
    }
    /// Sets [`Config::default_timeout`].
    pub fn with_default_timeout(mut self, d: Duration) -> Self {
        self.default_timeout = d;
        self
    }
    /// Sets [`Config::max_timeout`].
    pub fn with_max_timeout(mut self, d: Duration) -> Self {
        self.max_timeout = d;
        self
    }

    /// Checks the fields can work together; `Err(Error::Config(field))` names the first bad
    /// one. A zero `history` or `max_batch` could never deliver anything, and a default
    /// timeout above the maximum would contradict itself.
    pub fn validate(&self) -> Result<(), Error> {
        if self.history == 0 {
            return Err(Error::Config("history"));
        }
        if self.max_batch == 0 {
            return Err(Error::Config("max_batch"));
        }
        if self.default_timeout > self.max_timeout {
            return Err(Error::Config("default_timeout"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_values() {
        let c = Config::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.history, 1024);
        assert_eq!(c.history_bytes, 8 << 20);
        assert_eq!(c.max_batch, 1024);
        assert_eq!(c.max_batch_bytes, 4 << 20);
        assert_eq!(c.default_timeout, Duration::from_secs(25));
        assert_eq!(c.max_timeout, Duration::from_secs(120));
    }

    #[test]
    fn validate_names_the_bad_field() {
        let c = Config::default();
        assert_eq!(
            c.clone().with_history(0).validate(),
            Err(Error::Config("history"))
        );
        assert_eq!(
            c.clone().with_max_batch(0).validate(),
            Err(Error::Config("max_batch"))
        );
        assert_eq!(
            c.with_default_timeout(Duration::from_secs(200)).validate(),
            Err(Error::Config("default_timeout"))
        );
    }
}
