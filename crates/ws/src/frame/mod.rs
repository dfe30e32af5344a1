//! The frame layer (RFC 6455 §5): an incremental, split-proof decoder and the encoders.

mod header;
mod mask;
mod opcode;

pub use header::{FrameHeader, MAX_HEADER_LEN, Rsv};
pub use mask::apply_mask;
pub use opcode::OpCode;

use bytes::{Buf, Bytes, BytesMut};

use crate::config::Config;
use crate::error::{CapacityError, Error, ProtocolError};

/// Which end of the connection we are. It decides the masking rules (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We accepted the connection: incoming frames must be masked, ours are not.
    Server,
    /// We opened the connection: incoming frames must not be masked, ours are.
    Client,
}

/// One complete frame, its payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header as received (`mask` still holds the key that was removed).
    pub header: FrameHeader,
    /// The unmasked payload. It shares the read buffer's allocation: no copy was made.
    pub payload: Bytes,
}

/// A piece of a frame's payload, unmasked, handed out as it arrived by
/// [`FrameDecoder::decode_parts`] (a frame too large to be worth holding whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePart {
    /// The frame's header as received (`payload_len` is the whole frame's).
    pub header: FrameHeader,
    /// Where `data` starts within the frame's payload.
    pub offset: u64,
    /// The unmasked bytes. It shares the read buffer's allocation: no copy was made.
    /// Mutable, so that a client forwarding it can mask it again in place.
    pub data: BytesMut,
}

impl FramePart {
    /// Is this the frame's first part (its header was just received)?
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }

    /// Is this the frame's last part?
    pub fn is_last(&self) -> bool {
        self.offset + self.data.len() as u64 == self.header.payload_len
    }
}

/// What [`FrameDecoder::decode_parts`] returns: a whole frame, or a part of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame.
    Frame(Frame),
    /// A part of a frame handed out in parts.
    Part(FramePart),
}

/// Where the decoder is within the current frame.
#[derive(Debug, Clone)]
enum State {
    /// Waiting for a complete header; nothing of it has been consumed.
    Header,
    /// The header was consumed; `unmasked` payload bytes at the front of the buffer are
    /// already unmasked (so each byte is unmasked exactly once, however the input is split).
    Payload {
        header: FrameHeader,
        len: usize,
        unmasked: usize,
    },
    /// The header was consumed and the payload is handed out in parts as it arrives;
    /// `done` bytes of it were handed out.
    Parts { header: FrameHeader, done: u64 },
    /// A rule was broken; the error is returned forever.
    Failed(Error),
}

/// Incremental frame decoder: feed it the read buffer, get complete frames.
///
/// The header is parsed only once it is complete (nothing is consumed before), then checked
/// against the role's masking rule, the reserved opcodes and bits, the control-frame rules and
/// `max_frame`, all before any payload is buffered. Payload bytes are unmasked in place as
/// they arrive, once each, and handed out as a `Bytes` split off the buffer: no copy.
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_ws::{Config, frame::{FrameDecoder, OpCode, Role}};
/// let mut dec = FrameDecoder::new(Role::Client, &Config::default());
/// let mut buf = BytesMut::from(&[0x81, 0x05, b'H', b'e'][..]);
/// assert!(dec.decode(&mut buf)?.is_none()); // need more
/// buf.extend_from_slice(b"llo");
/// let frame = dec.decode(&mut buf)?.unwrap();
/// assert_eq!((frame.header.opcode, &frame.payload[..]), (OpCode::Text, &b"Hello"[..]));
/// # Ok::<(), pushwire_ws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    max_frame: u64,
    allowed_rsv: Rsv,
    state: State,
}

impl FrameDecoder {
    /// A decoder for frames received by `role`, limited by `cfg.max_frame`.
    pub fn new(role: Role, cfg: &Config) -> FrameDecoder {
        FrameDecoder {
            role,
            max_frame: cfg.max_frame as u64,
            allowed_rsv: Rsv::NONE,
            state: State::Header,
        }
    }

    /// Allows RSV bits that a negotiated extension defines. They are allowed on the first
    /// frame of a data message only (a text or binary frame): RFC 7692 §6.1 forbids RSV1 on
    /// continuation and control frames, and an unnegotiated bit stays close 1002.
    pub fn set_allowed_rsv(&mut self, rsv: Rsv) {
        self.allowed_rsv = rsv;
    }

    /// Decodes the next frame from the front of `src`.
    ///
    /// `Ok(None)` means more bytes are needed. Complete headers are consumed from `src` as
    /// soon as they are valid; a payload is consumed when complete. Errors are terminal.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        match self.decode_parts(src, |_| false)? {
            Some(Decoded::Frame(f)) => Ok(Some(f)),
            // Only a frame that `decode_parts` started handing out in parts gets here.
            Some(Decoded::Part(_)) => Err(self.fail(crate::error::UsageError::FrameInParts.into())),
            None => Ok(None),
        }
    }

    /// Like [`FrameDecoder::decode`], but a frame for which `in_parts` (called once, on its
    /// validated header) says yes is handed out in parts as its bytes arrive: each call
    /// returns what arrived since the last one, unmasked, split off `src` (no copy), so `src`
    /// never holds more of it than one read brought. A frame in parts ends with a part for
    /// which [`FramePart::is_last`] holds (an empty frame is one empty part).
    ///
    /// Meant for large data frames that are forwarded rather than kept (an echo, a proxy):
    /// the caller then sees the payload before the frame is complete, and takes on the
    /// message rules [`MessageAssembler`](crate::MessageAssembler) would check (the protocol
    /// layer's [`Protocol::receive_parts`](crate::Protocol::receive_parts) does that). Once a
    /// frame is handed out in parts, keep calling this method until its last part.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use pushwire_ws::{Config, frame::{Decoded, FrameDecoder, OpCode, Role}};
    /// let mut dec = FrameDecoder::new(Role::Client, &Config::default());
    /// let mut buf = BytesMut::from(&[0x82, 0x05, 1, 2][..]);
    /// let big = |h: &pushwire_ws::frame::FrameHeader| h.payload_len >= 4;
    /// let Some(Decoded::Part(p)) = dec.decode_parts(&mut buf, big)? else { panic!() };
    /// assert_eq!((p.offset, &p.data[..], p.is_last()), (0, &[1, 2][..], false));
    /// buf.extend_from_slice(&[3, 4, 5]);
    /// let Some(Decoded::Part(p)) = dec.decode_parts(&mut buf, big)? else { panic!() };
    /// assert_eq!((p.offset, &p.data[..], p.is_last()), (2, &[3, 4, 5][..], true));
    /// # Ok::<(), pushwire_ws::Error>(())
    /// ```
    pub fn decode_parts(
        &mut self,
        src: &mut BytesMut,
        in_parts: impl FnOnce(&FrameHeader) -> bool,
    ) -> Result<Option<Decoded>, Error> {
        let mut in_parts = Some(in_parts);
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Header => {
                    let parsed = match self.parse_header(src) {
                        Ok(p) => p,
                        Err(e) => return Err(self.fail(e)),
                    };
                    let Some((header, n)) = parsed else {
                        return Ok(None);
                    };
                    // The size check above guarantees the length fits in usize.
                    let len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
                    if in_parts.take().is_some_and(|f| f(&header)) {
                        src.advance(n);
                        self.state = State::Parts { header, done: 0 };
                        continue;
                    }
                    if src.len() - n >= len {
                        // Fast path, the common case for small frames: the whole frame is
                        // here, so skip the payload state (the benchmark showed the extra
                        // state round trip at 16-byte frames).
                        src.advance(n);
                        let mut payload = src.split_to(len);
                        if let Some(key) = header.mask {
                            apply_mask(&mut payload, key, 0);
                        }
                        return Ok(Some(Decoded::Frame(Frame {
                            header,
                            payload: payload.freeze(),
                        })));
                    }
                    src.advance(n);
                    self.state = State::Payload {
                        header,
                        len,
                        unmasked: 0,
                    };
                }
                State::Payload {
                    header,
                    len,
                    unmasked,
                } => {
                    let have = src.len().min(*len);
                    if let Some(key) = header.mask
                        && have > *unmasked
                    {
                        apply_mask(&mut src[*unmasked..have], key, *unmasked);
                    }
                    *unmasked = have;
                    if have < *len {
                        return Ok(None);
                    }
                    let frame = Frame {
                        header: *header,
                        payload: src.split_to(*len).freeze(),
                    };
                    self.state = State::Header;
                    return Ok(Some(Decoded::Frame(frame)));
                }
                State::Parts { header, done } => {
                    let header = *header;
                    let offset = *done;
                    let left = header.payload_len - offset;
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(src.len());
                    if n == 0 && left > 0 {
                        return Ok(None);
                    }
                    let mut data = src.split_to(n);
                    if let Some(key) = header.mask {
                        // The key's phase is the payload offset's (`offset % 4`).
                        apply_mask(&mut data, key, (offset % 4) as usize);
                    }
                    let done = offset + n as u64;
                    self.state = if done == header.payload_len {
                        State::Header
                    } else {
                        State::Parts { header, done }
                    };
                    return Ok(Some(Decoded::Part(FramePart {
                        header,
                        offset,
                        data,
                    })));
                }
            }
        }
    }

    /// The header of the frame being received and its payload bytes received (and unmasked)
    /// so far, if a header has been consumed. Lets the message layer validate UTF-8 and
    /// sizes before a frame completes.
    pub fn partial<'a>(&self, src: &'a BytesMut) -> Option<(&FrameHeader, &'a [u8])> {
        match &self.state {
            State::Payload {
                header, unmasked, ..
            } => Some((header, src.get(..*unmasked).unwrap_or_default())),
            _ => None,
        }
    }

    /// How many more bytes complete the current frame's payload (0 between frames): a hint
    /// for how much read buffer to reserve.
    pub fn remaining(&self, src: &BytesMut) -> usize {
        match &self.state {
            State::Payload { len, .. } => len.saturating_sub(src.len()),
            State::Parts { header, done } => usize::try_from(header.payload_len - done)
                .unwrap_or(usize::MAX)
                .saturating_sub(src.len()),
            _ => 0,
        }
    }

    /// Records a terminal error and returns it.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed(e.clone());
        e
    }

    /// Parses and validates a header without consuming anything. Checks what the first two
    /// bytes already tell as soon as they are there, so a bad frame fails fast.
    fn parse_header(&self, src: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        let (b0, b1) = match src {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode)?;
        let fin = b0 & 0x80 != 0;
        let rsv = Rsv::from_first_byte(b0);
        let masked = b1 & 0x80 != 0;
        // RFC 6455 §5.2: "If a nonzero value is received and none of the negotiated
        // extensions defines the meaning of such a nonzero value, the receiving endpoint
        // MUST _Fail the WebSocket Connection_."
        let rsv_ok = match opcode {
            OpCode::Text | OpCode::Binary => self.allowed_rsv.contains(rsv),
            _ => rsv.is_empty(),
        };
        if !rsv_ok {
            return Err(ProtocolError::ReservedBits.into());
        }
        // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST
        // NOT be fragmented." Judged on the second byte: a 7-bit length field of 126 or 127
        // is either a payload over 125 or a non-minimal encoding of a short one (§5.2: "the
        // minimal number of bytes MUST be used"), and a control frame has no reason for
        // either. Non-minimal lengths of data frames are accepted.
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControl.into());
            }
            if b1 & 0x7f > 125 {
                return Err(ProtocolError::ControlTooLong.into());
            }
        }
        // §5.1: a server MUST close on an unmasked frame, a client on a masked one.
        match (self.role, masked) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame.into()),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame.into()),
            _ => {}
        }
        let Some((header, n)) = FrameHeader::parse(src)? else {
            return Ok(None);
        };
        if header.payload_len > self.max_frame {
            return Err(CapacityError::FrameTooBig.into());
        }
        Ok(Some((header, n)))
    }
}

/// Appends one frame to `dst`: `header` (its `payload_len` is taken from `payload`), then
/// `payload`, masked with `header.mask` if there is one.
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_ws::frame::{encode_frame, FrameHeader, OpCode};
/// let mut out = BytesMut::new();
/// encode_frame(&FrameHeader::new(OpCode::Text, 0), b"Hello", &mut out);
/// assert_eq!(&out[..], b"\x81\x05Hello"); // RFC 6455 §5.7
/// ```
pub fn encode_frame(header: &FrameHeader, payload: &[u8], dst: &mut BytesMut) {
    let header = FrameHeader {
        payload_len: payload.len() as u64,
        ..*header
    };
    dst.reserve(header.encoded_len() + payload.len());
    header.encode(dst);
    let start = dst.len();
    dst.extend_from_slice(payload);
    if let Some(key) = header.mask {
        apply_mask(&mut dst[start..], key, 0);
    }
}

/// A complete, unmasked (server-to-client) frame encoded once and shared.
///
/// A broadcast hub encodes a message once with [`SharedFrame::new`] and hands clones (a
/// reference count, no copy) to every connection's
/// [`WebSocket::send_shared`](crate::WebSocket::send_shared). Only servers may send one:
/// client frames must be masked with a fresh key each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFrame {
    opcode: OpCode,
    bytes: Bytes,
    compressed: bool,
}

impl SharedFrame {
    /// Encodes a final, unmasked data or control frame. Control payloads over 125 bytes are
    /// refused (`UsageError::ControlTooLong`).
    ///
    /// ```
    /// use pushwire_ws::frame::{OpCode, SharedFrame};
    /// let f = SharedFrame::new(OpCode::Text, b"Hello")?;
    /// assert_eq!(f.as_bytes().as_ref(), b"\x81\x05Hello");
    /// # Ok::<(), pushwire_ws::Error>(())
    /// ```
    pub fn new(opcode: OpCode, payload: &[u8]) -> Result<SharedFrame, Error> {
        if opcode.is_control() && payload.len() > 125 {
            return Err(crate::error::UsageError::ControlTooLong.into());
        }
        let mut dst = BytesMut::new();
        encode_frame(&FrameHeader::new(opcode, 0), payload, &mut dst);
        Ok(SharedFrame {
            opcode,
            bytes: dst.freeze(),
            compressed: false,
        })
    }

    /// Compresses a text or binary message once for every receiver that negotiated
    /// permessage-deflate with `server_no_context_takeover` and a 15-bit server window
    /// ([`Protocol::accepts_compressed_shared`](crate::Protocol::accepts_compressed_shared)):
    /// without context takeover a message is compressed the same way for everyone, so one
    /// compression serves N connections (RFC 7692 §7.1.1.1). `None` when the payload is
    /// shorter than `threshold` or would not shrink: send [`SharedFrame::new`]'s frame.
    ///
    /// ```
    /// use pushwire_ws::frame::{OpCode, SharedFrame};
    /// let json = "{\"price\":42,\"symbol\":\"ABC\"}".repeat(10);
    /// let f = SharedFrame::compressed(OpCode::Text, json.as_bytes(), 6, 64)?.unwrap();
    /// assert_eq!(f.as_bytes()[0], 0xc1); // FIN + RSV1 + text
    /// assert!(f.is_compressed() && f.as_bytes().len() < json.len());
    /// # Ok::<(), pushwire_ws::Error>(())
    /// ```
    #[cfg(feature = "deflate")]
    pub fn compressed(
        opcode: OpCode,
        payload: &[u8],
        level: u32,
        threshold: usize,
    ) -> Result<Option<SharedFrame>, Error> {
        if opcode.is_control() || payload.len() < threshold {
            // §6.1: control frames are never compressed.
            return Ok(None);
        }
        let Some(c) = crate::deflate::compress_message(payload, level)? else {
            return Ok(None);
        };
        let mut header = FrameHeader::new(opcode, 0);
        header.rsv = Rsv::RSV1;
        let mut dst = BytesMut::new();
        encode_frame(&header, &c, &mut dst);
        Ok(Some(SharedFrame {
            opcode,
            bytes: dst.freeze(),
            compressed: true,
        }))
    }

    /// Is this a compressed (RSV1) frame, for permessage-deflate receivers only?
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Encodes a data message (text or binary) or control message.
    pub fn from_message(msg: &crate::Message) -> Result<SharedFrame, Error> {
        let (op, payload) = msg.opcode_and_payload()?;
        SharedFrame::new(op, &payload)
    }

    /// The frame's opcode.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The encoded frame, header included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[cfg(test)]
mod tests;
