//! Client connections: TCP set-up, HTTP/1.1 requests and responses, the WebSocket handshake,
//! and a byte-counting stream wrapper, all on pushwire's own codecs.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use pushwire_http::{BodyDecoder, HeadParser, Limits, Method, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

use crate::Error;

/// Connects to `addr` with `TCP_NODELAY` and a zero linger: closing sends a reset, so the
/// thousands of connections a run opens leave no `TIME_WAIT` entries holding local ports.
pub async fn connect(addr: SocketAddr) -> Result<TcpStream, Error> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_zero_linger()?;
    sock.set_nodelay(true)?;
    Ok(sock.connect(addr).await?)
}

/// A `GET` request head for `target`, keep-alive.
pub fn get_request(addr: SocketAddr, target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// A `POST` request with `body`, keep-alive.
pub fn post_request(addr: SocketAddr, target: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Reads HTTP/1.1 responses from one connection, keeping leftover bytes between them.
#[derive(Debug)]
pub struct HttpReader {
    /// Bytes read and not consumed yet.
    pub buf: BytesMut,
    parser: HeadParser,
    limits: Limits,
}

impl Default for HttpReader {
    fn default() -> Self {
        let mut limits = Limits::default();
        limits.max_body = 64 << 20;
        HttpReader {
            buf: BytesMut::with_capacity(4096),
            parser: HeadParser::new(&limits),
            limits,
        }
    }
}

impl HttpReader {
    /// Reads the next response head (for a `GET`/`POST`).
    pub async fn head<S: AsyncRead + Unpin>(&mut self, io: &mut S) -> Result<Response, Error> {
        match pushwire_http::io::read_response_head(io, &mut self.buf, &mut self.parser).await? {
            Some(res) => Ok(res),
            None => Err("connection closed before a response".into()),
        }
    }

    /// Reads the next whole response: head and body.
    pub async fn response<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
    ) -> Result<(Response, Bytes), Error> {
        let res = self.head(io).await?;
        let kind = pushwire_http::response_body_kind(&res, &Method::Get)?;
        let mut dec = BodyDecoder::new(kind, &self.limits);
        let body = pushwire_http::io::read_body(io, &mut self.buf, &mut dec).await?;
        Ok((res, body))
    }

    /// A body decoder for the streaming body of `res` (SSE).
    pub fn body_decoder(&self, res: &Response) -> Result<BodyDecoder, Error> {
        let kind = pushwire_http::response_body_kind(res, &Method::Get)?;
        Ok(BodyDecoder::new(kind, &self.limits))
    }

    /// Consumes complete responses already buffered, answering how many. Used by the
    /// pipelined GET loop, where every response has a `Content-Length`.
    pub fn drain_complete(&mut self, pending_body: &mut Option<usize>) -> Result<usize, Error> {
        let mut done = 0;
        loop {
            if let Some(n) = *pending_body {
                if self.buf.len() < n {
                    return Ok(done);
                }
                self.buf.advance(n);
                *pending_body = None;
                done += 1;
            }
            match self.parser.parse_response(&self.buf)? {
                pushwire_http::Status::Complete((res, n)) => {
                    if res.status != 200 {
                        return Err(format!("status {}", res.status).into());
                    }
                    let len = pushwire_http::content_length(&res.headers)?.unwrap_or(0);
                    self.buf.advance(n);
                    *pending_body = Some(len as usize);
                }
                pushwire_http::Status::Partial => return Ok(done),
            }
        }
    }
}

/// Performs the client WebSocket handshake for `target` on an open connection with
/// pushwire-ws's [`ClientHandshake`](pushwire_ws::handshake::ClientHandshake); returns the
/// bytes read after the `101` (the first frame bytes).
pub async fn ws_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    host: &str,
    target: &str,
) -> Result<BytesMut, Error> {
    let (hs, head) = pushwire_ws::handshake::ClientHandshake::new(host, target, &[])?;
    let mut out = BytesMut::new();
    pushwire_http::encode_request_head(&head, &mut out)?;
    io.write_all(&out).await?;
    let mut reader = HttpReader::default();
    let res = reader.head(io).await?;
    hs.verify(&res)?;
    Ok(reader.buf)
}

/// One client-to-server frame, masked once here so that sending it costs the client nothing
/// but the write: the same masked bytes are sent again and again (the server unmasks each
/// copy, which is the work measured).
pub fn masked_frame(size: usize, binary: bool) -> Bytes {
    use pushwire_ws::frame::{FrameHeader, OpCode, apply_mask};
    let opcode = if binary { OpCode::Binary } else { OpCode::Text };
    let mut header = FrameHeader::new(opcode, size as u64);
    let mut key = [0u8; 4];
    pushwire_http::entropy::fill(&mut key);
    header.mask = Some(key);
    let mut payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    apply_mask(&mut payload, key, 0);
    let mut out = BytesMut::with_capacity(size + 14);
    header.encode(&mut out);
    out.extend_from_slice(&payload);
    out.freeze()
}

/// Counts the bytes going through a stream in both directions (headers, frames, bodies:
/// everything at the client socket).
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    counter: Arc<ByteCounter>,
}

/// Byte totals shared by many [`Counted`] streams.
#[derive(Debug, Default)]
pub struct ByteCounter {
    /// Bytes read from the server.
    pub read: AtomicU64,
    /// Bytes written to the server.
    pub written: AtomicU64,
}

impl ByteCounter {
    /// Read plus written.
    pub fn total(&self) -> u64 {
        self.read.load(Ordering::Relaxed) + self.written.load(Ordering::Relaxed)
    }
}

impl<S> Counted<S> {
    /// Wraps `inner`, adding to `counter`.
    pub fn new(inner: S, counter: Arc<ByteCounter>) -> Self {
        Counted { inner, counter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.counter.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.counter.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `GET /poll?topic=T` and returns the `next` cursor of the answer (works for pushwire and
/// the axum peer, which answer the same JSON).
pub async fn current_cursor(addr: SocketAddr, topic: &str) -> Result<String, Error> {
    let mut s = connect(addr).await?;
    s.write_all(&get_request(addr, &format!("/poll?topic={topic}")))
        .await?;
    let mut r = HttpReader::default();
    let (res, body) = r.response(&mut s).await?;
    if res.status != 200 {
        return Err(format!("/poll answered {}", res.status).into());
    }
    json_next(&body).ok_or_else(|| "no next cursor in /poll answer".into())
}

/// The `"next"` cursor of a poll answer.
pub fn json_next(body: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let i = s.find("\"next\":\"")? + 8;
    let j = s.get(i..)?.find('"')?;
    Some(s.get(i..i + j)?.to_owned())
}

/// Publishes `body` to `topic` over a fresh connection; returns the status.
pub async fn publish_once(addr: SocketAddr, topic: &str, body: &[u8]) -> Result<u16, Error> {
    let mut s = connect(addr).await?;
    s.write_all(&post_request(
        addr,
        &format!("/publish?topic={topic}"),
        body,
    ))
    .await?;
    let mut r = HttpReader::default();
    let (res, _) = r.response(&mut s).await?;
    Ok(res.status)
}

/// Reads once into `buf` (reserving `want` bytes of room first); 0 means EOF.
pub async fn read_some<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    want: usize,
) -> std::io::Result<usize> {
    buf.reserve(want);
    io.read_buf(buf).await
}
