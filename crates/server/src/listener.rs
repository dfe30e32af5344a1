//! The accept loop, the connection limit and graceful shutdown.
//!
//! Shaped like mini-redis's `Listener`: a semaphore bounds open connections, a `watch` channel
//! announces shutdown to every task, and a `JoinSet` lets shutdown wait for (and, past the
//! grace period, abort) every connection. Unlike mini-redis the loop never gives up on accept
//! errors, and a connection over the limit is still accepted, answered `503` with
//! `Retry-After` and closed, so clients learn to back off instead of hanging in the backlog.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::hub::{Hub, MemoryHub};

/// Live counters for `/healthz`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Open connections.
    pub total: AtomicUsize,
    /// Open WebSockets (`/ws`, `/echo`).
    pub websocket: AtomicUsize,
    /// Open SSE streams.
    pub sse: AtomicUsize,
    /// Long polls waiting.
    pub long_poll: AtomicUsize,
    /// Connections refused with 503 because `max_connections` was reached.
    pub rejected: AtomicU64,
}

/// Decrements a gauge when dropped, so every exit path counts down.
#[derive(Debug)]
pub(crate) struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    pub(crate) fn up(g: &'a AtomicUsize) -> Gauge<'a> {
        g.fetch_add(1, Ordering::Relaxed);
        Gauge(g)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Turns an accepted TCP connection into the byte stream HTTP is spoken on: the place where
/// TLS plugs in (issue 13) without the connection handling knowing.
pub trait Acceptor: Send + Sync + 'static {
    /// The stream connections are served on.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// `"http"` or `"https"`: the scheme of the server's own origin (for the origin check).
    fn scheme(&self) -> &'static str;

    /// Performs the handshake, if any. The server bounds it with `head_timeout`, so a
    /// handshake that stalls costs one connection slot for at most that long.
    fn accept(
        &self,
        tcp: TcpStream,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Io>> + Send + '_>>;
}

/// Plain TCP: the stream as accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    type Io = TcpStream;

    fn scheme(&self) -> &'static str {
        "http"
    }

    fn accept(
        &self,
        tcp: TcpStream,
    ) -> Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + '_>> {
        Box::pin(std::future::ready(Ok(tcp)))
    }
}

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub(crate) scheme: &'static str,
    pub(crate) cfg: Config,
    pub(crate) hub: Arc<dyn Hub>,
    pub(crate) stats: Stats,
    pub(crate) static_root: Option<PathBuf>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A configured server, ready to [`Server::run`].
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use pushwire_server::{Config, Server};
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// Server::new(Config::default()).run(listener, pushwire_server::shutdown_signal()).await
/// # }
/// ```
pub struct Server {
    cfg: Config,
    hub: Arc<dyn Hub>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("cfg", &self.cfg).finish()
    }
}

impl Server {
    /// A server with an in-memory hub sized by `cfg`.
    pub fn new(cfg: Config) -> Server {
        let hub = Arc::new(MemoryHub::new(cfg.history, cfg.max_topics));
        Server { cfg, hub }
    }

    /// Replaces the hub (for example with a Redis-backed one).
    pub fn with_hub(mut self, hub: Arc<dyn Hub>) -> Server {
        self.hub = hub;
        self
    }

    /// The hub this server publishes to (to publish from the embedding program).
    pub fn hub(&self) -> Arc<dyn Hub> {
        self.hub.clone()
    }

    /// Accepts connections on `listener` until `shutdown` completes, then closes every
    /// connection gracefully (WebSockets 1001, SSE `retry:` and end, long polls answered) and
    /// returns within `shutdown_grace`.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        self.run_with(listener, PlainTcp, shutdown).await
    }

    /// Like [`Server::run`], with every accepted connection passed through `acceptor` first
    /// (a TLS handshake, for example).
    pub async fn run_with<A: Acceptor>(
        self,
        listener: TcpListener,
        acceptor: A,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let acceptor = Arc::new(acceptor);
        self.cfg
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let static_root = match &self.cfg.static_dir {
            Some(d) => Some(std::fs::canonicalize(d)?),
            None => None,
        };
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            scheme: acceptor.scheme(),
            cfg: self.cfg,
            hub: self.hub,
            stats: Stats::default(),
            static_root,
            shutdown: rx,
        });
        let permits = Arc::new(Semaphore::new(shared.cfg.max_connections));
        // Refusals are cheap but not free: at most this many 503 answers are in flight, past
        // that an extra connection is dropped at once.
        let refusals = Arc::new(Semaphore::new(256));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        loop {
            while tasks.try_join_next().is_some() {}
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                r = listener.accept() => r,
            };
            let (stream, _peer) = match accepted {
                Ok(x) => {
                    backoff = Duration::from_millis(100);
                    x
                }
                Err(e) => {
                    if let Some(pause) = accept_error_pause(&e, &mut backoff) {
                        debug(format_args!("accept error: {e}; retrying in {pause:?}"));
                        tokio::select! {
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                    }
                    continue;
                }
            };
            if shared.cfg.nodelay {
                let _ = stream.set_nodelay(true);
            }
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    tasks.spawn(connection(&shared, &acceptor, stream, permit));
                }
                Err(_) => {
                    shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    if let Ok(p) = refusals.clone().try_acquire_owned() {
                        let retry = shared.cfg.retry_after_secs;
                        tasks.spawn(async move {
                            refuse(stream, retry).await;
                            drop(p);
                        });
                    }
                }
            }
        }
        drop(listener);
        let _ = tx.send(true);
        let grace = shared.cfg.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// One accepted connection's task: the acceptor's handshake (bounded by `head_timeout`), then
/// the connection served, holding its slot (`permit`) until it ends.
///
/// The task's future is what every open connection costs before anything else (tokio keeps it
/// in the task's cell, rounded up to 128 bytes), so it holds the connection's future and two
/// pointers: the handshake runs in its own boxed future (its stream, acceptor and timer are gone
/// with it), and the slot, the server state and the open-connection count share one small box.
/// Awaiting a helper `async fn` instead kept the stream, the handshake's result and every
/// argument a second time (1,816 bytes of future against 1,672).
fn connection<A: Acceptor>(
    shared: &Arc<Shared>,
    acceptor: &Arc<A>,
    tcp: TcpStream,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send + 'static {
    let (acceptor, head_timeout) = (acceptor.clone(), shared.cfg.head_timeout);
    let handshake =
        Box::pin(async move { tokio::time::timeout(head_timeout, acceptor.accept(tcp)).await });
    let mut slot = Box::new(Slot {
        shared: shared.clone(),
        _permit: permit,
        counted: false,
    });
    async move {
        let io = match handshake.await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return debug(format_args!("handshake failed: {e}")),
            Err(_) => return debug(format_args!("handshake timed out")),
        };
        slot.count();
        crate::conn::Conn::new(io, slot.shared.clone())
            .serve()
            .await;
    }
}

/// A served connection's hold on the server: its `max_connections` slot and, once its
/// handshake is done, its place in `stats.total`. Both are given back when it is dropped,
/// on every exit path (an aborted task included).
struct Slot {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
    counted: bool,
}

impl Slot {
    fn count(&mut self) {
        self.shared.stats.total.fetch_add(1, Ordering::Relaxed);
        self.counted = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            self.shared.stats.total.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// How long to wait before the next `accept` after `e`; `None` = retry at once.
///
/// A connection reset or aborted before we accepted it concerns only that peer: retry now.
/// Out of file descriptors (EMFILE/ENFILE) or memory: sleep, doubling up to 1 s, and retry;
/// giving up would take the whole server down for a transient shortage.
fn accept_error_pause(e: &io::Error, backoff: &mut Duration) -> Option<Duration> {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock => None,
        _ => {
            let pause = *backoff;
            *backoff = (*backoff * 2).min(Duration::from_secs(1));
            Some(pause)
        }
    }
}

/// Answers `503` with `Retry-After` to a connection over the limit, then closes it, draining
/// briefly so the kernel does not reset the answer away.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, retry_after: u32) {
    let body = "too many connections\n";
    let msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry_after}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        io.write_all(msg.as_bytes()).await?;
        io.flush().await?;
        io.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < 64 * 1024 {
            match io.read(&mut sink).await? {
                0 => break,
                n => total += n,
            }
        }
        io::Result::Ok(())
    })
    .await;
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Tries to raise the soft open-file limit to fit `max_connections` (plus a margin for the
/// listener, static files and the runtime), up to the hard limit. Returns the soft limit in
/// force afterwards, or `None` when it cannot be read.
///
/// No `libc` is allowed here, so this reads `/proc/self/limits` and asks util-linux's
/// `prlimit` to change this process's limit; where either is missing it changes nothing.
pub fn raise_fd_limit(max_connections: usize) -> Option<u64> {
    let (soft, hard) = read_nofile()?;
    let want = (max_connections as u64).saturating_add(256);
    if soft >= want || soft >= hard {
        return Some(soft);
    }
    let target = want.min(hard);
    let _ = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={target}:{hard}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    read_nofile().map(|(s, _)| s)
}

fn read_nofile() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line["Max open files".len()..].split_whitespace();
    let parse = |s: Option<&str>| -> Option<u64> {
        match s? {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        }
    };
    Some((parse(nums.next())?, parse(nums.next())?))
}

/// A per-connection diagnostic, printed only when `PUSHWIRE_DEBUG` is set: connection errors
/// are normal on the internet and must not flood the log.
pub(crate) fn debug(args: std::fmt::Arguments<'_>) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("PUSHWIRE_DEBUG").is_some()) {
        eprintln!("pushwire debug: {args}");
    }
}

/// A server's shared state for unit tests: the default config, a memory hub, plain HTTP (the
/// shutdown sender is gone, so nothing here must wait on it).
#[cfg(test)]
pub(crate) fn test_shared() -> Arc<Shared> {
    let (_tx, rx) = watch::channel(false);
    let cfg = Config::default();
    Arc::new(Shared {
        scheme: "http",
        hub: Arc::new(crate::hub::MemoryHub::new(cfg.history, cfg.max_topics)),
        cfg,
        stats: Stats::default(),
        static_root: None,
        shutdown: rx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_classified() {
        let mut b = Duration::from_millis(100);
        assert_eq!(
            accept_error_pause(&io::Error::from(io::ErrorKind::ConnectionAborted), &mut b),
            None
        );
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(
            accept_error_pause(&emfile, &mut b),
            Some(Duration::from_millis(100))
        );
        for _ in 0..10 {
            accept_error_pause(&emfile, &mut b);
        }
        assert_eq!(b, Duration::from_secs(1));
    }

    /// A connection's task holds its connection's future and little else (it was 144 bytes
    /// more: the stream, the handshake's result and the helper's arguments a second time), so
    /// that every connection's task cell stays one 128-byte step smaller.
    #[tokio::test]
    async fn connection_task_adds_two_pointers_to_the_connection_future() {
        let shared = test_shared();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let client2 = TcpStream::connect(addr).await.unwrap();
        let (server2, _) = listener.accept().await.unwrap();
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let serve = crate::conn::Conn::new(server2, shared.clone()).serve();
        let task = connection(&shared, &Arc::new(PlainTcp), server, permit);
        let (serve, task) = (std::mem::size_of_val(&serve), std::mem::size_of_val(&task));
        println!("connection future {serve} bytes, its task's future {task} bytes");
        assert!(
            task <= serve + 24,
            "task {task} bytes for a {serve}-byte connection"
        );
        drop((client, client2));
    }

    #[test]
    fn nofile_limit_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let (soft, hard) = read_nofile().unwrap();
            assert!(soft <= hard);
            assert!(raise_fd_limit(10).unwrap() >= soft);
        }
    }
}
