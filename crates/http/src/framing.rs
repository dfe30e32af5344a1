//! Where a message body ends (RFC 9112 §6.3), decided from the head alone.
//!
//! This is where request smuggling is stopped: every rule below that says "reject" exists
//! because some pair of HTTP implementations once disagreed on where a body ended, letting
//! an attacker hide a second request inside the first one's body.

use crate::error::{CapacityError, Error, ProtocolError};
use crate::head::{Method, Request, Response, Version};
use crate::headers::{Headers, trim_ows};
use crate::limits::Limits;

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (or `Content-Length: 0`): the next byte starts the next message.
    None,
    /// Exactly this many bytes (`Content-Length`, > 0).
    Length(u64),
    /// `Transfer-Encoding: chunked` (RFC 9112 §7.1).
    Chunked,
    /// Everything until the peer closes the connection (responses only, RFC 9112 §6.3
    /// rule 8).
    CloseDelimited,
}

impl BodyKind {
    /// Fails with `CapacityError::BodyTooLarge` (413) when a declared `Content-Length`
    /// exceeds `limits.max_body`, so a server can refuse before reading a byte of the body
    /// (and before sending `100 Continue`). Chunked and close-delimited bodies are checked
    /// by the [`BodyDecoder`](crate::BodyDecoder) as they arrive.
    pub fn check(&self, limits: &Limits) -> Result<(), Error> {
        match *self {
            BodyKind::Length(n) if n > limits.max_body => Err(CapacityError::BodyTooLarge.into()),
            _ => Ok(()),
        }
    }
}

/// The body framing of a request (RFC 9112 §6.3), rejecting every ambiguous combination.
///
/// - `Transfer-Encoding` together with `Content-Length`: 400
///   (`ContentLengthWithTransferEncoding`; the classic CL.TE / TE.CL smuggling pair).
/// - `Transfer-Encoding` on an HTTP/1.0 request: 400 (§6.1: the framing "is faulty").
/// - `Transfer-Encoding` naming any coding but `chunked` (`gzip`, `chunked, gzip`,
///   `identity`, ...): 501 (§6.1: "SHOULD respond with 501"); `chunked` twice, or an empty
///   value: 400 (§6.1: "MUST NOT apply the chunked transfer coding more than once").
/// - `Content-Length` that is not all digits (`+5`, `-1`, `5 5`, `0x10`), overflows 64
///   bits, or lists different values: 400. Identical repeats (`5, 5` or two `5` fields) are
///   folded into one (§6.3 rule 5).
/// - Neither header: no body (rule 7).
///
/// ```
/// use pushwire_http::{BodyKind, Limits, Status, parse_request, request_body_kind};
/// let buf = b"POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
/// let Status::Complete((req, _)) = parse_request(buf, &Limits::default())? else { panic!() };
/// assert_eq!(request_body_kind(&req)?, BodyKind::Length(5));
/// # Ok::<(), pushwire_http::Error>(())
/// ```
pub fn request_body_kind(req: &Request) -> Result<BodyKind, Error> {
    if req.headers.contains("transfer-encoding") {
        if req.headers.contains("content-length") {
            return Err(ProtocolError::ContentLengthWithTransferEncoding.into());
        }
        if req.version == Version::Http10 {
            return Err(ProtocolError::InvalidTransferEncoding.into());
        }
        check_chunked_only(&req.headers)?;
        return Ok(BodyKind::Chunked);
    }
    Ok(match content_length(&req.headers)? {
        Some(0) | None => BodyKind::None,
        Some(n) => BodyKind::Length(n),
    })
}

/// The body framing of a response to a `request_method` request (RFC 9112 §6.3), client role.
///
/// No body after `HEAD`, for 1xx (including `101 Switching Protocols`: what follows is the
/// new protocol), 204 and 304, and for a 2xx answer to `CONNECT`. Otherwise `chunked`, then
/// `Content-Length`, else the body runs until the server closes. The same smuggling rules as
/// [`request_body_kind`] apply: both headers together, `Transfer-Encoding` on HTTP/1.0 and
/// bad lengths are errors, and codings other than `chunked` are
/// [`Error::UnsupportedTransferCoding`] since this crate cannot decode them.
pub fn response_body_kind(res: &Response, request_method: &Method) -> Result<BodyKind, Error> {
    let s = res.status;
    if *request_method == Method::Head
        || (100..200).contains(&s)
        || s == 204
        || s == 304
        || (*request_method == Method::Connect && (200..300).contains(&s))
    {
        return Ok(BodyKind::None);
    }
    if res.headers.contains("transfer-encoding") {
        if res.headers.contains("content-length") {
            return Err(ProtocolError::ContentLengthWithTransferEncoding.into());
        }
        if res.version == Version::Http10 {
            return Err(ProtocolError::InvalidTransferEncoding.into());
        }
        check_chunked_only(&res.headers)?;
        return Ok(BodyKind::Chunked);
    }
    Ok(match content_length(&res.headers)? {
        Some(0) => BodyKind::None,
        Some(n) => BodyKind::Length(n),
        None => BodyKind::CloseDelimited,
    })
}

/// Accepts exactly one `chunked` across every `Transfer-Encoding` field.
fn check_chunked_only(headers: &Headers) -> Result<(), Error> {
    let mut chunked = 0usize;
    for value in headers.get_all("transfer-encoding") {
        for element in value.split(|&b| b == b',') {
            let coding = trim_ows(element);
            if coding.is_empty() {
                continue;
            }
            if !coding.eq_ignore_ascii_case(b"chunked") {
                return Err(Error::UnsupportedTransferCoding);
            }
            chunked += 1;
        }
    }
    if chunked == 1 {
        Ok(())
    } else {
        Err(ProtocolError::InvalidTransferEncoding.into())
    }
}

/// The `Content-Length` of `headers`, if any (RFC 9112 §6.2, §6.3 rule 5).
///
/// Every field and every comma-separated element must be `1*DIGIT` fitting in a `u64` and
/// all must be equal; otherwise `InvalidContentLength` or `ConflictingContentLength` (400).
pub fn content_length(headers: &Headers) -> Result<Option<u64>, Error> {
    let mut found: Option<u64> = None;
    for value in headers.get_all("content-length") {
        for element in value.split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(element))?;
            match found {
                Some(m) if m != n => return Err(ProtocolError::ConflictingContentLength.into()),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// `1*DIGIT` into a `u64`, overflow-checked. No sign, no spaces, no hex.
fn parse_decimal(digits: &[u8]) -> Result<u64, Error> {
    if digits.is_empty() {
        return Err(ProtocolError::InvalidContentLength.into());
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError::InvalidContentLength.into());
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(ProtocolError::InvalidContentLength)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.append(n, v).unwrap();
        }
        h
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal(b"0"), Ok(0));
        assert_eq!(parse_decimal(b"007"), Ok(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"+5",
            b"-1",
            b"5 5",
            b"0x10",
            b"18446744073709551616",
            b"1e3",
        ] {
            assert_eq!(
                parse_decimal(bad),
                Err(ProtocolError::InvalidContentLength.into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_length_folding_rfc9112_6_3_rule5() {
        assert_eq!(content_length(&headers(&[])), Ok(None));
        assert_eq!(
            content_length(&headers(&[("Content-Length", "42, 42")])),
            Ok(Some(42))
        );
        assert_eq!(
            content_length(&headers(&[
                ("Content-Length", "42"),
                ("content-length", "42")
            ])),
            Ok(Some(42))
        );
        assert_eq!(
            content_length(&headers(&[("Content-Length", "42, 43")])),
            Err(ProtocolError::ConflictingContentLength.into())
        );
        assert_eq!(
            content_length(&headers(&[("Content-Length", "42,")])),
            Err(ProtocolError::InvalidContentLength.into())
        );
    }

    #[test]
    fn body_kind_check_against_limit() {
        let l = Limits::default().with_max_body(10);
        assert_eq!(BodyKind::Length(10).check(&l), Ok(()));
        assert_eq!(
            BodyKind::Length(11).check(&l),
            Err(CapacityError::BodyTooLarge.into())
        );
        assert_eq!(BodyKind::Chunked.check(&l), Ok(()));
    }
}
