//! One HTTP/1.1 connection: keep-alive, pipelining, timeouts, errors, dispatch.
//!
//! The connection owns its read buffer (`rbuf`, filled only by `read_buf`, so a `select!` that
//! drops a read loses nothing) and its write buffer (`wbuf`, drained by cancel-safe
//! `write_buf`). Requests are answered strictly in order; a pipelined request simply waits in
//! `rbuf` until its predecessor is answered. Any framing error is terminal: its status goes
//! out (if no byte of a response did yet), then the connection closes.
//!
//! Pipelined responses go out together: while `rbuf` already holds the next complete request
//! head (and `wbuf` is under [`HOLD_LIMIT`]), a response stays in `wbuf` and the next one is
//! appended behind it, so a 16-deep pipeline costs one `writev` instead of sixteen (hyper's
//! `pipeline_flush`). A held response is written before anything waits: before reading the
//! socket (head or body), before a hub operation or file read that cannot complete at once
//! ([`flush_unless_ready`]), before the long-poll wait, before the connection is handed to the
//! WebSocket or SSE pump, and before shutdown. Everything goes through the one `wbuf` in request
//! order, so nothing can overtake a held response either.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::cursor::{Cursor, valid_topic};
use crate::listener::{Shared, debug};
use crate::router::{Access, Route, check_access_of};
use crate::wire::{Head, HeadLimits, HeadReader, HeadView, HttpError, Request, body_kind_of};
use pushwire_http::{BodyChunk, BodyDecoder};

/// Responses are held back for the next pipelined request only while `wbuf` is under this
/// many bytes (64 KiB, the streams' high-water mark): past it, writing beats batching.
pub(crate) const HOLD_LIMIT: usize = 64 * 1024;

/// Room taken in `wbuf` once a response is held for a pipeline (8 KiB: 16 `/healthz`
/// answers); it is given back with the buffer when the connection goes idle.
const PIPELINE_RESERVE: usize = 8 * 1024;

/// The start of every `200` JSON answer ([`Reply::json`]).
const JSON_200_PREFIX: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n";

/// A connection's lasting wait for shutdown: it joins the watch's waiter list once, at the
/// first keep-alive idle read, and stays there. A `changed()` per idle read joined the list
/// and left it again on every plain keep-alive request (a random shard, a lock each way, a
/// waker clone and drop: ~330 of a keep-alive GET's ~7,400 user-space instructions in
/// callgrind); polled again, this one only checks its entry.
type IdleShutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What a handler tells the loop to do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection (after flushing).
    Close,
}

pub(crate) struct Conn<S> {
    pub(crate) io: S,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) shared: Arc<Shared>,
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    head: HeadReader,
    limits: HeadLimits,
    /// The head/idle timer, kept for the connection's life (see `read_head`).
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The shutdown wait of keep-alive idle reads, made at the first one and kept (see
    /// `read_head`).
    idle_shutdown: Option<IdleShutdown>,
    /// The request being answered is HTTP/1.0: keep-alive must be said explicitly.
    http10: bool,
}

/// A response about to be written.
///
/// The common replies (JSON, errors, pages) name only static header fields, so building and
/// encoding one allocates nothing but its body: the head is written straight into `wbuf`
/// (`Conn::send`). Rarer fields (CORS, `Allow`, `ETag`, `Retry-After`) go in `headers`.
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// `Content-Type`; empty for none.
    pub(crate) content_type: &'static str,
    /// `Cache-Control`, if any.
    pub(crate) cache_control: Option<&'static str>,
    /// Further fields, in order.
    pub(crate) headers: Vec<(&'static str, Cow<'static, str>)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type,
            cache_control: None,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn json(body: impl Into<Bytes>) -> Reply {
        Reply {
            cache_control: Some("no-store"),
            ..Reply::new(200, "application/json", body)
        }
    }

    /// A plain-text error whose body names the status (never echoes the request).
    pub(crate) fn error(status: u16) -> Reply {
        Reply::new(
            status,
            "text/plain; charset=utf-8",
            format!("{status} {}\n", crate::wire::reason(status)),
        )
    }

    pub(crate) fn header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Appends this reply's head to `dst`: status line, fields, `Content-Length: len` (when
    /// given), `Connection` (when given), blank line. `false` (and a bodiless 500 written
    /// instead) when a field value could inject: then no body may follow.
    pub(crate) fn encode_head(
        &self,
        len: Option<u64>,
        connection: Option<&str>,
        dst: &mut BytesMut,
    ) -> bool {
        use crate::wire::{fallback_500, put_decimal, put_field};
        let start = dst.len();
        if self.status == 200
            && self.content_type == "application/json"
            && self.cache_control == Some("no-store")
        {
            // Every JSON answer starts the same way: one copy instead of nine small ones.
            dst.extend_from_slice(JSON_200_PREFIX);
        } else {
            self.put_static_head(dst);
        }
        let fields = self
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_ref()))
            .chain(connection.map(|v| ("Connection", v)));
        for (name, value) in fields {
            if !put_field(name, value.as_bytes(), dst) {
                fallback_500(start, dst);
                return false;
            }
        }
        if let Some(len) = len {
            dst.extend_from_slice(b"Content-Length: ");
            put_decimal(len, dst);
            dst.extend_from_slice(b"\r\n");
        }
        dst.extend_from_slice(b"\r\n");
        true
    }

    /// The status line, `Content-Type` and `Cache-Control`.
    fn put_static_head(&self, dst: &mut BytesMut) {
        use crate::wire::put_status_line;
        put_status_line(self.status, dst);
        // `Content-Type` and `Cache-Control` are constants of this crate (`&'static str`),
        // never taken from a request: written without the per-byte check.
        if !self.content_type.is_empty() {
            put_static_field(b"Content-Type: ", self.content_type, dst);
        }
        if let Some(v) = self.cache_control {
            put_static_field(b"Cache-Control: ", v, dst);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    pub(crate) fn new(io: S, shared: Arc<Shared>) -> Conn<S> {
        let shutdown = shared.shutdown.clone();
        let limits = head_limits(&shared.cfg);
        let timer = Box::pin(tokio::time::sleep_until(
            Instant::now() + shared.cfg.head_timeout,
        ));
        Conn {
            io,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            shared,
            shutdown,
            head: HeadReader::new(&limits),
            limits,
            timer,
            idle_shutdown: None,
            http10: false,
        }
    }

    /// Serves requests until the peer leaves, an error ends the connection, or shutdown.
    /// Serves the connection to its end. Not an `async fn` taking `self`: such a future keeps
    /// its argument and the local it is moved into, two copies of this `Conn` in every
    /// connection's task; the block below holds one and lends it out.
    #[expect(
        clippy::manual_async_fn,
        reason = "an async fn would store the Conn twice (see above)"
    )]
    pub(crate) fn serve(mut self) -> impl std::future::Future<Output = ()> {
        async move { self.serve_loop().await }
    }

    async fn serve_loop(&mut self) {
        let mut first = true;
        loop {
            let req = match self.read_head(first).await {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    debug(format_args!("request error: {e}"));
                    let _ = self.send(Reply::error(e.status()), false, false).await;
                    break;
                }
            };
            first = false;
            match self.dispatch(req).await {
                Ok(Next::KeepAlive) => {}
                Ok(Next::Close) => break,
                Err(e) => {
                    debug(format_args!("connection error: {e}"));
                    return;
                }
            }
        }
        // Responses held for a pipeline that ended (peer gone, shutdown) still go out first.
        let _ = self.flush().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
    }

    /// Whether shutdown has begun. One atomic load while it has not: `borrow()` takes the
    /// watch's read lock, two atomic read-modify-writes per request on a cache line every
    /// connection shares (a fifth of `serve_loop`'s own time in the pipelined-GET profile).
    /// `true` is the watch's only change, and a connection that saw it through `changed()`
    /// (an idle read, a long poll) closes, so an unchanged version means "not yet".
    fn shutting_down(&self) -> bool {
        match self.shutdown.has_changed() {
            Ok(false) => false,
            _ => *self.shutdown.borrow(),
        }
    }

    /// Reads until a whole head is buffered. `Ok(None)`: the connection should close quietly
    /// (peer gone, idle timeout, shutdown while idle).
    async fn read_head(&mut self, first: bool) -> Result<Option<Head>, HttpError> {
        // A pipelined request is already here: no clock read, no deadline.
        if let Some(req) = self.head.parse_head(&mut self.rbuf)? {
            return Ok(Some(req));
        }
        let cfg = &self.shared.cfg;
        let now = Instant::now();
        // The slowloris clock runs from the first byte of a request (from accept for the first
        // request); before that an idle keep-alive connection has the longer idle timeout.
        let mut started = first || !self.rbuf.is_empty();
        let mut deadline = now
            + if started {
                cfg.head_timeout
            } else {
                cfg.idle_timeout
            };
        loop {
            if let Some(req) = self.head.parse_head(&mut self.rbuf)? {
                return Ok(Some(req));
            }
            if !started && !self.rbuf.is_empty() {
                started = true;
                deadline = Instant::now() + self.shared.cfg.head_timeout;
            }
            if self.rbuf.is_empty() && self.shutting_down() {
                return Ok(None);
            }
            // Responses held back for this pipeline go out before we wait for more of it.
            if !self.wbuf.is_empty() && self.flush().await.is_err() {
                return Ok(None);
            }
            let idle = self.rbuf.is_empty();
            if idle {
                // An idle keep-alive connection holds no buffer: the read below goes to the
                // stack and only what arrives is kept (10k idle peers cost no 80 MB).
                self.rbuf = BytesMut::new();
                if self.wbuf.is_empty() {
                    self.wbuf = BytesMut::new();
                }
            }
            // One timer per connection: moved earlier at once when a deadline comes before the
            // armed one, while a later deadline (the usual case: each keep-alive request
            // pushes the idle deadline on) is only checked when the armed one fires. A
            // `sleep_until` per request was a timer-wheel insert and removal per request.
            if self.timer.deadline() > deadline {
                self.timer.as_mut().reset(deadline);
            }
            // Between keep-alive requests the lasting shutdown wait is used; the first
            // request's read (and a connection that never has a second, like a WebSocket's)
            // makes none.
            if idle && !first && self.idle_shutdown.is_none() {
                let mut rx = self.shutdown.clone();
                self.idle_shutdown = Some(Box::pin(async move {
                    // Closed or changed: either way the server is going away.
                    let _ = rx.changed().await;
                }));
            }
            let lasting = &mut self.idle_shutdown;
            tokio::select! {
                // Fixed order: no random start per request (tokio draws one otherwise).
                biased;
                r = read_once(&mut self.io, &mut self.rbuf) => match r {
                    Ok(0) | Err(_) => return Ok(None),
                    Ok(_) => {}
                },
                _ = self.timer.as_mut() => {
                    if Instant::now() < deadline {
                        self.timer.as_mut().reset(deadline);
                        continue;
                    }
                    return if started { Err(HttpError::Timeout) } else { Ok(None) };
                }
                // Shutdown closes a connection between requests, never one mid-head.
                _ = self.shutdown.changed(), if idle && lasting.is_none() => return Ok(None),
                _ = poll_lasting(lasting), if idle => return Ok(None),
            }
        }
    }

    /// Reads the whole body (bounded by `max_body`), answering `100 Continue` first when the
    /// client waits for it.
    async fn read_body(&mut self, req: &Head) -> Result<Bytes, HttpError> {
        let kind = body_kind_of(req)?;
        if kind == pushwire_http::BodyKind::None {
            return Ok(Bytes::new());
        }
        let mut dec = BodyDecoder::new(kind, &self.limits);
        let mut out = BytesMut::new();
        let mut asked_continue = false;
        let deadline = Instant::now() + self.shared.cfg.head_timeout;
        loop {
            loop {
                match dec.decode(&mut self.rbuf)? {
                    Some(BodyChunk::Data(d)) => out.extend_from_slice(&d),
                    Some(BodyChunk::End) => return Ok(out.freeze()),
                    None => break,
                }
            }
            if dec.is_done() {
                return Ok(out.freeze());
            }
            if !asked_continue && req.version() == 1 && expects_continue(req) {
                asked_continue = true;
                self.write_raw(pushwire_http::CONTINUE_RESPONSE)
                    .await
                    .map_err(|_| HttpError::Eof)?;
            }
            // A held response must not wait for this body (the client may wait for it first).
            if !self.wbuf.is_empty() {
                self.flush().await.map_err(|_| HttpError::Eof)?;
            }
            reserve(&mut self.rbuf);
            let n = tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.rbuf))
                .await
                .map_err(|_| HttpError::Timeout)?
                .map_err(|_| HttpError::Eof)?;
            if n == 0 {
                return Err(HttpError::Eof);
            }
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.wbuf.extend_from_slice(bytes);
        self.flush().await
    }

    /// Writes out `wbuf`, giving up after `write_timeout` on a peer that does not read.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        // The usual case: the socket takes it all at once. Tried first without the timeout
        // (a timer handle per response) and as a plain `send` of the one buffer (tokio's
        // `write_all_buf` makes it a `writev`, which costs the kernel more per call).
        if self.try_flush_now().await? {
            return Ok(());
        }
        // Boxed: rarely taken, and inline its timer would sit in every connection's future.
        Box::pin(self.flush_waiting()).await
    }

    /// Writes out `wbuf` when the socket made us wait, under `write_timeout`.
    async fn flush_waiting(&mut self) -> std::io::Result<()> {
        let t = self.shared.cfg.write_timeout;
        match tokio::time::timeout(t, async {
            self.io.write_all_buf(&mut self.wbuf).await?;
            self.io.flush().await
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// Writes what the socket takes of `wbuf` and flushes, without waiting: `true` once
    /// everything went out, `false` when the socket wants us to wait (nothing is lost: what
    /// did not go stays in `wbuf`).
    async fn try_flush_now(&mut self) -> std::io::Result<bool> {
        use bytes::Buf as _;
        use std::pin::Pin;
        use std::task::Poll;
        let (io, wbuf) = (&mut self.io, &mut self.wbuf);
        std::future::poll_fn(|cx| {
            while !wbuf.is_empty() {
                match Pin::new(&mut *io).poll_write(cx, &wbuf[..]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Ok(n)) => wbuf.advance(n.min(wbuf.len())),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Ready(Ok(false)),
                }
            }
            match Pin::new(&mut *io).poll_flush(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(true)),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Ready(Ok(false)),
            }
        })
        .await
    }

    /// Writes `reply` (head only for `HEAD`), with `Content-Length` and, unless `keep_alive`,
    /// `Connection: close`.
    pub(crate) async fn send(
        &mut self,
        reply: Reply,
        keep_alive: bool,
        head_only: bool,
    ) -> std::io::Result<()> {
        let len = (reply.status != 304 && reply.status >= 200).then_some(reply.body.len() as u64);
        let ok = reply.encode_head(len, self.connection_field(keep_alive), &mut self.wbuf);
        if ok && !head_only && reply.status != 304 {
            self.wbuf.extend_from_slice(&reply.body);
        }
        self.sent(keep_alive).await
    }

    /// Writes a `200` JSON reply whose body `body` appends straight to `wbuf` (no body
    /// buffer of its own: building the JSON in a `BytesMut`, freezing it and copying it into
    /// `wbuf` was three allocations per answer). `reply` gives the head's fields; its own body
    /// is ignored.
    async fn send_json(
        &mut self,
        reply: Reply,
        body: impl FnOnce(&mut BytesMut),
        keep_alive: bool,
        head_only: bool,
    ) -> std::io::Result<()> {
        let connection = self.connection_field(keep_alive);
        put_json(&mut self.wbuf, &reply, connection, head_only, body);
        self.sent(keep_alive).await
    }

    /// After a response is in `wbuf`: holds it while the next pipelined request is already
    /// here (it can be answered without waiting, so both go out in one write), else writes.
    async fn sent(&mut self, keep_alive: bool) -> std::io::Result<()> {
        if keep_alive && self.wbuf.len() < HOLD_LIMIT && self.head.has_complete_head(&self.rbuf) {
            // More responses follow into this buffer: one step of growth now rather than a
            // doubling (and copy) every few responses.
            if self.wbuf.capacity() < PIPELINE_RESERVE {
                self.wbuf.reserve(PIPELINE_RESERVE - self.wbuf.len());
            }
            return Ok(());
        }
        self.flush().await
    }

    /// The `Connection` field a response needs: `close` when the connection ends after it,
    /// `keep-alive` for an HTTP/1.0 client that keeps it, none otherwise.
    pub(crate) fn connection_field(&self, keep_alive: bool) -> Option<&'static str> {
        if !keep_alive {
            Some("close")
        } else if self.http10 {
            Some("keep-alive")
        } else {
            None
        }
    }

    /// Writes out responses held back for pipelining (nothing when `wbuf` is empty); called
    /// before the connection is handed to a pump or a wait that would otherwise delay them.
    pub(crate) async fn flush_held(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.flush().await
    }

    async fn dispatch(&mut self, req: Head) -> std::io::Result<Next> {
        let route = Route::of_bytes(req.path_bytes());
        self.http10 = req.version() == 0;
        let keep_alive = req.keep_alive() && !self.shutting_down();
        let method = req.method();
        let head_only = method == "HEAD";
        let (allowed, options) = (route.allows(method), method == "OPTIONS");
        // The body is read (and bounded) before anything else, so the next pipelined request
        // starts where this one ends whatever the handler does.
        let body = match self.read_body(&req).await {
            Ok(b) => b,
            Err(e) => {
                self.send(Reply::error(e.status()), false, false).await?;
                return Ok(Next::Close);
            }
        };
        let next = if keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        };
        let is_ws_route = matches!(route, Route::Ws | Route::Echo);
        if route == Route::Other {
            let req = req.into_request();
            return Box::pin(crate::files::serve(
                self, &req, route, keep_alive, head_only,
            ))
            .await;
        }
        if !allowed {
            let reply = Reply::error(405).header("Allow", route.allow());
            self.send(reply, keep_alive, head_only).await?;
            return Ok(next);
        }
        let access = match check_access_of(&req, route, &self.shared.cfg, self.shared.scheme) {
            Ok(a) => a,
            Err(status) => {
                let mut reply = Reply::error(status);
                if status == 401 {
                    reply = reply.header("WWW-Authenticate", "Bearer");
                }
                self.send(reply, keep_alive && !is_ws_route, head_only)
                    .await?;
                return Ok(if is_ws_route { Next::Close } else { next });
            }
        };
        if options {
            let reply = preflight(&req, route, &access);
            self.send(reply, keep_alive, false).await?;
            return Ok(next);
        }
        match route {
            Route::Index | Route::Other => {
                let req = req.into_request();
                let page = crate::files::serve(self, &req, route, keep_alive, head_only);
                return Box::pin(page).await;
            }
            Route::Health => {
                drop(req);
                let h = self.shared.hub.health();
                let reply = with_cors(Reply::json(Bytes::new()), &access);
                let connection = self.connection_field(keep_alive);
                put_health(
                    &mut self.wbuf,
                    &reply,
                    connection,
                    head_only,
                    &h,
                    &self.shared,
                );
                self.sent(keep_alive).await?;
            }
            // Boxed like the handlers below: each holds a hub future and a response write,
            // which inline would add to every connection's future.
            Route::Publish => Box::pin(self.publish(&req, body, &access, keep_alive)).await?,
            Route::Poll => Box::pin(self.poll(&req, &access, keep_alive, head_only)).await?,
            // The long-lived handlers take the request by value and drop it once they have
            // what they need: it would otherwise stay allocated for the life of every idle
            // stream. Their futures are boxed: inline, the largest (WebSocket, 2.8 KB) set
            // the size of every connection's task, a plain keep-alive one included, and tokio
            // moves that much on every spawn.
            Route::LongPoll => {
                return Box::pin(self.long_poll(req, &access, keep_alive)).await;
            }
            Route::Events => {
                let req = req.into_request();
                return Box::pin(crate::stream::sse(self, req, &access)).await;
            }
            Route::Ws => {
                let req = req.into_request();
                return Box::pin(crate::stream::websocket(self, req, &access, false)).await;
            }
            Route::Echo => {
                let req = req.into_request();
                return Box::pin(crate::stream::websocket(self, req, &access, true)).await;
            }
        }
        Ok(next)
    }

    async fn publish(
        &mut self,
        req: &Head,
        body: Bytes,
        access: &Access,
        keep_alive: bool,
    ) -> std::io::Result<()> {
        let topic = match topic_of(req) {
            Ok(t) => t,
            Err(r) => return self.send(with_cors(r, access), keep_alive, false).await,
        };
        let fut = self.shared.hub.publish(&topic, body.into());
        let t = self.shared.cfg.write_timeout;
        match flush_unless_ready(&mut self.io, &mut self.wbuf, t, fut).await {
            Ok(m) => {
                let reply = with_cors(Reply::json(Bytes::new()), access);
                let id = m.position();
                self.send_json(
                    reply,
                    |out| pushwire_poll::json::encode_published(&id, out),
                    keep_alive,
                    false,
                )
                .await
            }
            Err(_) => {
                let r = with_cors(unavailable(self.shared.cfg.retry_after_secs), access);
                self.send(r, keep_alive, false).await
            }
        }
    }

    async fn poll(
        &mut self,
        req: &Head,
        access: &Access,
        keep_alive: bool,
        head_only: bool,
    ) -> std::io::Result<()> {
        let (topic, since) = match topic_and_since_of(req, &["since"]) {
            Ok(x) => x,
            Err(r) => return self.send(with_cors(r, access), keep_alive, head_only).await,
        };
        let fut = self
            .shared
            .hub
            .read(&topic, since, self.shared.cfg.max_batch);
        let t = self.shared.cfg.write_timeout;
        match flush_unless_ready(&mut self.io, &mut self.wbuf, t, fut).await {
            Ok(b) => {
                let reply = with_cors(Reply::json(Bytes::new()), access);
                self.send_json(
                    reply,
                    |out| crate::json::batch_into(&b, out),
                    keep_alive,
                    head_only,
                )
                .await
            }
            Err(_) => {
                let r = with_cors(unavailable(self.shared.cfg.retry_after_secs), access);
                self.send(r, keep_alive, head_only).await
            }
        }
    }

    async fn long_poll(
        &mut self,
        req: Head,
        access: &Access,
        keep_alive: bool,
    ) -> std::io::Result<Next> {
        let next = if keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        };
        let (topic, since) = match topic_and_since_of(&req, &["since"]) {
            Ok(x) => x,
            Err(r) => {
                self.send(with_cors(r, access), keep_alive, false).await?;
                return Ok(next);
            }
        };
        let cfg = &self.shared.cfg;
        let wait = match req.param("timeout") {
            None => cfg.long_poll_default,
            Some(t) => match t.parse::<u64>() {
                // Larger waits are clamped to the maximum (as pushwire-poll does).
                Ok(ms) => Duration::from_millis(ms).min(cfg.long_poll_max),
                Err(_) => {
                    let r = with_cors(Reply::error(400), access);
                    self.send(r, keep_alive, false).await?;
                    return Ok(next);
                }
            },
        };
        drop(req);
        let max = cfg.max_batch;
        let deadline = Instant::now() + wait;
        // The wait below writes nothing: what the pipeline owes goes out now.
        self.flush_held().await?;
        let shared = self.shared.clone();
        let _g = crate::listener::Gauge::up(&shared.stats.long_poll);
        // "Now" must be pinned before waiting, so a shutdown answer still carries the right
        // `next` and a message that arrives meanwhile is not skipped.
        let since = match since {
            Cursor::Now => match shared.hub.read(&topic, Cursor::Now, 0).await {
                Ok(b) => Cursor::parse(Some(&b.next)).unwrap_or(Cursor::Now),
                Err(_) => {
                    let r = with_cors(unavailable(shared.cfg.retry_after_secs), access);
                    self.send(r, keep_alive, false).await?;
                    return Ok(Next::Close);
                }
            },
            c => c,
        };
        // The deadline runs on the connection's one timer, moved only when it would fire
        // later (as in `read_head`): a `sleep_until` per wait was a timer-wheel insert and
        // removal per answer. The hub is told it need not keep time itself.
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        let mut stopping = false;
        let mut peer_gone = false;
        let mut expired = false;
        let result = {
            let wait = shared
                .hub
                .wait_untimed(&topic, since, max, deadline.into_std());
            tokio::pin!(wait);
            loop {
                let can_read = self.rbuf.len() < self.shared.cfg.max_head_bytes;
                tokio::select! {
                    // The wait first: woken by a publish, the answer goes without polling the
                    // socket, the timers and the shutdown watch again (or drawing a random
                    // branch order).
                    biased;
                    r = &mut wait => break Some(r),
                    // The deadline passed: the answer is what is there (nothing, usually).
                    _ = self.timer.as_mut() => {
                        if Instant::now() < deadline {
                            self.timer.as_mut().reset(deadline);
                            continue;
                        }
                        break None;
                    }
                    // A token that expires mid-wait ends the wait with a 401.
                    _ = crate::stream::sleep_until_opt(access.expires_at) => {
                        expired = true;
                        break None;
                    }
                    _ = self.shutdown.changed(), if !stopping => {
                        stopping = true;
                        break None;
                    }
                    // Through the per-poll scratch: `read_buf` reserved 64 bytes of `rbuf`
                    // up front, an allocation per wait that every idle long poll kept.
                    r = read_once(&mut self.io, &mut self.rbuf), if can_read && !peer_gone => {
                        // A pipelined request stays buffered; a closed peer needs no answer.
                        if matches!(r, Ok(0) | Err(_)) {
                            peer_gone = true;
                            break None;
                        }
                    }
                }
            }
        };
        if peer_gone {
            return Ok(Next::Close);
        }
        if expired {
            let r = Reply::error(401).header("WWW-Authenticate", "Bearer");
            self.send(with_cors(r, access), keep_alive, false).await?;
            return Ok(next);
        }
        let result = match result {
            Some(r) => r,
            None => shared.hub.read(&topic, since, max).await,
        };
        let keep = keep_alive && !stopping;
        match result {
            Ok(b) => {
                let reply = with_cors(Reply::json(Bytes::new()), access);
                self.send_json(reply, |out| crate::json::batch_into(&b, out), keep, false)
                    .await?;
            }
            Err(_) => {
                let r = with_cors(unavailable(shared.cfg.retry_after_secs), access);
                self.send(r, keep, false).await?;
            }
        }
        Ok(if keep { Next::KeepAlive } else { Next::Close })
    }
}

/// Appends `name` (with its `": "`) and a value this crate chose.
fn put_static_field(name: &[u8], value: &'static str, dst: &mut BytesMut) {
    debug_assert!(crate::wire::put_field(
        "X",
        value.as_bytes(),
        &mut BytesMut::new()
    ));
    dst.extend_from_slice(name);
    dst.extend_from_slice(value.as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// Makes room for a read without letting a buffer grow by more than one 8 KiB step per read;
/// the limits are checked on what is buffered after each read.
pub(crate) fn reserve(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(8 * 1024);
    }
}

pub(crate) fn unavailable(retry_after: u32) -> Reply {
    Reply::error(503).header("Retry-After", retry_after.to_string())
}

pub(crate) fn with_cors(mut reply: Reply, access: &Access) -> Reply {
    if let Some(o) = &access.cors_origin {
        reply
            .headers
            .push(("Access-Control-Allow-Origin", o.clone().into()));
        reply
            .headers
            .push(("Access-Control-Allow-Credentials", "true".into()));
        reply.headers.push(("Vary", "Origin".into()));
    }
    reply
}

/// `OPTIONS`: a CORS preflight gets the allowed methods and headers; a plain `OPTIONS` its
/// `Allow`.
fn preflight(req: &impl HeadView, route: Route, access: &Access) -> Reply {
    let mut r = Reply::new(204, "", Bytes::new()).header("Allow", route.allow());
    if req.first_header("access-control-request-method").is_some() {
        if let Some(o) = &access.cors_origin {
            r.headers
                .push(("Access-Control-Allow-Origin", o.clone().into()));
            r.headers
                .push(("Access-Control-Allow-Credentials", "true".into()));
        }
        r.headers
            .push(("Access-Control-Allow-Methods", route.allow().into()));
        r.headers.push((
            "Access-Control-Allow-Headers",
            "Content-Type, Last-Event-ID, Authorization".into(),
        ));
        r.headers.push(("Access-Control-Max-Age", "600".into()));
        r.headers.push(("Vary", "Origin".into()));
    }
    r
}

/// The `topic` parameter (default `default`), validated, or a 400.
pub(crate) fn topic_of(req: &impl HeadView) -> Result<String, Reply> {
    let topic = req.param("topic");
    let topic = topic.as_deref().unwrap_or("default");
    if valid_topic(topic) {
        Ok(topic.to_string())
    } else {
        Err(Reply::error(400))
    }
}

/// The topic and the first present cursor among `names` (in order; none = `Now`), or a 400.
pub(crate) fn topic_and_since(req: &Request, names: &[&str]) -> Result<(String, Cursor), Reply> {
    topic_and_since_of(req, names)
}

/// [`topic_and_since`] for either form of the request.
fn topic_and_since_of(req: &impl HeadView, names: &[&str]) -> Result<(String, Cursor), Reply> {
    let topic = topic_of(req)?;
    for name in names {
        if let Some(v) = req.param(name) {
            return Cursor::parse(Some(&v))
                .map(|c| (topic, c))
                .map_err(|_| Reply::error(400));
        }
    }
    Ok((topic, Cursor::Now))
}

/// Appends the `/healthz` response: the document is written on the stack first (it is small,
/// and then its length is known before the head), else as [`put_json`] does.
fn put_health(
    wbuf: &mut BytesMut,
    reply: &Reply,
    connection: Option<&str>,
    head_only: bool,
    h: &crate::hub::HubHealth,
    shared: &Shared,
) {
    let mut doc = [0u8; 512];
    match crate::json::health_in(h, &shared.stats, &mut doc) {
        Some(n) => {
            let body = doc.get(..n).unwrap_or(&[]);
            wbuf.reserve(256 + body.len());
            let ok = reply.encode_head(Some(body.len() as u64), connection, wbuf);
            if ok && !head_only {
                wbuf.extend_from_slice(body);
            }
        }
        None => put_json(wbuf, reply, connection, head_only, |out| {
            crate::json::health_into(h, &shared.stats, out)
        }),
    }
}

/// Appends a `200` JSON response to `wbuf`: the body first, written by `body` straight into
/// the buffer, then the head (which needs its length), then the two swapped in place
/// (`rotate_left`, a copy of a few hundred bytes). A head that cannot be encoded is a
/// bodiless 500 and `body`'s bytes go; so do they for `HEAD`.
fn put_json(
    wbuf: &mut BytesMut,
    reply: &Reply,
    connection: Option<&str>,
    head_only: bool,
    body: impl FnOnce(&mut BytesMut),
) {
    // Room for a small body and its head at once: growing between the two was a `realloc`.
    wbuf.reserve(512);
    let start = wbuf.len();
    body(wbuf);
    let body_len = wbuf.len() - start;
    let ok = reply.encode_head(Some(body_len as u64), connection, wbuf);
    if let Some(written) = wbuf.get_mut(start..) {
        written.rotate_left(body_len);
    }
    if !ok || head_only {
        wbuf.truncate(wbuf.len() - body_len);
    }
}

/// What [`io_step`] did.
pub(crate) enum IoEvent {
    /// `n` bytes of `wbuf` went out (0 = the peer cannot take more, treat as gone).
    Wrote(std::io::Result<usize>),
    /// `n` bytes were appended to `rbuf` (0 = EOF).
    Read(std::io::Result<usize>),
}

/// A frame that still needs more than this many bytes is read straight into `rbuf` (8 KiB).
const DIRECT_READ_MIN: usize = 8 * 1024;
/// At most this much of `rbuf` is reserved ahead for one large frame (1 MiB): the frame's
/// length already passed the WebSocket limits, this only bounds one step of growth.
const DIRECT_READ_MAX: usize = 1024 * 1024;

/// Writes some of `wbuf` or reads into `rbuf`, whichever the socket allows first.
///
/// One future drives both directions of the same stream, so a `select!` arm can wait for
/// either without splitting the stream. Cancel-safe: bytes move only in the poll that returns
/// `Ready`.
///
/// `want` is how many more bytes the frame being received still needs (0 when unknown).
/// Small reads go through a scratch buffer that lives only during one poll (an idle
/// connection keeps no read buffer); a large frame instead gets room reserved in `rbuf` and is
/// read straight into it (`read_buf`), in reads as large as the socket gives: a 1 MiB
/// WebSocket echo did ~128 reads of 8 KiB per message, each copied once more.
pub(crate) async fn io_step<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    can_read: bool,
    want: usize,
) -> IoEvent {
    use bytes::Buf as _;
    use std::future::Future as _;
    use std::pin::Pin;
    use std::task::Poll;
    std::future::poll_fn(|cx| {
        if !wbuf.is_empty()
            && let Poll::Ready(r) = Pin::new(&mut *io).poll_write(cx, &wbuf[..])
        {
            if let Ok(n) = r {
                wbuf.advance(n.min(wbuf.len()));
            }
            return Poll::Ready(IoEvent::Wrote(r));
        }
        if can_read && want > DIRECT_READ_MIN {
            rbuf.reserve(want.min(DIRECT_READ_MAX));
            // A fresh `read_buf` future per poll, polled once: it fills `rbuf` only when it
            // returns `Ready`, so dropping it while pending loses nothing.
            let read = std::pin::pin!(io.read_buf(&mut *rbuf));
            if let Poll::Ready(r) = read.poll(cx) {
                return Poll::Ready(IoEvent::Read(r));
            }
        } else if can_read {
            // The scratch buffer lives only during this poll: held across an await it would sit
            // in every connection's future (8 KiB per idle connection), and zeroing it on
            // every step was most of the user time in SSE fan-out (pushwire-bench profile).
            let mut tmp = [std::mem::MaybeUninit::<u8>::uninit(); 8 * 1024];
            let mut rb = tokio::io::ReadBuf::uninit(&mut tmp);
            if let Poll::Ready(r) = Pin::new(&mut *io).poll_read(cx, &mut rb) {
                let n = rb.filled().len();
                rbuf.extend_from_slice(rb.filled());
                return Poll::Ready(IoEvent::Read(r.map(|()| n)));
            }
        }
        Poll::Pending
    })
    .await
}

/// Awaits `fut` (a hub operation, a file read); if it cannot complete at once, the responses
/// held back for pipelining are written first, so no wait delays them. A failed write is
/// left for the next flush to report (it fails the same way).
pub(crate) async fn flush_unless_ready<S: AsyncWrite + Unpin, F: std::future::Future>(
    io: &mut S,
    wbuf: &mut BytesMut,
    write_timeout: Duration,
    fut: F,
) -> F::Output {
    use std::task::Poll;
    let mut fut = std::pin::pin!(fut);
    if wbuf.is_empty() {
        return fut.await;
    }
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    if let Poll::Ready(out) = first {
        return out;
    }
    let _ = tokio::time::timeout(write_timeout, async {
        io.write_all_buf(wbuf).await?;
        io.flush().await
    })
    .await;
    fut.await
}

fn expects_continue(req: &Head) -> bool {
    req.first_header("expect")
        .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
}

/// pushwire-http's limits from the server's configuration.
fn head_limits(cfg: &crate::config::Config) -> HeadLimits {
    // `Head` keeps 32-bit positions: a head is at most 4 GiB whatever the configuration.
    HeadLimits::default()
        .with_max_head_bytes(cfg.max_head_bytes.min(u32::MAX as usize))
        .with_max_headers(cfg.max_headers)
        .with_max_body(cfg.max_body as u64)
        .with_head_timeout(cfg.head_timeout)
}

/// Polls the connection's lasting shutdown wait; pending when it has none.
fn poll_lasting(w: &mut Option<IdleShutdown>) -> impl std::future::Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| match w {
        Some(w) => w.as_mut().poll(cx),
        None => std::task::Poll::Pending,
    })
}

/// Reads once into `rbuf` through a scratch buffer that exists only during one poll, so it is
/// neither part of the connection's future (idle connections stay small) nor zeroed per read.
/// Cancel-safe: bytes land in `rbuf` only when the read completes.
fn read_once<'a, S: AsyncRead + Unpin>(
    io: &'a mut S,
    rbuf: &'a mut BytesMut,
) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| {
        let mut tmp = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut rb = tokio::io::ReadBuf::uninit(&mut tmp);
        std::pin::Pin::new(&mut *io)
            .poll_read(cx, &mut rb)
            .map_ok(|()| {
                rbuf.extend_from_slice(rb.filled());
                rb.filled().len()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::test_shared as shared;

    #[test]
    fn json_replies_are_written_head_first_after_what_is_held() {
        let body = |out: &mut BytesMut| out.extend_from_slice(br#"{"a":1}"#);
        let mut wbuf = BytesMut::from(&b"HELD"[..]);
        put_json(&mut wbuf, &Reply::json(Bytes::new()), None, false, body);
        assert_eq!(
            &wbuf[..],
            &b"HELDHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: 7\r\n\r\n{\"a\":1}"[..]
        );
        // HEAD: the same head (length included), no body.
        let mut head = BytesMut::new();
        put_json(
            &mut head,
            &Reply::json(Bytes::new()),
            Some("close"),
            true,
            body,
        );
        assert_eq!(
            &head[..],
            &b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 7\r\n\r\n"[..]
        );
        // A field that would inject: a bodiless 500, and the body is gone too.
        let bad = Reply::json(Bytes::new()).header("X", "a\r\nb");
        let mut out = BytesMut::from(&b"HELD"[..]);
        put_json(&mut out, &bad, None, false, body);
        assert!(out.starts_with(b"HELDHTTP/1.1 500 "));
        assert!(out.ends_with(b"\r\n\r\n"));
    }

    /// Bytes a connection's future may take: 1,672 in a debug build on 2026-11-25, after the
    /// WebSocket, SSE, long-poll and file states were boxed (4,072 before).
    const LIMIT: usize = 2048;

    /// The connection's future is what an idle connection costs (tokio keeps it in the task's
    /// cell): it must not carry buffers, large configs or rarely used states inline. The
    /// 10.7 KiB cells of the first profile were 8 + 4 KiB of read scratch held across awaits.
    #[tokio::test]
    async fn connection_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let fut = Conn::new(server, shared()).serve();
        let size = std::mem::size_of_val(&fut);
        println!("connection future: {size} bytes");
        assert!(
            size <= LIMIT,
            "connection future is {size} bytes, over {LIMIT}"
        );
        drop(fut);
        drop(client);
    }
}
