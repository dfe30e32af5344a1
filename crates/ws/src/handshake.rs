//! The opening handshake (RFC 6455 §4), sans-IO, on pushwire-http's heads.
//!
//! Server: [`accept`] validates a request and builds the `101` ([`Accepted::response`]) or
//! fails with a [`HandshakeError`] whose [`reject_response`] is the precise answer (400,
//! 403 via [`HandshakeError::Forbidden`], 426 with `Sec-WebSocket-Version: 13`). The
//! `Origin` policy is the caller's: read it with [`origin`].
//!
//! Client: [`ClientHandshake::new`] builds the request with a fresh random key;
//! [`ClientHandshake::verify`] checks the server's answer.
//!
//! Extensions: [`accept`] declines every offer by leaving it out of the `101` (RFC 7692 §5:
//! the server "MAY decline" by not including it). With feature `deflate`, `accept_with`
//! negotiates permessage-deflate (`deflate::negotiate_server`) and
//! `ClientHandshake::with_config` offers it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use pushwire_http::{Method, Request, RequestHead, Response, ResponseHead, Version};
use sha1::{Digest, Sha1};

use crate::error::{Error, HandshakeError};

/// The GUID of RFC 6455 §1.3, appended to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// // RFC 6455 §1.3's sample.
/// assert_eq!(pushwire_ws::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(sec_websocket_key);
    h.update(GUID);
    BASE64.encode(h.finalize())
}

/// A request that may be upgraded. Built by [`accept`] (and `accept_with`); non-exhaustive
/// because what a handshake agrees on grows with the extensions this crate speaks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Accepted {
    /// The `101 Switching Protocols` head to send.
    pub response: ResponseHead,
    /// The subprotocol selected, if any.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed on, if any (pass them to
    /// [`Protocol::set_deflate`](crate::Protocol::set_deflate)).
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateParams>,
}

/// The request's `Origin`, for the caller's policy (browsers always send it; answer 403,
/// [`HandshakeError::Forbidden`], to an origin you do not accept).
pub fn origin(req: &Request) -> Option<&str> {
    req.headers.get_str("origin")
}

/// The subprotocols a client offered (`Sec-WebSocket-Protocol`, in its order of preference).
pub fn offered_protocols(req: &Request) -> impl Iterator<Item = &str> {
    req.headers
        .list("sec-websocket-protocol")
        .filter_map(|p| std::str::from_utf8(p).ok())
}

/// Validates a client's opening handshake (RFC 6455 §4.2.1) and builds the `101`.
///
/// `protocols` are the subprotocols this server speaks; the first one the client offered (in
/// the client's order) is selected, or none. Checks: `GET`, HTTP/1.1, `Host`, `Upgrade`
/// naming `websocket` and `Connection` containing `upgrade` (both case-insensitive),
/// `Sec-WebSocket-Version: 13` (else 426), and exactly one `Sec-WebSocket-Key` that is the
/// base64 of 16 bytes.
///
/// ```
/// use pushwire_http::{Limits, Status, parse_request};
/// let raw = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let Status::Complete((req, _)) = parse_request(raw, &Limits::default()).unwrap() else { panic!() };
/// let ok = pushwire_ws::handshake::accept(&req, &["superchat"]).unwrap();
/// assert_eq!(ok.response.status, 101);
/// assert_eq!(ok.response.headers.get_str("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
/// assert_eq!(ok.protocol.as_deref(), Some("superchat"));
/// ```
pub fn accept(req: &Request, protocols: &[&str]) -> Result<Accepted, HandshakeError> {
    accept_inner(req, protocols, None)
}

/// [`accept`], and permessage-deflate negotiated per `cfg.deflate` (feature `deflate`): the
/// first acceptable offer is answered in the `101` and returned in [`Accepted::deflate`];
/// offers that cannot be accepted are declined, never refused (RFC 7692 §5).
#[cfg(feature = "deflate")]
pub fn accept_with(
    req: &Request,
    protocols: &[&str],
    cfg: &crate::Config,
) -> Result<Accepted, HandshakeError> {
    accept_inner(req, protocols, Some(&cfg.deflate))
}

#[cfg(feature = "deflate")]
type DeflateCfg<'a> = Option<&'a crate::deflate::DeflateConfig>;
#[cfg(not(feature = "deflate"))]
type DeflateCfg<'a> = Option<&'a ()>;

fn accept_inner(
    req: &Request,
    protocols: &[&str],
    deflate: DeflateCfg<'_>,
) -> Result<Accepted, HandshakeError> {
    if req.method != Method::Get {
        return Err(HandshakeError::Method);
    }
    if req.version != Version::Http11 {
        return Err(HandshakeError::Version);
    }
    if req.host().is_none_or(str::is_empty) {
        return Err(HandshakeError::MissingHost);
    }
    if !req.headers.contains_token("upgrade", "websocket") {
        return Err(HandshakeError::Upgrade);
    }
    if !req.headers.contains_token("connection", "upgrade") {
        return Err(HandshakeError::Connection);
    }
    // §4.2.2: a version other than 13 gets 426 and the versions we speak.
    let mut versions = req.headers.get_all("sec-websocket-version");
    match (versions.next(), versions.next()) {
        (Some(v), None) if v == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let mut keys = req.headers.get_all("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k,
        _ => return Err(HandshakeError::Key),
    };
    match BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(HandshakeError::Key),
    }
    let protocol = offered_protocols(req)
        .find(|p| protocols.contains(p))
        .map(str::to_owned);
    let mut response = ResponseHead::new(101)
        .header("Upgrade", "websocket")
        .and_then(|r| r.header("Connection", "Upgrade"))
        .and_then(|r| r.header("Sec-WebSocket-Accept", accept_key(key)))
        .map_err(|_| HandshakeError::Key)?;
    if let Some(p) = &protocol {
        response = response
            .header("Sec-WebSocket-Protocol", p)
            .map_err(|_| HandshakeError::Key)?;
    }
    #[cfg(feature = "deflate")]
    let deflate = match deflate.and_then(|cfg| {
        crate::deflate::negotiate_server(req.headers.get_all("sec-websocket-extensions"), cfg)
    }) {
        Some((params, answer)) => {
            response = response
                .header("Sec-WebSocket-Extensions", answer)
                .map_err(|_| HandshakeError::Key)?;
            Some(params)
        }
        None => None,
    };
    #[cfg(not(feature = "deflate"))]
    let _ = deflate;
    Ok(Accepted {
        response,
        protocol,
        #[cfg(feature = "deflate")]
        deflate,
    })
}

/// The HTTP answer to a failed handshake: its status, `Sec-WebSocket-Version: 13` for 426
/// (RFC 6455 §4.4), an empty body and `Connection: close`.
pub fn reject_response(err: &HandshakeError) -> ResponseHead {
    let mut head = ResponseHead::new(err.status());
    // These literal headers are valid; `append` cannot refuse them.
    let _ = head.headers.append("Connection", "close");
    let _ = head.headers.append("Content-Length", "0");
    if err.status() == 426 {
        let _ = head.headers.append("Sec-WebSocket-Version", "13");
    }
    head
}

/// The client side of the handshake: the key it sent and the subprotocols it offered.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    protocols: Vec<String>,
    /// What permessage-deflate offer was made, if any.
    #[cfg(feature = "deflate")]
    offered: Option<crate::deflate::DeflateConfig>,
}

impl ClientHandshake {
    /// Builds the request for `target` (e.g. `/chat?x=1`) on `host` (the `Host` header, with
    /// the port if not the default) with a fresh random 16-byte key (RFC 6455 §4.1) and the
    /// `protocols` offered.
    pub fn new(
        host: &str,
        target: &str,
        protocols: &[&str],
    ) -> Result<(ClientHandshake, RequestHead), Error> {
        let mut raw = [0u8; 16];
        pushwire_http::entropy::fill(&mut raw);
        let key = BASE64.encode(raw);
        let bad = |_| Error::Usage(crate::error::UsageError::InvalidUrl);
        let mut head = RequestHead::new(Method::Get, target)
            .and_then(|h| h.header("Host", host))
            .and_then(|h| h.header("Upgrade", "websocket"))
            .and_then(|h| h.header("Connection", "Upgrade"))
            .and_then(|h| h.header("Sec-WebSocket-Key", &key))
            .and_then(|h| h.header("Sec-WebSocket-Version", "13"))
            .map_err(bad)?;
        if !protocols.is_empty() {
            head = head
                .header("Sec-WebSocket-Protocol", protocols.join(", "))
                .map_err(bad)?;
        }
        let protocols = protocols.iter().map(|p| p.to_string()).collect();
        Ok((
            ClientHandshake {
                key,
                protocols,
                #[cfg(feature = "deflate")]
                offered: None,
            },
            head,
        ))
    }

    /// [`ClientHandshake::new`], offering permessage-deflate as `cfg.deflate` says
    /// ([`crate::deflate::client_offer`]). Check the answer with
    /// [`ClientHandshake::verify_extensions`].
    #[cfg(feature = "deflate")]
    pub fn with_config(
        host: &str,
        target: &str,
        protocols: &[&str],
        cfg: &crate::Config,
    ) -> Result<(ClientHandshake, RequestHead), Error> {
        let (mut hs, mut head) = ClientHandshake::new(host, target, protocols)?;
        if let Some(offer) = crate::deflate::client_offer(&cfg.deflate) {
            head = head
                .header("Sec-WebSocket-Extensions", offer)
                .map_err(|_| Error::Usage(crate::error::UsageError::InvalidUrl))?;
            hs.offered = Some(cfg.deflate.clone());
        }
        Ok((hs, head))
    }

    /// [`ClientHandshake::verify`], also returning the permessage-deflate parameters the
    /// server accepted. A response the offer did not allow fails (RFC 7692 §7: the client
    /// "MUST _Fail the WebSocket Connection_"), as does any other extension.
    #[cfg(feature = "deflate")]
    pub fn verify_extensions(
        &self,
        res: &Response,
    ) -> Result<(Option<String>, Option<crate::deflate::DeflateParams>), HandshakeError> {
        let protocol = self.verify_head(res)?;
        let params = crate::deflate::verify_client(
            res.headers.get_all("sec-websocket-extensions"),
            self.offered.as_ref(),
        )?;
        Ok((protocol, params))
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Checks the server's answer (RFC 6455 §4.1, "the client MUST validate"): `101`,
    /// `Upgrade: websocket`, `Connection: upgrade`, the right `Sec-WebSocket-Accept`, at
    /// most one subprotocol and only one we offered, and no extension unless offered (with
    /// feature `deflate`, a permessage-deflate answer to `ClientHandshake::with_config`'s
    /// offer is checked and its parameters dropped: use
    /// `ClientHandshake::verify_extensions` to keep them). Returns the selected subprotocol.
    pub fn verify(&self, res: &Response) -> Result<Option<String>, HandshakeError> {
        #[cfg(feature = "deflate")]
        if self.offered.is_some() {
            return self.verify_extensions(res).map(|(p, _)| p);
        }
        let protocol = self.verify_head(res)?;
        if res
            .headers
            .list("sec-websocket-extensions")
            .next()
            .is_some()
        {
            return Err(HandshakeError::Extension);
        }
        Ok(protocol)
    }

    /// Everything of [`ClientHandshake::verify`] but the extensions.
    fn verify_head(&self, res: &Response) -> Result<Option<String>, HandshakeError> {
        if res.status != 101 {
            return Err(HandshakeError::Status(res.status));
        }
        if !res.headers.contains_token("upgrade", "websocket") {
            return Err(HandshakeError::Upgrade);
        }
        if !res.headers.contains_token("connection", "upgrade") {
            return Err(HandshakeError::Connection);
        }
        let mut accepts = res.headers.get_all("sec-websocket-accept");
        match (accepts.next(), accepts.next()) {
            (Some(a), None) if a == accept_key(self.key.as_bytes()).as_bytes() => {}
            _ => return Err(HandshakeError::Accept),
        }
        let mut selected = res.headers.list("sec-websocket-protocol");
        match (selected.next(), selected.next()) {
            (None, _) => Ok(None),
            (Some(p), None) => {
                let p = std::str::from_utf8(p).map_err(|_| HandshakeError::Subprotocol)?;
                if self.protocols.iter().any(|o| o == p) {
                    Ok(Some(p.to_owned()))
                } else {
                    Err(HandshakeError::Subprotocol)
                }
            }
            _ => Err(HandshakeError::Subprotocol),
        }
    }
}

/// A parsed `ws://` URL ([`parse_ws_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsUrl {
    /// `host:port` to connect to (port 80 when the URL has none).
    pub addr: String,
    /// The `Host` header value: the URL's authority as written.
    pub host: String,
    /// The request target: path and query (`/` when the URL has no path).
    pub target: String,
}

/// Parses `ws://host[:port][/path][?query]`. `wss://` is `UsageError::TlsUnsupported`
/// (TLS streams can still be used through [`WebSocket::client`](crate::WebSocket::client));
/// anything else, or user info, is `UsageError::InvalidUrl`.
///
/// ```
/// let u = pushwire_ws::handshake::parse_ws_url("ws://127.0.0.1:9001/runCase?case=1").unwrap();
/// assert_eq!((u.addr.as_str(), u.target.as_str()), ("127.0.0.1:9001", "/runCase?case=1"));
/// assert!(pushwire_ws::handshake::parse_ws_url("wss://example.com/").is_err());
/// ```
pub fn parse_ws_url(url: &str) -> Result<WsUrl, Error> {
    use crate::error::UsageError;
    let (scheme, rest) = url.split_once("://").ok_or(UsageError::InvalidUrl)?;
    if scheme.eq_ignore_ascii_case("wss") {
        return Err(UsageError::TlsUnsupported.into());
    }
    if !scheme.eq_ignore_ascii_case("ws") {
        return Err(UsageError::InvalidUrl.into());
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() || authority.contains('@') || path.contains('#') {
        return Err(UsageError::InvalidUrl.into());
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let addr = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let target = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(WsUrl {
        addr,
        host: authority.to_owned(),
        target,
    })
}

#[cfg(test)]
mod tests;
