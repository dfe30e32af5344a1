//! permessage-deflate negotiation (RFC 7692 §5, §7.1) in both roles.

use super::extensions::{Extension, parse_extensions};
use super::{DeflateConfig, DeflateParams};
use crate::error::HandshakeError;

/// The registered extension name (RFC 7692 §7).
pub const NAME: &str = "permessage-deflate";

/// The parameters of one offer or response, each at most once and valid (§7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `Some(n)`: `server_max_window_bits=n`.
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: `client_max_window_bits` without a value (an offer's "I can limit").
    client_max_window_bits: Option<Option<u8>>,
}

/// §7.1.2: a window-bits value is `1*DIGIT` from 8 to 15 without a leading zero.
fn window_bits(v: &str) -> Option<u8> {
    match v.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// Validates an element's parameters: "A server MUST decline an extension negotiation
/// offer ... if ... the negotiation offer contains an extension parameter not defined for
/// use in an offer ... [or] an extension parameter with an invalid value ... [or] multiple
/// extension parameters with the same name" (§7), and the same rules fail a response on
/// the client (§7: "the client MUST _Fail the WebSocket Connection_").
fn parse_params(e: &Extension) -> Option<Parsed> {
    let mut p = Parsed::default();
    let mut seen = [false; 4];
    for (name, value) in &e.params {
        let (slot, ok) = match (name.as_str(), value.as_deref()) {
            ("server_no_context_takeover", None) => {
                p.server_no_context_takeover = true;
                (0, true)
            }
            ("client_no_context_takeover", None) => {
                p.client_no_context_takeover = true;
                (1, true)
            }
            ("server_max_window_bits", Some(v)) => {
                p.server_max_window_bits = window_bits(v);
                (2, p.server_max_window_bits.is_some())
            }
            ("client_max_window_bits", None) => {
                p.client_max_window_bits = Some(None);
                (3, true)
            }
            ("client_max_window_bits", Some(v)) => {
                let b = window_bits(v);
                p.client_max_window_bits = Some(b);
                (3, b.is_some())
            }
            _ => return None,
        };
        if !ok || std::mem::replace(&mut seen[slot], true) {
            return None;
        }
    }
    Some(p)
}

/// The server's choice: the first permessage-deflate offer (in the client's order of
/// preference, across every `Sec-WebSocket-Extensions` field) that is valid, and the
/// response element to send.
///
/// Offers with an unknown or duplicate parameter or an invalid value are declined and the
/// next one is tried (§5.1: the server "MUST NOT accept more than one"; §7: "MUST decline");
/// a malformed header declines everything. Declining is never an HTTP error: the `101`
/// goes out without the extension. Our answer always carries `server_no_context_takeover`
/// unless `cfg.own_context_takeover`, and `client_no_context_takeover` unless
/// `cfg.peer_context_takeover` (§7.1.1.2: "A server MAY include the
/// "client_no_context_takeover" extension parameter in an extension negotiation response
/// even if the extension negotiation offer sent by the client does not include" it).
///
/// ```
/// use pushwire_ws::deflate::{DeflateConfig, negotiate_server};
/// let offer = [&b"permessage-deflate; client_max_window_bits"[..]];
/// let (params, answer) = negotiate_server(offer, &DeflateConfig::default()).unwrap();
/// assert_eq!(answer, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
/// assert!(params.server_no_context_takeover && params.client_no_context_takeover);
/// ```
pub fn negotiate_server<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    cfg: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    if !cfg.enabled {
        return None;
    }
    let list = parse_extensions(values).ok()?;
    for e in list.iter().filter(|e| e.name.eq_ignore_ascii_case(NAME)) {
        let Some(offer) = parse_params(e) else {
            continue;
        };
        let params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || !cfg.own_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || !cfg.peer_context_takeover,
            // §7.1.2.1: "the server ... MUST include the "server_max_window_bits"
            // extension parameter in the extension negotiation response with an equal or
            // smaller value" when offered; we use the value offered.
            server_max_window_bits: offer.server_max_window_bits.unwrap_or(15),
            // We never ask the client to shrink its window: our inflater uses 15 bits.
            client_max_window_bits: 15,
        };
        let mut answer = String::from(NAME);
        if params.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if params.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if let Some(b) = offer.server_max_window_bits {
            answer.push_str(&format!("; server_max_window_bits={b}"));
        }
        return Some((params, answer));
    }
    None
}

/// The client's offer: `permessage-deflate; client_max_window_bits` with
/// `client_no_context_takeover` unless `cfg.own_context_takeover`; unless
/// `cfg.peer_context_takeover` it first offers the same with `server_no_context_takeover`
/// and then, as a fallback for servers that cannot honour that, the offer without it.
///
/// ```
/// use pushwire_ws::deflate::{DeflateConfig, client_offer};
/// assert_eq!(client_offer(&DeflateConfig::default()).as_deref(), Some(
///     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
///      client_max_window_bits, permessage-deflate; client_no_context_takeover; client_max_window_bits"));
/// ```
pub fn client_offer(cfg: &DeflateConfig) -> Option<String> {
    if !cfg.enabled {
        return None;
    }
    let tail = if cfg.own_context_takeover {
        "client_max_window_bits"
    } else {
        "client_no_context_takeover; client_max_window_bits"
    };
    Some(if cfg.peer_context_takeover {
        format!("{NAME}; {tail}")
    } else {
        format!("{NAME}; server_no_context_takeover; {tail}, {NAME}; {tail}")
    })
}

/// Checks the server's `Sec-WebSocket-Extensions` against what [`client_offer`] offered.
///
/// No header: `Ok(None)`, no compression. Otherwise it must be exactly one valid
/// permessage-deflate element (§7: the client MUST fail the connection on an unknown or
/// duplicate parameter, an invalid value, or `client_max_window_bits` when it was not
/// offered; RFC 6455 §4.1: an extension not offered fails it). `offered` is `None` when no
/// offer was made: then any header fails.
pub fn verify_client<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    offered: Option<&DeflateConfig>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let list = parse_extensions(values)?;
    let Some(cfg) = offered else {
        return if list.is_empty() {
            Ok(None)
        } else {
            Err(HandshakeError::Extension)
        };
    };
    let e = match list.as_slice() {
        [] => return Ok(None),
        [e] if e.name.eq_ignore_ascii_case(NAME) => e,
        _ => return Err(HandshakeError::Extension),
    };
    let r = parse_params(e).ok_or(HandshakeError::Extension)?;
    let client_bits = match r.client_max_window_bits {
        None => 15,
        Some(Some(b)) => b,
        // §7.1.2.2: a response's client_max_window_bits MUST have a value.
        Some(None) => return Err(HandshakeError::Extension),
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: r.server_no_context_takeover,
        // We offered client_no_context_takeover unless we keep our context: either way we
        // honour a server that asks for it.
        client_no_context_takeover: r.client_no_context_takeover || !cfg.own_context_takeover,
        server_max_window_bits: r.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: client_bits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(h: &[&str]) -> Option<(DeflateParams, String)> {
        negotiate_server(h.iter().map(|s| s.as_bytes()), &DeflateConfig::default())
    }

    const DEFAULT_ANSWER: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn rfc7692_5_1_first_acceptable_offer_wins() {
        // §5.1's example: the first offer has an unknown parameter, the second is taken.
        let (_, a) = server(&["permessage-deflate; foo=1, permessage-deflate"]).unwrap();
        assert_eq!(a, DEFAULT_ANSWER);
        // Across two header fields, and after other extensions.
        let (p, a) = server(&[
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=10",
        ])
        .unwrap();
        assert_eq!(a, format!("{DEFAULT_ANSWER}; server_max_window_bits=10"));
        assert_eq!(p.server_max_window_bits, 10);
    }

    #[test]
    fn rfc7692_7_invalid_offers_are_declined_not_refused() {
        for bad in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=8.5",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
            "permessage-deflate; server_max_window_bits=\"1\"",
            "permessage-deflate;",
            "x-other",
        ] {
            assert_eq!(server(&[bad]), None, "{bad}");
        }
        assert!(server(&["permessage-deflate; server_max_window_bits=\"15\""]).is_some());
        assert!(server(&["PerMessage-Deflate; client_max_window_bits=8"]).is_some());
    }

    #[test]
    fn rfc7692_7_1_1_context_takeover_by_configuration() {
        let cfg = DeflateConfig {
            own_context_takeover: true,
            peer_context_takeover: true,
            ..DeflateConfig::default()
        };
        let (p, a) = negotiate_server([&b"permessage-deflate"[..]], &cfg).unwrap();
        assert_eq!(a, "permessage-deflate");
        assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
        // The client's request is honoured anyway (§7.1.1.1: the server MUST include it).
        let (p, a) = negotiate_server(
            [&b"permessage-deflate; server_no_context_takeover"[..]],
            &cfg,
        )
        .unwrap();
        assert_eq!(a, "permessage-deflate; server_no_context_takeover");
        assert!(p.server_no_context_takeover);
        let off = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        assert_eq!(negotiate_server([&b"permessage-deflate"[..]], &off), None);
    }

    fn client(h: &[&str]) -> Result<Option<DeflateParams>, HandshakeError> {
        verify_client(
            h.iter().map(|s| s.as_bytes()),
            Some(&DeflateConfig::default()),
        )
    }

    #[test]
    fn rfc7692_7_client_accepts_valid_responses() {
        assert_eq!(client(&[]), Ok(None));
        let p = client(&["permessage-deflate"]).unwrap().unwrap();
        assert_eq!(
            (
                p.server_no_context_takeover,
                p.server_max_window_bits,
                p.client_max_window_bits
            ),
            (false, 15, 15)
        );
        let p = client(&[
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9; server_max_window_bits=12",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                p.server_no_context_takeover,
                p.server_max_window_bits,
                p.client_max_window_bits
            ),
            (true, 12, 9)
        );
    }

    #[test]
    fn rfc7692_7_client_fails_bad_responses() {
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; foo",
            "permessage-deflate, permessage-deflate",
            "x-other",
        ] {
            assert_eq!(client(&[bad]), Err(HandshakeError::Extension), "{bad}");
        }
        // Not even the RFC 6455 §9.1 grammar: named as such.
        assert_eq!(
            client(&["permessage-deflate; client_max_window_bits=\""]),
            Err(HandshakeError::MalformedExtensions)
        );
        // Nothing offered: any extension fails (RFC 6455 §4.1).
        assert_eq!(
            verify_client([&b"permessage-deflate"[..]], None),
            Err(HandshakeError::Extension)
        );
        assert_eq!(verify_client([], None), Ok(None));
    }
}
