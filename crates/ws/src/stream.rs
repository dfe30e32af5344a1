//! The tokio shell: moves bytes between a transport and the sans-IO [`Protocol`], and
//! sleeps until its timers. It decides nothing about the protocol.
//!
//! Layout: the transport is split (`tokio::io::split`) into a read half owned by
//! [`WsReader`] with its read buffer, and a write half behind an async mutex with the
//! outgoing queue, shared with [`WsWriter`]. The [`Protocol`] sits behind a synchronous
//! mutex that is never held across an `.await`. [`WebSocket`] is both halves together;
//! [`WebSocket::split`] hands them to two tasks.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};

use crate::close::CloseCode;
use crate::config::Config;
use crate::error::{Error, HandshakeError};
use crate::frame::{Role, SharedFrame, encode_frame};
use crate::handshake;
use crate::message::Message;
use crate::proto::{Protocol, State};
use pushwire_http::Request;

/// Payloads at least this large are queued as their own `Bytes` (written with a vectored
/// write) instead of being copied after their header. Below it a copy is cheaper than one
/// more `IoSlice`.
const ZERO_COPY_MIN: usize = 4096;

/// Most slices handed to one vectored write.
const MAX_IOV: usize = 64;

/// Size of the stack buffer used for a read while no read buffer is held.
const IDLE_READ: usize = 4096;

/// Room kept in the read buffer while the peer streams (its last read filled the
/// `read_buffer`-sized room or more): several messages per read, straight into the buffer,
/// which is kept between messages instead of being taken and released for each.
const STREAM_READ: usize = 64 << 10;

/// Largest read-buffer reservation made for a frame still arriving: large frames grow the
/// buffer in steps this big rather than all at once.
const MAX_RESERVE: usize = 1 << 20;

/// Outgoing bytes: small frames are encoded into `tail`; large shared payloads and
/// pre-encoded frames are queued as they are. Written with vectored writes, many frames per
/// system call.
#[derive(Debug, Default)]
struct WriteQueue {
    chunks: VecDeque<Bytes>,
    chunks_len: usize,
    tail: BytesMut,
}

impl WriteQueue {
    fn len(&self) -> usize {
        self.chunks_len + self.tail.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push_bytes(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        if !self.tail.is_empty() {
            let t = self.tail.split().freeze();
            self.chunks_len += t.len();
            self.chunks.push_back(t);
        }
        self.chunks_len += b.len();
        self.chunks.push_back(b);
    }

    /// The next bytes to write, in order, as at most `MAX_IOV` slices. The tail comes
    /// after every chunk, so it is included only when all chunks are.
    fn slices<'a>(&'a self, out: &mut Vec<IoSlice<'a>>) {
        for c in self.chunks.iter().take(MAX_IOV - 1) {
            out.push(IoSlice::new(c));
        }
        if self.chunks.len() < MAX_IOV && !self.tail.is_empty() {
            out.push(IoSlice::new(&self.tail));
        }
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks_len -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    self.chunks_len -= n;
                    n = 0;
                }
                None => {
                    let k = n.min(self.tail.len());
                    self.tail.advance(k);
                    n = 0;
                }
            }
        }
        if self.is_empty() {
            // Give the memory back while idle.
            self.tail = BytesMut::new();
        }
    }
}

/// The write side: the transport's write half and the queue.
struct Out<S> {
    io: WriteHalf<S>,
    queue: WriteQueue,
    shut: bool,
    /// `queue.len()`, readable without the lock (which a blocked writer holds).
    queued: Arc<AtomicUsize>,
}

impl<S: AsyncRead + AsyncWrite> Out<S> {
    /// One vectored write of as much of the queue as the transport takes.
    async fn write_some(&mut self) -> Result<(), Error> {
        let n = {
            let mut slices = Vec::with_capacity(MAX_IOV.min(self.queue.chunks.len() + 1));
            self.queue.slices(&mut slices);
            self.io.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
        }
        self.queue.advance(n);
        self.publish_len();
        Ok(())
    }

    fn publish_len(&self) {
        self.queued.store(self.queue.len(), Ordering::Relaxed);
    }

    async fn write_all(&mut self) -> Result<(), Error> {
        while !self.queue.is_empty() {
            self.write_some().await?;
        }
        self.io.flush().await?;
        Ok(())
    }

    async fn write_below(&mut self, high_water: usize) -> Result<(), Error> {
        while self.queue.len() >= high_water {
            self.write_some().await?;
        }
        Ok(())
    }
}

struct Shared<S> {
    proto: Mutex<Protocol>,
    out: tokio::sync::Mutex<Out<S>>,
    role: Role,
    /// The same allocation as the protocol's (one copy per connection, not two).
    cfg: Arc<Config>,
    queued: Arc<AtomicUsize>,
}

impl<S> Shared<S> {
    fn proto(&self) -> MutexGuard<'_, Protocol> {
        // A panic while holding the lock cannot leave the protocol half-updated in a way
        // that matters more than the panic itself; keep going.
        self.proto.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A WebSocket connection over any byte stream `S` (a `TcpStream`, a TLS stream, a
/// `DuplexStream` in tests).
///
/// ```no_run
/// use pushwire_ws::{Message, WebSocket};
/// # async fn run() -> Result<(), pushwire_ws::Error> {
/// let mut ws = WebSocket::connect("ws://127.0.0.1:9001/echo", Default::default()).await?;
/// ws.send(&Message::text("hello")).await?;
/// while let Some(msg) = ws.recv().await? {
///     println!("{msg:?}");
/// }
/// # Ok(()) }
/// ```
pub struct WebSocket<S> {
    reader: WsReader<S>,
    writer: WsWriter<S>,
}

/// The receiving half of a [`WebSocket`] (see [`WebSocket::split`]).
pub struct WsReader<S> {
    io: ReadHalf<S>,
    rbuf: BytesMut,
    shared: Arc<Shared<S>>,
    /// The connection ended; `recv` answers `end` from now on.
    end: Option<Result<(), Error>>,
    /// The last read brought at least `read_buffer` bytes: the peer is streaming, read big
    /// and keep the buffer (see [`WsReader::read_more`]).
    streaming: bool,
}

/// The sending half of a [`WebSocket`] (see [`WebSocket::split`]). Cloning it gives another
/// handle on the same queue (frames from different clones never interleave within a
/// frame).
pub struct WsWriter<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for WsWriter<S> {
    fn clone(&self) -> Self {
        WsWriter {
            shared: self.shared.clone(),
        }
    }
}

impl WebSocket<tokio::net::TcpStream> {
    /// Connects to a `ws://host[:port]/path` URL over TCP (with `TCP_NODELAY`), performs the
    /// client handshake and returns the connection. `wss://` is
    /// [`UsageError::TlsUnsupported`](crate::UsageError::TlsUnsupported) for now: bring a TLS
    /// stream to [`WebSocket::client`] instead.
    pub async fn connect(url: &str, cfg: Config) -> Result<Self, Error> {
        cfg.validate()?;
        let url = handshake::parse_ws_url(url)?;
        let tcp = tokio::net::TcpStream::connect(&url.addr).await?;
        tcp.set_nodelay(true)?;
        let (ws, _) = WebSocket::client(tcp, &url.host, &url.target, &[], cfg).await?;
        Ok(ws)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Performs the client handshake on an established stream (TCP, TLS, ...): sends the
    /// request for `target` on `host` offering `protocols`, validates the `101`, and returns
    /// the connection with the selected subprotocol. Bytes after the `101` head are kept as
    /// the first frame bytes.
    pub async fn client(
        mut io: S,
        host: &str,
        target: &str,
        protocols: &[&str],
        cfg: Config,
    ) -> Result<(WebSocket<S>, Option<String>), Error> {
        cfg.validate()?;
        #[cfg(feature = "deflate")]
        let (hs, head) = handshake::ClientHandshake::with_config(host, target, protocols, &cfg)?;
        #[cfg(not(feature = "deflate"))]
        let (hs, head) = handshake::ClientHandshake::new(host, target, protocols)?;
        let mut out = BytesMut::new();
        pushwire_http::encode_request_head(&head, &mut out)
            .map_err(|_| Error::Usage(crate::UsageError::InvalidUrl))?;
        io.write_all(&out).await?;
        io.flush().await?;
        let mut buf = BytesMut::new();
        let mut parser = pushwire_http::HeadParser::new(&pushwire_http::Limits::default());
        let res = match pushwire_http::io::read_response_head(&mut io, &mut buf, &mut parser).await
        {
            Ok(Some(res)) => res,
            Ok(None) => return Err(HandshakeError::Eof.into()),
            Err(pushwire_http::Error::Io(e)) => {
                return Err(Error::Io(Arc::new(std::io::Error::new(
                    e.kind(),
                    e.to_string(),
                ))));
            }
            Err(e) => return Err(HandshakeError::Http(e.status()).into()),
        };
        #[cfg(feature = "deflate")]
        let (protocol, deflate) = hs.verify_extensions(&res)?;
        #[cfg(not(feature = "deflate"))]
        let protocol = hs.verify(&res)?;
        let ws = WebSocket::from_upgrade(io, buf, Role::Client, cfg);
        #[cfg(feature = "deflate")]
        if let Some(params) = deflate {
            ws.set_deflate(params);
        }
        Ok((ws, protocol))
    }

    /// Server side, once the request head was read: validates it ([`handshake::accept`],
    /// no subprotocol), writes the `101` and returns the connection; `leftover` holds the
    /// bytes read after the head. On a bad request the precise rejection (400 / 426) is
    /// written and [`Error::Handshake`] returned. Origin policy is the caller's: check
    /// [`handshake::origin`] first and answer 403 yourself.
    pub async fn accept(
        mut io: S,
        req: &Request,
        leftover: BytesMut,
        cfg: Config,
    ) -> Result<WebSocket<S>, Error> {
        cfg.validate()?;
        #[cfg(feature = "deflate")]
        let accepted = handshake::accept_with(req, &[], &cfg);
        #[cfg(not(feature = "deflate"))]
        let accepted = handshake::accept(req, &[]);
        match accepted {
            Ok(accepted) => WebSocket::upgrade(io, leftover, &accepted, cfg).await,
            Err(e) => {
                let mut out = BytesMut::new();
                let _ =
                    pushwire_http::encode_response_head(&handshake::reject_response(&e), &mut out);
                io.write_all(&out).await?;
                io.flush().await?;
                let _ = io.shutdown().await;
                Err(e.into())
            }
        }
    }

    /// Writes an [`Accepted`](handshake::Accepted) `101` and returns the server connection
    /// (with the permessage-deflate parameters it agreed on, feature `deflate`).
    pub async fn upgrade(
        mut io: S,
        leftover: BytesMut,
        accepted: &handshake::Accepted,
        cfg: Config,
    ) -> Result<WebSocket<S>, Error> {
        let mut out = BytesMut::new();
        pushwire_http::encode_response_head(&accepted.response, &mut out)
            .map_err(|_| Error::Internal)?;
        io.write_all(&out).await?;
        io.flush().await?;
        let ws = WebSocket::from_upgrade(io, leftover, Role::Server, cfg);
        #[cfg(feature = "deflate")]
        if let Some(params) = accepted.deflate {
            ws.set_deflate(params);
        }
        Ok(ws)
    }

    /// Reads the request head from `io` itself, then [`WebSocket::accept`]s it: the whole
    /// server handshake for a dedicated WebSocket listener.
    pub async fn accept_stream(mut io: S, cfg: Config) -> Result<WebSocket<S>, Error> {
        let mut buf = BytesMut::new();
        let mut parser = pushwire_http::HeadParser::new(&pushwire_http::Limits::default());
        let req = match pushwire_http::io::read_request_head(&mut io, &mut buf, &mut parser).await {
            Ok(Some(req)) => req,
            Ok(None) => return Err(HandshakeError::Eof.into()),
            Err(pushwire_http::Error::Io(e)) => {
                return Err(Error::Io(Arc::new(std::io::Error::new(
                    e.kind(),
                    e.to_string(),
                ))));
            }
            Err(e) => {
                let status = e.status();
                let mut out = BytesMut::new();
                let head = pushwire_http::ResponseHead::new(status);
                let _ = pushwire_http::encode_response_head(&head, &mut out);
                let _ = io.write_all(&out).await;
                let _ = io.shutdown().await;
                return Err(HandshakeError::Http(status).into());
            }
        };
        WebSocket::accept(io, &req, buf, cfg).await
    }

    /// Wraps a transport whose opening handshake is done. `leftover` holds bytes read after
    /// the handshake head: they are the first frame bytes.
    pub fn from_upgrade(io: S, leftover: BytesMut, role: Role, cfg: Config) -> WebSocket<S> {
        let (r, w) = tokio::io::split(io);
        let queued = Arc::new(AtomicUsize::new(0));
        let cfg = Arc::new(cfg);
        let shared = Arc::new(Shared {
            proto: Mutex::new(Protocol::with_config(role, cfg.clone())),
            out: tokio::sync::Mutex::new(Out {
                io: w,
                queue: WriteQueue::default(),
                shut: false,
                queued: queued.clone(),
            }),
            role,
            cfg,
            queued,
        });
        WebSocket {
            reader: WsReader {
                io: r,
                rbuf: leftover,
                shared: shared.clone(),
                end: None,
                streaming: false,
            },
            writer: WsWriter { shared },
        }
    }

    /// Receives the next text or binary message. See [`WsReader::recv`].
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.reader.recv().await
    }

    /// Queues `msg` and writes everything queued. See [`WsWriter::send`].
    pub async fn send(&mut self, msg: &Message) -> Result<(), Error> {
        self.writer.send(msg).await
    }

    /// Queues `msg`, waiting only if the queue is full. See [`WsWriter::feed`].
    pub async fn feed(&mut self, msg: &Message) -> Result<(), Error> {
        self.writer.feed(msg).await
    }

    /// Writes everything queued. See [`WsWriter::flush`].
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush().await
    }

    /// Queues a pre-encoded shared frame and writes everything. See
    /// [`WsWriter::send_shared`].
    pub async fn send_shared(&mut self, frame: &SharedFrame) -> Result<(), Error> {
        self.writer.send_shared(frame).await
    }

    /// Queues a pre-encoded shared frame. See [`WsWriter::feed_shared`].
    pub async fn feed_shared(&mut self, frame: &SharedFrame) -> Result<(), Error> {
        self.writer.feed_shared(frame).await
    }

    /// Closes the connection: sends a close frame with `code` and `reason`, discards data
    /// until the peer's close arrives (or `close_timeout` passes), then closes the
    /// transport (a server at once, a client after the server did, RFC 6455 §7.1.1).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.writer.close(code, reason).await?;
        loop {
            match self.reader.recv().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Splits into a reader and a writer usable from two tasks.
    ///
    /// The reader must keep being polled for pongs and the close handshake to progress: it
    /// answers pings through the shared queue and closes the transport at the end.
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        (self.reader, self.writer)
    }

    /// The connection's protocol state.
    pub fn state(&self) -> State {
        self.reader.shared.proto().state()
    }

    /// The peer's close frame, once received (`Some(None)`: a close without a code).
    pub fn peer_close(&self) -> Option<Option<crate::CloseFrame>> {
        self.reader.shared.proto().peer_close().cloned()
    }

    /// The permessage-deflate parameters the handshake agreed on, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.reader.shared.proto().deflate().copied()
    }

    /// Turns on permessage-deflate with the parameters a handshake agreed on, before the
    /// first frame is read or written (the handshake paths of this crate and its bridges).
    #[cfg(feature = "deflate")]
    pub(crate) fn set_deflate(&self, params: crate::deflate::DeflateParams) {
        self.reader.shared.proto().set_deflate(params);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsReader<S> {
    /// Receives the next text or binary message; `Ok(None)` once the connection closed
    /// cleanly (the close handshake is done and the transport closed).
    ///
    /// Pings are answered and the close handshake is completed along the way. On an error
    /// the close frame for it (if any) is sent and the transport closed before returning.
    ///
    /// Cancellation-safe: received bytes live in the reader and are added only by reads
    /// that completed, and a message is taken from the protocol only when it is returned,
    /// so a `recv()` that loses a `select!` loses nothing.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        loop {
            if let Some(end) = &self.end {
                return end.clone().map(|()| None);
            }
            let (r, transmit, terminated, deadline, hint) = {
                let mut p = self.shared.proto();
                // Receive first, so bytes that just arrived count as the peer being alive
                // before the timers are looked at.
                let mut r = p.receive(&mut self.rbuf);
                if matches!(r, Ok(None))
                    && let Err(e) = p.handle_timeout(Instant::now())
                {
                    r = Err(e);
                }
                let hint = p.read_hint(&self.rbuf);
                (
                    r,
                    p.wants_transmit(),
                    p.is_terminated(),
                    p.poll_timeout(),
                    hint,
                )
            };
            match r {
                Ok(Some(m @ (Message::Text(_) | Message::Binary(_)))) => return Ok(Some(m)),
                Ok(Some(_)) => {
                    if transmit {
                        self.transmit().await?;
                    }
                }
                Err(e) => {
                    // Wait for the peer's answer only if it was told something; a dead
                    // peer or an expired close handshake gets the transport closed at once.
                    let told = e.close_code().is_some();
                    self.finish(false, told).await;
                    self.end = Some(Err(e.clone()));
                    return Err(e);
                }
                Ok(None) if terminated => {
                    self.finish(true, true).await;
                    self.end = Some(Ok(()));
                    return Ok(None);
                }
                Ok(None) => {
                    if transmit {
                        self.transmit().await?;
                    }
                    let read = match deadline {
                        Some(d) => tokio::select! {
                            r = self.read_more(hint) => r,
                            _ = tokio::time::sleep_until(d.into()) => continue,
                        },
                        None => self.read_more(hint).await,
                    };
                    let res = match read {
                        Ok(0) => {
                            // EOF: fine only once the close handshake is done.
                            let mut p = self.shared.proto();
                            if p.state() == State::Closed {
                                Ok(())
                            } else {
                                Err(p.abort(Error::AbnormalClosure))
                            }
                        }
                        Ok(_) => continue,
                        // The writer learns of it too: its next send fails the same way.
                        Err(e) => Err(self.shared.proto().abort(e)),
                    };
                    self.shutdown_write().await;
                    self.end = Some(res.clone());
                    return res.map(|()| None);
                }
            }
        }
    }

    /// Reads more bytes into the read buffer; 0 at EOF.
    ///
    /// With an empty buffer the read goes to a stack array (copied into a fresh buffer only
    /// when bytes arrive), and the buffer is released while the read waits: an idle
    /// connection holds no read buffer. While the peer streams (the last read filled its
    /// room) reads go straight into the buffer with [`STREAM_READ`] of room and the buffer is
    /// kept: a 16 KiB echo took and released a buffer, and copied a 4 KiB stack read, per
    /// message. The first read that does not fill its room ends it (a peer that stops after
    /// a read of exactly the room's size keeps the buffer until its next read).
    async fn read_more(&mut self, hint: usize) -> Result<usize, Error> {
        let read_buffer = self.shared.cfg.read_buffer;
        if !self.rbuf.is_empty() || self.streaming {
            // A frame is arriving, or the peer streams: read straight into the buffer.
            let mut want = read_buffer.max(hint.min(MAX_RESERVE));
            if self.streaming {
                want = want.max(STREAM_READ);
            }
            self.rbuf.reserve(want);
            let n = self.io.read_buf(&mut self.rbuf).await?;
            self.streaming = n >= read_buffer;
            return Ok(n);
        }
        let io = &mut self.io;
        let rbuf = &mut self.rbuf;
        let n = std::future::poll_fn(|cx| {
            let mut stack = [0u8; IDLE_READ];
            let mut rb = ReadBuf::new(&mut stack);
            match std::pin::Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    rbuf.reserve(read_buffer.max(got.len()));
                    rbuf.extend_from_slice(got);
                    Poll::Ready(Ok(got.len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => {
                    if rbuf.capacity() > 0 {
                        *rbuf = BytesMut::new();
                    }
                    Poll::Pending
                }
            }
        })
        .await?;
        // A full stack read: more is probably waiting, read big from now on.
        self.streaming = n >= IDLE_READ;
        Ok(n)
    }

    /// Writes the protocol's queued control frames (pong, keep-alive ping, close).
    async fn transmit(&mut self) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        self.shared.proto().poll_transmit(&mut out.queue.tail);
        if !out.shut {
            out.write_all().await?;
        }
        Ok(())
    }

    /// Ends the connection: sends what is queued (our close), closes the transport as the
    /// role says, and waits (at most `close_timeout`) for the peer to close its side.
    async fn finish(&mut self, clean: bool, drain: bool) {
        let server_closes = self.shared.role == Role::Server || !clean;
        let close_timeout = self.shared.cfg.close_timeout;
        // Bounded: a peer that reads nothing must not keep us here.
        let send_close = async {
            let mut out = self.shared.out.lock().await;
            self.shared.proto().poll_transmit(&mut out.queue.tail);
            if !out.shut {
                let _ = out.write_all().await;
                if server_closes {
                    let _ = out.io.shutdown().await;
                    out.shut = true;
                }
            }
        };
        let _ = tokio::time::timeout(close_timeout, send_close).await;
        // Drain until the peer closes, so that its last frames (the answer to our close)
        // do not meet a closed socket and turn into a reset.
        let drain_reads = async {
            if !drain {
                return;
            }
            loop {
                self.rbuf.clear();
                match self.read_more(0).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(close_timeout, drain_reads).await;
        self.rbuf = BytesMut::new();
        self.shutdown_write().await;
    }

    async fn shutdown_write(&mut self) {
        let shut = async {
            let mut out = self.shared.out.lock().await;
            if !out.shut {
                let _ = out.write_all().await;
                let _ = out.io.shutdown().await;
                out.shut = true;
            }
        };
        let _ = tokio::time::timeout(self.shared.cfg.close_timeout, shut).await;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsWriter<S> {
    /// Queues `msg` and writes everything queued, then flushes.
    ///
    /// If cancelled, the message may still be in the queue and goes out with the next write.
    pub async fn send(&self, msg: &Message) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        self.queue_message(&mut out, msg).await?;
        out.write_all().await.map_err(|e| self.fail(e))
    }

    /// Queues `msg` without writing, unless the queue already holds `write_high_water`
    /// bytes: then it first writes until it is below (backpressure). Call
    /// [`WsWriter::flush`] after a batch: many frames then go out in one system call.
    pub async fn feed(&self, msg: &Message) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        self.queue_message(&mut out, msg).await
    }

    /// Writes everything queued and flushes the transport.
    pub async fn flush(&self) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        self.shared.proto().poll_transmit(&mut out.queue.tail);
        out.write_all().await.map_err(|e| self.fail(e))
    }

    /// Queues a frame encoded once for many connections (no copy, no re-encoding) and
    /// writes everything queued. Server role only.
    pub async fn send_shared(&self, frame: &SharedFrame) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        self.queue_shared(&mut out, frame).await?;
        out.write_all().await.map_err(|e| self.fail(e))
    }

    /// Queues a shared frame, with the backpressure of [`WsWriter::feed`].
    pub async fn feed_shared(&self, frame: &SharedFrame) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        self.queue_shared(&mut out, frame).await
    }

    /// Sends a close frame and flushes. The reader completes the handshake: it returns
    /// `Ok(None)` once the peer answered and the transport is closed.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let mut out = self.shared.out.lock().await;
        {
            let mut p = self.shared.proto();
            p.poll_transmit(&mut out.queue.tail);
            p.close(code, reason, &mut out.queue.tail)?;
        }
        out.write_all().await.map_err(|e| self.fail(e))
    }

    async fn queue_message(&self, out: &mut Out<S>, msg: &Message) -> Result<(), Error> {
        out.write_below(self.shared.cfg.write_high_water)
            .await
            .map_err(|e| self.fail(e))?;
        let (header, payload) = {
            let mut p = self.shared.proto();
            p.poll_transmit(&mut out.queue.tail);
            p.prepare(msg)?
        };
        if header.mask.is_none() && payload.len() >= ZERO_COPY_MIN {
            header.encode(&mut out.queue.tail);
            out.queue.push_bytes(payload);
        } else {
            encode_frame(&header, &payload, &mut out.queue.tail);
        }
        out.publish_len();
        Ok(())
    }

    async fn queue_shared(&self, out: &mut Out<S>, frame: &SharedFrame) -> Result<(), Error> {
        out.write_below(self.shared.cfg.write_high_water)
            .await
            .map_err(|e| self.fail(e))?;
        {
            let mut p = self.shared.proto();
            p.poll_transmit(&mut out.queue.tail);
            p.check_shared(frame)?;
        }
        let bytes = frame.as_bytes();
        if bytes.len() < ZERO_COPY_MIN {
            out.queue.tail.extend_from_slice(bytes);
        } else {
            out.queue.push_bytes(bytes.clone());
        }
        out.publish_len();
        Ok(())
    }

    /// A transport error ends the connection for both halves.
    fn fail(&self, e: Error) -> Error {
        match e {
            Error::Io(_) => self.shared.proto().abort(e),
            e => e,
        }
    }

    /// Bytes queued and not yet written (at most `write_high_water` plus one frame).
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_queue_advances_across_chunks_and_tail_and_releases_memory() {
        let mut q = WriteQueue::default();
        q.tail.extend_from_slice(b"ab");
        q.push_bytes(Bytes::from_static(b"cdef"));
        q.tail.extend_from_slice(b"gh");
        assert_eq!(q.len(), 8);
        let mut slices = Vec::new();
        q.slices(&mut slices);
        let joined: Vec<u8> = slices.iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"abcdefgh");
        drop(slices);
        q.advance(3); // "ab" and "c"
        assert_eq!(q.len(), 5);
        let mut slices = Vec::new();
        q.slices(&mut slices);
        let joined: Vec<u8> = slices.iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"defgh");
        drop(slices);
        q.advance(5);
        assert!(q.is_empty());
        assert_eq!(q.tail.capacity(), 0, "memory released once written");
    }

    #[test]
    fn write_queue_caps_slices_per_write() {
        let mut q = WriteQueue::default();
        for _ in 0..200 {
            q.tail.extend_from_slice(b"h");
            q.push_bytes(Bytes::from_static(b"payload"));
        }
        q.tail.extend_from_slice(b"end");
        // Writing slice batches one after another yields the bytes in queue order.
        let mut written = Vec::new();
        while !q.is_empty() {
            let mut slices = Vec::new();
            q.slices(&mut slices);
            assert!(slices.len() <= MAX_IOV);
            let n: usize = slices.iter().map(|s| s.len()).sum();
            written.extend(slices.iter().flat_map(|s| s.iter().copied()));
            drop(slices);
            q.advance(n);
        }
        let expect: Vec<u8> = b"hpayload".repeat(200).into_iter().chain(*b"end").collect();
        assert_eq!(written, expect);
    }
}
