//! `pushwire-bench deflate-echo`: compressed echo of JSON-like text messages (issue 11),
//! the `pushwire` binary's `/echo` against Node's `ws` with `perMessageDeflate`
//! (`bench/peers/node/ws-deflate-echo.js`).
//!
//! The client offers permessage-deflate with pushwire-ws's default offer
//! (`server_no_context_takeover; client_no_context_takeover` first), so both servers run
//! the same parameters: no context kept between messages, 15-bit windows, zlib level 6 (Node's
//! default and pushwire's), compression from 64 bytes (Node's `threshold` is set to 64; its
//! default is 1024). Each connection first checks one round trip in full (the echo comes
//! back compressed, RSV1 set, and inflates to the message sent); under load the client sends
//! one compressed frame, masked once, again and again, and counts the echoed frames
//! without inflating them, so the load generator's core is not the bottleneck. The server
//! inflates every message and compresses every echo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushwire_ws::frame::{FrameHeader, OpCode, Rsv, apply_mask};
use pushwire_ws::handshake::ClientHandshake;
use pushwire_ws::{Config, Message, Protocol};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use crate::ab::{self, AbResult, Launch, Metric, Window};
use crate::net::{self, ByteCounter, Counted, HttpReader};
use crate::workloads::EchoTasks;
use crate::{Error, Measurement, Percentiles, Probe};

/// A JSON-like text of exactly `n` bytes: an array-ish run of small objects with repeating
/// keys and varying numbers, the shape push servers send (compresses about 5–8×).
pub fn json_payload(n: usize) -> String {
    let mut s = String::with_capacity(n + 96);
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"seq\":{i},\"topic\":\"prices.eu\",\"bid\":{}.{:02},\"ask\":{}.{:02},\"sym\":\"S{}\"}},",
            1000 + i * 7919 % 10007,
            i * 13 % 100,
            1001 + i * 7919 % 10007,
            i * 17 % 100,
            i % 97
        ));
        i += 1;
    }
    s.truncate(n);
    s
}

/// One text frame of `payload`, masked once with a random key: compressed (RSV1, no
/// context, 15-bit window, level 6) when that makes it smaller, as pushwire-ws's sender
/// does, else plain. The flag says which.
pub fn compressed_frame(payload: &[u8]) -> Result<(Bytes, bool), Error> {
    let c = pushwire_ws::deflate::compress_message(payload, 6)?;
    let compressed = c.is_some();
    let c = c.unwrap_or_else(|| Bytes::copy_from_slice(payload));
    let mut header = FrameHeader::new(OpCode::Text, c.len() as u64);
    if compressed {
        header.rsv = Rsv::RSV1;
    }
    let mut key = [0u8; 4];
    pushwire_http::entropy::fill(&mut key);
    header.mask = Some(key);
    let mut body = c.to_vec();
    apply_mask(&mut body, key, 0);
    let mut out = BytesMut::with_capacity(body.len() + 14);
    header.encode(&mut out);
    out.extend_from_slice(&body);
    Ok((out.freeze(), compressed))
}

/// Compressed echo: `conns` connections to `/echo`, each keeping `in_flight` compressed
/// text messages of `size` (uncompressed) bytes in flight.
#[derive(Debug, Clone)]
pub struct DeflateEcho {
    /// Connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub in_flight: usize,
    /// Uncompressed payload bytes per message.
    pub size: usize,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Default for DeflateEcho {
    fn default() -> Self {
        DeflateEcho {
            conns: 50,
            in_flight: 8,
            size: 1024,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
        }
    }
}

/// One run of [`DeflateEcho`].
#[derive(Debug, Clone, Default)]
pub struct DeflateRun {
    /// Rate, latency, CPU.
    pub m: Measurement,
    /// WebSocket bytes at the client sockets per echoed message, both directions (the
    /// compressed frame out and the compressed echo back; TCP/IP headers not counted).
    pub wire_per_msg: Option<f64>,
    /// The same for one message without compression: two frames of `size` bytes.
    pub plain_wire_per_msg: f64,
    /// The client's messages were compressed (a message too small to shrink is sent plain).
    pub sent_compressed: bool,
    /// Every connection's first echo came back compressed.
    pub echo_compressed: bool,
}

/// Opens one connection, negotiates permessage-deflate and checks one compressed round
/// trip in full; returns the stream and any bytes read past the echo.
async fn open(
    addr: SocketAddr,
    counter: Arc<ByteCounter>,
    frame: Bytes,
    payload: Arc<String>,
) -> Result<(Counted<tokio::net::TcpStream>, BytesMut, bool), Error> {
    let tcp = net::connect(addr).await?;
    let mut s = Counted::new(tcp, counter);
    let cfg = Config::default().with_max_message(64 << 20);
    let (hs, head) = ClientHandshake::with_config(&addr.to_string(), "/echo", &[], &cfg)?;
    let mut out = BytesMut::new();
    pushwire_http::encode_request_head(&head, &mut out)?;
    s.write_all(&out).await?;
    let mut reader = HttpReader::default();
    let res = reader.head(&mut s).await?;
    let (_, params) = hs.verify_extensions(&res)?;
    let params = params.ok_or("the server did not accept permessage-deflate")?;
    if !params.client_no_context_takeover || params.client_max_window_bits != 15 {
        return Err(format!("unexpected parameters {params:?}").into());
    }
    // One round trip in full: the echo must inflate to what was sent.
    s.write_all(&frame).await?;
    let mut proto = Protocol::new(pushwire_ws::frame::Role::Client, &cfg);
    proto.set_deflate(params);
    let mut buf = reader.buf;
    let mut echo_compressed = None;
    let msg = loop {
        if echo_compressed.is_none() {
            echo_compressed = buf.first().map(|b| b & 0x40 != 0);
        }
        if let Some(m) = proto.receive(&mut buf)? {
            break m;
        }
        if net::read_some(&mut s, &mut buf, 64 << 10).await? == 0 {
            return Err("closed before the echo".into());
        }
    };
    match msg {
        Message::Text(t) if t.as_str() == payload.as_str() => {
            Ok((s, buf, echo_compressed.unwrap_or(false)))
        }
        _ => Err("the echo differs from the message sent".into()),
    }
}

/// Runs [`DeflateEcho`] against `addr`.
pub async fn deflate_echo(
    addr: SocketAddr,
    o: &DeflateEcho,
    probe: &Probe,
) -> Result<DeflateRun, Error> {
    let payload = Arc::new(json_payload(o.size));
    let (frame, sent_compressed) = compressed_frame(payload.as_bytes())?;
    let copies = o.in_flight.max(1);
    let mut batch = BytesMut::with_capacity(frame.len() * copies);
    for _ in 0..copies {
        batch.extend_from_slice(&frame);
    }
    let batch = batch.freeze();
    let counter = Arc::new(ByteCounter::default());
    let mut conns = Vec::with_capacity(o.conns);
    let mut set = JoinSet::new();
    let mut next = 0;
    while conns.len() < o.conns {
        while next < o.conns && set.len() < 32 {
            set.spawn(open(addr, counter.clone(), frame.clone(), payload.clone()));
            next += 1;
        }
        match set.join_next().await {
            Some(r) => conns.push(r??),
            None => break,
        }
    }
    let echo_compressed = conns.iter().all(|c| c.2);
    let win = Window::new();
    let halves = conns.into_iter().map(|(s, left, _)| {
        let (rd, wr) = tokio::io::split(s);
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
    let w = win.run(o.warmup, o.duration, probe, Some(&counter)).await;
    let (mut lat, errors) = tasks.finish().await;
    let ops = lat.len() as u64;
    let plain = FrameHeader::new(OpCode::Text, o.size as u64);
    let mut masked = plain;
    masked.mask = Some([0; 4]);
    Ok(DeflateRun {
        m: Measurement {
            name: format!("deflate-echo c={} d={} s={}", o.conns, o.in_flight, o.size),
            unit: "msgs",
            ops,
            secs: w.secs,
            latency: Percentiles::of_ns(&mut lat),
            server_cpu_ns: w.server_cpu_ns,
            client_cpu_ns: w.client_cpu_ns,
            conns: o.conns,
            errors,
            ..Measurement::default()
        },
        wire_per_msg: w.bytes.filter(|_| ops > 0).map(|b| b as f64 / ops as f64),
        plain_wire_per_msg: (plain.encoded_len() + masked.encoded_len() + 2 * o.size) as f64,
        sent_compressed,
        echo_compressed,
    })
}

/// Metrics of the compressed-echo table.
pub fn metrics() -> Vec<Metric<DeflateRun>> {
    vec![
        Metric {
            label: "msgs/s",
            get: |r| Some(r.m.rate()),
        },
        Metric {
            label: "server CPU µs/msg",
            get: |r| r.m.cpu_us_per_op(),
        },
        Metric {
            label: "wire B/msg (both directions)",
            get: |r| r.wire_per_msg,
        },
        Metric {
            label: "wire B/msg uncompressed",
            get: |r| Some(r.plain_wire_per_msg),
        },
        Metric {
            label: "server core use %",
            get: |r| r.m.server_util().map(|u| u * 100.0),
        },
        Metric {
            label: "load generator core use %",
            get: |r| r.m.client_util().map(|u| u * 100.0),
        },
        Metric {
            label: "p50 µs",
            get: |r| Some(r.m.latency.p50),
        },
        Metric {
            label: "p99 µs",
            get: |r| Some(r.m.latency.p99),
        },
        Metric {
            label: "errors",
            get: |r| Some(r.m.errors as f64),
        },
    ]
}

fn show(r: &DeflateRun) -> String {
    format!(
        "{}  wire {} B/msg  compressed out/back {}/{}",
        crate::tls::show(&r.m),
        r.wire_per_msg.map_or("-".into(), |v| format!("{v:.0}")),
        r.sent_compressed,
        r.echo_compressed,
    )
}

/// The Node peer's directory, `bench/peers/node`.
pub fn node_dir() -> PathBuf {
    crate::compare::repo_root().join("bench/peers/node")
}

/// Runs `npm install` in `dir` if its `node_modules` is missing (Node's `ws` from the npm
/// registry, the version `package-lock.json` pins).
pub fn npm_install_if_missing(dir: &Path) -> Result<(), Error> {
    if dir.join("node_modules/ws").is_dir() {
        return Ok(());
    }
    eprintln!("npm install in {} ...", dir.display());
    let ok = Command::new("npm")
        .current_dir(dir)
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .status()
        .map_err(|e| format!("npm: {e} (Node.js and npm are needed for this benchmark)"))?
        .success();
    if !ok {
        return Err("npm install failed".into());
    }
    Ok(())
}

/// Options of `pushwire-bench deflate-echo`.
#[derive(Debug, Clone)]
pub struct DeflateRunOpts {
    /// Rounds (each: pushwire, then Node, fresh processes).
    pub rounds: usize,
    /// Warm-up of each run.
    pub warmup: Duration,
    /// Measured window of each run.
    pub duration: Duration,
    /// Message sizes (uncompressed bytes).
    pub sizes: Vec<usize>,
}

impl Default for DeflateRunOpts {
    fn default() -> Self {
        DeflateRunOpts {
            rounds: 5,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            sizes: vec![64, 1024, 16 << 10],
        }
    }
}

/// The two servers: `pushwire` (plain, `/echo` negotiates permessage-deflate) and
/// `node ws-deflate-echo.js`.
pub fn launches(pushwire: &Path) -> [Launch; 2] {
    let mut node = Launch::new(
        "node ws perMessageDeflate",
        "node",
        &["ws-deflate-echo.js", "--addr", "127.0.0.1:0"],
    );
    node.dir = Some(node_dir());
    [
        Launch::new(
            "pushwire",
            pushwire,
            &["--addr", "127.0.0.1:0", "--max-connections", "19000"],
        ),
        node,
    ]
}

/// Runs one case per size, pushwire and Node alternating.
pub async fn run_all(
    pushwire: &Path,
    o: &DeflateRunOpts,
) -> Result<Vec<AbResult<DeflateRun>>, Error> {
    let [ours, node] = launches(pushwire);
    let mut out = Vec::new();
    for &size in &o.sizes {
        // Fewer messages in flight as they grow, so every run has the same order of bytes
        // in flight (and Node's bounded zlib queue is not what is measured).
        let in_flight = if size >= 8 << 10 { 2 } else { 8 };
        let e = DeflateEcho {
            conns: 50,
            in_flight,
            size,
            warmup: o.warmup,
            duration: o.duration,
        };
        let name = format!(
            "compressed echo JSON {} B, 50 conns, {in_flight} in flight",
            size
        );
        let e = &e;
        out.push(
            ab::alternate(
                &name,
                "≥ 1.2× the best peer's msgs/s",
                &ours,
                &node,
                o.rounds,
                |addr, probe| async move { deflate_echo(addr, e, &probe).await },
                show,
            )
            .await?,
        );
    }
    Ok(out)
}

/// `pushwire-bench deflate-echo [--rounds 5] [--seconds 2] [--sizes 64,1024,16384]
/// [--out FILE.md] [--no-build]`.
pub fn command(opts: &std::collections::HashMap<String, String>) -> Result<(), Error> {
    let pushwire = ab::pushwire_bin(opts)?;
    npm_install_if_missing(&node_dir())?;
    ab::pin_client(opts);
    let sizes = ab::opt(opts, "--sizes", "64,1024,16384".to_string())?
        .split(',')
        .map(|c| c.trim().parse())
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| "bad --sizes")?;
    let o = DeflateRunOpts {
        rounds: ab::opt(opts, "--rounds", 5)?,
        duration: Duration::from_secs_f64(ab::opt(opts, "--seconds", 2.0)?),
        sizes,
        ..DeflateRunOpts::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let res = rt.block_on(run_all(&pushwire, &o))?;
    let table = ab::table(&res, &metrics());
    println!("{table}");
    println!("{} rounds of {} s", o.rounds, o.duration.as_secs_f64());
    ab::print_uptime();
    if let Some(path) = opts.get("--out") {
        std::fs::write(path, &table)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_exact_and_compressible() {
        for n in [64, 1024, 16 << 10] {
            assert_eq!(json_payload(n).len(), n);
        }
        for n in [1024, 16 << 10] {
            let p = json_payload(n);
            let c = pushwire_ws::deflate::compress_message(p.as_bytes(), 6)
                .unwrap()
                .unwrap();
            assert!(c.len() * 2 < n, "{n} B compressed to {}", c.len());
        }
    }

    #[test]
    fn compressed_frame_round_trips_through_a_server_protocol() {
        let payload = json_payload(1024);
        let (frame, compressed) = compressed_frame(payload.as_bytes()).unwrap();
        assert!(compressed);
        assert_eq!(frame[0], 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
        let mut server = Protocol::new(pushwire_ws::frame::Role::Server, &Config::default());
        server.set_deflate(pushwire_ws::deflate::DeflateParams::default());
        let mut buf = BytesMut::from(&frame[..]);
        match server.receive(&mut buf).unwrap() {
            Some(Message::Text(t)) => assert_eq!(t.as_str(), payload),
            other => panic!("got {other:?}"),
        }
    }
}
