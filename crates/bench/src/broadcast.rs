//! `pushwire-bench deflate-broadcast`: one JSON message broadcast to many permessage-deflate
//! subscribers (issue 11), compressed once and shared against compressed per connection.
//!
//! Everything runs in this process over real 127.0.0.1 sockets with pushwire-ws on both
//! ends. The server side lives on its own thread with a current-thread tokio runtime: it
//! accepts the subscribers with [`WebSocket::accept_stream`] (deflate negotiated with the
//! default parameters: no context takeover, 15-bit windows, level 6) and, on command,
//! broadcasts `messages` messages to every connection in one of two modes:
//! - **shared**: each message is compressed once ([`SharedFrame::compressed`]) and the same
//!   frame is queued on every connection ([`WebSocket::send_shared`]);
//! - **per connection**: every connection gets a fresh [`Message`] and compresses it itself
//!   ([`WebSocket::send`]), as a server without sharing does.
//!
//! The server's cost is that thread's CPU time (`/proc/thread-self/schedstat`), so the
//! clients and the other processes of a shared machine do not count; it includes the
//! compression, the framing and the `write` system call of every delivery. The clients (the
//! main thread) offer permessage-deflate, inflate every message, check it equals the JSON
//! sent, and count the bytes read at their sockets. Modes alternate for `rounds` rounds each.
//! Idle memory is the process's RSS growth while the subscribers connect, divided by their
//! number: both halves of each connection (server and client) live in this process, so it
//! is an upper bound for the server half.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pushwire_ws::frame::{OpCode, SharedFrame};
use pushwire_ws::{Config, Message, WebSocket};
use tokio::sync::{mpsc, oneshot};

use crate::net::{self, ByteCounter, Counted};
use crate::{Error, Probe, stats};

/// The broadcast: `subscribers` deflate connections, `messages` messages of `size` bytes per
/// round, `rounds` rounds of each mode.
#[derive(Debug, Clone)]
pub struct DeflateBroadcast {
    /// Subscriber connections.
    pub subscribers: usize,
    /// Uncompressed bytes per message (JSON-like, [`crate::deflate::json_payload`]).
    pub size: usize,
    /// Messages broadcast per round.
    pub messages: usize,
    /// Rounds of each mode (they alternate).
    pub rounds: usize,
}

impl Default for DeflateBroadcast {
    fn default() -> Self {
        DeflateBroadcast {
            subscribers: 1000,
            size: 1024,
            messages: 50,
            rounds: 3,
        }
    }
}

/// The figures of one mode.
#[derive(Debug, Clone, Default)]
pub struct Mode {
    /// Server CPU per delivered message, ns, one sample per round.
    pub cpu_ns: Vec<f64>,
    /// Bytes read at the client sockets per delivered message (WebSocket frame bytes, TCP/IP
    /// headers not counted), one sample per round.
    pub wire: Vec<f64>,
}

/// What [`run`] measured.
#[derive(Debug, Clone, Default)]
pub struct BroadcastResult {
    /// Compressed once, one frame for everyone.
    pub shared: Mode,
    /// Compressed for each connection.
    pub per_conn: Mode,
    /// RSS growth per connection while the idle subscribers connected (bytes; server and
    /// client halves together).
    pub idle_rss_per_conn: Option<f64>,
    /// Whether CPU figures are thread CPU time (else wall clock).
    pub cpu_clock: bool,
}

/// This thread's CPU time in ns (`/proc/thread-self/schedstat`), if the kernel tells it. The
/// kernel updates it at scheduler ticks and switches (a few ms): measure for 100 ms or more.
pub fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A command to the server thread: broadcast `messages` messages, shared or not; answers the
/// thread's CPU (or wall) nanoseconds spent.
struct Round {
    shared: bool,
    messages: usize,
    done: oneshot::Sender<Result<u64, String>>,
}

type Server = WebSocket<tokio::net::TcpStream>;

/// The server thread: accepts `n` deflate connections, reports ready, then runs rounds.
fn server_thread(
    listener: std::net::TcpListener,
    n: usize,
    payload: Arc<String>,
    ready: oneshot::Sender<Result<(), String>>,
    mut rounds: mpsc::UnboundedReceiver<Round>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    rt.block_on(async move {
        let accepted = async {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let mut conns: Vec<Server> = Vec::with_capacity(n);
            while conns.len() < n {
                let (tcp, _) = listener.accept().await?;
                tcp.set_nodelay(true)?;
                let ws = WebSocket::accept_stream(tcp, Config::default()).await?;
                match ws.deflate() {
                    Some(p) if p.server_no_context_takeover => conns.push(ws),
                    p => return Err(format!("deflate not negotiated as expected: {p:?}").into()),
                }
            }
            Ok::<_, Error>(conns)
        }
        .await;
        let mut conns = match accepted {
            Ok(c) => {
                let _ = ready.send(Ok(()));
                c
            }
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        while let Some(r) = rounds.recv().await {
            let cpu = thread_cpu_ns();
            let wall = std::time::Instant::now();
            let res = broadcast(&mut conns, &payload, r.shared, r.messages).await;
            let spent = match (cpu, thread_cpu_ns()) {
                (Some(a), Some(b)) if b > a => b - a,
                _ => wall.elapsed().as_nanos() as u64,
            };
            let _ = r.done.send(res.map(|()| spent).map_err(|e| e.to_string()));
        }
    });
}

/// One round on the server side.
async fn broadcast(
    conns: &mut [Server],
    payload: &str,
    shared: bool,
    messages: usize,
) -> Result<(), Error> {
    for _ in 0..messages {
        if shared {
            // Compressed once per message, the same bytes for every receiver.
            let frame = SharedFrame::compressed(OpCode::Text, payload.as_bytes(), 6, 64)?
                .ok_or("the payload does not compress")?;
            for ws in conns.iter_mut() {
                ws.send_shared(&frame).await?;
            }
        } else {
            for ws in conns.iter_mut() {
                // A fresh message per connection: nothing computed for one is reused.
                let msg = Message::text(payload.to_owned());
                ws.send(&msg).await?;
            }
        }
    }
    Ok(())
}

/// Client counters: messages that inflated to the payload, and those that did not.
#[derive(Default)]
struct Received {
    ok: AtomicU64,
    bad: AtomicU64,
}

/// Runs [`DeflateBroadcast`]; blocks (two current-thread runtimes: the server's on its own
/// thread, the clients' on this one).
pub fn run(o: &DeflateBroadcast) -> Result<BroadcastResult, Error> {
    if o.subscribers == 0 || o.messages == 0 || o.rounds == 0 {
        return Err("--subscribers, --messages and rounds must be at least 1".into());
    }
    let payload = Arc::new(crate::deflate::json_payload(o.size));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (ready_tx, ready_rx) = oneshot::channel();
    let (round_tx, round_rx) = mpsc::unbounded_channel();
    let probe = Probe::pid(std::process::id());
    let rss_before = probe.rss();
    let server = {
        let payload = payload.clone();
        let n = o.subscribers;
        std::thread::Builder::new()
            .name("broadcast-server".into())
            .spawn(move || server_thread(listener, n, payload, ready_tx, round_rx))?
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let counter = Arc::new(ByteCounter::default());
    let received = Arc::new(Received::default());
    let res = rt.block_on(async {
        // Connect every subscriber (at most 64 handshakes at a time).
        let sem = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..o.subscribers {
            let permit = sem.clone().acquire_owned().await?;
            let (counter, received, payload) = (counter.clone(), received.clone(), payload.clone());
            tasks.spawn(async move {
                let opened = async {
                    let tcp = Counted::new(net::connect(addr).await?, counter);
                    let (ws, _) =
                        WebSocket::client(tcp, "127.0.0.1", "/", &[], Config::default()).await?;
                    if ws.deflate().is_none() {
                        return Err::<_, Error>("permessage-deflate not negotiated".into());
                    }
                    Ok(ws)
                }
                .await;
                drop(permit);
                // A failed subscriber leaves the server short of connections: the wait for
                // `ready` below then ends the run.
                let mut ws = match opened {
                    Ok(ws) => ws,
                    Err(e) => {
                        eprintln!("subscriber: {e}");
                        return;
                    }
                };
                while let Ok(Some(m)) = ws.recv().await {
                    let c = match m {
                        Message::Text(t) if t.as_str() == payload.as_str() => &received.ok,
                        _ => &received.bad,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        tokio::time::timeout(Duration::from_secs(60), ready_rx)
            .await
            .map_err(|_| "subscribers did not connect within 60 s")??
            .map_err(|e| format!("server: {e}"))?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let idle_rss_per_conn = match (rss_before, probe.rss()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / o.subscribers as f64),
            _ => None,
        };
        let mut out = BroadcastResult {
            idle_rss_per_conn,
            cpu_clock: thread_cpu_ns().is_some(),
            ..Default::default()
        };
        let deliveries = (o.subscribers * o.messages) as u64;
        let mut want = 0u64;
        // Per connection first, then shared, alternating.
        for i in 0..2 * o.rounds {
            let shared = i % 2 == 1;
            let read_before = counter.read.load(Ordering::Relaxed);
            let (done_tx, done_rx) = oneshot::channel();
            round_tx
                .send(Round {
                    shared,
                    messages: o.messages,
                    done: done_tx,
                })
                .map_err(|_| "the server thread ended")?;
            let spent = done_rx
                .await
                .map_err(|_| "the server thread ended")?
                .map_err(|e| format!("server: {e}"))?;
            want += deliveries;
            // Failure guard only: a loaded machine may take a while.
            let mut waited = Duration::ZERO;
            while received.ok.load(Ordering::Relaxed) + received.bad.load(Ordering::Relaxed) < want
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
                waited += Duration::from_millis(5);
                if waited > Duration::from_secs(60) {
                    return Err::<_, Error>("subscribers did not receive every message".into());
                }
            }
            if received.bad.load(Ordering::Relaxed) > 0 {
                return Err(
                    "a subscriber received a message that differs from the JSON sent".into(),
                );
            }
            let wire = (counter.read.load(Ordering::Relaxed) - read_before) as f64;
            let mode = if shared {
                &mut out.shared
            } else {
                &mut out.per_conn
            };
            mode.cpu_ns.push(spent as f64 / deliveries as f64);
            mode.wire.push(wire / deliveries as f64);
        }
        drop(round_tx);
        tasks.abort_all();
        Ok(out)
    });
    let _ = server.join();
    res
}

impl Mode {
    /// Median server CPU per delivered message, ns.
    pub fn cpu(&self) -> f64 {
        stats::median(&self.cpu_ns)
    }
    /// Median wire bytes per delivered message.
    pub fn wire_bytes(&self) -> f64 {
        stats::median(&self.wire)
    }
}

/// The result as a Markdown table with the ratio per connection / shared.
pub fn markdown(o: &DeflateBroadcast, r: &BroadcastResult) -> String {
    let samples = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "broadcast of {} B JSON to {} permessage-deflate subscribers, {} messages per round, \
         {} rounds per mode (alternating); server CPU = {} of the server thread\n\n",
        o.size,
        o.subscribers,
        o.messages,
        o.rounds,
        if r.cpu_clock { "CPU time" } else { "wall time" }
    );
    s.push_str("| mode | server CPU per delivered message (median) | rounds (ns) | wire bytes per message |\n");
    s.push_str("|---|---|---|---|\n");
    for (name, m) in [
        ("shared (compressed once)", &r.shared),
        ("per-connection compression", &r.per_conn),
    ] {
        s.push_str(&format!(
            "| {name} | {:.0} ns | {} | {:.0} |\n",
            m.cpu(),
            samples(&m.cpu_ns),
            m.wire_bytes()
        ));
    }
    s.push_str(&format!(
        "\nper-connection / shared server CPU: {:.1}x (goal: at least 5x); uncompressed frame: {} B\n",
        r.per_conn.cpu() / r.shared.cpu().max(1.0),
        o.size + if o.size < 126 { 2 } else { 4 }
    ));
    match r.idle_rss_per_conn {
        Some(b) => s.push_str(&format!(
            "idle memory: {b:.0} B of RSS per deflate connection (server and client halves, both in this process)\n"
        )),
        None => s.push_str("idle memory: RSS not readable\n"),
    }
    s
}

/// `pushwire-bench deflate-broadcast [--subscribers 1000] [--size 1024] [--messages 50]
/// [--rounds 3]`.
pub fn command(opts: &std::collections::HashMap<String, String>) -> Result<(), Error> {
    let o = DeflateBroadcast {
        subscribers: crate::ab::opt(opts, "--subscribers", 1000)?,
        size: crate::ab::opt(opts, "--size", 1024)?,
        messages: crate::ab::opt(opts, "--messages", 50)?,
        rounds: crate::ab::opt(opts, "--rounds", 3)?,
    };
    let r = run(&o)?;
    println!("{}", markdown(&o, &r));
    crate::ab::print_uptime();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_broadcast_delivers_both_modes_and_shared_frames_are_compressed() {
        let o = DeflateBroadcast {
            subscribers: 8,
            size: 1024,
            messages: 3,
            rounds: 1,
        };
        let r = run(&o).unwrap();
        assert_eq!(r.shared.cpu_ns.len(), 1);
        assert_eq!(r.per_conn.cpu_ns.len(), 1);
        // Compressed frames are well under the 1028-byte plain frame in both modes.
        assert!(r.shared.wire_bytes() < 600.0, "{:?}", r.shared.wire);
        assert!(r.per_conn.wire_bytes() < 600.0, "{:?}", r.per_conn.wire);
        assert!(markdown(&o, &r).contains("per-connection / shared"));
    }
}
