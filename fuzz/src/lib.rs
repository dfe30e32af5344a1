//! Helpers shared by the fuzz targets: the input layout and the chunking.
//!
//! # Input layout of the byte-stream targets
//!
//! ```text
//! [4 config bytes][n: 1 byte][n (mod 16) cut positions, u16 little-endian][data ...]
//! ```
//!
//! A config byte of 0 means "the crate's default limit" for the knob it drives, and a
//! non-zero byte selects a small limit, so the fuzzer reaches every limit path cheaply while
//! a seed written as `"\0\0\0\0\0" + example` runs the example under the default limits.
//! The cut positions (taken modulo `data.len() + 1`, sorted, deduplicated) are where the
//! "split" feeding cuts the data; the same data is also fed whole (and, for short inputs,
//! byte by byte), and the targets assert that every feeding gives the same result.
//! Inputs shorter than the header are padded with zeros (default config, no cuts).

pub mod http_conn;

/// A decoded fuzz input.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The four config bytes (0 = default).
    pub cfg: [u8; 4],
    /// Where the split feeding cuts `data`, sorted, inside `0..=data.len()`.
    pub cuts: Vec<usize>,
    /// The bytes under test.
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Decodes the layout above; never fails.
    pub fn parse(raw: &'a [u8]) -> Input<'a> {
        let mut cfg = [0u8; 4];
        for (c, b) in cfg.iter_mut().zip(raw) {
            *c = *b;
        }
        let rest = raw.get(4..).unwrap_or_default();
        let (n, rest) = match rest.split_first() {
            Some((n, rest)) => (usize::from(*n % 16), rest),
            None => (0, rest),
        };
        let cut_bytes = (2 * n).min(rest.len());
        let (cut_raw, data) = rest.split_at(cut_bytes);
        let mut cuts: Vec<usize> = cut_raw
            .chunks_exact(2)
            .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (data.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        Input { cfg, cuts, data }
    }

    /// `data` cut at `cuts` (empty pieces dropped).
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        split_at(self.data, &self.cuts)
    }
}

/// `data` cut at the sorted positions `cuts`; empty pieces are dropped.
pub fn split_at<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        let c = c.clamp(prev, data.len());
        if c > prev {
            out.push(&data[prev..c]);
        }
        prev = c;
    }
    out
}

/// A limit driven by one config byte: 0 gives `default`, anything else a small value in
/// `min..=min + span - 1`, so limit paths are reached with short inputs.
pub fn small_limit(byte: u8, default: usize, min: usize, span: usize) -> usize {
    if byte == 0 {
        default
    } else {
        min + usize::from(byte) % span.max(1)
    }
}

/// Inputs up to this length are also fed one byte at a time.
pub const BYTEWISE_MAX: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let raw = b"\x01\x02\x03\x04\x02\x01\x00\x03\x00abcd";
        let i = Input::parse(raw);
        assert_eq!(i.cfg, [1, 2, 3, 4]);
        assert_eq!(i.cuts, vec![1, 3]);
        assert_eq!(i.data, b"abcd");
        assert_eq!(i.pieces(), vec![&b"a"[..], b"bc", b"d"]);
        let short = Input::parse(b"\x01");
        assert_eq!(short.cfg, [1, 0, 0, 0]);
        assert!(short.data.is_empty());
        assert!(short.pieces().is_empty());
    }
}

/// A WebSocket message as the reference model and the targets compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMsg {
    /// A text message (its UTF-8 bytes).
    Text(Vec<u8>),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong and its payload.
    Pong(Vec<u8>),
    /// A close frame: code and reason, or none.
    Close(Option<(u16, Vec<u8>)>),
}

/// How a reference run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEnd {
    /// All input used, more needed (or nothing after a close frame).
    NeedMore,
    /// The peer broke RFC 6455: the close code a receiver answers (1002, 1007 or 1009).
    Fail(u16),
}

/// An independent, whole-input reading of RFC 6455 §5 and §7.4 for one receiving role:
/// frames are parsed from scratch (not with pushwire-ws), then assembled into messages.
///
/// It fails as early as the bytes allow, like pushwire-ws does: on the header (reserved
/// opcode or bits, masking, control frame rules, frame and announced message size,
/// unexpected or missing continuation) and on the first byte that cannot start or continue
/// valid UTF-8 in a text message, even while the frame is incomplete.
pub fn ws_reference(
    data: &[u8],
    server_role: bool,
    max_frame: usize,
    max_message: usize,
) -> (Vec<WsMsg>, WsEnd) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    // The fragmented message in progress: is it text, and its bytes so far.
    let mut partial: Option<(bool, Vec<u8>)> = None;
    let fail = |out: Vec<WsMsg>, code| (out, WsEnd::Fail(code));
    loop {
        let rest = &data[pos..];
        let (b0, b1) = match rest {
            [a, b, ..] => (*a, *b),
            _ => return (out, WsEnd::NeedMore),
        };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let opcode = b0 & 0x0f;
        let masked = b1 & 0x80 != 0;
        let len7 = u64::from(b1 & 0x7f);
        if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) || rsv != 0 {
            return fail(out, 1002);
        }
        let control = opcode >= 8;
        if control && (!fin || len7 > 125) {
            return fail(out, 1002);
        }
        if masked != server_role {
            return fail(out, 1002);
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let hlen = 2 + ext + if masked { 4 } else { 0 };
        // pushwire-ws reads the whole header (length and key) before judging the length.
        if rest.len() < hlen {
            return (out, WsEnd::NeedMore);
        }
        let len = match ext {
            0 => len7,
            2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                let n = u64::from_be_bytes(b);
                if n >> 63 != 0 {
                    return fail(out, 1002);
                }
                n
            }
        };
        if len > max_frame as u64 {
            return fail(out, 1009);
        }
        // Data frame rules, on the header.
        if !control {
            match (opcode, &partial) {
                (0, None) => return fail(out, 1002),
                (1 | 2, Some(_)) => return fail(out, 1002),
                _ => {}
            }
            let have = partial.as_ref().map_or(0, |p| p.1.len()) as u64;
            if len > max_message as u64 - have.min(max_message as u64) {
                return fail(out, 1009);
            }
        }
        let key = if masked {
            [
                rest[hlen - 4],
                rest[hlen - 3],
                rest[hlen - 2],
                rest[hlen - 1],
            ]
        } else {
            [0; 4]
        };
        let avail = (rest.len() - hlen).min(len as usize);
        let payload: Vec<u8> = rest[hlen..hlen + avail]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        let complete = avail as u64 == len;
        let is_text = match (opcode, &partial) {
            (1, _) => true,
            (0, Some((t, _))) => *t,
            _ => false,
        };
        if !control && is_text {
            let mut so_far = partial.as_ref().map(|p| p.1.clone()).unwrap_or_default();
            so_far.extend_from_slice(&payload);
            if let Err(e) = std::str::from_utf8(&so_far)
                && (e.error_len().is_some() || (complete && fin))
            {
                return fail(out, 1007);
            }
        }
        if !complete {
            return (out, WsEnd::NeedMore);
        }
        pos += hlen + avail;
        match opcode {
            8 => {
                let close = match payload.len() {
                    0 => None,
                    1 => return fail(out, 1002),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                            return fail(out, 1002);
                        }
                        if std::str::from_utf8(&payload[2..]).is_err() {
                            return fail(out, 1007);
                        }
                        Some((code, payload[2..].to_vec()))
                    }
                };
                out.push(WsMsg::Close(close));
                // RFC 6455 §5.5.1: nothing after a close frame is processed.
                return (out, WsEnd::NeedMore);
            }
            9 => out.push(WsMsg::Ping(payload)),
            10 => out.push(WsMsg::Pong(payload)),
            _ => {
                let (text, mut bytes) = partial.take().unwrap_or((opcode == 1, Vec::new()));
                bytes.extend_from_slice(&payload);
                if fin {
                    out.push(if text {
                        WsMsg::Text(bytes)
                    } else {
                        WsMsg::Binary(bytes)
                    });
                } else {
                    partial = Some((text, bytes));
                }
            }
        }
    }
}

/// pushwire-ws's message as a [`WsMsg`].
pub fn ws_msg(m: &pushwire_ws::Message) -> WsMsg {
    use pushwire_ws::Message;
    match m {
        Message::Text(t) => WsMsg::Text(t.as_bytes().to_vec()),
        Message::Binary(b) => WsMsg::Binary(b.to_vec()),
        Message::Ping(b) => WsMsg::Ping(b.to_vec()),
        Message::Pong(b) => WsMsg::Pong(b.to_vec()),
        Message::Close(c) => {
            WsMsg::Close(c.as_ref().map(|c| (c.code.0, c.reason.as_bytes().to_vec())))
        }
    }
}

/// The body of the `ws_frame_server` and `ws_frame_client` targets: arbitrary bytes through
/// `FrameDecoder` and `Protocol` in one role (see those targets' docs).
pub fn ws_frame_target(raw: &[u8], role: pushwire_ws::frame::Role) {
    use bytes::BytesMut;
    use pushwire_ws::Config;
    use pushwire_ws::frame::{FrameDecoder, Role};

    let input = Input::parse(raw);
    let d = Config::default();
    let max_frame = small_limit(input.cfg[0], d.max_frame, 0, 200);
    let max_message = small_limit(input.cfg[1], d.max_message, 0, 400).max(max_frame);
    let cfg = Config::default()
        .with_max_frame(max_frame)
        .with_max_message(max_message);
    let server = role == Role::Server;
    let data = input.data;

    // ---- the frame layer ----
    let frames = |pieces: Vec<&[u8]>| {
        let mut dec = FrameDecoder::new(role, &cfg);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        'feed: for p in pieces {
            buf.extend_from_slice(p);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(f)) => {
                        assert_eq!(f.payload.len() as u64, f.header.payload_len);
                        assert!(f.payload.len() <= max_frame, "frame over max_frame");
                        assert_eq!(f.header.mask.is_some(), server, "masking for the role");
                        if f.header.opcode.is_control() {
                            assert!(f.header.fin && f.payload.len() <= 125);
                        }
                        out.push(Ok((f.header.fin, f.header.opcode, f.payload)));
                    }
                    Ok(None) => continue 'feed,
                    Err(e) => {
                        assert!(e.close_code().is_some(), "{e:?} has no close code");
                        assert_eq!(dec.decode(&mut buf), Err(e.clone()), "errors are terminal");
                        out.push(Err(e));
                        break 'feed;
                    }
                }
            }
        }
        out
    };
    let whole = frames(vec![data]);
    assert_eq!(
        whole,
        frames(input.pieces()),
        "frames: whole vs split at {:?}",
        input.cuts
    );
    if data.len() <= BYTEWISE_MAX {
        assert_eq!(
            whole,
            frames(data.chunks(1).collect()),
            "frames: whole vs byte by byte"
        );
    }

    // ---- the message layer (sans-IO connection) ----
    let run = |pieces: Vec<&[u8]>| ws_transcript(role, &cfg, None, max_message, pieces);
    let (msgs, sent) = run(vec![data]);
    let (m, s) = run(input.pieces());
    assert_eq!(
        (&msgs, &sent),
        (&m, &s),
        "messages: whole vs split at {:?}",
        input.cuts
    );
    if data.len() <= BYTEWISE_MAX {
        let (m, s) = run(data.chunks(1).collect());
        assert_eq!((&msgs, &sent), (&m, &s), "messages: whole vs byte by byte");
    }

    // ---- large binary messages in parts (config byte 2: the size from which) ----
    let parts_min = u64::from(input.cfg[2]);
    let parts =
        |pieces: Vec<&[u8]>| ws_transcript_parts(role, &cfg, None, max_message, parts_min, pieces);
    let (m, s) = parts(vec![data]);
    assert_eq!(
        (&msgs, &sent),
        (&m, &s),
        "messages: whole vs in parts from {parts_min} bytes"
    );
    let (m, s) = parts(input.pieces());
    assert_eq!(
        (&msgs, &sent),
        (&m, &s),
        "messages: whole vs in parts from {parts_min} bytes, split at {:?}",
        input.cuts
    );
    if data.len() <= BYTEWISE_MAX {
        let (m, s) = parts(data.chunks(1).collect());
        assert_eq!(
            (&msgs, &sent),
            (&m, &s),
            "messages: whole vs in parts byte by byte"
        );
    }

    // ---- against the independent reading of RFC 6455 ----
    let (expect, end) = ws_reference(data, server, max_frame, max_message);
    let got: Vec<WsMsg> = msgs
        .iter()
        .filter_map(|m| m.as_ref().ok().cloned())
        .collect();
    assert_eq!(got, expect, "messages vs the RFC 6455 reference");
    let got_end = match msgs.last() {
        Some(Err(e)) => WsEnd::Fail(e.close_code().map_or(0, |c| c.0)),
        _ => WsEnd::NeedMore,
    };
    assert_eq!(got_end, end, "outcome vs the RFC 6455 reference");

    // ---- what was answered ----
    use pushwire_ws::frame::OpCode;
    let close_sent = sent.iter().find(|(op, _)| *op == OpCode::Close);
    match (&end, expect.last()) {
        (WsEnd::Fail(code), _) => {
            let (_, p) = close_sent.expect("a failure sends a close frame");
            assert_eq!(
                p.get(..2),
                Some(&code.to_be_bytes()[..]),
                "failure close code"
            );
        }
        (_, Some(WsMsg::Close(c))) => {
            let (_, p) = close_sent.expect("a peer close is echoed");
            match c {
                Some((code, _)) => assert_eq!(p.get(..2), Some(&code.to_be_bytes()[..])),
                None => assert!(p.is_empty()),
            }
        }
        (_, last) => {
            assert!(close_sent.is_none());
            let pong = sent.iter().find(|(op, _)| *op == OpCode::Pong);
            let last_ping = expect.iter().rev().find_map(|m| match m {
                WsMsg::Ping(p) => Some(p.clone()),
                _ => None,
            });
            assert_eq!(
                pong.map(|(_, p)| p.to_vec()),
                last_ping,
                "pong answers the last ping (last message {last:?})"
            );
        }
    }
}

/// Messages or the final error, then the control frames the connection answered with.
pub type WsTranscript = (
    Vec<Result<WsMsg, pushwire_ws::Error>>,
    Vec<(pushwire_ws::frame::OpCode, bytes::Bytes)>,
);

/// The message-layer transcript of one connection fed `pieces`: every message or the final
/// error, and the control frames it queued (pong, close echo, failure close) decoded with the
/// other role's decoder, since masks differ from run to run and payloads must not. Asserts the
/// invariants every message must hold (UTF-8 text, `max_message`, control payloads <= 125,
/// terminal errors). `deflate` switches permessage-deflate on with those parameters.
pub fn ws_transcript(
    role: pushwire_ws::frame::Role,
    cfg: &pushwire_ws::Config,
    deflate: Option<pushwire_ws::deflate::DeflateParams>,
    max_message: usize,
    pieces: Vec<&[u8]>,
) -> WsTranscript {
    ws_transcript_parts(role, cfg, deflate, max_message, u64::MAX, pieces)
}

/// [`ws_transcript`] through `Protocol::receive_parts(_, parts_min)`: a binary message handed
/// out in parts is put back together (asserting the parts are consecutive, unmasked bytes
/// of one frame within the limits) and recorded as one message when its last part comes,
/// so the transcript must equal the whole-message one.
pub fn ws_transcript_parts(
    role: pushwire_ws::frame::Role,
    cfg: &pushwire_ws::Config,
    deflate: Option<pushwire_ws::deflate::DeflateParams>,
    max_message: usize,
    parts_min: u64,
    pieces: Vec<&[u8]>,
) -> WsTranscript {
    use bytes::BytesMut;
    use pushwire_ws::frame::{FrameDecoder, OpCode, Role};
    use pushwire_ws::{Config, Incoming, Protocol, State};
    let mut proto = Protocol::new(role, cfg);
    if let Some(params) = deflate {
        proto.set_deflate(params);
    }
    let mut buf = BytesMut::new();
    let mut out: Vec<Result<WsMsg, pushwire_ws::Error>> = Vec::new();
    // The message being handed out in parts: its bytes so far.
    let mut partial: Option<Vec<u8>> = None;
    'feed: for p in pieces {
        buf.extend_from_slice(p);
        loop {
            let got = match proto.receive_parts(&mut buf, parts_min) {
                Ok(Some(Incoming::Part(part))) => {
                    let h = part.header;
                    assert!(h.fin && h.opcode == OpCode::Binary && h.rsv.is_empty());
                    assert!(h.payload_len >= parts_min && h.payload_len <= max_message as u64);
                    let so_far = partial.get_or_insert_with(Vec::new);
                    assert_eq!(part.is_first(), so_far.is_empty() && part.offset == 0);
                    assert_eq!(part.offset, so_far.len() as u64, "parts are consecutive");
                    so_far.extend_from_slice(&part.data);
                    if part.is_last() {
                        out.push(Ok(WsMsg::Binary(partial.take().unwrap_or_default())));
                    }
                    continue;
                }
                Ok(Some(Incoming::Message(m))) => {
                    assert!(partial.is_none(), "a message inside a frame in parts");
                    Ok(Some(m))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            match got {
                Ok(Some(m)) => {
                    let w = ws_msg(&m);
                    match &w {
                        WsMsg::Text(t) => {
                            assert!(std::str::from_utf8(t).is_ok());
                            assert!(t.len() <= max_message);
                        }
                        WsMsg::Binary(b) => assert!(b.len() <= max_message),
                        WsMsg::Ping(b) | WsMsg::Pong(b) => assert!(b.len() <= 125),
                        WsMsg::Close(_) => assert_eq!(proto.state(), State::Closed),
                    }
                    out.push(Ok(w));
                }
                Ok(None) => continue 'feed,
                Err(e) => {
                    assert!(proto.is_terminated());
                    assert_eq!(
                        proto.receive_parts(&mut buf, parts_min),
                        Err(e.clone()),
                        "errors are terminal"
                    );
                    out.push(Err(e));
                    break 'feed;
                }
            }
        }
    }
    // What the connection answers (pong, close echo, failure close), decoded with the
    // other role's decoder: masks differ from run to run, payloads must not.
    let mut wire = BytesMut::new();
    proto.poll_transmit(&mut wire);
    let other = if role == Role::Server {
        Role::Client
    } else {
        Role::Server
    };
    let mut dec = FrameDecoder::new(other, &Config::default());
    let mut sent = Vec::new();
    while let Some(f) = dec.decode(&mut wire).expect("our own frames decode") {
        sent.push((f.header.opcode, f.payload));
    }
    assert!(wire.is_empty(), "a partial frame was transmitted");
    (out, sent)
}
