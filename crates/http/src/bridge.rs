//! Conversions between our heads and the [`http`] crate's `Request<()>` / `Response<()>`
//! (feature `http`), for code that already holds requests as `http` types (hyper, axum,
//! tower).
//!
//! Everything both sides can express survives a round trip: method (extension methods
//! too), request-target, version (HTTP/1.0 and HTTP/1.1), status, every header field with
//! its value bytes and duplicates in order. A custom reason phrase rides in the `http`
//! response's extensions as [`ReasonPhrase`], so it survives too. What `http` cannot
//! express is lost: header name case (`http` lower-cases names; names are case-insensitive,
//! RFC 9110 §5.1) and the interleaving of fields of *different* names (an `http::HeaderMap`
//! groups values by name; the order within one name is kept, which is the order that
//! carries meaning, RFC 9110 §5.3). HTTP/2 and HTTP/3 versions are
//! [`Error::UnsupportedVersion`], since our heads are HTTP/1.x.
//!
//! ```
//! use pushwire_http::{Method, Request};
//! let mut req = Request::new(Method::Get, "/chat?room=1");
//! req.headers.append("Host", "example.com")?;
//! req.headers.append("Accept", "a")?;
//! req.headers.append("Accept", "b")?;
//! let h: http::Request<()> = (&req).try_into()?;
//! assert_eq!(h.uri().query(), Some("room=1"));
//! assert_eq!(h.headers().get_all("accept").iter().count(), 2);
//! let back = Request::try_from(&h)?;
//! assert_eq!(back.target, "/chat?room=1");
//! assert_eq!(back.headers.get_all("accept").collect::<Vec<_>>(), [&b"a"[..], &b"b"[..]]);
//! # Ok::<(), pushwire_http::Error>(())
//! ```

use std::borrow::Cow;

use crate::encode::{RequestHead, ResponseHead, reason_phrase};
use crate::error::{Error, ProtocolError, UsageError};
use crate::head::{Method, Request, Response, Version};
use crate::headers::Headers;

/// A response's reason phrase when it is not the canonical one for its status, stored in
/// an `http::Response`'s extensions (which has no field for it) so that converting back
/// restores it. hyper has its own `ReasonPhrase` extension; this one is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonPhrase(pub String);

fn method_to_http(m: &Method) -> Result<http::Method, Error> {
    Ok(match m {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Extension(s) => http::Method::from_bytes(s.as_bytes())
            .map_err(|_| Error::Protocol(ProtocolError::Method))?,
    })
}

fn method_from_http(m: &http::Method) -> Result<Method, Error> {
    Method::from_token(m.as_str())
}

fn version_to_http(v: Version) -> http::Version {
    match v {
        Version::Http10 => http::Version::HTTP_10,
        Version::Http11 => http::Version::HTTP_11,
    }
}

fn version_from_http(v: http::Version) -> Result<Version, Error> {
    match v {
        http::Version::HTTP_10 => Ok(Version::Http10),
        http::Version::HTTP_11 => Ok(Version::Http11),
        // HTTP/0.9, 2 and 3 have no place in an HTTP/1.x head.
        _ => Err(Error::UnsupportedVersion),
    }
}

fn uri_from_target(target: &str) -> Result<http::Uri, Error> {
    target
        .parse::<http::Uri>()
        .map_err(|_| Error::Protocol(ProtocolError::Target))
}

/// The request-target as it would appear on an HTTP/1.1 request line: origin-form
/// (`/path?query`) for a relative `Uri`, absolute-form or authority-form as given.
fn target_from_uri(uri: &http::Uri) -> String {
    if uri.scheme().is_none() && uri.authority().is_none() {
        // A `Uri` without path (possible when built by parts) is "/" on the wire.
        return uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    }
    uri.to_string()
}

fn headers_to_http(src: &Headers, dst: &mut http::HeaderMap) -> Result<(), Error> {
    dst.reserve(src.len());
    for (name, value) in src.iter() {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Usage(UsageError::InvalidHeaderName))?;
        let value = http::HeaderValue::from_bytes(value)
            .map_err(|_| Error::Usage(UsageError::InvalidHeaderValue))?;
        dst.append(name, value);
    }
    Ok(())
}

fn headers_from_http(src: &http::HeaderMap) -> Result<Headers, Error> {
    let mut dst = Headers::with_capacity(src.len());
    for (name, value) in src {
        dst.append(name.as_str(), value.as_bytes())?;
    }
    Ok(dst)
}

fn parts_request(
    method: &Method,
    target: &str,
    version: Version,
    headers: &Headers,
) -> Result<http::Request<()>, Error> {
    let mut out = http::Request::new(());
    *out.method_mut() = method_to_http(method)?;
    *out.uri_mut() = uri_from_target(target)?;
    *out.version_mut() = version_to_http(version);
    headers_to_http(headers, out.headers_mut())?;
    Ok(out)
}

fn parts_response(
    status: u16,
    reason: Option<&str>,
    version: Version,
    headers: &Headers,
) -> Result<http::Response<()>, Error> {
    let mut out = http::Response::new(());
    *out.status_mut() =
        http::StatusCode::from_u16(status).map_err(|_| Error::Usage(UsageError::InvalidStatus))?;
    *out.version_mut() = version_to_http(version);
    headers_to_http(headers, out.headers_mut())?;
    if let Some(r) = reason.filter(|r| *r != reason_phrase(status)) {
        out.extensions_mut().insert(ReasonPhrase(r.to_owned()));
    }
    Ok(out)
}

fn reason_of<B>(res: &http::Response<B>) -> Option<&str> {
    res.extensions().get::<ReasonPhrase>().map(|r| r.0.as_str())
}

impl TryFrom<&Request> for http::Request<()> {
    type Error = Error;
    fn try_from(req: &Request) -> Result<Self, Error> {
        parts_request(&req.method, &req.target, req.version, &req.headers)
    }
}

impl<B> TryFrom<&http::Request<B>> for Request {
    type Error = Error;
    /// The body is ignored: only the head converts.
    fn try_from(req: &http::Request<B>) -> Result<Self, Error> {
        let mut out = Request::new(method_from_http(req.method())?, target_from_uri(req.uri()));
        out.version = version_from_http(req.version())?;
        out.headers = headers_from_http(req.headers())?;
        Ok(out)
    }
}

impl TryFrom<&http::request::Parts> for Request {
    type Error = Error;
    fn try_from(p: &http::request::Parts) -> Result<Self, Error> {
        let mut out = Request::new(method_from_http(&p.method)?, target_from_uri(&p.uri));
        out.version = version_from_http(p.version)?;
        out.headers = headers_from_http(&p.headers)?;
        Ok(out)
    }
}

impl TryFrom<&RequestHead> for http::Request<()> {
    type Error = Error;
    /// Sent heads are always HTTP/1.1.
    fn try_from(head: &RequestHead) -> Result<Self, Error> {
        parts_request(&head.method, &head.target, Version::Http11, &head.headers)
    }
}

impl<B> TryFrom<&http::Request<B>> for RequestHead {
    type Error = Error;
    /// The version is dropped (a [`RequestHead`] is always sent as HTTP/1.1); an HTTP/2 or
    /// HTTP/3 request is still [`Error::UnsupportedVersion`].
    fn try_from(req: &http::Request<B>) -> Result<Self, Error> {
        version_from_http(req.version())?;
        let mut out =
            RequestHead::new(method_from_http(req.method())?, target_from_uri(req.uri()))?;
        out.headers = headers_from_http(req.headers())?;
        Ok(out)
    }
}

impl TryFrom<&Response> for http::Response<()> {
    type Error = Error;
    fn try_from(res: &Response) -> Result<Self, Error> {
        parts_response(res.status, Some(&res.reason), res.version, &res.headers)
    }
}

impl<B> TryFrom<&http::Response<B>> for Response {
    type Error = Error;
    /// The reason phrase is the [`ReasonPhrase`] extension if present, else the canonical
    /// phrase of the status.
    fn try_from(res: &http::Response<B>) -> Result<Self, Error> {
        let status = res.status().as_u16();
        Ok(Response {
            version: version_from_http(res.version())?,
            status,
            reason: reason_of(res).unwrap_or(reason_phrase(status)).to_owned(),
            headers: headers_from_http(res.headers())?,
        })
    }
}

impl TryFrom<&ResponseHead> for http::Response<()> {
    type Error = Error;
    /// Sent heads are always HTTP/1.1.
    fn try_from(head: &ResponseHead) -> Result<Self, Error> {
        parts_response(
            head.status,
            head.reason.as_deref(),
            Version::Http11,
            &head.headers,
        )
    }
}

impl<B> TryFrom<&http::Response<B>> for ResponseHead {
    type Error = Error;
    /// A [`ReasonPhrase`] extension becomes the custom reason (validated).
    fn try_from(res: &http::Response<B>) -> Result<Self, Error> {
        version_from_http(res.version())?;
        let mut out = ResponseHead::new(res.status().as_u16());
        if let Some(r) = reason_of(res) {
            out = out.reason(Cow::Owned(r.to_owned()))?;
        }
        out.headers = headers_from_http(res.headers())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Status, parse_request, parse_response};

    fn parsed_request(raw: &[u8]) -> Request {
        match parse_request(raw, &Limits::default()) {
            Ok(Status::Complete((req, _))) => req,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_round_trip_keeps_method_target_version_and_repeated_fields() {
        let req = parsed_request(
            b"PROPFIND /a/b?x=1&y=%20 HTTP/1.0\r\nHost: h:8080\r\nX-Dup: 1\r\nX-Dup: 2\r\n\
              X-Bin: caf\xc3\xa9\r\n\r\n",
        );
        let h = http::Request::try_from(&req).unwrap();
        assert_eq!(h.method().as_str(), "PROPFIND");
        assert_eq!(h.uri().path(), "/a/b");
        assert_eq!(h.uri().query(), Some("x=1&y=%20"));
        assert_eq!(h.version(), http::Version::HTTP_10);
        let dups: Vec<_> = h.headers().get_all("x-dup").iter().collect();
        assert_eq!(dups, ["1", "2"]);
        assert_eq!(h.headers()["x-bin"].as_bytes(), b"caf\xc3\xa9");
        let back = Request::try_from(&h).unwrap();
        assert_eq!(back.method, req.method);
        assert_eq!(back.target, req.target);
        assert_eq!(back.version, req.version);
        // Same fields, same values, same order (names lower-cased by `http`).
        let a: Vec<_> = req
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec()))
            .collect();
        let b: Vec<_> = back
            .headers
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_vec()))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn every_standard_method_maps_to_the_same_http_method() {
        for m in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            let ours = Method::from_token(m).unwrap();
            let theirs = method_to_http(&ours).unwrap();
            assert_eq!(theirs.as_str(), m);
            assert_eq!(method_from_http(&theirs).unwrap(), ours);
        }
    }

    #[test]
    fn absolute_authority_and_asterisk_forms_survive() {
        for (method, target) in [
            ("GET", "http://example.com/x?y"),
            ("CONNECT", "example.com:443"),
            ("OPTIONS", "*"),
        ] {
            let req = Request::new(Method::from_token(method).unwrap(), target);
            let h = http::Request::try_from(&req).unwrap();
            assert_eq!(
                Request::try_from(&h).unwrap().target,
                target,
                "{method} {target}"
            );
        }
    }

    #[test]
    fn http2_request_is_unsupported_version() {
        let h = http::Request::builder()
            .version(http::Version::HTTP_2)
            .uri("/")
            .body(())
            .unwrap();
        assert_eq!(Request::try_from(&h), Err(Error::UnsupportedVersion));
        assert_eq!(RequestHead::try_from(&h), Err(Error::UnsupportedVersion));
    }

    #[test]
    fn invalid_target_for_http_is_a_target_error() {
        let req = Request::new(Method::Get, "/a b");
        assert_eq!(
            http::Request::try_from(&req).unwrap_err(),
            Error::Protocol(ProtocolError::Target)
        );
    }

    #[test]
    fn response_round_trip_keeps_custom_reason_through_the_extension() {
        let res = match parse_response(
            b"HTTP/1.1 404 Gone Fishing\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
            &Limits::default(),
        ) {
            Ok(Status::Complete((r, _))) => r,
            other => panic!("{other:?}"),
        };
        let h = http::Response::try_from(&res).unwrap();
        assert_eq!(h.status(), http::StatusCode::NOT_FOUND);
        assert_eq!(
            h.extensions().get::<ReasonPhrase>(),
            Some(&ReasonPhrase("Gone Fishing".into()))
        );
        let back = Response::try_from(&h).unwrap();
        assert_eq!(back.reason, "Gone Fishing");
        assert_eq!(back.status, 404);
        assert_eq!(
            back.headers.get_all("set-cookie").collect::<Vec<_>>(),
            [&b"a=1"[..], &b"b=2"[..]]
        );
    }

    #[test]
    fn canonical_reason_adds_no_extension() {
        let head = ResponseHead::new(101)
            .header("upgrade", "websocket")
            .unwrap();
        let h = http::Response::try_from(&head).unwrap();
        assert!(h.extensions().get::<ReasonPhrase>().is_none());
        assert_eq!(h.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        let back = ResponseHead::try_from(&h).unwrap();
        assert_eq!(back, head);
        assert_eq!(
            Response::try_from(&h).unwrap().reason,
            "Switching Protocols"
        );
    }

    #[test]
    fn response_head_with_custom_reason_round_trips() {
        let head = ResponseHead::new(299).reason("Fine").unwrap();
        let h = http::Response::try_from(&head).unwrap();
        assert_eq!(ResponseHead::try_from(&h).unwrap(), head);
    }

    #[test]
    fn request_head_round_trips() {
        let head = RequestHead::new(Method::Post, "/p?q=1")
            .and_then(|h| h.header("host", "x"))
            .and_then(|h| h.header("content-length", "0"))
            .unwrap();
        let h = http::Request::try_from(&head).unwrap();
        assert_eq!(h.version(), http::Version::HTTP_11);
        assert_eq!(RequestHead::try_from(&h).unwrap(), head);
    }

    #[test]
    fn http_parts_convert_like_the_request() {
        let (parts, ()) = http::Request::builder()
            .method("DELETE")
            .uri("/item/7")
            .header("host", "h")
            .body(())
            .unwrap()
            .into_parts();
        let req = Request::try_from(&parts).unwrap();
        assert_eq!(req.method, Method::Delete);
        assert_eq!(req.path(), "/item/7");
        assert_eq!(req.host(), Some("h"));
    }
}
