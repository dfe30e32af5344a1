//! The sans-IO connection: frames in, messages out; messages in, frames out; the close
//! handshake and the keep-alive timers, with time passed in.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame, parse_close_payload};
use crate::config::Config;
use crate::error::{Error, UsageError};
use crate::frame::{
    Decoded, FrameDecoder, FrameHeader, FramePart, OpCode, Role, Rsv, SharedFrame, apply_mask,
    encode_frame,
};
use crate::message::{Message, MessageAssembler, Utf8Bytes};

/// Where a connection is in its life (RFC 6455 §7).
///
/// ```text
///            we close()              peer's Close
///   Open ─────────────────► CloseSent ───────────► Closed
///     │  peer's Close (echo queued)                  ▲
///     └──────────────────────────────────────────────┘
///   any state ── decode error / timeout ──► Failed (close frame queued if one can be sent)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// We sent a close frame and wait for the peer's. Received data is still delivered;
    /// nothing but the close can be sent.
    CloseSent,
    /// Both close frames were exchanged (ours may still be queued). The server now closes
    /// the transport; the client waits for the server to do it (RFC 6455 §7.1.1).
    Closed,
    /// The connection failed; every call returns the same error.
    Failed,
}

/// The sans-IO WebSocket connection (after the opening handshake).
///
/// Feed received bytes to [`Protocol::receive`], which returns messages (control frames
/// included, for observability) and queues the automatic answers: a pong to the latest ping,
/// the echo of the peer's close, the close frame that reports our error. Take them with
/// [`Protocol::poll_transmit`] and write them. Encode outgoing messages with
/// [`Protocol::send`]. Timers (close timeout, keep-alive) are driven quinn-style: call
/// [`Protocol::handle_timeout`] with the current time whenever [`Protocol::poll_timeout`]
/// passes, and after each read.
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_ws::{Config, Message, Protocol, frame::Role};
/// let mut server = Protocol::new(Role::Server, &Config::default());
/// // RFC 6455 §5.7: a masked "Hello" from a client.
/// let mut rx = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..]);
/// assert_eq!(server.receive(&mut rx)?, Some(Message::text("Hello")));
/// let mut tx = BytesMut::new();
/// server.send(&Message::text("Hello"), &mut tx)?;
/// assert_eq!(&tx[..], b"\x81\x05Hello");
/// # Ok::<(), pushwire_ws::Error>(())
/// ```
#[derive(Debug)]
pub struct Protocol {
    role: Role,
    state: State,
    /// A keep-alive ping waits for `poll_transmit`.
    pending_ping: bool,
    /// The close handshake started (ours or the peer's close, or a failure).
    closing_started: bool,
    /// Bytes arrived since the last `handle_timeout` (the peer is alive).
    activity: bool,
    decoder: FrameDecoder,
    assembler: MessageAssembler,
    /// The pong answering the latest ping, waiting for `poll_transmit`.
    pending_pong: Option<Bytes>,
    /// Keep-alive: when to ping if the peer stays silent, and when to give up on it.
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// `src.len()` when `receive` last returned, to notice new bytes.
    seen_len: usize,
    /// Limits and timers; shared by every connection made with the same `Arc`
    /// ([`Protocol::with_config`]).
    cfg: Arc<Config>,
    /// What only the end of a connection needs (the close handshake, the error), allocated
    /// when it starts: an open connection, idle or busy, carries one pointer for it.
    end: Option<Box<Ending>>,
    /// The frame we send in parts ([`Protocol::start_frame`]) while it is unfinished: no
    /// frame of ours may go out inside it (RFC 6455 §5.4). Boxed: rare, and only for large
    /// frames.
    sending: Option<Box<Sending>>,
    /// permessage-deflate, once negotiated: the parameters and our compressor side. Boxed
    /// for the same reason.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<(crate::deflate::DeflateParams, crate::deflate::Deflater)>>,
}

/// What [`Protocol::receive_parts`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A message, as [`Protocol::receive`] returns it.
    Message(Message),
    /// A part of a large binary message that arrives as one frame, unmasked, handed out as
    /// it arrived. The message is complete with the part for which
    /// [`FramePart::is_last`] holds.
    Part(FramePart),
}

/// A frame we send in parts: how much of its payload is still owed, and a client's key.
#[derive(Debug)]
struct Sending {
    mask: Option<[u8; 4]>,
    done: u64,
    len: u64,
}

/// The state of a connection's end, boxed in `Protocol::end`.
#[derive(Debug, Default)]
struct Ending {
    error: Option<Error>,
    /// The peer's close frame, once received.
    peer_close: Option<Option<CloseFrame>>,
    /// Our close frame (an answer or an error report) waiting for `poll_transmit`.
    pending_close: Option<Option<CloseFrame>>,
    /// Close timer: armed at the first `handle_timeout` after the closing handshake started.
    close_deadline: Option<Instant>,
}

impl Protocol {
    /// A connection in `role` with `cfg`'s limits and timers.
    pub fn new(role: Role, cfg: &Config) -> Protocol {
        Protocol::with_config(role, Arc::new(cfg.clone()))
    }

    /// Like [`Protocol::new`], sharing `cfg` instead of copying it: a server that makes all its
    /// connections from one `Arc<Config>` keeps one copy of it instead of one per connection.
    pub fn with_config(role: Role, cfg: Arc<Config>) -> Protocol {
        Protocol {
            role,
            state: State::Open,
            pending_ping: false,
            closing_started: false,
            activity: false,
            decoder: FrameDecoder::new(role, &cfg),
            assembler: MessageAssembler::new(cfg.max_message),
            pending_pong: None,
            next_ping: None,
            pong_deadline: None,
            seen_len: 0,
            cfg,
            end: None,
            sending: None,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// The end state, allocated on first use.
    fn end(&mut self) -> &mut Ending {
        self.end.get_or_insert_with(Box::default)
    }

    /// The error to report again once failed.
    fn stored_error(&self, fallback: Error) -> Error {
        self.end
            .as_ref()
            .and_then(|e| e.error.clone())
            .unwrap_or(fallback)
    }

    /// Turns permessage-deflate on with the parameters the handshake agreed on
    /// ([`Accepted::deflate`](crate::handshake::Accepted::deflate) on a server,
    /// [`ClientHandshake::verify_extensions`](crate::handshake::ClientHandshake::verify_extensions)
    /// on a client): RSV1 is accepted on the first frame of a data message, compressed
    /// messages are inflated (bounded by `max_message`), and data messages of at least
    /// `cfg.deflate.threshold` bytes are sent compressed. Call it before the first frame.
    #[cfg(feature = "deflate")]
    pub fn set_deflate(&mut self, params: crate::deflate::DeflateParams) {
        self.decoder.set_allowed_rsv(Rsv::RSV1);
        self.assembler
            .set_inflater(crate::deflate::Inflater::new(&params, self.role));
        let deflater = crate::deflate::Deflater::new(&params, self.role, &self.cfg.deflate);
        self.deflate = Some(Box::new((params, deflater)));
    }

    /// The negotiated permessage-deflate parameters, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<&crate::deflate::DeflateParams> {
        self.deflate.as_deref().map(|(p, _)| p)
    }

    /// Can this connection be sent a compressed [`SharedFrame`]
    /// (`SharedFrame::compressed`, feature `deflate`: no context, 15-bit window)? True for a server whose
    /// negotiation agreed on `server_no_context_takeover` and left its window at 15 bits.
    pub fn accepts_compressed_shared(&self) -> bool {
        #[cfg(feature = "deflate")]
        if let Some((p, _)) = self.deflate.as_deref() {
            return self.role == Role::Server
                && p.server_no_context_takeover
                && p.server_max_window_bits == 15;
        }
        false
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The error that failed the connection, if it failed.
    pub fn error(&self) -> Option<&Error> {
        self.end.as_ref()?.error.as_ref()
    }

    /// The peer's close frame, once received: `Some(None)` for a close without a code.
    pub fn peer_close(&self) -> Option<&Option<CloseFrame>> {
        self.end.as_ref()?.peer_close.as_ref()
    }

    /// Is the connection over (closed or failed), so that the transport should be closed
    /// once [`Protocol::poll_transmit`] has nothing left?
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }

    /// Allows RSV bits defined by a negotiated extension (see
    /// [`FrameDecoder::set_allowed_rsv`]).
    pub fn set_allowed_rsv(&mut self, rsv: Rsv) {
        self.decoder.set_allowed_rsv(rsv);
    }

    /// How many more bytes complete the frame being received (a read-size hint).
    pub fn read_hint(&self, src: &BytesMut) -> usize {
        self.decoder.remaining(src)
    }

    /// Processes received bytes from the front of `src`; returns the next message.
    ///
    /// `Ok(None)`: more bytes are needed, or the connection is closed or closing and no more
    /// messages will come (see [`Protocol::state`]). Control frames are returned too
    /// (`Ping`, `Pong`, `Close`) after their automatic answer was queued. An error is
    /// terminal: it queues a close frame with [`Error::close_code`] when one can still be
    /// sent, and is returned again by every later call.
    pub fn receive(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        match self.receive_parts(src, u64::MAX)? {
            Some(Incoming::Message(m)) => Ok(Some(m)),
            // Only a frame that `receive_parts` started handing out in parts gets here.
            Some(Incoming::Part(_)) => Err(self.fail(UsageError::FrameInParts.into())),
            None => Ok(None),
        }
    }

    /// Like [`Protocol::receive`], but a binary message of at least `min_len` bytes that
    /// arrives as one frame, uncompressed, is handed out in parts as its bytes arrive
    /// ([`Incoming::Part`]), unmasked, instead of being held in `src` until it is complete:
    /// a large message can be forwarded (echoed, proxied) while it arrives, from a read
    /// buffer that stays as small as one read. The limits are those of [`Protocol::receive`]
    /// (`max_frame` and `max_message` are checked on the header, before any part); fragmented
    /// messages, text (validated as UTF-8 first) and compressed messages are returned whole.
    /// Control frames cannot arrive inside a frame, so none comes between its parts.
    ///
    /// Once a message is handed out in parts, keep calling this method until its last part.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use pushwire_ws::{Config, Incoming, Protocol, frame::Role};
    /// let mut server = Protocol::new(Role::Server, &Config::default());
    /// // A masked 4-byte binary frame (key 0), of which 3 bytes arrived so far.
    /// let mut rx = BytesMut::from(&[0x82, 0x84, 0, 0, 0, 0, 1, 2, 3][..]);
    /// let Some(Incoming::Part(p)) = server.receive_parts(&mut rx, 4)? else { panic!() };
    /// assert_eq!((p.offset, &p.data[..], p.is_last()), (0, &[1, 2, 3][..], false));
    /// assert!(rx.is_empty()); // nothing of it is held
    /// # Ok::<(), pushwire_ws::Error>(())
    /// ```
    pub fn receive_parts(
        &mut self,
        src: &mut BytesMut,
        min_len: u64,
    ) -> Result<Option<Incoming>, Error> {
        if src.len() != self.seen_len {
            self.activity = true;
        }
        let r = self.receive_inner(src, min_len);
        self.seen_len = src.len();
        r
    }

    fn receive_inner(
        &mut self,
        src: &mut BytesMut,
        min_len: u64,
    ) -> Result<Option<Incoming>, Error> {
        loop {
            match self.state {
                State::Failed => return Err(self.stored_error(Error::Internal)),
                State::Closed => {
                    // RFC 6455 §5.5.1: nothing may follow a close frame; discard it.
                    src.clear();
                    return Ok(None);
                }
                State::Open | State::CloseSent => {}
            }
            let assembler = &self.assembler;
            let max_message = self.cfg.max_message as u64;
            // A binary message in one uncompressed frame needs no assembly: once its header
            // passed the decoder (`max_frame`) and the message limit, none of the
            // assembler's rules can fail it. Anything else goes through the assembler, which
            // also fails a binary frame inside a fragmented message.
            let in_parts = |h: &FrameHeader| {
                h.payload_len >= min_len
                    && h.opcode == OpCode::Binary
                    && h.fin
                    && h.rsv.is_empty()
                    && h.payload_len <= max_message
                    && !assembler.in_message()
            };
            let frame = match self.decoder.decode_parts(src, in_parts) {
                Err(e) => return Err(self.fail(e)),
                Ok(Some(Decoded::Part(p))) => return Ok(Some(Incoming::Part(p))),
                Ok(Some(Decoded::Frame(f))) => f,
                Ok(None) => {
                    if let Some((h, got)) = self.decoder.partial(src)
                        && let Err(e) = self.assembler.on_partial(h, got)
                    {
                        return Err(self.fail(e));
                    }
                    return Ok(None);
                }
            };
            match frame.header.opcode {
                OpCode::Close => {
                    let close = match parse_close_payload(&frame.payload) {
                        Ok(c) => c,
                        Err(e) => return Err(self.fail(e)),
                    };
                    if self.state == State::Open {
                        // §5.5.1: "the endpoint MUST send a Close frame in response ...
                        // typically echoing the status code it received".
                        self.end().pending_close = Some(close.as_ref().map(|c| CloseFrame {
                            code: c.code,
                            reason: Utf8Bytes::default(),
                        }));
                        self.pending_pong = None;
                    }
                    self.state = State::Closed;
                    self.closing_started = true;
                    self.end().peer_close = Some(close.clone());
                    return Ok(Some(Incoming::Message(Message::Close(close))));
                }
                OpCode::Ping => {
                    if self.state == State::Open {
                        // §5.5.3: answer "as soon as is practical"; only the latest ping
                        // needs an answer, so a flood of pings queues one pong.
                        self.pending_pong = Some(frame.payload.clone());
                    }
                    return Ok(Some(Incoming::Message(Message::Ping(frame.payload))));
                }
                OpCode::Pong => {
                    self.pong_deadline = None;
                    return Ok(Some(Incoming::Message(Message::Pong(frame.payload))));
                }
                OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                    match self.assembler.on_frame(frame) {
                        Err(e) => return Err(self.fail(e)),
                        Ok(Some(m)) => return Ok(Some(Incoming::Message(m))),
                        Ok(None) => continue,
                    }
                }
            }
        }
    }

    /// Fails the connection: remembers `e`, queues the close frame the peer should get.
    fn fail(&mut self, e: Error) -> Error {
        self.decoder.fail(e.clone());
        if matches!(self.state, State::Open)
            && let Some(code) = e.close_code()
        {
            self.end().pending_close = Some(Some(CloseFrame {
                code,
                reason: Utf8Bytes::default(),
            }));
        }
        self.pending_pong = None;
        self.pending_ping = false;
        self.state = State::Failed;
        self.closing_started = true;
        self.end().error = Some(e.clone());
        e
    }

    /// Fails the connection from the outside, e.g. a slow consumer ([`Error::Policy`]): the
    /// close frame for `e` is queued as for a decode error.
    pub fn abort(&mut self, e: Error) -> Error {
        if self.state == State::Failed {
            return self.stored_error(e);
        }
        self.fail(e)
    }

    /// Is anything queued for [`Protocol::poll_transmit`]?
    pub fn wants_transmit(&self) -> bool {
        // Nothing goes out inside a frame sent in parts.
        self.sending.is_none()
            && (self.pending_pong.is_some()
                || self.pending_ping
                || self.end.as_ref().is_some_and(|e| e.pending_close.is_some()))
    }

    /// Appends the queued control frames (pong, keep-alive ping, close) to `dst`; returns
    /// whether anything was written. While a frame sent in parts is unfinished
    /// ([`Protocol::start_frame`]) they wait.
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) -> bool {
        if self.sending.is_some() {
            return false;
        }
        let mut wrote = false;
        if let Some(p) = self.pending_pong.take() {
            self.encode(OpCode::Pong, &p, dst);
            wrote = true;
        }
        if std::mem::take(&mut self.pending_ping) {
            self.encode(OpCode::Ping, b"", dst);
            wrote = true;
        }
        if let Some(close) = self.end.as_mut().and_then(|e| e.pending_close.take()) {
            let mut payload = BytesMut::new();
            // Codes queued here come from `close_code()` or the peer's valid frame.
            if crate::close::encode_close_payload(close.as_ref(), &mut payload).is_ok() {
                self.encode(OpCode::Close, &payload, dst);
                wrote = true;
            }
        }
        wrote
    }

    fn header(&self, opcode: OpCode) -> FrameHeader {
        let mut h = FrameHeader::new(opcode, 0);
        if self.role == Role::Client {
            // §5.3: a fresh, unpredictable key per frame.
            h.mask = Some(random_mask());
        }
        h
    }

    fn encode(&self, opcode: OpCode, payload: &[u8], dst: &mut BytesMut) {
        encode_frame(&self.header(opcode), payload, dst);
    }

    /// Checks that `msg` may be sent now and returns its frame header (masked with a fresh
    /// key for a client) and payload, for callers that write header and payload separately
    /// (vectored writes without copying a large payload). Sending a `Close` moves to
    /// [`State::CloseSent`].
    pub fn prepare(&mut self, msg: &Message) -> Result<(FrameHeader, Bytes), Error> {
        self.check_can_send()?;
        let (op, payload) = msg.opcode_and_payload()?;
        if op == OpCode::Close {
            self.pending_pong = None;
            self.state = State::CloseSent;
            self.closing_started = true;
        }
        let mut header = self.header(op);
        #[cfg(feature = "deflate")]
        let payload = match self.deflate.as_deref_mut() {
            Some((_, d)) if matches!(op, OpCode::Text | OpCode::Binary) => {
                match d.compress(&payload) {
                    Err(e) => return Err(self.fail(e)),
                    Ok(Some(c)) => {
                        // RFC 7692 §6: RSV1 on the (only) frame of a compressed message.
                        header.rsv = Rsv::RSV1;
                        c
                    }
                    Ok(None) => payload,
                }
            }
            _ => payload,
        };
        header.payload_len = payload.len() as u64;
        Ok((header, payload))
    }

    fn check_can_send(&self) -> Result<(), Error> {
        if self.sending.is_some() && self.state != State::Failed {
            return Err(UsageError::FrameInParts.into());
        }
        match self.state {
            State::Open => Ok(()),
            State::Failed => Err(self.stored_error(Error::Internal)),
            State::CloseSent | State::Closed => Err(UsageError::AlreadyClosed.into()),
        }
    }

    /// Encodes `msg` as one frame into `dst`.
    ///
    /// Data after our close or the peer's is refused ([`UsageError::AlreadyClosed`]);
    /// control payloads over 125 bytes and unsendable close codes are refused too.
    pub fn send(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), Error> {
        // Pending control answers go first, so a pong never waits behind a large message.
        self.poll_transmit(dst);
        let (header, payload) = self.prepare(msg)?;
        encode_frame(&header, &payload, dst);
        Ok(())
    }

    /// Checks that a shared pre-encoded frame may be sent now (server role, open).
    pub fn check_shared(&mut self, frame: &SharedFrame) -> Result<(), Error> {
        if self.role == Role::Client {
            return Err(UsageError::SharedFrameFromClient.into());
        }
        self.check_can_send()?;
        if frame.is_compressed() && !self.accepts_compressed_shared() {
            return Err(UsageError::SharedFrameNotNegotiated.into());
        }
        if frame.opcode() == OpCode::Close {
            self.state = State::CloseSent;
            self.closing_started = true;
        }
        Ok(())
    }

    /// Starts the close handshake: encodes a close frame with `code` and `reason` into
    /// `dst`. Does nothing if a close was already sent; after the peer's close (our echo is
    /// queued) or a failure it does nothing either.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        dst: &mut BytesMut,
    ) -> Result<(), Error> {
        if self.state != State::Open {
            return Ok(());
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        if self.sending.is_some() {
            // Not inside the unfinished frame: queued, it follows the frame's last part.
            crate::close::encode_close_payload(Some(&frame), &mut BytesMut::new())?;
            self.pending_pong = None;
            self.state = State::CloseSent;
            self.closing_started = true;
            self.end().pending_close = Some(Some(frame));
            return Ok(());
        }
        self.send(&Message::Close(Some(frame)), dst)
    }

    /// Starts a final, uncompressed data frame of `len` payload bytes that the caller sends
    /// in parts, after `dst`, announcing each with [`Protocol::send_part`]: forwarding a
    /// large message ([`Protocol::receive_parts`]) without holding it whole. Control frames
    /// queued before are written to `dst` first; until the last part, nothing else of ours
    /// may go out (RFC 6455 §5.4: control frames may be injected between the fragments of a
    /// message, never inside a frame): pongs, pings and a close wait in
    /// [`Protocol::poll_transmit`], and [`Protocol::send`] is refused
    /// ([`UsageError::FrameInParts`]).
    ///
    /// If the connection fails before the last part (a dead peer found by
    /// [`Protocol::handle_timeout`], [`Protocol::abort`]), the close frame it queues cannot
    /// follow an unfinished frame and is never handed out: flush what was sent and close the
    /// transport, which RFC 6455 §7.1.7 allows when failing a connection.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use pushwire_ws::{Config, Protocol, frame::{OpCode, Role}};
    /// let mut server = Protocol::new(Role::Server, &Config::default());
    /// let mut tx = BytesMut::new();
    /// server.start_frame(OpCode::Binary, 5, &mut tx)?;
    /// assert_eq!(&tx[..], b"\x82\x05");
    /// let mut part = *b"Hello";
    /// server.send_part(&mut part)?; // a client's part would be masked in place
    /// assert!(server.send(&pushwire_ws::Message::text("next"), &mut tx).is_ok());
    /// # Ok::<(), pushwire_ws::Error>(())
    /// ```
    pub fn start_frame(
        &mut self,
        opcode: OpCode,
        len: u64,
        dst: &mut BytesMut,
    ) -> Result<(), Error> {
        self.check_can_send()?;
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(UsageError::FrameInParts.into());
        }
        self.poll_transmit(dst);
        let mut header = self.header(opcode);
        header.payload_len = len;
        header.encode(dst);
        if len > 0 {
            self.sending = Some(Box::new(Sending {
                mask: header.mask,
                done: 0,
                len,
            }));
        }
        Ok(())
    }

    /// Announces the next `part` of the frame started with [`Protocol::start_frame`], which
    /// the caller sends right after what it already queued; a client's part is masked in
    /// place. Parts beyond the frame's length are refused. After the last, queued control
    /// frames go out again.
    pub fn send_part(&mut self, part: &mut [u8]) -> Result<(), Error> {
        let Some(s) = self.sending.as_deref_mut() else {
            // An empty frame's one empty part (`receive_parts` hands it out so) owes nothing.
            if part.is_empty() && self.state != State::Failed {
                return Ok(());
            }
            return Err(UsageError::FrameInParts.into());
        };
        let n = part.len() as u64;
        if n > s.len - s.done {
            return Err(UsageError::FrameInParts.into());
        }
        if let Some(key) = s.mask {
            apply_mask(part, key, (s.done % 4) as usize);
        }
        s.done += n;
        if s.done == s.len {
            self.sending = None;
        }
        Ok(())
    }

    /// Is a frame sent in parts ([`Protocol::start_frame`]) unfinished?
    pub fn is_sending_parts(&self) -> bool {
        self.sending.is_some()
    }

    /// The next instant at which [`Protocol::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let close_deadline = self.end.as_ref().and_then(|e| e.close_deadline);
        [close_deadline, self.next_ping, self.pong_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances the timers to `now`: arms the close timer once closing started, queues a
    /// keep-alive ping after `ping_interval` of silence, and fails with
    /// [`Error::DeadPeer`] or [`Error::CloseTimeout`] when their time is up.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if self.is_terminated() {
            // The handshake is over (or failed, and that error was returned): waiting for
            // the transport to close is the shell's business, bounded by `close_timeout`.
            if let Some(e) = self.end.as_mut() {
                e.close_deadline = None;
            }
            self.next_ping = None;
            self.pong_deadline = None;
            return Ok(());
        }
        if self.closing_started {
            self.next_ping = None;
            self.pong_deadline = None;
            let timeout = self.cfg.close_timeout;
            let deadline = *self
                .end()
                .close_deadline
                .get_or_insert_with(|| now + timeout);
            if now >= deadline {
                if self.state != State::Failed {
                    self.state = State::Failed;
                    self.end().error = Some(Error::CloseTimeout);
                }
                return Err(self.stored_error(Error::CloseTimeout));
            }
            return Ok(());
        }
        let Some(interval) = self.cfg.ping_interval else {
            return Ok(());
        };
        if std::mem::take(&mut self.activity) {
            self.pong_deadline = None;
            self.next_ping = Some(now + interval);
            return Ok(());
        }
        if let Some(d) = self.pong_deadline
            && now >= d
        {
            return Err(self.fail(Error::DeadPeer));
        }
        match self.next_ping {
            None => self.next_ping = Some(now + interval),
            Some(t) if now >= t => {
                self.pending_ping = true;
                self.next_ping = Some(now + interval);
                if self.pong_deadline.is_none() {
                    self.pong_deadline = Some(now + self.cfg.pong_timeout);
                }
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// A masking key from the OS-seeded generator.
fn random_mask() -> [u8; 4] {
    let r = pushwire_http::entropy::random_u64().to_le_bytes();
    [r[0], r[1], r[2], r[3]]
}

#[cfg(test)]
mod tests;
