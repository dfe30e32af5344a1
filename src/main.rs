//! The `pushwire` binary: reads the command line, then runs `pushwire-server`.
//!
//! Everything testable lives in the library; this file only parses arguments, binds, prints
//! the one `listening on` line (flushed, so scripts can read the real port of `--addr
//! HOST:0`), and logs one line at shutdown.

use std::io::Write as _;
use std::process::ExitCode;

use pushwire::server::{Command, Server, USAGE, parse_args, raise_fd_limit, shutdown_signal};

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(cfg)) => *cfg,
        Ok(_) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pushwire: {e}");
            eprintln!("try `pushwire --help`");
            return ExitCode::from(2);
        }
    };
    if let Some(soft) = raise_fd_limit(cfg.max_connections)
        && soft < cfg.max_connections as u64
    {
        eprintln!(
            "pushwire: open-file limit {soft} is below --max-connections {}; \
                 connections past it will fail to be accepted",
            cfg.max_connections
        );
    }
    // One core to run on (`taskset -c 0`, a one-CPU container): the single-threaded scheduler.
    // With one worker the multi-threaded one still pays its cross-thread machinery on every
    // wake (atomics, a bounded local queue spilling into the shared injection queue), and its
    // `block_on` thread (the accept loop) is a second thread on the same core. More cores: one
    // worker per core the process may use (tokio's default counts the affinity mask).
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pushwire: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(cfg.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pushwire: cannot listen on {}: {e}", cfg.addr);
                return ExitCode::FAILURE;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("pushwire: {e}");
                return ExitCode::FAILURE;
            }
        };
        if !addr.ip().is_loopback() && cfg.auth.is_none() {
            eprintln!(
                "pushwire: warning: listening on {addr} without --auth-secret-file: \
                 anyone who can reach it may publish and subscribe"
            );
        }
        // The certificate is loaded before the `listening` line, so a bad pair fails fast.
        let tls = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) => match pushwire::server::tls::TlsAcceptor::from_pem_files(c, k) {
                Ok(t) => {
                    t.reload_on_sighup();
                    Some(t)
                }
                Err(e) => {
                    eprintln!("pushwire: TLS: {e}");
                    return ExitCode::FAILURE;
                }
            },
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {scheme}://{addr}");
        let _ = out.flush();
        drop(out);
        // `--redis`: the hub starts at once even with Redis down (publishes answer 503 and
        // it retries, saying so on stderr); without the flag nothing touches Redis.
        let redis = cfg.redis.clone().map(|url| {
            pushwire_redis::RedisHub::start(pushwire_redis::RedisConfig::new(url, cfg.history))
        });
        let server = match redis {
            None => Server::new(cfg),
            Some(Ok(hub)) => Server::new(cfg).with_hub(hub),
            Some(Err(e)) => {
                eprintln!("pushwire: --redis: {e}");
                return ExitCode::FAILURE;
            }
        };
        let result = match tls {
            Some(t) => server.run_with(listener, t, shutdown_signal()).await,
            None => server.run(listener, shutdown_signal()).await,
        };
        match result {
            Ok(()) => {
                eprintln!("pushwire: shut down gracefully");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pushwire: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
