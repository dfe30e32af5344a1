//! Server-side WebSocket (RFC 6455) handshake check and a sans-IO frame reader.
//!
//! A local stand-in until `pushwire-ws` exports its sans-IO `Protocol`; it implements only
//! what the server role needs: masked client frames, fragmentation, control frames, close
//! codes, and limits on frame and message size.

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use sha1::{Digest, Sha1};

use crate::wire::Request;

/// Close codes the server sends.
pub mod code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// Going away (server shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Invalid UTF-8 in a text message.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation (slow consumer, dead peer).
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
    /// Internal error.
    pub const INTERNAL: u16 = 1011;
}

/// Why an upgrade request was refused, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a valid upgrade (400).
    Bad,
    /// Wrong or missing `Sec-WebSocket-Version` (426 + `Sec-WebSocket-Version: 13`).
    Version,
    /// Not an upgrade at all on a WebSocket-only path (426).
    NotUpgrade,
}

impl HandshakeError {
    /// The HTTP status for this refusal.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::Bad => 400,
            HandshakeError::Version | HandshakeError::NotUpgrade => 426,
        }
    }
}

/// Checks an opening handshake (RFC 6455 §4.2.1) and returns the `Sec-WebSocket-Accept` value.
pub fn check_upgrade(req: &Request) -> Result<String, HandshakeError> {
    let upgrade = req.tokens("upgrade");
    let connection = req.tokens("connection");
    if !upgrade.iter().any(|t| t == "websocket") {
        return Err(HandshakeError::NotUpgrade);
    }
    if req.method != "GET" || req.version != 1 || !connection.iter().any(|t| t == "upgrade") {
        return Err(HandshakeError::Bad);
    }
    if req.header("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(HandshakeError::Version);
    }
    let key = req
        .header("sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .ok_or(HandshakeError::Bad)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| HandshakeError::Bad)?;
    if decoded.len() != 16
        || req
            .headers
            .iter()
            .filter(|(n, _)| n == "sec-websocket-key")
            .count()
            != 1
    {
        return Err(HandshakeError::Bad);
    }
    Ok(accept_key(key))
}

/// `base64(SHA-1(key + GUID))` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// What the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A complete text message (UTF-8 checked).
    Text(Bytes),
    /// A complete binary message.
    Binary(Bytes),
    /// A ping: answer with a pong carrying the payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: code (1005 when absent).
    Close(u16),
}

/// A violation, with the close code to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("websocket protocol violation, close {0}")]
pub struct WsError(pub u16);

/// Sans-IO reader of masked client frames, reassembling fragmented messages.
#[derive(Debug)]
pub struct FrameReader {
    max_frame: usize,
    max_message: usize,
    /// Opcode and bytes of a message whose first fragment arrived.
    partial: Option<(u8, BytesMut)>,
}

impl FrameReader {
    /// A reader refusing frames over `max_frame` and messages over `max_message` (1009).
    pub fn new(max_frame: usize, max_message: usize) -> FrameReader {
        FrameReader {
            max_frame,
            max_message,
            partial: None,
        }
    }

    /// Decodes the next event from `src`; `Ok(None)` = need more bytes (nothing consumed).
    pub fn read(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, WsError> {
        loop {
            let Some(frame) = self.frame(src)? else {
                return Ok(None);
            };
            let (fin, opcode, payload) = frame;
            match opcode {
                0x8 => return close_frame(&payload).map(Some),
                0x9 => return Ok(Some(Incoming::Ping(payload))),
                0xA => return Ok(Some(Incoming::Pong)),
                0x1 | 0x2 => {
                    if self.partial.is_some() {
                        return Err(WsError(code::PROTOCOL));
                    }
                    if fin {
                        return finish(opcode, payload).map(Some);
                    }
                    self.partial = Some((opcode, BytesMut::from(&payload[..])));
                }
                0x0 => {
                    let Some((op, mut buf)) = self.partial.take() else {
                        return Err(WsError(code::PROTOCOL));
                    };
                    if payload.len() > self.max_message - buf.len() {
                        return Err(WsError(code::TOO_BIG));
                    }
                    buf.extend_from_slice(&payload);
                    if fin {
                        return finish(op, buf.freeze()).map(Some);
                    }
                    self.partial = Some((op, buf));
                }
                _ => return Err(WsError(code::PROTOCOL)),
            }
        }
    }

    /// One whole frame, unmasked: `(fin, opcode, payload)`.
    fn frame(&mut self, src: &mut BytesMut) -> Result<Option<(bool, u8, Bytes)>, WsError> {
        let (Some(&b0), Some(&b1)) = (src.first(), src.get(1)) else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return Err(WsError(code::PROTOCOL)); // RSV without an extension (§5.2)
        }
        if b1 & 0x80 == 0 {
            return Err(WsError(code::PROTOCOL)); // client frames must be masked (§5.1)
        }
        let (len, mut at) = match b1 & 0x7F {
            126 => {
                let Some(b) = src.get(2..4) else {
                    return Ok(None);
                };
                (u16::from_be_bytes([b[0], b[1]]) as u64, 4)
            }
            127 => {
                let Some(b) = src.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_be_bytes(a);
                if n >> 63 != 0 {
                    return Err(WsError(code::PROTOCOL));
                }
                (n, 10)
            }
            n => (n as u64, 2),
        };
        if opcode >= 0x8 && (!fin || len > 125) {
            return Err(WsError(code::PROTOCOL)); // §5.5
        }
        if len > self.max_frame as u64
            || (opcode != 0 && opcode < 8 && len > self.max_message as u64)
        {
            return Err(WsError(code::TOO_BIG));
        }
        if let Some((_, buf)) = &self.partial {
            if opcode == 0 && len > (self.max_message - buf.len()) as u64 {
                return Err(WsError(code::TOO_BIG));
            }
        }
        let len = len as usize;
        let Some(mask) = src.get(at..at + 4) else {
            return Ok(None);
        };
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        at += 4;
        if src.len() - at < len {
            src.reserve(at + len - src.len());
            return Ok(None);
        }
        src.advance(at);
        let mut payload = src.split_to(len);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
        Ok(Some((fin, opcode, payload.freeze())))
    }
}

fn finish(opcode: u8, payload: Bytes) -> Result<Incoming, WsError> {
    if opcode == 0x1 {
        if std::str::from_utf8(&payload).is_err() {
            return Err(WsError(code::INVALID_DATA));
        }
        Ok(Incoming::Text(payload))
    } else {
        Ok(Incoming::Binary(payload))
    }
}

fn close_frame(payload: &[u8]) -> Result<Incoming, WsError> {
    match payload {
        [] => Ok(Incoming::Close(1005)),
        [_] => Err(WsError(code::PROTOCOL)),
        [a, b, reason @ ..] => {
            let c = u16::from_be_bytes([*a, *b]);
            let valid = matches!(c, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !valid {
                return Err(WsError(code::PROTOCOL));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(WsError(code::INVALID_DATA));
            }
            Ok(Incoming::Close(c))
        }
    }
}

/// Appends a close frame with `code` to `dst`.
pub fn encode_close(code: u16, dst: &mut BytesMut) {
    crate::wire::encode_ws_frame(0x8, &code.to_be_bytes(), dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut v = vec![b0];
        if payload.len() < 126 {
            v.push(0x80 | payload.len() as u8);
        } else {
            v.push(0x80 | 126);
            v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    #[test]
    fn rfc6455_s1_3_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc6455_s5_4_fragments_split_at_every_byte() {
        let mut raw = masked(0x01, b"Hel");
        raw.extend(masked(0x89, b"p"));
        raw.extend(masked(0x80, b"lo"));
        for split in 0..=raw.len() {
            let mut r = FrameReader::new(100, 100);
            let mut got = vec![];
            let mut src = BytesMut::from(&raw[..split]);
            while let Some(e) = r.read(&mut src).unwrap() {
                got.push(e);
            }
            src.extend_from_slice(&raw[split..]);
            while let Some(e) = r.read(&mut src).unwrap() {
                got.push(e);
            }
            assert_eq!(
                got,
                vec![
                    Incoming::Ping(Bytes::from_static(b"p")),
                    Incoming::Text(Bytes::from_static(b"Hello"))
                ]
            );
        }
    }

    #[test]
    fn rfc6455_violations_map_to_close_codes() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x02, b'h', b'i'], 1002), // unmasked
            (masked(0xC1, b"x"), 1002),           // RSV1
            (masked(0x83, b"x"), 1002),           // reserved opcode
            (masked(0x80, b"x"), 1002),           // continuation without start
            (masked(0x09, b"x"), 1002),           // fragmented ping
            (masked(0x81, &[0xff]), 1007),        // bad UTF-8
            (masked(0x82, &[0; 200]), 1009),      // over max
            (masked(0x88, &[0x03]), 1002),        // 1-byte close
            (masked(0x88, &[0x03, 0xEC]), 1002),  // close 1004
        ];
        for (raw, want) in cases {
            let mut r = FrameReader::new(1000, 100);
            let got = r.read(&mut BytesMut::from(&raw[..]));
            assert_eq!(got, Err(WsError(want)), "{raw:?}");
        }
    }

    #[test]
    fn close_codes_parse() {
        let mut r = FrameReader::new(100, 100);
        let got = r.read(&mut BytesMut::from(
            &masked(0x88, &[0x03, 0xE8, b'o', b'k'])[..],
        ));
        assert_eq!(got, Ok(Some(Incoming::Close(1000))));
    }
}
