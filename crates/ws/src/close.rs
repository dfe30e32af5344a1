//! Close codes (RFC 6455 §7.4) and close frame payloads (§5.5.1).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, ProtocolError, UsageError};
use crate::message::Utf8Bytes;

/// A close status code (RFC 6455 §7.4).
///
/// A plain `u16` newtype rather than an enum so that application codes (3000-4999) pass
/// through unchanged; the named constants cover the registered ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no code was present (local use only, never on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame (local use only, never on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: the message is too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// May this code appear in a close frame on the wire?
    ///
    /// RFC 6455 §7.4.1 defines 1000-1003 and 1007-1011 for the wire and reserves 1004, 1005,
    /// 1006 and 1015 for local use; the IANA registry (§11.7) added 1012-1014; 3000-4999 are
    /// for libraries and applications. Everything else (0-999, 1016-2999, 5000+) is invalid.
    ///
    /// ```
    /// use pushwire_ws::CloseCode;
    /// assert!(CloseCode(1000).is_sendable());
    /// assert!(CloseCode(4000).is_sendable());
    /// assert!(!CloseCode(1005).is_sendable());
    /// assert!(!CloseCode(2999).is_sendable());
    /// ```
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(c: u16) -> Self {
        CloseCode(c)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The content of a close frame that carried a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The UTF-8 reason (at most 123 bytes; may be empty).
    pub reason: Utf8Bytes,
}

/// Largest close reason: a control payload is at most 125 bytes, two of which are the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Parses a received close payload (RFC 6455 §5.5.1).
///
/// Empty means "no status" (`Ok(None)`); one byte is 1002; a code that may not be on the
/// wire is 1002; a reason that is not UTF-8 is 1007.
pub fn parse_close_payload(payload: &Bytes) -> Result<Option<CloseFrame>, Error> {
    match payload.as_ref() {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseTooShort.into()),
        [hi, lo, ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode.into());
            }
            let reason = Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| Error::InvalidUtf8)?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

/// Checks a close frame we are about to send and writes its payload into `dst`.
pub(crate) fn encode_close_payload(
    frame: Option<&CloseFrame>,
    dst: &mut BytesMut,
) -> Result<(), Error> {
    if let Some(f) = frame {
        if !f.code.is_sendable() {
            return Err(UsageError::InvalidCloseCode.into());
        }
        if f.reason.len() > MAX_CLOSE_REASON {
            return Err(UsageError::ControlTooLong.into());
        }
        dst.put_u16(f.code.0);
        dst.extend_from_slice(f.reason.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_7_4_every_code_classified() {
        for c in 0..=u16::MAX {
            let expected = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode(c).is_sendable(), expected, "code {c}");
        }
    }

    #[test]
    fn rfc6455_5_5_1_close_payloads() {
        assert_eq!(parse_close_payload(&Bytes::new()), Ok(None));
        assert_eq!(
            parse_close_payload(&Bytes::from_static(&[3])),
            Err(ProtocolError::CloseTooShort.into())
        );
        let ok = parse_close_payload(&Bytes::from_static(b"\x03\xe8bye"))
            .unwrap()
            .unwrap();
        assert_eq!(ok.code, CloseCode::NORMAL);
        assert_eq!(ok.reason.as_str(), "bye");
        for bad in [
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            let p = Bytes::copy_from_slice(&bad.to_be_bytes());
            assert_eq!(
                parse_close_payload(&p),
                Err(ProtocolError::InvalidCloseCode.into()),
                "{bad}"
            );
        }
        assert_eq!(
            parse_close_payload(&Bytes::from_static(b"\x03\xe8\xff")),
            Err(Error::InvalidUtf8)
        );
    }

    #[test]
    fn close_payload_encoding_checks_code_and_reason() {
        let mut dst = BytesMut::new();
        let too_long = CloseFrame {
            code: CloseCode::NORMAL,
            reason: Utf8Bytes::from("x".repeat(124)),
        };
        assert_eq!(
            encode_close_payload(Some(&too_long), &mut dst),
            Err(UsageError::ControlTooLong.into())
        );
        let bad = CloseFrame {
            code: CloseCode::ABNORMAL,
            reason: Utf8Bytes::default(),
        };
        assert_eq!(
            encode_close_payload(Some(&bad), &mut dst),
            Err(UsageError::InvalidCloseCode.into())
        );
        assert!(dst.is_empty());
        let ok = CloseFrame {
            code: CloseCode(4000),
            reason: Utf8Bytes::from("x".repeat(123)),
        };
        encode_close_payload(Some(&ok), &mut dst).unwrap();
        assert_eq!(dst.len(), 125);
    }
}
