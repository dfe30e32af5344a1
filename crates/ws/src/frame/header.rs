//! The frame header (RFC 6455 §5.2): parse and encode.

use bytes::{BufMut, BytesMut};

use super::opcode::OpCode;
use crate::error::ProtocolError;

/// The three reserved bits of a frame header, kept in their wire position (0x40, 0x20, 0x10
/// of the first byte).
///
/// Extensions give them meaning: permessage-deflate (RFC 7692) uses RSV1 on the first frame
/// of a compressed message. Without a negotiated extension any set bit is close 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rsv(u8);

impl Rsv {
    /// No bit set.
    pub const NONE: Rsv = Rsv(0);
    /// RSV1 (permessage-deflate's "compressed" bit).
    pub const RSV1: Rsv = Rsv(0x40);
    /// RSV2.
    pub const RSV2: Rsv = Rsv(0x20);
    /// RSV3.
    pub const RSV3: Rsv = Rsv(0x10);

    /// The bits of the first header byte `b`.
    pub fn from_first_byte(b: u8) -> Rsv {
        Rsv(b & 0x70)
    }
    /// The bits in their wire position.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Is no bit set?
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Are all bits of `other` set in `self`?
    pub fn contains(self, other: Rsv) -> bool {
        self.0 & other.0 == other.0
    }
    /// The bits set in either.
    pub fn union(self, other: Rsv) -> Rsv {
        Rsv(self.0 | other.0)
    }
}

/// A parsed or to-be-encoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of its message.
    pub fin: bool,
    /// The reserved bits.
    pub rsv: Rsv,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on client-to-server frames.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

/// The longest header: 2 fixed bytes, an 8-byte length and a 4-byte key.
pub const MAX_HEADER_LEN: usize = 14;

impl FrameHeader {
    /// A final, unmasked frame header with no RSV bits.
    pub fn new(opcode: OpCode, payload_len: u64) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: Rsv::NONE,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of the header (nothing is consumed;
    /// call again with more bytes), else the header and its length in bytes. Only the
    /// rules visible in the header bytes themselves are checked here: reserved opcodes and a
    /// 64-bit length with its most significant bit set. Non-minimal length encodings are
    /// accepted, as RFC 6455 §5.2 requires of receivers only implicitly and Autobahn expects.
    /// The role, RSV and control-frame rules are the [`FrameDecoder`](super::FrameDecoder)'s.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode)?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let total = 2 + ext + if masked { 4 } else { 0 };
        let Some(rest) = buf.get(2..total) else {
            return Ok(None);
        };
        let (len_bytes, key_bytes) = rest.split_at(ext);
        let payload_len = match len_bytes {
            [] => u64::from(len7),
            [a, b] => u64::from(u16::from_be_bytes([*a, *b])),
            [a, b, c, d, e, f, g, h] => {
                let n = u64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h]);
                if n >> 63 != 0 {
                    return Err(ProtocolError::LengthMsb);
                }
                n
            }
            _ => return Ok(None),
        };
        let mask = match key_bytes {
            [a, b, c, d] => Some([*a, *b, *c, *d]),
            _ => None,
        };
        Ok(Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: Rsv::from_first_byte(b0),
                opcode,
                mask,
                payload_len,
            },
            total,
        )))
    }

    /// The encoded size of this header (2 to 14 bytes).
    pub fn encoded_len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the header to `dst`, with the shortest length encoding (§5.2: "the minimal
    /// number of bytes MUST be used").
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        let b0 = (if self.fin { 0x80 } else { 0 }) | self.rsv.bits() | self.opcode.as_u8();
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        dst.put_u8(b0);
        match self.payload_len {
            n @ 0..=125 => dst.put_u8(m | n as u8),
            n @ 126..=0xffff => {
                dst.put_u8(m | 126);
                dst.put_u16(n as u16);
            }
            n => {
                dst.put_u8(m | 127);
                dst.put_u64(n);
            }
        }
        if let Some(k) = self.mask {
            dst.put_slice(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(h: FrameHeader) {
        let mut b = BytesMut::new();
        h.encode(&mut b);
        assert_eq!(b.len(), h.encoded_len());
        for cut in 0..b.len() {
            assert_eq!(FrameHeader::parse(&b[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(FrameHeader::parse(&b), Ok(Some((h, b.len()))));
    }

    #[test]
    fn rfc6455_5_2_lengths_roundtrip_at_every_boundary() {
        for len in [
            0u64,
            1,
            125,
            126,
            127,
            0xffff,
            0x1_0000,
            1 << 40,
            (1 << 63) - 1,
        ] {
            for mask in [None, Some([1, 2, 3, 4])] {
                roundtrip(FrameHeader {
                    fin: len % 2 == 0,
                    rsv: Rsv::RSV1,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                });
            }
        }
    }

    #[test]
    fn rfc6455_5_2_length_msb_is_an_error() {
        let mut b = vec![0x82, 127];
        b.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(FrameHeader::parse(&b), Err(ProtocolError::LengthMsb));
    }

    #[test]
    fn rfc6455_5_2_non_minimal_lengths_are_accepted() {
        let (h, n) = FrameHeader::parse(&[0x82, 126, 0, 5]).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (5, 4));
        let (h, n) = FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (5, 10));
    }

    #[test]
    fn rfc6455_5_2_reserved_opcodes_fail_on_the_first_byte() {
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode)
            );
        }
    }
}
