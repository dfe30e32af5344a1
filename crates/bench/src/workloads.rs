//! The workloads: each drives a server at an address and returns a [`Measurement`].
//!
//! Every workload is bounded: a fixed number of connections, a warm-up and a measured window
//! of fixed length (or a fixed number of rounds), and generous time-outs as failure guards.
//! Connections are to 127.0.0.1 only in the commands that use them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pushwire_http::BodyChunk;
use pushwire_sse::{EventParser, ItemRef};
use pushwire_ws::frame::{FrameDecoder, OpCode, Role};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::net::{self, HttpReader};
use crate::{Error, Measurement, Percentiles, Probe};

/// A fresh topic name, so that runs against one server never see each other's history.
pub fn fresh_topic(prefix: &str) -> String {
    format!(
        "{prefix}-{:x}",
        pushwire_http::entropy::random_u64() & 0xffff_ffff
    )
}

/// Opens `n` connections with at most `parallel` handshakes at once.
async fn open_many<T, F, Fut>(n: usize, parallel: usize, f: F) -> Result<Vec<T>, Error>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
{
    let mut out = Vec::with_capacity(n);
    let mut set = JoinSet::new();
    let mut next = 0;
    while out.len() < n {
        while next < n && set.len() < parallel {
            set.spawn(f(next));
            next += 1;
        }
        match set.join_next().await {
            Some(r) => out.push(r??),
            None => break,
        }
    }
    Ok(out)
}

/// What a measured window saw.
struct WindowResult {
    secs: f64,
    server_cpu_ns: Option<u64>,
    client_cpu_ns: Option<u64>,
}

/// Warm-up and measured window of a throughput run, and the switch the tasks read.
struct Window {
    measuring: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
}

impl Window {
    fn new() -> Window {
        Window {
            measuring: Arc::new(AtomicBool::new(false)),
            stop: watch::channel(false).0,
        }
    }

    /// Sleeps the warm-up, measures for `duration`, stops the tasks; returns the window's
    /// length and the server's CPU time in it.
    async fn run(&self, warmup: Duration, duration: Duration, probe: &Probe) -> WindowResult {
        let me = Probe::pid(std::process::id());
        tokio::time::sleep(warmup).await;
        let cpu0 = probe.cpu_ns();
        let me0 = me.cpu_ns();
        let t0 = Instant::now();
        self.measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(duration).await;
        self.measuring.store(false, Ordering::Relaxed);
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = probe.cpu_ns();
        let me1 = me.cpu_ns();
        let _ = self.stop.send(true);
        WindowResult {
            secs,
            server_cpu_ns: cpu1.zip(cpu0).map(|(b, a)| b.saturating_sub(a)),
            client_cpu_ns: me1.zip(me0).map(|(b, a)| b.saturating_sub(a)),
        }
    }
}

// ------------------------------------------------------------------------- ws-echo

/// `ws-echo`: `conns` WebSocket connections to `path`, each keeping `in_flight` messages of
/// `size` bytes in flight; the server echoes them.
#[derive(Debug, Clone)]
pub struct WsEcho {
    /// Connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub in_flight: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Binary (else text) messages.
    pub binary: bool,
    /// Request target of the WebSocket endpoint.
    pub path: String,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Default for WsEcho {
    fn default() -> Self {
        WsEcho {
            conns: 100,
            in_flight: 16,
            size: 16,
            binary: false,
            path: "/echo".into(),
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
        }
    }
}

/// Runs [`WsEcho`] against `addr`.
pub async fn ws_echo(addr: SocketAddr, o: &WsEcho, probe: &Probe) -> Result<Measurement, Error> {
    let frame = net::masked_frame(o.size, o.binary);
    // Up to `in_flight` copies back to back, so a batch of sends is one write.
    let copies = o.in_flight.min((4 << 20) / frame.len()).max(1);
    let mut batch = BytesMut::with_capacity(frame.len() * copies);
    for _ in 0..copies {
        batch.extend_from_slice(&frame);
    }
    let batch = batch.freeze();
    let host = addr.to_string();
    let path = o.path.clone();
    let conns = open_many(o.conns, 64, move |_| {
        let (host, path) = (host.clone(), path.clone());
        async move {
            let mut s = net::connect(addr).await?;
            let left = net::ws_handshake(&mut s, &host, &path).await?;
            Ok((s, left))
        }
    })
    .await?;
    let win = Window::new();
    let halves = conns.into_iter().map(|(s, left)| {
        let (rd, wr) = s.into_split();
        (rd, wr, left)
    });
    let tasks = EchoTasks::spawn(
        halves,
        o.in_flight,
        frame.len(),
        &batch,
        &win.measuring,
        &win.stop,
    );
    let w = win.run(o.warmup, o.duration, probe).await;
    let (mut lat, errors) = tasks.finish().await;
    Ok(Measurement {
        name: format!(
            "ws-echo c={} d={} s={} {}",
            o.conns,
            o.in_flight,
            o.size,
            if o.binary { "bin" } else { "text" }
        ),
        unit: "msgs",
        ops: lat.len() as u64,
        secs: w.secs,
        latency: Percentiles::of_ns(&mut lat),
        server_cpu_ns: w.server_cpu_ns,
        client_cpu_ns: w.client_cpu_ns,
        conns: o.conns,
        errors,
        ..Measurement::default()
    })
}

/// The echo connections of a workload once their handshakes are done: a writer and a reader
/// task per connection, sharing `in_flight` credits (ws-echo, tls, deflate-echo).
pub(crate) struct EchoTasks {
    writers: JoinSet<Result<(), Error>>,
    readers: JoinSet<Result<Vec<u64>, Error>>,
}

impl EchoTasks {
    /// Spawns the writer (`batch`: `frame_len`-byte pre-masked frames) and the reader (`left`:
    /// bytes read after the handshake) of every connection.
    pub(crate) fn spawn<R, W>(
        conns: impl IntoIterator<Item = (R, W, BytesMut)>,
        in_flight: usize,
        frame_len: usize,
        batch: &Bytes,
        measuring: &Arc<AtomicBool>,
        stop: &watch::Sender<bool>,
    ) -> EchoTasks
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let mut writers = JoinSet::new();
        let mut readers = JoinSet::new();
        for (rd, wr, left) in conns {
            let credits = Arc::new(Semaphore::new(in_flight));
            let sent = Arc::new(Mutex::new(VecDeque::with_capacity(in_flight)));
            writers.spawn(echo_writer(
                wr,
                credits.clone(),
                sent.clone(),
                frame_len,
                batch.clone(),
            ));
            readers.spawn(echo_reader(
                rd,
                left,
                credits,
                sent,
                measuring.clone(),
                stop.subscribe(),
            ));
        }
        EchoTasks { writers, readers }
    }

    /// Stops the writers and collects the readers: every latency seen while measuring (ns)
    /// and how many connections failed.
    pub(crate) async fn finish(mut self) -> (Vec<u64>, u64) {
        self.writers.abort_all();
        let mut lat = Vec::new();
        let mut errors = 0;
        while let Some(r) = self.readers.join_next().await {
            match r {
                Ok(Ok(v)) => lat.extend(v),
                _ => errors += 1,
            }
        }
        (lat, errors)
    }
}

/// Writes up to the available credits of pre-masked frames, stamping each send.
pub(crate) async fn echo_writer<W: AsyncWrite + Unpin>(
    mut wr: W,
    credits: Arc<Semaphore>,
    sent: Arc<Mutex<VecDeque<Instant>>>,
    frame_len: usize,
    batch: Bytes,
) -> Result<(), Error> {
    let per_write = batch.len() / frame_len;
    loop {
        credits.acquire().await?.forget();
        let mut n = 1;
        let extra = credits.available_permits();
        if extra > 0
            && let Ok(p) = credits.try_acquire_many(extra as u32)
        {
            p.forget();
            n += extra;
        }
        {
            // Stamped before the write, so the reader always finds the stamp.
            let now = Instant::now();
            let mut q = sent.lock().map_err(|_| "poisoned")?;
            q.extend(std::iter::repeat_n(now, n));
        }
        while n > 0 {
            let k = n.min(per_write);
            wr.write_all(&batch[..k * frame_len]).await?;
            n -= k;
        }
        wr.flush().await?;
    }
}

/// Reads echoed frames (RSV1 allowed: compressed echoes count as messages too), returns a
/// credit per whole message and the send → echo latencies seen while measuring.
pub(crate) async fn echo_reader<R: AsyncRead + Unpin>(
    mut rd: R,
    mut buf: BytesMut,
    credits: Arc<Semaphore>,
    sent: Arc<Mutex<VecDeque<Instant>>>,
    measuring: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>, Error> {
    let cfg = pushwire_ws::Config::default().with_max_frame(64 << 20);
    let mut dec = FrameDecoder::new(Role::Client, &cfg);
    dec.set_allowed_rsv(pushwire_ws::frame::Rsv::RSV1);
    let mut lat = Vec::new();
    let mut now = Instant::now();
    loop {
        let on = measuring.load(Ordering::Relaxed);
        while let Some(f) = dec.decode(&mut buf)? {
            match f.header.opcode {
                OpCode::Close => return Ok(lat),
                OpCode::Ping | OpCode::Pong => continue,
                _ if !f.header.fin => continue,
                _ => {}
            }
            let t = sent.lock().map_err(|_| "poisoned")?.pop_front();
            if on && let Some(t) = t {
                lat.push(now.saturating_duration_since(t).as_nanos() as u64);
            }
            credits.add_permits(1);
        }
        let want = dec.remaining(&buf).max(64 * 1024);
        tokio::select! {
            r = net::read_some(&mut rd, &mut buf, want) => {
                if r? == 0 {
                    return Ok(lat);
                }
                now = Instant::now();
            }
            _ = stop.changed() => return Ok(lat),
        }
    }
}

// ------------------------------------------------------------------------- http

/// `http`: keep-alive `GET`s of `path` over `conns` connections, `depth` requests pipelined
/// on each (1 = one at a time).
#[derive(Debug, Clone)]
pub struct HttpGet {
    /// Connections.
    pub conns: usize,
    /// Requests in flight per connection (pipelining depth).
    pub depth: usize,
    /// Request target.
    pub path: String,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Default for HttpGet {
    fn default() -> Self {
        HttpGet {
            conns: 100,
            depth: 1,
            path: "/healthz".into(),
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
        }
    }
}

/// Runs [`HttpGet`] against `addr`.
pub async fn http_get(addr: SocketAddr, o: &HttpGet, probe: &Probe) -> Result<Measurement, Error> {
    let req = net::get_request(addr, &o.path);
    let batch: Bytes = req.repeat(o.depth).into();
    let conns = open_many(o.conns, 64, move |_| net::connect(addr)).await?;
    let win = Window::new();
    let mut set = JoinSet::new();
    for s in conns {
        set.spawn(http_conn(
            s,
            batch.clone(),
            req.len(),
            o.depth,
            win.measuring.clone(),
            win.stop.subscribe(),
        ));
    }
    let w = win.run(o.warmup, o.duration, probe).await;
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(v)) => lat.extend(v),
            _ => errors += 1,
        }
    }
    Ok(Measurement {
        name: format!("http GET {} c={} d={}", o.path, o.conns, o.depth),
        unit: "reqs",
        ops: lat.len() as u64,
        secs: w.secs,
        latency: Percentiles::of_ns(&mut lat),
        server_cpu_ns: w.server_cpu_ns,
        client_cpu_ns: w.client_cpu_ns,
        conns: o.conns,
        errors,
        ..Measurement::default()
    })
}

async fn http_conn(
    mut s: TcpStream,
    batch: Bytes,
    req_len: usize,
    depth: usize,
    measuring: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>, Error> {
    let mut reader = HttpReader::default();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut lat = Vec::new();
    let mut pending_body = None;
    let mut to_send = depth;
    loop {
        if to_send > 0 {
            let now = Instant::now();
            sent.extend(std::iter::repeat_n(now, to_send));
            s.write_all(&batch[..to_send * req_len]).await?;
        }
        tokio::select! {
            r = net::read_some(&mut s, &mut reader.buf, 16 * 1024) => {
                if r? == 0 {
                    return Err("server closed the connection".into());
                }
            }
            _ = stop.changed() => return Ok(lat),
        }
        let now = Instant::now();
        let on = measuring.load(Ordering::Relaxed);
        let done = reader.drain_complete(&mut pending_body)?;
        for _ in 0..done {
            if let Some(t) = sent.pop_front()
                && on
            {
                lat.push(now.saturating_duration_since(t).as_nanos() as u64);
            }
        }
        to_send = done;
    }
}

// ------------------------------------------------------------------------- sse-fanout

/// `sse-fanout`: `subscribers` `EventSource` connections on one topic; one publisher posts
/// messages, at `rate` per second or (`None`) as fast as the subscribers take them: at most
/// `window` messages ahead of the average subscriber, so that a server's slow-consumer
/// limit is not what is measured.
#[derive(Debug, Clone)]
pub struct SseFanout {
    /// Subscribers.
    pub subscribers: usize,
    /// Messages per second, or as fast as possible.
    pub rate: Option<f64>,
    /// Publishes ahead of the average subscriber (as fast as possible only).
    pub window: u64,
    /// Payload bytes (at least the sequence number and timestamp).
    pub size: usize,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Default for SseFanout {
    fn default() -> Self {
        SseFanout {
            subscribers: 1000,
            rate: None,
            window: 32,
            size: 32,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(3),
        }
    }
}

struct FanoutShared {
    base: Instant,
    delivered: AtomicU64,
    waiting: AtomicBool,
    wake: Notify,
    ready: AtomicUsize,
}

/// Runs [`SseFanout`] against `addr`.
pub async fn sse_fanout(
    addr: SocketAddr,
    o: &SseFanout,
    probe: &Probe,
) -> Result<Measurement, Error> {
    let topic = fresh_topic("fanout");
    let shared = Arc::new(FanoutShared {
        base: Instant::now(),
        delivered: AtomicU64::new(0),
        waiting: AtomicBool::new(false),
        wake: Notify::new(),
        ready: AtomicUsize::new(0),
    });
    let target = format!("/events?topic={topic}");
    let conns = open_many(o.subscribers, 64, move |_| {
        let target = target.clone();
        async move {
            let mut s = net::connect(addr).await?;
            s.write_all(&net::get_request(addr, &target)).await?;
            let mut reader = HttpReader::default();
            let res = reader.head(&mut s).await?;
            if res.status != 200 {
                return Err(format!("/events answered {}", res.status).into());
            }
            let dec = reader.body_decoder(&res)?;
            Ok((s, reader, dec))
        }
    })
    .await?;
    let win = Window::new();
    let mut subs = JoinSet::new();
    for (s, reader, dec) in conns {
        subs.spawn(sse_subscriber(
            s,
            reader,
            dec,
            shared.clone(),
            win.measuring.clone(),
            win.stop.subscribe(),
        ));
    }
    // Subscriptions are registered when the head is sent (pushwire, axum); a short pause
    // covers servers that register just after.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let publisher = tokio::spawn(sse_publisher(
        addr,
        topic,
        o.clone(),
        shared.clone(),
        win.stop.subscribe(),
    ));
    let w = win.run(o.warmup, o.duration, probe).await;
    let mut lat = Vec::new();
    let (mut gaps, mut errors) = (0, 0);
    while let Some(r) = subs.join_next().await {
        match r {
            Ok(Ok((v, g))) => {
                lat.extend(v);
                gaps += g;
            }
            _ => errors += 1,
        }
    }
    shared.wake.notify_one();
    match publisher.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("publisher: {e}").into()),
        Err(e) => return Err(format!("publisher: {e}").into()),
    }
    Ok(Measurement {
        name: format!(
            "sse-fanout n={} {}",
            o.subscribers,
            match o.rate {
                Some(r) => format!("{r}/s"),
                None => "max".into(),
            }
        ),
        unit: "events",
        ops: lat.len() as u64,
        secs: w.secs,
        latency: Percentiles::of_ns(&mut lat),
        server_cpu_ns: w.server_cpu_ns,
        client_cpu_ns: w.client_cpu_ns,
        conns: o.subscribers,
        gaps,
        errors,
        ..Measurement::default()
    })
}

async fn sse_publisher(
    addr: SocketAddr,
    topic: String,
    o: SseFanout,
    shared: Arc<FanoutShared>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let s = net::connect(addr).await?;
    let (mut rd, mut wr) = s.into_split();
    let target = format!("/publish?topic={topic}");
    // Pipelined publishes, at most 16 unanswered.
    let credits = Arc::new(Semaphore::new(16));
    let c2 = credits.clone();
    let mut stop2 = stop.clone();
    let answers = tokio::spawn(async move {
        let mut r = HttpReader::default();
        loop {
            tokio::select! {
                res = r.response(&mut rd) => {
                    let (res, _) = res?;
                    if res.status != 200 {
                        return Err::<(), Error>(format!("publish answered {}", res.status).into());
                    }
                    c2.add_permits(1);
                }
                _ = stop2.changed() => return Ok(()),
            }
        }
    });
    let n = o.subscribers.max(1) as u64;
    let start = Instant::now();
    let mut seq: u64 = 0;
    while !*stop.borrow() {
        match o.rate {
            Some(rate) => {
                let due = (start.elapsed().as_secs_f64() * rate) as u64;
                if seq >= due {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            }
            None => {
                // Wait until the average subscriber is within `window` messages.
                if seq > o.window + shared.delivered.load(Ordering::Relaxed) / n {
                    shared.waiting.store(true, Ordering::Release);
                    if seq > o.window + shared.delivered.load(Ordering::Relaxed) / n {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(100),
                            shared.wake.notified(),
                        )
                        .await;
                    }
                    shared.waiting.store(false, Ordering::Release);
                    continue;
                }
            }
        }
        let Ok(p) = tokio::time::timeout(Duration::from_secs(1), credits.acquire()).await else {
            continue;
        };
        p?.forget();
        seq += 1;
        let ts = shared.base.elapsed().as_micros() as u64;
        let mut body = format!("{seq} {ts} ");
        while body.len() < o.size {
            body.push('x');
        }
        wr.write_all(&net::post_request(addr, &target, body.as_bytes()))
            .await?;
    }
    answers.await??;
    Ok(())
}

async fn sse_subscriber(
    mut s: TcpStream,
    mut reader: HttpReader,
    mut dec: pushwire_http::BodyDecoder,
    shared: Arc<FanoutShared>,
    measuring: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> Result<(Vec<u64>, u64), Error> {
    let mut parser = EventParser::new();
    let mut lat = Vec::new();
    let mut expect: Option<u64> = None;
    let mut gaps = 0;
    shared.ready.fetch_add(1, Ordering::Relaxed);
    loop {
        let on = measuring.load(Ordering::Relaxed);
        let now_us = shared.base.elapsed().as_nanos() as u64;
        let mut got = 0;
        while let Some(chunk) = dec.decode(&mut reader.buf)? {
            match chunk {
                BodyChunk::Data(d) => parser.feed(&d),
                _ => return Err("event stream ended".into()),
            }
        }
        while let Some(item) = parser.next_item_ref()? {
            if let ItemRef::Event { data, .. } = item {
                let mut parts = data.split(' ');
                let seq: u64 = parts
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("bad event")?;
                let ts: u64 = parts
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("bad event")?;
                if let Some(e) = expect
                    && seq != e
                {
                    gaps += seq.saturating_sub(e);
                }
                expect = Some(seq + 1);
                got += 1;
                if on {
                    lat.push(now_us.saturating_sub(ts * 1000));
                }
            }
        }
        if got > 0 {
            shared.delivered.fetch_add(got, Ordering::Relaxed);
            if shared.waiting.load(Ordering::Acquire) {
                shared.wake.notify_one();
            }
        }
        tokio::select! {
            r = net::read_some(&mut s, &mut reader.buf, 16 * 1024) => {
                if r? == 0 {
                    return Err("server closed the event stream".into());
                }
            }
            _ = stop.changed() => return Ok((lat, gaps)),
        }
    }
}

// ------------------------------------------------------------------------- long-poll

/// `long-poll`: `waiters` long-poll requests wait on one topic; one publish must answer them
/// all. Repeated `rounds` times (each waiter asks again with the `next` cursor).
#[derive(Debug, Clone)]
pub struct LongPoll {
    /// Waiting requests.
    pub waiters: usize,
    /// Publishes (each answers every waiter).
    pub rounds: usize,
    /// Pause after the last request is written before publishing, so the server has them
    /// all waiting.
    pub settle: Duration,
}

impl Default for LongPoll {
    fn default() -> Self {
        LongPoll {
            waiters: 1000,
            rounds: 3,
            settle: Duration::from_millis(500),
        }
    }
}

/// Runs [`LongPoll`] against `addr`: latency is from the publish request being written to
/// each waiter's answer arriving.
///
/// A waiter asks again only once every waiter has its answer for the round: the re-ask is
/// not what is measured, and sent on arrival it doubled the load client's work inside the
/// publish-to-answer window (a loopback `send` also runs the server side's TCP receive), so
/// the last answers waited for the client's core rather than the server's.
pub async fn long_poll(
    addr: SocketAddr,
    o: &LongPoll,
    probe: &Probe,
) -> Result<Measurement, Error> {
    let topic = fresh_topic("lp");
    let cursor = net::current_cursor(addr, &topic).await?;
    let asked = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(Answered {
        count: AtomicUsize::new(0),
        waiters: o.waiters,
        rounds_done: watch::Sender::new(0),
    });
    let (go_tx, _) = tokio::sync::broadcast::channel::<(usize, Instant)>(16);
    let mut set = JoinSet::new();
    let conns = open_many(o.waiters, 64, move |_| net::connect(addr)).await?;
    for s in conns {
        // A failure guard only: a round waits for every waiter to ask and then `settle`, so
        // a healthy run stays far below 30 s a round.
        let guard = (Duration::from_secs(30) + o.settle).saturating_mul(o.rounds as u32);
        let w = lp_waiter(
            s,
            addr,
            topic.clone(),
            cursor.clone(),
            o.rounds,
            asked.clone(),
            answered.clone(),
            go_tx.subscribe(),
        );
        set.spawn(async move {
            tokio::time::timeout(guard, w)
                .await
                .map_err(|_| Error::from("long-poll waiter timed out"))?
        });
    }
    let mut publisher = net::connect(addr).await?;
    let mut pub_reader = HttpReader::default();
    let me = Probe::pid(std::process::id());
    let cpu0 = probe.cpu_ns();
    let me0 = me.cpu_ns();
    let t_all = Instant::now();
    for round in 0..o.rounds {
        let want = o.waiters * (round + 1);
        let guard = Instant::now();
        while asked.load(Ordering::Relaxed) < want {
            if guard.elapsed() > Duration::from_secs(20) {
                return Err("long-poll waiters did not all ask in 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(o.settle).await;
        let body = format!("round {round}");
        let t0 = Instant::now();
        let _ = go_tx.send((round, t0));
        publisher
            .write_all(&net::post_request(
                addr,
                &format!("/publish?topic={topic}"),
                body.as_bytes(),
            ))
            .await?;
        let _ = pub_reader.response(&mut publisher).await?;
    }
    let mut lat = Vec::new();
    let mut missing = 0u64;
    let mut errors = 0;
    // Connections stay open until every waiter is done: closed one by one as they finish,
    // the last round's answers shared both cores with 1,000 teardowns (client close and RST,
    // server read error, close and task exit), so that round measured them too.
    let mut open = Vec::with_capacity(o.waiters);
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok((v, s))) => {
                missing += (o.rounds - v.len()) as u64;
                lat.extend(v);
                open.push(s);
            }
            _ => {
                errors += 1;
                missing += o.rounds as u64;
            }
        }
    }
    let secs = t_all.elapsed().as_secs_f64();
    let cpu = probe.cpu_ns().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let me1 = me.cpu_ns();
    drop(open);
    Ok(Measurement {
        name: format!("long-poll n={} rounds={}", o.waiters, o.rounds),
        unit: "answers",
        ops: lat.len() as u64,
        secs,
        latency: Percentiles::of_ns(&mut lat),
        server_cpu_ns: cpu,
        client_cpu_ns: me1.zip(me0).map(|(b, a)| b.saturating_sub(a)),
        conns: o.waiters,
        gaps: missing,
        errors,
        ..Measurement::default()
    })
}

/// Answers received by all waiters, and the rounds every waiter has been answered in.
struct Answered {
    count: AtomicUsize,
    waiters: usize,
    rounds_done: watch::Sender<usize>,
}

impl Answered {
    /// Counts one answer of `round`; the last one of the round releases the re-asks.
    fn one(&self, round: usize) {
        if self.count.fetch_add(1, Ordering::Relaxed) + 1 == self.waiters * (round + 1) {
            self.rounds_done.send_replace(round + 1);
        }
    }

    /// Waits until every waiter has its answer for `round`.
    async fn all(&self, round: usize) -> Result<(), Error> {
        let mut rx = self.rounds_done.subscribe();
        match tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|&d| d > round)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err("long-poll round not answered to every waiter in 30 s".into()),
        }
    }
}

/// Reads the long-poll answers of one connection into one reused buffer: the status and the
/// `Content-Length` body, found in one pass over the head's lines. The general [`HttpReader`]
/// built a `Response` (reason and header strings) and grew its buffer again for every answer,
/// and each answer's read had a timer of its own; in the publish-to-answer window that was
/// allocator and timer-wheel work on the load client's core, which the last answers waited for.
#[derive(Debug)]
struct SizedReader {
    buf: Vec<u8>,
    /// Start of the first head line not looked at yet (a line split across reads is looked
    /// at again when its end arrives; complete lines once).
    line: usize,
    status: Option<u16>,
    len: Option<usize>,
    /// Where the head ends, once its empty line has arrived.
    head_end: Option<usize>,
}

/// Largest answer head [`SizedReader`] accepts.
const LP_MAX_HEAD: usize = 8 * 1024;
/// Largest answer body [`SizedReader`] accepts.
const LP_MAX_BODY: usize = 1 << 20;

impl SizedReader {
    fn new() -> Self {
        SizedReader {
            buf: Vec::with_capacity(4096),
            line: 0,
            status: None,
            len: None,
            head_end: None,
        }
    }

    /// The first complete response in the buffer: its status, where its body is, and its
    /// whole length; `None` until all of it has arrived.
    fn parse(&mut self) -> Result<Option<(u16, std::ops::Range<usize>, usize)>, Error> {
        while self.head_end.is_none() {
            let rest = self.buf.get(self.line..).unwrap_or_default();
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > LP_MAX_HEAD {
                    return Err("long-poll answer head too large".into());
                }
                return Ok(None);
            };
            let line = rest.get(..nl).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.status.is_none() {
                self.status = Some(status_of(line)?);
            } else if line.is_empty() {
                self.head_end = Some(self.line + nl + 1);
            } else if let Some(colon) = line.iter().position(|&b| b == b':') {
                let (name, value) = line.split_at(colon);
                if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    return Err("long-poll answer not framed by Content-Length".into());
                }
                if name.eq_ignore_ascii_case(b"content-length") {
                    let v = std::str::from_utf8(value.get(1..).unwrap_or_default())
                        .ok()
                        .map(str::trim)
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|&n| n <= LP_MAX_BODY)
                        .ok_or("bad long-poll Content-Length")?;
                    self.len = Some(v);
                }
            }
            self.line += nl + 1;
            if self.line > LP_MAX_HEAD {
                return Err("long-poll answer head too large".into());
            }
        }
        let (Some(status), Some(end)) = (self.status, self.head_end) else {
            return Ok(None);
        };
        let len = self
            .len
            .ok_or("long-poll answer not framed by Content-Length")?;
        if self.buf.len() < end + len {
            return Ok(None);
        }
        Ok(Some((status, end..end + len, end + len)))
    }

    /// Reads until one whole response is buffered.
    async fn response(
        &mut self,
        s: &mut TcpStream,
    ) -> Result<(u16, std::ops::Range<usize>, usize), Error> {
        loop {
            if let Some(r) = self.parse()? {
                return Ok(r);
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(4096);
            }
            if s.read_buf(&mut self.buf).await? == 0 {
                return Err("connection closed before a long-poll answer".into());
            }
        }
    }

    /// Drops the first `n` bytes (a response handled).
    fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        self.line = 0;
        self.status = None;
        self.len = None;
        self.head_end = None;
    }
}

/// The status code of an `HTTP/1.x NNN reason` line.
fn status_of(line: &[u8]) -> Result<u16, Error> {
    match line.get(..12) {
        Some(l) if l.starts_with(b"HTTP/1.") && l.get(8) == Some(&b' ') => l
            .get(9..12)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u16>().ok())
            .ok_or_else(|| "bad long-poll status line".into()),
        _ => Err("bad long-poll status line".into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn lp_waiter(
    mut s: TcpStream,
    addr: SocketAddr,
    topic: String,
    mut cursor: String,
    rounds: usize,
    asked: Arc<AtomicUsize>,
    answered: Arc<Answered>,
    mut go: tokio::sync::broadcast::Receiver<(usize, Instant)>,
) -> Result<(Vec<u64>, TcpStream), Error> {
    let mut reader = SizedReader::new();
    let mut lat = Vec::with_capacity(rounds);
    for round in 0..rounds {
        if round > 0 {
            answered.all(round - 1).await?;
        }
        let target = format!("/long-poll?topic={topic}&since={cursor}&timeout=60000");
        s.write_all(&net::get_request(addr, &target)).await?;
        asked.fetch_add(1, Ordering::Relaxed);
        // The guard is the caller's timeout around the whole waiter: a timer per answer was
        // a timer-wheel insert and removal on the client, the removal inside the window.
        let (status, body, total) = reader.response(&mut s).await?;
        let now = Instant::now();
        if status != 200 {
            return Err(format!("/long-poll answered {status}").into());
        }
        let body = reader.buf.get(body).unwrap_or_default();
        let (r, t0) = go.recv().await?;
        if r != round || !body.windows(7).any(|w| w == b"\"data\":") {
            return Err("long-poll answered without the message".into());
        }
        lat.push(now.saturating_duration_since(t0).as_nanos() as u64);
        // Into the cursor's own allocation: a new string per answer was a malloc and a free
        // inside the window.
        let next = next_cursor(body).ok_or("no next cursor")?;
        cursor.clear();
        cursor.push_str(next);
        reader.consume(total);
        answered.one(round);
    }
    // The task ends (its future, buffers and task cell freed, the join set woken) only once
    // the last round is fully answered, not between two answers of it. This waiter has all
    // its answers: should another fail, that one is counted, not this one.
    if rounds > 0 {
        let _ = answered.all(rounds - 1).await;
    }
    Ok((lat, s))
}

/// The `next` cursor of a poll answer's JSON body, borrowed from it.
fn next_cursor(body: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(body).ok()?;
    let i = s.find("\"next\":\"")? + 8;
    let rest = s.get(i..)?;
    rest.get(..rest.find('"')?)
}

// ------------------------------------------------------------------------- idle

/// Which kind of idle connection [`idle`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleKind {
    /// A WebSocket (handshake done) on `/echo`.
    WebSocket,
    /// An `EventSource` on `/events` (response head received).
    Sse,
    /// A waiting `/long-poll` request (timeout 120 s).
    LongPoll,
}

impl IdleKind {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            IdleKind::WebSocket => "ws",
            IdleKind::Sse => "sse",
            IdleKind::LongPoll => "long-poll",
        }
    }
}

/// `idle`: opens `conns` connections of one kind and holds them, reading the server's RSS
/// before and after.
#[derive(Debug, Clone)]
pub struct Idle {
    /// Connections held.
    pub conns: usize,
    /// Their kind.
    pub kind: IdleKind,
    /// Pause after the last connection is open before reading RSS.
    pub settle: Duration,
}

impl Default for Idle {
    fn default() -> Self {
        Idle {
            conns: 10_000,
            kind: IdleKind::WebSocket,
            settle: Duration::from_millis(1000),
        }
    }
}

/// Runs [`Idle`] against `addr`. `ops` is the connections opened, and `secs` the time to
/// open them all.
pub async fn idle(addr: SocketAddr, o: &Idle, probe: &Probe) -> Result<Measurement, Error> {
    let topic = fresh_topic("idle");
    let kind = o.kind;
    let open = move |_| {
        let topic = topic.clone();
        async move {
            let mut s = net::connect(addr).await?;
            match kind {
                IdleKind::WebSocket => {
                    let _ = net::ws_handshake(&mut s, &addr.to_string(), "/echo").await?;
                }
                IdleKind::Sse => {
                    s.write_all(&net::get_request(addr, &format!("/events?topic={topic}")))
                        .await?;
                    let res = HttpReader::default().head(&mut s).await?;
                    if res.status != 200 {
                        return Err(format!("/events answered {}", res.status).into());
                    }
                }
                IdleKind::LongPoll => {
                    s.write_all(&net::get_request(
                        addr,
                        &format!("/long-poll?topic={topic}&timeout=120000"),
                    ))
                    .await?;
                }
            }
            Ok::<TcpStream, Error>(s)
        }
    };
    // One connection opened and closed first, so that lazily allocated server state (the
    // topic, runtime buffers) is in the "before" figure.
    drop(open(0).await?);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = probe.rss();
    let t0 = Instant::now();
    let held = open_many(o.conns, 128, open).await?;
    let secs = t0.elapsed().as_secs_f64();
    // A connection counts as open once the kernel completed its handshake, which can be
    // before the server accepted it: wait `settle`, then until RSS holds still (two readings
    // 250 ms apart within 0.5 %), at most 15 s.
    tokio::time::sleep(o.settle).await;
    let mut rss_after = probe.rss();
    let guard = Instant::now();
    while let Some(prev) = rss_after {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = probe.rss();
        rss_after = now;
        match now {
            Some(n) if n.abs_diff(prev) * 200 <= prev => break,
            _ if guard.elapsed() > Duration::from_secs(15) => break,
            _ => {}
        }
    }
    let m = Measurement {
        name: format!("idle {} n={}", kind.name(), o.conns),
        unit: "conns",
        ops: held.len() as u64,
        secs,
        rss_before,
        rss_after,
        conns: held.len(),
        ..Measurement::default()
    };
    drop(held);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `all(round)` is still waiting (one poll, then a zero timeout: no clock involved).
    async fn waiting(a: &Answered, round: usize) -> bool {
        tokio::time::timeout(Duration::ZERO, a.all(round))
            .await
            .is_err()
    }

    /// An answer whose body holds an empty line (it must not be taken for a head's end),
    /// then the start of the next response.
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
        Content-Length: 18\r\n\r\n{\"next\":\"a\"}\r\n\r\nxxHTTP/1.1 204";
    const BODY: &[u8] = b"{\"next\":\"a\"}\r\n\r\nxx";

    /// Feeds `parts` one after another; answers (status, body) once complete, and how many
    /// parts that took.
    /// Status, body, whole length, parts fed.
    type Fed = (u16, Vec<u8>, usize, usize);

    fn feed(parts: &[&[u8]]) -> Result<Option<Fed>, Error> {
        let mut r = SizedReader::new();
        for (i, p) in parts.iter().enumerate() {
            r.buf.extend_from_slice(p);
            if let Some((status, body, total)) = r.parse()? {
                return Ok(Some((status, r.buf[body].to_vec(), total, i + 1)));
            }
        }
        Ok(None)
    }

    #[test]
    fn long_poll_answer_whole_split_anywhere_and_byte_by_byte() {
        let body = BODY.to_vec();
        let total = ANSWER.len() - b"HTTP/1.1 204".len();
        assert_eq!(
            feed(&[ANSWER]).unwrap(),
            Some((200, body.clone(), total, 1))
        );
        for at in 1..total {
            let (a, b) = ANSWER.split_at(at);
            let got = feed(&[a, b]).unwrap();
            assert_eq!(got, Some((200, body.clone(), total, 2)), "split at {at}");
        }
        let bytes: Vec<&[u8]> = ANSWER.chunks(1).collect();
        assert_eq!(feed(&bytes).unwrap(), Some((200, body, total, total)));
    }

    #[test]
    fn long_poll_answer_needs_content_length_and_a_status_line() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert!(feed(&[chunked]).is_err());
        assert!(feed(&[b"HTTP/1.1 200 OK\r\n\r\n"]).is_err());
        assert!(feed(&[b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"]).is_err());
        assert!(feed(&[b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n"]).is_err());
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            LP_MAX_BODY + 1
        );
        assert!(feed(&[big.as_bytes()]).is_err());
        assert!(feed(&[&vec![b'a'; LP_MAX_HEAD + 1]]).is_err());
        // Not an error: an incomplete head, a 503 with its body.
        assert_eq!(feed(&[b"HTTP/1.1 200 OK\r\n"]).unwrap(), None);
        let busy = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno";
        assert_eq!(
            feed(&[busy]).unwrap(),
            Some((503, b"no".to_vec(), busy.len(), 1))
        );
    }

    #[test]
    fn long_poll_answers_one_after_another_in_one_buffer() {
        let mut r = SizedReader::new();
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        r.buf.extend_from_slice(one);
        r.buf
            .extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nde");
        let (s, b, n) = r.parse().unwrap().unwrap();
        assert_eq!((s, &r.buf[b], n), (200, &b"abc"[..], one.len()));
        r.consume(n);
        let (_, b, n) = r.parse().unwrap().unwrap();
        assert_eq!(&r.buf[b], b"de");
        r.consume(n);
        assert!(r.buf.is_empty());
    }

    #[test]
    fn next_cursor_is_borrowed_from_the_answer() {
        let body = br#"{"messages":[{"id":"ab-3","data":"x"}],"next":"ab-3","missed":false}"#;
        assert_eq!(next_cursor(body), Some("ab-3"));
        assert_eq!(next_cursor(br#"{"next":"ab-3}"#), None);
        assert_eq!(next_cursor(br#"{"messages":[]}"#), None);
        assert_eq!(next_cursor(b"\xff\"next\":\"a\""), None);
    }

    #[tokio::test]
    async fn long_poll_re_asks_wait_for_every_answer_of_the_round() {
        let a = Answered {
            count: AtomicUsize::new(0),
            waiters: 3,
            rounds_done: watch::Sender::new(0),
        };
        assert!(waiting(&a, 0).await);
        a.one(0);
        a.one(0);
        assert!(waiting(&a, 0).await, "two of three answered");
        a.one(0);
        assert!(!waiting(&a, 0).await, "all three answered");
        // The next round starts counting from there.
        a.one(1);
        a.one(1);
        assert!(waiting(&a, 1).await);
        assert!(!waiting(&a, 0).await);
        a.one(1);
        assert!(!waiting(&a, 1).await);
    }
}
