//! A/B comparisons of servers that are not [`compare`](crate::compare)'s fixed set: server
//! processes started from a command line (the `pushwire` binary with TLS flags, the peers of
//! `bench/peers/src/bin/`, a Node script), runs alternating A B A B ..., and a Markdown table
//! of medians and of the median ratio A / B with its min–max over the rounds.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::net::ByteCounter;
use crate::stats::median;
use crate::{Error, Probe};

/// What a measured window saw.
#[derive(Debug, Clone, Copy)]
pub struct WindowResult {
    /// Length of the window, s.
    pub secs: f64,
    /// Server CPU time in the window, ns.
    pub server_cpu_ns: Option<u64>,
    /// This process's CPU time in the window, ns.
    pub client_cpu_ns: Option<u64>,
    /// Bytes through the counted client sockets in the window (both directions).
    pub bytes: Option<u64>,
}

/// Warm-up and measured window of a throughput run, and the switches the tasks read.
#[derive(Debug)]
pub struct Window {
    /// True while measuring.
    pub measuring: Arc<AtomicBool>,
    /// Set to true when the window ends: tasks stop.
    pub stop: watch::Sender<bool>,
}

impl Default for Window {
    fn default() -> Self {
        Window::new()
    }
}

impl Window {
    /// A window not started yet.
    pub fn new() -> Window {
        Window {
            measuring: Arc::new(AtomicBool::new(false)),
            stop: watch::channel(false).0,
        }
    }

    /// Sleeps the warm-up, measures for `duration`, stops the tasks; returns the window's
    /// length, the server's and this process's CPU time in it, and the bytes `counter`
    /// counted in it.
    pub async fn run(
        &self,
        warmup: Duration,
        duration: Duration,
        probe: &Probe,
        counter: Option<&ByteCounter>,
    ) -> WindowResult {
        let me = Probe::pid(std::process::id());
        tokio::time::sleep(warmup).await;
        let cpu0 = probe.cpu_ns();
        let me0 = me.cpu_ns();
        let b0 = counter.map(ByteCounter::total);
        let t0 = Instant::now();
        self.measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(duration).await;
        self.measuring.store(false, Ordering::Relaxed);
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = probe.cpu_ns();
        let me1 = me.cpu_ns();
        let b1 = counter.map(ByteCounter::total);
        let _ = self.stop.send(true);
        WindowResult {
            secs,
            server_cpu_ns: cpu1.zip(cpu0).map(|(b, a)| b.saturating_sub(a)),
            client_cpu_ns: me1.zip(me0).map(|(b, a)| b.saturating_sub(a)),
            bytes: b1.zip(b0).map(|(b, a)| b.saturating_sub(a)),
        }
    }
}

/// How to start one server: a program, its arguments, and the directory to run it in.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Display name in the tables.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments; `--addr 127.0.0.1:0` is the caller's to add.
    pub args: Vec<String>,
    /// Working directory (the current one if `None`).
    pub dir: Option<PathBuf>,
}

impl Launch {
    /// A launch of `program` with `args`.
    pub fn new(name: &str, program: impl AsRef<Path>, args: &[&str]) -> Launch {
        Launch {
            name: name.to_owned(),
            program: program.as_ref().to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: None,
        }
    }
}

/// A running server process, killed on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its CPU time and memory (the whole process: every thread, Node's thread pool too).
    pub probe: Probe,
}

impl Proc {
    /// Starts `l` with the open-file limit at the hard limit (`prlimit`), pinned to `cpu` if
    /// given (`taskset`), and waits for its first stdout line, `listening on SCHEME://ADDR`.
    pub fn start(l: &Launch, cpu: Option<usize>) -> Result<Proc, Error> {
        let hard = crate::probe::nofile()
            .map(|(_, h)| h.min(1 << 20))
            .unwrap_or(4096);
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={hard}:{hard}"));
        if let Some(cpu) = cpu {
            cmd.args(["taskset", "-c", &cpu.to_string()]);
        }
        cmd.arg(&l.program).args(&l.args);
        if let Some(d) = &l.dir {
            cmd.current_dir(d);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", l.program.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|u| u.split_once("://"))
            .and_then(|(_, a)| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{} did not start: {line:?}", l.name).into());
        };
        let probe = Probe::pid(child.id());
        Ok(Proc { child, addr, probe })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A metric of one run of type `T`, shown as a table row.
#[derive(Debug)]
pub struct Metric<T> {
    /// Label with unit.
    pub label: &'static str,
    /// Reads it.
    pub get: fn(&T) -> Option<f64>,
}

impl<T> Clone for Metric<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Metric<T> {}

/// All runs of one case: server A (pushwire) and server B (the peer), one run each per round.
#[derive(Debug, Clone)]
pub struct AbResult<T> {
    /// The case's name.
    pub name: String,
    /// The target, as text.
    pub target: String,
    /// A's name.
    pub a: String,
    /// B's name.
    pub b: String,
    /// A's runs, in round order.
    pub a_runs: Vec<T>,
    /// B's runs, in round order.
    pub b_runs: Vec<T>,
}

/// Runs `rounds` rounds of `run` against a fresh A, then a fresh B (each pinned to core 0),
/// printing one progress line per run with `show`.
pub async fn alternate<T, F, Fut>(
    name: &str,
    target: &str,
    a: &Launch,
    b: &Launch,
    rounds: usize,
    run: F,
    show: fn(&T) -> String,
) -> Result<AbResult<T>, Error>
where
    F: Fn(SocketAddr, Probe) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut res = AbResult {
        name: name.to_owned(),
        target: target.to_owned(),
        a: a.name.clone(),
        b: b.name.clone(),
        a_runs: Vec::new(),
        b_runs: Vec::new(),
    };
    eprintln!("{name} ({rounds} rounds)");
    for round in 0..rounds {
        for (which, l) in [(0, a), (1, b)] {
            let server = Proc::start(l, Some(0))?;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let t = tokio::time::timeout(
                Duration::from_secs(90),
                run(server.addr, server.probe.clone()),
            )
            .await
            .map_err(|_| format!("{name} on {}: timed out", l.name))?
            .map_err(|e| format!("{name} on {}: {e}", l.name))?;
            drop(server);
            eprintln!("  round {}/{rounds} {:<28} {}", round + 1, l.name, show(&t));
            if which == 0 {
                res.a_runs.push(t);
            } else {
                res.b_runs.push(t);
            }
            // Let the kernel reap the closed sockets before the next server starts.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(res)
}

/// Reads option `k` of a command line parsed into a map, or `d` if absent.
pub fn opt<T: std::str::FromStr>(
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

/// Pins this process to core 1 (servers run on core 0) unless `--no-pin` or one core.
pub fn pin_client(opts: &std::collections::HashMap<String, String>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 && !opts.contains_key("--no-pin") && !crate::compare::pin_self(1) {
        eprintln!("pushwire-bench: taskset failed; running unpinned");
    }
}

/// The target directory of `bench/peers`: `--peers-target DIR`, else `bench/peers/target`.
pub fn peers_target(opts: &std::collections::HashMap<String, String>) -> PathBuf {
    opts.get("--peers-target")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::compare::repo_root().join("bench/peers/target"))
}

/// Builds one binary of `bench/peers` (release) into `target` and returns its path.
pub fn build_peer(target: &Path, bin: &str) -> Result<PathBuf, Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building {bin} (release, bench/peers) ...");
    let ok = Command::new(cargo)
        .current_dir(crate::compare::repo_root())
        .env("CARGO_TARGET_DIR", target)
        .args([
            "build",
            "--release",
            "--manifest-path",
            "bench/peers/Cargo.toml",
            "--bin",
            bin,
        ])
        .status()?
        .success();
    if !ok {
        return Err(format!("building {bin} failed").into());
    }
    Ok(target.join("release").join(bin))
}

/// The `pushwire` binary: built (release, next to this executable) unless `--no-build`.
pub fn pushwire_bin(opts: &std::collections::HashMap<String, String>) -> Result<PathBuf, Error> {
    Ok(if opts.contains_key("--no-build") {
        crate::compare::locate().pushwire
    } else {
        crate::compare::build(false)?.pushwire
    })
}

/// Prints the `uptime` line (the machine's load while measuring) to stdout.
pub fn print_uptime() {
    if let Ok(o) = Command::new("uptime").output() {
        print!("uptime: {}", String::from_utf8_lossy(&o.stdout));
    }
}

/// Formats a figure with 3 significant digits or thousands separators.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 { format!("-{out}") } else { out }
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The median ratio a / b over paired rounds with its min–max, as text (`-` without pairs).
pub fn ratio_text(a: &[f64], b: &[f64]) -> String {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, t)| **t != 0.0)
        .map(|(o, t)| o / t)
        .collect();
    if ratios.is_empty() {
        return "-".to_owned();
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2} ({:.2}–{:.2})", median(&ratios), lo, hi)
}

/// The Markdown table: per case and metric, A's median, B's median, and the median of the
/// per-round ratios A / B with their min–max (each round's ratio compares runs made seconds
/// apart, so slow drifts of a shared machine cancel).
pub fn table<T>(results: &[AbResult<T>], metrics: &[Metric<T>]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload | metric | pushwire | peer | peer median | pushwire / peer median (min–max) | target |"
    );
    let _ = writeln!(s, "|---|---|---:|---|---:|---:|---|");
    for r in results {
        let mut first = true;
        for m in metrics {
            let a: Vec<f64> = r.a_runs.iter().filter_map(m.get).collect();
            let b: Vec<f64> = r.b_runs.iter().filter_map(m.get).collect();
            if a.is_empty() && b.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                if first { r.name.as_str() } else { "" },
                m.label,
                fmt_num(median(&a)),
                r.b,
                fmt_num(median(&b)),
                ratio_text(&a, &b),
                if first { r.target.as_str() } else { "" },
            );
            first = false;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_pair_rounds() {
        assert_eq!(
            ratio_text(&[2.0, 3.0, 4.0], &[1.0, 1.0, 2.0]),
            "2.00 (2.00–3.00)"
        );
        assert_eq!(ratio_text(&[1.0], &[0.0]), "-");
        assert_eq!(fmt_num(1234567.0), "1,234,567");
        assert_eq!(fmt_num(-1234.0), "-1,234");
        assert_eq!(fmt_num(12.345), "12.3");
    }

    #[test]
    fn table_has_a_row_per_metric() {
        let r = AbResult {
            name: "case".into(),
            target: "≥ 1.1×".into(),
            a: "pushwire".into(),
            b: "peer".into(),
            a_runs: vec![10.0, 12.0],
            b_runs: vec![5.0, 6.0],
        };
        let m = [
            Metric {
                label: "x",
                get: |v: &f64| Some(*v),
            },
            Metric {
                label: "never",
                get: |_: &f64| None,
            },
        ];
        let t = table(&[r], &m);
        assert!(t.contains("| case | x | 11.0 | peer | 5.50 | 2.00 (2.00–2.00) | ≥ 1.1× |"));
        assert!(!t.contains("never"));
    }
}
