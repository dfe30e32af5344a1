//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1), parsed into offers or responses.
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! Several header fields form one list (RFC 9110 §5.3). A quoted value is unquoted before
//! it is judged (RFC 6455 §9.1: "the value ... MUST conform to the ABNF ... after
//! unquoting"), so `client_max_window_bits="10"` is `10`.

use crate::error::HandshakeError;

/// One element of the list: an extension name and its parameters in order. Built by
/// [`parse_extensions`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extension {
    /// The extension token, as sent (compare case-insensitively).
    pub name: String,
    /// `(name, value)` pairs; `None` for a parameter without `=`.
    pub params: Vec<(String, Option<String>)>,
}

/// Most elements looked at in one header list. The head limit already bounds the bytes;
/// this bounds the work and memory of a list made of thousands of empty offers.
pub const MAX_EXTENSIONS: usize = 32;
/// Most parameters of one element (permessage-deflate defines four).
pub const MAX_PARAMS: usize = 16;

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Result<String, HandshakeError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let t = self.s.get(start..self.i).unwrap_or_default();
        if t.is_empty() {
            return Err(HandshakeError::MalformedExtensions);
        }
        // tchar is ASCII.
        Ok(String::from_utf8_lossy(t).into_owned())
    }
    /// RFC 9110 §5.6.4 quoted-string, unquoted; the opening `"` is at the cursor.
    fn quoted(&mut self) -> Result<String, HandshakeError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(HandshakeError::MalformedExtensions),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) if c == b'\t' || (b' '..=b'~').contains(&c) => out.push(c),
                        _ => return Err(HandshakeError::MalformedExtensions),
                    }
                    self.i += 1;
                }
                Some(c) if c == b'\t' || (b' '..=b'~').contains(&c) => {
                    out.push(c);
                    self.i += 1;
                }
                Some(_) => return Err(HandshakeError::MalformedExtensions),
            }
        }
    }
}

/// Parses every field value of the header into one list of extensions.
///
/// Empty list elements (`a, , b`) are skipped as RFC 9110 §5.6.1 asks of recipients. Fails
/// on any grammar error, on more than [`MAX_EXTENSIONS`] elements or more than
/// [`MAX_PARAMS`] parameters in one.
///
/// ```
/// use pushwire_ws::deflate::parse_extensions;
/// let v = [&b"permessage-deflate; client_max_window_bits, permessage-deflate"[..]];
/// let list = parse_extensions(v).unwrap();
/// assert_eq!(list.len(), 2);
/// assert_eq!(list[0].params, vec![("client_max_window_bits".into(), None)]);
/// ```
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Extension>, HandshakeError> {
    let mut list = Vec::new();
    for v in values {
        let mut c = Cursor { s: v, i: 0 };
        loop {
            c.skip_ows();
            match c.peek() {
                None => break,
                Some(b',') => {
                    c.i += 1;
                    continue;
                }
                Some(_) => {}
            }
            if list.len() == MAX_EXTENSIONS {
                return Err(HandshakeError::MalformedExtensions);
            }
            let name = c.token()?;
            let mut params = Vec::new();
            loop {
                c.skip_ows();
                match c.peek() {
                    None => break,
                    Some(b',') => {
                        c.i += 1;
                        break;
                    }
                    Some(b';') => c.i += 1,
                    Some(_) => return Err(HandshakeError::MalformedExtensions),
                }
                c.skip_ows();
                let pname = c.token()?;
                c.skip_ows();
                let value = if c.peek() == Some(b'=') {
                    c.i += 1;
                    c.skip_ows();
                    Some(if c.peek() == Some(b'"') {
                        c.quoted()?
                    } else {
                        c.token()?
                    })
                } else {
                    None
                };
                if params.len() == MAX_PARAMS {
                    return Err(HandshakeError::MalformedExtensions);
                }
                params.push((pname, value));
            }
            list.push(Extension { name, params });
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Vec<Extension>, HandshakeError> {
        parse_extensions([s.as_bytes()])
    }

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        Extension {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn rfc7692_5_offers_and_quoted_values() {
        assert_eq!(
            p("permessage-deflate; client_max_window_bits=\"10\" ;server_no_context_takeover , foo")
                .unwrap(),
            vec![
                ext(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", Some("10")),
                        ("server_no_context_takeover", None)
                    ]
                ),
                ext("foo", &[])
            ]
        );
        assert_eq!(
            p("a; b=\"x\\\"y\"").unwrap(),
            vec![ext("a", &[("b", Some("x\"y"))])]
        );
        assert_eq!(p(" , ,a,,").unwrap(), vec![ext("a", &[])]);
        assert_eq!(p("").unwrap(), vec![]);
    }

    #[test]
    fn several_fields_form_one_list() {
        let l = parse_extensions([&b"a; x"[..], b"b"]).unwrap();
        assert_eq!(l, vec![ext("a", &[("x", None)]), ext("b", &[])]);
    }

    #[test]
    fn grammar_errors() {
        for bad in [
            "a;",
            "a; =1",
            "a; b=",
            "a; b=\"x",
            "a b",
            ";a",
            "a; b=1 2",
            "a; b=\"\x01\"",
            "a=1",
            "a;b=c=d",
        ] {
            assert_eq!(p(bad), Err(HandshakeError::MalformedExtensions), "{bad:?}");
        }
        let many = vec!["a"; MAX_EXTENSIONS + 1].join(",");
        assert_eq!(p(&many), Err(HandshakeError::MalformedExtensions));
        let params = format!("a{}", "; b".repeat(MAX_PARAMS + 1));
        assert_eq!(p(&params), Err(HandshakeError::MalformedExtensions));
    }
}
