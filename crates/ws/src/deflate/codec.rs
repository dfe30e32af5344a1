//! Compressing outgoing messages and inflating incoming ones (RFC 7692 §7.2).

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{DeflateConfig, DeflateParams};
use crate::error::{CapacityError, Error, ProtocolError};
use crate::frame::Role;
use crate::message::Utf8Validator;

/// §7.2.1: a sender removes, and §7.2.2 a receiver appends, these four octets (the end of
/// an empty stored block left by a sync flush).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Largest step by which an inflated message's buffer grows: it grows geometrically up to
/// this, never past `max_message + 1` bytes in all.
const MAX_GROWTH: usize = 1 << 20;

/// Contexts kept per thread for reuse. Without context takeover each message takes one and
/// gives it back, so a thread's pool holds what its busiest moment needed, up to this.
const POOL: usize = 2;

thread_local! {
    static COMPRESSORS: RefCell<Vec<(u32, u8, Compress)>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<Decompress>> = const { RefCell::new(Vec::new()) };
}

/// zlib cannot make raw deflate with a 256-byte window (8 bits; it refuses, and flate2
/// takes 9-15). A peer that limits us to 8 bits gets stored blocks (level 0): they contain
/// no back-reference at all, so they fit any window.
fn effective(level: u32, bits: u8) -> (u32, u8) {
    if bits < 9 {
        (0, 9)
    } else {
        (level.min(9), bits.min(15))
    }
}

fn take_compress(level: u32, bits: u8) -> Compress {
    let pooled = COMPRESSORS
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().position(|(l, b, _)| *l == level && *b == bits)?;
            Some(p.swap_remove(i).2)
        })
        .ok()
        .flatten();
    pooled.unwrap_or_else(|| Compress::new_with_window_bits(Compression::new(level), false, bits))
}

fn give_compress(level: u32, bits: u8, mut c: Compress) {
    c.reset();
    let _ = COMPRESSORS.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL {
            p.push((level, bits, c));
        }
    });
}

fn take_decompress() -> Decompress {
    let pooled = DECOMPRESSORS
        .try_with(|p| p.borrow_mut().pop())
        .ok()
        .flatten();
    // A 15-bit window inflates what any smaller window produced.
    pooled.unwrap_or_else(|| Decompress::new(false))
}

fn give_decompress(mut d: Decompress) {
    d.reset(false);
    let _ = DECOMPRESSORS.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL {
            p.push(d);
        }
    });
}

/// Compresses one whole message with a sync flush and removes the trailing `00 00 ff ff`
/// (§7.2.1).
fn deflate_into(c: &mut Compress, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    out.reserve(payload.len() / 2 + 64);
    let mut input = payload;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let before = c.total_in();
        c.compress_vec(input, out, FlushCompress::Sync)
            .map_err(|_| Error::Internal)?;
        let used = usize::try_from(c.total_in() - before).unwrap_or(usize::MAX);
        input = input.get(used..).unwrap_or_default();
        // The flush is complete once zlib stops with output room to spare.
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TRAILER) {
        out.truncate(out.len() - TRAILER.len());
        Ok(())
    } else {
        Err(Error::Internal)
    }
}

/// Compresses `payload` as one message without context takeover and with a 15-bit window:
/// the form a server can send to every receiver that negotiated `server_no_context_takeover`
/// (see [`SharedFrame::compressed`](crate::frame::SharedFrame::compressed)). `None` when
/// compression would not make it smaller.
pub fn compress_message(payload: &[u8], level: u32) -> Result<Option<Bytes>, Error> {
    if payload.is_empty() {
        return Ok(None);
    }
    let (level, bits) = effective(level, 15);
    let mut c = take_compress(level, bits);
    let mut out = Vec::new();
    let r = deflate_into(&mut c, payload, &mut out);
    give_compress(level, bits, c);
    r?;
    if out.len() >= payload.len() {
        return Ok(None);
    }
    Ok(Some(Bytes::copy_from_slice(&out)))
}

/// The sending side of one connection.
#[derive(Debug)]
pub(crate) struct Deflater {
    no_takeover: bool,
    level: u32,
    bits: u8,
    threshold: usize,
    /// Our compressor, kept between messages only with context takeover.
    kept: Option<Compress>,
}

impl Deflater {
    pub(crate) fn new(params: &DeflateParams, role: Role, cfg: &DeflateConfig) -> Deflater {
        let (no_takeover, bits) = params.sender(role);
        let (level, bits) = effective(cfg.level, bits);
        Deflater {
            no_takeover,
            level,
            bits,
            threshold: cfg.threshold.max(1),
            kept: None,
        }
    }

    /// The compressed payload to send with RSV1, or `None` to send `payload` as it is (too
    /// small, or, without context takeover, not smaller once compressed).
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Result<Option<Bytes>, Error> {
        if payload.len() < self.threshold {
            return Ok(None);
        }
        let mut out = Vec::new();
        if self.no_takeover {
            let mut c = take_compress(self.level, self.bits);
            let r = deflate_into(&mut c, payload, &mut out);
            give_compress(self.level, self.bits, c);
            r?;
            // Without takeover each message stands alone, so sending this one plain is
            // allowed and cheaper. (With takeover it is not: our window already holds it.)
            if out.len() >= payload.len() {
                return Ok(None);
            }
        } else {
            let (level, bits) = (self.level, self.bits);
            let c = self.kept.get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(level), false, bits)
            });
            deflate_into(c, payload, &mut out)?;
        }
        Ok(Some(Bytes::from(out)))
    }
}

/// The receiving side of one connection: inflates a compressed message frame by frame,
/// bounded by `max_message`, validating text as it comes out.
#[derive(Debug)]
pub(crate) struct Inflater {
    /// The peer resets its compressor after each message, so we need no context either.
    no_takeover: bool,
    /// The decompressor: during a message, and between messages with context takeover.
    ctx: Option<Decompress>,
    out: Vec<u8>,
    text: bool,
    utf8: Utf8Validator,
    /// The deflate stream ended (a block with BFINAL) within this message.
    ended: bool,
}

/// zlib contexts cannot be copied: a clone starts without one. Cloning between messages
/// without context takeover (the default) is exact; otherwise the clone has lost the
/// decompressor's window and will fail on a message that refers to it.
impl Clone for Inflater {
    fn clone(&self) -> Self {
        Inflater {
            no_takeover: self.no_takeover,
            ctx: None,
            out: self.out.clone(),
            text: self.text,
            utf8: self.utf8.clone(),
            ended: self.ended,
        }
    }
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams, role: Role) -> Inflater {
        let peer = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        Inflater {
            no_takeover: params.sender(peer).0,
            ctx: None,
            out: Vec::new(),
            text: false,
            utf8: Utf8Validator::new(),
            ended: false,
        }
    }

    /// Starts a compressed message.
    pub(crate) fn begin(&mut self, text: bool) {
        self.text = text;
        self.utf8 = Utf8Validator::new();
        self.ended = false;
        self.out = Vec::new();
    }

    /// Inflates one frame's payload. At the final frame, returns the whole message.
    ///
    /// Errors: more than `max` inflated bytes is 1009 (found while inflating: at most
    /// `max + 1` bytes are ever held), a stream that does not inflate 1002, text that is not
    /// UTF-8 1007 (at the first bad byte inflated).
    pub(crate) fn frame(
        &mut self,
        payload: &[u8],
        fin: bool,
        max: usize,
    ) -> Result<Option<Bytes>, Error> {
        self.inflate(payload, max)?;
        if !fin {
            return Ok(None);
        }
        // §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload".
        self.inflate(&TRAILER, max)?;
        if self.text {
            self.utf8.finish()?;
        }
        let mut out = std::mem::take(&mut self.out);
        if out.capacity() - out.len() > out.len() / 4 {
            // Do not hand out (and let the application retain) a mostly empty buffer.
            out.shrink_to_fit();
        }
        if let Some(mut d) = self.ctx.take() {
            if self.no_takeover {
                give_decompress(d);
            } else {
                if self.ended {
                    // A final block ended the stream: the next message starts a new one.
                    d.reset(false);
                }
                self.ctx = Some(d);
            }
        }
        Ok(Some(Bytes::from(out)))
    }

    fn inflate(&mut self, mut input: &[u8], max: usize) -> Result<(), Error> {
        let d = self.ctx.get_or_insert_with(take_decompress);
        loop {
            if self.ended || input.is_empty() && self.out.len() < self.out.capacity() {
                // Bytes after a final block are ignored, like the trailer we append.
                return Ok(());
            }
            if self.out.len() == self.out.capacity() {
                let room = max.saturating_add(1).saturating_sub(self.out.len());
                if room == 0 {
                    return Err(CapacityError::MessageTooBig.into());
                }
                let step = self
                    .out
                    .capacity()
                    .max(input.len().saturating_mul(4))
                    .clamp(256, MAX_GROWTH)
                    .min(room);
                self.out.reserve_exact(step);
            }
            let (in0, out0) = (d.total_in(), self.out.len());
            let status = d
                .decompress_vec(input, &mut self.out, FlushDecompress::Sync)
                .map_err(|_| ProtocolError::BadDeflateStream)?;
            let used = usize::try_from(d.total_in() - in0).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or_default();
            let fresh = self.out.get(out0..).unwrap_or_default();
            if self.text {
                self.utf8.feed(fresh)?;
            }
            if self.out.len() > max {
                return Err(CapacityError::MessageTooBig.into());
            }
            if status == Status::StreamEnd {
                self.ended = true;
            } else if used == 0 && fresh.is_empty() && self.out.len() < self.out.capacity() {
                // Input and room, yet no progress: zlib cannot go on with these bytes.
                if input.is_empty() {
                    return Ok(());
                }
                return Err(ProtocolError::BadDeflateStream.into());
            }
        }
    }
}
