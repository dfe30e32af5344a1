//! The TLS peers of `pushwire-bench tls`, one binary:
//!
//! ```text
//! tls-peer tungstenite|hyper --tls-cert PEM --tls-key PEM [--addr 127.0.0.1:0]
//! ```
//!
//! Each prints `listening on https://ADDR` like the `pushwire` binary with `--tls-cert`, then:
//!
//! - `tungstenite`: tokio-tungstenite on tokio-rustls, a WebSocket echo on any path, written
//!   like tokio-tungstenite's `echo-server` example (`read.forward(write)` of data messages)
//!   over a `tokio_rustls::TlsAcceptor`.
//! - `hyper`: hyper 1 on rustls, `GET` on any path answers the same 174-byte JSON as
//!   pushwire's `/healthz`. hyper-rustls 0.27 has no server-side acceptor for hyper 1; its
//!   own server example serves with tokio-rustls's `TlsAcceptor` and hyper-util's `TokioIo`,
//!   which is what this does.
//!
//! The rustls `ServerConfig` is pushwire's: the `ring` provider, safe default protocol
//! versions (TLS 1.2 and 1.3), no client auth, ALPN `http/1.1`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// pushwire's `/healthz` body on an idle server, byte for byte the same length.
const HEALTH: &str = r#"{"hub":"memory","connections":{"total":1,"http":1,"websocket":0,"sse":0,"long_poll":0},"rejected_connections":0,"topics":0,"subscribers":0,"slow_disconnects":0,"published":0}"#;

fn usage() -> ! {
    eprintln!("usage: tls-peer tungstenite|hyper --tls-cert PEM --tls-key PEM [--addr HOST:PORT]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let mut addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
    let (mut cert, mut key) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => {
                addr = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--tls-cert" => cert = args.next(),
            "--tls-key" => key = args.next(),
            _ => usage(),
        }
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        usage()
    };
    let acceptor = TlsAcceptor::from(server_config(&cert, &key));
    let listener = TcpListener::bind(addr).await.expect("bind");
    let local = listener.local_addr().expect("local addr");
    match kind.as_str() {
        "tungstenite" => {
            announce(local);
            tungstenite_echo(listener, acceptor).await
        }
        "hyper" => {
            announce(local);
            hyper_get(listener, acceptor).await
        }
        _ => usage(),
    }
}

fn server_config(cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("key PEM");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

fn announce(addr: SocketAddr) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on https://{addr}");
    let _ = out.flush();
}

async fn accept(listener: &TcpListener) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                return s;
            }
            // EMFILE and friends: wait and retry rather than spin or exit.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// tokio-tungstenite's `echo-server` example over tokio-rustls.
async fn tungstenite_echo(listener: TcpListener, acceptor: TlsAcceptor) {
    use futures_util::{StreamExt, TryStreamExt, future};
    loop {
        let stream = accept(&listener).await;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let mut cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
            cfg.max_message_size = Some(64 << 20);
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(tls, Some(cfg)).await else {
                return;
            };
            let (write, read) = ws.split();
            let _ = read
                .try_filter(|m| future::ready(m.is_text() || m.is_binary()))
                .forward(write)
                .await;
        });
    }
}

/// hyper 1's `hello` server shape over tokio-rustls, as hyper-rustls's server example.
async fn hyper_get(listener: TcpListener, acceptor: TlsAcceptor) {
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};

    async fn health(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let mut res = Response::new(Full::new(Bytes::from_static(HEALTH.as_bytes())));
        let h = res.headers_mut();
        h.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        h.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-store"),
        );
        Ok(res)
    }

    loop {
        let stream = accept(&listener).await;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let _ = http1::Builder::new()
                .serve_connection(io, service_fn(health))
                .await;
        });
    }
}
