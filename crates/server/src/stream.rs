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

use crate::conn::{
    Conn, IoEvent, Next, Reply, io_step, reserve, topic_and_since, unavailable, with_cors,
};
use crate::cursor::Cursor;
use crate::hub::{Kind, Payload, QueueLimits};
use crate::listener::{Gauge, debug};
use crate::router::Access;
use crate::wire::{Request, encode_head, encode_sse_event, encode_ws_data, encode_ws_frame};
use crate::wsproto::{FrameReader, Incoming, code, encode_close};

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
    req: &Request,
    access: &Access,
) -> std::io::Result<Next> {
    // The browser's reconnect sends `Last-Event-ID`; a first connection may name its cursor
    // in the query (`lastEventId`, or `since` like every other transport).
    let header = req
        .header("last-event-id")
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .filter(|v| !v.is_empty());
    let (topic, since) = match topic_and_since(req, &["lastEventId", "since"]) {
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
            ev = io_step(&mut c.io, &mut sink, &mut c.wbuf, true) => {
                // Nothing is expected from the client; EOF or error means it left.
                if matches!(ev, IoEvent::Wrote(Ok(0) | Err(_)) | IoEvent::Read(Ok(0) | Err(_))) {
                    return Ok(Next::Close);
                }
                sink.clear();
            }
            m = sub.recv(), if pull => match m {
                Ok(Some(m)) => c.wbuf.extend_from_slice(m.sse_event()),
                Ok(None) => break,
                Err(_) => {
                    debug(format_args!("sse subscriber cut: too slow"));
                    break;
                }
            },
            _ = tick.tick() => c.wbuf.extend_from_slice(&pushwire_sse::keep_alive()),
        }
    }
    let _ = c.flush().await;
    Ok(Next::Close)
}

/// `GET /ws` (`echo == false`: publish what the client sends, deliver the topic) and
/// `GET /echo` (send every message back).
pub(crate) async fn websocket<S: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<S>,
    req: &Request,
    echo: bool,
) -> std::io::Result<Next> {
    let accept = match crate::wsproto::check_upgrade(req) {
        Ok(a) => a,
        Err(e) => {
            let mut r = Reply::error(e.status());
            if e.status() == 426 {
                r = r
                    .header("Upgrade", "websocket")
                    .header("Sec-WebSocket-Version", "13");
            }
            c.send(r, false, false).await?;
            return Ok(Next::Close);
        }
    };
    let shared = c.shared.clone();
    let (topic, mut sub) = if echo {
        (String::new(), None)
    } else {
        let (topic, since) = match topic_and_since(req, &["since"]) {
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
    let _g = Gauge::up(&shared.stats.websocket);
    encode_head(
        101,
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", &accept),
        ],
        &mut c.wbuf,
    );
    if let Some(sub) = sub.as_mut() {
        if sub.replay.missed {
            c.wbuf
                .extend_from_slice(&encode_ws_data(true, b"{\"missed\":true}"));
        }
        for m in std::mem::take(&mut sub.replay.messages) {
            c.wbuf.extend_from_slice(m.ws_frame());
        }
    }
    // `/echo` keeps pushwire-ws's default limits (16 MiB frames, 64 MiB messages); `/ws`
    // takes no more than `/publish` would.
    let mut reader = if echo {
        FrameReader::new(16 << 20, 64 << 20)
    } else {
        FrameReader::new(shared.cfg.max_ws_message, shared.cfg.max_ws_message)
    };
    let ping_every = shared.cfg.ws_ping_interval;
    let mut last_heard = Instant::now();
    let mut tick = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let close_code: u16 = 'pump: loop {
        if *c.shutdown.borrow() {
            break 'pump code::GOING_AWAY;
        }
        // Parse everything buffered before waiting again (the upgrade's leftovers included).
        loop {
            if c.wbuf.len() >= HIGH_WATER {
                break;
            }
            match reader.read(&mut c.rbuf) {
                Ok(None) => break,
                Ok(Some(ev)) => match (matches!(ev, Incoming::Text(_)), ev) {
                    (text_frame, Incoming::Text(data) | Incoming::Binary(data)) if echo => {
                        let op = if text_frame { 0x1 } else { 0x2 };
                        encode_ws_frame(op, &data, &mut c.wbuf);
                    }
                    (text_frame, Incoming::Text(data) | Incoming::Binary(data)) => {
                        // Text stays text, binary stays binary, whatever the bytes.
                        let kind = if text_frame { Kind::Text } else { Kind::Binary };
                        let payload = Payload::new(data, kind);
                        if shared.hub.publish(&topic, payload).await.is_err() {
                            break 'pump code::INTERNAL;
                        }
                    }
                    (_, Incoming::Ping(p)) => encode_ws_frame(0xA, &p, &mut c.wbuf),
                    (_, Incoming::Pong) => {}
                    (_, Incoming::Close(code)) => {
                        let reply = if code == 1005 { code::NORMAL } else { code };
                        encode_close(reply, &mut c.wbuf);
                        let _ = c.flush().await;
                        return Ok(Next::Close);
                    }
                },
                Err(e) => break 'pump e.0,
            }
        }
        let pull = c.wbuf.len() < HIGH_WATER;
        let can_read = c.wbuf.len() < HIGH_WATER;
        reserve(&mut c.rbuf);
        tokio::select! {
            biased;
            _ = c.shutdown.changed() => break 'pump code::GOING_AWAY,
            ev = io_step(&mut c.io, &mut c.rbuf, &mut c.wbuf, can_read) => match ev {
                IoEvent::Wrote(Ok(0) | Err(_)) | IoEvent::Read(Ok(0) | Err(_)) => {
                    return Ok(Next::Close);
                }
                IoEvent::Read(Ok(_)) => last_heard = Instant::now(),
                IoEvent::Wrote(Ok(_)) => {}
            },
            m = recv_opt(&mut sub), if pull => match m {
                Ok(Some(m)) => c.wbuf.extend_from_slice(m.ws_frame()),
                Ok(None) => break 'pump code::GOING_AWAY,
                Err(_) => {
                    debug(format_args!("websocket subscriber cut: too slow"));
                    break 'pump code::POLICY;
                }
            },
            _ = tick.tick() => {
                if last_heard.elapsed() >= ping_every * 2 {
                    break 'pump code::POLICY; // dead peer: no pong for two intervals
                }
                if last_heard.elapsed() >= ping_every {
                    encode_ws_frame(0x9, b"", &mut c.wbuf);
                }
            }
        }
    };
    close_with(c, close_code).await;
    Ok(Next::Close)
}

async fn recv_opt(
    sub: &mut Option<crate::hub::Subscription>,
) -> Result<Option<std::sync::Arc<crate::hub::Message>>, crate::hub::Lagged> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits briefly for the peer's close (or EOF) before dropping the
/// connection, so the close code is not lost to a reset.
async fn close_with<S: AsyncRead + AsyncWrite + Unpin + Send>(c: &mut Conn<S>, code: u16) {
    encode_close(code, &mut c.wbuf);
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
