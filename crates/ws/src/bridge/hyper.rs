//! WebSocket over hyper 1 (feature `hyper`): server upgrade and client handshake.

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
/// first choice among them is selected) and returns the `101 Switching Protocols`
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
}

impl UpgradeFut {
    /// The subprotocol selected in the `101`, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}

impl std::fmt::Debug for UpgradeFut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeFut")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
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
        Poll::Ready(Ok(WebSocket::from_upgrade(
            TokioIo::new(upgraded),
            BytesMut::new(),
            Role::Server,
            cfg,
        )))
    }
}

/// The client's opening request as an `http::Request` for `uri` (e.g.
/// `ws://host:port/path` or `http://...`; the `Host` header and target are taken from
/// it), offering `protocols`, with a `B::default()` body. Send it with your own hyper
/// client, then hand the response to [`client_upgrade`] with the returned
/// [`ClientHandshake`].
pub fn client_request<B: Default>(
    uri: &http::Uri,
    protocols: &[&str],
) -> Result<(ClientHandshake, http::Request<B>), Error> {
    let authority = uri
        .authority()
        .ok_or(Error::Usage(UsageError::InvalidUrl))?;
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let (hs, head) = ClientHandshake::new(authority.as_str(), target, protocols)?;
    let req = http::Request::try_from(&head)
        .map_err(|_| Error::Usage(UsageError::InvalidUrl))?
        .map(|()| B::default());
    Ok((hs, req))
}

/// Verifies the server's answer to a [`client_request`] ([`ClientHandshake::verify`]) and
/// waits for hyper to hand the connection over. Returns the client [`WebSocket`] and the
/// selected subprotocol. The hyper client connection must run with upgrades
/// (`conn.with_upgrades()`).
pub async fn client_upgrade<B>(
    hs: &ClientHandshake,
    mut res: http::Response<B>,
    cfg: Config,
) -> Result<(HyperWebSocket, Option<String>), Error> {
    cfg.validate()?;
    let ours = pushwire_http::Response::try_from(&res)
        .map_err(|e| Error::Handshake(HandshakeError::Http(e.status())))?;
    let protocol = hs.verify(&ours)?;
    let upgraded = hyper::upgrade::on(&mut res).await.map_err(io_error)?;
    Ok((
        WebSocket::from_upgrade(TokioIo::new(upgraded), BytesMut::new(), Role::Client, cfg),
        protocol,
    ))
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
    let (hs, req) = client_request::<Empty<Bytes>>(uri, protocols)?;
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let svc = service_fn(
                        |mut req: hyper::Request<hyper::body::Incoming>| async move {
                            let res: http::Response<Empty<Bytes>> =
                                match upgrade(&mut req, &["chat", "echo"], Config::default()) {
                                    Ok((res, fut)) => {
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
                        },
                    );
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
}
