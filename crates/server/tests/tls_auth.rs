//! TLS and access control over real sockets on 127.0.0.1: certificates made here with rcgen,
//! tokens minted here with `auth::sign_hs256` (PyJWT-minted tokens are checked by
//! `.ci/suite-tls.sh`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pushwire_server::auth::{Verifier, sign_hs256, sign_with_header};
use pushwire_server::tls::TlsAcceptor;
use pushwire_server::{Config, Server};
use pushwire_sse::client::tls::{TlsConnector, TlsError as SseTlsError};
use pushwire_sse::client::{ClientEvent, EventSource};
use pushwire_ws::tls::{TlsClient, TlsError};
use pushwire_ws::{CloseCode, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::rustls;

/// Failure guard only: every wait below normally ends in milliseconds.
const GUARD: Duration = Duration::from_secs(10);
const KEY: &[u8] = b"test-secret";

struct Pki {
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
}

/// A CA and a leaf for `localhost` signed by it (the chain file holds both).
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("pushwire test CA {n}"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain_pem: format!("{}{}", leaf.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
    }
}

struct Srv {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Srv {
    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = tokio::time::timeout(GUARD, self.task).await;
    }
}

fn config(auth: bool) -> Config {
    let mut cfg = Config::default();
    cfg.addr = "127.0.0.1:0".parse().unwrap();
    cfg.head_timeout = Duration::from_secs(1);
    cfg.shutdown_grace = Duration::from_secs(2);
    if auth {
        cfg.auth = Some(Verifier::new(KEY));
    }
    cfg
}

async fn start(cfg: Config, tls: Option<TlsAcceptor>) -> Srv {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let server = Server::new(cfg);
    let task = tokio::spawn(async move {
        match tls {
            Some(t) => server.run_with(listener, t, shutdown).await,
            None => server.run(listener, shutdown).await,
        }
    });
    Srv {
        addr,
        stop: Some(tx),
        task,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(claims: &str) -> String {
    sign_hs256(
        KEY,
        &format!(
            r#"{{"exp":{}{}{claims}}}"#,
            now() + 600,
            if claims.is_empty() { "" } else { "," }
        ),
    )
}

/// Sends `raw` on a fresh connection (plain or TLS with `ca`) and reads to EOF.
async fn exchange(addr: SocketAddr, ca: Option<&str>, raw: String) -> String {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let out = tokio::time::timeout(GUARD, async move {
        let mut buf = Vec::new();
        match ca {
            Some(ca) => {
                let mut s = tls_connect(tcp, ca, "localhost").await.unwrap();
                s.write_all(raw.as_bytes()).await.unwrap();
                let _ = s.read_to_end(&mut buf).await;
            }
            None => {
                let mut s = tcp;
                s.write_all(raw.as_bytes()).await.unwrap();
                let _ = s.read_to_end(&mut buf).await;
            }
        }
        buf
    })
    .await
    .expect("response in time");
    String::from_utf8_lossy(&out).into_owned()
}

async fn tls_connect(
    tcp: TcpStream,
    ca: &str,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
}

fn status(resp: &str) -> u16 {
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n")
}

fn post(path: &str, extra: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// Waits for the next SSE message event, skipping open/comments.
async fn next_message(es: &mut EventSource) -> Option<String> {
    tokio::time::timeout(GUARD, async {
        loop {
            match es.next().await? {
                ClientEvent::Message { event, .. } => return Some(event.data),
                ClientEvent::Failed(_) => return None,
                _ => {}
            }
        }
    })
    .await
    .expect("sse event in time")
}

#[tokio::test]
async fn https_serves_with_alpn_http11_and_the_https_origin() {
    let p = pki();
    let tls = TlsAcceptor::from_pem(p.chain_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let srv = start(config(false), Some(tls)).await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let mut s = tls_connect(tcp, &p.ca_pem, "localhost").await.unwrap();
    // Offered h2 too: the server picks http/1.1, the only protocol it speaks.
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    s.write_all(get("/healthz", "").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await;
    assert_eq!(status(&String::from_utf8_lossy(&buf)), 200);
    // The own origin is https:// + Host; http:// of the same host is foreign.
    let own = exchange(
        srv.addr,
        Some(&p.ca_pem),
        get("/poll?topic=a", "Origin: https://localhost\r\n"),
    )
    .await;
    assert_eq!(status(&own), 200, "{own}");
    let foreign = exchange(
        srv.addr,
        Some(&p.ca_pem),
        get("/poll?topic=a", "Origin: http://localhost\r\n"),
    )
    .await;
    assert_eq!(status(&foreign), 403);
    srv.stop().await;
}

#[tokio::test]
async fn our_clients_connect_over_tls_and_refuse_bad_certificates() {
    let p = pki();
    let other = pki();
    let tls = TlsAcceptor::from_pem(p.chain_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let srv = start(config(false), Some(tls)).await;
    let port = srv.addr.port();
    let client = TlsClient::with_only_ca_pem(p.ca_pem.as_bytes()).unwrap();
    let sse_tls = TlsConnector::with_only_ca_pem(p.ca_pem.as_bytes()).unwrap();

    // EventSource over https:// receives what a wss:// client publishes.
    let mut es = EventSource::builder(&format!("https://localhost:{port}/events?topic=t"))
        .connector(sse_tls.clone())
        .connect()
        .unwrap();
    tokio::time::timeout(GUARD, async {
        while !matches!(es.next().await, Some(ClientEvent::Open { .. })) {}
    })
    .await
    .unwrap();
    let url = format!("wss://localhost:{port}/ws?topic=t");
    let mut ws = pushwire_ws::tls::connect(&url, &client, Default::default())
        .await
        .unwrap();
    ws.send(&Message::text("over tls")).await.unwrap();
    assert_eq!(next_message(&mut es).await.as_deref(), Some("over tls"));
    // and the wss:// subscriber gets it too
    let got = tokio::time::timeout(GUARD, ws.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(Message::text("over tls")));

    // Wrong hostname: the certificate names localhost, not 127.0.0.1.
    let wrong = format!("wss://127.0.0.1:{port}/ws?topic=t");
    match pushwire_ws::tls::connect(&wrong, &client, Default::default()).await {
        Err(pushwire_ws::Error::Tls(TlsError::WrongHostname)) => {}
        other => panic!("expected WrongHostname, got {:?}", other.map(|_| ())),
    }
    // Unknown CA.
    let stranger = TlsClient::with_only_ca_pem(other.ca_pem.as_bytes()).unwrap();
    match pushwire_ws::tls::connect(&url, &stranger, Default::default()).await {
        Err(pushwire_ws::Error::Tls(TlsError::UntrustedCertificate)) => {}
        other => panic!("expected UntrustedCertificate, got {:?}", other.map(|_| ())),
    }
    // The same two refusals from the EventSource client, as typed errors.
    for (u, conn, want) in [
        (
            format!("https://127.0.0.1:{port}/events"),
            sse_tls.clone(),
            SseTlsError::WrongHostname,
        ),
        (
            format!("https://localhost:{port}/events"),
            TlsConnector::with_only_ca_pem(other.ca_pem.as_bytes()).unwrap(),
            SseTlsError::UntrustedCertificate,
        ),
    ] {
        let mut es = EventSource::builder(&u).connector(conn).connect().unwrap();
        let ev = tokio::time::timeout(GUARD, es.next()).await.unwrap();
        // A refused certificate fails the source for good (SSE-RULES 33): no reconnect loop.
        match ev {
            Some(ClientEvent::Failed(e)) => {
                assert_eq!(SseTlsError::from_error(&e), Some(want), "{u}");
            }
            other => panic!("{u}: expected a fatal TLS error, got {other:?}"),
        }
        let after = tokio::time::timeout(GUARD, es.next()).await.unwrap();
        assert!(
            after.is_none(),
            "{u}: the source went on after failing: {after:?}"
        );
    }
    srv.stop().await;
}

/// An SSE subscriber on `srv` (plain or TLS) that must keep receiving while hostile
/// connections come and go.
async fn subscriber(addr: SocketAddr, ca: Option<&str>) -> EventSource {
    let mut b = match ca {
        Some(ca) => {
            EventSource::builder(&format!("https://localhost:{}/events?topic=k", addr.port()))
                .connector(TlsConnector::with_only_ca_pem(ca.as_bytes()).unwrap())
        }
        None => EventSource::builder(&format!("http://127.0.0.1:{}/events?topic=k", addr.port())),
    };
    b = b.header("X-Test", "1");
    let mut es = b.connect().unwrap();
    tokio::time::timeout(GUARD, async {
        while !matches!(es.next().await, Some(ClientEvent::Open { .. })) {}
    })
    .await
    .unwrap();
    es
}

/// Reads until EOF or error; true if the server ended the connection before `GUARD`.
async fn ended(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(GUARD, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn hostile_tls_inputs_end_one_connection_and_subscribers_keep_receiving() {
    let p = pki();
    let tls = TlsAcceptor::from_pem(p.chain_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let srv = start(config(false), Some(tls)).await;
    let mut es = subscriber(srv.addr, Some(&p.ca_pem)).await;

    // Plain HTTP to the TLS port: closed, not hung.
    let mut plain = TcpStream::connect(srv.addr).await.unwrap();
    plain
        .write_all(get("/healthz", "").as_bytes())
        .await
        .unwrap();
    assert!(
        ended(plain).await,
        "plain HTTP to the TLS port was not closed"
    );

    // A handshake that stops half-way: a ClientHello record header and a few bytes, then
    // nothing. Cut by the head timeout (1 s here).
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    half.write_all(&[
        0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc, 0x03, 0x03,
    ])
    .await
    .unwrap();
    assert!(ended(half).await, "stalled handshake was not cut");
    // Connected and silent: cut too.
    let silent = TcpStream::connect(srv.addr).await.unwrap();
    assert!(ended(silent).await, "silent connection was not cut");

    let r = exchange(
        srv.addr,
        Some(&p.ca_pem),
        post("/publish?topic=k", "", "still here"),
    )
    .await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(next_message(&mut es).await.as_deref(), Some("still here"));
    srv.stop().await;

    // A TLS ClientHello to a plain port: that connection ends, the plain subscriber goes on.
    let srv = start(config(false), None).await;
    let mut es = subscriber(srv.addr, None).await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let r = tokio::time::timeout(GUARD, tls_connect(tcp, &p.ca_pem, "localhost"))
        .await
        .expect("the plain server answered the ClientHello in time");
    assert!(r.is_err(), "a TLS handshake succeeded against a plain port");
    let r = exchange(
        srv.addr,
        None,
        post("/publish?topic=k", "", "plain still here"),
    )
    .await;
    assert_eq!(status(&r), 200);
    assert_eq!(
        next_message(&mut es).await.as_deref(),
        Some("plain still here")
    );
    srv.stop().await;
}

#[tokio::test]
async fn tokens_gate_every_api_endpoint_with_exact_statuses() {
    let srv = start(config(true), None).await;
    let a = srv.addr;
    let ok = token(r#""sub":"u","subscribe":["news","chat.*"],"publish":["news"]"#);
    let bearer = |t: &str| format!("Authorization: Bearer {t}\r\n");
    let cases: Vec<(&str, String, u16)> = vec![
        // open endpoints
        ("index", get("/", ""), 200),
        ("healthz", get("/healthz", ""), 200),
        ("static miss", get("/nope.txt", ""), 404),
        // missing token
        ("poll no token", get("/poll?topic=news", ""), 401),
        (
            "publish no token",
            post("/publish?topic=news", "", "x"),
            401,
        ),
        (
            "long-poll no token",
            get("/long-poll?topic=news&timeout=1", ""),
            401,
        ),
        // accepted on every transport, header or query
        ("poll", get("/poll?topic=news", &bearer(&ok)), 200),
        (
            "poll query",
            get(&format!("/poll?topic=news&token={ok}"), ""),
            200,
        ),
        (
            "publish",
            post("/publish?topic=news", &bearer(&ok), "x"),
            200,
        ),
        (
            "long-poll",
            get("/long-poll?topic=news&timeout=1", &bearer(&ok)),
            200,
        ),
        // claims
        (
            "publish not granted",
            post("/publish?topic=chat.a", &bearer(&ok), "x"),
            403,
        ),
        (
            "subscribe not granted",
            get("/poll?topic=other", &bearer(&ok)),
            403,
        ),
        (
            "wildcard child",
            get("/poll?topic=chat.a", &bearer(&ok)),
            200,
        ),
        (
            "wildcard grandchild",
            get("/poll?topic=chat.a.b", &bearer(&ok)),
            200,
        ),
        ("wildcard bare", get("/poll?topic=chat", &bearer(&ok)), 403),
        (
            "wildcard sibling",
            get("/poll?topic=chatx", &bearer(&ok)),
            403,
        ),
        // refused tokens
        (
            "alg none",
            get(
                "/poll?topic=news",
                &bearer(&sign_with_header(
                    KEY,
                    r#"{"alg":"none"}"#,
                    &format!(r#"{{"exp":{},"subscribe":["news"]}}"#, now() + 60),
                )),
            ),
            401,
        ),
        (
            "HS512",
            get(
                "/poll?topic=news",
                &bearer(&sign_with_header(
                    KEY,
                    r#"{"alg":"HS512","typ":"JWT"}"#,
                    &format!(r#"{{"exp":{},"subscribe":["news"]}}"#, now() + 60),
                )),
            ),
            401,
        ),
        (
            "wrong key",
            get(
                "/poll?topic=news",
                &bearer(&sign_hs256(
                    b"nope",
                    &format!(r#"{{"exp":{},"subscribe":["news"]}}"#, now() + 60),
                )),
            ),
            401,
        ),
        (
            "expired",
            get(
                "/poll?topic=news",
                &bearer(&sign_hs256(
                    KEY,
                    &format!(r#"{{"exp":{},"subscribe":["news"]}}"#, now() - 10),
                )),
            ),
            401,
        ),
        (
            "not yet valid",
            get(
                "/poll?topic=news",
                &bearer(&sign_hs256(
                    KEY,
                    &format!(
                        r#"{{"exp":{},"nbf":{},"subscribe":["news"]}}"#,
                        now() + 600,
                        now() + 300
                    ),
                )),
            ),
            401,
        ),
        ("garbage", get("/poll?topic=news", &bearer("a.b.c")), 401),
        (
            "basic scheme",
            get("/poll?topic=news", "Authorization: Basic dTpw\r\n"),
            401,
        ),
    ];
    for (name, raw, want) in cases {
        let r = exchange(a, None, raw).await;
        assert_eq!(status(&r), want, "{name}: {r}");
        if want == 401 {
            assert!(r.contains("WWW-Authenticate: Bearer"), "{name}: {r}");
            assert!(!r.contains("eyJ"), "{name}: a token leaked into the answer");
        }
    }
    // A CORS preflight needs no token (it cannot carry one).
    let pre = exchange(
        a,
        None,
        get(
            "/poll?topic=news",
            "Origin: http://x\r\nAccess-Control-Request-Method: GET\r\n",
        )
        .replacen("GET", "OPTIONS", 1),
    )
    .await;
    assert_ne!(status(&pre), 401, "{pre}");

    // SSE and WebSocket with a token (query: browsers cannot set headers on them).
    let port = a.port();
    let mut es = EventSource::connect(&format!(
        "http://127.0.0.1:{port}/events?topic=news&token={ok}"
    ))
    .unwrap();
    tokio::time::timeout(GUARD, async {
        while !matches!(es.next().await, Some(ClientEvent::Open { .. })) {}
    })
    .await
    .unwrap();
    let mut ws = pushwire_ws::WebSocket::connect(
        &format!("ws://127.0.0.1:{port}/ws?topic=news&token={ok}"),
        Default::default(),
    )
    .await
    .unwrap();
    ws.send(&Message::text("from ws")).await.unwrap();
    assert_eq!(next_message(&mut es).await.as_deref(), Some("from ws"));
    // SSE without a token, or on an ungranted topic, is refused.
    let r = exchange(a, None, get("/events?topic=news", "")).await;
    assert_eq!(status(&r), 401);
    let r = exchange(a, None, get(&format!("/events?topic=zzz&token={ok}"), "")).await;
    assert_eq!(status(&r), 403);
    // /echo takes any valid token, and none is refused.
    let any = token("");
    let mut echo = pushwire_ws::WebSocket::connect(
        &format!("ws://127.0.0.1:{port}/echo?token={any}"),
        Default::default(),
    )
    .await
    .unwrap();
    echo.send(&Message::text("e")).await.unwrap();
    assert_eq!(
        tokio::time::timeout(GUARD, echo.recv())
            .await
            .unwrap()
            .unwrap(),
        Some(Message::text("e"))
    );
    assert!(
        pushwire_ws::WebSocket::connect(&format!("ws://127.0.0.1:{port}/echo"), Default::default())
            .await
            .is_err()
    );
    srv.stop().await;
}

#[tokio::test]
async fn websocket_without_publish_right_is_closed_1008_on_its_first_message() {
    let srv = start(config(true), None).await;
    let port = srv.addr.port();
    let reader = token(r#""subscribe":["news"]"#);
    let mut ws = pushwire_ws::WebSocket::connect(
        &format!("ws://127.0.0.1:{port}/ws?topic=news&token={reader}"),
        Default::default(),
    )
    .await
    .unwrap();
    // Subscribing works: a publish by someone allowed arrives.
    let writer = token(r#""publish":["news"]"#);
    let r = exchange(
        srv.addr,
        None,
        post(
            "/publish?topic=news",
            &format!("Authorization: Bearer {writer}\r\n"),
            "hello",
        ),
    )
    .await;
    assert_eq!(status(&r), 200);
    assert_eq!(
        tokio::time::timeout(GUARD, ws.recv())
            .await
            .unwrap()
            .unwrap(),
        Some(Message::text("hello"))
    );
    // publish without subscribe cannot open /ws
    let r = exchange(srv.addr, None, get(&format!("/ws?topic=news&token={writer}"), "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")).await;
    assert_eq!(status(&r), 403);
    ws.send(&Message::text("not allowed")).await.unwrap();
    let end = tokio::time::timeout(GUARD, ws.recv()).await.unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    assert_eq!(
        ws.peer_close().flatten().map(|c| c.code),
        Some(CloseCode::POLICY_VIOLATION)
    );
    // and nothing was published
    let r = exchange(
        srv.addr,
        None,
        get(&format!("/poll?topic=news&since=0&token={reader}"), ""),
    )
    .await;
    assert!(!r.contains("not allowed"), "{r}");
    srv.stop().await;
}

#[tokio::test]
async fn expiring_tokens_end_every_transport() {
    let srv = start(config(true), None).await;
    let port = srv.addr.port();
    // exp is a whole second: at least 1 s and at most 2 s from now.
    let short = sign_hs256(
        KEY,
        &format!(r#"{{"exp":{},"subscribe":["news"]}}"#, now() + 2),
    );
    let started = std::time::Instant::now();
    let mut ws = pushwire_ws::WebSocket::connect(
        &format!("ws://127.0.0.1:{port}/ws?topic=news&token={short}"),
        Default::default(),
    )
    .await
    .unwrap();
    let mut es = EventSource::builder(&format!(
        "http://127.0.0.1:{port}/events?topic=news&token={short}"
    ))
    .connect()
    .unwrap();
    let lp = tokio::spawn(exchange(
        srv.addr,
        None,
        get(
            &format!("/long-poll?topic=news&timeout=60000&token={short}"),
            "",
        ),
    ));
    // WebSocket: closed with 1008.
    let end = tokio::time::timeout(GUARD, ws.recv()).await.unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    assert_eq!(
        ws.peer_close().flatten().map(|c| c.code),
        Some(CloseCode::POLICY_VIOLATION)
    );
    // Long poll: answered 401 well before its 60 s.
    let r = tokio::time::timeout(GUARD, lp).await.unwrap().unwrap();
    assert_eq!(status(&r), 401, "{r}");
    // SSE: the stream ends (the client then tries to reconnect and is refused).
    let ended = tokio::time::timeout(GUARD, async {
        loop {
            match es.next().await {
                Some(ClientEvent::Reconnecting { .. }) | Some(ClientEvent::Failed(_)) | None => {
                    return;
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream outlived its token");
    assert!(started.elapsed() < GUARD);
    srv.stop().await;
}

/// The leaf certificate a new TLS connection is served.
async fn served_leaf(addr: SocketAddr, ca: &str) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let s = tls_connect(tcp, ca, "localhost").await.unwrap();
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn reload_serves_new_connections_and_existing_ones_keep_theirs() {
    let dir = std::env::temp_dir().join(format!("pw-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cp, kp) = (dir.join("chain.pem"), dir.join("key.pem"));
    let first = pki();
    std::fs::write(&cp, &first.chain_pem).unwrap();
    std::fs::write(&kp, &first.key_pem).unwrap();
    let tls = TlsAcceptor::from_pem_files(&cp, &kp).unwrap();
    let srv = start(config(false), Some(tls.clone())).await;
    let old_leaf = served_leaf(srv.addr, &first.ca_pem).await;

    // A keep-alive connection opened before the reload.
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let mut kept = tls_connect(tcp, &first.ca_pem, "localhost").await.unwrap();
    let ask = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    kept.write_all(ask.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(GUARD, kept.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&buf[..n])), 200);

    // A bad key: refused, the old pair keeps being served.
    std::fs::write(&kp, "not a key").unwrap();
    assert!(tls.reload().is_err());
    assert_eq!(served_leaf(srv.addr, &first.ca_pem).await, old_leaf);

    // A good new pair (another CA): new connections get it.
    let second = pki();
    std::fs::write(&cp, &second.chain_pem).unwrap();
    std::fs::write(&kp, &second.key_pem).unwrap();
    tls.reload().unwrap();
    let new_leaf = served_leaf(srv.addr, &second.ca_pem).await;
    assert_ne!(new_leaf, old_leaf);

    // The connection from before still works on its old session.
    kept.write_all(ask.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(GUARD, kept.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&buf[..n])), 200);
    assert_eq!(
        kept.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        old_leaf
    );
    srv.stop().await;
}

#[tokio::test]
async fn rsa_pkcs1_and_ec_sec1_keys_serve_too() {
    // Fixtures made once with openssl (`genrsa -traditional`, `ecparam -genkey -noout`):
    // rcgen only writes PKCS#8, which every other test uses.
    for (cert, key) in [
        (
            include_str!("data/rsa.pem"),
            include_str!("data/rsa-pkcs1.key"),
        ),
        (
            include_str!("data/ec.pem"),
            include_str!("data/ec-sec1.key"),
        ),
    ] {
        let tls = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let srv = start(config(false), Some(tls)).await;
        let r = exchange(srv.addr, Some(cert), get("/healthz", "")).await;
        assert_eq!(status(&r), 200, "{r}");
        srv.stop().await;
    }
}
