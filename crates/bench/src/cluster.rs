//! `cluster`: several nodes on one Redis, pushwire against socket.io, under one load.
//!
//! Setups, each on a fresh `redis-server` started here on a free 127.0.0.1 port (no
//! persistence, its own directory, killed at the end):
//!
//! | setup | nodes |
//! |---|---|
//! | `pushwire memory` | one `pushwire` node, in-memory hub (the baseline; Redis unused) |
//! | `pushwire redis` | one `pushwire --redis` node |
//! | `pushwire redis ×3` | three `pushwire --redis` nodes |
//! | `socket.io redis-streams ×3` | three socket.io 4 nodes with `@socket.io/redis-streams-adapter` (`crates/redis/bench/node/server.js`) |
//!
//! The load is the same for all: `subscribers` WebSocket clients spread round-robin over the
//! nodes (pushwire `/ws?topic=T`; socket.io `/socket.io/?EIO=4&transport=websocket&topic=T`, which
//! joins room T), and `publishers` keep-alive connections (round-robin over the nodes) sending
//! `POST /publish?topic=T` with at most `in_flight` unanswered each, as fast as the
//! subscribers keep up (no more than `window` messages ahead of the average subscriber). Each
//! payload carries a global sequence number and its send time, so every subscriber measures
//! publish→receive latency and counts losses (a publish answered 200 it never got, after a
//! drain) and duplicates. Redis commands per publish come from `INFO commandstats`. Server
//! CPU sums every node and `redis-server`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pushwire_ws::frame::{FrameDecoder, FrameHeader, OpCode, Role, apply_mask};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::net::{self, HttpReader};
use crate::{Error, Percentiles, Probe};

/// The `cluster` workload's parameters.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// WebSocket subscribers, spread over the nodes.
    pub subscribers: usize,
    /// Publishing connections, spread over the nodes.
    pub publishers: usize,
    /// Unanswered publishes per publishing connection at most.
    pub in_flight: usize,
    /// Publishes ahead of the average subscriber at most.
    pub window: u64,
    /// Payload bytes (at least the sequence number and timestamp).
    pub size: usize,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Longest wait, after the last answer, for every subscriber to have every message.
    pub drain: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            subscribers: 1000,
            publishers: 3,
            in_flight: 16,
            window: 32,
            size: 32,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(3),
            drain: Duration::from_secs(5),
        }
    }
}

/// Which servers a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// One pushwire node with the in-memory hub.
    PushwireMemory,
    /// `n` pushwire nodes with `--redis`.
    PushwireRedis(usize),
    /// `n` socket.io nodes with `@socket.io/redis-streams-adapter`.
    SocketIo(usize),
}

impl Setup {
    /// The row label.
    pub fn name(self) -> String {
        match self {
            Setup::PushwireMemory => "pushwire memory ×1".into(),
            Setup::PushwireRedis(n) => format!("pushwire redis ×{n}"),
            Setup::SocketIo(n) => format!("socket.io redis-streams ×{n}"),
        }
    }
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// What ran.
    pub setup: Setup,
    /// Messages delivered to subscribers per second in the measured window.
    pub rate: f64,
    /// Publish (send of the request) → receive latency, µs.
    pub latency: Percentiles,
    /// Publishes answered 200 over the whole run.
    pub published: u64,
    /// (subscriber, message answered 200) pairs never delivered.
    pub lost: u64,
    /// Messages a subscriber received more than once.
    pub duplicates: u64,
    /// Redis commands sent by clients (a script call counts one) per publish answered 200
    /// (`None` without Redis).
    pub redis_calls: Option<f64>,
    /// Redis commands run, those inside scripts included, per publish answered 200.
    pub redis_cmds: Option<f64>,
    /// CPU of every node and `redis-server` per delivered message, µs.
    pub cpu_us: Option<f64>,
    /// Publishes not answered 200, and subscribers that failed.
    pub errors: u64,
}

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `pushwire` binary.
    pub pushwire: PathBuf,
    /// `redis-server`, if found.
    pub redis: Option<PathBuf>,
    /// `node`, if found, and the directory of `server.js` with its `node_modules`.
    pub node: Option<(PathBuf, PathBuf)>,
    /// Pin servers to core 0 (the load generator pins itself to core 1).
    pub pin: bool,
}

/// Finds `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The socket.io server's directory: `crates/redis/bench/node` of the repository. Runs
/// `npm install` there once if `node_modules` is missing (npm registry only).
pub fn node_dir(root: &Path) -> Result<PathBuf, Error> {
    let dir = root.join("crates/redis/bench/node");
    if !dir.join("server.js").is_file() {
        return Err(format!("{} not found", dir.join("server.js").display()).into());
    }
    if !dir
        .join("node_modules/@socket.io/redis-streams-adapter")
        .is_dir()
    {
        eprintln!("npm install in {} ...", dir.display());
        let ok = Command::new("npm")
            .current_dir(&dir)
            .args(["install", "--no-audit", "--no-fund"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("npm install failed".into());
        }
    }
    Ok(dir)
}

/// A child process killed on drop.
#[derive(Debug)]
struct Proc {
    child: Child,
    probe: Probe,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_cmd(program: &Path, pin: bool) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Starts a server that prints `listening on http://ADDR` as its first stdout line.
fn start_node(mut cmd: Command) -> Result<(Proc, SocketAddr), Error> {
    use std::io::BufRead as _;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // Read on a helper thread, so a node that never prints (say, socket.io's Redis client
    // retrying forever) costs 30 s, not the whole run.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok());
    let probe = Probe::pid(child.id());
    let p = Proc { child, probe };
    match addr {
        Some(a) => Ok((p, a)),
        None => Err(format!("a node did not start: {line:?}").into()),
    }
}

/// A `redis-server` of our own: free port, own directory, no persistence.
struct Redis {
    proc: Proc,
    port: u16,
    dir: PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Redis {
    fn start(programs: &Programs, bin: &Path) -> Result<Redis, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("pushwire-bench-redis-{port}"));
        std::fs::create_dir_all(&dir)?;
        let child = server_cmd(bin, programs.pin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let probe = Probe::pid(child.id());
        let r = Redis {
            proc: Proc { child, probe },
            port,
            dir,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while redis_calls(port).is_err() {
            if Instant::now() > until {
                return Err("redis-server did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(r)
    }
}

/// Commands Redis has run so far (`INFO commandstats`, without the INFO calls themselves):
/// `(all, sent by clients)`. Redis also counts the commands a Lua script runs; those of
/// pushwire's scripts (`HGET`, `HSET`, `HINCRBY`, `XADD`, `DEL`, `PUBLISH`, `XRANGE`) are
/// left out of the second figure when a script ran, so it counts round trips.
fn redis_calls(port: u16) -> Result<(u64, u64), Error> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"INFO commandstats\r\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // A bulk string: `$LEN\r\n` then LEN bytes and `\r\n`.
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err("redis closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let len: usize = std::str::from_utf8(&buf[1..nl])?.trim().parse()?;
            if buf.len() >= nl + 1 + len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut stats = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cmdstat_")
            && let Some((name, rest)) = rest.split_once(':')
            && name != "info"
            && let Some(calls) = rest
                .split_once("calls=")
                .and_then(|(_, c)| c.split(',').next())
                .and_then(|c| c.parse::<u64>().ok())
        {
            stats.push((name.to_string(), calls));
        }
    }
    let total = stats.iter().map(|(_, c)| c).sum();
    let scripted = stats.iter().any(|(n, _)| n == "evalsha" || n == "eval");
    let inside = [
        "hget", "hset", "hincrby", "xadd", "del", "publish", "xrange",
    ];
    let sent = stats
        .iter()
        .filter(|(n, _)| !(scripted && inside.contains(&n.as_str())))
        .map(|(_, c)| c)
        .sum();
    Ok((total, sent))
}

/// Runs one setup: starts Redis and the nodes, drives the load, stops everything.
pub async fn run_setup(programs: &Programs, setup: Setup, o: &Cluster) -> Result<Row, Error> {
    let redis = match (setup, &programs.redis) {
        (Setup::PushwireMemory, _) => None,
        (_, Some(bin)) => Some(Redis::start(programs, bin)?),
        (_, None) => return Err("redis-server not found".into()),
    };
    let mut nodes = Vec::new();
    let mut addrs = Vec::new();
    let (n, socketio) = match setup {
        Setup::PushwireMemory => (1, false),
        Setup::PushwireRedis(n) => (n, false),
        Setup::SocketIo(n) => (n, true),
    };
    for _ in 0..n {
        let port = redis.as_ref().map(|r| r.port);
        let cmd = if socketio {
            let (node, dir) = programs.node.as_ref().ok_or("node not found")?;
            let mut c = server_cmd(node, programs.pin);
            c.current_dir(dir).arg("server.js").args(["--port", "0"]);
            c.args([
                "--redis",
                &format!("redis://127.0.0.1:{}", port.unwrap_or(0)),
            ]);
            c
        } else {
            let mut c = server_cmd(&programs.pushwire, programs.pin);
            c.args(["--addr", "127.0.0.1:0", "--max-connections", "19000"]);
            if let Some(p) = port {
                c.args(["--redis", &format!("redis://127.0.0.1:{p}/0")]);
            }
            c
        };
        let (p, a) = start_node(cmd)?;
        nodes.push(p);
        addrs.push(a);
    }
    let mut probes: Vec<Probe> = nodes.iter().map(|p| p.probe.clone()).collect();
    if let Some(r) = &redis {
        probes.push(r.proc.probe.clone());
    }
    let row = drive(
        setup,
        &addrs,
        socketio,
        redis.as_ref().map(|r| r.port),
        &probes,
        o,
    )
    .await;
    drop(nodes);
    drop(redis);
    row
}

struct Shared {
    base: Instant,
    delivered: AtomicU64,
    waiting: AtomicUsize,
    wake: Notify,
    measuring: AtomicBool,
    next_seq: AtomicU64,
}

struct SubResult {
    lat: Vec<u64>,
    seen: Vec<u64>,
    duplicates: u64,
    unique: u64,
}

fn cpu(probes: &[Probe]) -> Option<u64> {
    probes.iter().map(|p| p.cpu_ns()).sum()
}

async fn drive(
    setup: Setup,
    addrs: &[SocketAddr],
    socketio: bool,
    redis_port: Option<u16>,
    probes: &[Probe],
    o: &Cluster,
) -> Result<Row, Error> {
    let topic = crate::workloads::fresh_topic("cluster");
    let shared = Arc::new(Shared {
        base: Instant::now(),
        delivered: AtomicU64::new(0),
        waiting: AtomicUsize::new(0),
        wake: Notify::new(),
        measuring: AtomicBool::new(false),
        next_seq: AtomicU64::new(0),
    });
    let unique = Arc::new(AtomicU64::new(0));
    let (stop_subs, _) = watch::channel(false);
    let mut subs = JoinSet::new();
    let mut opening = JoinSet::new();
    let mut opened = Vec::with_capacity(o.subscribers);
    for i in 0..o.subscribers {
        let addr = addrs[i % addrs.len()];
        let topic = topic.clone();
        opening.spawn(async move {
            tokio::time::timeout(Duration::from_secs(10), open_sub(addr, &topic, socketio))
                .await
                .map_err(|_| Error::from("subscriber connect timed out"))?
        });
        if opening.len() >= 64
            && let Some(r) = opening.join_next().await
        {
            opened.push(r??);
        }
    }
    while let Some(r) = opening.join_next().await {
        opened.push(r??);
    }
    for (s, buf) in opened {
        subs.spawn(subscriber(
            s,
            buf,
            socketio,
            shared.clone(),
            unique.clone(),
            stop_subs.subscribe(),
        ));
    }
    // Registration after the handshake (socket.io joins the room in its connection handler).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls0 = redis_port.and_then(|p| redis_calls(p).ok());
    let (stop_pubs, _) = watch::channel(false);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicU64::new(0));
    let mut pubs = JoinSet::new();
    for i in 0..o.publishers.max(1) {
        pubs.spawn(publisher(
            addrs[i % addrs.len()],
            topic.clone(),
            o.clone(),
            shared.clone(),
            acked.clone(),
            failed.clone(),
            stop_pubs.subscribe(),
        ));
    }
    tokio::time::sleep(o.warmup).await;
    let cpu0 = cpu(probes);
    let t0 = Instant::now();
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(o.duration).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = cpu(probes);
    let delivered_in_window = shared.delivered.load(Ordering::Relaxed);
    let _ = stop_pubs.send(true);
    shared.wake.notify_waiters();
    let mut errors = 0;
    while let Some(r) = pubs.join_next().await {
        if !matches!(r, Ok(Ok(()))) {
            errors += 1;
        }
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(|e| e.into_inner()));
    let want = acked.len() as u64 * o.subscribers as u64;
    let until = Instant::now() + o.drain;
    while unique.load(Ordering::Relaxed) < want && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls1 = redis_port.and_then(|p| redis_calls(p).ok());
    let _ = stop_subs.send(true);
    let (mut lat, mut lost, mut duplicates) = (Vec::new(), 0u64, 0u64);
    let mut counted = 0;
    while let Some(r) = subs.join_next().await {
        match r {
            Ok(Ok(s)) => {
                lat.extend(s.lat);
                duplicates += s.duplicates;
                let _ = s.unique;
                for &seq in &acked {
                    let (w, b) = ((seq / 64) as usize, seq % 64);
                    if s.seen.get(w).is_none_or(|v| v & (1 << b) == 0) {
                        lost += 1;
                    }
                }
                counted += 1;
            }
            _ => errors += 1,
        }
    }
    // A subscriber that failed lost everything.
    lost += (o.subscribers - counted) as u64 * acked.len() as u64;
    errors += failed.load(Ordering::Relaxed);
    let _ = delivered_in_window;
    let measured = lat.len() as u64;
    let cpu_us = cpu1
        .zip(cpu0)
        .filter(|_| measured > 0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / 1000.0 / measured as f64);
    let per = |f: fn((u64, u64)) -> u64| {
        calls1
            .zip(calls0)
            .filter(|_| !acked.is_empty())
            .map(|(b, a)| f(b).saturating_sub(f(a)) as f64 / acked.len() as f64)
    };
    let redis_calls = per(|c| c.1);
    let redis_cmds = per(|c| c.0);
    Ok(Row {
        setup,
        rate: measured as f64 / secs,
        latency: Percentiles::of_ns(&mut lat),
        published: acked.len() as u64,
        lost,
        duplicates,
        redis_calls,
        redis_cmds,
        cpu_us,
        errors,
    })
}

/// One masked client text frame.
fn client_text(payload: &[u8]) -> BytesMut {
    let mut header = FrameHeader::new(OpCode::Text, payload.len() as u64);
    let mut key = [0u8; 4];
    pushwire_http::entropy::fill(&mut key);
    header.mask = Some(key);
    let mut p = payload.to_vec();
    apply_mask(&mut p, key, 0);
    let mut out = BytesMut::new();
    header.encode(&mut out);
    out.extend_from_slice(&p);
    out
}

fn ws_config() -> pushwire_ws::Config {
    pushwire_ws::Config::default()
}

/// Connects one subscriber; for socket.io also opens the default namespace (`40`).
async fn open_sub(
    addr: SocketAddr,
    topic: &str,
    socketio: bool,
) -> Result<(TcpStream, BytesMut), Error> {
    let mut s = net::connect(addr).await?;
    let host = addr.to_string();
    let target = if socketio {
        format!("/socket.io/?EIO=4&transport=websocket&topic={topic}")
    } else {
        format!("/ws?topic={topic}")
    };
    let mut buf = net::ws_handshake(&mut s, &host, &target).await?;
    if socketio {
        // Engine.IO `0{...}` (open), then our `40` and the server's `40{...}` (connected).
        let mut dec = FrameDecoder::new(Role::Client, &ws_config());
        let mut step = 0;
        loop {
            while let Some(f) = dec.decode(&mut buf)? {
                let p = &f.payload[..];
                if step == 0 && p.first() == Some(&b'0') {
                    s.write_all(&client_text(b"40")).await?;
                    step = 1;
                } else if step == 1 && p.starts_with(b"40") {
                    return Ok((s, buf));
                }
            }
            if net::read_some(&mut s, &mut buf, 4096).await? == 0 {
                return Err("socket.io closed during the handshake".into());
            }
        }
    }
    Ok((s, buf))
}

/// `seq ts` at the start of a payload (pushwire: the text itself; socket.io:
/// `42["m","seq ts ..."]`).
fn parse_payload(p: &[u8], socketio: bool) -> Option<(u64, u64)> {
    let body = if socketio {
        let rest = p.strip_prefix(b"42")?;
        let i = rest.windows(2).position(|w| w == b",\"")?;
        rest.get(i + 2..)?
    } else {
        p
    };
    let text = std::str::from_utf8(body.get(..body.len().min(48))?).ok()?;
    let mut it = text.split(' ');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

async fn subscriber(
    mut s: TcpStream,
    mut buf: BytesMut,
    socketio: bool,
    shared: Arc<Shared>,
    unique: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubResult, Error> {
    let mut dec = FrameDecoder::new(Role::Client, &ws_config());
    let mut r = SubResult {
        lat: Vec::new(),
        seen: Vec::new(),
        duplicates: 0,
        unique: 0,
    };
    loop {
        let on = shared.measuring.load(Ordering::Relaxed);
        let now_ns = shared.base.elapsed().as_nanos() as u64;
        let mut got = 0;
        let mut fresh = 0;
        while let Some(f) = dec.decode(&mut buf)? {
            match f.header.opcode {
                OpCode::Close => return Err("the server closed the WebSocket".into()),
                OpCode::Text | OpCode::Binary => {}
                _ => continue,
            }
            let p = &f.payload[..];
            if socketio && p == b"2" {
                s.write_all(&client_text(b"3")).await?;
                continue;
            }
            let Some((seq, ts)) = parse_payload(p, socketio) else {
                continue;
            };
            got += 1;
            let (w, b) = ((seq / 64) as usize, seq % 64);
            if r.seen.len() <= w {
                r.seen.resize(w + 1, 0);
            }
            if r.seen[w] & (1 << b) != 0 {
                r.duplicates += 1;
            } else {
                r.seen[w] |= 1 << b;
                fresh += 1;
            }
            if on {
                r.lat.push(now_ns.saturating_sub(ts * 1000));
            }
        }
        if got > 0 {
            r.unique += fresh;
            unique.fetch_add(fresh, Ordering::Relaxed);
            shared.delivered.fetch_add(got, Ordering::Relaxed);
            if shared.waiting.load(Ordering::Acquire) > 0 {
                shared.wake.notify_waiters();
            }
        }
        tokio::select! {
            n = net::read_some(&mut s, &mut buf, 16 * 1024) => {
                if n? == 0 {
                    return Err("the server closed the connection".into());
                }
            }
            _ = stop.changed() => return Ok(r),
        }
    }
}

async fn publisher(
    addr: SocketAddr,
    topic: String,
    o: Cluster,
    shared: Arc<Shared>,
    acked: Arc<Mutex<Vec<u64>>>,
    failed: Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let s = net::connect(addr).await?;
    let (mut rd, mut wr) = s.into_split();
    let target = format!("/publish?topic={topic}");
    let credits = Arc::new(Semaphore::new(o.in_flight.max(1)));
    let sent = Arc::new(Mutex::new(std::collections::VecDeque::<u64>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let answers = tokio::spawn({
        let (credits, sent, done) = (credits.clone(), sent.clone(), done.clone());
        async move {
            let mut r = HttpReader::default();
            loop {
                let empty = sent.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
                if empty && done.load(Ordering::Acquire) {
                    return Ok::<(), Error>(());
                }
                // Nothing in flight: wait as long as it takes (the writer aborts this task
                // at the end); otherwise an answer is due within 10 s.
                let (res, _) = if empty {
                    r.response(&mut rd).await?
                } else {
                    tokio::time::timeout(Duration::from_secs(10), r.response(&mut rd))
                        .await
                        .map_err(|_| Error::from("a publish was not answered within 10 s"))??
                };
                let seq = sent.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                match seq {
                    Some(seq) if res.status == 200 => {
                        acked.lock().unwrap_or_else(|e| e.into_inner()).push(seq)
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                credits.add_permits(1);
            }
        }
    });
    let n = o.subscribers.max(1) as u64;
    while !*stop.borrow() {
        let ahead = |shared: &Shared| {
            shared.next_seq.load(Ordering::Relaxed)
                >= o.window + shared.delivered.load(Ordering::Relaxed) / n
        };
        if ahead(&shared) {
            let notified = shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            shared.waiting.fetch_add(1, Ordering::AcqRel);
            if ahead(&shared) {
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            }
            shared.waiting.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let Ok(p) = tokio::time::timeout(Duration::from_millis(100), credits.acquire()).await
        else {
            continue;
        };
        p?.forget();
        let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let ts = shared.base.elapsed().as_micros() as u64;
        let mut body = format!("{seq} {ts} ");
        while body.len() < o.size {
            body.push('x');
        }
        sent.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(seq);
        wr.write_all(&net::post_request(addr, &target, body.as_bytes()))
            .await?;
    }
    done.store(true, Ordering::Release);
    // Wake the reader if it waits with nothing in flight: it re-checks after each answer, so
    // one more read is needed only while requests are outstanding.
    if sent.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
        answers.abort();
        return Ok(());
    }
    answers.await?
}

/// The table of `rows`, with the ratios the issue asks about.
pub fn table(o: &Cluster, rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "cluster: {} WebSocket subscribers spread over the nodes, {} publishing connections \
         ({} in flight each, window {}), {} B payloads, {:.1} s measured\n",
        o.subscribers,
        o.publishers,
        o.in_flight,
        o.window,
        o.size,
        o.duration.as_secs_f64()
    );
    t.push_str(
        "| setup | delivered/s | p50 ms | p99 ms | publishes 200 | lost | duplicates | Redis calls/publish | (incl. in scripts) | server CPU µs/delivery | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            r.setup.name(),
            r.rate,
            r.latency.p50 / 1000.0,
            r.latency.p99 / 1000.0,
            r.published,
            r.lost,
            r.duplicates,
            r.redis_calls.map_or("-".into(), |c| format!("{c:.2}")),
            r.redis_cmds.map_or("-".into(), |c| format!("{c:.2}")),
            r.cpu_us.map_or("-".into(), |c| format!("{c:.2}")),
            r.errors
        );
    }
    let median = |s: Setup| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r.setup == s)
            .map(|r| r.rate)
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let mem = median(Setup::PushwireMemory);
    let one = median(Setup::PushwireRedis(1));
    let three = median(Setup::PushwireRedis(3));
    let sio = median(Setup::SocketIo(3));
    t.push('\n');
    if let (Some(a), Some(b)) = (one, mem) {
        let _ = writeln!(
            t,
            "pushwire redis ×1 / memory ×1 (median delivered/s): {:.0} %",
            100.0 * a / b
        );
    }
    if let (Some(a), Some(b)) = (three, sio) {
        let _ = writeln!(
            t,
            "pushwire redis ×3 / socket.io ×3 (median delivered/s): {:.1}×",
            a / b
        );
    }
    t
}

/// `pushwire-bench cluster [OPTIONS]`: runs every setup `--rounds` times (alternating) and
/// prints the table. Setups whose program is missing are skipped with a message.
pub fn command(opts: &std::collections::HashMap<String, String>) -> Result<(), Error> {
    fn get<T: std::str::FromStr>(
        opts: &std::collections::HashMap<String, String>,
        k: &str,
        d: T,
    ) -> Result<T, Error> {
        match opts.get(k) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value for {k}: {v:?}").into()),
            None => Ok(d),
        }
    }
    let o = Cluster {
        subscribers: get(opts, "--subscribers", 1000)?,
        publishers: get(opts, "--publishers", 3)?,
        in_flight: get(opts, "--in-flight", 16)?,
        duration: Duration::from_secs_f64(get(opts, "--seconds", 3.0)?),
        ..Cluster::default()
    };
    let rounds: usize = get(opts, "--rounds", 1)?;
    let nodes: usize = get(opts, "--nodes", 3)?;
    let only = opts.get("--only").cloned();
    let redis = which("redis-server");
    let node = which("node");
    if redis.is_none() {
        println!(
            "cluster: skipped: redis-server not found on PATH (Debian: apt-get install redis-server)"
        );
        return Ok(());
    }
    let root = crate::compare::repo_root();
    let node = match node {
        None => {
            println!("cluster: socket.io rows skipped: node not found on PATH");
            None
        }
        Some(n) => match node_dir(&root) {
            Ok(d) => Some((n, d)),
            Err(e) => {
                println!("cluster: socket.io rows skipped: {e}");
                None
            }
        },
    };
    let pushwire = if opts.contains_key("--no-build") {
        crate::compare::locate().pushwire
    } else {
        crate::compare::build(false)?.pushwire
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = cores >= 2 && !opts.contains_key("--no-pin");
    if pin && !crate::compare::pin_self(1) {
        eprintln!("pushwire-bench: taskset failed; running unpinned");
    }
    let programs = Programs {
        pushwire,
        redis,
        pin,
        node,
    };
    let mut setups = vec![
        Setup::PushwireMemory,
        Setup::PushwireRedis(1),
        Setup::PushwireRedis(nodes),
    ];
    if programs.node.is_some() {
        setups.push(Setup::SocketIo(nodes));
    }
    setups.retain(|s| only.as_ref().is_none_or(|o| s.name().contains(o.as_str())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for round in 0..rounds.max(1) {
        for &s in &setups {
            eprintln!("round {}: {}", round + 1, s.name());
            let row = rt.block_on(run_setup(&programs, s, &o))?;
            eprintln!(
                "  {:.0} delivered/s, p99 {:.1} ms, lost {}, duplicates {}",
                row.rate,
                row.latency.p99 / 1000.0,
                row.lost,
                row.duplicates
            );
            rows.push(row);
        }
    }
    print!("{}", table(&o, &rows));
    Ok(())
}
