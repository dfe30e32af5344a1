//! Arbitrary bytes as `Sec-WebSocket-Extensions` field values (one per line of the data,
//! split at `\n`) through pushwire-ws's permessage-deflate negotiation (RFC 7692, feature
//! `deflate`): `parse_extensions`, `negotiate_server` with a server config picked by config
//! byte 0 and `verify_client` with a client config picked by config byte 1.
//!
//! Asserts:
//! - nothing panics; a parsed list respects `MAX_EXTENSIONS` / `MAX_PARAMS` and has
//!   non-empty names;
//! - well-formed field lines mean the same as one line joining them with commas (RFC 9110
//!   §5.3) for `parse_extensions`, `negotiate_server` and `verify_client` (only when every
//!   line parses: an unclosed quoted string in one line would swallow the next when joined);
//! - a server answer exists only when enabled, for a well-formed header holding a
//!   permessage-deflate element; its windows are 8-15 bits (the client's 15);
//! - an accepted server answer passes `verify_client` for a client that offered it, with
//!   the same parameters; the server accepts the client's own `client_offer` and that answer
//!   passes `verify_client` for the client with the same parameters;
//! - `verify_client` without an offer accepts only an absent / empty header, and its
//!   accepted parameters have 8-15 bit windows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::Input;
use pushwire_ws::deflate::{
    DeflateConfig, MAX_EXTENSIONS, MAX_PARAMS, NAME, client_offer, negotiate_server,
    parse_extensions, verify_client,
};

/// A `DeflateConfig` from a config byte: bit 0 set disables, bit 1 keeps our context,
/// bit 2 lets the peer keep its context, bits 3-6 pick threshold and level.
fn deflate_config(b: u8) -> DeflateConfig {
    let mut c = DeflateConfig::default();
    c.enabled = b & 1 == 0;
    c.own_context_takeover = b & 2 != 0;
    c.peer_context_takeover = b & 4 != 0;
    c.threshold = usize::from(b >> 3 & 3) * 32;
    c.level = u32::from(b >> 5);
    c
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let server = deflate_config(input.cfg[0]);
    let client = deflate_config(input.cfg[1]);
    let values: Vec<&[u8]> = input.data.split(|&b| b == b'\n').collect();
    let joined = values.join(&b","[..]);

    // ---- the grammar ----
    let list = parse_extensions(values.iter().copied());
    // Joining is only meaningful for well-formed lines (see the module docs).
    let joinable = list.is_ok();
    if joinable {
        assert_eq!(
            list,
            parse_extensions([&joined[..]]),
            "field lines vs one comma-joined line"
        );
    }
    if let Ok(list) = &list {
        assert!(list.len() <= MAX_EXTENSIONS);
        for e in list {
            assert!(!e.name.is_empty());
            assert!(e.params.len() <= MAX_PARAMS);
            assert!(e.params.iter().all(|(n, _)| !n.is_empty()));
        }
    }

    // ---- the server's choice ----
    let answer = negotiate_server(values.iter().copied(), &server);
    if joinable {
        assert_eq!(
            answer,
            negotiate_server([&joined[..]], &server),
            "negotiate: field lines vs one comma-joined line"
        );
    }
    if let Some((params, text)) = &answer {
        assert!(server.enabled, "answered while disabled");
        let list = list.as_ref().expect("answered a malformed header");
        assert!(list.iter().any(|e| e.name.eq_ignore_ascii_case(NAME)));
        assert!((8..=15).contains(&params.server_max_window_bits));
        assert_eq!(params.client_max_window_bits, 15);
        assert!(params.server_no_context_takeover || server.own_context_takeover);
        assert!(params.client_no_context_takeover || server.peer_context_takeover);
        // A client that offered this keeps its context unless told not to, so its
        // verification must give back exactly the server's parameters.
        let mut offerer = DeflateConfig::default();
        offerer.own_context_takeover = true;
        offerer.peer_context_takeover = true;
        assert_eq!(
            verify_client([text.as_bytes()], Some(&offerer)),
            Ok(Some(*params)),
            "our answer {text:?} fails our client"
        );
    }

    // ---- our client against our server ----
    match client_offer(&client) {
        None => assert!(!client.enabled),
        Some(offer) => {
            let got = negotiate_server([offer.as_bytes()], &server);
            assert_eq!(
                got.is_some(),
                server.enabled,
                "our offer {offer:?} declined"
            );
            if let Some((params, text)) = got {
                assert_eq!(
                    verify_client([text.as_bytes()], Some(&client)),
                    Ok(Some(params)),
                    "answer {text:?} to our offer {offer:?} fails our client"
                );
            }
        }
    }

    // ---- the client's check of arbitrary answers ----
    for offered in [Some(&client), None] {
        let v = verify_client(values.iter().copied(), offered);
        if joinable {
            assert_eq!(
                v,
                verify_client([&joined[..]], offered),
                "verify: field lines vs one comma-joined line"
            );
        }
        match &v {
            Ok(Some(p)) => {
                assert!(offered.is_some(), "accepted an extension never offered");
                assert!((8..=15).contains(&p.server_max_window_bits));
                assert!((8..=15).contains(&p.client_max_window_bits));
                assert!(p.client_no_context_takeover || client.own_context_takeover);
            }
            Ok(None) => assert!(matches!(&list, Ok(l) if l.is_empty())),
            Err(_) => {}
        }
    }
});
