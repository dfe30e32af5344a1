//! CORS for cross-origin polling with credentials (`fetch(url, {credentials: "include"})`).
//!
//! A credentialed cross-origin response must name the origin exactly (the Fetch standard,
//! "CORS check": `*` is refused with credentials) and say
//! `Access-Control-Allow-Credentials: true`; since the answer then depends on the request's
//! `Origin`, it also carries `Vary: Origin` so no shared cache hands one origin's answer to
//! another. Origins not on the list get 403 (DESIGN.md, "Security defaults").
//!
//! A request without `Origin` is not a CORS request (curl, server-to-server, or a
//! same-origin `GET`, for which browsers omit it) and passes without CORS headers.

use pushwire_http::{Request, ResponseHead};

use crate::error::Error;

/// Methods a preflight allows.
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// Request headers a preflight allows when the client asks for none in particular.
const ALLOW_HEADERS: &str = "Content-Type, Last-Event-ID, Authorization";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// The allowed origins: the server's own (`scheme://Host` of each request) and a list.
///
/// ```
/// use pushwire_http::{Method, Request, ResponseHead};
/// use pushwire_poll::Cors;
/// let cors = Cors::new(["https://app.example"]);
/// let mut req = Request::new(Method::Get, "/poll");
/// req.headers.append("Host", "api.example").unwrap();
/// req.headers.append("Origin", "https://app.example").unwrap();
/// let allowed = cors.check(&req).unwrap();
/// let mut head = ResponseHead::new(200);
/// allowed.apply(&mut head);
/// assert_eq!(head.headers.get_str("access-control-allow-origin"), Some("https://app.example"));
/// assert_eq!(head.headers.get_str("access-control-allow-credentials"), Some("true"));
///
/// req.headers.set("Origin", "https://evil.example").unwrap();
/// assert_eq!(cors.check(&req).unwrap_err().status(), 403);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    allowed: Vec<String>,
    own_scheme: &'static str,
}

/// What [`Cors::check`] decided for an allowed request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum CorsAllowed {
    /// No `Origin` header: not a CORS request; add nothing.
    NotCors,
    /// The request's origin (the server's own or a listed one): echo it.
    Origin(String),
}

impl Cors {
    /// Allows `origins` (exact `scheme://host[:port]` strings, compared ASCII
    /// case-insensitively, default ports ignored) and the server's own `http://` origin.
    pub fn new<I, S>(origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cors {
            allowed: origins.into_iter().map(|o| normalize(&o.into())).collect(),
            own_scheme: "http",
        }
    }

    /// Sets the scheme of the server's own origin: `"https"` behind TLS (default `"http"`).
    pub fn with_own_scheme(mut self, scheme: &'static str) -> Cors {
        self.own_scheme = scheme;
        self
    }

    /// Whether `origin` may make credentialed requests, given the request's `Host` (its
    /// own origin is always allowed).
    pub fn is_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = normalize(origin);
        if let Some(host) = host
            && origin == normalize(&format!("{}://{}", self.own_scheme, host))
        {
            return true;
        }
        self.allowed.contains(&origin)
    }

    /// Checks the request's `Origin`: allowed (or absent) origins pass, others are
    /// [`Error::OriginNotAllowed`] (403). A non-UTF-8 or repeated `Origin` is refused.
    pub fn check(&self, req: &Request) -> Result<CorsAllowed, Error> {
        match req.headers.count("origin") {
            0 => return Ok(CorsAllowed::NotCors),
            1 => {}
            _ => return Err(Error::OriginNotAllowed),
        }
        let origin = req
            .headers
            .get_str("origin")
            .ok_or(Error::OriginNotAllowed)?;
        if self.is_allowed(origin, req.host()) {
            Ok(CorsAllowed::Origin(origin.to_owned()))
        } else {
            Err(Error::OriginNotAllowed)
        }
    }

    /// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`): `204` with the
    /// allowed methods and headers, credentials and a 10-minute `Access-Control-Max-Age`;
    /// or [`Error::OriginNotAllowed`] (403).
    ///
    /// Requested headers are echoed when they form a plain comma-separated token list
    /// (the browser lists exactly what the script sets); otherwise a fixed list is sent.
    pub fn preflight(&self, req: &Request) -> Result<ResponseHead, Error> {
        let allowed = self.check(req)?;
        let mut head = ResponseHead::new(204);
        allowed.apply(&mut head);
        let _ = head
            .headers
            .append("Access-Control-Allow-Methods", ALLOW_METHODS);
        let requested = req
            .headers
            .get_str("access-control-request-headers")
            .filter(|h| is_token_list(h));
        let _ = head.headers.append(
            "Access-Control-Allow-Headers",
            requested.unwrap_or(ALLOW_HEADERS),
        );
        let _ = head.headers.append("Access-Control-Max-Age", MAX_AGE_SECS);
        let _ = head.headers.append("Content-Length", "0");
        Ok(head)
    }
}

impl CorsAllowed {
    /// Adds the CORS response headers (nothing for [`CorsAllowed::NotCors`] but `Vary`).
    pub fn apply(&self, head: &mut ResponseHead) {
        // The answer depends on `Origin` either way: tell caches.
        let _ = head.headers.append("Vary", "Origin");
        if let CorsAllowed::Origin(origin) = self {
            // The origin passed the allow-list, which only holds valid origins, and
            // `Headers` refuses control bytes anyway: the append cannot inject anything.
            let _ = head
                .headers
                .append("Access-Control-Allow-Origin", origin.as_bytes());
            let _ = head
                .headers
                .append("Access-Control-Allow-Credentials", "true");
        }
    }
}

/// Lowercases an origin and drops the scheme's default port, so `HTTP://A:80` and
/// `http://a` compare equal (browsers send the short, lowercase form; a `Host` header may
/// carry the port).
fn normalize(origin: &str) -> String {
    let lower = origin.trim().to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if lower.starts_with(scheme)
            && let Some(stripped) = lower.strip_suffix(port)
        {
            return stripped.to_owned();
        }
    }
    lower
}

fn is_token_list(s: &str) -> bool {
    s.len() <= 1024
        && s.split(',').all(|t| {
            let t = t.trim();
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushwire_http::Method;

    fn req(method: Method, host: &str, origin: Option<&str>) -> Request {
        let mut r = Request::new(method, "/poll");
        r.headers.append("Host", host).unwrap();
        if let Some(o) = origin {
            r.headers.append("Origin", o).unwrap();
        }
        r
    }

    #[test]
    fn no_origin_passes_without_cors_headers() {
        let cors = Cors::new(Vec::<String>::new());
        let r = req(Method::Get, "h:3000", None);
        let a = cors.check(&r).unwrap();
        assert_eq!(a, CorsAllowed::NotCors);
        let mut head = ResponseHead::new(200);
        a.apply(&mut head);
        assert!(!head.headers.contains("access-control-allow-origin"));
    }

    #[test]
    fn own_origin_and_listed_origins_are_echoed() {
        let cors = Cors::new(["https://App.Example:443", "http://localhost:8080"]);
        for (host, origin) in [
            ("127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("api.example", "https://app.example"),
            ("api.example", "http://localhost:8080"),
            ("example.com:80", "http://example.com"),
        ] {
            let a = cors.check(&req(Method::Get, host, Some(origin))).unwrap();
            let mut head = ResponseHead::new(200);
            a.apply(&mut head);
            assert_eq!(
                head.headers.get_str("access-control-allow-origin"),
                Some(origin)
            );
            assert_eq!(
                head.headers.get_str("access-control-allow-credentials"),
                Some("true")
            );
            assert_eq!(head.headers.get_str("vary"), Some("Origin"));
        }
    }

    #[test]
    fn other_origins_get_403() {
        let cors = Cors::new(["https://app.example"]);
        for origin in [
            "https://app.example.evil",
            "http://app.example",
            "null",
            "https://127.0.0.1:3000",
        ] {
            let e = cors
                .check(&req(Method::Get, "127.0.0.1:3000", Some(origin)))
                .unwrap_err();
            assert_eq!(e.status(), 403, "{origin}");
        }
        // TLS: the own origin is https.
        let tls = Cors::new(Vec::<String>::new()).with_own_scheme("https");
        assert!(tls.check(&req(Method::Get, "h", Some("https://h"))).is_ok());
        assert!(tls.check(&req(Method::Get, "h", Some("http://h"))).is_err());
        // Two Origin headers: refused.
        let mut r = req(Method::Get, "h", Some("http://h"));
        r.headers.append("Origin", "http://h").unwrap();
        assert!(Cors::default().check(&r).is_err());
    }

    #[test]
    fn preflight_answers_204_with_methods_and_headers() {
        let cors = Cors::new(["https://app.example"]);
        let mut r = req(Method::Options, "api", Some("https://app.example"));
        r.headers
            .append("Access-Control-Request-Method", "GET")
            .unwrap();
        r.headers
            .append("Access-Control-Request-Headers", "last-event-id, x-custom")
            .unwrap();
        let head = cors.preflight(&r).unwrap();
        assert_eq!(head.status, 204);
        assert_eq!(
            head.headers.get_str("access-control-allow-methods"),
            Some(ALLOW_METHODS)
        );
        assert_eq!(
            head.headers.get_str("access-control-allow-headers"),
            Some("last-event-id, x-custom")
        );
        assert_eq!(
            head.headers.get_str("access-control-allow-credentials"),
            Some("true")
        );
        let mut bad = req(Method::Options, "api", Some("https://evil.example"));
        bad.headers
            .append("Access-Control-Request-Method", "GET")
            .unwrap();
        assert_eq!(cors.preflight(&bad).unwrap_err().status(), 403);
    }
}
