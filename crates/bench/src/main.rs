//! `pushwire-bench`: the load generator's command line. See `--help` and BENCHMARKS.md.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pushwire_bench::compare::{self, ServerKind};
use pushwire_bench::workloads::{self, HttpGet, Idle, IdleKind, LongPoll, SseFanout, WsEcho};
use pushwire_bench::{Error, Measurement, Probe, techniques};

const USAGE: &str = "\
pushwire-bench: load generator for pushwire and its peers (127.0.0.1 only)

USAGE: pushwire-bench COMMAND [OPTIONS]

Workloads (each prints one table). Without --addr they start a server themselves
(--server pushwire|fastwebsockets|tokio-tungstenite|hyper|axum, default pushwire),
pinned to core 0, with this process on core 1.
  ws-echo     [--conns 100] [--in-flight 16] [--size 16] [--text] [--path /echo] [--seconds 2]
  http        [--conns 100] [--depth 1] [--path /healthz] [--seconds 2]
  sse-fanout  [--subscribers 1000] [--rate R (default: as fast as possible)] [--seconds 3]
  long-poll   [--waiters 1000] [--rounds 3]
  idle        [--kind ws|sse|long-poll] [--conns 10000]
Common: --addr HOST:PORT (a running server) and --pid PID (its process, for CPU and RSS).

  compare     [--quick] [--rounds N (5; quick 2)] [--only SUBSTRING] [--out FILE.md] [--no-build]
              builds bench/peers and pushwire, then runs every workload of issue 8 against
              pushwire and the peers alternately; prints medians and ratios.
  techniques  [--clients 100] [--seconds 30] [--rate 10] [--out-dir docs] [--no-build]
              short polling (1 s), long polling, SSE and WebSocket against one message
              stream; prints the table, writes OUT-DIR/techniques.md and techniques.svg.
  bridges     [--rounds 5] [--seconds 2] [--peers-target DIR (bench/peers/target)] [--no-build]
              ws echo (100 conns, 16 B and 16 KiB) through pushwire-ws's hyper bridge and
              fastwebsockets' hyper upgrade on the same hyper server (bench/peers' bridge).
  sse-parse   [--size 1048576] [--chunks 1,7,4096] [--rounds 5] [--round-ms 200]
              SSE parsing through pushwire-sse's Stream adapter against eventsource-stream
              and sse-codec, in process, on one stream of mixed events.
  cluster     [--subscribers 1000] [--publishers 3] [--nodes 3] [--seconds 3] [--rounds 1]
              [--only SUBSTRING] [--no-build]  pushwire nodes on one redis-server (started
              here) vs socket.io 4 + @socket.io/redis-streams-adapter (crates/redis/bench/node),
              plus one in-memory pushwire node; delivered/s, p50/p99, losses, duplicates.
  tls         [--rounds 5] [--seconds 2] [--clients 16] [--skip-signature] [--only S]
              [--out FILE.md] [--peers-target DIR (bench/peers/target)] [--no-build]
              wss echo (16 B, 64 KiB) vs tokio-tungstenite+tokio-rustls, new TLS
              connections/s vs hyper+rustls (bench/peers' tls-peer), alternating.
  deflate-echo [--rounds 5] [--seconds 2] [--sizes 64,1024,16384] [--out FILE.md] [--no-build]
              compressed echo of JSON text vs Node ws with perMessageDeflate
              (bench/peers/node; npm install if node_modules is missing).
  deflate-broadcast [--subscribers 1000] [--size 1024] [--messages 50] [--rounds 3]
              one JSON message to many deflate subscribers, in process over 127.0.0.1:
              compressed once (shared frame) vs per connection; server CPU per delivery,
              wire bytes, idle RSS per connection.
  token       [--iterations 100000] [--batches 7]
              pushwire-server's token check (HS256 + claims + topic match) per request.
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    if cmd == "--help" || cmd == "-h" || cmd == "help" {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let mut opts: HashMap<String, String> = HashMap::new();
    let flags = [
        "--quick",
        "--text",
        "--no-build",
        "--no-pin",
        "--skip-signature",
    ];
    while let Some(a) = args.next() {
        if flags.contains(&a.as_str()) {
            opts.insert(a, "1".into());
        } else if a.starts_with("--") {
            let Some(v) = args.next() else {
                eprintln!("pushwire-bench: {a} needs a value");
                return ExitCode::from(2);
            };
            opts.insert(a, v);
        } else {
            eprintln!("pushwire-bench: unexpected argument {a:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    match run(&cmd, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushwire-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn get<T: std::str::FromStr>(opts: &HashMap<String, String>, k: &str, d: T) -> Result<T, Error> {
    match opts.get(k) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("bad value for {k}: {v:?}").into()),
        None => Ok(d),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn run(cmd: &str, opts: &HashMap<String, String>) -> Result<(), Error> {
    let soft = pushwire_bench::raise_nofile();
    let build = !opts.contains_key("--no-build");
    match cmd {
        "compare" => {
            let quick = opts.contains_key("--quick");
            let rounds = get(opts, "--rounds", if quick { 2 } else { 5 })?;
            let bins = if build {
                compare::build(true)?
            } else {
                compare::locate()
            };
            pin(opts);
            let only = opts.get("--only").cloned();
            let cases: Vec<_> = compare::cases(quick)
                .into_iter()
                .filter(|c| only.as_ref().is_none_or(|o| c.name.contains(o.as_str())))
                .collect();
            let started = std::time::Instant::now();
            let results = runtime()?.block_on(async {
                let mut out = Vec::new();
                for case in &cases {
                    eprintln!("{} ({} rounds)", case.name, rounds);
                    out.push(compare::run_case(&bins, case, rounds).await?);
                }
                Ok::<_, Error>(out)
            })?;
            let table = compare::table(&results);
            println!("{table}");
            println!(
                "{} rounds, {:.0} s in total; open-file soft limit {}",
                rounds,
                started.elapsed().as_secs_f64(),
                soft.map_or("?".into(), |s| s.to_string())
            );
            if let Some(path) = opts.get("--out") {
                std::fs::write(path, &table)?;
            }
            Ok(())
        }
        "techniques" => {
            let bins = if build {
                compare::build(false)?
            } else {
                compare::locate()
            };
            pin(opts);
            let o = techniques::Techniques {
                clients: get(opts, "--clients", 100)?,
                seconds: get(opts, "--seconds", 30.0)?,
                rate: get(opts, "--rate", 10.0)?,
            };
            let out_dir = PathBuf::from(get(opts, "--out-dir", "docs".to_string())?);
            let rows = runtime()?.block_on(techniques::run_all(&bins, &o))?;
            let md = techniques::markdown(&o, &rows);
            println!("{md}");
            std::fs::create_dir_all(&out_dir)?;
            std::fs::write(out_dir.join("techniques.md"), &md)?;
            std::fs::write(out_dir.join("techniques.svg"), techniques::svg(&o, &rows))?;
            eprintln!(
                "wrote {0}/techniques.md and {0}/techniques.svg",
                out_dir.display()
            );
            Ok(())
        }
        "bridges" => {
            let target = pushwire_bench::bridges::peers_target(
                opts.get("--peers-target").map(std::path::Path::new),
            );
            let bin = if build {
                pushwire_bench::bridges::build(&target)?
            } else {
                target.join("release/bridge")
            };
            pin(opts);
            let o = pushwire_bench::bridges::Bridges {
                rounds: get(opts, "--rounds", 5)?,
                duration: Duration::from_secs_f64(get(opts, "--seconds", 2.0)?),
                ..Default::default()
            };
            let res = runtime()?.block_on(pushwire_bench::bridges::run(&bin, &o))?;
            println!("{}", pushwire_bench::bridges::markdown(&o, &res));
            Ok(())
        }
        "sse-parse" => {
            use pushwire_bench::sse_parse;
            let chunks = get(opts, "--chunks", "1,7,4096".to_string())?
                .split(',')
                .map(|c| c.trim().parse())
                .collect::<Result<Vec<usize>, _>>()
                .map_err(|_| "bad --chunks")?;
            let o = sse_parse::SseParse {
                size: get(opts, "--size", 1 << 20)?,
                chunks,
                rounds: get(opts, "--rounds", 5)?,
                round_time: Duration::from_millis(get(opts, "--round-ms", 200)?),
            };
            let input = sse_parse::mixed_events(o.size);
            let res = sse_parse::run(&o, &input)?;
            println!("{}", sse_parse::markdown(&o, input.len(), &res));
            Ok(())
        }
        "cluster" => pushwire_bench::cluster::command(opts),
        "tls" => pushwire_bench::tls::command(opts),
        "deflate-echo" => pushwire_bench::deflate::command(opts),
        "deflate-broadcast" => pushwire_bench::broadcast::command(opts),
        "token" => pushwire_bench::token::command(opts),
        "ws-echo" | "http" | "sse-fanout" | "long-poll" | "idle" => single(cmd, opts),
        _ => Err(format!("unknown command {cmd:?}; try --help").into()),
    }
}

fn pin(opts: &HashMap<String, String>) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 && !opts.contains_key("--no-pin") && !compare::pin_self(1) {
        eprintln!("pushwire-bench: taskset failed; running unpinned");
    }
}

fn single(cmd: &str, opts: &HashMap<String, String>) -> Result<(), Error> {
    let secs = |d: f64| -> Result<Duration, Error> {
        Ok(Duration::from_secs_f64(get(opts, "--seconds", d)?))
    };
    // A server to drive: the one given, or one started here.
    let mut server = None;
    let (addr, probe): (SocketAddr, Probe) = match opts.get("--addr") {
        Some(a) => {
            let probe = match opts.get("--pid") {
                Some(p) => Probe::pid(p.parse().map_err(|_| "bad --pid")?),
                None => Probe::none(),
            };
            (a.parse().map_err(|_| "bad --addr")?, probe)
        }
        None => {
            let kind = get(opts, "--server", "pushwire".to_string())?;
            let kind = ServerKind::parse(&kind).ok_or("unknown --server")?;
            let bins = compare::locate();
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let r = kind.start(&bins, (cores >= 2).then_some(0))?;
            let v = (r.addr, r.probe.clone());
            server = Some(r);
            v
        }
    };
    pin(opts);
    let rt = runtime()?;
    let m: Measurement = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match cmd {
            "ws-echo" => {
                let o = WsEcho {
                    conns: get(opts, "--conns", 100)?,
                    in_flight: get(opts, "--in-flight", 16)?,
                    size: get(opts, "--size", 16)?,
                    binary: !opts.contains_key("--text"),
                    path: get(opts, "--path", "/echo".to_string())?,
                    duration: secs(2.0)?,
                    ..WsEcho::default()
                };
                workloads::ws_echo(addr, &o, &probe).await
            }
            "http" => {
                let o = HttpGet {
                    conns: get(opts, "--conns", 100)?,
                    depth: get(opts, "--depth", 1)?,
                    path: get(opts, "--path", "/healthz".to_string())?,
                    duration: secs(2.0)?,
                    ..HttpGet::default()
                };
                workloads::http_get(addr, &o, &probe).await
            }
            "sse-fanout" => {
                let o = SseFanout {
                    subscribers: get(opts, "--subscribers", 1000)?,
                    rate: opts
                        .get("--rate")
                        .map(|r| r.parse())
                        .transpose()
                        .map_err(|_| "bad --rate")?,
                    duration: secs(3.0)?,
                    ..SseFanout::default()
                };
                workloads::sse_fanout(addr, &o, &probe).await
            }
            "long-poll" => {
                let o = LongPoll {
                    waiters: get(opts, "--waiters", 1000)?,
                    rounds: get(opts, "--rounds", 3)?,
                    ..LongPoll::default()
                };
                workloads::long_poll(addr, &o, &probe).await
            }
            _ => {
                let kind = match get(opts, "--kind", "ws".to_string())?.as_str() {
                    "ws" => IdleKind::WebSocket,
                    "sse" => IdleKind::Sse,
                    "long-poll" => IdleKind::LongPoll,
                    k => return Err(format!("unknown --kind {k}").into()),
                };
                let o = Idle {
                    conns: get(opts, "--conns", 10_000)?,
                    kind,
                    ..Idle::default()
                };
                workloads::idle(addr, &o, &probe).await
            }
        }
    })?;
    drop(server);
    print!("{}", m.table());
    Ok(())
}
