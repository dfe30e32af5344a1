//! The server's CPU time and memory, read from `/proc/PID`.

use std::path::PathBuf;

/// Reads a server process's CPU time and resident memory. With no pid (an unknown or remote
/// server) every reading is `None`.
#[derive(Debug, Clone)]
pub struct Probe {
    pid: Option<u32>,
}

impl Probe {
    /// A probe of process `pid`.
    pub fn pid(pid: u32) -> Probe {
        Probe { pid: Some(pid) }
    }

    /// A probe that reads nothing.
    pub fn none() -> Probe {
        Probe { pid: None }
    }

    /// The pid probed.
    pub fn target(&self) -> Option<u32> {
        self.pid
    }

    /// CPU time of all the process's threads, in nanoseconds: the sum of the first field of
    /// `/proc/PID/task/*/schedstat` (time on CPU, ns resolution), or `utime + stime` of
    /// `/proc/PID/stat` (clock ticks) when schedstat is unavailable.
    pub fn cpu_ns(&self) -> Option<u64> {
        let pid = self.pid?;
        let dir = PathBuf::from(format!("/proc/{pid}/task"));
        let mut total = 0u64;
        let mut any = false;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat"))
                    && let Some(ns) = s
                        .split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                {
                    total += ns;
                    any = true;
                }
            }
        }
        if any {
            return Some(total);
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the `(comm)`, which may hold spaces: utime is field 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(ticks * 10_000_000) // USER_HZ = 100
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/PID/status`).
    pub fn rss(&self) -> Option<u64> {
        let pid = self.pid?;
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

/// This process's (soft, hard) open-file limits from `/proc/self/limits`.
pub fn nofile() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line.get("Max open files".len()..)?.split_whitespace();
    let mut parse = || match nums.next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((parse()?, parse()?))
}
