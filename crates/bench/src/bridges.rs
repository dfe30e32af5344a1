//! `pushwire-bench bridges`: WebSocket echo through pushwire-ws's hyper bridge against
//! fastwebsockets' hyper upgrade, on the same hyper server.
//!
//! The server is `bench/peers`' `bridge` binary: one hyper 1 accept loop and
//! `serve_connection(..).with_upgrades()`, differing only in the upgrade call and the echo
//! loop (see `bench/peers/src/bin/bridge.rs`):
//!
//! - `pushwire`: `pushwire_ws::bridge::upgrade`, `recv` + `feed` of every message already
//!   read, one `flush` per batch;
//! - `pushwire-send`: the bridge's documented loop, `recv` + `send` (one write per message);
//! - `fastwebsockets`: `upgrade::upgrade`, `FragmentCollector`, `read_frame` + `write_frame`
//!   (one write per message), as its echo example.
//!
//! Each run starts a fresh server pinned to core 0 and drives it with the `ws-echo`
//! workload from this process (core 1); the kinds alternate within a round (A B C A B C ...),
//! and the table gives medians over the rounds and the per-round ratios against
//! fastwebsockets (median, min–max).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::ab::{Launch, Proc};
use crate::stats::median;
use crate::workloads::{self, WsEcho};
use crate::{Error, Measurement};

/// The upgrade + echo code a `bridge` server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeKind {
    /// pushwire-ws's hyper bridge, batched writes (`feed` + one `flush`).
    Pushwire,
    /// pushwire-ws's hyper bridge, `recv` + `send`.
    PushwireSend,
    /// fastwebsockets' hyper upgrade.
    FastWebSockets,
}

impl BridgeKind {
    /// The `bridge` binary's argument, also the display name.
    pub fn name(self) -> &'static str {
        match self {
            BridgeKind::Pushwire => "pushwire",
            BridgeKind::PushwireSend => "pushwire-send",
            BridgeKind::FastWebSockets => "fastwebsockets",
        }
    }

    /// All kinds, in the order they run in a round.
    pub const ALL: [BridgeKind; 3] = [
        BridgeKind::Pushwire,
        BridgeKind::FastWebSockets,
        BridgeKind::PushwireSend,
    ];
}

/// Where `bench/peers` builds to: `dir` if given, else `bench/peers/target`.
pub fn peers_target(dir: Option<&Path>) -> PathBuf {
    dir.map_or_else(
        || crate::compare::repo_root().join("bench/peers/target"),
        Path::to_path_buf,
    )
}

/// Builds the `bridge` binary (release) into `target` and returns its path.
pub fn build(target: &Path) -> Result<PathBuf, Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building bench/peers' bridge (release) ...");
    let ok = Command::new(cargo)
        .current_dir(crate::compare::repo_root())
        .env("CARGO_TARGET_DIR", target)
        .args([
            "build",
            "--release",
            "--manifest-path",
            "bench/peers/Cargo.toml",
            "--bin",
            "bridge",
        ])
        .status()?
        .success();
    if !ok {
        return Err("building bench/peers' bridge failed".into());
    }
    Ok(target.join("release/bridge"))
}

/// Starts `bin kind --addr 127.0.0.1:0` (see [`crate::ab::Proc::start`]: pinned to `cpu` if
/// given, open-file limit raised, waits for its `listening on` line); killed on drop.
pub fn start(bin: &Path, kind: BridgeKind, cpu: Option<usize>) -> Result<Proc, Error> {
    let launch = Launch::new(kind.name(), bin, &[kind.name(), "--addr", "127.0.0.1:0"]);
    Proc::start(&launch, cpu)
}

/// Options of the run.
#[derive(Debug, Clone)]
pub struct Bridges {
    /// Rounds (5).
    pub rounds: usize,
    /// Connections (100).
    pub conns: usize,
    /// Message sizes and messages in flight per connection: (16 B, 16), (16 KiB, 4), as in
    /// `compare`.
    pub sizes: Vec<(usize, usize)>,
    /// Warm-up before each measured window (500 ms).
    pub warmup: Duration,
    /// Measured window per run (2 s).
    pub duration: Duration,
    /// Kinds compared (all three).
    pub kinds: Vec<BridgeKind>,
    /// Pin the servers to core 0.
    pub pin: bool,
}

impl Default for Bridges {
    fn default() -> Self {
        Bridges {
            rounds: 5,
            conns: 100,
            sizes: vec![(16, 16), (16 << 10, 4)],
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            kinds: BridgeKind::ALL.to_vec(),
            pin: true,
        }
    }
}

/// The runs of one message size.
#[derive(Debug, Clone)]
pub struct SizeResult {
    /// Payload bytes.
    pub size: usize,
    /// Messages in flight per connection.
    pub in_flight: usize,
    /// Per kind, one measurement per round.
    pub runs: Vec<(BridgeKind, Vec<Measurement>)>,
    /// Runs that saw no echo in their window and were run again.
    pub retried: usize,
}

/// Runs every size for `o.rounds` rounds, kinds alternating, each run on a fresh server.
pub async fn run(bin: &Path, o: &Bridges) -> Result<Vec<SizeResult>, Error> {
    let mut out = Vec::new();
    for &(size, in_flight) in &o.sizes {
        let w = WsEcho {
            conns: o.conns,
            in_flight,
            size,
            binary: true,
            path: "/echo".into(),
            warmup: o.warmup,
            duration: o.duration,
        };
        let mut res = SizeResult {
            size,
            in_flight,
            runs: o.kinds.iter().map(|k| (*k, Vec::new())).collect(),
            retried: 0,
        };
        let mut retried = 0;
        for round in 0..o.rounds {
            for (kind, runs) in &mut res.runs {
                let mut m = Measurement::default();
                // A run with no echo at all in its window (seen on the shared machine, for
                // every server alike, while other suites ran) is run once more; the retry
                // is printed and counted.
                for attempt in 0..2 {
                    let server = start(bin, *kind, o.pin.then_some(0))?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    m = tokio::time::timeout(
                        Duration::from_secs(90),
                        workloads::ws_echo(server.addr, &w, &server.probe),
                    )
                    .await
                    .map_err(|_| format!("{size} B on {}: timed out", kind.name()))?
                    .map_err(|e| format!("{size} B on {}: {e}", kind.name()))?;
                    drop(server);
                    if m.ops > 0 || attempt == 1 {
                        break;
                    }
                    eprintln!(
                        "  {size:>6} B {}: no echo in the window, run again",
                        kind.name()
                    );
                    retried += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                eprintln!(
                    "  {size:>6} B round {}/{}: {:<15} {:>9.0} msgs/s  cpu {} µs/msg  p99 {:.0} µs  errors {}",
                    round + 1,
                    o.rounds,
                    kind.name(),
                    m.rate(),
                    m.cpu_us_per_op().map_or("-".into(), |v| format!("{v:.2}")),
                    m.latency.p99,
                    m.errors,
                );
                runs.push(m);
                // Let the kernel reap the closed sockets before the next server starts.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        res.retried = retried;
        out.push(res);
    }
    Ok(out)
}

type Get = fn(&Measurement) -> Option<f64>;

const METRICS: [(&str, Get); 7] = [
    ("msgs/s", |m| Some(m.rate())),
    ("server CPU µs/msg", Measurement::cpu_us_per_op),
    ("server core use %", |m| m.server_util().map(|u| u * 100.0)),
    ("p50 µs", |m| Some(m.latency.p50)),
    ("p99 µs", |m| Some(m.latency.p99)),
    ("load generator core use %", |m| {
        m.client_util().map(|u| u * 100.0)
    }),
    ("failed conns", |m| Some(m.errors as f64)),
];

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The Markdown table: per size and metric, each kind's median over the rounds, and each
/// pushwire kind / fastwebsockets (median of the per-round ratios, min–max).
pub fn markdown(o: &Bridges, results: &[SizeResult]) -> String {
    let mut s = String::new();
    let kinds: Vec<BridgeKind> = o.kinds.clone();
    let _ = write!(s, "| workload | metric |");
    for k in &kinds {
        let _ = write!(s, " {} |", k.name());
    }
    let ours: Vec<BridgeKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != BridgeKind::FastWebSockets)
        .collect();
    let has_peer = kinds.contains(&BridgeKind::FastWebSockets);
    if has_peer {
        for k in &ours {
            let _ = write!(s, " {} / fastwebsockets (min–max) |", k.name());
        }
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|---|");
    let cols = kinds.len() + if has_peer { ours.len() } else { 0 };
    for _ in 0..cols {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    for r in results {
        let values = |k: BridgeKind, get: Get| -> Vec<f64> {
            r.runs
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, v)| v.iter().filter_map(get).collect())
                .unwrap_or_default()
        };
        for (i, (label, get)) in METRICS.iter().enumerate() {
            let name = if i == 0 {
                let size = if r.size >= 1024 {
                    format!("{} KiB", r.size >> 10)
                } else {
                    format!("{} B", r.size)
                };
                format!(
                    "ws echo {} conns {size}, {} in flight",
                    o.conns, r.in_flight
                )
            } else {
                String::new()
            };
            let _ = write!(s, "| {name} | {label} |");
            for k in &kinds {
                let _ = write!(s, " {} |", fmt(median(&values(*k, *get))));
            }
            if has_peer {
                let theirs = values(BridgeKind::FastWebSockets, *get);
                for k in &ours {
                    let ratios: Vec<f64> = values(*k, *get)
                        .iter()
                        .zip(&theirs)
                        .filter(|(_, t)| **t != 0.0)
                        .map(|(a, b)| a / b)
                        .collect();
                    if ratios.is_empty() || i >= 5 {
                        let _ = write!(s, " - |");
                    } else {
                        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let _ = write!(s, " {:.2} ({:.2}–{:.2}) |", median(&ratios), lo, hi);
                    }
                }
            }
            let _ = writeln!(s);
        }
    }
    let retried: usize = results.iter().map(|r| r.retried).sum();
    if retried > 0 {
        let _ = writeln!(
            s,
            "\n{retried} run(s) saw no echo in their window and were run again."
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rate: f64, cpu_ns: u64) -> Measurement {
        Measurement {
            unit: "msgs",
            ops: rate as u64,
            secs: 1.0,
            server_cpu_ns: Some(cpu_ns),
            ..Measurement::default()
        }
    }

    #[test]
    fn table_gives_medians_and_per_round_ratios_against_fastwebsockets() {
        let o = Bridges {
            sizes: vec![(16, 16)],
            ..Bridges::default()
        };
        let r = SizeResult {
            size: 16,
            in_flight: 16,
            runs: vec![
                (
                    BridgeKind::Pushwire,
                    vec![m(300.0, 300_000), m(200.0, 200_000)],
                ),
                (
                    BridgeKind::FastWebSockets,
                    vec![m(100.0, 200_000), m(100.0, 200_000)],
                ),
                (
                    BridgeKind::PushwireSend,
                    vec![m(100.0, 100_000), m(150.0, 150_000)],
                ),
            ],
            retried: 1,
        };
        let t = markdown(&o, &[r]);
        // msgs/s: medians 250 / 100 / 125; ratios 3 and 2 -> median 2.50 (2.00–3.00).
        let rate = t.lines().find(|l| l.contains("msgs/s")).unwrap();
        assert!(rate.contains("| 250 | 100 | 125 |"), "{rate}");
        assert!(rate.contains("2.50 (2.00–3.00)"), "{rate}");
        assert!(rate.contains("1.25 (1.00–1.50)"), "{rate}");
        // CPU µs/msg: 1000 ns per msg for pushwire, 2000 for fastwebsockets.
        let cpu = t.lines().find(|l| l.contains("CPU")).unwrap();
        assert!(cpu.contains("0.50 (0.50–0.50)"), "{cpu}");
        assert!(t.contains("1 run(s) saw no echo"), "{t}");
    }

    #[tokio::test]
    async fn a_missing_binary_is_an_error_not_a_hang() {
        let e = start(Path::new("/nonexistent/bridge"), BridgeKind::Pushwire, None);
        assert!(e.is_err());
    }
}
