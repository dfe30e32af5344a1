//! Percentiles and the result of one workload run.

use std::fmt::Write as _;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of samples in nanoseconds (sorted in place), reported in µs.
    pub fn of_ns(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples[i.min(samples.len() - 1)] as f64 / 1000.0
        };
        Percentiles {
            count: samples.len(),
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// What one workload run measured.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Workload name and parameters, e.g. `ws-echo c=100 d=16 s=16`.
    pub name: String,
    /// What `ops` counts: `msgs`, `reqs`, `events`, `answers`, `conns`.
    pub unit: &'static str,
    /// Operations completed in the measured window.
    pub ops: u64,
    /// Length of the measured window in seconds.
    pub secs: f64,
    /// Latency of the operations.
    pub latency: Percentiles,
    /// Server CPU time over the window, ns (`None` without a pid).
    pub server_cpu_ns: Option<u64>,
    /// The load generator's own CPU time over the window, ns: near one core means the
    /// client, not the server, may be the bottleneck.
    pub client_cpu_ns: Option<u64>,
    /// Server RSS before the load, bytes.
    pub rss_before: Option<u64>,
    /// Server RSS under the load, bytes.
    pub rss_after: Option<u64>,
    /// Connections the workload held (idle) or used.
    pub conns: usize,
    /// Sequence gaps seen by subscribers (SSE), or unanswered waiters (long poll).
    pub gaps: u64,
    /// Connections or requests that failed.
    pub errors: u64,
}

impl Measurement {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Server CPU µs per operation.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        let ns = self.server_cpu_ns?;
        (self.ops > 0).then(|| ns as f64 / 1000.0 / self.ops as f64)
    }

    /// Share of one core the server used during the window (1.0 = one core busy).
    pub fn server_util(&self) -> Option<f64> {
        let ns = self.server_cpu_ns?;
        (self.secs > 0.0).then(|| ns as f64 / 1e9 / self.secs)
    }

    /// Share of one core the load generator used during the window.
    pub fn client_util(&self) -> Option<f64> {
        let ns = self.client_cpu_ns?;
        (self.secs > 0.0).then(|| ns as f64 / 1e9 / self.secs)
    }

    /// Server RSS growth per connection, bytes.
    pub fn rss_per_conn(&self) -> Option<f64> {
        let (a, b) = (self.rss_before?, self.rss_after?);
        (self.conns > 0).then(|| (b as f64 - a as f64) / self.conns as f64)
    }

    /// The one-run table: a header line and a value line.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let opt = |v: Option<f64>, prec: usize| match v {
            Some(v) => format!("{v:.prec$}"),
            None => "-".to_owned(),
        };
        let _ = writeln!(
            s,
            "| workload | {u}/s | p50 µs | p99 µs | p99.9 µs | max µs | server CPU µs/{u1} | server core use | client core use | RSS/conn B | gaps | errors |",
            u = self.unit,
            u1 = self.unit.trim_end_matches('s'),
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} |",
            self.name,
            self.rate(),
            self.latency.p50,
            self.latency.p99,
            self.latency.p999,
            self.latency.max,
            opt(self.cpu_us_per_op(), 2),
            opt(self.server_util().map(|u| u * 100.0), 0) + "%",
            opt(self.client_util().map(|u| u * 100.0), 0) + "%",
            opt(self.rss_per_conn(), 0),
            self.gaps,
            self.errors,
        );
        s
    }
}

/// Median of a non-empty list (the mean of the middle two for an even length).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
