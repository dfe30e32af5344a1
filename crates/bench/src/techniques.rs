//! `pushwire-bench techniques`: the four push techniques measured against one message
//! stream.
//!
//! For each technique in turn a fresh `pushwire` server starts (pinned to core 0), `clients`
//! clients of that technique subscribe to one topic, and a publisher posts `rate` messages per
//! second for `seconds` seconds. Every client counts the bytes at its own socket (both
//! directions, handshakes and headers included), the HTTP requests it makes and the messages
//! it receives with their delivery latency (publish → receipt, from a timestamp in the
//! payload). The server's CPU time and RSS come from `/proc`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pushwire_http::BodyChunk;
use pushwire_sse::{EventParser, ItemRef};
use pushwire_ws::frame::{FrameDecoder, OpCode, Role};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::compare::{Binaries, ServerKind};
use crate::net::{self, ByteCounter, Counted, HttpReader};
use crate::workloads::fresh_topic;
use crate::{Error, Percentiles};

/// Options of the run.
#[derive(Debug, Clone)]
pub struct Techniques {
    /// Clients per technique.
    pub clients: usize,
    /// Length of the message stream, seconds.
    pub seconds: f64,
    /// Messages per second.
    pub rate: f64,
}

impl Default for Techniques {
    fn default() -> Self {
        Techniques {
            clients: 100,
            seconds: 30.0,
            rate: 10.0,
        }
    }
}

/// The four techniques.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Technique {
    /// `GET /poll` every second.
    ShortPolling,
    /// `GET /long-poll`, again at once with the `next` cursor.
    LongPolling,
    /// `GET /events` (`EventSource`).
    Sse,
    /// `GET /ws` (WebSocket).
    WebSocket,
}

impl Technique {
    /// All four, in the order of the table.
    pub const ALL: [Technique; 4] = [
        Technique::ShortPolling,
        Technique::LongPolling,
        Technique::Sse,
        Technique::WebSocket,
    ];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Technique::ShortPolling => "short polling (1 s)",
            Technique::LongPolling => "long polling",
            Technique::Sse => "SSE",
            Technique::WebSocket => "WebSocket",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Technique::ShortPolling => "#c0504d",
            Technique::LongPolling => "#e39b2d",
            Technique::Sse => "#4f81bd",
            Technique::WebSocket => "#2e9c6a",
        }
    }
}

/// One technique's figures.
#[derive(Debug, Clone)]
pub struct Row {
    /// The technique.
    pub technique: Technique,
    /// Clients.
    pub clients: usize,
    /// Messages published.
    pub published: u64,
    /// Messages received, summed over the clients.
    pub delivered: u64,
    /// Delivery latency.
    pub latency: Percentiles,
    /// Bytes at the clients' sockets, both directions.
    pub bytes: u64,
    /// HTTP requests the clients made (a WebSocket handshake counts one).
    pub requests: u64,
    /// Server CPU time over the stream, ns.
    pub server_cpu_ns: Option<u64>,
    /// Server RSS growth per client, bytes (highest reading during the stream).
    pub rss_per_client: Option<f64>,
}

impl Row {
    /// Bytes on the wire per delivered message.
    pub fn bytes_per_msg(&self) -> f64 {
        self.bytes as f64 / self.delivered.max(1) as f64
    }
    /// HTTP requests per delivered message.
    pub fn requests_per_msg(&self) -> f64 {
        self.requests as f64 / self.delivered.max(1) as f64
    }
    /// Server CPU seconds per 1,000 deliveries.
    pub fn cpu_s_per_1000(&self) -> Option<f64> {
        self.server_cpu_ns
            .map(|ns| ns as f64 / 1e9 / self.delivered.max(1) as f64 * 1000.0)
    }
}

struct ClientShared {
    base: Instant,
    bytes: Arc<ByteCounter>,
    requests: AtomicU64,
}

/// Runs the four techniques in turn, each against a fresh server.
pub async fn run_all(bins: &Binaries, o: &Techniques) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for t in Technique::ALL {
        eprintln!("{} × {} for {} s ...", t.name(), o.clients, o.seconds);
        let server = ServerKind::Pushwire.start(bins, Some(0))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let row = run_one(server.addr, &server.probe, t, o).await?;
        eprintln!(
            "  delivered {}/{}  p50 {:.1} ms  p99 {:.1} ms  {:.0} B/msg  {:.3} req/msg",
            row.delivered,
            row.published * row.clients as u64,
            row.latency.p50 / 1000.0,
            row.latency.p99 / 1000.0,
            row.bytes_per_msg(),
            row.requests_per_msg()
        );
        rows.push(row);
        drop(server);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(rows)
}

/// Runs one technique against a server at `addr` (whose process `probe` reads).
pub async fn run_one(
    addr: SocketAddr,
    probe: &crate::Probe,
    t: Technique,
    o: &Techniques,
) -> Result<Row, Error> {
    let topic = fresh_topic("techniques");
    // The topic exists (and its epoch is fixed) before any client asks for a cursor.
    net::publish_once(addr, &topic, b"warm-up").await?;
    let shared = Arc::new(ClientShared {
        base: Instant::now(),
        bytes: Arc::new(ByteCounter::default()),
        requests: AtomicU64::new(0),
    });
    let stop = watch::channel(false).0;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rss_before = probe.rss();
    let mut set = JoinSet::new();
    for i in 0..o.clients {
        let (shared, topic, stop) = (shared.clone(), topic.clone(), stop.subscribe());
        // Short-polling clients start at spread-out moments, as browsers opened at random
        // times would.
        let phase = Duration::from_secs_f64(i as f64 / o.clients.max(1) as f64);
        set.spawn(async move {
            match t {
                Technique::ShortPolling => {
                    poll_client(addr, topic, shared, Some(phase), stop).await
                }
                Technique::LongPolling => poll_client(addr, topic, shared, None, stop).await,
                Technique::Sse => sse_client(addr, topic, shared, stop).await,
                Technique::WebSocket => ws_client(addr, topic, shared, stop).await,
            }
        });
    }
    // Every client connected and asking (short polling: its first poll made, the phases
    // spread over one second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cpu0 = probe.cpu_ns();
    let mut rss_peak = probe.rss();
    let mut publisher = net::connect(addr).await?;
    let mut pub_reader = HttpReader::default();
    let target = format!("/publish?topic={topic}");
    let total = (o.seconds * o.rate).round().max(1.0) as u64;
    let start = Instant::now();
    for seq in 1..=total {
        let due = start + Duration::from_secs_f64((seq - 1) as f64 / o.rate);
        tokio::time::sleep_until(due.into()).await;
        let ts = shared.base.elapsed().as_micros() as u64;
        let body = format!("{seq} {ts}");
        publisher
            .write_all(&net::post_request(addr, &target, body.as_bytes()))
            .await?;
        let (res, _) = pub_reader.response(&mut publisher).await?;
        if res.status != 200 {
            return Err(format!("publish answered {}", res.status).into());
        }
        if seq % (o.rate.max(1.0) as u64) == 0 {
            rss_peak = rss_peak.max(probe.rss());
        }
    }
    // Short polling picks the last messages up at its next poll, within a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cpu = probe.cpu_ns().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    rss_peak = rss_peak.max(probe.rss());
    let bytes = shared.bytes.total();
    let requests = shared.requests.load(Ordering::Relaxed);
    let _ = stop.send(true);
    let mut lat = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(v)) => lat.extend(v),
            Ok(Err(e)) => return Err(format!("{} client: {e}", t.name()).into()),
            Err(e) => return Err(format!("{} client: {e}", t.name()).into()),
        }
    }
    Ok(Row {
        technique: t,
        clients: o.clients,
        published: total,
        delivered: lat.len() as u64,
        latency: Percentiles::of_ns(&mut lat),
        bytes,
        requests,
        server_cpu_ns: cpu,
        rss_per_client: rss_before
            .zip(rss_peak)
            .map(|(a, b)| (b as f64 - a as f64) / o.clients.max(1) as f64),
    })
}

/// Latency of a message `seq ts_us` received at `now_us`; `None` for other payloads (the
/// warm-up message).
fn latency_ns(data: &str, now_us: u64) -> Option<u64> {
    let mut parts = data.split(' ');
    let _seq: u64 = parts.next()?.parse().ok()?;
    let ts: u64 = parts.next()?.parse().ok()?;
    Some(now_us.saturating_sub(ts) * 1000)
}

/// The `data` strings of a poll answer (our payloads need no JSON escapes).
fn json_data(body: &[u8]) -> impl Iterator<Item = &str> {
    let s = std::str::from_utf8(body).unwrap_or("");
    s.split("\"data\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}

async fn poll_client(
    addr: SocketAddr,
    topic: String,
    shared: Arc<ClientShared>,
    interval: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>, Error> {
    let mut lat = Vec::new();
    if let Some(phase) = interval {
        tokio::select! {
            _ = tokio::time::sleep(phase) => {}
            _ = stop.changed() => return Ok(lat),
        }
    }
    let mut s = Counted::new(net::connect(addr).await?, shared.bytes.clone());
    let mut reader = HttpReader::default();
    let mut cursor: Option<String> = None;
    let mut next_poll = tokio::time::Instant::now();
    loop {
        let since = cursor
            .as_ref()
            .map(|c| format!("&since={c}"))
            .unwrap_or_default();
        let target = match interval {
            Some(_) => format!("/poll?topic={topic}{since}"),
            None => format!("/long-poll?topic={topic}{since}&timeout=25000"),
        };
        s.write_all(&net::get_request(addr, &target)).await?;
        shared.requests.fetch_add(1, Ordering::Relaxed);
        let (res, body) = tokio::select! {
            r = reader.response(&mut s) => r?,
            _ = stop.changed() => return Ok(lat),
        };
        if res.status != 200 {
            return Err(format!("{target} answered {}", res.status).into());
        }
        let now_us = shared.base.elapsed().as_micros() as u64;
        lat.extend(json_data(&body).filter_map(|d| latency_ns(d, now_us)));
        cursor = Some(net::json_next(&body).ok_or("no next cursor")?);
        if interval.is_some() {
            next_poll += Duration::from_secs(1);
            tokio::select! {
                _ = tokio::time::sleep_until(next_poll) => {}
                _ = stop.changed() => return Ok(lat),
            }
        }
    }
}

async fn sse_client(
    addr: SocketAddr,
    topic: String,
    shared: Arc<ClientShared>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>, Error> {
    let mut s = Counted::new(net::connect(addr).await?, shared.bytes.clone());
    s.write_all(&net::get_request(addr, &format!("/events?topic={topic}")))
        .await?;
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let mut reader = HttpReader::default();
    let res = reader.head(&mut s).await?;
    if res.status != 200 {
        return Err(format!("/events answered {}", res.status).into());
    }
    let mut dec = reader.body_decoder(&res)?;
    let mut parser = EventParser::new();
    let mut lat = Vec::new();
    loop {
        let now_us = shared.base.elapsed().as_micros() as u64;
        while let Some(chunk) = dec.decode(&mut reader.buf)? {
            match chunk {
                BodyChunk::Data(d) => parser.feed(&d),
                _ => return Err("event stream ended".into()),
            }
        }
        while let Some(item) = parser.next_item_ref()? {
            if let ItemRef::Event { data, .. } = item
                && let Some(l) = latency_ns(data, now_us)
            {
                lat.push(l);
            }
        }
        tokio::select! {
            r = net::read_some(&mut s, &mut reader.buf, 4096) => {
                if r? == 0 {
                    return Err("event stream closed".into());
                }
            }
            _ = stop.changed() => return Ok(lat),
        }
    }
}

async fn ws_client(
    addr: SocketAddr,
    topic: String,
    shared: Arc<ClientShared>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u64>, Error> {
    let mut s = Counted::new(net::connect(addr).await?, shared.bytes.clone());
    let mut buf =
        net::ws_handshake(&mut s, &addr.to_string(), &format!("/ws?topic={topic}")).await?;
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let mut dec = FrameDecoder::new(Role::Client, &pushwire_ws::Config::default());
    let mut lat = Vec::new();
    loop {
        let now_us = shared.base.elapsed().as_micros() as u64;
        while let Some(f) = dec.decode(&mut buf)? {
            match f.header.opcode {
                OpCode::Text if f.header.fin => {
                    if let Some(l) = std::str::from_utf8(&f.payload)
                        .ok()
                        .and_then(|d| latency_ns(d, now_us))
                    {
                        lat.push(l);
                    }
                }
                OpCode::Ping => {
                    // A client must answer pings (RFC 6455 §5.5.2): masked pong, same data.
                    let mut h =
                        pushwire_ws::frame::FrameHeader::new(OpCode::Pong, f.payload.len() as u64);
                    let key = [1, 2, 3, 4];
                    h.mask = Some(key);
                    let mut payload = f.payload.to_vec();
                    pushwire_ws::frame::apply_mask(&mut payload, key, 0);
                    let mut out = BytesMut::new();
                    h.encode(&mut out);
                    out.extend_from_slice(&payload);
                    s.write_all(&out).await?;
                }
                OpCode::Close => return Err("server closed the WebSocket".into()),
                _ => {}
            }
        }
        tokio::select! {
            r = net::read_some(&mut s, &mut buf, 4096) => {
                if r? == 0 {
                    return Err("WebSocket closed".into());
                }
            }
            _ = stop.changed() => return Ok(lat),
        }
    }
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.prec$}"))
}

/// The Markdown table.
pub fn markdown(o: &Techniques, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "One topic, {} messages/s for {} s ({} messages), {} clients per technique, against \
         the `pushwire` server (one fresh process per technique, pinned to one core).\n",
        o.rate,
        o.seconds,
        (o.seconds * o.rate).round(),
        o.clients
    );
    let _ = writeln!(
        s,
        "| technique | delivered | latency p50 | latency p99 | bytes on the wire / message | HTTP requests / message | server CPU s / 1,000 deliveries | server RSS / client |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} / {} | {:.1} ms | {:.1} ms | {:.0} B | {:.3} | {} | {} |",
            r.technique.name(),
            r.delivered,
            r.published * r.clients as u64,
            r.latency.p50 / 1000.0,
            r.latency.p99 / 1000.0,
            r.bytes_per_msg(),
            r.requests_per_msg(),
            fmt_opt(r.cpu_s_per_1000(), 4),
            fmt_opt(r.rss_per_client.map(|b| b / 1024.0), 1) + " KiB",
        );
    }
    let _ = writeln!(
        s,
        "\nBytes are counted at the clients' sockets, both directions, HTTP heads and WebSocket \
         handshakes included. Latency runs from the publish to the client's receipt. Server CPU \
         includes handling the publishes (the same for every technique)."
    );
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A hand-written SVG: one horizontal bar panel per measure, a bar per technique.
pub fn svg(o: &Techniques, rows: &[Row]) -> String {
    struct Panel {
        title: &'static str,
        values: Vec<(f64, Option<f64>)>,
        log: bool,
        fmt: fn(f64) -> String,
    }
    let panels = [
        Panel {
            title: "delivery latency, ms (bar p50, whisker p99; log scale)",
            values: rows
                .iter()
                .map(|r| (r.latency.p50 / 1000.0, Some(r.latency.p99 / 1000.0)))
                .collect(),
            log: true,
            fmt: |v| format!("{v:.1} ms"),
        },
        Panel {
            title: "bytes on the wire per delivered message",
            values: rows.iter().map(|r| (r.bytes_per_msg(), None)).collect(),
            log: false,
            fmt: |v| format!("{v:.0} B"),
        },
        Panel {
            title: "HTTP requests per delivered message",
            values: rows.iter().map(|r| (r.requests_per_msg(), None)).collect(),
            log: false,
            fmt: |v| format!("{v:.3}"),
        },
        Panel {
            title: "server CPU seconds per 1,000 deliveries",
            values: rows
                .iter()
                .map(|r| (r.cpu_s_per_1000().unwrap_or(0.0), None))
                .collect(),
            log: false,
            fmt: |v| format!("{v:.4} s"),
        },
        Panel {
            title: "server memory per client, KiB",
            values: rows
                .iter()
                .map(|r| (r.rss_per_client.unwrap_or(0.0).max(0.0) / 1024.0, None))
                .collect(),
            log: false,
            fmt: |v| format!("{v:.1} KiB"),
        },
    ];
    let (w, label_w, right) = (900.0, 170.0, 170.0);
    let bar_h = 18.0;
    let gap = 6.0;
    let panel_h = 30.0 + rows.len() as f64 * (bar_h + gap) + 14.0;
    let top = 58.0;
    let h = top + panels.len() as f64 * panel_h + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="16" y="26" font-size="17" font-weight="bold">The four techniques, measured (pushwire, {} clients each)</text>"#,
        o.clients
    );
    let _ = writeln!(
        s,
        r##"<text x="16" y="46" fill="#555">{} messages/s for {} s on one topic; lower is better in every panel</text>"##,
        o.rate, o.seconds
    );
    let plot_w = w - label_w - right - 16.0;
    for (pi, p) in panels.iter().enumerate() {
        let y0 = top + pi as f64 * panel_h;
        let _ = writeln!(
            s,
            r#"<text x="16" y="{:.1}" font-weight="bold">{}</text>"#,
            y0 + 18.0,
            esc(p.title)
        );
        let max = p
            .values
            .iter()
            .map(|(v, w)| w.unwrap_or(*v).max(*v))
            .fold(0.0f64, f64::max);
        let min_pos = p
            .values
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let scale = |v: f64| -> f64 {
            if v <= 0.0 || max <= 0.0 {
                return 0.0;
            }
            if p.log {
                // From a decade below the smallest value to the largest.
                let lo = (min_pos / 10.0).log10().floor();
                let hi = max.log10().ceil().max(lo + 1.0);
                ((v.log10() - lo) / (hi - lo)).clamp(0.0, 1.0) * plot_w
            } else {
                v / max * plot_w
            }
        };
        for (ri, (r, (v, whisker))) in rows.iter().zip(&p.values).enumerate() {
            let y = y0 + 28.0 + ri as f64 * (bar_h + gap);
            let bw = scale(*v).max(1.0);
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                label_w + 6.0,
                y + bar_h - 4.0,
                esc(r.technique.name())
            );
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{bw:.1}" height="{bar_h}" fill="{}"/>"#,
                label_w + 12.0,
                r.technique.color()
            );
            let mut end = label_w + 12.0 + bw;
            let mut text = (p.fmt)(*v);
            if let Some(wv) = whisker {
                let wx = label_w + 12.0 + scale(*wv);
                let mid = y + bar_h / 2.0;
                let _ = writeln!(
                    s,
                    r##"<line x1="{end:.1}" y1="{mid:.1}" x2="{wx:.1}" y2="{mid:.1}" stroke="#333" stroke-width="1.5"/><line x1="{wx:.1}" y1="{:.1}" x2="{wx:.1}" y2="{:.1}" stroke="#333" stroke-width="1.5"/>"##,
                    y + 3.0,
                    y + bar_h - 3.0
                );
                end = end.max(wx);
                text = format!("{text} / {}", (p.fmt)(*wv));
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                end + 6.0,
                y + bar_h - 4.0,
                esc(&text)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
