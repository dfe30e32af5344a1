//! The two streaming transports: Server-Sent Events and WebSocket.
//!
//! Both run the same pump: one `select!` over reading the socket, writing `wbuf` (cancel-safe
//! `write_buf`), the hub subscription, a keep-alive timer and shutdown. A subscription is
//! pulled only while `wbuf` is under its high-water mark, so a client that does not read
//! backs up into its bounded hub queue, which then cuts it ([`crate::hub::Lagged`]) without
//! slowing anyone else.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::conn::{Conn, IoEvent, Next, Reply, io_step, topic_and_since, unavailable, with_cors};
use crate::cursor::Cursor;
use crate::hub::{Kind, Payload, QueueLimits};
use crate::listener::{Gauge, debug};
use crate::router::Access;
use crate::wire::{Request, encode_head, encode_sse_event};
use pushwire_ws::frame::Role;
use pushwire_ws::{CloseCode, Message as WsMessage, Protocol, State, handshake};

/// Bytes waiting in `wbuf` past which the subscription is not pulled (64 KiB).
const HIGH_WATER: usize = 64 * 1024;

fn queue_limits<S>(c: &Conn<S>) -> QueueLimits {
    QueueLimits {
        messages: c.shared.cfg.outbound_queue_messages,
        bytes: c.shared.cfg.outbound_queue_bytes,
    }
}

/// A reconnection delay between 1 and 2 × the configured `retry:`, so clients cut by a
/// shutdown do not all come back in the same instant.
fn spread_retry(base_ms: u64) -> u64 {
    base_ms.max(500) + pushwire_http::entropy::random_u64() % base_ms.max(500)
}

/// `GET /events`: `retry:` first, `event: missed` if the cursor could not be honoured, the
/// replay, then every message as it is published.
pub(crate) async fn sse<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    req: Request,
    access: &Access,
) -> std::io::Result<Next> {
    // The browser's reconnect sends `Last-Event-ID`; a first connection may name its cursor
    // in the query (`lastEventId`, or `since` like every other transport).
    let header = req
        .header("last-event-id")
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .filter(|v| !v.is_empty());
    let (topic, since) = match topic_and_since(&req, &["lastEventId", "since"]) {
        Ok((topic, q)) => match header {
            Some(h) => match Cursor::parse(Some(&h)) {
                Ok(c) => (topic, c),
                Err(_) => {
                    c.send(with_cors(Reply::error(400), access), true, false)
                        .await?;
                    return Ok(Next::KeepAlive);
                }
            },
            None => (topic, q),
        },
        Err(r) => {
            c.send(with_cors(r, access), true, false).await?;
            return Ok(Next::KeepAlive);
        }
    };
    drop(req);
    // From here the connection belongs to the stream: what the pipeline before it owes goes
    // out first, so the subscription's wait cannot delay it.
    c.flush_held().await?;
    let shared = c.shared.clone();
    let mut sub = match shared.hub.subscribe(&topic, since, queue_limits(c)).await {
        Ok(s) => s,
        Err(_) => {
            let r = with_cors(unavailable(shared.cfg.retry_after_secs), access);
            c.send(r, false, false).await?;
            return Ok(Next::Close);
        }
    };
    let _g = Gauge::up(&shared.stats.sse);
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-store"),
        ("X-Accel-Buffering", "no"),
        ("Connection", "close"),
    ];
    if let Some(o) = &access.cors_origin {
        headers.push(("Access-Control-Allow-Origin", o));
        headers.push(("Access-Control-Allow-Credentials", "true"));
        headers.push(("Vary", "Origin"));
    }
    encode_head(200, &headers, &mut c.wbuf);
    c.wbuf
        .extend_from_slice(&pushwire_sse::retry_hint(Duration::from_millis(
            shared.cfg.sse_retry_ms,
        )));
    if sub.replay.missed {
        encode_sse_event("missed", "{\"missed\":true}", &mut c.wbuf);
    }
    for m in std::mem::take(&mut sub.replay.messages) {
        c.wbuf.extend_from_slice(m.sse_event());
    }
    let keepalive = shared.cfg.sse_keepalive;
    let mut tick = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    let mut sink = BytesMut::new();
    let mut stopping = *c.shutdown.borrow();
    loop {
        if stopping {
            let retry = spread_retry(shared.cfg.sse_retry_ms);
            c.wbuf
                .extend_from_slice(&pushwire_sse::retry_hint(Duration::from_millis(retry)));
            break;
        }
        let pull = c.wbuf.len() < HIGH_WATER;
        tokio::select! {
            biased;
            _ = c.shutdown.changed() => stopping = true,
            ev = io_step(&mut c.io, &mut sink, &mut c.wbuf, true, 0) => {
                // Nothing is expected from the client; EOF or error means it left.
                if matches!(ev, IoEvent::Wrote(Ok(0) | Err(_)) | IoEvent::Read(Ok(0) | Err(_))) {
                    return Ok(Next::Close);
                }
                sink.clear();
            }
            m = sub.recv(), if pull => match m {
                Ok(Some(m)) => {
                    c.wbuf.extend_from_slice(m.sse_event());
                    // Everything else already queued joins it (up to the high-water mark), so
                    // one write carries a burst instead of one `sendto` per event. A cut
                    // subscriber is reported by the next `recv`.
                    while c.wbuf.len() < HIGH_WATER {
                        match sub.try_recv() {
                            Ok(Some(m)) => c.wbuf.extend_from_slice(m.sse_event()),
                            Ok(None) | Err(_) => break,
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    debug(format_args!("sse subscriber cut: too slow"));
                    break;
                }
            },
            _ = tick.tick() => c.wbuf.extend_from_slice(&pushwire_sse::keep_alive()),
            // The token expired: the stream ends (the client reconnects with a fresh one).
            _ = sleep_until_opt(access.expires_at) => break,
        }
    }
    let _ = c.flush().await;
    Ok(Next::Close)
}

/// `GET /ws` (`echo == false`: publish what the client sends, deliver the topic) and
/// `GET /echo` (send every message back), on pushwire-ws's handshake and sans-IO
/// [`Protocol`] (framing, limits, automatic pongs, close handshake, keep-alive timers).
pub(crate) async fn websocket<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    req: Request,
    access: &Access,
    echo: bool,
) -> std::io::Result<Next> {
    let http_req = req.to_http();
    // A plain GET on a WebSocket-only path is told what it must do (RFC 9110 §15.5.22).
    if !http_req.headers.contains_token("upgrade", "websocket") {
        let r = Reply::error(426)
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13");
        c.send(r, false, false).await?;
        return Ok(Next::Close);
    }
    // permessage-deflate with pushwire-ws's defaults: no context takeover either way, so an
    // idle connection keeps no zlib context and a broadcast is compressed once for all.
    let accepted = match handshake::accept_with(&http_req, &[], &pushwire_ws::Config::default()) {
        Ok(a) => a,
        Err(e) => {
            let mut r = Reply::error(e.status());
            if e.status() == 426 {
                r = r.header("Sec-WebSocket-Version", "13");
            }
            c.send(r, false, false).await?;
            return Ok(Next::Close);
        }
    };
    // The upgrade hands the connection to the WebSocket pump: responses held for the requests
    // pipelined before it go out first (before the 101, which they precede in `wbuf`).
    c.flush_held().await?;
    let shared = c.shared.clone();
    let (topic, mut sub) = if echo {
        (String::new(), None)
    } else {
        let (topic, since) = match topic_and_since(&req, &["since"]) {
            Ok(x) => x,
            Err(r) => {
                c.send(r, false, false).await?;
                return Ok(Next::Close);
            }
        };
        match shared.hub.subscribe(&topic, since, queue_limits(c)).await {
            Ok(s) => (topic, Some(s)),
            Err(_) => {
                c.send(unavailable(shared.cfg.retry_after_secs), false, false)
                    .await?;
                return Ok(Next::Close);
            }
        }
    };
    // Neither head is needed past the handshake: freed here, not held by every idle socket.
    drop((req, http_req));
    let _g = Gauge::up(&shared.stats.websocket);
    if pushwire_http::encode_response_head(&accepted.response, &mut c.wbuf).is_err() {
        return Ok(Next::Close);
    }
    let deflate = accepted.deflate;
    drop(accepted.response);
    // `/echo` keeps pushwire-ws's default limits (16 MiB frames, 64 MiB messages); `/ws`
    // takes no more than `/publish` would.
    let mut wcfg = pushwire_ws::Config::default();
    if !echo {
        wcfg.max_frame = shared.cfg.max_ws_message;
        wcfg.max_message = shared.cfg.max_ws_message;
    }
    wcfg.ping_interval = Some(shared.cfg.ws_ping_interval);
    wcfg.pong_timeout = shared.cfg.ws_ping_interval;
    wcfg.close_timeout = shared.cfg.ws_close_timeout;
    let mut proto = Protocol::new(Role::Server, &wcfg);
    if let Some(params) = deflate {
        proto.set_deflate(params);
    }
    if let Some(sub) = sub.as_mut() {
        if sub.replay.missed {
            let _ = proto.send(&WsMessage::text("{\"missed\":true}"), &mut c.wbuf);
        }
        for m in std::mem::take(&mut sub.replay.messages) {
            send_shared(&mut proto, &m, &mut c.wbuf);
        }
    }
    let _ = proto.handle_timeout(Instant::now().into_std());
    // A large echoed payload is not copied into `wbuf`: its frame header is, and the payload
    // waits here to go out right after the `wbuf` bytes before it, in the same `writev`.
    let mut big: Option<Deferred> = None;
    loop {
        // Take every message buffered (the upgrade's leftovers included) unless the socket is
        // not keeping up with what we already owe it.
        while owed(&c.wbuf, &big) < HIGH_WATER {
            match proto.receive(&mut c.rbuf) {
                Ok(Some(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) if echo => {
                    if big.is_none() && m.payload().len() >= DEFER_MIN {
                        if let Ok((header, payload)) = proto.prepare(&m) {
                            proto.poll_transmit(&mut c.wbuf);
                            header.encode(&mut c.wbuf);
                            big = Some(Deferred {
                                before: c.wbuf.len(),
                                payload,
                            });
                        }
                    } else {
                        let _ = proto.send(&m, &mut c.wbuf);
                    }
                }
                Ok(Some(WsMessage::Text(_) | WsMessage::Binary(_))) if access.publish_denied => {
                    let _ = proto.close(
                        CloseCode::POLICY_VIOLATION,
                        "not allowed to publish",
                        &mut c.wbuf,
                    );
                    break;
                }
                Ok(Some(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => {
                    // Text stays text, binary stays binary, whatever the bytes.
                    let kind = if matches!(m, WsMessage::Text(_)) {
                        Kind::Text
                    } else {
                        Kind::Binary
                    };
                    let payload = Payload::new(m.payload(), kind);
                    if shared.hub.publish(&topic, payload).await.is_err() {
                        proto.abort(pushwire_ws::Error::Internal);
                    }
                }
                Ok(Some(_)) => {
                    // A ping's pong is queued by the protocol; write it now, so that each of
                    // several pings read in one batch gets its own pong, in order. RFC 6455
                    // §5.5.3 allows answering only the latest, but Autobahn 2.10 (ten pings)
                    // expects every one, as the pushwire-ws shell does.
                    proto.poll_transmit(&mut c.wbuf);
                }
                Ok(None) => break,
                Err(e) => {
                    debug(format_args!("websocket closed: {e}"));
                    break;
                }
            }
        }
        proto.poll_transmit(&mut c.wbuf);
        if proto.is_terminated() {
            if let Some(d) = big.take() {
                // Rare (the close came while a large echo was owed): splice it back in order.
                let rest = c.wbuf.split_off(d.before);
                c.wbuf.extend_from_slice(&d.payload);
                c.wbuf.unsplit(rest);
            }
            // Boxed: its 1 KiB drain buffer and timer would otherwise be part of every live
            // WebSocket's future (its largest state), i.e. of every idle connection.
            Box::pin(finish(c)).await;
            return Ok(Next::Close);
        }
        let open = proto.state() == State::Open;
        let pull = open && owed(&c.wbuf, &big) < HIGH_WATER;
        let can_read = owed(&c.wbuf, &big) < HIGH_WATER;
        let timer = proto.poll_timeout();
        let want = proto.read_hint(&c.rbuf);
        tokio::select! {
            biased;
            _ = c.shutdown.changed(), if open => {
                let _ = proto.close(CloseCode::GOING_AWAY, "server shutting down", &mut c.wbuf);
            }
            ev = io_step_deferred(&mut c.io, &mut c.rbuf, &mut c.wbuf, &mut big, can_read, want) => match ev {
                IoEvent::Wrote(Ok(0) | Err(_)) | IoEvent::Read(Ok(0) | Err(_)) => {
                    return Ok(Next::Close);
                }
                IoEvent::Read(Ok(_)) | IoEvent::Wrote(Ok(_)) => {}
            },
            m = recv_opt(&mut sub), if pull => match m {
                Ok(Some(m)) => {
                    send_shared(&mut proto, &m, &mut c.wbuf);
                    // As for SSE: what is already queued goes out in the same write.
                    if let Some(sub) = sub.as_mut() {
                        while owed(&c.wbuf, &big) < HIGH_WATER {
                            match sub.try_recv() {
                                Ok(Some(m)) => send_shared(&mut proto, &m, &mut c.wbuf),
                                Ok(None) | Err(_) => break,
                            }
                        }
                    }
                }
                Ok(None) => {
                    let _ = proto.close(CloseCode::GOING_AWAY, "", &mut c.wbuf);
                }
                Err(_) => {
                    debug(format_args!("websocket subscriber cut: too slow"));
                    proto.abort(pushwire_ws::Error::Policy);
                }
            },
            _ = sleep_until_opt(timer) => {}
            _ = sleep_until_opt(access.expires_at), if open => {
                let _ = proto.close(CloseCode::POLICY_VIOLATION, "token expired", &mut c.wbuf);
            }
        }
        if *c.shutdown.borrow() && proto.state() == State::Open {
            let _ = proto.close(CloseCode::GOING_AWAY, "server shutting down", &mut c.wbuf);
        }
        if let Err(e) = proto.handle_timeout(Instant::now().into_std()) {
            // A dead peer gets no close frame (nobody would read it); a close that times out
            // has already sent ours.
            debug(format_args!("websocket timer: {e}"));
            if e.close_code().is_none() {
                return Ok(Next::Close);
            }
        }
    }
}

/// Echoed payloads at least this large (64 KiB) are written from the received buffer itself
/// instead of being copied into `wbuf` (a 1 MiB echo copied a mebibyte per message).
const DEFER_MIN: usize = 64 * 1024;

/// A payload owed to the socket right after the first `before` bytes of `wbuf`.
struct Deferred {
    before: usize,
    payload: bytes::Bytes,
}

/// Bytes owed to the socket: `wbuf` and a deferred payload.
fn owed(wbuf: &BytesMut, big: &Option<Deferred>) -> usize {
    wbuf.len() + big.as_ref().map_or(0, |d| d.payload.len())
}

/// [`io_step`] with a deferred payload: writes `wbuf[..before]`, the payload and the rest of
/// `wbuf` with one vectored write, in that order, and accounts for what went out.
async fn io_step_deferred<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    big: &mut Option<Deferred>,
    can_read: bool,
    want: usize,
) -> IoEvent {
    use bytes::Buf as _;
    use std::io::IoSlice;
    let Some(d) = big.as_mut() else {
        return io_step(io, rbuf, wbuf, can_read, want).await;
    };
    let before = d.before.min(wbuf.len());
    let written = std::future::poll_fn(|cx| {
        let (head, tail) = wbuf.split_at(before);
        let bufs = [
            IoSlice::new(head),
            IoSlice::new(&d.payload),
            IoSlice::new(tail),
        ];
        std::pin::Pin::new(&mut *io).poll_write_vectored(cx, &bufs)
    });
    // Reading waits while this much is owed (`can_read` is false past the high-water mark),
    // so only the write needs polling here.
    let r = written.await;
    if let Ok(mut n) = r {
        let from_head = n.min(before);
        wbuf.advance(from_head);
        d.before = before - from_head;
        n -= from_head;
        let from_payload = n.min(d.payload.len());
        d.payload.advance(from_payload);
        n -= from_payload;
        if d.payload.is_empty() {
            *big = None;
            wbuf.advance(n.min(wbuf.len()));
        }
    }
    IoEvent::Wrote(r)
}

/// Queues a hub message's shared frame (encoded once for every subscriber; compressed once
/// for every subscriber that negotiated permessage-deflate without server context takeover).
fn send_shared(proto: &mut Protocol, m: &crate::hub::Message, wbuf: &mut BytesMut) {
    let compressed = if proto.accepts_compressed_shared() {
        m.ws_frame_deflate()
    } else {
        None
    };
    if let Some(frame) = compressed.or_else(|| m.ws_frame())
        && proto.check_shared(frame).is_ok()
    {
        proto.poll_transmit(wbuf);
        wbuf.extend_from_slice(frame.as_bytes());
    }
}

pub(crate) async fn sleep_until_opt(t: Option<std::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Flushes what is owed (the close frame last) and closes our side, then reads briefly so
/// the peer's last bytes do not turn our close into a reset.
async fn finish<S: AsyncRead + AsyncWrite + Unpin + Send>(c: &mut Conn<S>) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        if c.flush().await.is_err() {
            return;
        }
        let _ = c.io.shutdown().await;
        let mut sink = [0u8; 1024];
        let mut total = 0usize;
        while total < 1 << 20 {
            match c.io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

async fn recv_opt(
    sub: &mut Option<crate::hub::Subscription>,
) -> Result<Option<std::sync::Arc<crate::hub::Message>>, crate::hub::Lagged> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
