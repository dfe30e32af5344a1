//! Limits and timers of one WebSocket connection.

use std::time::Duration;

use crate::error::{ConfigError, Error, UsageError};

/// Limits and timers of one connection. Every buffer the connection can fill is bounded here.
///
/// | field | default | unit | stops |
/// |---|---|---|---|
/// | `max_frame` | 16 MiB | payload bytes per frame | a header announcing gigabytes (close 1009 before buffering) |
/// | `max_message` | 64 MiB | bytes per reassembled message | endless fragments (close 1009) |
/// | `read_buffer` | 8 KiB | bytes per read | oversized idle buffers; released when idle |
/// | `write_high_water` | 64 KiB | queued outgoing bytes | a peer that never reads (senders wait) |
/// | `close_timeout` | 5 s | | a peer that never answers our close |
/// | `ping_interval` | off | | half-open connections (keep-alive pings when silent) |
/// | `pong_timeout` | 30 s | | a dead peer that never answers the keep-alive ping |
/// | `deflate` (feature `deflate`) | on, no context takeover | | see `deflate::DeflateConfig`; inflated sizes count against `max_message` |
///
/// ```
/// use pushwire_ws::Config;
/// let cfg = Config::default().with_max_message(1 << 20).with_max_frame(1 << 20);
/// cfg.validate()?;
/// # Ok::<(), pushwire_ws::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted, in bytes. Default 16 MiB (tungstenite's; Autobahn 9.x
    /// sends 16 MiB frames). Checked on the frame header, before any payload is buffered, so
    /// a header announcing 2^63 bytes costs nothing. Over it: close 1009.
    pub max_frame: usize,
    /// Largest reassembled message, in bytes. Default 64 MiB. Stops a peer that sends an
    /// endless fragmented message; checked on each frame header. Over it: close 1009. This is
    /// also the most a connection can buffer for one message.
    pub max_message: usize,
    /// Bytes reserved for one read from the transport. Default 8 KiB. The read buffer is
    /// taken on demand and released while the connection is idle, so an idle connection
    /// holds no read buffer; a busy one holds about this much plus the frame being received.
    pub read_buffer: usize,
    /// Outgoing bytes queued before senders wait for the socket to drain. Default 64 KiB.
    /// Stops a peer that never reads from making us buffer without bound: `feed`/`send`
    /// wait (backpressure). The queue is released once written.
    pub write_high_water: usize,
    /// How long to wait for the peer's answer to our close frame, and for the peer to close
    /// the transport after the close handshake. Default 5 s. Stops a peer that keeps a
    /// closing connection (and its memory) alive forever.
    pub close_timeout: Duration,
    /// Send a ping after this much silence from the peer. Default `None` (off). With
    /// `pong_timeout`, detects half-open connections whose peer vanished.
    pub ping_interval: Option<Duration>,
    /// How long after a keep-alive ping the peer may stay silent before the connection is
    /// declared dead ([`Error::DeadPeer`]). Default 30 s. Only used with `ping_interval`.
    pub pong_timeout: Duration,
    /// permessage-deflate (RFC 7692): offered by clients and accepted by servers by default
    /// once the feature is on. An inflated message is bounded by `max_message` like any
    /// other (close 1009), so a compression bomb costs at most that much.
    #[cfg(feature = "deflate")]
    pub deflate: crate::deflate::DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame: 16 << 20,
            max_message: 64 << 20,
            read_buffer: 8 << 10,
            write_high_water: 64 << 10,
            close_timeout: Duration::from_secs(5),
            ping_interval: None,
            pong_timeout: Duration::from_secs(30),
            #[cfg(feature = "deflate")]
            deflate: crate::deflate::DeflateConfig::default(),
        }
    }
}

impl Config {
    /// Sets `max_frame`.
    pub fn with_max_frame(mut self, n: usize) -> Self {
        self.max_frame = n;
        self
    }
    /// Sets `max_message`.
    pub fn with_max_message(mut self, n: usize) -> Self {
        self.max_message = n;
        self
    }
    /// Sets `read_buffer`.
    pub fn with_read_buffer(mut self, n: usize) -> Self {
        self.read_buffer = n;
        self
    }
    /// Sets `write_high_water`.
    pub fn with_write_high_water(mut self, n: usize) -> Self {
        self.write_high_water = n;
        self
    }
    /// Sets `close_timeout`.
    pub fn with_close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }
    /// Sets `ping_interval` (`None` turns keep-alive pings off).
    pub fn with_ping_interval(mut self, d: Option<Duration>) -> Self {
        self.ping_interval = d;
        self
    }
    /// Sets `pong_timeout`.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }

    /// Sets `deflate`.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, d: crate::deflate::DeflateConfig) -> Self {
        self.deflate = d;
        self
    }

    /// Checks that the limits make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        let err = |e: ConfigError| Err(Error::Usage(UsageError::Config(e)));
        if self.max_frame == 0
            || self.max_message == 0
            || self.read_buffer == 0
            || self.write_high_water == 0
        {
            return err(ConfigError::ZeroLimit);
        }
        if self.max_frame > self.max_message {
            return err(ConfigError::FrameOverMessage);
        }
        if self.close_timeout.is_zero()
            || self.pong_timeout.is_zero()
            || self.ping_interval.is_some_and(|d| d.is_zero())
        {
            return err(ConfigError::ZeroTimeout);
        }
        #[cfg(feature = "deflate")]
        if self.deflate.level > 9 {
            return err(ConfigError::DeflateLevel);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.max_frame, 16 * 1024 * 1024);
        assert_eq!(c.max_message, 64 * 1024 * 1024);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = [
            Config::default().with_max_frame(0),
            Config::default().with_max_frame(2).with_max_message(1),
            Config::default().with_close_timeout(Duration::ZERO),
            Config::default().with_ping_interval(Some(Duration::ZERO)),
            Config::default().with_write_high_water(0),
        ];
        for c in bad {
            assert!(
                matches!(c.validate(), Err(Error::Usage(UsageError::Config(_)))),
                "{c:?}"
            );
        }
    }
}
