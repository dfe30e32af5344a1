//! Every limit and timeout of the server, with its default, and the command-line parser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Limits, timeouts and options of one server.
///
/// Every field bounds something a peer could otherwise grow or hold forever. Defaults follow
/// the table in `DESIGN.md`; memory figures are per connection unless stated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:3000`; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Serve files from this directory (`--static DIR`). Default none: only the demo page.
    pub static_dir: Option<PathBuf>,
    /// Extra origins allowed for WebSocket upgrades and CORS (`--allow-origin`), besides the
    /// server's own `http://` + `Host`. Default empty. Stops cross-site WebSocket hijacking.
    pub allow_origins: Vec<String>,
    /// Retained messages per topic (`--history`). Default 1024. Bounds each topic's memory.
    pub history: usize,
    /// Topics alive at once. Default 10 000; a new topic past it gets 503. Stops a client
    /// from creating topics without bound.
    pub max_topics: usize,
    /// Open connections at once (`--max-connections`). Default 50 000; one more gets `503` with
    /// `Retry-After` and is closed, while the listener keeps accepting. Stops fd exhaustion.
    pub max_connections: usize,
    /// Time to receive a whole request head (and body). Default 30 s, then `408` and close.
    /// Stops slowloris.
    pub head_timeout: Duration,
    /// Time an idle keep-alive connection waits for its next request. Default 60 s, then it is
    /// closed quietly. Stops idle connections from holding slots.
    pub idle_timeout: Duration,
    /// Time a write may stay blocked on a peer that does not read. Default 30 s, then the
    /// connection is closed. Stops a non-reading client from pinning a task.
    pub write_timeout: Duration,
    /// Largest request head in bytes (request line + headers). Default 16 KiB -> `431`.
    pub max_head_bytes: usize,
    /// Most header fields in one request. Default 100 -> `431`.
    pub max_headers: usize,
    /// Largest request body in bytes (`POST /publish`). Default 1 MiB -> `413`.
    pub max_body: usize,
    /// Largest message a client may send on `/ws`. Default 1 MiB, like `/publish` -> close 1009.
    pub max_ws_message: usize,
    /// A WebSocket idle this long gets a ping; no traffic for two intervals closes it.
    /// Default 30 s. Detects dead peers behind NATs.
    pub ws_ping_interval: Duration,
    /// How long a closing WebSocket waits for the peer's close frame. Default 2 s, so a
    /// shutdown is not held up by clients that never answer.
    pub ws_close_timeout: Duration,
    /// Comment line sent on an idle SSE stream. Default 15 s (WHATWG advice for proxies).
    pub sse_keepalive: Duration,
    /// `retry:` (milliseconds) sent first on every SSE stream. Default 2000 ms.
    pub sse_retry_ms: u64,
    /// Messages queued for one subscriber before it is cut as too slow. Default 256.
    pub outbound_queue_messages: usize,
    /// Payload bytes queued for one subscriber before it is cut as too slow. Default 1 MiB.
    /// Together with the message count this bounds each subscriber's memory.
    pub outbound_queue_bytes: usize,
    /// Long-poll wait when `timeout` is absent. Default 25 s.
    pub long_poll_default: Duration,
    /// Longest long-poll wait a client may ask for. Default 120 s; more is a `400`.
    pub long_poll_max: Duration,
    /// Most messages in one poll answer. Default 1024 (a whole default history).
    pub max_batch: usize,
    /// Time between the shutdown signal and the forced exit. Default 10 s.
    pub shutdown_grace: Duration,
    /// Set `TCP_NODELAY` on accepted sockets. Default true: push latency over Nagle.
    pub nodelay: bool,
    /// Seconds sent in `Retry-After` with a `503`. Default 1.
    pub retry_after_secs: u32,
    /// HTML served at `GET /` instead of the built-in demo page (the examples use it).
    /// Default none. `--static DIR` with an `index.html` still wins.
    pub index_page: Option<&'static str>,
    /// Full-chain PEM certificate (`--tls-cert`, feature `tls`). Default none: plain HTTP.
    /// Set together with [`Config::tls_key`]; the binary then serves HTTPS and WSS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key, PKCS#8, RSA or EC (`--tls-key`, feature `tls`). Default none.
    pub tls_key: Option<PathBuf>,
    /// `redis://[:PASSWORD@]HOST:PORT/DB` (`--redis`): the binary then shares topics with
    /// every node on that Redis (pushwire-redis). Default none: the in-memory hub, and
    /// nothing touches Redis.
    pub redis: Option<String>,
    /// Token verifier (`--auth-secret-file`, feature `auth`). Default none: no token needed.
    /// When set, every endpoint but `GET /`, static files and `/healthz` needs an HS256 JWT
    /// whose claims cover the topic. Stops an open relay.
    #[cfg(feature = "auth")]
    pub auth: Option<crate::auth::Verifier>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            static_dir: None,
            allow_origins: Vec::new(),
            history: 1024,
            max_topics: 10_000,
            max_connections: 50_000,
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
            max_ws_message: 1024 * 1024,
            ws_ping_interval: Duration::from_secs(30),
            ws_close_timeout: Duration::from_secs(2),
            sse_keepalive: Duration::from_secs(15),
            sse_retry_ms: 2000,
            outbound_queue_messages: 256,
            outbound_queue_bytes: 1024 * 1024,
            long_poll_default: Duration::from_millis(25_000),
            long_poll_max: Duration::from_millis(120_000),
            max_batch: 1024,
            shutdown_grace: Duration::from_secs(10),
            nodelay: true,
            retry_after_secs: 1,
            index_page: None,
            tls_cert: None,
            tls_key: None,
            redis: None,
            #[cfg(feature = "auth")]
            auth: None,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A limit that must be positive is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// The default long-poll wait is longer than the maximum.
    #[error("long_poll_default must not exceed long_poll_max")]
    LongPollDefault,
    /// `max_connections` does not fit the semaphore.
    #[error("max_connections is too large")]
    TooManyConnections,
    /// The argument parser met something it cannot use.
    #[error("{0}")]
    Args(String),
}

impl Config {
    /// Checks that every limit can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive: [(&'static str, usize); 10] = [
            ("history", self.history),
            ("max_topics", self.max_topics),
            ("max_connections", self.max_connections),
            ("max_head_bytes", self.max_head_bytes),
            ("max_headers", self.max_headers),
            ("max_body", self.max_body),
            ("max_ws_message", self.max_ws_message),
            ("outbound_queue_messages", self.outbound_queue_messages),
            ("outbound_queue_bytes", self.outbound_queue_bytes),
            ("max_batch", self.max_batch),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        for (name, d) in [
            ("head_timeout", self.head_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
            ("ws_ping_interval", self.ws_ping_interval),
            ("ws_close_timeout", self.ws_close_timeout),
            ("sse_keepalive", self.sse_keepalive),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.long_poll_default > self.long_poll_max {
            return Err(ConfigError::LongPollDefault);
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Args(
                "--tls-cert and --tls-key go together".into(),
            ));
        }
        // The connection semaphore counts in u32, and tokio caps permits a bit lower still.
        if self.max_connections > (u32::MAX >> 4) as usize {
            return Err(ConfigError::TooManyConnections);
        }
        Ok(())
    }
}

/// What the command line asks for.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Run the server with this configuration.
    Run(Box<Config>),
    /// Print [`USAGE`] and exit successfully.
    Help,
}

/// The `--help` text: every option the binary knows.
pub const USAGE: &str = "\
pushwire: server push over HTTP/1.1 (short polling, long polling, WebSocket, SSE) on one hub

Usage: pushwire [OPTIONS]

Options:
  --addr HOST:PORT         address to listen on (default 127.0.0.1:3000; port 0 = any free port)
  --static DIR             serve files from DIR (no listings, no traversal); / is DIR/index.html
  --allow-origin ORIGIN    also allow this origin for WebSocket and CORS (repeatable)
  --history N              retained messages per topic (default 1024)
  --max-connections N      open connections at once; more get 503 (default 50000)
  --redis URL              share topics with other nodes through Redis: redis://[:PASS@]HOST:PORT/DB
  --tls-cert PEM           serve HTTPS/WSS with this full-chain PEM certificate (SIGHUP reloads)
  --tls-key PEM            the PEM private key (PKCS#8, RSA or EC) for --tls-cert
  --auth-secret-file PATH  require HS256 JWTs signed with this file's bytes (see README)
  -h, --help               print this help

Endpoints: GET / (demo page), POST /publish, GET /poll, GET /long-poll, GET /events (SSE),
GET /ws (WebSocket), GET /echo (WebSocket echo), GET /healthz. SIGINT/SIGTERM shut down gracefully.
";

/// Parses the command line (without the program name) into a [`Command`].
///
/// Accepts `--opt VALUE` and `--opt=VALUE`. Hand-written so that the binary needs no parser
/// crate.
///
/// ```
/// use pushwire_server::config::{parse_args, Command};
/// let cmd = parse_args(["--addr", "127.0.0.1:0", "--allow-origin", "http://a.example"]).unwrap();
/// let Command::Run(cfg) = cmd else { panic!() };
/// assert_eq!(cfg.addr.port(), 0);
/// assert_eq!(cfg.allow_origins, ["http://a.example"]);
/// ```
pub fn parse_args<I, S>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut cfg = Config::default();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Ok(Command::Help);
        }
        let known = [
            "--addr",
            "--static",
            "--allow-origin",
            "--history",
            "--max-connections",
            "--redis",
            "--tls-cert",
            "--tls-key",
            "--auth-secret-file",
        ];
        if !known.contains(&name.as_str()) {
            return Err(ConfigError::Args(format!(
                "unknown option {name:?} (see --help)"
            )));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .ok_or_else(|| ConfigError::Args(format!("{name} needs a value")))?,
        };
        match name.as_str() {
            "--addr" => {
                cfg.addr = value
                    .parse()
                    .map_err(|_| ConfigError::Args(format!("--addr: not HOST:PORT: {value:?}")))?
            }
            "--static" => cfg.static_dir = Some(PathBuf::from(value)),
            "--allow-origin" => cfg
                .allow_origins
                .push(value.trim_end_matches('/').to_string()),
            "--history" => cfg.history = parse_count("--history", &value)?,
            "--max-connections" => cfg.max_connections = parse_count("--max-connections", &value)?,
            "--redis" => {
                if !value.starts_with("redis://") || value.len() <= "redis://".len() {
                    return Err(ConfigError::Args(
                        "--redis: expected redis://[:PASSWORD@]HOST:PORT/DB".into(),
                    ));
                }
                cfg.redis = Some(value)
            }
            #[cfg(feature = "tls")]
            "--tls-cert" => cfg.tls_cert = Some(PathBuf::from(value)),
            #[cfg(feature = "tls")]
            "--tls-key" => cfg.tls_key = Some(PathBuf::from(value)),
            #[cfg(feature = "auth")]
            "--auth-secret-file" => {
                cfg.auth = Some(
                    crate::auth::Verifier::from_file(value.as_ref()).map_err(|e| {
                        ConfigError::Args(format!("--auth-secret-file {value}: {e}"))
                    })?,
                )
            }
            other => {
                return Err(ConfigError::Args(format!(
                    "{other} is not supported by this build"
                )));
            }
        }
    }
    cfg.validate()?;
    Ok(Command::Run(Box::new(cfg)))
}

fn parse_count(name: &str, value: &str) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::Args(format!(
            "{name}: expected a positive integer, got {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_match_design() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.max_connections, 50_000);
        assert_eq!(c.max_body, 1 << 20);
        assert_eq!(c.history, 1024);
        assert_eq!(c.head_timeout, Duration::from_secs(30));
        assert_eq!(c.outbound_queue_messages, 256);
    }

    #[test]
    fn every_option_parses_in_both_forms() {
        let Command::Run(c) = parse_args([
            "--addr=0.0.0.0:8080",
            "--static",
            "/tmp",
            "--allow-origin",
            "http://a",
            "--allow-origin=http://b/",
            "--history",
            "5",
            "--max-connections=7",
        ])
        .unwrap() else {
            panic!("not run")
        };
        assert_eq!(c.addr.port(), 8080);
        assert_eq!(c.static_dir, Some(PathBuf::from("/tmp")));
        assert_eq!(c.allow_origins, ["http://a", "http://b"]);
        assert_eq!((c.history, c.max_connections), (5, 7));
    }

    #[test]
    fn redis_url_switches_the_hub() {
        let Command::Run(c) = parse_args(["--redis", "redis://:pw@127.0.0.1:6379/2"]).unwrap()
        else {
            panic!("not run")
        };
        assert_eq!(c.redis.as_deref(), Some("redis://:pw@127.0.0.1:6379/2"));
        let Command::Run(c) = parse_args(["--history", "5"]).unwrap() else {
            panic!("not run")
        };
        assert_eq!(c.redis, None);
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse_args(["--help"]).unwrap(), Command::Help));
        assert!(matches!(parse_args(["-h"]).unwrap(), Command::Help));
        for bad in [
            vec!["--nope"],
            vec!["--addr"],
            vec!["--addr", "x"],
            vec!["--history", "0"],
            vec!["--history", "-1"],
            vec!["--redis", "http://x"],
            vec!["--redis", "redis://"],
        ] {
            assert!(parse_args(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validate_rejects_zero_limits() {
        let c = Config {
            max_body: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Zero("max_body")));
        let c = Config {
            long_poll_default: Duration::from_secs(200),
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::LongPollDefault));
    }
}
