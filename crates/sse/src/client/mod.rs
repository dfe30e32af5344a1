//! A reconnecting EventSource over tokio (WHATWG HTML §9.2.3, SSE-RULES 27-42).
//!
//! [`EventSource::connect`] (or [`EventSource::builder`]) starts a background task that
//! fetches the stream, feeds the body to an [`EventParser`], and follows the standard's
//! processing model: announce (open), dispatch events, *reestablish* after a network error
//! or the end of the body, *fail* (no reconnect) on a non-200 status or a wrong
//! Content-Type. The task hands everything over as [`ClientEvent`]s through a bounded
//! channel, so a slow reader slows the socket reads down instead of growing a queue.
//!
//! What is decided is decided by pure code: [`classify_response`] (status, redirects,
//! Content-Type), [`Retry`] (delays) and the parser. The task only connects, writes, reads
//! and sleeps.
//!
//! ```no_run
//! use pushwire_sse::client::{ClientEvent, EventSource};
//! # async fn run() -> Result<(), pushwire_sse::Error> {
//! let mut es = EventSource::connect("http://127.0.0.1:3000/events?topic=news")?;
//! while let Some(item) = es.next().await {
//!     match item {
//!         ClientEvent::Message { event, .. } => println!("{}: {}", event.event_type, event.data),
//!         ClientEvent::Failed(e) => eprintln!("gave up: {e}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

mod retry;
#[cfg(feature = "tls")]
pub mod tls;
mod url;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, HeadParser, Headers, Limits, Method, RequestHead, Response,
    Status, encode_request_head, response_body_kind,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub use self::retry::{Retry, RetryPolicy};
pub use self::url::Url;
use crate::config::Config;
use crate::error::{CapacityError, Error, UsageError};
use crate::parser::{EventParser, Item, MessageEvent};

/// A byte stream a [`Connector`] hands back: anything tokio can read and write.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Box<dyn Io>>> + Send + 'a>>;

/// Opens transports for URLs: the seam where TLS plugs in (issue 13).
pub trait Connector: Send + Sync + 'static {
    /// Can this connector open `scheme` (`"http"` / `"https"`) URLs? Checked up front, so
    /// an unsupported scheme fails at [`Builder::connect`] with
    /// [`Error::UnsupportedScheme`].
    fn supports(&self, scheme: &str) -> bool;
    /// Opens a connection to `url`'s host and port, ready for HTTP/1.1.
    fn connect<'a>(&'a self, url: &'a Url) -> ConnectFuture<'a>;
    /// Is this error from [`connect`](Connector::connect) one that a retry would meet again
    /// (the server was reached but refused, like an untrusted TLS certificate)? Such errors
    /// fail the connection as [`Error::Refused`] instead of reconnecting forever. The default
    /// says no: network errors are worth retrying.
    fn is_futile(&self, error: &io::Error) -> bool {
        let _ = error;
        false
    }
}

/// Plain TCP for `http://` URLs (with `TCP_NODELAY`: events are small and latency-bound).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn supports(&self, scheme: &str) -> bool {
        scheme == "http"
    }

    fn connect<'a>(&'a self, url: &'a Url) -> ConnectFuture<'a> {
        Box::pin(async move {
            let host = url.host().trim_start_matches('[').trim_end_matches(']');
            let tcp = tokio::net::TcpStream::connect((host, url.port())).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp) as Box<dyn Io>)
        })
    }
}

/// The `readyState` of an event source (rule 28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    /// Connecting or waiting to reconnect (0).
    Connecting,
    /// A 200 event stream is being read (1).
    Open,
    /// Failed or closed; nothing more will come (2).
    Closed,
}

/// What an [`EventSource`] reports, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connection was announced (rule 36): readyState is now OPEN.
    Open {
        /// The origin of the final URL, after redirects.
        origin: Arc<str>,
    },
    /// An event was dispatched (rule 24).
    Message {
        /// Type, data and last event id.
        event: MessageEvent,
        /// The origin of the final URL, after redirects (rule 24).
        origin: Arc<str>,
    },
    /// A comment line (keep-alive) arrived.
    Comment(String),
    /// An event block broke a [`Config`] limit and was dropped; the stream goes on.
    Skipped(CapacityError),
    /// The connection dropped or could not be made, and will be reestablished after
    /// `delay` (rule 38): readyState is now CONNECTING. `error` is `None` when the body
    /// simply ended.
    Reconnecting {
        /// Why: a network error or timeout, `None` for a clean end of the body.
        error: Option<Error>,
        /// How long until the next attempt.
        delay: Duration,
    },
    /// The connection failed for good (rule 41: non-200, wrong Content-Type, 204, too many
    /// redirects): readyState is now CLOSED and this is the last item.
    Failed(Error),
}

/// Configures and starts an [`EventSource`].
pub struct Builder {
    url: Result<Url, Error>,
    headers: Headers,
    last_event_id: String,
    policy: RetryPolicy,
    config: Config,
    http_limits: Limits,
    read_idle_timeout: Option<Duration>,
    connect_timeout: Duration,
    max_redirects: u32,
    connector: Arc<dyn Connector>,
    jitter: Option<Box<dyn FnMut() -> u64 + Send + Sync>>,
    error: Option<Error>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("last_event_id", &self.last_event_id)
            .field("policy", &self.policy)
            .field("config", &self.config)
            .field("read_idle_timeout", &self.read_idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_redirects", &self.max_redirects)
            .finish_non_exhaustive()
    }
}

impl Builder {
    fn new(url: &str) -> Self {
        Builder {
            url: Url::parse(url),
            headers: Headers::new(),
            last_event_id: String::new(),
            policy: RetryPolicy::default(),
            config: Config::default(),
            http_limits: Limits::default().with_max_body(u64::MAX),
            read_idle_timeout: Some(Duration::from_secs(45)),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 20,
            connector: Arc::new(TcpConnector),
            jitter: None,
            error: None,
        }
    }

    /// Adds a request header (`Authorization`, cookies...). Invalid names or values make
    /// [`Builder::connect`] fail with [`UsageError::Header`]. A `Host`, `Accept` or
    /// `Cache-Control` given here replaces the client's own; `Last-Event-ID` is the same as
    /// [`Builder::last_event_id`] (the client updates it as events arrive).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if name.eq_ignore_ascii_case("last-event-id") {
            return self.last_event_id(value);
        }
        if self.headers.append(name, value).is_err() {
            self.error = Some(UsageError::Header.into());
        }
        self
    }

    /// Starts from this last event id: sent as `Last-Event-ID` from the first request on
    /// (resuming a stream read earlier) and carried by events until the server sets one.
    /// Must not contain NUL, CR or LF (rule 45), else [`UsageError::LastEventId`].
    pub fn last_event_id(mut self, id: &str) -> Self {
        if id.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
            self.error = Some(UsageError::LastEventId.into());
        }
        self.last_event_id = id.to_owned();
        self
    }

    /// Sets the reconnection policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the stream limits.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets the HTTP limits for response heads (`max_body` is ignored: the stream has no end).
    pub fn http_limits(mut self, limits: Limits) -> Self {
        self.http_limits = limits.with_max_body(u64::MAX);
        self
    }

    /// No byte at all (not even a keep-alive comment) for this long counts as a dropped
    /// connection and triggers a reconnect. Default 45 s (three missed 15 s keep-alives,
    /// rule 49). `None`: wait forever.
    pub fn read_idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.read_idle_timeout = t;
        self
    }

    /// Limit on opening the transport. Default 10 s. The response head has
    /// `Limits::head_timeout` (default 30 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Most redirects followed per connection. Default 20 (fetch's limit).
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// Uses `connector` to open transports (TLS, proxies, test doubles).
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Arc::new(connector);
        self
    }

    /// Draws backoff jitter from `jitter` instead of the OS-seeded generator (tests).
    pub fn jitter(mut self, jitter: impl FnMut() -> u64 + Send + Sync + 'static) -> Self {
        self.jitter = Some(Box::new(jitter));
        self
    }

    /// Checks everything and starts the connection task (inside a tokio runtime). Fails at
    /// once on an invalid URL (rule 27), a scheme the connector cannot open (`https://`
    /// with the default connector), invalid headers or limits.
    pub fn connect(self) -> Result<EventSource, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let url = self.url?;
        if !self.connector.supports(url.scheme()) {
            return Err(Error::UnsupportedScheme);
        }
        self.config.validate()?;
        self.policy.validate()?;
        self.http_limits.validate()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Usage(UsageError::NoRuntime))?;
        let retry = match self.jitter {
            Some(j) => Retry::with_jitter(self.policy, j),
            None => Retry::new(self.policy),
        };
        let parser = EventParser::with_config(self.config).with_last_event_id(&self.last_event_id);
        let (tx, rx) = mpsc::channel(64);
        let url_string = url.as_str();
        let task = Task {
            url,
            headers: self.headers,
            http_limits: self.http_limits,
            read_idle_timeout: self.read_idle_timeout,
            connect_timeout: self.connect_timeout,
            max_redirects: self.max_redirects,
            connector: self.connector,
            retry,
            parser,
            tx,
        };
        runtime.spawn(task.run());
        Ok(EventSource {
            rx,
            state: ReadyState::Connecting,
            url: url_string,
        })
    }
}

/// A reconnecting event stream reader. Dropping it (or [`EventSource::close`]) stops the
/// connection task.
#[derive(Debug)]
pub struct EventSource {
    rx: mpsc::Receiver<ClientEvent>,
    state: ReadyState,
    url: String,
}

impl EventSource {
    /// Connects to `url` with the defaults; see [`Builder`].
    pub fn connect(url: &str) -> Result<EventSource, Error> {
        Builder::new(url).connect()
    }

    /// A builder for `url`.
    pub fn builder(url: &str) -> Builder {
        Builder::new(url)
    }

    /// The URL as given, serialised (not the redirected one, rule 27).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The current readyState, as of the last item handed out (rule 28).
    pub fn ready_state(&self) -> ReadyState {
        self.state
    }

    /// Closes the source (rule 42): aborts the connection or a pending reconnect, and
    /// drops whatever was already queued (rule 26). `next` answers `None` from now on.
    pub fn close(&mut self) {
        self.state = ReadyState::Closed;
        self.rx.close();
    }

    /// The next item, `None` once the source is closed or failed.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Poll form of [`EventSource::next`], for stream adapters.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        if self.state == ReadyState::Closed {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.state = ReadyState::Closed;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => {
                match &item {
                    ClientEvent::Open { .. } => self.state = ReadyState::Open,
                    ClientEvent::Reconnecting { .. } => self.state = ReadyState::Connecting,
                    ClientEvent::Failed(_) => {
                        self.state = ReadyState::Closed;
                        self.rx.close();
                    }
                    _ => {}
                }
                Poll::Ready(Some(item))
            }
        }
    }
}

/// What a response head means for an event source (rules 31, 34, 35).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// 200 + `text/event-stream`: read the body, framed as given.
    Open(BodyKind),
    /// A redirect (301, 302, 303, 307, 308) to this `Location` value.
    Redirect(String),
    /// Fail the connection (no reconnect).
    Fail(Error),
    /// A bad framing header: a network error (reestablish).
    NetworkError(Error),
}

/// Decides what a response head means (pure).
///
/// ```
/// use pushwire_http::{Headers, Response, Version};
/// use pushwire_sse::client::{Verdict, classify_response};
/// use pushwire_sse::Error;
/// let mut res = Response { version: Version::Http11, status: 204, reason: String::new(), headers: Headers::new() };
/// assert_eq!(classify_response(&res), Verdict::Fail(Error::Status(204)));
/// res.status = 200;
/// res.headers.append("Content-Type", "text/event-stream; charset=windows-1252")?;
/// assert!(matches!(classify_response(&res), Verdict::Open(_)));
/// # Ok::<(), pushwire_http::Error>(())
/// ```
pub fn classify_response(res: &Response) -> Verdict {
    if matches!(res.status, 301 | 302 | 303 | 307 | 308) {
        return match res.headers.get_str("location") {
            Some(loc) if !loc.is_empty() => Verdict::Redirect(loc.to_owned()),
            _ => Verdict::Fail(Error::BadRedirect),
        };
    }
    if res.status != 200 {
        return Verdict::Fail(Error::Status(res.status));
    }
    if !is_event_stream(res.headers.get("content-type")) {
        return Verdict::Fail(Error::ContentType);
    }
    match response_body_kind(res, &Method::Get) {
        Ok(kind) => Verdict::Open(kind),
        Err(e) => Verdict::NetworkError(e.into()),
    }
}

/// Rule 35: the MIME type essence (before any `;`, trimmed, case-insensitive) is
/// `text/event-stream`; parameters are ignored.
fn is_event_stream(value: Option<&[u8]>) -> bool {
    let Some(v) = value else { return false };
    let essence = v.split(|&b| b == b';').next().unwrap_or_default();
    let essence = essence.trim_ascii();
    essence.eq_ignore_ascii_case(b"text/event-stream")
}

/// An open event-stream response.
struct Opened {
    io: Box<dyn Io>,
    buf: BytesMut,
    body: BodyDecoder,
    origin: Arc<str>,
}

/// Why a stream stopped being read.
enum Ended {
    /// Reestablish, with the cause (`None`: the body ended cleanly).
    Reconnect(Option<Error>),
    /// The consumer is gone or closed the source.
    Stop,
}

/// The connection task: owns the parser and retry state.
struct Task {
    url: Url,
    headers: Headers,
    http_limits: Limits,
    read_idle_timeout: Option<Duration>,
    connect_timeout: Duration,
    max_redirects: u32,
    connector: Arc<dyn Connector>,
    retry: Retry,
    parser: EventParser,
    tx: mpsc::Sender<ClientEvent>,
}

impl Task {
    async fn run(mut self) {
        loop {
            let opened = tokio::select! {
                r = self.open() => r,
                () = self.tx.closed() => return,
            };
            let error = match opened {
                Err(e) if e.is_fatal() => {
                    let _ = self.tx.send(ClientEvent::Failed(e)).await;
                    return;
                }
                Err(e) => Some(e),
                Ok(conn) => {
                    self.retry.on_open(Instant::now());
                    let origin = conn.origin.clone();
                    if self.tx.send(ClientEvent::Open { origin }).await.is_err() {
                        return;
                    }
                    match self.read_stream(conn).await {
                        Ended::Stop => return,
                        Ended::Reconnect(e) => e,
                    }
                }
            };
            // Rule 8: whatever was pending is discarded; the next body starts afresh.
            self.parser.finish();
            let delay = self.retry.next_delay(Instant::now());
            if self
                .tx
                .send(ClientEvent::Reconnecting { error, delay })
                .await
                .is_err()
            {
                return;
            }
            // Rule 42: a close() during the wait cancels the reconnect.
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.tx.closed() => return,
            }
        }
    }

    /// Connects, sends the request and reads the head, following redirects. Reconnects
    /// start again from the original URL (rule 31, as npm `eventsource` does).
    async fn open(&self) -> Result<Opened, Error> {
        let mut url = self.url.clone();
        let mut hops = 0u32;
        loop {
            let mut io =
                match tokio::time::timeout(self.connect_timeout, self.connector.connect(&url))
                    .await
                    .map_err(|_| Error::Timeout)?
                {
                    Ok(io) => io,
                    Err(e) if self.connector.is_futile(&e) => {
                        return Err(Error::Refused(Arc::new(e)));
                    }
                    Err(e) => return Err(e.into()),
                };
            let mut out = BytesMut::new();
            encode_request_head(&self.request_head(&url)?, &mut out)?;
            io.write_all(&out).await?;
            io.flush().await?;
            let mut buf = BytesMut::with_capacity(4096);
            let res = tokio::time::timeout(
                self.http_limits.head_timeout,
                read_final_head(&mut io, &mut buf, &self.http_limits),
            )
            .await
            .map_err(|_| Error::Timeout)??;
            match classify_response(&res) {
                Verdict::Open(kind) => {
                    return Ok(Opened {
                        io,
                        buf,
                        body: BodyDecoder::new(kind, &self.http_limits),
                        origin: Arc::from(url.origin()),
                    });
                }
                Verdict::Redirect(location) => {
                    hops += 1;
                    if hops > self.max_redirects {
                        return Err(Error::TooManyRedirects);
                    }
                    url = url.join(&location).map_err(|_| Error::BadRedirect)?;
                    if !self.connector.supports(url.scheme()) {
                        return Err(Error::UnsupportedScheme);
                    }
                }
                Verdict::Fail(e) | Verdict::NetworkError(e) => return Err(e),
            }
        }
    }

    /// Rules 30 and 39: `Accept`, `Cache-Control: no-cache`, and `Last-Event-ID` only when
    /// non-empty.
    fn request_head(&self, url: &Url) -> Result<RequestHead, Error> {
        let mut head = RequestHead::new(Method::Get, url.target())?;
        let authority = url.authority();
        for (name, value) in [
            ("Host", authority.as_str()),
            ("Accept", "text/event-stream"),
            ("Cache-Control", "no-cache"),
        ] {
            if !self.headers.contains(name) {
                head.headers.append(name, value)?;
            }
        }
        let id = self.parser.last_event_id();
        if !id.is_empty() {
            head = head
                .header("Last-Event-ID", id)
                .map_err(|_| Error::Usage(UsageError::LastEventId))?;
        }
        for (name, value) in self.headers.iter() {
            head.headers
                .append(name, value)
                .map_err(|_| UsageError::Header)?;
        }
        Ok(head)
    }

    /// Reads the body into the parser and forwards what it says, until the body ends, the
    /// connection drops or goes idle, or the consumer goes away.
    async fn read_stream(&mut self, mut conn: Opened) -> Ended {
        loop {
            // Hand over everything already buffered before reading again.
            loop {
                match conn.body.decode(&mut conn.buf) {
                    Ok(Some(BodyChunk::Data(data))) => {
                        self.parser.feed(&data);
                        if !self.drain(&conn.origin).await {
                            return Ended::Stop;
                        }
                    }
                    Ok(Some(BodyChunk::End)) => return Ended::Reconnect(None),
                    Ok(None) => break,
                    Err(e) => return Ended::Reconnect(Some(e.into())),
                }
            }
            conn.buf.reserve(8192);
            let read = conn.io.read_buf(&mut conn.buf);
            let n = tokio::select! {
                r = maybe_timeout(self.read_idle_timeout, read) => r,
                () = self.tx.closed() => return Ended::Stop,
            };
            match n {
                Err(e) => return Ended::Reconnect(Some(e)),
                Ok(0) => {
                    return match conn.body.decode_eof(&mut conn.buf) {
                        Ok(Some(BodyChunk::Data(data))) => {
                            self.parser.feed(&data);
                            if !self.drain(&conn.origin).await {
                                return Ended::Stop;
                            }
                            Ended::Reconnect(None)
                        }
                        Ok(_) => Ended::Reconnect(None),
                        Err(e) => Ended::Reconnect(Some(e.into())),
                    };
                }
                Ok(_) => {}
            }
        }
    }

    /// Forwards every item the parser has; `false` if the consumer is gone.
    async fn drain(&mut self, origin: &Arc<str>) -> bool {
        loop {
            let item = match self.parser.next_item() {
                Ok(None) => return true,
                Ok(Some(Item::Event(event))) => {
                    self.retry.on_event();
                    ClientEvent::Message {
                        event,
                        origin: origin.clone(),
                    }
                }
                Ok(Some(Item::Retry(t))) => {
                    self.retry.set_reconnection_time(t);
                    continue;
                }
                Ok(Some(Item::Comment(c))) => ClientEvent::Comment(c),
                Ok(Some(_)) => continue,
                Err(Error::Capacity(c)) => ClientEvent::Skipped(c),
                Err(_) => continue,
            };
            if self.tx.send(item).await.is_err() {
                return false;
            }
        }
    }
}

/// Reads response heads until a final (non-1xx) one.
async fn read_final_head(
    io: &mut Box<dyn Io>,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Response, Error> {
    loop {
        let mut parser = HeadParser::new(limits);
        let res = loop {
            if let Status::Complete((res, n)) = parser.parse_response(buf)? {
                let _ = buf.split_to(n);
                break res;
            }
            buf.reserve(4096);
            if io.read_buf(buf).await? == 0 {
                return Err(Error::Io(Arc::new(io::ErrorKind::UnexpectedEof.into())));
            }
        };
        if !(100..200).contains(&res.status) {
            return Ok(res);
        }
    }
}

async fn maybe_timeout<F: Future<Output = io::Result<usize>>>(
    t: Option<Duration>,
    f: F,
) -> Result<usize, Error> {
    match t {
        Some(t) => match tokio::time::timeout(t, f).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Timeout),
        },
        None => Ok(f.await?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushwire_http::Version;

    fn res(status: u16, headers: &[(&str, &str)]) -> Response {
        let mut h = Headers::new();
        for (n, v) in headers {
            h.append(n, v).unwrap();
        }
        Response {
            version: Version::Http11,
            status,
            reason: String::new(),
            headers: h,
        }
    }

    #[test]
    fn rule_34_non_200_fails() {
        for s in [204, 205, 210, 299, 404, 410, 503, 300, 304] {
            assert_eq!(
                classify_response(&res(s, &[("Content-Type", "text/event-stream")])),
                Verdict::Fail(Error::Status(s))
            );
        }
    }

    #[test]
    fn rule_35_content_type_essence() {
        for ok in [
            "text/event-stream",
            "TEXT/Event-Stream",
            "text/event-stream;",
            "text/event-stream; charset=windows-1252",
            " text/event-stream ;x=y",
        ] {
            assert!(
                matches!(
                    classify_response(&res(200, &[("Content-Type", ok)])),
                    Verdict::Open(BodyKind::CloseDelimited)
                ),
                "{ok}"
            );
        }
        for bad in [
            "text/plain",
            "text/event-stream-x",
            "text/eventstream",
            "",
            "event-stream",
        ] {
            assert_eq!(
                classify_response(&res(200, &[("Content-Type", bad)])),
                Verdict::Fail(Error::ContentType),
                "{bad}"
            );
        }
        assert_eq!(
            classify_response(&res(200, &[])),
            Verdict::Fail(Error::ContentType)
        );
    }

    #[test]
    fn rule_31_redirects_and_body_kinds() {
        for s in [301, 302, 303, 307, 308] {
            assert_eq!(
                classify_response(&res(s, &[("Location", "/x")])),
                Verdict::Redirect("/x".into())
            );
        }
        assert_eq!(
            classify_response(&res(302, &[])),
            Verdict::Fail(Error::BadRedirect)
        );
        let ct = ("Content-Type", "text/event-stream");
        assert_eq!(
            classify_response(&res(200, &[ct, ("Transfer-Encoding", "chunked")])),
            Verdict::Open(BodyKind::Chunked)
        );
        assert_eq!(
            classify_response(&res(200, &[ct, ("Content-Length", "5")])),
            Verdict::Open(BodyKind::Length(5))
        );
        assert!(matches!(
            classify_response(&res(
                200,
                &[
                    ct,
                    ("Content-Length", "5"),
                    ("Transfer-Encoding", "chunked")
                ]
            )),
            Verdict::NetworkError(_)
        ));
    }
}
