//! Topic names and `EPOCH-SEQ` cursors as the product contract spells them.
//!
//! Local to the server until `pushwire-poll` exports its own `Cursor`; the grammar is the one in
//! `DESIGN.md`: `0` means "from the oldest retained message", `EPOCH-SEQ` names a message.

use std::fmt;

/// Longest epoch token accepted in a cursor.
pub const MAX_EPOCH_LEN: usize = 32;

/// A parsed `since` / `Last-Event-ID` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// `0`: from the oldest retained message.
    Oldest,
    /// `EPOCH-SEQ`: everything after message `seq` of log `epoch`.
    At {
        /// The log's random token.
        epoch: String,
        /// The message's sequence number (1-based; 0 = before the first).
        seq: u64,
    },
}

/// A cursor that does not follow the grammar (answered `400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cursor is not 0 or EPOCH-SEQ")]
pub struct BadCursor;

impl Cursor {
    /// Parses `0` or `EPOCH-SEQ` (`EPOCH` is 1 to 32 ASCII letters or digits, `SEQ` decimal).
    pub fn parse(s: &str) -> Result<Cursor, BadCursor> {
        if s == "0" {
            return Ok(Cursor::Oldest);
        }
        let (epoch, seq) = s.rsplit_once('-').ok_or(BadCursor)?;
        if epoch.is_empty()
            || epoch.len() > MAX_EPOCH_LEN
            || !epoch.bytes().all(|b| b.is_ascii_alphanumeric())
            || seq.is_empty()
            || seq.len() > 20
            || !seq.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(BadCursor);
        }
        let seq = seq.parse::<u64>().map_err(|_| BadCursor)?;
        Ok(Cursor::At {
            epoch: epoch.to_string(),
            seq,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cursor::Oldest => f.write_str("0"),
            Cursor::At { epoch, seq } => write!(f, "{epoch}-{seq}"),
        }
    }
}

/// Checks a topic name: `[A-Za-z0-9_.:-]{1,128}`.
pub fn valid_topic(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// A fresh epoch token: 10 lowercase base-36 characters from the OS-seeded generator, so a
/// restarted server never reuses an old log's cursors.
pub fn new_epoch() -> String {
    let mut n = pushwire_http::entropy::random_u64();
    let mut s = String::with_capacity(10);
    for _ in 0..10 {
        let d = (n % 36) as u8;
        n /= 36;
        s.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(Cursor::parse("0"), Ok(Cursor::Oldest));
        assert_eq!(
            Cursor::parse("q7k2-42"),
            Ok(Cursor::At {
                epoch: "q7k2".into(),
                seq: 42
            })
        );
        for bad in [
            "",
            "-1",
            "a-",
            "a-b",
            "a--1",
            "a b-1",
            "00",
            "1",
            "a-99999999999999999999999",
            "é-1",
            "a-+1",
        ] {
            assert_eq!(Cursor::parse(bad), Err(BadCursor), "{bad:?}");
        }
        assert_eq!(Cursor::parse("ab-7").unwrap().to_string(), "ab-7");
    }

    #[test]
    fn topics() {
        assert!(valid_topic("default"));
        assert!(valid_topic("a.b:c-d_e"));
        assert!(valid_topic(&"x".repeat(128)));
        assert!(!valid_topic(&"x".repeat(129)));
        assert!(!valid_topic(""));
        assert!(!valid_topic("a/b"));
        assert!(!valid_topic("a b"));
    }

    #[test]
    fn epochs_differ() {
        let a = new_epoch();
        assert_eq!(a.len(), 10);
        assert_ne!(a, new_epoch());
        assert!(Cursor::parse(&format!("{a}-1")).is_ok());
    }
}
