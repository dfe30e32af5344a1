//! Method + path to handler, and the access check every request passes first.
//!
//! The access check is the single place where requests are admitted: today it checks the
//! `Origin` against the allow-list; a token check (issue 13) slots in next to it and can refuse
//! with its own status without any transport knowing.

use crate::config::Config;
use crate::wire::{HeadView, Request};

/// The endpoints of the product contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the demo page (or `index.html` of `--static`).
    Index,
    /// `POST /publish`.
    Publish,
    /// `GET /poll`.
    Poll,
    /// `GET /long-poll`.
    LongPoll,
    /// `GET /events`.
    Events,
    /// `GET /ws`.
    Ws,
    /// `GET /echo`.
    Echo,
    /// `GET /healthz`.
    Health,
    /// Anything else: a static file, or 404.
    Other,
}

impl Route {
    /// Routes a (still percent-encoded) path.
    pub fn of(path: &str) -> Route {
        Route::of_bytes(path.as_bytes())
    }

    /// [`Route::of`] on the path's bytes (the connection routes the head's bytes without
    /// checking them for UTF-8 first).
    pub fn of_bytes(path: &[u8]) -> Route {
        match path {
            b"/" => Route::Index,
            b"/publish" => Route::Publish,
            b"/poll" => Route::Poll,
            b"/long-poll" => Route::LongPoll,
            b"/events" => Route::Events,
            b"/ws" => Route::Ws,
            b"/echo" => Route::Echo,
            b"/healthz" => Route::Health,
            _ => Route::Other,
        }
    }

    /// The methods this route answers, as the `Allow` header lists them.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Index | Route::Health | Route::Other => "GET, HEAD",
            Route::Publish => "POST, OPTIONS",
            Route::Poll => "GET, HEAD, OPTIONS",
            Route::LongPoll | Route::Events => "GET, OPTIONS",
            Route::Ws | Route::Echo => "GET",
        }
    }

    /// Whether `method` is one of [`Route::allow`].
    pub fn allows(self, method: &str) -> bool {
        match self {
            Route::Index | Route::Health | Route::Other => matches!(method, "GET" | "HEAD"),
            Route::Publish => matches!(method, "POST" | "OPTIONS"),
            Route::Poll => matches!(method, "GET" | "HEAD" | "OPTIONS"),
            Route::LongPoll | Route::Events => matches!(method, "GET" | "OPTIONS"),
            Route::Ws | Route::Echo => method == "GET",
        }
    }

    /// Whether cross-origin access rules apply (API endpoints; not pages or health).
    pub fn is_api(self) -> bool {
        !matches!(self, Route::Index | Route::Health | Route::Other)
    }
}

/// What the access check decided for an admitted request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The allowed foreign origin to echo in `Access-Control-Allow-Origin` (with
    /// credentials); `None` for same-origin or origin-less requests.
    pub cors_origin: Option<String>,
    /// When the request's token expires: streams and long polls end then. `None` without
    /// access control.
    pub expires_at: Option<std::time::Instant>,
    /// The token does not grant publishing on the topic: a `/ws` client that sends a message
    /// is closed with 1008.
    pub publish_denied: bool,
}

/// Admits or refuses a request: `Err(status)` is the answer (403 for a foreign origin; with
/// access control on, 401 for a missing or invalid token and 403 for a topic its claims do not
/// cover).
///
/// Browsers send `Origin` on WebSocket upgrades and on CORS requests; a request without it
/// comes from a non-browser client, which an origin check cannot constrain anyway.
///
/// The server's own origin is `scheme://` + `Host` (`http`, or `https` behind TLS).
pub fn check_access(
    req: &Request,
    route: Route,
    cfg: &Config,
    scheme: &str,
) -> Result<Access, u16> {
    check_access_of(req, route, cfg, scheme)
}

/// [`check_access`] for either form of the request (the connection's borrowed head too).
pub(crate) fn check_access_of(
    req: &impl HeadView,
    route: Route,
    cfg: &Config,
    scheme: &str,
) -> Result<Access, u16> {
    if !route.is_api() {
        return Ok(Access::default());
    }
    let access = check_origin(req, cfg, scheme)?;
    #[cfg(feature = "auth")]
    if let Some(v) = &cfg.auth {
        // A CORS preflight carries no credentials; the request it announces will.
        if req.method_str() != "OPTIONS" {
            return check_token(req, route, v, access);
        }
    }
    Ok(access)
}

/// The token rules: a valid token, and claims covering the topic (`/echo`: any valid token).
#[cfg(feature = "auth")]
fn check_token(
    req: &impl HeadView,
    route: Route,
    v: &crate::auth::Verifier,
    mut access: Access,
) -> Result<Access, u16> {
    let token = req.token().ok_or(401u16)?;
    let now = crate::auth::unix_now();
    let grant = v.verify(&token, now.as_secs()).map_err(|e| e.status())?;
    let topic = req.param("topic");
    let topic: &str = topic.as_deref().unwrap_or("default");
    let allowed = match route {
        Route::Publish => grant.may_publish(topic),
        Route::Poll | Route::LongPoll | Route::Events | Route::Ws => grant.may_subscribe(topic),
        _ => true,
    };
    if !allowed {
        return Err(403);
    }
    access.publish_denied = route == Route::Ws && !grant.may_publish(topic);
    let left = std::time::Duration::from_secs(grant.exp).saturating_sub(now);
    access.expires_at = Some(std::time::Instant::now() + left);
    Ok(access)
}

/// The origin rule: own origin, no origin, or one of `allow_origins`.
fn check_origin(req: &impl HeadView, cfg: &Config, scheme: &str) -> Result<Access, u16> {
    let Some(origin) = req.first_header("origin") else {
        return Ok(Access::default());
    };
    let origin = std::str::from_utf8(origin).map_err(|_| 403u16)?.trim();
    let host = req.first_header_str("host").unwrap_or("").trim();
    let prefix = scheme.len() + 3; // "scheme://"
    let own = !host.is_empty()
        && origin.len() == prefix + host.len()
        && origin
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        && origin.get(scheme.len()..prefix) == Some("://")
        && origin
            .get(prefix..)
            .is_some_and(|s| s.eq_ignore_ascii_case(host));
    if own {
        return Ok(Access::default());
    }
    let listed = cfg
        .allow_origins
        .iter()
        .any(|a| a.eq_ignore_ascii_case(origin.trim_end_matches('/')));
    if listed {
        Ok(Access {
            cors_origin: Some(origin.to_string()),
            ..Access::default()
        })
    } else {
        Err(403)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            target: "/ws".into(),
            path: "/ws".into(),
            query: String::new(),
            version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
        }
    }

    #[test]
    fn origins() {
        let mut cfg = Config::default();
        cfg.allow_origins.push("https://app.example".into());
        let own = req(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
        ]);
        assert_eq!(
            check_access(&own, Route::Ws, &cfg, "http"),
            Ok(Access::default())
        );
        let none = req(&[("host", "h")]);
        assert_eq!(
            check_access(&none, Route::Ws, &cfg, "http"),
            Ok(Access::default())
        );
        let listed = req(&[("host", "h"), ("origin", "https://app.example")]);
        assert_eq!(
            check_access(&listed, Route::Events, &cfg, "http")
                .unwrap()
                .cors_origin
                .as_deref(),
            Some("https://app.example")
        );
        for bad in [
            "http://evil.example",
            "null",
            "https://127.0.0.1:3000",
            "http://127.0.0.1:30000",
        ] {
            let r = req(&[("host", "127.0.0.1:3000"), ("origin", bad)]);
            assert_eq!(check_access(&r, Route::Ws, &cfg, "http"), Err(403), "{bad}");
            assert_eq!(
                check_access(&r, Route::Health, &cfg, "http"),
                Ok(Access::default())
            );
        }
        // behind TLS the own origin is https://
        let tls = req(&[("host", "h:1"), ("origin", "https://h:1")]);
        assert_eq!(
            check_access(&tls, Route::Ws, &cfg, "https"),
            Ok(Access::default())
        );
        assert_eq!(check_access(&tls, Route::Ws, &cfg, "http"), Err(403));
    }

    #[cfg(feature = "auth")]
    #[test]
    fn tokens_join_the_origin_check() {
        use crate::auth::{Verifier, sign_hs256, unix_now};
        let cfg = Config {
            auth: Some(Verifier::new(b"k")),
            ..Config::default()
        };
        let exp = unix_now().as_secs() + 60;
        let t = sign_hs256(
            b"k",
            &format!(r#"{{"exp":{exp},"subscribe":["a"],"publish":["p"]}}"#),
        );
        let mut r = req(&[("host", "h")]);
        r.query = "topic=a".into();
        // no token; then the same request with one in the header or the query
        assert_eq!(check_access(&r, Route::Ws, &cfg, "http"), Err(401));
        let mut hdr = r.clone();
        hdr.headers
            .push(("authorization".into(), format!("Bearer {t}").into()));
        let a = check_access(&hdr, Route::Ws, &cfg, "http").unwrap();
        assert!(a.publish_denied && a.expires_at.is_some());
        r.query = format!("topic=a&token={t}");
        assert!(check_access(&r, Route::Poll, &cfg, "http").is_ok());
        assert_eq!(check_access(&r, Route::Publish, &cfg, "http"), Err(403));
        // the origin rule still comes first
        let mut foreign = r.clone();
        foreign
            .headers
            .push(("origin".into(), "http://evil".into()));
        assert_eq!(check_access(&foreign, Route::Poll, &cfg, "http"), Err(403));
        // pages, health and preflights need no token
        let mut bare = req(&[("host", "h")]);
        assert!(check_access(&bare, Route::Health, &cfg, "http").is_ok());
        assert!(check_access(&bare, Route::Index, &cfg, "http").is_ok());
        bare.method = "OPTIONS".into();
        assert!(check_access(&bare, Route::Poll, &cfg, "http").is_ok());
    }

    #[test]
    fn allow_lists() {
        assert_eq!(Route::of("/publish"), Route::Publish);
        assert!(Route::Publish.allows("POST"));
        assert!(!Route::Publish.allows("GET"));
        assert!(Route::Poll.allows("HEAD"));
        assert_eq!(Route::of("/x"), Route::Other);
        assert_eq!(Route::of_bytes(b"/healthz"), Route::Health);
        assert_eq!(Route::of_bytes(b"/healthz/"), Route::Other);
    }
}
