//! The small part of the URL standard an event source needs: absolute `http(s)://` URLs,
//! their origin, and resolving a redirect's `Location` against them.

use std::fmt;

use crate::error::Error;

/// An absolute `http://` or `https://` URL, split into what a request needs.
///
/// ```
/// use pushwire_sse::client::Url;
/// let u = Url::parse("HTTP://Example.COM:8080/events?topic=a#frag")?;
/// assert_eq!((u.scheme(), u.host(), u.port()), ("http", "example.com", 8080));
/// assert_eq!(u.target(), "/events?topic=a");
/// assert_eq!(u.origin(), "http://example.com:8080");
/// assert_eq!(u.join("/other")?.as_str(), "http://example.com:8080/other");
/// # Ok::<(), pushwire_sse::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    scheme: &'static str,
    host: String,
    port: u16,
    target: String,
}

impl Url {
    /// Parses an absolute URL. Leading and trailing spaces and controls are ignored, the
    /// scheme and host are lowercased, the fragment dropped, bytes a request-target cannot
    /// carry are percent-encoded. Userinfo (`user@host`) is refused.
    pub fn parse(input: &str) -> Result<Url, Error> {
        let s = input.trim_matches(|c: char| c <= ' ');
        let (scheme, rest) = s.split_once("://").ok_or(Error::InvalidUrl)?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(Error::UnsupportedScheme);
        } else {
            return Err(Error::InvalidUrl);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = split_authority(authority, default_port(scheme))?;
        let tail = tail.split('#').next().unwrap_or("");
        let target = if tail.starts_with('/') {
            encode_target(tail)
        } else {
            format!("/{}", encode_target(tail))
        };
        Ok(Url {
            scheme,
            host,
            port,
            target,
        })
    }

    /// `"http"` or `"https"`.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// The host, lowercased; an IPv6 address keeps its brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (80 / 443 when the URL has none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request-target: path and query, at least `/`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header value: the host, plus the port unless it is the scheme's default.
    pub fn authority(&self) -> String {
        if self.port == default_port(self.scheme) {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The serialised origin, `scheme://authority` (rule 24: what an event's `origin` is).
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }

    /// The URL serialised.
    pub fn as_str(&self) -> String {
        format!("{}{}", self.origin(), self.target)
    }

    /// Resolves a redirect's `Location` against this URL: absolute URLs, `//host/...`,
    /// `/path`, `?query` and relative paths (dot segments are kept as sent).
    pub fn join(&self, location: &str) -> Result<Url, Error> {
        let loc = location.trim_matches(|c: char| c <= ' ');
        if has_scheme(loc) {
            return Url::parse(loc);
        }
        if loc.starts_with("//") {
            return Url::parse(&format!("{}:{loc}", self.scheme));
        }
        let loc = loc.split('#').next().unwrap_or("");
        let target = if loc.starts_with('/') {
            loc.to_owned()
        } else if loc.starts_with('?') {
            let path = self.target.split('?').next().unwrap_or("/");
            format!("{path}{loc}")
        } else if loc.is_empty() {
            self.target.clone()
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let dir = path
                .rfind('/')
                .map_or("/", |i| path.get(..=i).unwrap_or("/"));
            format!("{dir}{loc}")
        };
        Ok(Url {
            target: encode_target(&target),
            ..self.clone()
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

fn has_scheme(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut b = scheme.bytes();
            b.next().is_some_and(|c| c.is_ascii_alphabetic())
                && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        }
        None => false,
    }
}

fn split_authority(authority: &str, default: u16) -> Result<(String, u16), Error> {
    if authority.contains('@') {
        return Err(Error::InvalidUrl);
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(Error::InvalidUrl)?;
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(Error::InvalidUrl);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(Error::InvalidUrl)?),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    if !host_ok {
        return Err(Error::InvalidUrl);
    }
    let port = match port {
        None | Some("") => default,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().map_err(|_| Error::InvalidUrl)?
        }
        Some(_) => return Err(Error::InvalidUrl),
    };
    Ok((host, port))
}

/// Percent-encodes every byte a request-target may not carry (controls, space, non-ASCII).
fn encode_target(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_27_parses_absolute_urls_and_refuses_others() {
        let u = Url::parse(" http://127.0.0.1:9/a b?x=\u{e9} ").unwrap();
        assert_eq!(u.target(), "/a%20b?x=%C3%A9");
        assert_eq!(u.authority(), "127.0.0.1:9");
        assert_eq!(Url::parse("http://h").unwrap().target(), "/");
        assert_eq!(Url::parse("http://h?q").unwrap().target(), "/?q");
        assert_eq!(Url::parse("https://h/").unwrap().origin(), "https://h");
        assert_eq!(Url::parse("http://[::1]:8080/").unwrap().host(), "[::1]");
        for bad in [
            "",
            "/relative",
            "http://",
            "http://u@h/",
            "http://h:99999/",
            "http://h:x/",
            "http://a b/",
            "not a url",
        ] {
            assert_eq!(Url::parse(bad), Err(Error::InvalidUrl), "{bad}");
        }
        assert_eq!(Url::parse("ftp://h/"), Err(Error::UnsupportedScheme));
    }

    #[test]
    fn join_resolves_redirect_locations() {
        let base = Url::parse("http://h:81/a/b?q=1").unwrap();
        assert_eq!(base.join("http://x/y").unwrap().as_str(), "http://x/y");
        assert_eq!(base.join("//x:82/y").unwrap().as_str(), "http://x:82/y");
        assert_eq!(base.join("/z").unwrap().as_str(), "http://h:81/z");
        assert_eq!(base.join("c").unwrap().as_str(), "http://h:81/a/c");
        assert_eq!(base.join("?r=2").unwrap().as_str(), "http://h:81/a/b?r=2");
        assert_eq!(base.join("").unwrap().as_str(), "http://h:81/a/b?q=1");
    }
}
