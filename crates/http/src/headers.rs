//! An ordered, case-insensitive header list that can only hold valid fields.

use bytes::Bytes;

use crate::error::{Error, UsageError};

/// Is `b` a `tchar` (RFC 9110 §5.6.2)?
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Is `s` a non-empty token (RFC 9110 §5.6.2)?
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// May `b` appear inside a field value (RFC 9110 §5.5: VCHAR, obs-text, SP, HTAB)?
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Header fields in the order they were received or appended.
///
/// Names keep their original case and are compared case-insensitively. Every name is a
/// token and every value free of CR, LF, NUL and other control bytes: [`Headers::append`]
/// refuses anything else, and the parser only admits what `httparse` validated, so a
/// `Headers` can always be encoded without corrupting the message.
///
/// Values are [`Bytes`] slices; a parsed head copies its bytes once and every field shares
/// that one allocation.
///
/// ```
/// use pushwire_http::Headers;
/// let mut h = Headers::new();
/// h.append("Connection", "keep-alive, Upgrade")?;
/// h.append("Upgrade", "websocket")?;
/// assert!(h.contains_token("connection", "upgrade"));
/// assert_eq!(h.get_str("UPGRADE"), Some("websocket"));
/// assert!(h.append("X-Evil", "a\r\nSet-Cookie: x=1").is_err());
/// # Ok::<(), pushwire_http::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(Bytes, Bytes)>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers { fields: Vec::new() }
    }

    /// An empty list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Headers {
            fields: Vec::with_capacity(n),
        }
    }

    /// Appends a field, keeping any earlier field of the same name.
    ///
    /// `name` must be a token (`UsageError::InvalidHeaderName` otherwise). `value` has
    /// leading and trailing spaces/tabs removed and must then contain only visible ASCII,
    /// spaces, tabs and bytes >= 0x80 (`UsageError::InvalidHeaderValue` otherwise: CR, LF
    /// and NUL would let a value inject headers). On error nothing is appended.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        if !is_token(name.as_bytes()) {
            return Err(Error::Usage(UsageError::InvalidHeaderName));
        }
        let value = trim_ows(value.as_ref());
        if !value.iter().all(|&b| is_field_value_byte(b)) {
            return Err(Error::Usage(UsageError::InvalidHeaderValue));
        }
        self.fields.push((
            Bytes::copy_from_slice(name.as_bytes()),
            Bytes::copy_from_slice(value),
        ));
        Ok(())
    }

    /// Removes every field named `name`; answers how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        before - self.fields.len()
    }

    /// Replaces every field named `name` by one field with `value` (validated as in
    /// [`Headers::append`]; on error the list is unchanged).
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        let mut probe = Headers::new();
        probe.append(name, value)?;
        self.remove(name);
        self.fields.append(&mut probe.fields);
        Ok(())
    }

    /// Pushes an already validated field (parser use only).
    pub(crate) fn push_unchecked(&mut self, name: Bytes, value: Bytes) {
        self.fields.push((name, value));
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ref())
    }

    /// The first value of `name` if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ref())
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Is `name` present at all?
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The non-empty elements of the comma-separated list formed by every `name` field
    /// (RFC 9110 §5.6.1), with optional whitespace trimmed. Quoted strings are not
    /// interpreted: use this for token lists such as `Connection` or `Transfer-Encoding`.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows)
            .filter(|e| !e.is_empty())
    }

    /// Does the comma-separated list in the `name` fields contain `token`
    /// (case-insensitive, across repeated fields)? `Connection: keep-alive, Upgrade`
    /// contains `upgrade`.
    pub fn contains_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.fields
            .iter()
            .map(|(n, v)| (std::str::from_utf8(n).unwrap_or(""), v.as_ref()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// No fields at all?
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_ordered() {
        let mut h = Headers::new();
        h.append("Set-Cookie", "a=1").unwrap();
        h.append("set-cookie", "b=2").unwrap();
        h.append("Host", "x").unwrap();
        assert_eq!(h.get("SET-COOKIE"), Some(&b"a=1"[..]));
        let all: Vec<_> = h.get_all("Set-Cookie").collect();
        assert_eq!(all, vec![&b"a=1"[..], &b"b=2"[..]]);
        assert_eq!(h.len(), 3);
        assert_eq!(h.count("set-cookie"), 2);
        let names: Vec<_> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Set-Cookie", "set-cookie", "Host"]);
    }

    #[test]
    fn append_refuses_injection_and_bad_names() {
        let mut h = Headers::new();
        for v in ["a\r\nb", "a\nb", "a\rb", "a\0b", "a\x7fb", "a\x01b"] {
            assert_eq!(
                h.append("X", v),
                Err(Error::Usage(UsageError::InvalidHeaderValue)),
                "{v:?}"
            );
        }
        for n in ["", "A B", "A:B", "A\r\n", "Ä", "(x)"] {
            assert_eq!(
                h.append(n, "v"),
                Err(Error::Usage(UsageError::InvalidHeaderName)),
                "{n:?}"
            );
        }
        assert!(h.is_empty());
    }

    #[test]
    fn append_trims_ows_and_keeps_tabs_inside() {
        let mut h = Headers::new();
        h.append("X", " \ta\tb \t").unwrap();
        assert_eq!(h.get("x"), Some(&b"a\tb"[..]));
    }

    #[test]
    fn tokens_across_repeated_fields() {
        let mut h = Headers::new();
        h.append("Connection", "keep-alive ,, ").unwrap();
        h.append("Connection", "\tUpgrade").unwrap();
        assert!(h.contains_token("connection", "upgrade"));
        assert!(h.contains_token("connection", "KEEP-ALIVE"));
        assert!(!h.contains_token("connection", "close"));
        assert!(!h.contains_token("connection", "keep"));
        let l: Vec<_> = h.list("connection").collect();
        assert_eq!(l, vec![&b"keep-alive"[..], &b"Upgrade"[..]]);
    }

    #[test]
    fn set_replaces_and_remove_counts() {
        let mut h = Headers::new();
        h.append("A", "1").unwrap();
        h.append("a", "2").unwrap();
        h.set("A", "3").unwrap();
        assert_eq!(h.get_all("a").collect::<Vec<_>>(), vec![&b"3"[..]]);
        assert!(h.set("A", "\n").is_err());
        assert_eq!(h.get("a"), Some(&b"3"[..]));
        assert_eq!(h.remove("A"), 1);
        assert!(h.is_empty());
    }
}
