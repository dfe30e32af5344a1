//! Thin tokio helpers: read a head or a body from an `AsyncRead` (feature `tokio`).
//!
//! These functions only move bytes from the transport into the caller's buffer and hand
//! them to the sans-IO parsers; every protocol decision is made there. They are
//! cancel-safe: the buffer and the parser state belong to the caller and bytes enter the
//! buffer only through `read_buf`, so dropping a future (a `select!` arm losing to a
//! shutdown signal) loses nothing and the next call picks up where this one stopped.
//! The head timeout (`Limits::head_timeout` -> [`Error::HeadTimeout`], 408) is applied by
//! [`read_request_head_timed`]; everything else has no timer.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::body::{BodyChunk, BodyDecoder};
use crate::error::{Error, ProtocolError};
use crate::head::{HeadParser, Request, Response, Status};

/// Read size: one typical head or a useful slice of body per syscall, without letting a
/// single read grow the buffer far past the head limit.
const READ_CHUNK: usize = 4096;

async fn fill<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> Result<usize, Error> {
    buf.reserve(READ_CHUNK);
    // At most READ_CHUNK per read, whatever capacity `reserve` gave us, so the bytes
    // buffered overshoot a limit by at most one read.
    Ok(io.read_buf(&mut (&mut *buf).limit(READ_CHUNK)).await?)
}

/// Did the peer send nothing but the empty lines RFC 9112 §2.2 lets a server ignore?
fn only_empty_lines(buf: &[u8]) -> bool {
    buf.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Reads until `parser` has a complete request head, removes the head's bytes from `buf`
/// and returns the request; what stays in `buf` is the body or the next request (or, after
/// an upgrade, the new protocol's first bytes).
///
/// `Ok(None)`: the peer closed before sending a byte of a new head (a clean end of a
/// keep-alive connection; stray empty lines count as nothing). EOF in the middle of a head
/// is `ProtocolError::UnexpectedEof`. Parse errors are the parser's (with their status).
pub async fn read_request_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    parser: &mut HeadParser,
) -> Result<Option<Request>, Error> {
    loop {
        if let Status::Complete((req, n)) = parser.parse_request(buf)? {
            let _ = buf.split_to(n);
            return Ok(Some(req));
        }
        if fill(io, buf).await? == 0 {
            return eof(buf, parser);
        }
    }
}

/// [`read_request_head`] bounded by the parser's `Limits::head_timeout`, counted from this
/// call: a client that has not completed its head by then gets [`Error::HeadTimeout`]
/// (408; slowloris). Cancel-safe like [`read_request_head`]. Call it when the connection
/// is waiting for a head it expects soon (a new connection, or right after a response);
/// an idle keep-alive connection may deserve a different timer, which is the caller's call.
pub async fn read_request_head_timed<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    parser: &mut HeadParser,
) -> Result<Option<Request>, Error> {
    let limit = parser.limits().head_timeout;
    match tokio::time::timeout(limit, read_request_head(io, buf, parser)).await {
        Ok(out) => out,
        Err(_elapsed) => Err(Error::HeadTimeout),
    }
}

/// Reads until `parser` has a complete response head (client role); see
/// [`read_request_head`]. A `100 Continue` or other 1xx head is returned like any other:
/// the caller decides whether to read the next head.
pub async fn read_response_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    parser: &mut HeadParser,
) -> Result<Option<Response>, Error> {
    loop {
        if let Status::Complete((res, n)) = parser.parse_response(buf)? {
            let _ = buf.split_to(n);
            return Ok(Some(res));
        }
        if fill(io, buf).await? == 0 {
            return eof(buf, parser);
        }
    }
}

fn eof<T>(buf: &mut BytesMut, parser: &mut HeadParser) -> Result<Option<T>, Error> {
    if only_empty_lines(buf) {
        buf.clear();
        parser.reset();
        Ok(None)
    } else {
        Err(ProtocolError::UnexpectedEof.into())
    }
}

/// Reads until `decoder` yields the next piece of the body: `Data` or `End`. At EOF the
/// decoder decides ([`BodyDecoder::decode_eof`]): a close-delimited body ends, a
/// truncated one is `UnexpectedEof`.
pub async fn read_body_chunk<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    decoder: &mut BodyDecoder,
) -> Result<BodyChunk, Error> {
    loop {
        if let Some(chunk) = decoder.decode(buf)? {
            return Ok(chunk);
        }
        if fill(io, buf).await? == 0 {
            return match decoder.decode_eof(buf)? {
                Some(chunk) => Ok(chunk),
                // decode_eof never answers "need more"; treat it as a truncated body.
                None => Err(ProtocolError::UnexpectedEof.into()),
            };
        }
    }
}

/// Reads a whole body into one `Bytes` (at most `Limits::max_body` bytes: the decoder
/// enforces it, 413). Not cancel-safe for the body as a whole: if the future is dropped,
/// the part already decoded is lost. Use [`read_body_chunk`] in a `select!`.
pub async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    decoder: &mut BodyDecoder,
) -> Result<Bytes, Error> {
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    loop {
        match read_body_chunk(io, buf, decoder).await? {
            BodyChunk::Data(d) => match &first {
                // The common case, one chunk: hand it over without copying.
                None => first = Some(d),
                Some(f) => {
                    if rest.is_empty() {
                        rest.extend_from_slice(f);
                    }
                    rest.extend_from_slice(&d);
                }
            },
            BodyChunk::End => {
                return Ok(if rest.is_empty() {
                    first.unwrap_or_default()
                } else {
                    rest.freeze()
                });
            }
        }
    }
}
