//! Differential: pushwire-ws's `Protocol` against `tungstenite`'s `WebSocket` on the same
//! bytes, both in the **server** role, with the same `max_frame` / `max_message` (config
//! bytes 0 and 1; input layout as the other byte-stream targets, cuts unused).
//!
//! They must agree on every message's kind and content, in order, and on accept/reject.
//! Where we knowingly differ, the target says which clause and checks the difference is
//! exactly that one:
//!
//! - **Fail fast on incomplete frames** (RFC 6455 §5.1, §5.2, §5.5, §8.1, §10.4): we judge a
//!   frame on its header (reserved bits, unmasked client frame, control frame over 125 bytes
//!   or fragmented, continuation rules, announced message size) and text on every byte as it
//!   arrives; tungstenite waits for the whole frame. So when the input ends inside a frame
//!   we may have failed while tungstenite still waits: allowed only in that order (never
//!   tungstenite failing while we wait), and only after identical messages.
//! - **Non-minimal control frame lengths** (RFC 6455 §5.2, §5.5): a control frame whose
//!   7-bit length field says 126 or 127 fails with 1002 for us even if the extended length
//!   is <= 125 (the encoding is not minimal, and the field is over 125); tungstenite decodes
//!   the length and accepts it.
//! - **Close codes** (RFC 6455 §7.4.1, §7.4.2): a close frame whose code may not be sent on
//!   the wire (0-999, 1004-1006, 1015, 1016-2999, 5000+) fails the connection with 1002 for
//!   us (Autobahn case 7.9); tungstenite hands out a close message carrying the code it
//!   answers (1002, "Protocol violation") instead of the peer's. Both
//!   end the connection. We accept 1014 (Bad Gateway, in the IANA registry of §11.7), which
//!   tungstenite does not know: it hands out its reply (1002) as the message; the target
//!   maps our 1014 close message to that before comparing.
#![no_main]

use std::io::{self, Read, Write};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{Input, WsMsg, small_limit, ws_msg};
use pushwire_ws::frame::Role;
use pushwire_ws::{Config, Protocol};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};

/// The client's bytes, then `WouldBlock` (more may come), as a non-blocking socket would.
struct Peer {
    input: Vec<u8>,
    pos: usize,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, PartialEq)]
enum End {
    /// Waiting for more bytes (or done after a close frame).
    Waiting,
    /// Failed the connection.
    Failed,
}

fn ours(data: &[u8], cfg: &Config) -> (Vec<WsMsg>, End, Option<pushwire_ws::Error>) {
    let mut p = Protocol::new(Role::Server, cfg);
    let mut buf = BytesMut::from(data);
    let mut out = Vec::new();
    loop {
        match p.receive(&mut buf) {
            Ok(Some(m)) => out.push(ws_msg(&m)),
            Ok(None) => return (out, End::Waiting, None),
            Err(e) => return (out, End::Failed, Some(e)),
        }
    }
}

fn theirs(data: &[u8], max_frame: usize, max_message: usize) -> (Vec<WsMsg>, End) {
    let cfg = WebSocketConfig::default()
        .max_frame_size(Some(max_frame))
        .max_message_size(Some(max_message));
    let peer = Peer {
        input: data.to_vec(),
        pos: 0,
    };
    let mut ws = WebSocket::from_raw_socket(peer, TRole::Server, Some(cfg));
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(m) => out.push(match m {
                tungstenite::Message::Text(t) => WsMsg::Text(t.as_bytes().to_vec()),
                tungstenite::Message::Binary(b) => WsMsg::Binary(b.to_vec()),
                tungstenite::Message::Ping(b) => WsMsg::Ping(b.to_vec()),
                tungstenite::Message::Pong(b) => WsMsg::Pong(b.to_vec()),
                tungstenite::Message::Close(c) => {
                    let m =
                        WsMsg::Close(c.map(|c| (u16::from(c.code), c.reason.as_bytes().to_vec())));
                    out.push(m);
                    // Nothing after a close frame counts (§5.5.1); tungstenite's next read
                    // would report the closed connection.
                    return (out, End::Waiting);
                }
                tungstenite::Message::Frame(_) => unreachable!("raw frames are not read"),
            }),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return (out, End::Waiting);
            }
            Err(_) => return (out, End::Failed),
        }
    }
}

/// Does `data` end exactly at a frame boundary (every frame header and payload complete)?
fn frames_complete(data: &[u8]) -> bool {
    walk(data).0
}

/// Is there a control frame whose length is written in the 16/64-bit form yet is <= 125?
fn non_minimal_control(data: &[u8]) -> bool {
    walk(data).1
}

/// Walks the frame headers: (ends at a frame boundary, saw a non-minimal control length).
fn walk(data: &[u8]) -> (bool, bool) {
    let mut pos = 0usize;
    let mut non_minimal_control = false;
    while pos < data.len() {
        let rest = &data[pos..];
        let Some(&b1) = rest.get(1) else {
            return (false, non_minimal_control);
        };
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let hlen = 2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 };
        let Some(len_bytes) = rest.get(2..2 + ext) else {
            return (false, non_minimal_control);
        };
        let len = match len_bytes {
            [a, b] => u64::from(u16::from_be_bytes([*a, *b])),
            [..] if ext == 8 => len_bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)),
            _ => u64::from(b1 & 0x7f),
        };
        if rest[0] & 0x08 != 0 && ext > 0 && len <= 125 {
            non_minimal_control = true;
        }
        let end = (hlen as u64).saturating_add(len);
        if end > rest.len() as u64 {
            return (false, non_minimal_control);
        }
        pos += end as usize;
    }
    (true, non_minimal_control)
}

fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let max_frame = small_limit(input.cfg[0], 16 << 20, 0, 200);
    let max_message = small_limit(input.cfg[1], 64 << 20, 0, 400).max(max_frame);
    let cfg = Config::default()
        .with_max_frame(max_frame)
        .with_max_message(max_message);
    let data = input.data;

    let (mut our_msgs, our_end, our_err) = ours(data, &cfg);
    // 1014 (Bad Gateway) is registered with IANA and allowed on the wire (RFC 6455 §7.4.2);
    // tungstenite's table does not know it and hands out its 1002 reply instead.
    for m in &mut our_msgs {
        if let WsMsg::Close(Some((1014, reason))) = m {
            *reason = b"Protocol violation".to_vec();
            *m = WsMsg::Close(Some((1002, std::mem::take(reason))));
        }
    }
    let (their_msgs, their_end) = theirs(data, max_frame, max_message);

    // Non-minimal control frame length (§5.2 "the minimal number of bytes MUST be used to
    // encode the length", §5.5 "payload length of 125 bytes or less"): we fail a control frame
    // whose 7-bit length field is 126 or 127, whatever the extended value; tungstenite checks
    // the decoded length only and accepts e.g. a pong written `8a fe 00 00 <key>`.
    if our_err == Some(pushwire_ws::ProtocolError::ControlTooLong.into())
        && their_msgs.starts_with(&our_msgs)
        && non_minimal_control(data)
    {
        return;
    }

    // Close codes (§7.4): tungstenite hands out a close with a code not allowed on the wire,
    // where we fail with 1002 at that same frame.
    if our_err == Some(pushwire_ws::ProtocolError::InvalidCloseCode.into())
        && their_end == End::Waiting
        && their_msgs.len() == our_msgs.len() + 1
        // tungstenite hands out the close with the code it answers instead (1002).
        && matches!(their_msgs.last(), Some(WsMsg::Close(Some((code, _)))) if !sendable(*code) || *code == 1002)
    {
        our_msgs.push(their_msgs.last().cloned().expect("checked"));
        assert_eq!(our_msgs, their_msgs);
        return;
    }

    assert_eq!(
        our_msgs, their_msgs,
        "messages differ (we end {our_end:?} {our_err:?}, tungstenite {their_end:?})"
    );
    match (&our_end, &their_end) {
        (a, b) if a == b => {}
        // Fail fast on an incomplete frame: we failed, tungstenite waits for the rest.
        (End::Failed, End::Waiting) => assert!(
            !frames_complete(data),
            "we failed ({our_err:?}) on complete frames that tungstenite accepts"
        ),
        _ => panic!("tungstenite failed where we wait for more"),
    }
});
