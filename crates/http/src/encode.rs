//! Heads to send: builders that validate, and encoders that write them into a `BytesMut`.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use crate::error::{Error, UsageError};
use crate::head::Method;
use crate::headers::Headers;

/// A response head to send (always as HTTP/1.1, which RFC 9110 §6.2 allows to 1.0 clients).
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_http::{ResponseHead, encode_response_head};
/// let head = ResponseHead::new(200)
///     .header("Content-Type", "text/plain")?
///     .header("Content-Length", "2")?;
/// let mut out = BytesMut::new();
/// encode_response_head(&head, &mut out)?;
/// assert_eq!(&out[..], b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
/// assert!(ResponseHead::new(200).header("X", "a\r\nb").is_err());
/// # Ok::<(), pushwire_http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code, 100..=999 (checked when encoding).
    pub status: u16,
    /// Reason phrase; `None` uses [`reason_phrase`] of the status (empty if unknown).
    pub reason: Option<Cow<'static, str>>,
    /// Header fields, valid by construction.
    pub headers: Headers,
}

impl ResponseHead {
    /// A head with `status`, the canonical reason phrase and no headers.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            reason: None,
            headers: Headers::new(),
        }
    }

    /// Appends a header field (validated as by [`Headers::append`]).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, Error> {
        self.headers.append(name, value)?;
        Ok(self)
    }

    /// Sets a custom reason phrase; refused if it contains a control byte other than HTAB.
    pub fn reason(mut self, reason: impl Into<Cow<'static, str>>) -> Result<Self, Error> {
        let reason = reason.into();
        if !valid_reason(&reason) {
            return Err(UsageError::InvalidReason.into());
        }
        self.reason = Some(reason);
        Ok(self)
    }
}

/// A request head to send (client role), always as HTTP/1.1.
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_http::{Method, RequestHead, encode_request_head};
/// let head = RequestHead::new(Method::Get, "/events?topic=a")?.header("Host", "localhost:3000")?;
/// let mut out = BytesMut::new();
/// encode_request_head(&head, &mut out)?;
/// assert_eq!(&out[..], b"GET /events?topic=a HTTP/1.1\r\nHost: localhost:3000\r\n\r\n");
/// # Ok::<(), pushwire_http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request-target (checked when encoding: non-empty, no whitespace or controls).
    pub target: String,
    /// Header fields, valid by construction.
    pub headers: Headers,
}

impl RequestHead {
    /// A head with no headers; refuses an invalid target (`UsageError::InvalidTarget`).
    pub fn new(method: Method, target: impl Into<String>) -> Result<Self, Error> {
        let target = target.into();
        if !valid_target(&target) {
            return Err(UsageError::InvalidTarget.into());
        }
        Ok(RequestHead {
            method,
            target,
            headers: Headers::new(),
        })
    }

    /// Appends a header field (validated as by [`Headers::append`]).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Result<Self, Error> {
        self.headers.append(name, value)?;
        Ok(self)
    }
}

fn valid_reason(r: &str) -> bool {
    r.bytes()
        .all(|b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b))
}

fn valid_target(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Writes `head` as an HTTP/1.1 status line, header lines and the empty line.
///
/// Fails (writing nothing) only if the public fields were set to something unsendable: a
/// status outside 100..=999 or a reason phrase with control bytes. Header fields are always
/// valid because [`Headers`] refuses invalid ones.
pub fn encode_response_head(head: &ResponseHead, dst: &mut BytesMut) -> Result<(), Error> {
    if !(100..=999).contains(&head.status) {
        return Err(UsageError::InvalidStatus.into());
    }
    let reason = match &head.reason {
        Some(r) if !valid_reason(r) => return Err(UsageError::InvalidReason.into()),
        Some(r) => r.as_ref(),
        None => reason_phrase(head.status),
    };
    dst.reserve(32 + reason.len() + fields_len(&head.headers));
    dst.put_slice(b"HTTP/1.1 ");
    let s = head.status;
    dst.put_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
        b' ',
    ]);
    dst.put_slice(reason.as_bytes());
    dst.put_slice(b"\r\n");
    put_fields(&head.headers, dst);
    Ok(())
}

/// Writes `head` as an HTTP/1.1 request line, header lines and the empty line. Fails
/// (writing nothing) if `target` was set to an invalid value after construction.
pub fn encode_request_head(head: &RequestHead, dst: &mut BytesMut) -> Result<(), Error> {
    if !valid_target(&head.target) {
        return Err(UsageError::InvalidTarget.into());
    }
    let method = head.method.as_str();
    if !crate::headers::is_token(method.as_bytes()) {
        return Err(UsageError::InvalidMethod.into());
    }
    dst.reserve(16 + method.len() + head.target.len() + fields_len(&head.headers));
    dst.put_slice(method.as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(head.target.as_bytes());
    dst.put_slice(b" HTTP/1.1\r\n");
    put_fields(&head.headers, dst);
    Ok(())
}

fn fields_len(h: &Headers) -> usize {
    h.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>() + 2
}

fn put_fields(h: &Headers, dst: &mut BytesMut) {
    for (name, value) in h.iter() {
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value);
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
}

/// The canonical reason phrase of `status` (RFC 9110 §15, plus 426/428/429/431 from
/// RFC 6585), or `""` for codes it does not name.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_encodes_with_empty_reason() {
        let mut out = BytesMut::new();
        encode_response_head(&ResponseHead::new(599), &mut out).unwrap();
        assert_eq!(&out[..], b"HTTP/1.1 599 \r\n\r\n");
    }

    #[test]
    fn invalid_status_or_reason_writes_nothing() {
        let mut out = BytesMut::new();
        for s in [0, 99, 1000, u16::MAX] {
            assert_eq!(
                encode_response_head(&ResponseHead::new(s), &mut out),
                Err(Error::Usage(UsageError::InvalidStatus))
            );
        }
        let mut h = ResponseHead::new(200);
        h.reason = Some("a\r\nb".into());
        assert_eq!(
            encode_response_head(&h, &mut out),
            Err(Error::Usage(UsageError::InvalidReason))
        );
        assert!(ResponseHead::new(200).reason("x\ny").is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn custom_reason() {
        let mut out = BytesMut::new();
        let h = ResponseHead::new(200).reason("Fine").unwrap();
        encode_response_head(&h, &mut out).unwrap();
        assert_eq!(&out[..], b"HTTP/1.1 200 Fine\r\n\r\n");
    }

    #[test]
    fn request_target_and_method_validated() {
        for t in ["", "/a b", "/a\r\n", "/\t"] {
            assert_eq!(
                RequestHead::new(Method::Get, t),
                Err(Error::Usage(UsageError::InvalidTarget))
            );
        }
        let h = RequestHead::new(Method::Extension("BAD METHOD".into()), "/").unwrap();
        let mut out = BytesMut::new();
        assert_eq!(
            encode_request_head(&h, &mut out),
            Err(Error::Usage(UsageError::InvalidMethod))
        );
        assert!(out.is_empty());
    }
}
