//! TLS figures over loopback (no criterion: whole servers are the unit), same certificate and
//! the same client (pushwire-ws `tls::connect`, rustls/ring) for both servers:
//!
//! 1. WebSocket echo over TLS, 16 B and 64 KiB messages, one client doing sequential round
//!    trips: pushwire-server `/echo` vs tokio-tungstenite on tokio-rustls.
//! 2. New TLS connections per second (handshake + `GET /healthz` + close, 4 clients):
//!    pushwire-server vs a bare tokio-rustls server writing a fixed response (a lower bound
//!    for any HTTP stack on the same TLS library).
//!
//! ```sh
//! cargo bench -p pushwire-server --features tls --bench tls
//! ```

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use pushwire_server::tls::TlsAcceptor;
use pushwire_server::{Config, Server};
use pushwire_ws::Message;
use pushwire_ws::tls::TlsClient;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

const ROUNDS_SMALL: usize = 5_000;
const ROUNDS_LARGE: usize = 300;
const CONNS: usize = 400;
const CLIENTS: usize = 4;

fn server_config(cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    let chain: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("pair");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

async fn ours(cert: &str, key: &str) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let tls = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes()).expect("tls");
    let mut cfg = Config::default();
    cfg.max_connections = 10_000;
    tokio::spawn(Server::new(cfg).run_with(l, tls, std::future::pending()));
    addr
}

async fn tungstenite_echo(cfg: Arc<rustls::ServerConfig>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let acc = tokio_rustls::TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let _ = tcp.set_nodelay(true);
            let acc = acc.clone();
            tokio::spawn(async move {
                let Ok(tls) = acc.accept(tcp).await else {
                    return;
                };
                let mut cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
                cfg.max_message_size = Some(64 << 20);
                let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tls, Some(cfg)).await
                else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn bare_tls_http(cfg: Arc<rustls::ServerConfig>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let acc = tokio_rustls::TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let _ = tcp.set_nodelay(true);
            let acc = acc.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acc.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "{\"ok\":true}";
                let _ = tls
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

async fn echo_rate(addr: SocketAddr, client: &TlsClient, size: usize, rounds: usize) -> f64 {
    let url = format!("wss://localhost:{}/echo", addr.port());
    let mut cfg = pushwire_ws::Config::default();
    cfg.max_message = 64 << 20;
    cfg.max_frame = 64 << 20;
    let mut ws = pushwire_ws::tls::connect(&url, client, cfg)
        .await
        .expect("connect");
    let msg = Message::binary(vec![0x5au8; size]);
    let t = Instant::now();
    for _ in 0..rounds {
        ws.send(&msg).await.expect("send");
        let back = ws.recv().await.expect("recv").expect("open");
        assert_eq!(back.payload().len(), size);
    }
    rounds as f64 / t.elapsed().as_secs_f64()
}

async fn conn_rate(addr: SocketAddr, ca: &str) -> f64 {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.expect("ca")).expect("root");
    }
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let conn = tokio_rustls::TlsConnector::from(cfg);
            for _ in 0..CONNS / CLIENTS {
                let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
                let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
                let mut s = conn.connect(name, tcp).await.expect("handshake");
                s.write_all(
                    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                )
                .await
                .expect("write");
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out).await;
                assert!(out.starts_with(b"HTTP/1.1 200"));
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    CONNS as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let (cert, key) = (c.cert.pem(), c.key_pair.serialize_pem());
        let client = TlsClient::with_only_ca_pem(cert.as_bytes()).expect("client");
        let a = ours(&cert, &key).await;
        let b = tungstenite_echo(server_config(&cert, &key)).await;
        let h = bare_tls_http(server_config(&cert, &key)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("WebSocket echo over TLS (round trips/s, one client, sequential):");
        for (size, rounds) in [(16, ROUNDS_SMALL), (64 * 1024, ROUNDS_LARGE)] {
            // interleave and keep the best of two runs each: the machine is shared
            let mut best = (0f64, 0f64);
            for _ in 0..2 {
                best.0 = best.0.max(echo_rate(a, &client, size, rounds).await);
                best.1 = best.1.max(echo_rate(b, &client, size, rounds).await);
            }
            println!(
                "  {size:>6} B: pushwire {:>9.0}/s   tokio-tungstenite+tokio-rustls {:>9.0}/s   ratio {:.2}x",
                best.0,
                best.1,
                best.0 / best.1
            );
        }
        println!("New TLS connections (handshake + GET /healthz + close, {CLIENTS} clients):");
        let mut best = (0f64, 0f64);
        for _ in 0..2 {
            best.0 = best.0.max(conn_rate(a, &cert).await);
            best.1 = best.1.max(conn_rate(h, &cert).await);
        }
        println!(
            "  pushwire {:>7.0}/s   bare tokio-rustls fixed response {:>7.0}/s   ratio {:.2}x",
            best.0,
            best.1,
            best.0 / best.1
        );
    });
}
