//! Message ids (`EPOCH-SEQ`), epochs, and the cursor a client sends back.
//!
//! Every message of a topic is numbered 1, 2, 3, ... within an **epoch**, a short random token
//! fixed when the topic's log is created. A restarted in-memory server creates new logs, so
//! new epochs: a cursor from before the restart can never be mistaken for a position in the
//! new log (DESIGN.md, "Cursor rules").
//!
//! The cursor rules themselves live in [`Cursor::plan`], a pure function of the cursor and
//! the retained range ([`Retained`]). The in-memory [`Log`](crate::Log) uses it, and so can
//! any other store (Redis streams) that numbers messages the same way, so that every hub
//! answers the same cursor identically.

use std::fmt;

use crate::error::CursorError;

/// Longest epoch token accepted in a cursor, in bytes.
///
/// Our own epochs are 8 characters; other stores may choose longer ones. The bound keeps
/// [`Epoch`] a small `Copy` value with no allocation.
pub const MAX_EPOCH_LEN: usize = 16;

/// Length of the epochs that [`Epoch::random`] draws.
pub const RANDOM_EPOCH_LEN: usize = 8;

/// Alphabet of random epochs: lowercase base32 (RFC 4648 §6 letters, lowercased). URL-,
/// header- and SSE-`id:`-safe, and without `-`, which separates the epoch from the sequence.
const EPOCH_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The token that names one incarnation of a topic's log.
///
/// 1 to [`MAX_EPOCH_LEN`] ASCII letters and digits, never `-`. Stored inline: `Copy`, no
/// allocation.
///
/// ```
/// use pushwire_poll::Epoch;
/// let e = Epoch::random();
/// assert_eq!(e.as_str().len(), 8);
/// assert!(!e.as_str().contains('-'));
/// assert_eq!(Epoch::new("q7k2").unwrap().as_str(), "q7k2");
/// assert!(Epoch::new("a-b").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch {
    len: u8,
    bytes: [u8; MAX_EPOCH_LEN],
}

impl Epoch {
    /// Draws a fresh random epoch of [`RANDOM_EPOCH_LEN`] lowercase base32 characters (40
    /// bits) from [`pushwire_http::entropy`], so two logs created by two runs of the server
    /// get different epochs (the chance of a collision between two given runs is 2^-40).
    pub fn random() -> Epoch {
        let mut bits = pushwire_http::entropy::random_u64();
        let mut bytes = [0u8; MAX_EPOCH_LEN];
        for b in bytes.iter_mut().take(RANDOM_EPOCH_LEN) {
            // Low five bits index the 32-letter alphabet; the mask keeps it in range.
            *b = EPOCH_ALPHABET[(bits & 31) as usize];
            bits >>= 5;
        }
        Epoch {
            len: RANDOM_EPOCH_LEN as u8,
            bytes,
        }
    }

    /// Checks and wraps an epoch token chosen elsewhere (for example by a Redis hub).
    ///
    /// Errors with [`CursorError::Epoch`] unless `token` is 1 to [`MAX_EPOCH_LEN`] ASCII
    /// letters or digits.
    pub fn new(token: &str) -> Result<Epoch, CursorError> {
        Epoch::from_bytes(token.as_bytes())
    }

    fn from_bytes(token: &[u8]) -> Result<Epoch, CursorError> {
        if token.is_empty()
            || token.len() > MAX_EPOCH_LEN
            || !token.iter().all(u8::is_ascii_alphanumeric)
        {
            return Err(CursorError::Epoch);
        }
        let mut bytes = [0u8; MAX_EPOCH_LEN];
        bytes[..token.len()].copy_from_slice(token);
        Ok(Epoch {
            len: token.len() as u8,
            bytes,
        })
    }

    /// The token as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored (checked in `from_bytes`, drawn from the
        // alphabet in `random`), so this conversion cannot fail; the fallback keeps the
        // function total without a panic path.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({})", self.as_str())
    }
}

/// A message id, and the position a cursor names: `EPOCH-SEQ`.
///
/// `seq` counts from 1 within the epoch; `EPOCH-0` is the position before the first message
/// (the `next` of an empty log).
///
/// ```
/// use pushwire_poll::{Epoch, Id};
/// let id = Id::new(Epoch::new("q7k2").unwrap(), 42);
/// assert_eq!(id.to_string(), "q7k2-42");
/// assert_eq!(Id::parse("q7k2-42").unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id {
    /// The log incarnation this id belongs to.
    pub epoch: Epoch,
    /// Position within the epoch: 1 for the first message, 0 for "before the first".
    pub seq: u64,
}

impl Id {
    /// Builds an id.
    pub fn new(epoch: Epoch, seq: u64) -> Id {
        Id { epoch, seq }
    }

    /// Parses `EPOCH-SEQ` (see [`Cursor::parse`] for the exact grammar).
    pub fn parse(s: &str) -> Result<Id, CursorError> {
        Id::parse_bytes(s.as_bytes())
    }

    /// Parses `EPOCH-SEQ` from bytes (a header value or a raw query value).
    pub fn parse_bytes(s: &[u8]) -> Result<Id, CursorError> {
        let dash = s
            .iter()
            .position(|&b| b == b'-')
            .ok_or(CursorError::Syntax)?;
        let (epoch, rest) = s.split_at(dash);
        let digits = rest.get(1..).unwrap_or_default();
        Ok(Id {
            epoch: Epoch::from_bytes(epoch)?,
            seq: parse_seq(digits)?,
        })
    }

    /// Appends the `EPOCH-SEQ` text to `dst` without allocating.
    pub fn write_to(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(self.epoch.as_str().as_bytes());
        dst.push(b'-');
        push_decimal(self.seq, dst);
    }
}

/// Appends the decimal digits of `n` (no leading zeros).
pub(crate) fn push_decimal(mut n: u64, dst: &mut impl Extend<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.extend(buf[i..].iter().copied());
}

/// Decimal sequence number: 1 to 20 digits, no sign, no leading zero (one canonical text per
/// id, so ids compare equal as strings), no overflow past `u64::MAX`.
fn parse_seq(digits: &[u8]) -> Result<u64, CursorError> {
    match digits {
        [] => Err(CursorError::Sequence),
        [b'0'] => Ok(0),
        [b'0', ..] => Err(CursorError::Sequence),
        _ => digits.iter().try_fold(0u64, |acc, &d| {
            if !d.is_ascii_digit() {
                return Err(CursorError::Sequence);
            }
            acc.checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or(CursorError::Sequence)
        }),
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl std::str::FromStr for Id {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Id, CursorError> {
        Id::parse(s)
    }
}

/// Where a client wants to resume: what `since` (polling, WebSocket) or `Last-Event-ID`
/// (SSE) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// `since` absent: only messages published from now on.
    Now,
    /// `since=0`: from the oldest retained message.
    Oldest,
    /// `since=EPOCH-SEQ`: the messages after this id.
    After(Id),
}

impl Cursor {
    /// Parses an optional `since` value (or `Last-Event-ID` header value).
    ///
    /// Grammar: absent -> [`Cursor::Now`]; exactly `0` -> [`Cursor::Oldest`];
    /// `EPOCH-SEQ` with EPOCH 1 to 16 ASCII letters/digits and SEQ a decimal `u64` without
    /// sign or leading zero -> [`Cursor::After`]. Anything else (empty, spaces, `E-`, `-5`,
    /// `5`, `E-x`, `E-1-2`, overflow, non-ASCII) is a [`CursorError`], which the transports
    /// answer with 400 ([`Error::status`](crate::Error::status)).
    ///
    /// ```
    /// use pushwire_poll::{Cursor, Id};
    /// assert_eq!(Cursor::parse(None).unwrap(), Cursor::Now);
    /// assert_eq!(Cursor::parse(Some("0")).unwrap(), Cursor::Oldest);
    /// assert_eq!(
    ///     Cursor::parse(Some("q7k2-42")).unwrap(),
    ///     Cursor::After(Id::parse("q7k2-42").unwrap())
    /// );
    /// assert!(Cursor::parse(Some("")).is_err());
    /// assert!(Cursor::parse(Some("q7k2-")).is_err());
    /// ```
    pub fn parse(since: Option<&str>) -> Result<Cursor, CursorError> {
        Cursor::parse_bytes(since.map(str::as_bytes))
    }

    /// [`Cursor::parse`] on raw bytes (a header value need not be UTF-8).
    pub fn parse_bytes(since: Option<&[u8]>) -> Result<Cursor, CursorError> {
        match since {
            None => Ok(Cursor::Now),
            Some(b"0") => Ok(Cursor::Oldest),
            Some([]) => Err(CursorError::Empty),
            Some(s) => Id::parse_bytes(s).map(Cursor::After),
        }
    }

    /// Applies DESIGN.md's cursor rules to a log whose retained messages are described by
    /// `retained`, and says where delivery starts.
    ///
    /// | cursor | delivers seqs after | missed |
    /// |---|---|---|
    /// | `Now` | `head` (nothing yet) | no |
    /// | `Oldest` | `first - 1` (everything retained) | no |
    /// | other epoch | `first - 1` | **yes** |
    /// | same epoch, `seq < first - 1` (evicted messages in between) | `first - 1` | **yes** |
    /// | same epoch, `first - 1 <= seq <= head` | `seq` | no |
    /// | same epoch, `seq > head` (ahead of the log) | `first - 1` | **yes** |
    ///
    /// A cursor of this epoch *ahead* of `head` was never handed out by this log (an id
    /// exists before anyone learns it). It is forged, or comes from a store that lost data
    /// and kept its epoch. Treated like a cursor of another epoch: the client is told
    /// `missed` and gets everything retained. Taking it at its word instead would make the
    /// client silently skip every message up to its claimed position. A store whose replicas
    /// can lag (a node mirroring Redis) must catch up to the cursor before planning, or it
    /// will report `missed` and repeat messages the client already has.
    ///
    /// ```
    /// use pushwire_poll::{Cursor, Epoch, Id, Retained};
    /// let e = Epoch::new("abc").unwrap();
    /// // Messages 5..=9 are retained; 1..=4 were evicted.
    /// let r = Retained { epoch: e, first: 5, head: 9 };
    /// let p = Cursor::After(Id::new(e, 2)).plan(&r);
    /// assert_eq!((p.after, p.missed), (4, true));
    /// let p = Cursor::After(Id::new(e, 6)).plan(&r);
    /// assert_eq!((p.after, p.missed), (6, false));
    /// ```
    pub fn plan(&self, retained: &Retained) -> ReadPlan {
        let before_oldest = retained.first.saturating_sub(1);
        let (after, missed) = match self {
            Cursor::Now => (retained.head, false),
            Cursor::Oldest => (before_oldest, false),
            Cursor::After(id) if id.epoch != retained.epoch => (before_oldest, true),
            Cursor::After(id) if id.seq < before_oldest || id.seq > retained.head => {
                (before_oldest, true)
            }
            Cursor::After(id) => (id.seq, false),
        };
        ReadPlan {
            epoch: retained.epoch,
            after,
            missed,
        }
    }
}

/// The retained range of a log, as [`Cursor::plan`] needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retained {
    /// The log's epoch.
    pub epoch: Epoch,
    /// Sequence number of the oldest retained message; `head + 1` when nothing is retained.
    pub first: u64,
    /// Sequence number of the newest message ever appended in this epoch (0 before the first).
    pub head: u64,
}

/// Where a read starts, as decided by [`Cursor::plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPlan {
    /// Epoch of the log being read.
    pub epoch: Epoch,
    /// Deliver the retained messages whose seq is greater than this.
    pub after: u64,
    /// Whether messages the client's cursor covered are gone (or the cursor is of another
    /// epoch): reported as `"missed":true`.
    pub missed: bool,
}

impl ReadPlan {
    /// The cursor to hand back when nothing is delivered: `EPOCH-after`.
    pub fn next_if_empty(&self) -> Id {
        Id::new(self.epoch, self.after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Epoch {
        Epoch::new(s).unwrap()
    }

    #[test]
    fn random_epochs_are_8_base32_chars_without_dash_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let ep = Epoch::random();
            let s = ep.as_str();
            assert_eq!(s.len(), RANDOM_EPOCH_LEN);
            assert!(s.bytes().all(|b| EPOCH_ALPHABET.contains(&b)), "{s}");
            assert!(!s.contains('-'));
            assert_eq!(Epoch::new(s).unwrap(), ep, "random epoch must round-trip");
            seen.insert(ep);
        }
        assert!(seen.len() > 990, "epochs repeat too often: {}", seen.len());
    }

    #[test]
    fn id_display_and_parse_round_trip() {
        for seq in [0, 1, 9, 10, 42, 1_000_000, u64::MAX] {
            let id = Id::new(e("q7k2"), seq);
            let text = id.to_string();
            assert_eq!(Id::parse(&text).unwrap(), id);
            let mut v = Vec::new();
            id.write_to(&mut v);
            assert_eq!(v, text.as_bytes());
        }
        assert_eq!(Id::new(e("q7k2"), 42).to_string(), "q7k2-42");
    }

    #[test]
    fn cursor_absent_zero_and_id() {
        assert_eq!(Cursor::parse(None), Ok(Cursor::Now));
        assert_eq!(Cursor::parse(Some("0")), Ok(Cursor::Oldest));
        assert_eq!(
            Cursor::parse(Some("abc-7")),
            Ok(Cursor::After(Id::new(e("abc"), 7)))
        );
        assert_eq!(
            Cursor::parse(Some("ABC9-0")),
            Ok(Cursor::After(Id::new(e("ABC9"), 0)))
        );
        assert_eq!(
            Cursor::parse(Some("a-18446744073709551615")),
            Ok(Cursor::After(Id::new(e("a"), u64::MAX)))
        );
    }

    #[test]
    fn malformed_cursors_are_typed_errors() {
        use CursorError::*;
        let cases: &[(&[u8], CursorError)] = &[
            (b"", Empty),
            (b" ", Syntax),
            (b"abc", Syntax),
            (b"5", Syntax),
            (b"00", Syntax),
            (b"abc-", Sequence),
            (b"-5", Epoch),
            (b"-", Epoch),
            (b"abc-x", Sequence),
            (b"abc-1-2", Sequence),
            (b"abc--1", Sequence),
            (b"abc-+1", Sequence),
            (b"abc- 1", Sequence),
            (b"abc-1 ", Sequence),
            (b" abc-1", Epoch),
            (b"ab c-1", Epoch),
            (b"abc-01", Sequence),
            (b"abc-00", Sequence),
            (b"abc-18446744073709551616", Sequence),
            (b"abc-99999999999999999999999", Sequence),
            (b"a_b-1", Epoch),
            (b"a%2D-1", Epoch),
            (b"\xc3\xa9-1", Epoch),
            (b"abcdefghijklmnopq-1", Epoch),
            (b"abc-1\0", Sequence),
        ];
        for (input, want) in cases {
            assert_eq!(
                Cursor::parse_bytes(Some(input)),
                Err(*want),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
        // 16 characters is the longest epoch accepted.
        assert!(Cursor::parse(Some("abcdefghijklmnop-1")).is_ok());
    }

    /// Random byte strings, biased towards the grammar's own characters: parsing never
    /// panics, and whatever parses as an id prints back as exactly the input (one canonical
    /// text per id).
    #[test]
    fn random_inputs_never_panic_and_accepted_ids_are_canonical() {
        const ALPHABET: &[u8] = b"0123456789abcXYZ--- _+%\xff\x00";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for _ in 0..100_000 {
            let len = (next() % 24) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            match Cursor::parse_bytes(Some(&input)) {
                Ok(Cursor::After(id)) => {
                    accepted += 1;
                    assert_eq!(id.to_string().as_bytes(), &input[..]);
                }
                Ok(Cursor::Oldest) => assert_eq!(input, b"0"),
                Ok(Cursor::Now) => unreachable!("Some(_) is never Now"),
                Err(_) => {}
            }
        }
        assert!(
            accepted > 100,
            "the generator should hit valid ids: {accepted}"
        );
    }

    #[test]
    fn plan_follows_every_rule() {
        let ep = e("cur");
        let other = e("old");
        let r = Retained {
            epoch: ep,
            first: 5,
            head: 9,
        };
        let p = |c: Cursor| {
            let p = c.plan(&r);
            (p.after, p.missed)
        };
        assert_eq!(p(Cursor::Now), (9, false));
        assert_eq!(p(Cursor::Oldest), (4, false));
        assert_eq!(p(Cursor::After(Id::new(other, 7))), (4, true));
        assert_eq!(p(Cursor::After(Id::new(ep, 0))), (4, true));
        assert_eq!(p(Cursor::After(Id::new(ep, 3))), (4, true));
        assert_eq!(p(Cursor::After(Id::new(ep, 4))), (4, false));
        assert_eq!(p(Cursor::After(Id::new(ep, 7))), (7, false));
        assert_eq!(p(Cursor::After(Id::new(ep, 9))), (9, false));
        assert_eq!(p(Cursor::After(Id::new(ep, 10))), (4, true));
        assert_eq!(p(Cursor::After(Id::new(ep, u64::MAX))), (4, true));

        // Empty fresh log: nothing evicted, so `E-0` misses nothing.
        let fresh = Retained {
            epoch: ep,
            first: 1,
            head: 0,
        };
        assert!(!Cursor::After(Id::new(ep, 0)).plan(&fresh).missed);
        assert_eq!(Cursor::Oldest.plan(&fresh).next_if_empty(), Id::new(ep, 0));
        assert_eq!(Cursor::Now.plan(&fresh).next_if_empty(), Id::new(ep, 0));
        // Another epoch on an empty log: still reported.
        assert!(Cursor::After(Id::new(other, 3)).plan(&fresh).missed);
    }
}
