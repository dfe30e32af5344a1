//! Request-target helpers: path, query and percent-decoded query parameters.

use std::borrow::Cow;

/// Splits a request-target into (authority, path, query).
///
/// Origin-form `/p?q` gives `(None, "/p", Some("q"))`; absolute-form `http://h:1/p?q`
/// (RFC 9112 §3.2.2: a server MUST accept it) gives `(Some("h:1"), "/p", Some("q"))`, with an
/// empty path read as `/`; asterisk-form `*` and authority-form `h:443` (CONNECT) come back
/// as their own path. A fragment, which a request-target may not carry, is cut off.
pub(crate) fn split_target(target: &str) -> (Option<&str>, &str, Option<&str>) {
    // Origin-form, what nearly every request has: one pass to the first `?` or `#` (two
    // `find`s were each a call into the substring search, for targets of a few bytes).
    if target.as_bytes().first() == Some(&b'/') {
        let Some(i) = target.bytes().position(|b| b == b'?' || b == b'#') else {
            return (None, target, None);
        };
        let path = target.get(..i).unwrap_or(target);
        if target.as_bytes().get(i) == Some(&b'#') {
            return (None, path, None);
        }
        let query = target.get(i + 1..).unwrap_or("");
        let query = query.split('#').next().unwrap_or(query);
        return (None, path, Some(query));
    }
    split_any_form(target)
}

/// [`split_target`] for every form (and its reference for origin-form, in the tests).
fn split_any_form(target: &str) -> (Option<&str>, &str, Option<&str>) {
    let target = match target.find('#') {
        Some(i) => &target[..i],
        None => target,
    };
    // Origin-form, what nearly every request has, cannot be absolute-form (a scheme starts
    // with a letter): no search for `://` then.
    let absolute = match target.as_bytes().first() {
        Some(b'/') => None,
        _ => absolute_form(target),
    };
    let (authority, rest) = match absolute {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, target),
    };
    let (path, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let path = if authority.is_some() && path.is_empty() {
        "/"
    } else {
        path
    };
    (authority, path, query)
}

/// `scheme "://" authority rest` -> (authority, rest).
fn absolute_form(target: &str) -> Option<(&str, &str)> {
    let i = target.find("://")?;
    let scheme = &target[..i];
    let mut chars = scheme.bytes();
    let first_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_ok || !chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    let after = &target[i + 3..];
    let end = after.find(['/', '?']).unwrap_or(after.len());
    Some((&after[..end], &after[end..]))
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (and turns `+` into a space when `plus_is_space`, as HTML forms
/// encode query strings). A `%` not followed by two hex digits stays as it is; bytes that do
/// not form UTF-8 become U+FFFD. Borrows when nothing needs decoding.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Iterates the `name=value` pairs of a query string, percent-decoded with `+` as space.
/// A pair without `=` has an empty value; empty pairs (`a=1&&b=2`) are skipped.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k, true), percent_decode(v, true))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_forms_rfc9112_3_2() {
        assert_eq!(split_target("/a/b?x=1"), (None, "/a/b", Some("x=1")));
        assert_eq!(split_target("/a"), (None, "/a", None));
        assert_eq!(
            split_target("http://www.example.org/pub/WWW/TheProject.html"),
            (Some("www.example.org"), "/pub/WWW/TheProject.html", None)
        );
        assert_eq!(
            split_target("http://h:8080?q"),
            (Some("h:8080"), "/", Some("q"))
        );
        assert_eq!(split_target("*"), (None, "*", None));
        assert_eq!(
            split_target("www.example.com:80"),
            (None, "www.example.com:80", None)
        );
        assert_eq!(split_target("/p#frag"), (None, "/p", None));
        assert_eq!(
            split_target("/x?a=http://b"),
            (None, "/x", Some("a=http://b"))
        );
    }

    #[test]
    fn origin_form_shortcut_agrees_with_the_general_split() {
        // Every target of up to 6 bytes over the bytes that matter, starting with `/`.
        let alphabet = ["/", "?", "#", "a", "=", ":"];
        let mut targets = vec!["/".to_string()];
        let mut frontier = targets.clone();
        for _ in 0..5 {
            let next: Vec<String> = frontier
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            targets.extend(next.iter().cloned());
            frontier = next;
        }
        for t in &targets {
            assert_eq!(split_target(t), split_any_form(t), "{t:?}");
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%E2%82%AC", true), "€");
        assert_eq!(percent_decode("%FF", true), "\u{fffd}");
        assert!(matches!(percent_decode("plain", true), Cow::Borrowed(_)));
    }

    #[test]
    fn query_pairs() {
        let v: Vec<_> = pairs("a=1&&b&c=x%3Dy&d=e=f").collect();
        assert_eq!(
            v,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "x=y".into()),
                ("d".into(), "e=f".into()),
            ]
        );
    }
}
