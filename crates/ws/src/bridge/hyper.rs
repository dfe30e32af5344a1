//! WebSocket over hyper 1 (feature `hyper`): server upgrade and client handshake.
//!
//! With feature `deflate` too, both sides negotiate permessage-deflate (RFC 7692) as
//! `Config::deflate` says, exactly like [`WebSocket::accept`] and [`WebSocket::client`]; without
//! it, an offer is declined by leaving it out of the `101` (RFC 7692 §5) and a client offers
//! nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::Empty;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

use crate::config::Config;
use crate::error::{Error, HandshakeError, UsageError};
use crate::frame::Role;
use crate::handshake::{self, ClientHandshake};
use crate::stream::WebSocket;

/// A WebSocket over a connection hyper upgraded.
pub type HyperWebSocket = WebSocket<TokioIo<Upgraded>>;

fn io_error(e: hyper::Error) -> Error {
    Error::Io(Arc::new(std::io::Error::other(e)))
}

/// Whether `req` asks for a WebSocket (`Upgrade: websocket` and `Connection: upgrade`),
/// to route it to [`upgrade`] before other handlers.
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(http::header::UPGRADE, "websocket") && has(http::header::CONNECTION, "upgrade")
}

/// Accepts a WebSocket from a hyper 1 (or axum) request, like fastwebsockets'
/// `upgrade::upgrade`.
///
/// Validates the request with [`handshake::accept`] (offering `protocols`, the client's
/// first choice among them is selected; with feature `deflate`, `handshake::accept_with`,
/// which also negotiates permessage-deflate per `cfg.deflate`: the agreed parameters are in
/// `UpgradeFut::deflate` and the [`WebSocket`] compresses with them) and returns the
/// `101 Switching Protocols`
/// response to send, with a `B::default()` body (`http_body_util::Empty`, `axum::body::Body`,
/// `Full`, ...), and an [`UpgradeFut`] that resolves to the [`WebSocket`] once hyper has
/// sent the response and handed the connection over. Spawn the future; return the
/// response. The connection must be served with upgrades enabled
/// (`hyper::server::conn::http1::Builder::serve_connection(..).with_upgrades()`;
/// `axum::serve` does it).
///
/// On a bad request the [`HandshakeError`] says why; [`reject`] builds its answer (400,
/// 426 with `Sec-WebSocket-Version: 13`). Origin policy is the caller's: check the
/// `Origin` header first.
///
/// ```no_run
/// use http_body_util::Empty;
/// use bytes::Bytes;
/// use pushwire_ws::{Config, bridge};
/// async fn handle(mut req: hyper::Request<hyper::body::Incoming>)
///     -> Result<hyper::Response<Empty<Bytes>>, std::convert::Infallible>
/// {
///     match bridge::upgrade(&mut req, &[], Config::default()) {
///         Ok((response, fut)) => {
///             tokio::spawn(async move {
///                 let Ok(mut ws) = fut.await else { return };
///                 while let Ok(Some(msg)) = ws.recv().await {
///                     if ws.send(&msg).await.is_err() { break }
///                 }
///             });
///             Ok(response)
///         }
///         Err(e) => Ok(bridge::reject(&e)),
///     }
/// }
/// ```
pub fn upgrade<B, R: Default>(
    req: &mut http::Request<B>,
    protocols: &[&str],
    cfg: Config,
) -> Result<(http::Response<R>, UpgradeFut), HandshakeError> {
    // `validate` failing is a server bug, not the client's: refuse before answering 101.
    if cfg.validate().is_err() {
        return Err(HandshakeError::Http(500));
    }
    let ours =
        pushwire_http::Request::try_from(&*req).map_err(|e| HandshakeError::Http(e.status()))?;
    #[cfg(feature = "deflate")]
    let accepted = handshake::accept_with(&ours, protocols, &cfg)?;
    #[cfg(not(feature = "deflate"))]
    let accepted = handshake::accept(&ours, protocols)?;
    let response = http::Response::try_from(&accepted.response)
        .map_err(|e| HandshakeError::Http(e.status()))?
        .map(|()| R::default());
    let on_upgrade = hyper::upgrade::on(req);
    Ok((
        response,
        UpgradeFut {
            on_upgrade,
            cfg: Some(cfg),
            protocol: accepted.protocol,
            #[cfg(feature = "deflate")]
            deflate: accepted.deflate,
        },
    ))
}

/// The answer to a failed handshake ([`handshake::reject_response`]) as an `http`
/// response with a `B::default()` body.
pub fn reject<R: Default>(err: &HandshakeError) -> http::Response<R> {
    let head = handshake::reject_response(err);
    match http::Response::try_from(&head) {
        Ok(res) => res.map(|()| R::default()),
        // Our own fixed head always converts; keep the status if it ever did not.
        Err(_) => {
            let mut res = http::Response::new(R::default());
            *res.status_mut() =
                http::StatusCode::from_u16(err.status()).unwrap_or(http::StatusCode::BAD_REQUEST);
            res
        }
    }
}

/// Resolves to the server [`WebSocket`] once hyper has upgraded the connection (see
/// [`upgrade`]). Fails with [`Error::Io`] if the connection ended before (the client went
/// away, or the response was not a `101`).
#[must_use = "the WebSocket arrives only when this future is polled"]
pub struct UpgradeFut {
    on_upgrade: OnUpgrade,
    cfg: Option<Config>,
    protocol: Option<String>,
    /// The permessage-deflate parameters answered in the `101`, set on the connection.
    #[cfg(feature = "deflate")]
    deflate: Option<crate::deflate::DeflateParams>,
}

impl UpgradeFut {
    /// The subprotocol selected in the `101`, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed on in the `101`, if any (feature `deflate`).
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.deflate
    }
}

impl std::fmt::Debug for UpgradeFut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UpgradeFut");
        d.field("protocol", &self.protocol);
        #[cfg(feature = "deflate")]
        d.field("deflate", &self.deflate);
        d.finish_non_exhaustive()
    }
}

impl Future for UpgradeFut {
    type Output = Result<HyperWebSocket, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded =
            std::task::ready!(Pin::new(&mut self.on_upgrade).poll(cx)).map_err(io_error)?;
        let cfg = self.cfg.take().unwrap_or_default();
        // hyper's `Upgraded` replays any bytes it read past the request head itself, so
        // there is no leftover to hand over here.
        let ws =
            WebSocket::from_upgrade(TokioIo::new(upgraded), BytesMut::new(), Role::Server, cfg);
        #[cfg(feature = "deflate")]
        if let Some(params) = self.deflate {
            ws.set_deflate(params);
        }
        Poll::Ready(Ok(ws))
    }
}

/// The client's opening request as an `http::Request` for `uri` (e.g.
/// `ws://host:port/path` or `http://...`; the `Host` header and target are taken from
/// it), offering `protocols` (and, with feature `deflate`, permessage-deflate as
/// `cfg.deflate` says), with a `B::default()` body. Send it with your own hyper client, then
/// hand the response to [`client_upgrade`] with the returned [`ClientHandshake`].
pub fn client_request<B: Default>(
    uri: &http::Uri,
    protocols: &[&str],
    cfg: &Config,
) -> Result<(ClientHandshake, http::Request<B>), Error> {
    let authority = uri
        .authority()
        .ok_or(Error::Usage(UsageError::InvalidUrl))?;
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    #[cfg(feature = "deflate")]
    let (hs, head) = ClientHandshake::with_config(authority.as_str(), target, protocols, cfg)?;
    #[cfg(not(feature = "deflate"))]
    let (hs, head) = {
        let _ = cfg;
        ClientHandshake::new(authority.as_str(), target, protocols)?
    };
    let req = http::Request::try_from(&head)
        .map_err(|_| Error::Usage(UsageError::InvalidUrl))?
        .map(|()| B::default());
    Ok((hs, req))
}

/// Verifies the server's answer to a [`client_request`] ([`ClientHandshake::verify`]) and
/// waits for hyper to hand the connection over. Returns the client [`WebSocket`] (compressing
/// with the permessage-deflate parameters the server accepted, if it did) and the selected
/// subprotocol. The hyper client connection must run with upgrades
/// (`conn.with_upgrades()`).
pub async fn client_upgrade<B>(
    hs: &ClientHandshake,
    mut res: http::Response<B>,
    cfg: Config,
) -> Result<(HyperWebSocket, Option<String>), Error> {
    cfg.validate()?;
    let ours = pushwire_http::Response::try_from(&res)
        .map_err(|e| Error::Handshake(HandshakeError::Http(e.status())))?;
    #[cfg(feature = "deflate")]
    let (protocol, deflate) = hs.verify_extensions(&ours)?;
    #[cfg(not(feature = "deflate"))]
    let protocol = hs.verify(&ours)?;
    let upgraded = hyper::upgrade::on(&mut res).await.map_err(io_error)?;
    let ws = WebSocket::from_upgrade(TokioIo::new(upgraded), BytesMut::new(), Role::Client, cfg);
    #[cfg(feature = "deflate")]
    if let Some(params) = deflate {
        ws.set_deflate(params);
    }
    Ok((ws, protocol))
}

/// The whole client handshake over a fresh hyper HTTP/1 connection on `io` (a
/// `TokioIo<TcpStream>`, a TLS stream, ...), like fastwebsockets' `handshake::client`:
/// sends the [`client_request`] for `uri`, drives the connection on a spawned tokio task
/// until the upgrade, and returns the WebSocket and the selected subprotocol.
pub async fn client<I>(
    io: I,
    uri: &http::Uri,
    protocols: &[&str],
    cfg: Config,
) -> Result<(HyperWebSocket, Option<String>), Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    cfg.validate()?;
    let (hs, req) = client_request::<Empty<Bytes>>(uri, protocols, &cfg)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io_error)?;
    // The connection task ends by itself once the upgrade took the IO (or on error).
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let res = sender.send_request(req).await.map_err(io_error)?;
    client_upgrade(&hs, res, cfg).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use hyper::service::service_fn;

    /// A hyper 1 server on 127.0.0.1 whose every request is upgraded and echoed.
    async fn echo_server() -> std::net::SocketAddr {
        echo_server_with(Config::default(), None).await
    }

    /// What the server reports of each upgrade: the deflate parameters it agreed on (the
    /// subprotocol without feature `deflate`).
    #[cfg(feature = "deflate")]
    type Seen = Option<crate::deflate::DeflateParams>;
    #[cfg(not(feature = "deflate"))]
    type Seen = Option<String>;

    #[cfg(feature = "deflate")]
    fn seen_of(fut: &UpgradeFut) -> Seen {
        fut.deflate()
    }
    #[cfg(not(feature = "deflate"))]
    fn seen_of(fut: &UpgradeFut) -> Seen {
        fut.protocol().map(str::to_owned)
    }

    /// [`echo_server`] with `cfg`; what each upgrade agreed on goes to `seen`.
    async fn echo_server_with(
        cfg: Config,
        seen: Option<tokio::sync::mpsc::UnboundedSender<Seen>>,
    ) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (cfg, seen) = (cfg.clone(), seen.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                        let (cfg, seen) = (cfg.clone(), seen.clone());
                        async move {
                            let res: http::Response<Empty<Bytes>> =
                                match upgrade(&mut req, &["chat", "echo"], cfg) {
                                    Ok((res, fut)) => {
                                        if let Some(seen) = seen {
                                            let _ = seen.send(seen_of(&fut));
                                        }
                                        tokio::spawn(async move {
                                            let mut ws = fut.await.unwrap();
                                            while let Ok(Some(m)) = ws.recv().await {
                                                ws.send(&m).await.unwrap();
                                            }
                                        });
                                        res
                                    }
                                    Err(e) => reject(&e),
                                };
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn hyper_client_and_server_echo_with_a_subprotocol() {
        let addr = echo_server().await;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let uri: http::Uri = format!("ws://{addr}/echo?x=1").parse().unwrap();
        let (mut ws, protocol) = client(TokioIo::new(tcp), &uri, &["echo"], Config::default())
            .await
            .unwrap();
        assert_eq!(protocol.as_deref(), Some("echo"));
        for m in [Message::text("hi"), Message::binary(vec![1u8; 100_000])] {
            ws.send(&m).await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(m));
        }
        ws.close(crate::CloseCode::NORMAL, "bye").await.unwrap();
    }

    #[tokio::test]
    async fn plain_get_is_rejected_with_the_handshake_status() {
        let addr = echo_server().await;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get("/")
            .header("host", "x")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "8")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), 426);
        assert_eq!(res.headers()["sec-websocket-version"], "13");
    }

    #[test]
    fn upgrade_request_detection_reads_token_lists() {
        let req = http::Request::get("/")
            .header("upgrade", "h2c, WebSocket")
            .header("connection", "keep-alive, Upgrade")
            .body(())
            .unwrap();
        assert!(is_upgrade_request(&req));
        let req = http::Request::get("/")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(!is_upgrade_request(&req));
    }

    /// A TCP proxy on 127.0.0.1 in front of `upstream` for one connection, recording the
    /// bytes of each direction: `(client to server, server to client)`. Bytes are recorded
    /// before they are forwarded, so once the client has its answer they are all there.
    async fn recording_proxy(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Wire) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let wire: Wire = Default::default();
        let recorded = wire.clone();
        tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(
                pump(cr, sw, recorded.0.clone()),
                pump(sr, cw, recorded.1.clone())
            );
        });
        (addr, wire)
    }

    /// Copies `r` to `w`, appending every chunk to `log` before forwarding it.
    async fn pump(
        mut r: tokio::net::tcp::OwnedReadHalf,
        mut w: tokio::net::tcp::OwnedWriteHalf,
        log: Arc<std::sync::Mutex<Vec<u8>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = r.read(&mut buf).await {
            log.lock().unwrap().extend_from_slice(&buf[..n]);
            if w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    }

    type Wire = (
        Arc<std::sync::Mutex<Vec<u8>>>,
        Arc<std::sync::Mutex<Vec<u8>>>,
    );

    /// The data frames (text, binary, continuation) in `bytes` after the HTTP head, decoded
    /// as `role` receives them with RSV1 allowed: `(rsv1, payload length)` each.
    fn data_frames(bytes: &[u8], role: Role) -> Vec<(bool, usize)> {
        use crate::frame::{FrameDecoder, OpCode, Rsv};
        let head = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut src = BytesMut::from(&bytes[head..]);
        let mut dec = FrameDecoder::new(role, &Config::default());
        dec.set_allowed_rsv(Rsv::RSV1);
        let mut out = Vec::new();
        while let Some(f) = dec.decode(&mut src).unwrap() {
            if matches!(f.header.opcode, OpCode::Text | OpCode::Binary) {
                out.push((f.header.rsv.contains(Rsv::RSV1), f.payload.len()));
            }
        }
        out
    }

    /// JSON-like text that compresses well, `n` bytes.
    #[cfg(feature = "deflate")]
    fn json(n: usize) -> String {
        let mut s = String::new();
        let mut i = 0u64;
        while s.len() < n {
            s.push_str(&format!("{{\"seq\":{i},\"price\":{}}},", i * 31 % 977));
            i += 1;
        }
        s.truncate(n);
        s
    }

    /// Echoes a few messages over `ws` and closes; returns the messages sent.
    async fn echo_some(mut ws: HyperOrTcp) -> Vec<usize> {
        #[cfg(feature = "deflate")]
        let sizes = [10, 2000, 70_000];
        #[cfg(not(feature = "deflate"))]
        let sizes = [10, 2000];
        for &n in &sizes {
            #[cfg(feature = "deflate")]
            let text = json(n);
            #[cfg(not(feature = "deflate"))]
            let text = "x".repeat(n);
            for m in [
                Message::text(text.as_str()),
                Message::binary(text.clone().into_bytes()),
            ] {
                ws.send(&m).await.unwrap();
                assert_eq!(ws.recv().await.unwrap(), Some(m));
            }
        }
        ws.close(crate::CloseCode::NORMAL, "").await.unwrap();
        sizes.iter().flat_map(|&n| [n, n]).collect()
    }

    enum HyperOrTcp {
        Hyper(HyperWebSocket),
        Tcp(WebSocket<tokio::net::TcpStream>),
    }

    impl HyperOrTcp {
        async fn send(&mut self, m: &Message) -> Result<(), Error> {
            match self {
                HyperOrTcp::Hyper(ws) => ws.send(m).await,
                HyperOrTcp::Tcp(ws) => ws.send(m).await,
            }
        }
        async fn recv(&mut self) -> Result<Option<Message>, Error> {
            match self {
                HyperOrTcp::Hyper(ws) => ws.recv().await,
                HyperOrTcp::Tcp(ws) => ws.recv().await,
            }
        }
        async fn close(&mut self, code: crate::CloseCode, reason: &str) -> Result<(), Error> {
            match self {
                HyperOrTcp::Hyper(ws) => ws.close(code, reason).await,
                HyperOrTcp::Tcp(ws) => ws.close(code, reason).await,
            }
        }
    }

    /// Our clients (the plain one and the hyper bridge's) with deflate against the hyper
    /// bridge's server with deflate: negotiated on both ends, and every data message of at
    /// least the 64-byte threshold goes compressed (RSV1, smaller than the message) both ways.
    #[cfg(feature = "deflate")]
    #[tokio::test]
    async fn deflate_is_negotiated_and_used_over_the_bridge_rfc7692_s5() {
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            for hyper_client in [false, true] {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let server = echo_server_with(Config::default(), Some(tx)).await;
                let (proxy, wire) = recording_proxy(server).await;
                let ws = if hyper_client {
                    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
                    let uri: http::Uri = format!("ws://{proxy}/").parse().unwrap();
                    let (ws, _) = client(TokioIo::new(tcp), &uri, &[], Config::default())
                        .await
                        .unwrap();
                    assert_eq!(ws.deflate(), Some(crate::deflate::DeflateParams::default()));
                    HyperOrTcp::Hyper(ws)
                } else {
                    let ws = WebSocket::connect(&format!("ws://{proxy}/"), Config::default())
                        .await
                        .unwrap();
                    assert_eq!(ws.deflate(), Some(crate::deflate::DeflateParams::default()));
                    HyperOrTcp::Tcp(ws)
                };
                assert_eq!(
                    rx.recv().await.unwrap(),
                    Some(crate::deflate::DeflateParams::default())
                );
                let sizes = echo_some(ws).await;
                let (up, down) = (wire.0.lock().unwrap(), wire.1.lock().unwrap());
                let response = String::from_utf8_lossy(&down[..64.min(down.len())]).to_string();
                assert!(response.starts_with("HTTP/1.1 101"), "{response}");
                for (frames, dir) in [
                    (data_frames(&up, Role::Server), "client to server"),
                    (data_frames(&down, Role::Client), "server to client"),
                ] {
                    assert_eq!(frames.len(), sizes.len(), "{dir}: {frames:?}");
                    for (&(rsv1, len), &n) in frames.iter().zip(&sizes) {
                        if n >= 64 {
                            assert!(
                                rsv1 && len < n / 2,
                                "{dir}: {n} bytes sent as {len}, rsv1 {rsv1}"
                            );
                        } else {
                            assert!(
                                !rsv1 && len == n,
                                "{dir}: {n} bytes sent as {len}, rsv1 {rsv1}"
                            );
                        }
                    }
                }
            }
        })
        .await
        .unwrap();
    }

    /// A server whose config turns deflate off declines the offer (a `101` without
    /// `Sec-WebSocket-Extensions`, RFC 7692 §5), and nothing is compressed either way.
    #[cfg(feature = "deflate")]
    #[tokio::test]
    async fn deflate_off_in_the_bridge_config_declines_the_offer_rfc7692_s5() {
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            let off = crate::deflate::DeflateConfig {
                enabled: false,
                ..Default::default()
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let server = echo_server_with(Config::default().with_deflate(off), Some(tx)).await;
            let (proxy, wire) = recording_proxy(server).await;
            let ws = WebSocket::connect(&format!("ws://{proxy}/"), Config::default())
                .await
                .unwrap();
            assert_eq!(ws.deflate(), None);
            assert_eq!(rx.recv().await.unwrap(), None);
            echo_some(HyperOrTcp::Tcp(ws)).await;
            let (up, down) = (wire.0.lock().unwrap(), wire.1.lock().unwrap());
            let up_head = String::from_utf8_lossy(&up).to_ascii_lowercase();
            assert!(up_head.contains("sec-websocket-extensions: permessage-deflate"));
            let head = down.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8_lossy(&down[..head]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 101"), "{head}");
            assert!(!head.contains("sec-websocket-extensions"), "{head}");
            for frames in [
                data_frames(&up, Role::Server),
                data_frames(&down, Role::Client),
            ] {
                assert!(frames.iter().all(|&(rsv1, _)| !rsv1), "{frames:?}");
            }
        })
        .await
        .unwrap();
    }

    /// An offer sent by hand through a hyper client: with feature `deflate` the `101` accepts
    /// it with pushwire's answer (no context takeover either way); without the feature it is
    /// declined by leaving it out (RFC 7692 §5), never refused.
    #[tokio::test]
    async fn raw_deflate_offer_gets_our_answer_or_a_clean_decline_rfc7692_s5() {
        let addr = echo_server().await;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn.with_upgrades());
        let req = http::Request::get("/")
            .header("host", "x")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .header(
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            )
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), 101);
        let ext = res.headers().get("sec-websocket-extensions");
        #[cfg(feature = "deflate")]
        assert_eq!(
            ext.map(|v| v.to_str().unwrap()),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        #[cfg(not(feature = "deflate"))]
        assert_eq!(ext, None);
    }

    /// Without feature `deflate` our clients (plain and hyper) offer nothing and nothing is
    /// compressed.
    #[cfg(not(feature = "deflate"))]
    #[tokio::test]
    async fn without_the_deflate_feature_nothing_is_offered_or_compressed() {
        for hyper_client in [false, true] {
            let server = echo_server().await;
            let (proxy, wire) = recording_proxy(server).await;
            let ws = if hyper_client {
                let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
                let uri: http::Uri = format!("ws://{proxy}/").parse().unwrap();
                let (ws, _) = client(TokioIo::new(tcp), &uri, &[], Config::default())
                    .await
                    .unwrap();
                HyperOrTcp::Hyper(ws)
            } else {
                let url = format!("ws://{proxy}/");
                HyperOrTcp::Tcp(WebSocket::connect(&url, Config::default()).await.unwrap())
            };
            echo_some(ws).await;
            let (up, down) = (wire.0.lock().unwrap(), wire.1.lock().unwrap());
            let up_text = String::from_utf8_lossy(&up).to_ascii_lowercase();
            assert!(!up_text.contains("sec-websocket-extensions"));
            for frames in [
                data_frames(&up, Role::Server),
                data_frames(&down, Role::Client),
            ] {
                assert!(!frames.is_empty() && frames.iter().all(|&(rsv1, _)| !rsv1));
            }
        }
    }
}
