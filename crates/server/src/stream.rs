//! The two streaming transports: Server-Sent Events and WebSocket.
//!
//! Both run the same pump: one `select!` over shutdown, the socket (writing the owed bytes or
//! reading, whichever it allows first), the hub subscription and one timer. A subscription is
//! pulled only while `wbuf` is under its high-water mark, so a client that does not read
//! backs up into its bounded hub queue, which then cuts it ([`crate::hub::Lagged`]) without
//! slowing anyone else.
//!
//! An open stream's state is what every idle connection costs, so it is kept small: the
//! handshake's state lives in its own boxed future and is gone once the stream starts, one
//! timer serves every deadline, and the read and write buffers are given back while the
//! stream carries no data (they are taken again by the next read or write).

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
use pushwire_ws::frame::{OpCode, Role};
use pushwire_ws::{CloseCode, Incoming, Message as WsMessage, Protocol, State, handshake};

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
///
/// Shaped like [`websocket`] (see there why it is not an `async fn`): the request and what
/// only the response head needs live on the heap until the stream starts ([`sse_open`]).
pub(crate) fn sse<'a, S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &'a mut Conn<S>,
    req: Request,
    access: &'a Access,
) -> impl std::future::Future<Output = std::io::Result<Next>> + Send + 'a {
    let req = Box::new(req);
    async move {
        // Bound by `let`, not matched on: a `match` would keep its scrutinee (and a copy of
        // the subscription) for as long as the stream lives.
        let mut sub = match Box::pin(sse_open(&mut *c, req, access)).await? {
            Ok(sub) => sub,
            Err(next) => return Ok(next),
        };
        sse_pump(c, &mut sub, access).await
    }
}

/// Everything before the stream: the cursor, the subscription, the response head, `retry:`,
/// `event: missed` and the replay (queued in `wbuf`). `Err(next)` when it answered otherwise.
async fn sse_open<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    req: Box<Request>,
    access: &Access,
) -> std::io::Result<Result<crate::hub::Subscription, Next>> {
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
                    return Ok(Err(Next::KeepAlive));
                }
            },
            None => (topic, q),
        },
        Err(r) => {
            c.send(with_cors(r, access), true, false).await?;
            return Ok(Err(Next::KeepAlive));
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
            return Ok(Err(Next::Close));
        }
    };
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
    // The replay's cursor is not needed either (a small allocation per subscriber).
    sub.replay.next = String::new();
    Ok(Ok(sub))
}

/// The stream: events as they are published, a keep-alive comment every `sse_keepalive`,
/// the end at shutdown or when the token expires. Part of every open stream's memory (idle
/// ones included): the subscription, one `Sleep`, and no buffer while nothing is sent.
///
/// Not an `async fn` (nor is [`ws_pump`]): an `async fn` keeps each argument twice, as passed
/// and as bound; an `async move` block keeps its captures once.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would store its arguments twice in every open stream"
)]
fn sse_pump<'a, S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &'a mut Conn<S>,
    sub: &'a mut crate::hub::Subscription,
    access: &'a Access,
) -> impl std::future::Future<Output = std::io::Result<Next>> + Send + 'a {
    async move {
        let shared = c.shared.clone();
        let _g = Gauge::up(&shared.stats.sse);
        // One timer for the keep-alive comment and the token's expiry.
        let mut next_comment = Instant::now() + shared.cfg.sse_keepalive;
        let timer = tokio::time::sleep_until(sse_deadline(next_comment, access));
        tokio::pin!(timer);
        let mut stopping = *c.shutdown.borrow();
        // Events written since the last keep-alive comment; while not, empty buffers are given
        // back before each wait (see `release_idle`).
        let mut busy = false;
        loop {
            if stopping {
                let retry = spread_retry(shared.cfg.sse_retry_ms);
                c.wbuf
                    .extend_from_slice(&pushwire_sse::retry_hint(Duration::from_millis(retry)));
                break;
            }
            let pull = c.wbuf.len() < HIGH_WATER;
            if !busy {
                release_idle(&mut c.rbuf, &mut c.wbuf, true);
            }
            tokio::select! {
                biased;
                _ = c.shutdown.changed() => stopping = true,
                ev = sse_io(&mut c.io, &mut c.wbuf) => {
                    // Nothing is expected from the client; EOF or error means it left.
                    if matches!(ev, IoEvent::Wrote(Ok(0) | Err(_)) | IoEvent::Read(Ok(0) | Err(_))) {
                        return Ok(Next::Close);
                    }
                }
                m = sub.recv(), if pull => match m {
                    Ok(Some(m)) => {
                        busy = true;
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
                () = &mut timer => {
                    let now = Instant::now();
                    // The token expired: the stream ends (the client reconnects with a fresh one).
                    if access.expires_at.is_some_and(|t| now >= t.into()) {
                        break;
                    }
                    if now >= next_comment {
                        c.wbuf.extend_from_slice(&pushwire_sse::keep_alive());
                        next_comment = now + shared.cfg.sse_keepalive;
                        busy = false;
                    }
                    timer.as_mut().reset(sse_deadline(next_comment, access));
                }
            }
        }
        let _ = c.flush().await;
        Ok(Next::Close)
    }
}

/// When an SSE stream's timer must fire: the next keep-alive comment, or the token's expiry.
fn sse_deadline(next_comment: Instant, access: &Access) -> Instant {
    match access.expires_at {
        Some(t) => next_comment.min(t.into()),
        None => next_comment,
    }
}

/// The SSE stream's socket: writes some of `wbuf`, or reads and drops what the client sends
/// (nothing is expected; EOF means it left), whichever comes first. Cancel-safe: bytes move
/// only in the poll that returns `Ready`. A plain `poll_fn` of two captures, part of every
/// open stream's memory.
fn sse_io<'a, S: AsyncRead + AsyncWrite + Unpin>(
    io: &'a mut S,
    wbuf: &'a mut BytesMut,
) -> impl std::future::Future<Output = IoEvent> + 'a {
    use bytes::Buf as _;
    use std::pin::Pin;
    use std::task::Poll;
    std::future::poll_fn(move |cx| {
        if !wbuf.is_empty()
            && let Poll::Ready(r) = Pin::new(&mut *io).poll_write(cx, &wbuf[..])
        {
            if let Ok(n) = r {
                wbuf.advance(n.min(wbuf.len()));
            }
            return Poll::Ready(IoEvent::Wrote(r));
        }
        let mut tmp = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
        let mut rb = tokio::io::ReadBuf::uninit(&mut tmp);
        match Pin::new(&mut *io).poll_read(cx, &mut rb) {
            Poll::Ready(r) => Poll::Ready(IoEvent::Read(r.map(|()| rb.filled().len()))),
            Poll::Pending => Poll::Pending,
        }
    })
}

/// `GET /ws` (`echo == false`: publish what the client sends, deliver the topic) and
/// `GET /echo` (send every message back), on pushwire-ws's handshake and sans-IO
/// [`Protocol`] (framing, limits, automatic pongs, close handshake, keep-alive timers).
///
/// Not an `async fn`: its future lives as long as the WebSocket, and an `async fn` would keep
/// a slot for every argument (the 128-byte `Request` included) for that long. The request goes
/// to the heap instead, and with it everything only the handshake needs ([`ws_open`], boxed):
/// what stays for the connection's life is [`ws_pump`]'s state.
pub(crate) fn websocket<'a, S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &'a mut Conn<S>,
    req: Request,
    access: &'a Access,
    echo: bool,
) -> impl std::future::Future<Output = std::io::Result<Next>> + Send + 'a {
    let req = Box::new(req);
    async move {
        let Some(mut ws) = Box::pin(ws_open(&mut *c, req, echo)).await? else {
            return Ok(Next::Close);
        };
        // By reference: an `async fn` keeps each argument twice (as passed, and bound).
        ws_pump(c, &mut ws, access, echo).await
    }
}

/// A WebSocket whose `101` is in `wbuf`: its protocol state, and for `/ws` its subscription
/// and topic.
struct Opened {
    proto: Protocol,
    /// Boxed: `/echo` has none, and would otherwise keep its room (72 bytes) inline.
    sub: Option<Box<crate::hub::Subscription>>,
    topic: Box<str>,
}

/// The handshake: answers `426`/`400`/`503` itself (`None`), or queues the `101` and the
/// replay in `wbuf`.
async fn ws_open<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    req: Box<Request>,
    echo: bool,
) -> std::io::Result<Option<Opened>> {
    let http_req = req.to_http();
    // A plain GET on a WebSocket-only path is told what it must do (RFC 9110 §15.5.22).
    if !http_req.headers.contains_token("upgrade", "websocket") {
        let r = Reply::error(426)
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13");
        c.send(r, false, false).await?;
        return Ok(None);
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
            return Ok(None);
        }
    };
    // The upgrade hands the connection to the WebSocket pump: responses held for the requests
    // pipelined before it go out first (before the 101, which they precede in `wbuf`).
    c.flush_held().await?;
    let shared = c.shared.clone();
    let (topic, mut sub) = if echo {
        (Box::default(), None)
    } else {
        let (topic, since) = match topic_and_since(&req, &["since"]) {
            Ok(x) => x,
            Err(r) => {
                c.send(r, false, false).await?;
                return Ok(None);
            }
        };
        match shared.hub.subscribe(&topic, since, queue_limits(c)).await {
            Ok(s) => (topic.into_boxed_str(), Some(Box::new(s))),
            Err(_) => {
                c.send(unavailable(shared.cfg.retry_after_secs), false, false)
                    .await?;
                return Ok(None);
            }
        }
    };
    if pushwire_http::encode_response_head(&accepted.response, &mut c.wbuf).is_err() {
        return Ok(None);
    }
    let mut proto = Protocol::with_config(Role::Server, ws_config(&shared.cfg, echo));
    if let Some(params) = accepted.deflate {
        proto.set_deflate(params);
    }
    if let Some(sub) = sub.as_mut() {
        if sub.replay.missed {
            let _ = proto.send(&WsMessage::text("{\"missed\":true}"), &mut c.wbuf);
        }
        for m in std::mem::take(&mut sub.replay.messages) {
            send_shared(&mut proto, &m, &mut c.wbuf);
        }
        // The replay's cursor is not needed either (a small allocation per subscriber).
        sub.replay.next = String::new();
    }
    let _ = proto.handle_timeout(Instant::now().into_std());
    Ok(Some(Opened { proto, sub, topic }))
}

/// pushwire-ws's configuration for `/echo` or `/ws` under `cfg`, shared by every connection
/// made with the same settings (one `Arc` per server and route, not a copy per connection).
fn ws_config(cfg: &crate::config::Config, echo: bool) -> std::sync::Arc<pushwire_ws::Config> {
    use std::sync::{Arc, Mutex, OnceLock};
    // `/echo` keeps pushwire-ws's default limits (16 MiB frames, 64 MiB messages); `/ws`
    // takes no more than `/publish` would.
    let mut wcfg = pushwire_ws::Config::default();
    if !echo {
        wcfg.max_frame = cfg.max_ws_message;
        wcfg.max_message = cfg.max_ws_message;
    }
    wcfg.ping_interval = Some(cfg.ws_ping_interval);
    wcfg.pong_timeout = cfg.ws_ping_interval;
    wcfg.close_timeout = cfg.ws_close_timeout;
    // A few recent configurations (servers in one process usually share theirs).
    static RECENT: OnceLock<Mutex<Vec<Arc<pushwire_ws::Config>>>> = OnceLock::new();
    let mut recent = RECENT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = recent.iter().find(|c| ***c == wcfg) {
        return c.clone();
    }
    let c = Arc::new(wcfg);
    if recent.len() >= 4 {
        recent.remove(0);
    }
    recent.push(c.clone());
    c
}

/// The WebSocket's life after the handshake: one `select!` over shutdown, the socket (both
/// directions), the subscription and one timer.
///
/// Everything here is part of every open WebSocket's memory, idle ones included, so it holds
/// only the protocol, the subscription and one `Sleep`; the buffers are given back while
/// the connection carries no data (see `busy`).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would store its arguments twice in every open WebSocket"
)]
fn ws_pump<'a, S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &'a mut Conn<S>,
    ws: &'a mut Opened,
    access: &'a Access,
    echo: bool,
) -> impl std::future::Future<Output = std::io::Result<Next>> + Send + 'a {
    async move {
        let shared = c.shared.clone();
        let _g = Gauge::up(&shared.stats.websocket);
        // A large echoed payload is not copied into `wbuf`: its frame header is, and the payload
        // waits here, in order, to go out in the same `writev` as everything before and after it.
        let mut out = Owed::default();
        // One timer for the protocol's deadlines (keep-alive ping, pong, close) and the token's
        // expiry. It is moved only when a deadline comes earlier than the armed one; a later one
        // (each message pushes the keep-alive ping on) is taken up when the armed one fires, so a
        // busy connection does not touch the timer wheel per message.
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<std::time::Instant> = None;
        // Data moved since the timer last fired. While not, empty buffers are given back before
        // each wait: an idle connection holds neither (the handshake's are freed at once), and a
        // busy one keeps its buffers between messages until a quiet timer period.
        let mut busy = false;
        // The peer's last read brought 8 KiB or more: read big, straight into `rbuf` (`ws_io`).
        let mut streaming = false;
        // `/echo` sends large binary messages back as they arrive (see `CUT_THROUGH_MIN`);
        // compressed ones need inflating first, so not with permessage-deflate.
        let parts_min = if echo && ws.proto.deflate().is_none() {
            CUT_THROUGH_MIN
        } else {
            u64::MAX
        };
        loop {
            // Take every message buffered (the upgrade's leftovers included) unless the socket is
            // not keeping up with what we already owe it.
            while out.len + c.wbuf.len() < HIGH_WATER {
                let r = match ws.proto.receive_parts(&mut c.rbuf, parts_min) {
                    Ok(Some(Incoming::Part(mut p))) => {
                        busy = true;
                        // The echo frame's header goes out with the first part; until the
                        // last, the protocol holds back pongs, pings and a close of ours.
                        // After our close (`start_frame` refuses) the parts are dropped, as
                        // a whole message would be.
                        if p.is_first() {
                            let len = p.header.payload_len;
                            let _ = ws.proto.start_frame(OpCode::Binary, len, &mut c.wbuf);
                        }
                        let sent = ws.proto.send_part(&mut p.data).is_ok();
                        if sent && p.data.len() >= ZERO_COPY_MIN {
                            out.push_after(&mut c.wbuf, p.data.freeze());
                        } else if sent {
                            // A small part is copied, as a small message is: queued as it
                            // is, it would keep alive the read buffer it was split from (up
                            // to 1 MiB, `DIRECT_READ_MAX`), and the next read would reserve
                            // a fresh one. A peer trickling a large frame to a reader that
                            // never reads could then pin HIGH_WATER / (bytes per read)
                            // buffers; copied, at most HIGH_WATER / ZERO_COPY_MIN are held.
                            c.wbuf.extend_from_slice(&p.data);
                        }
                        continue;
                    }
                    Ok(Some(Incoming::Message(m))) => Ok(Some(m)),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                match r {
                    Ok(Some(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) if echo => {
                        busy = true;
                        if data_len(&m) >= ZERO_COPY_MIN {
                            if let Ok((header, payload)) = ws.proto.prepare(&m) {
                                ws.proto.poll_transmit(&mut c.wbuf);
                                header.encode(&mut c.wbuf);
                                out.push_after(&mut c.wbuf, payload);
                            }
                        } else {
                            let _ = ws.proto.send(&m, &mut c.wbuf);
                        }
                    }
                    Ok(Some(WsMessage::Text(_) | WsMessage::Binary(_)))
                        if access.publish_denied =>
                    {
                        let _ = ws.proto.close(
                            CloseCode::POLICY_VIOLATION,
                            "not allowed to publish",
                            &mut c.wbuf,
                        );
                        break;
                    }
                    Ok(Some(m @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => {
                        busy = true;
                        // Text stays text, binary stays binary, whatever the bytes.
                        let kind = if matches!(m, WsMessage::Text(_)) {
                            Kind::Text
                        } else {
                            Kind::Binary
                        };
                        let payload = Payload::new(m.payload(), kind);
                        if shared.hub.publish(&ws.topic, payload).await.is_err() {
                            ws.proto.abort(pushwire_ws::Error::Internal);
                        }
                    }
                    Ok(Some(_)) => {
                        // A ping's pong is queued by the protocol; write it now, so that each of
                        // several pings read in one batch gets its own pong, in order. RFC 6455
                        // §5.5.3 allows answering only the latest, but Autobahn 2.10 (ten pings)
                        // expects every one, as the pushwire-ws shell does.
                        ws.proto.poll_transmit(&mut c.wbuf);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        debug(format_args!("websocket closed: {e}"));
                        break;
                    }
                }
            }
            ws.proto.poll_transmit(&mut c.wbuf);
            if ws.proto.is_terminated() {
                // Rare (the close came while a large echo was owed): back into `wbuf`, in order.
                out.fold_into(&mut c.wbuf);
                // Boxed: its 1 KiB drain buffer and timer would otherwise be part of every live
                // WebSocket's future (its largest state), i.e. of every idle connection.
                Box::pin(finish(c)).await;
                return Ok(Next::Close);
            }
            let open = ws.proto.state() == State::Open;
            let can_read = out.len + c.wbuf.len() < HIGH_WATER;
            let pull = open && can_read;
            let want = ws.proto.read_hint(&c.rbuf);
            let expiry = access.expires_at.filter(|_| open);
            match earliest(ws.proto.poll_timeout(), expiry) {
                None => armed = None,
                Some(t) if armed.is_none_or(|a| t < a) => {
                    timer.as_mut().reset(t.into());
                    armed = Some(t);
                }
                Some(_) => {}
            }
            if !busy {
                out.release_idle();
                release_idle(&mut c.rbuf, &mut c.wbuf, out.len == 0);
            }
            tokio::select! {
                biased;
                _ = c.shutdown.changed(), if open => {
                    let _ = ws.proto.close(CloseCode::GOING_AWAY, "server shutting down", &mut c.wbuf);
                }
                ev = ws_io(&mut c.io, &mut c.rbuf, &mut c.wbuf, &mut out, can_read, want, &mut streaming) => match ev {
                    IoEvent::Wrote(Ok(0) | Err(_)) | IoEvent::Read(Ok(0) | Err(_)) => {
                        return Ok(Next::Close);
                    }
                    IoEvent::Read(Ok(_)) | IoEvent::Wrote(Ok(_)) => {}
                },
                m = recv_opt(&mut ws.sub), if pull => match m {
                    Ok(Some(m)) => {
                        busy = true;
                        send_shared(&mut ws.proto, &m, &mut c.wbuf);
                        // As for SSE: what is already queued goes out in the same write.
                        if let Some(sub) = ws.sub.as_mut() {
                            while out.len + c.wbuf.len() < HIGH_WATER {
                                match sub.try_recv() {
                                    Ok(Some(m)) => send_shared(&mut ws.proto, &m, &mut c.wbuf),
                                    Ok(None) | Err(_) => break,
                                }
                            }
                        }
                    }
                    Ok(None) => {
                        let _ = ws.proto.close(CloseCode::GOING_AWAY, "", &mut c.wbuf);
                    }
                    Err(_) => {
                        debug(format_args!("websocket subscriber cut: too slow"));
                        ws.proto.abort(pushwire_ws::Error::Policy);
                    }
                },
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    busy = false;
                }
            }
            let now = Instant::now().into_std();
            if *c.shutdown.borrow() && ws.proto.state() == State::Open {
                let _ = ws
                    .proto
                    .close(CloseCode::GOING_AWAY, "server shutting down", &mut c.wbuf);
            }
            if let Some(t) = access.expires_at
                && now >= t
                && ws.proto.state() == State::Open
            {
                let _ = ws
                    .proto
                    .close(CloseCode::POLICY_VIOLATION, "token expired", &mut c.wbuf);
            }
            if let Err(e) = ws.proto.handle_timeout(now) {
                // A dead peer gets no close frame (nobody would read it); a close that times out
                // has already sent ours.
                debug(format_args!("websocket timer: {e}"));
                if e.close_code().is_none() {
                    return Ok(Next::Close);
                }
            }
        }
    }
}

/// The earlier of two optional instants.
fn earliest(
    a: Option<std::time::Instant>,
    b: Option<std::time::Instant>,
) -> Option<std::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Gives back the read and write buffers when they are empty (their allocations would
/// otherwise stay with every idle connection: the request head's, the `101`'s). Whatever
/// their capacity: an empty buffer split off the end of a request still holds all of it.
fn release_idle(rbuf: &mut BytesMut, wbuf: &mut BytesMut, nothing_owed: bool) {
    if rbuf.is_empty() {
        *rbuf = BytesMut::new();
    }
    if wbuf.is_empty() && nothing_owed {
        *wbuf = BytesMut::new();
    }
}

/// Echoed payloads at least this large (4 KiB) are written from the received buffer itself,
/// behind their frame header, with one vectored write for a whole batch, instead of being
/// copied into `wbuf`. Below it a copy costs less than one more `IoSlice`.
const ZERO_COPY_MIN: usize = 4 * 1024;

/// Binary messages at least this large (64 KiB) that arrive as one uncompressed frame are
/// echoed as they arrive ("cut-through", [`Protocol::receive_parts`]): each read's bytes are
/// unmasked and queued behind the echo frame's header at once, so the send copy reads them
/// while they are still in cache, and the read buffer, no longer held by a whole message
/// until its echo is written, is reused by the next read instead of a fresh allocation per
/// message. At 1 MiB (10 connections, 2 in flight) that cut server CPU per message by ~11 %
/// against the whole-message echo; at 16 KiB it made no difference, so smaller messages keep
/// the simpler path.
const CUT_THROUGH_MIN: u64 = 64 * 1024;

/// Most slices handed to one vectored write (Linux takes 1024; 64 covers 32 echoes).
const MAX_IOV: usize = 64;

/// While a WebSocket's peer streams data (its last read brought at least 8 KiB) reads go
/// straight into `rbuf` with at least this much room (64 KiB): several messages per
/// `recvfrom` instead of 8 KiB scratch reads copied over. Peers that send little (most) never
/// make a connection hold this; the buffer is given back at the first quiet timer period
/// (see `busy` in [`ws_pump`]).
const STREAM_READ: usize = 64 * 1024;

/// What a WebSocket owes its socket before `wbuf`: frozen parts of `wbuf` and payloads sent
/// without a copy, in order. Empty (and unallocated) unless a large echo is in flight.
#[derive(Default)]
struct Owed {
    chunks: std::collections::VecDeque<bytes::Bytes>,
    len: usize,
}

impl Owed {
    /// Queues `wbuf`'s bytes so far, then `payload`.
    fn push_after(&mut self, wbuf: &mut BytesMut, payload: bytes::Bytes) {
        if !wbuf.is_empty() {
            let head = wbuf.split().freeze();
            self.len += head.len();
            self.chunks.push_back(head);
        }
        self.len += payload.len();
        self.chunks.push_back(payload);
    }

    /// Puts everything back into `wbuf`, in order (for the connection's last flush).
    fn fold_into(&mut self, wbuf: &mut BytesMut) {
        if self.chunks.is_empty() {
            return;
        }
        let mut all = BytesMut::with_capacity(self.len + wbuf.len());
        for c in self.chunks.drain(..) {
            all.extend_from_slice(&c);
        }
        all.extend_from_slice(wbuf);
        *wbuf = all;
        *self = Owed::default();
    }

    /// Takes `n` written bytes off the front (chunks first, then `wbuf`).
    fn advance(&mut self, mut n: usize, wbuf: &mut BytesMut) {
        use bytes::Buf as _;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.len -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    self.len -= n;
                    return;
                }
                None => {
                    wbuf.advance(n.min(wbuf.len()));
                    return;
                }
            }
        }
    }
}

impl Owed {
    /// Gives back the queue's allocation when nothing is queued.
    fn release_idle(&mut self) {
        if self.chunks.is_empty() && self.chunks.capacity() > 0 {
            self.chunks = std::collections::VecDeque::new();
        }
    }
}

/// A frame that still needs more than this many bytes is read straight into `rbuf` (8 KiB),
/// at most this much of `rbuf` reserved ahead for it in one step (1 MiB), as in `conn::io_step`.
const DIRECT_READ_MIN: usize = 8 * 1024;
const DIRECT_READ_MAX: usize = 1024 * 1024;

/// The payload length of a data message.
fn data_len(m: &WsMessage) -> usize {
    match m {
        WsMessage::Text(t) => t.len(),
        WsMessage::Binary(b) => b.len(),
        _ => 0,
    }
}

/// `conn::io_step` for a WebSocket: writes what is owed (`out`'s chunks, then `wbuf`, in one
/// vectored write) or reads into `rbuf`, whichever the socket allows first. Cancel-safe: bytes
/// move only in the poll that returns `Ready`.
///
/// Reads go straight into `rbuf` while a frame still needs more than 8 KiB (`want`) or the
/// peer is `streaming` (at least [`STREAM_READ`] of room; updated by every read); otherwise
/// through a scratch buffer that lives only during one poll, so an idle connection holds no
/// read buffer.
///
/// A plain `poll_fn`, not an `async fn`: it is part of the pump's state, i.e. of every open
/// WebSocket's memory, and this way it is just its seven captures.
fn ws_io<'a, S: AsyncRead + AsyncWrite + Unpin>(
    io: &'a mut S,
    rbuf: &'a mut BytesMut,
    wbuf: &'a mut BytesMut,
    out: &'a mut Owed,
    can_read: bool,
    want: usize,
    streaming: &'a mut bool,
) -> impl std::future::Future<Output = IoEvent> + 'a {
    use std::future::Future as _;
    use std::io::IoSlice;
    use std::pin::Pin;
    use std::task::Poll;
    std::future::poll_fn(move |cx| {
        if out.len > 0 || !wbuf.is_empty() {
            let written = if out.chunks.is_empty() {
                Pin::new(&mut *io).poll_write(cx, &wbuf[..])
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let mut k = 0;
                for c in out.chunks.iter().take(MAX_IOV - 1) {
                    slices[k] = IoSlice::new(c);
                    k += 1;
                }
                if out.chunks.len() < MAX_IOV && !wbuf.is_empty() {
                    slices[k] = IoSlice::new(wbuf);
                    k += 1;
                }
                Pin::new(&mut *io).poll_write_vectored(cx, &slices[..k])
            };
            if let Poll::Ready(r) = written {
                if let Ok(n) = r {
                    out.advance(n, wbuf);
                }
                return Poll::Ready(IoEvent::Wrote(r));
            }
        }
        if !can_read {
            return Poll::Pending;
        }
        let room = if want > DIRECT_READ_MIN {
            want.min(DIRECT_READ_MAX)
        } else if *streaming {
            STREAM_READ
        } else {
            0
        };
        let read = if room > 0 {
            rbuf.reserve(room);
            // A fresh `read_buf` future per poll, polled once: it fills `rbuf` only when it
            // returns `Ready`, so dropping it while pending loses nothing.
            let read = std::pin::pin!(io.read_buf(&mut *rbuf));
            read.poll(cx)
        } else {
            let mut tmp = [std::mem::MaybeUninit::<u8>::uninit(); DIRECT_READ_MIN];
            let mut rb = tokio::io::ReadBuf::uninit(&mut tmp);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(r) => {
                    rbuf.extend_from_slice(rb.filled());
                    Poll::Ready(r.map(|()| rb.filled().len()))
                }
                Poll::Pending => Poll::Pending,
            }
        };
        match read {
            Poll::Ready(r) => {
                *streaming = r.as_ref().is_ok_and(|&n| n >= DIRECT_READ_MIN);
                Poll::Ready(IoEvent::Read(r))
            }
            Poll::Pending => Poll::Pending,
        }
    })
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
        // What still arrives is read (through `io_step`'s per-poll scratch) and dropped.
        let mut total = 0usize;
        while total < 1 << 20 {
            c.rbuf.clear();
            match io_step(&mut c.io, &mut c.rbuf, &mut BytesMut::new(), true, 0).await {
                IoEvent::Read(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
    })
    .await;
}

async fn recv_opt(
    sub: &mut Option<Box<crate::hub::Subscription>>,
) -> Result<Option<std::sync::Arc<crate::hub::Message>>, crate::hub::Lagged> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::test_shared as shared;

    fn request(target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: "GET".into(),
            target: target.into(),
            path: path.into(),
            query: query.into(),
            version: 1,
            headers: Vec::new(),
        }
    }

    /// Bytes a stream's future may take for its whole life (it is boxed by the connection,
    /// and is most of what an idle WebSocket or SSE stream costs besides the connection's
    /// task): 776 and 504 in a debug build on 2026-11-25 (the WebSocket's was 2.8 KB).
    const WS_LIMIT: usize = 864;
    const SSE_LIMIT: usize = 576;

    /// An open WebSocket or SSE stream keeps its future for as long as it lives: no handshake
    /// state (the request, the `101`, configurations), no second timer, no buffers inline.
    /// The WebSocket future was 2.8 KB before the handshake moved out of it.
    #[tokio::test]
    async fn stream_futures_stay_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut c = Conn::new(server, shared());
        let access = Access::default();
        let ws = std::mem::size_of_val(&websocket(&mut c, request("/echo"), &access, true));
        let sse = std::mem::size_of_val(&sse(&mut c, request("/events?topic=t"), &access));
        println!("websocket future: {ws} bytes, sse future: {sse} bytes");
        println!(
            "pushwire_ws::Protocol: {} bytes",
            std::mem::size_of::<Protocol>()
        );
        assert!(
            ws <= WS_LIMIT,
            "websocket future is {ws} bytes, over {WS_LIMIT}"
        );
        assert!(
            sse <= SSE_LIMIT,
            "sse future is {sse} bytes, over {SSE_LIMIT}"
        );
        drop(client);
    }
}
