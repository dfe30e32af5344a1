//! When to reconnect: the WHATWG reconnection time plus exponential backoff with jitter,
//! as pure code given the time (the connect loop only sleeps for what this decides).

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, UsageError};

/// How an [`EventSource`](super::EventSource) paces its reconnects.
///
/// The first reconnect after a healthy connection waits exactly the reconnection time
/// (rule 38: "wait the reconnection time"; a server `retry:` changes it, rule 40). Each
/// further consecutive failure doubles a ceiling, capped at [`RetryPolicy::max_delay`], and
/// the delay is drawn uniformly between the reconnection time and that ceiling ("full
/// jitter" over everything above the floor the standard asks for), so that thousands of
/// clients dropped by one server restart do not come back in lockstep. A connection that
/// stayed open for [`RetryPolicy::healthy_after`], or delivered an event, resets the count:
/// a server that ends each stream after a few events (or a proxy that cuts streams) is
/// serving, not failing, and is reconnected to after the plain reconnection time.
///
/// ```
/// use std::time::Duration;
/// use pushwire_sse::client::RetryPolicy;
/// let p = RetryPolicy::default().with_max_delay(Duration::from_secs(10));
/// assert!(p.validate().is_ok());
/// assert_eq!(p.reconnection_time, Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Reconnection time until the server sends `retry:`. Default 3 s (Chrome; rule 40).
    pub reconnection_time: Duration,
    /// Ceiling of the backoff. Default 30 s. Never below the reconnection time: a server
    /// asking for `retry: 60000` is obeyed.
    pub max_delay: Duration,
    /// A connection open at least this long counts as healthy and resets the backoff.
    /// Default 10 s.
    pub healthy_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            reconnection_time: Duration::from_secs(3),
            max_delay: Duration::from_secs(30),
            healthy_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Sets [`RetryPolicy::reconnection_time`].
    pub fn with_reconnection_time(mut self, t: Duration) -> Self {
        self.reconnection_time = t;
        self
    }

    /// Sets [`RetryPolicy::max_delay`].
    pub fn with_max_delay(mut self, t: Duration) -> Self {
        self.max_delay = t;
        self
    }

    /// Sets [`RetryPolicy::healthy_after`].
    pub fn with_healthy_after(mut self, t: Duration) -> Self {
        self.healthy_after = t;
        self
    }

    /// Checks the fields: `max_delay` must be positive.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_delay.is_zero() {
            return Err(UsageError::InvalidConfig("max_delay must be positive").into());
        }
        Ok(())
    }
}

/// The reconnect state of one event source: pure, fed the time, with an injected source of
/// random numbers so tests are deterministic.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pushwire_sse::client::{Retry, RetryPolicy};
/// let policy = RetryPolicy::default().with_reconnection_time(Duration::from_secs(1));
/// let mut r = Retry::with_jitter(policy, || u64::MAX); // always the top of the range
/// let now = Instant::now();
/// assert_eq!(r.next_delay(now), Duration::from_secs(1)); // first: the reconnection time
/// assert!(r.next_delay(now) > Duration::from_millis(1900)); // then backoff, ~2 s
/// r.on_open(now);
/// assert_eq!(r.next_delay(now + Duration::from_secs(60)), Duration::from_secs(1)); // healthy: reset
/// ```
pub struct Retry {
    policy: RetryPolicy,
    reconnection_time: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    progressed: bool,
    jitter: Box<dyn FnMut() -> u64 + Send + Sync>,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("reconnection_time", &self.reconnection_time)
            .field("failures", &self.failures)
            .field("opened_at", &self.opened_at)
            .finish_non_exhaustive()
    }
}

impl Retry {
    /// Reconnect state with OS-seeded jitter ([`pushwire_http::entropy::random_u64`]).
    pub fn new(policy: RetryPolicy) -> Self {
        Retry::with_jitter(policy, pushwire_http::entropy::random_u64)
    }

    /// Reconnect state drawing jitter from `jitter` (uniform `u64`s; `0` picks the bottom of
    /// the range, `u64::MAX` the top).
    pub fn with_jitter(
        policy: RetryPolicy,
        jitter: impl FnMut() -> u64 + Send + Sync + 'static,
    ) -> Self {
        Retry {
            reconnection_time: policy.reconnection_time,
            policy,
            failures: 0,
            opened_at: None,
            progressed: false,
            jitter: Box::new(jitter),
        }
    }

    /// The server sent `retry:` (rule 40): the new floor for every later delay.
    pub fn set_reconnection_time(&mut self, t: Duration) {
        self.reconnection_time = t;
    }

    /// The current reconnection time.
    pub fn reconnection_time(&self) -> Duration {
        self.reconnection_time
    }

    /// Consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection was announced (200 + event stream) at `now`.
    pub fn on_open(&mut self, now: Instant) {
        self.opened_at = Some(now);
    }

    /// The open connection delivered an event: the next drop is not a repeated failure.
    pub fn on_event(&mut self) {
        self.progressed = true;
    }

    /// A connection attempt failed or an open stream ended at `now`: how long to wait
    /// before the next attempt.
    pub fn next_delay(&mut self, now: Instant) -> Duration {
        if let Some(opened) = self.opened_at.take()
            && now.saturating_duration_since(opened) >= self.policy.healthy_after
        {
            self.failures = 0;
        }
        if std::mem::take(&mut self.progressed) {
            self.failures = 0;
        }
        let n = self.failures;
        self.failures = self.failures.saturating_add(1);
        let floor = self.reconnection_time;
        if n == 0 {
            return floor;
        }
        let cap = self.policy.max_delay.max(floor);
        let ceiling = floor
            .checked_mul(1u32 << n.min(20))
            .map_or(cap, |c| c.min(cap));
        let range = ceiling.saturating_sub(floor).as_nanos();
        // Scale a uniform u64 onto [0, range] without floating point.
        let extra = (range.saturating_mul(u128::from((self.jitter)()))) >> 64;
        floor + Duration::from_nanos(u64::try_from(extra).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .with_reconnection_time(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(8))
            .with_healthy_after(Duration::from_secs(10))
    }

    #[test]
    fn first_delay_is_the_reconnection_time_exactly() {
        let mut r = Retry::with_jitter(policy(), || u64::MAX);
        assert_eq!(r.next_delay(Instant::now()), Duration::from_secs(1));
    }

    #[test]
    fn backoff_doubles_then_caps_and_jitter_spans_floor_to_ceiling() {
        let now = Instant::now();
        let mut top = Retry::with_jitter(policy(), || u64::MAX);
        let mut bottom = Retry::with_jitter(policy(), || 0);
        let tops: Vec<u64> = (0..7)
            .map(|_| top.next_delay(now).as_millis() as u64)
            .collect();
        let bottoms: Vec<u64> = (0..7)
            .map(|_| bottom.next_delay(now).as_millis() as u64)
            .collect();
        // Ceilings 1, 2, 4, 8 (cap), 8, ...; u64::MAX maps just under the ceiling.
        assert_eq!(tops, [1000, 1999, 3999, 7999, 7999, 7999, 7999]);
        assert_eq!(bottoms, [1000; 7]);
        assert_eq!(top.failures(), 7);
    }

    #[test]
    fn server_retry_raises_the_floor_above_the_cap() {
        let mut r = Retry::with_jitter(policy(), || u64::MAX / 2);
        r.set_reconnection_time(Duration::from_secs(20));
        let now = Instant::now();
        assert_eq!(r.next_delay(now), Duration::from_secs(20));
        assert_eq!(r.next_delay(now), Duration::from_secs(20));
        assert_eq!(r.reconnection_time(), Duration::from_secs(20));
    }

    #[test]
    fn healthy_connection_resets_but_short_one_does_not() {
        let t0 = Instant::now();
        let mut r = Retry::with_jitter(policy(), || u64::MAX);
        r.next_delay(t0);
        r.next_delay(t0);
        r.on_open(t0);
        // Dropped after 2 s: not healthy, the backoff goes on.
        assert!(r.next_delay(t0 + Duration::from_secs(2)) > Duration::from_secs(3));
        r.on_open(t0);
        assert_eq!(
            r.next_delay(t0 + Duration::from_secs(10)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let mut r = Retry::with_jitter(policy().with_max_delay(Duration::MAX), || u64::MAX);
        for _ in 0..100 {
            let d = r.next_delay(Instant::now());
            assert!(d >= Duration::from_secs(1));
        }
        assert!(
            RetryPolicy::default()
                .with_max_delay(Duration::ZERO)
                .validate()
                .is_err()
        );
    }
}
