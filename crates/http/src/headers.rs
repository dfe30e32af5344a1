//! An ordered, case-insensitive header list that can only hold valid fields.

use std::fmt;

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
/// Storage is one byte buffer plus a table of offsets: a parsed head is copied once and its
/// fields are ranges into that copy. (A `Bytes` per field cost two atomic operations per
/// field and was a third of the head-parsing time in `benches/parse.rs`.)
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
#[derive(Clone, Default)]
pub struct Headers {
    /// The bytes every field points into.
    data: Vec<u8>,
    fields: Vec<Field>,
}

/// Where one field's name and value lie in `Headers::data`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: (usize, usize),
    pub(crate) value: (usize, usize),
}

impl Field {
    fn name<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.name.0..self.name.1).unwrap_or(&[])
    }

    fn value<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.value.0..self.value.1).unwrap_or(&[])
    }
}

impl PartialEq for Headers {
    /// Same fields in the same order (names compared exactly, as sent).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers::default()
    }

    /// An empty list with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Headers {
            data: Vec::with_capacity(n.saturating_mul(32)),
            fields: Vec::with_capacity(n),
        }
    }

    /// A list over a parsed head: `data` is the head, `fields` point into it (parser use).
    pub(crate) fn from_parsed(data: Vec<u8>, fields: Vec<Field>) -> Self {
        Headers { data, fields }
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
        self.push_raw(name.as_bytes(), value);
        Ok(())
    }

    fn push_raw(&mut self, name: &[u8], value: &[u8]) {
        let n0 = self.data.len();
        self.data.extend_from_slice(name);
        let v0 = self.data.len();
        self.data.extend_from_slice(value);
        self.fields.push(Field {
            name: (n0, v0),
            value: (v0, self.data.len()),
        });
    }

    /// Removes every field named `name`; answers how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.len();
        let mut kept = Headers::with_capacity(before);
        for (n, v) in self.iter() {
            if !n.eq_ignore_ascii_case(name) {
                kept.push_raw(n.as_bytes(), v);
            }
        }
        let removed = before - kept.len();
        if removed > 0 {
            // Rebuilt rather than left with holes, so repeated `set` calls cannot grow the
            // buffer without bound.
            *self = kept;
        }
        removed
    }

    /// Replaces every field named `name` by one field with `value` (validated as in
    /// [`Headers::append`]; on error the list is unchanged).
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        let mut probe = Headers::new();
        probe.append(name, value)?;
        self.remove(name);
        for (n, v) in probe.iter() {
            self.push_raw(n.as_bytes(), v);
        }
        Ok(())
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name(&self.data).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value(&self.data))
    }

    /// The first value of `name` if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.name(&self.data).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value(&self.data))
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
        self.fields.iter().map(|f| {
            (
                std::str::from_utf8(f.name(&self.data)).unwrap_or(""),
                f.value(&self.data),
            )
        })
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
