//! Load generator for pushwire and its peers, on pushwire's own client codecs and tokio.
//!
//! Workloads ([`workloads`]) drive a server at an address over 127.0.0.1 and return a
//! [`Measurement`]: operations per second, latency percentiles, and the server's CPU time and
//! memory read from `/proc/PID` (see [`Probe`]). [`compare`] runs them against pushwire and the
//! peer servers of `bench/peers/` in alternation; [`techniques`] measures the four push
//! techniques against one message stream.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pushwire_bench::Error> {
//! use pushwire_bench::{Probe, workloads::{WsEcho, ws_echo}};
//! let addr = "127.0.0.1:3000".parse().unwrap();
//! let m = ws_echo(addr, &WsEcho::default(), &Probe::none()).await?;
//! println!("{:.0} msgs/s, p99 {} µs", m.rate(), m.latency.p99);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod ab;
pub mod bridges;
pub mod broadcast;
pub mod cluster;
pub mod compare;
pub mod deflate;
pub mod net;
pub mod probe;
pub mod sse_parse;
pub mod stats;
pub mod techniques;
pub mod tls;
pub mod token;
pub mod workloads;

pub use probe::Probe;
pub use stats::{Measurement, Percentiles};

/// Errors of the load generator: it is a tool, any failure ends the run with a message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Raises the soft open-file limit of this process to the hard one (with `prlimit`, so no
/// `unsafe` is needed) and returns the soft limit now in force, if `/proc` tells it.
pub fn raise_nofile() -> Option<u64> {
    let (soft, hard) = probe::nofile()?;
    if soft < hard {
        let _ = std::process::Command::new("prlimit")
            .arg("--pid")
            .arg(std::process::id().to_string())
            .arg(format!("--nofile={hard}:{hard}"))
            .stderr(std::process::Stdio::null())
            .status();
    }
    probe::nofile().map(|(s, _)| s)
}
