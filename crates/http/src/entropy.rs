//! OS-seeded random numbers without a `rand` dependency.
//!
//! WebSocket clients need unpredictable masking keys (RFC 6455 §5.3: "derived from a strong
//! source of entropy"), message logs need epoch tokens that differ across restarts, and
//! reconnecting clients need jitter. The standard library already seeds
//! [`RandomState`] from the operating system's generator once per process (and perturbs
//! every new instance); keying SipHash with it over a counter gives a stream that an observer
//! of earlier outputs cannot predict, which is all these three uses ask for.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Returns 64 random bits from an OS-seeded keyed hash.
///
/// ```
/// let a = pushwire_http::entropy::random_u64();
/// let b = pushwire_http::entropy::random_u64();
/// assert_ne!(a, b);
/// ```
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Fills `buf` with random bytes from [`random_u64`].
///
/// ```
/// let mut key = [0u8; 16];
/// pushwire_http::entropy::fill(&mut key);
/// ```
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let bytes = random_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_do_not_repeat_over_many_draws() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(random_u64()), "a 64-bit draw repeated");
        }
    }

    #[test]
    fn fill_covers_odd_lengths() {
        for len in 0..40 {
            let mut a = vec![0u8; len];
            let mut b = vec![0u8; len];
            fill(&mut a);
            fill(&mut b);
            if len >= 4 {
                assert_ne!(a, b, "two fills of {len} bytes were equal");
            }
        }
    }
}
