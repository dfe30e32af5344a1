//! Helpers for the cluster tests: a real `redis-server` on a free 127.0.0.1 port with its own
//! data directory, in-process pushwire nodes (each on its own thread and runtime, so one can
//! be killed abruptly), and minimal raw HTTP, SSE and WebSocket clients (the same as the root
//! package's end-to-end helpers).
#![allow(dead_code)]

#[path = "../../../../tests/common/raw.rs"]
mod raw;
pub use raw::*;

use std::net::SocketAddr;
use std::time::Duration;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use pushwire_redis::{RedisConfig, RedisHub};
use pushwire_server::{Config, Server};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

// ---- redis-server ----

/// `Some(server)` when `redis-server` is installed; otherwise prints why the test is skipped.
pub fn redis(appendonly: bool) -> Option<RedisServer> {
    if Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: redis-server not found (run .ci/install-redis.sh)");
        return None;
    }
    Some(RedisServer::start(appendonly))
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    appendonly: bool,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start(appendonly: bool) -> RedisServer {
        RedisServer::start_on(free_port(), appendonly)
    }

    /// Remembers the port without starting (for "Redis is down at start").
    pub fn stopped(port: u16, appendonly: bool) -> RedisServer {
        let dir =
            std::env::temp_dir().join(format!("pushwire-redis-test-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        RedisServer {
            port,
            dir,
            appendonly,
            child: None,
        }
    }

    pub fn start_on(port: u16, appendonly: bool) -> RedisServer {
        let mut r = RedisServer::stopped(port, appendonly);
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port and data directory; returns once it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", "", "--daemonize", "no", "--protected-mode", "yes"])
            .args(["--appendonly", if self.appendonly { "yes" } else { "no" }])
            // Every acknowledged write is on disk before the reply: a SIGKILL loses nothing.
            .args(["--appendfsync", "always"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let t0 = std::time::Instant::now();
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            assert!(t0.elapsed() < GUARD, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, like a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- pushwire nodes ----

pub fn config(history: usize) -> Config {
    let mut c = Config::default();
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.history = history;
    c.shutdown_grace = Duration::from_secs(1);
    c.outbound_queue_messages = 50_000;
    c.outbound_queue_bytes = 64 << 20;
    c.max_batch = 100_000;
    c
}

/// One pushwire node with a Redis hub, on its own thread and current-thread runtime, so that
/// [`Node::kill`] can end it abruptly (every task and socket dropped at once, no goodbye).
pub struct Node {
    pub addr: SocketAddr,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    pub fn start(url: &str, cfg: Config) -> Node {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let url = url.to_string();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let hub = RedisHub::start(RedisConfig::new(url, cfg.history)).unwrap();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let server = Server::new(cfg).with_hub(hub);
                tokio::spawn(async move {
                    let _ = server.run(listener, std::future::pending()).await;
                });
                let _ = kill_rx.await;
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv_timeout(GUARD).expect("node did not start");
        Node {
            addr,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    /// Ends the node abruptly: its runtime is dropped with every connection.
    pub fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (polling `f` every 20 ms) until it returns true; panics after the guard time.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = std::time::Instant::now();
    while !f().await {
        assert!(t0.elapsed() < GUARD, "not within the guard time: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `/healthz`'s `redis` field.
pub async fn redis_state(addr: SocketAddr) -> String {
    let r = get(addr, "/healthz").await;
    r.json()["redis"].as_str().unwrap_or("").to_string()
}

/// Publishes on a keep-alive connection; `(status, id)`, `None` if the connection failed.
pub async fn publish_on(
    c: &mut Client,
    addr: SocketAddr,
    topic: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut raw = format!(
        "POST /publish?topic={topic} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    c.s.write_all(&raw).await.ok()?;
    let r = c.response_opt(false).await?;
    let id = if r.status == 200 {
        r.json()["id"].as_str().unwrap_or("").to_string()
    } else {
        String::new()
    };
    Some((r.status, id))
}

/// The sequence number of an `EPOCH-SEQ` id.
pub fn seq(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

pub fn epoch(id: &str) -> String {
    id.rsplit_once('-').unwrap().0.to_string()
}
