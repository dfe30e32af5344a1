//! `pushwire-bench tls`: the TLS comparisons of issue 13.
//!
//! - `wss` echo (16 B and 64 KiB): the `pushwire` binary with `--tls-cert/--tls-key` against
//!   tokio-tungstenite on tokio-rustls (`tls-peer tungstenite`).
//! - New TLS connections per second: a full handshake (no resumption), one `GET /healthz`,
//!   close; against hyper 1 on rustls (`tls-peer hyper`, served the way hyper-rustls's own
//!   server example does it: tokio-rustls's acceptor under hyper-util).
//!
//! Every server gets the same certificate (the committed `certs/localhost.pem`, ECDSA P-256,
//! valid until 2126) and rustls on the `ring` provider with ALPN `http/1.1`; the client is
//! the same tokio-rustls client for all.
//!
//! The client pins the server's certificate (its bytes must equal the committed one). By
//! default it also verifies the handshake signature, like any client; `skip_signature` skips
//! that one ECDSA verification, so that on a 2-core machine the load generator's own half
//! of each handshake costs less than the server's half (the servers' work is the same
//! either way).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::ab::{self, AbResult, Launch, Metric, Window};
use crate::net::{self, HttpReader};
use crate::workloads::EchoTasks;
use crate::{Error, Measurement, Percentiles, Probe};

/// The committed test certificate and key (`certs/localhost.pem`, `certs/localhost-key.pem`
/// in this crate): ECDSA P-256, `localhost` and `127.0.0.1`, valid until 2126.
pub fn test_cert_paths() -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs");
    (dir.join("localhost.pem"), dir.join("localhost-key.pem"))
}

/// Accepts exactly one certificate (byte for byte) and, unless told otherwise, checks the
/// handshake signature with the provider's algorithms.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    skip_signature: bool,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        if self.skip_signature {
            return Ok(rustls::client::danger::HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        if self.skip_signature {
            return Ok(rustls::client::danger::HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The benchmark's TLS client: rustls/ring, TLS 1.2 and 1.3, ALPN `http/1.1`, session
/// resumption off (every connection is a full handshake), trusting only the certificate in
/// `cert_pem` (pinned; see the module docs for `skip_signature`).
pub fn connector(
    cert_pem: &[u8],
    skip_signature: bool,
) -> Result<tokio_rustls::TlsConnector, Error> {
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::pem_slice_iter(cert_pem)
        .next()
        .ok_or("no certificate in the PEM")??;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Pinned {
        cert,
        skip_signature,
        algs: provider.signature_verification_algorithms,
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// TCP (zero linger, `TCP_NODELAY`) and a TLS handshake for `localhost`.
pub async fn connect(
    addr: SocketAddr,
    tls: &tokio_rustls::TlsConnector,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let tcp = net::connect(addr).await?;
    Ok(tls.connect(ServerName::try_from("localhost")?, tcp).await?)
}

// ------------------------------------------------------------------------- wss echo

/// `wss` echo: `conns` WebSocket connections over TLS to `/echo`, each keeping `in_flight`
/// binary messages of `size` bytes in flight (one frame masked once, sent again and again,
/// as [`crate::workloads::ws_echo`] does in plain text).
#[derive(Debug, Clone)]
pub struct WssEcho {
    /// Connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub in_flight: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Default for WssEcho {
    fn default() -> Self {
        WssEcho {
            conns: 100,
            in_flight: 16,
            size: 16,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
        }
    }
}

/// Runs [`WssEcho`] against `addr`.
pub async fn wss_echo(
    addr: SocketAddr,
    o: &WssEcho,
    tls: &tokio_rustls::TlsConnector,
    probe: &Probe,
) -> Result<Measurement, Error> {
    let frame = net::masked_frame(o.size, true);
    let copies = o.in_flight.min((4 << 20) / frame.len()).max(1);
    let mut batch = BytesMut::with_capacity(frame.len() * copies);
    for _ in 0..copies {
        batch.extend_from_slice(&frame);
    }
    let batch = batch.freeze();
    let mut conns = Vec::with_capacity(o.conns);
    let mut set = JoinSet::new();
    let mut next = 0;
    while conns.len() < o.conns {
        while next < o.conns && set.len() < 32 {
            let tls = tls.clone();
            let host = addr.to_string();
            set.spawn(async move {
                let mut s = connect(addr, &tls).await?;
                let left = net::ws_handshake(&mut s, &host, "/echo").await?;
                Ok::<_, Error>((s, left))
            });
            next += 1;
        }
        match set.join_next().await {
            Some(r) => conns.push(r??),
            None => break,
        }
    }
    let win = Window::new();
    let halves = conns.into_iter().map(|(s, left)| {
        let (rd, wr) = tokio::io::split(s);
        (rd, wr, left)
    });
    let tasks = EchoTasks::spawn(
        halves,
        o.in_flight,
        frame.len(),
        &batch,
        &win.measuring,
        &win.stop,
    );
    let w = win.run(o.warmup, o.duration, probe, None).await;
    let (mut lat, errors) = tasks.finish().await;
    Ok(Measurement {
        name: format!("wss-echo c={} d={} s={}", o.conns, o.in_flight, o.size),
        unit: "msgs",
        ops: lat.len() as u64,
        secs: w.secs,
        latency: Percentiles::of_ns(&mut lat),
        server_cpu_ns: w.server_cpu_ns,
        client_cpu_ns: w.client_cpu_ns,
        conns: o.conns,
        errors,
        ..Measurement::default()
    })
}

// ------------------------------------------------------------------------- new connections

/// New TLS connections: `clients` loops, each connecting (TCP + full TLS handshake),
/// sending one `GET path` with `Connection: close`, reading the whole response and closing.
#[derive(Debug, Clone)]
pub struct TlsConnect {
    /// Concurrent connecting loops.
    pub clients: usize,
    /// Request target.
    pub path: String,
    /// Warm-up before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Default for TlsConnect {
    fn default() -> Self {
        TlsConnect {
            clients: 16,
            path: "/healthz".into(),
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
        }
    }
}

/// Runs [`TlsConnect`] against `addr`; `ops` counts connections that got their `200`, the
/// latency is connect → response read.
pub async fn tls_connect(
    addr: SocketAddr,
    o: &TlsConnect,
    tls: &tokio_rustls::TlsConnector,
    probe: &Probe,
) -> Result<Measurement, Error> {
    let req: Bytes = format!(
        "GET {} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        o.path,
        addr.port()
    )
    .into_bytes()
    .into();
    let win = Window::new();
    let mut set = JoinSet::new();
    for _ in 0..o.clients {
        let (tls, req, measuring, stop) = (
            tls.clone(),
            req.clone(),
            win.measuring.clone(),
            win.stop.subscribe(),
        );
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while !*stop.borrow() {
                let t0 = Instant::now();
                match one_get(addr, &tls, &req).await {
                    Ok(()) => {
                        if measuring.load(Ordering::Relaxed) {
                            lat.push(t0.elapsed().as_nanos() as u64);
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        // A refused or reset connection: back off rather than spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors)
        });
    }
    let w = win.run(o.warmup, o.duration, probe, None).await;
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        match r {
            Ok((v, e)) => {
                lat.extend(v);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    Ok(Measurement {
        name: format!("tls-connect c={} GET {}", o.clients, o.path),
        unit: "conns",
        ops: lat.len() as u64,
        secs: w.secs,
        latency: Percentiles::of_ns(&mut lat),
        server_cpu_ns: w.server_cpu_ns,
        client_cpu_ns: w.client_cpu_ns,
        conns: o.clients,
        errors,
        ..Measurement::default()
    })
}

async fn one_get(
    addr: SocketAddr,
    tls: &tokio_rustls::TlsConnector,
    req: &[u8],
) -> Result<(), Error> {
    let mut s = connect(addr, tls).await?;
    s.write_all(req).await?;
    let (res, body) = HttpReader::default().response(&mut s).await?;
    if res.status != 200 || body.is_empty() {
        return Err(format!("status {}", res.status).into());
    }
    // Dropped here: the zero linger of `net::connect` closes with a reset, so a run's
    // thousands of connections leave no TIME_WAIT behind.
    Ok(())
}

// ------------------------------------------------------------------------- the run

/// Options of `pushwire-bench tls`.
#[derive(Debug, Clone)]
pub struct TlsRun {
    /// Rounds (each: pushwire, then the peer, fresh processes).
    pub rounds: usize,
    /// Warm-up of each run.
    pub warmup: Duration,
    /// Measured window of each run.
    pub duration: Duration,
    /// Connecting loops of the connection-rate case.
    pub connect_clients: usize,
    /// Skip the client's handshake-signature check (see the module docs).
    pub skip_signature: bool,
    /// Only cases whose name contains this.
    pub only: Option<String>,
}

impl Default for TlsRun {
    fn default() -> Self {
        TlsRun {
            rounds: 5,
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            connect_clients: 16,
            skip_signature: false,
            only: None,
        }
    }
}

/// Metrics of the TLS tables.
pub fn metrics() -> Vec<Metric<Measurement>> {
    vec![
        Metric {
            label: "ops/s",
            get: |m| Some(m.rate()),
        },
        Metric {
            label: "server CPU µs/op",
            get: Measurement::cpu_us_per_op,
        },
        Metric {
            label: "server core use %",
            get: |m| m.server_util().map(|u| u * 100.0),
        },
        Metric {
            label: "load generator core use %",
            get: |m| m.client_util().map(|u| u * 100.0),
        },
        Metric {
            label: "p50 µs",
            get: |m| Some(m.latency.p50),
        },
        Metric {
            label: "p99 µs",
            get: |m| Some(m.latency.p99),
        },
        Metric {
            label: "errors",
            get: |m| Some(m.errors as f64),
        },
    ]
}

/// One line of progress for a run.
pub fn show(m: &Measurement) -> String {
    format!(
        "{:>9.0} {}/s  cpu {} µs/op  server {}  client {}  p99 {:.0} µs  errors {}",
        m.rate(),
        m.unit,
        m.cpu_us_per_op().map_or("-".into(), |v| format!("{v:.2}")),
        m.server_util()
            .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
        m.client_util()
            .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
        m.latency.p99,
        m.errors
    )
}

/// The servers: `pushwire` (with the test certificate) and `tls-peer tungstenite|hyper`.
pub fn launches(pushwire: &std::path::Path, tls_peer: &std::path::Path) -> [Launch; 3] {
    let (cert, key) = test_cert_paths();
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let tls = ["--tls-cert", &*cert, "--tls-key", &*key];
    let ours: Vec<&str> = ["--addr", "127.0.0.1:0", "--max-connections", "19000"]
        .into_iter()
        .chain(tls)
        .collect();
    let peer = |kind: &str, name: &str| {
        let args: Vec<&str> = [kind, "--addr", "127.0.0.1:0"]
            .into_iter()
            .chain(tls)
            .collect();
        Launch::new(name, tls_peer, &args)
    };
    [
        Launch::new("pushwire", pushwire, &ours),
        peer("tungstenite", "tokio-tungstenite+tokio-rustls"),
        peer("hyper", "hyper+rustls"),
    ]
}

/// Runs the three cases, pushwire and its peer alternating.
pub async fn run_all(
    pushwire: &std::path::Path,
    tls_peer: &std::path::Path,
    o: &TlsRun,
) -> Result<Vec<AbResult<Measurement>>, Error> {
    let (cert, _) = test_cert_paths();
    let tls = connector(&std::fs::read(&cert)?, o.skip_signature)?;
    let [ours, tung, hyper] = launches(pushwire, tls_peer);
    let mut out = Vec::new();
    let echo = |conns, in_flight, size| WssEcho {
        conns,
        in_flight,
        size,
        warmup: o.warmup,
        duration: o.duration,
    };
    let cases = [
        ("wss echo 100 conns 16 B, 16 in flight", echo(100, 16, 16)),
        (
            "wss echo 20 conns 64 KiB, 2 in flight",
            echo(20, 2, 64 << 10),
        ),
    ];
    for (name, e) in cases {
        if o.only.as_ref().is_some_and(|s| !name.contains(s.as_str())) {
            continue;
        }
        let tls = &tls;
        let e = &e;
        out.push(
            ab::alternate(
                name,
                "≥ 1.1× tokio-tungstenite + tokio-rustls msgs/s",
                &ours,
                &tung,
                o.rounds,
                |addr, probe| async move { wss_echo(addr, e, tls, &probe).await },
                show,
            )
            .await?,
        );
    }
    let name = format!(
        "new TLS connections ({} loops: handshake + GET /healthz + close)",
        o.connect_clients
    );
    if o.only.as_ref().is_none_or(|s| name.contains(s.as_str())) {
        let c = TlsConnect {
            clients: o.connect_clients,
            warmup: o.warmup,
            duration: o.duration,
            ..TlsConnect::default()
        };
        let (tls, c) = (&tls, &c);
        out.push(
            ab::alternate(
                &name,
                "≥ 1.0× hyper + rustls conns/s",
                &ours,
                &hyper,
                o.rounds,
                |addr, probe| async move { tls_connect(addr, c, tls, &probe).await },
                show,
            )
            .await?,
        );
    }
    Ok(out)
}

/// `pushwire-bench tls [--rounds 5] [--seconds 2] [--clients 16] [--skip-signature]
/// [--only S] [--out FILE.md] [--peers-target DIR] [--no-build]`.
pub fn command(opts: &std::collections::HashMap<String, String>) -> Result<(), Error> {
    let target = ab::peers_target(opts);
    let pushwire = ab::pushwire_bin(opts)?;
    let peer = if opts.contains_key("--no-build") {
        target.join("release/tls-peer")
    } else {
        ab::build_peer(&target, "tls-peer")?
    };
    ab::pin_client(opts);
    let o = TlsRun {
        rounds: ab::opt(opts, "--rounds", 5)?,
        duration: Duration::from_secs_f64(ab::opt(opts, "--seconds", 2.0)?),
        connect_clients: ab::opt(opts, "--clients", 16)?,
        skip_signature: opts.contains_key("--skip-signature"),
        only: opts.get("--only").cloned(),
        ..TlsRun::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let res = rt.block_on(run_all(&pushwire, &peer, &o))?;
    let table = ab::table(&res, &metrics());
    println!("{table}");
    println!(
        "{} rounds of {} s; client handshake signature check {}",
        o.rounds,
        o.duration.as_secs_f64(),
        if o.skip_signature { "skipped" } else { "on" }
    );
    ab::print_uptime();
    if let Some(path) = opts.get("--out") {
        std::fs::write(path, &table)?;
    }
    Ok(())
}
