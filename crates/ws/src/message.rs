//! Messages, validated UTF-8 payloads, and reassembly of fragmented messages (RFC 6455 §5.4,
//! §5.6, §8.1).

use bytes::{Bytes, BytesMut};

use crate::close::{CloseFrame, encode_close_payload};
use crate::error::{CapacityError, Error, ProtocolError, UsageError};
use crate::frame::{Frame, FrameHeader, OpCode};

/// A `Bytes` known to hold valid UTF-8: text payloads without a copy.
///
/// Built only from validated bytes, so [`Utf8Bytes::as_str`] cannot fail. (Without `unsafe`,
/// `as_str` re-runs the standard library's validation, which is SIMD-fast; use
/// [`Utf8Bytes::as_bytes`] on hot paths that only forward the payload.)
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// A static string, without allocating.
    pub const fn from_static(s: &'static str) -> Utf8Bytes {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        // The invariant (only validated bytes get in) makes the error arm unreachable.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
    /// The UTF-8 bytes, owned.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Is the text empty?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&b)?;
        Ok(Utf8Bytes(b))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl std::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// A WebSocket message: a reassembled data message or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (validated UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its payload (at most 125 bytes). Received pings are answered
    /// automatically.
    Ping(Bytes),
    /// A pong with its payload (at most 125 bytes).
    Pong(Bytes),
    /// A close frame, with its code and reason if it had any.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<Utf8Bytes>) -> Message {
        Message::Text(s.into())
    }
    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Message {
        Message::Binary(b.into())
    }
    /// Is this a text or binary message?
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
    /// The payload bytes of a data, ping or pong message (empty for close).
    pub fn payload(&self) -> Bytes {
        match self {
            Message::Text(t) => t.as_bytes().clone(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.clone(),
            Message::Close(_) => Bytes::new(),
        }
    }

    /// The opcode and wire payload of this message as one unfragmented frame. Control
    /// payloads over 125 bytes (close reasons over 123) and unsendable close codes are
    /// refused.
    pub(crate) fn opcode_and_payload(&self) -> Result<(OpCode, Bytes), Error> {
        let (op, payload) = match self {
            Message::Text(t) => (OpCode::Text, t.as_bytes().clone()),
            Message::Binary(b) => (OpCode::Binary, b.clone()),
            Message::Ping(b) => (OpCode::Ping, b.clone()),
            Message::Pong(b) => (OpCode::Pong, b.clone()),
            Message::Close(f) => {
                let mut p = BytesMut::new();
                encode_close_payload(f.as_ref(), &mut p)?;
                (OpCode::Close, p.freeze())
            }
        };
        if op.is_control() && payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        Ok((op, payload))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

/// Incremental UTF-8 validator: feed it a message in pieces of any size; it fails on the
/// first piece that makes the text invalid, even in the middle of a code point.
///
/// Keeps at most 3 bytes of an unfinished code point between pieces; every byte is looked at
/// once (plus at most 3 when a code point straddles two pieces).
///
/// ```
/// use pushwire_ws::Utf8Validator;
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(b"caf\xc3").is_ok());   // incomplete but valid so far
/// assert!(v.feed(b"\xa9").is_ok() && v.finish().is_ok());
/// assert!(Utf8Validator::new().feed(b"\xf4\x90").is_err()); // > U+10FFFF: fails at once
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Validates the next piece; [`Error::InvalidUtf8`] (close 1007) once the text is invalid.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Error> {
        if self.partial_len > 0 {
            // Complete the code point left over from the previous piece.
            let have = usize::from(self.partial_len);
            let take = input.len().min(4 - have);
            let mut tmp = self.partial;
            tmp[have..have + take].copy_from_slice(&input[..take]);
            match std::str::from_utf8(&tmp[..have + take]) {
                Ok(_) => {
                    // Only possible when the point ends exactly at `have + take`.
                    self.partial_len = 0;
                    input = &input[take..];
                }
                Err(e) if e.valid_up_to() > 0 => {
                    // The first code point completed within `valid_up_to` bytes.
                    let used = e.valid_up_to() - have;
                    self.partial_len = 0;
                    input = &input[used..];
                }
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; the piece was too short to finish it.
                    self.partial = tmp;
                    self.partial_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(Error::InvalidUtf8),
            }
        }
        match std::str::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Error::InvalidUtf8),
        }
    }

    /// Ends the text: fails if it stopped in the middle of a code point. Resets the
    /// validator for the next text.
    pub fn finish(&mut self) -> Result<(), Error> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Error::InvalidUtf8)
        }
    }
}

/// The kind of a data message being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// Reassembles data frames into messages, validating text as it arrives.
///
/// Enforces the fragmentation rules of RFC 6455 §5.4 (a continuation needs a started
/// message; a new text or binary frame may not interrupt one: both 1002), `max_message`
/// (1009, checked on each frame header before its payload is buffered) and UTF-8 (1007, at
/// the first invalid byte, even in the middle of a frame that is still arriving).
#[derive(Debug, Clone)]
pub struct MessageAssembler {
    max_message: usize,
    /// The kind of the fragmented message in progress, if any.
    kind: Option<Kind>,
    /// The fragments received so far (empty when idle: no memory held between messages).
    buf: BytesMut,
    utf8: Utf8Validator,
    /// Bytes of the frame in progress already fed to the validator.
    validated: usize,
    /// permessage-deflate's receiving side, once negotiated. Boxed: most connections never
    /// negotiate it, and this keeps their assembler (part of every idle connection) small.
    #[cfg(feature = "deflate")]
    inflater: Option<Box<crate::deflate::Inflater>>,
    /// The message in progress is compressed (its first frame had RSV1).
    #[cfg(feature = "deflate")]
    compressed: bool,
}

impl MessageAssembler {
    /// An assembler limited to messages of `max_message` bytes.
    pub fn new(max_message: usize) -> MessageAssembler {
        MessageAssembler {
            max_message,
            kind: None,
            buf: BytesMut::new(),
            utf8: Utf8Validator::new(),
            validated: 0,
            #[cfg(feature = "deflate")]
            inflater: None,
            #[cfg(feature = "deflate")]
            compressed: false,
        }
    }

    /// Accepts compressed messages (RSV1 on their first frame) from now on.
    #[cfg(feature = "deflate")]
    pub(crate) fn set_inflater(&mut self, inflater: crate::deflate::Inflater) {
        self.inflater = Some(Box::new(inflater));
    }

    /// Is this data frame part of a compressed message? RFC 7692 §6.1: RSV1 on the first
    /// frame marks the whole message; continuation frames carry RSV1 = 0 (the decoder
    /// refuses it there).
    #[cfg(feature = "deflate")]
    fn is_compressed(&self, header: &FrameHeader) -> bool {
        match header.opcode {
            OpCode::Continuation => self.compressed,
            _ => header.rsv.contains(crate::frame::Rsv::RSV1),
        }
    }

    /// Is a fragmented message in progress?
    pub fn in_message(&self) -> bool {
        self.kind.is_some()
    }

    /// The kind a data frame with this header continues or starts, after the §5.4 checks.
    fn kind_of(&self, header: &FrameHeader) -> Result<Kind, Error> {
        match (header.opcode, self.kind) {
            (OpCode::Continuation, Some(k)) => Ok(k),
            (OpCode::Continuation, None) => Err(ProtocolError::UnexpectedContinuation.into()),
            (_, Some(_)) => Err(ProtocolError::ExpectedContinuation.into()),
            (OpCode::Text, None) => Ok(Kind::Text),
            _ => Ok(Kind::Binary),
        }
    }

    fn check_size(&self, frame_len: u64) -> Result<(), Error> {
        let room = (self.max_message - self.buf.len().min(self.max_message)) as u64;
        if frame_len > room {
            return Err(CapacityError::MessageTooBig.into());
        }
        Ok(())
    }

    /// Looks at a data frame still arriving: `received` is its unmasked payload so far.
    /// Fails early on sequencing, size and UTF-8 errors.
    pub fn on_partial(&mut self, header: &FrameHeader, received: &[u8]) -> Result<(), Error> {
        if header.opcode.is_control() {
            return Ok(());
        }
        let kind = self.kind_of(header)?;
        #[cfg(feature = "deflate")]
        if self.is_compressed(header) {
            // Sizes and UTF-8 are judged on the inflated bytes, as each frame completes.
            return Ok(());
        }
        self.check_size(header.payload_len)?;
        if kind == Kind::Text && received.len() > self.validated {
            self.utf8
                .feed(&received[self.validated..])
                .map_err(|_| Error::InvalidUtf8)?;
            self.validated = received.len();
        }
        Ok(())
    }

    /// Takes a complete data frame; returns the message it completes, if any.
    pub fn on_frame(&mut self, frame: Frame) -> Result<Option<Message>, Error> {
        let header = frame.header;
        let kind = self.kind_of(&header)?;
        #[cfg(feature = "deflate")]
        if self.is_compressed(&header) {
            return self.on_compressed(kind, &header, &frame.payload);
        }
        self.check_size(header.payload_len)?;
        let validated = std::mem::take(&mut self.validated);
        if kind == Kind::Text {
            let rest = frame.payload.get(validated..).unwrap_or_default();
            self.utf8.feed(rest)?;
            if header.fin {
                self.utf8.finish()?;
            }
        }
        if header.fin && self.kind.is_none() {
            // Unfragmented: hand out the read buffer's bytes as they are.
            return Ok(Some(make(kind, frame.payload)));
        }
        self.buf.extend_from_slice(&frame.payload);
        if !header.fin {
            self.kind = Some(kind);
            return Ok(None);
        }
        self.kind = None;
        let payload = std::mem::take(&mut self.buf).freeze();
        Ok(Some(make(kind, payload)))
    }
}

#[cfg(feature = "deflate")]
impl MessageAssembler {
    /// A frame of a compressed message: inflated at once (frame by frame, never buffering
    /// the compressed message), bounded by `max_message` on the inflated size.
    fn on_compressed(
        &mut self,
        kind: Kind,
        header: &FrameHeader,
        payload: &[u8],
    ) -> Result<Option<Message>, Error> {
        let Some(inflater) = self.inflater.as_mut() else {
            // The decoder lets RSV1 through only once negotiated; keep the rule anyway.
            return Err(ProtocolError::ReservedBits.into());
        };
        if header.opcode != OpCode::Continuation {
            inflater.begin(kind == Kind::Text);
        }
        self.validated = 0;
        match inflater.frame(payload, header.fin, self.max_message)? {
            None => {
                self.kind = Some(kind);
                self.compressed = true;
                Ok(None)
            }
            Some(bytes) => {
                self.kind = None;
                self.compressed = false;
                // Text was validated by the inflater as it came out.
                Ok(Some(make(kind, bytes)))
            }
        }
    }
}

fn make(kind: Kind, payload: Bytes) -> Message {
    match kind {
        // Validated above, frame by frame.
        Kind::Text => Message::Text(Utf8Bytes(payload)),
        Kind::Binary => Message::Binary(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_agrees_with_std_for_every_split() {
        let samples: [&[u8]; 8] = [
            "κόσμε".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf0\x90\x80\x80",
            b"\xf4\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"ab\xe0\x80\xaf",
            b"\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd",
        ];
        for s in samples {
            let expect = std::str::from_utf8(s).is_ok();
            for a in 0..=s.len() {
                for b in a..=s.len() {
                    let mut v = Utf8Validator::new();
                    let ok = v.feed(&s[..a]).is_ok()
                        && v.feed(&s[a..b]).is_ok()
                        && v.feed(&s[b..]).is_ok()
                        && v.finish().is_ok();
                    assert_eq!(ok, expect, "{s:?} split {a} {b}");
                }
            }
        }
    }

    #[test]
    fn validator_fails_at_the_first_bad_byte() {
        // Autobahn 6.4: a code point above U+10FFFF fails on its second byte.
        let mut v = Utf8Validator::new();
        assert!(v.feed("κόσμε".as_bytes()).is_ok());
        assert!(v.feed(b"\xf4").is_ok());
        assert_eq!(v.feed(b"\x90"), Err(Error::InvalidUtf8));
        // A truncated point is only an error at the end.
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xe2\x82").is_ok());
        assert_eq!(v.finish(), Err(Error::InvalidUtf8));
    }
}
