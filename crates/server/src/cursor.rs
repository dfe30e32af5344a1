//! Topic names and `EPOCH-SEQ` cursors, as pushwire-poll defines them.
//!
//! The grammar and the cursor rules of `DESIGN.md` live in one place, [`pushwire_poll`]:
//! [`Cursor::parse`] (absent = `Now`, `0` = `Oldest`, `EPOCH-SEQ` = `After`) and
//! [`Cursor::plan`], which every hub applies to its retained range so the four transports agree.

pub use pushwire_poll::{Cursor, Epoch, Id, ReadPlan, Retained};

/// Checks a topic name: `[A-Za-z0-9_.:-]{1,128}` (pushwire-poll's rule).
pub fn valid_topic(name: &str) -> bool {
    pushwire_poll::request::validate_topic(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_is_poll_s() {
        assert_eq!(Cursor::parse(Some("0")).unwrap(), Cursor::Oldest);
        assert_eq!(Cursor::parse(None).unwrap(), Cursor::Now);
        assert!(matches!(
            Cursor::parse(Some("q7k2-42")),
            Ok(Cursor::After(_))
        ));
        for bad in ["", "-1", "a-", "a-b", "1", "é-1", "a-+1"] {
            assert!(Cursor::parse(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn topics() {
        assert!(valid_topic("default"));
        assert!(valid_topic("a.b:c-d_e"));
        assert!(valid_topic(&"x".repeat(128)));
        assert!(!valid_topic(&"x".repeat(129)));
        assert!(!valid_topic(""));
        assert!(!valid_topic("a/b"));
    }
}
