//! Structure-aware round trip of WebSocket messages: arbitrary messages sent by one
//! `Protocol` (client or server) and received by the other, fed at arbitrary cuts, come out
//! equal, in order, and so does the closing handshake.
//!
//! Three ways onto the wire, all received by pushwire-ws's `Protocol`:
//! - `Protocol::send` / `Protocol::close` (client to server, masked with a fresh key; and
//!   server to client, unmasked);
//! - hand-fragmented data messages (`encode_frame` with arbitrary fragment sizes and masking
//!   keys, a ping between fragments), client to server;
//! - `SharedFrame::from_message` (encode once, broadcast), server to client.
//!
//! Control messages over 125 bytes and close codes not allowed on the wire must be refused
//! by the sender (usage error) and are then left out of the expectation.
#![no_main]

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{WsMsg, split_at, ws_msg};
use pushwire_ws::frame::{FrameHeader, OpCode, Role, SharedFrame, encode_frame};
use pushwire_ws::{CloseCode, CloseFrame, Config, Message, Protocol};

#[derive(Debug, Arbitrary)]
enum AMsg {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Fragmented {
    text: bool,
    payload: Vec<u8>,
    cuts: Vec<u16>,
    key: [u8; 4],
    ping_between: bool,
}

#[derive(Debug, Arbitrary)]
struct Case {
    msgs: Vec<AMsg>,
    fragmented: Vec<Fragmented>,
    close: Option<(u16, String)>,
    cuts: Vec<u16>,
}

fn to_message(m: &AMsg) -> Message {
    match m {
        AMsg::Text(s) => Message::text(s.as_str()),
        AMsg::Binary(b) => Message::binary(b.clone()),
        AMsg::Ping(b) => Message::Ping(Bytes::copy_from_slice(b)),
        AMsg::Pong(b) => Message::Pong(Bytes::copy_from_slice(b)),
    }
}

fn receive_all(role: Role, wire: &[u8], cuts: &[u16]) -> Vec<WsMsg> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (wire.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut p = Protocol::new(role, &Config::default());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in split_at(wire, &cuts) {
        buf.extend_from_slice(piece);
        while let Some(m) = p
            .receive(&mut buf)
            .unwrap_or_else(|e| panic!("{role:?} received {e:?}"))
        {
            out.push(ws_msg(&m));
        }
    }
    out
}

fuzz_target!(|case: Case| {
    let cfg = Config::default();
    let msgs: Vec<&AMsg> = case.msgs.iter().take(32).collect();

    // ---- send / close, both directions ----
    for sender_role in [Role::Client, Role::Server] {
        let mut sender = Protocol::new(sender_role, &cfg);
        let mut wire = BytesMut::new();
        let mut expect = Vec::new();
        for m in &msgs {
            let msg = to_message(m);
            let too_long = matches!(m, AMsg::Ping(b) | AMsg::Pong(b) if b.len() > 125);
            match sender.send(&msg, &mut wire) {
                Ok(()) => {
                    assert!(!too_long, "a control frame over 125 bytes was sent");
                    expect.push(ws_msg(&msg));
                }
                Err(e) => assert!(too_long, "send refused {m:?}: {e:?}"),
            }
        }
        if let Some((code, reason)) = &case.close {
            let ok = CloseCode(*code).is_sendable() && reason.len() <= 123;
            match sender.close(CloseCode(*code), reason, &mut wire) {
                Ok(()) => {
                    assert!(
                        ok,
                        "close {code} with a {}-byte reason was sent",
                        reason.len()
                    );
                    expect.push(WsMsg::Close(Some((*code, reason.as_bytes().to_vec()))));
                    // Nothing may be sent after a close frame.
                    assert!(sender.send(&Message::text("late"), &mut wire).is_err());
                }
                Err(_) => assert!(!ok, "close {code} refused"),
            }
        }
        let receiver = match sender_role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        assert_eq!(
            receive_all(receiver, &wire, &case.cuts),
            expect,
            "{sender_role:?} to peer"
        );
    }

    // ---- hand-fragmented, client to server ----
    let mut wire = BytesMut::new();
    let mut expect = Vec::new();
    for f in case.fragmented.iter().take(16) {
        // A text message must be valid UTF-8 as a whole; fragments may split characters.
        let payload = if f.text {
            String::from_utf8_lossy(&f.payload)
                .into_owned()
                .into_bytes()
        } else {
            f.payload.clone()
        };
        let mut cuts: Vec<usize> = f
            .cuts
            .iter()
            .take(8)
            .map(|&c| usize::from(c) % (payload.len() + 1))
            .collect();
        cuts.sort_unstable();
        let mut start = 0;
        let mut bounds: Vec<(usize, usize)> = Vec::new();
        for &c in cuts.iter().chain(std::iter::once(&payload.len())) {
            bounds.push((start, c)); // fragments may be empty (repeated cuts)
            start = c;
        }
        for (i, (a, b)) in bounds.iter().enumerate() {
            let last = i + 1 == bounds.len();
            let opcode = match (i, f.text) {
                (0, true) => OpCode::Text,
                (0, false) => OpCode::Binary,
                _ => OpCode::Continuation,
            };
            let mut h = FrameHeader::new(opcode, 0);
            h.fin = last;
            h.mask = Some(f.key);
            encode_frame(&h, &payload[*a..*b], &mut wire);
            if f.ping_between && !last {
                let mut p = FrameHeader::new(OpCode::Ping, 0);
                p.mask = Some([f.key[1], f.key[2], f.key[3], f.key[0]]);
                encode_frame(&p, &payload[..payload.len().min(7)], &mut wire);
                expect.push(WsMsg::Ping(payload[..payload.len().min(7)].to_vec()));
            }
        }
        expect.push(if f.text {
            WsMsg::Text(payload)
        } else {
            WsMsg::Binary(payload)
        });
    }
    assert_eq!(
        receive_all(Role::Server, &wire, &case.cuts),
        expect,
        "fragmented messages"
    );

    // ---- shared (broadcast) frames, server to client ----
    let mut wire = BytesMut::new();
    let mut expect = Vec::new();
    for m in &msgs {
        let msg = to_message(m);
        match SharedFrame::from_message(&msg) {
            Ok(f) => {
                wire.extend_from_slice(f.as_bytes());
                expect.push(ws_msg(&msg));
            }
            Err(e) => assert!(
                matches!(m, AMsg::Ping(b) | AMsg::Pong(b) if b.len() > 125),
                "shared frame refused {m:?}: {e:?}"
            ),
        }
    }
    if let Some((code, reason)) = &case.close {
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode(*code),
            reason: reason.as_str().into(),
        }));
        if let Ok(f) = SharedFrame::from_message(&close) {
            assert!(CloseCode(*code).is_sendable() && reason.len() <= 123);
            wire.extend_from_slice(f.as_bytes());
            expect.push(ws_msg(&close));
        }
    }
    assert_eq!(
        receive_all(Role::Client, &wire, &case.cuts),
        expect,
        "shared frames"
    );
});
