//! `pushwire-bench compare`: every workload against pushwire and its peers, in alternation.
//!
//! Each run starts a fresh server process pinned to core 0 (`taskset -c 0`, open-file limit
//! raised with `prlimit`), runs one workload from this process (pinned to core 1), and stops
//! the server. Servers alternate within a round (A B A B ...), so slow drifts of the shared
//! machine hit every server alike; the table shows per metric the median of each server over
//! the rounds and the median ratio pushwire / peer with its min–max over the rounds (each
//! round's ratio compares runs made seconds apart).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ab::Launch;
use crate::stats::median;
use crate::workloads::{self, HttpGet, Idle, IdleKind, LongPoll, SseFanout, WsEcho};
use crate::{Error, Measurement, Probe};

/// A server the load generator can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The `pushwire` binary.
    Pushwire,
    /// `peer tungstenite`: tokio-tungstenite echo.
    Tungstenite,
    /// `peer fastwebsockets`: fastwebsockets echo behind hyper's upgrade.
    FastWebSockets,
    /// `peer hyper`: hyper http1 GET.
    Hyper,
    /// `peer axum`: axum SSE broadcast, long poll, publish.
    Axum,
}

impl ServerKind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Pushwire => "pushwire",
            ServerKind::Tungstenite => "tokio-tungstenite",
            ServerKind::FastWebSockets => "fastwebsockets",
            ServerKind::Hyper => "hyper",
            ServerKind::Axum => "axum",
        }
    }

    /// Parses a display name (or the peer binary's argument).
    pub fn parse(s: &str) -> Option<ServerKind> {
        Some(match s {
            "pushwire" => ServerKind::Pushwire,
            "tungstenite" | "tokio-tungstenite" => ServerKind::Tungstenite,
            "fastwebsockets" => ServerKind::FastWebSockets,
            "hyper" => ServerKind::Hyper,
            "axum" => ServerKind::Axum,
            _ => return None,
        })
    }

    fn peer_arg(self) -> &'static str {
        match self {
            ServerKind::Tungstenite => "tungstenite",
            ServerKind::FastWebSockets => "fastwebsockets",
            ServerKind::Hyper => "hyper",
            _ => "axum",
        }
    }
}

/// Where the server binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The `pushwire` binary.
    pub pushwire: PathBuf,
    /// The peers' `peer` binary.
    pub peer: PathBuf,
}

/// The repository root this crate was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Where the binaries are, without building: `pushwire` next to this executable, `peer` in
/// `bench/peers/target/release`.
pub fn locate() -> Binaries {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    Binaries {
        pushwire: dir.join("pushwire"),
        peer: repo_root().join("bench/peers/target/release/peer"),
    }
}

/// Builds the peers (`cargo build --release --manifest-path bench/peers/Cargo.toml`) and the
/// `pushwire` binary (release, into this executable's target directory).
pub fn build(peers: bool) -> Result<Binaries, Error> {
    let bins = locate();
    let root = repo_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // This executable is target/<profile>/pushwire-bench: build pushwire into the same dir.
    let target_dir = bins
        .pushwire
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot tell the target directory")?
        .to_path_buf();
    eprintln!("building pushwire (release) ...");
    let ok = Command::new(&cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--release", "-p", "pushwire", "--bin", "pushwire"])
        .status()?
        .success();
    if !ok {
        return Err("building pushwire failed".into());
    }
    if peers {
        eprintln!("building the peers (release, bench/peers) ...");
        let ok = Command::new(&cargo)
            .current_dir(&root)
            .env_remove("CARGO_TARGET_DIR")
            .args([
                "build",
                "--release",
                "--manifest-path",
                "bench/peers/Cargo.toml",
            ])
            .status()?
            .success();
        if !ok {
            return Err("building the peers failed".into());
        }
    }
    Ok(Binaries {
        pushwire: target_dir.join("release/pushwire"),
        peer: bins.peer,
    })
}

/// Pins this process (all its threads) to `cpu`; call before starting the runtime so that
/// every thread inherits it. Returns whether `taskset` succeeded.
pub fn pin_self(cpu: usize) -> bool {
    Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running server process, killed on drop.
pub use crate::ab::Proc as Running;

impl ServerKind {
    /// Starts this server on 127.0.0.1 (any port) with [`Running::start`]: pinned to `cpu` if
    /// given, the open-file limit at the hard limit, waiting for its `listening on` line.
    pub fn start(self, bins: &Binaries, cpu: Option<usize>) -> Result<Running, Error> {
        let launch = match self {
            ServerKind::Pushwire => Launch::new(
                self.name(),
                &bins.pushwire,
                &["--addr", "127.0.0.1:0", "--max-connections", "19000"],
            ),
            other => Launch::new(
                other.name(),
                &bins.peer,
                &[other.peer_arg(), "--addr", "127.0.0.1:0"],
            ),
        };
        Running::start(&launch, cpu)
    }
}

/// One workload of the compare run.
#[derive(Debug, Clone)]
pub enum Workload {
    /// WebSocket echo.
    WsEcho(WsEcho),
    /// Keep-alive GETs.
    Http(HttpGet),
    /// SSE fan-out.
    Sse(SseFanout),
    /// Long poll.
    LongPoll(LongPoll),
    /// Idle connections.
    Idle(Idle),
}

impl Workload {
    /// Runs it against `addr`.
    pub async fn run(&self, addr: SocketAddr, probe: &Probe) -> Result<Measurement, Error> {
        match self {
            Workload::WsEcho(o) => workloads::ws_echo(addr, o, probe).await,
            Workload::Http(o) => workloads::http_get(addr, o, probe).await,
            Workload::Sse(o) => workloads::sse_fanout(addr, o, probe).await,
            Workload::LongPoll(o) => workloads::long_poll(addr, o, probe).await,
            Workload::Idle(o) => workloads::idle(addr, o, probe).await,
        }
    }
}

/// A metric of a measurement shown in the table.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Label with unit.
    pub label: &'static str,
    /// Reads it.
    pub get: fn(&Measurement) -> Option<f64>,
}

/// One row group of the compare table: a workload, its servers and metrics, and the target.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name.
    pub name: String,
    /// The workload.
    pub workload: Workload,
    /// The peers it runs against (pushwire always runs).
    pub peers: Vec<ServerKind>,
    /// Metrics shown.
    pub metrics: Vec<Metric>,
    /// The target, as text.
    pub target: &'static str,
}

const RATE: Metric = Metric {
    label: "ops/s",
    get: |m| Some(m.rate()),
};
const CPU: Metric = Metric {
    label: "server CPU µs/op",
    get: Measurement::cpu_us_per_op,
};
const UTIL: Metric = Metric {
    label: "server core use %",
    get: |m| m.server_util().map(|u| u * 100.0),
};
const CLIENT: Metric = Metric {
    label: "load generator core use %",
    get: |m| m.client_util().map(|u| u * 100.0),
};
const P50: Metric = Metric {
    label: "p50 µs",
    get: |m| Some(m.latency.p50),
};
const P99: Metric = Metric {
    label: "p99 µs",
    get: |m| Some(m.latency.p99),
};
const P99_MS: Metric = Metric {
    label: "p99 ms",
    get: |m| Some(m.latency.p99 / 1000.0),
};
const P50_MS: Metric = Metric {
    label: "p50 ms",
    get: |m| Some(m.latency.p50 / 1000.0),
};
const MAX_MS: Metric = Metric {
    label: "max ms",
    get: |m| Some(m.latency.max / 1000.0),
};
const GAPS: Metric = Metric {
    label: "gaps + unanswered",
    get: |m| Some(m.gaps as f64),
};
const ERRORS: Metric = Metric {
    label: "failed conns",
    get: |m| Some(m.errors as f64),
};
const RSS: Metric = Metric {
    label: "RSS B/conn",
    get: Measurement::rss_per_conn,
};

/// The table, sized for about ten minutes in total (`quick`: about two).
pub fn cases(quick: bool) -> Vec<Case> {
    let (warm, dur) = if quick {
        (Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (Duration::from_millis(500), Duration::from_secs(2))
    };
    let idle_n = if quick { 2_000 } else { 10_000 };
    let ws_peers = vec![ServerKind::FastWebSockets, ServerKind::Tungstenite];
    let ws = |conns, in_flight, size| {
        Workload::WsEcho(WsEcho {
            conns,
            in_flight,
            size,
            binary: true,
            path: "/echo".into(),
            warmup: warm,
            duration: dur,
        })
    };
    let http = |depth| {
        Workload::Http(HttpGet {
            conns: 100,
            depth,
            path: "/healthz".into(),
            warmup: warm,
            duration: dur,
        })
    };
    let idle = |kind| {
        Workload::Idle(Idle {
            conns: idle_n,
            kind,
            settle: Duration::from_millis(if quick { 500 } else { 1000 }),
        })
    };
    let ws_metrics = vec![RATE, CPU, UTIL, CLIENT, P50, P99, ERRORS];
    vec![
        Case {
            name: "ws echo 100 conns 16 B, 16 in flight".into(),
            workload: ws(100, 16, 16),
            peers: ws_peers.clone(),
            metrics: ws_metrics.clone(),
            target: "≥ 1.2× fastwebsockets msgs/s; CPU ≤ 1.5 µs/msg",
        },
        Case {
            name: "ws echo 100 conns 16 KiB, 4 in flight".into(),
            workload: ws(100, 4, 16 << 10),
            peers: ws_peers.clone(),
            metrics: ws_metrics.clone(),
            target: "≥ 1.0× fastwebsockets",
        },
        Case {
            name: "ws echo 10 conns 1 MiB, 2 in flight".into(),
            workload: ws(10, 2, 1 << 20),
            peers: ws_peers.clone(),
            metrics: ws_metrics,
            target: "≥ 1.0× both; CPU/MiB below both",
        },
        Case {
            name: "http GET /healthz 100 conns".into(),
            workload: http(1),
            peers: vec![ServerKind::Hyper],
            metrics: vec![RATE, CPU, UTIL, CLIENT, P50, P99, ERRORS],
            target: "≥ 1.0× hyper; CPU/req below hyper",
        },
        Case {
            name: "http GET /healthz 100 conns, 16 pipelined".into(),
            workload: http(16),
            peers: vec![ServerKind::Hyper],
            metrics: vec![RATE, CPU, UTIL, CLIENT, P50, P99, ERRORS],
            target: "≥ 1.0× hyper; CPU/req below hyper",
        },
        Case {
            name: "sse fan-out 1,000 subscribers, max rate".into(),
            workload: Workload::Sse(SseFanout {
                subscribers: 1000,
                rate: None,
                warmup: warm,
                duration: dur + Duration::from_secs(1),
                ..SseFanout::default()
            }),
            peers: vec![ServerKind::Axum],
            metrics: vec![RATE, CPU, UTIL, CLIENT, P50, P99, GAPS, ERRORS],
            target: "≥ 1.5× axum events/s, lower p99, no gaps",
        },
        Case {
            name: "long poll 1,000 waiters, one publish (×3)".into(),
            workload: Workload::LongPoll(LongPoll {
                waiters: 1000,
                rounds: if quick { 2 } else { 3 },
                settle: Duration::from_millis(300),
            }),
            peers: vec![ServerKind::Axum],
            metrics: vec![P50_MS, P99_MS, MAX_MS, GAPS, CPU],
            target: "all answered, p99 ≤ 10 ms",
        },
        Case {
            name: format!("idle WebSocket ×{idle_n}"),
            workload: idle(IdleKind::WebSocket),
            peers: vec![ServerKind::FastWebSockets, ServerKind::Tungstenite],
            metrics: vec![RSS, ERRORS],
            target: "below every peer; goal ≤ 4 KiB",
        },
        Case {
            name: format!("idle SSE ×{idle_n}"),
            workload: idle(IdleKind::Sse),
            peers: vec![ServerKind::Axum],
            metrics: vec![RSS, ERRORS],
            target: "below axum; goal ≤ 4 KiB",
        },
        Case {
            name: format!("idle long poll ×{idle_n}"),
            workload: idle(IdleKind::LongPoll),
            peers: vec![ServerKind::Axum],
            metrics: vec![RSS, ERRORS],
            target: "below axum; goal ≤ 4 KiB",
        },
    ]
}

/// All the measurements of one case: per server, one per round.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// pushwire's runs.
    pub pushwire: Vec<Measurement>,
    /// Each peer's runs.
    pub peers: Vec<(ServerKind, Vec<Measurement>)>,
}

/// Runs `case` for `rounds` rounds, servers alternating, each run on a fresh server.
pub async fn run_case(bins: &Binaries, case: &Case, rounds: usize) -> Result<CaseResult, Error> {
    let mut res = CaseResult {
        case: case.clone(),
        pushwire: Vec::new(),
        peers: case.peers.iter().map(|p| (*p, Vec::new())).collect(),
    };
    for round in 0..rounds {
        let order = std::iter::once(ServerKind::Pushwire).chain(case.peers.iter().copied());
        for kind in order {
            let server = kind.start(bins, Some(0))?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let m = tokio::time::timeout(
                Duration::from_secs(90),
                case.workload.run(server.addr, &server.probe),
            )
            .await
            .map_err(|_| format!("{} on {}: timed out", case.name, kind.name()))?
            .map_err(|e| format!("{} on {}: {e}", case.name, kind.name()))?;
            drop(server);
            eprintln!(
                "  round {}/{rounds} {:<18} {:>10.0} {}/s  cpu {} µs/op  p99 {:.0} µs  rss/conn {}",
                round + 1,
                kind.name(),
                m.rate(),
                m.unit,
                m.cpu_us_per_op().map_or("-".into(), |v| format!("{v:.2}")),
                m.latency.p99,
                m.rss_per_conn().map_or("-".into(), |v| format!("{v:.0}")),
            );
            if kind == ServerKind::Pushwire {
                res.pushwire.push(m);
            } else if let Some((_, v)) = res.peers.iter_mut().find(|(k, _)| *k == kind) {
                v.push(m);
            }
            // Let the kernel reap the closed sockets before the next server starts.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(res)
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{v:.0}");
        // Thousands separators.
        let (neg, digits) = s
            .strip_prefix('-')
            .map_or((false, s.as_str()), |d| (true, d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if neg { format!("-{out}") } else { out }
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The Markdown table of the results: per case and metric, pushwire's median, each peer's
/// median, and the median ratio pushwire / peer with its min–max over the rounds.
pub fn table(results: &[CaseResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload | metric | pushwire | peer | peer median | pushwire / peer median (min–max) | target |"
    );
    let _ = writeln!(s, "|---|---|---:|---|---:|---:|---|");
    for r in results {
        let mut first = true;
        for metric in &r.case.metrics {
            let ours: Vec<f64> = r.pushwire.iter().filter_map(metric.get).collect();
            for (peer, runs) in &r.peers {
                let theirs: Vec<f64> = runs.iter().filter_map(metric.get).collect();
                let ratios: Vec<f64> = ours
                    .iter()
                    .zip(&theirs)
                    .filter(|(_, t)| **t != 0.0)
                    .map(|(o, t)| o / t)
                    .collect();
                let ratio = if ratios.is_empty() {
                    "-".to_owned()
                } else {
                    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    format!("{:.2} ({:.2}–{:.2})", median(&ratios), lo, hi)
                };
                // "ops" in a label is the workload's unit: msgs, reqs, events, answers.
                let unit = r.pushwire.first().map_or("ops", |m| m.unit);
                let label = metric
                    .label
                    .replace("ops/s", &format!("{unit}/s"))
                    .replace("/op", &format!("/{}", unit.trim_end_matches('s')));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    if first { r.case.name.as_str() } else { "" },
                    label,
                    fmt_num(median(&ours)),
                    peer.name(),
                    fmt_num(median(&theirs)),
                    ratio,
                    if first { r.case.target } else { "" },
                );
                first = false;
            }
        }
    }
    s
}
