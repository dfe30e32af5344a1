//! `wss://` for the client (feature `tls`): rustls through tokio-rustls on the `ring`
//! provider, verifying the server against the system's root certificates
//! (`rustls-native-certs`, the store the OS and curl trust) plus any extra CA the caller
//! adds. A wrong hostname or an untrusted certificate is a [`TlsError`], never accepted.
//!
//! ```no_run
//! use pushwire_ws::tls::{TlsClient, connect};
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsClient::system_roots()?; // .with_ca_pem(include_bytes!("ca.pem"))? for a private CA
//! let mut ws = connect("wss://push.example/ws?topic=a", &tls, Default::default()).await?;
//! ws.send(&pushwire_ws::Message::text("hi")).await?;
//! # Ok(()) }
//! ```

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::{Config, Error, WebSocket};

/// Why a TLS connection was not made. Display names the rule, never certificate bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate is not valid for the host in the URL.
    #[error("server certificate is not valid for this hostname")]
    WrongHostname,
    /// The certificate does not chain to a trusted root (self-signed, unknown CA).
    #[error("server certificate is not trusted (unknown issuer)")]
    UntrustedCertificate,
    /// The certificate is expired or not yet valid.
    #[error("server certificate is expired or not yet valid")]
    CertificateExpired,
    /// Any other certificate problem (revoked, bad signature, wrong usage, ...).
    #[error("server certificate refused: {0}")]
    BadCertificate(String),
    /// The handshake failed for another reason (protocol versions, alerts, a plain-HTTP
    /// server on the port).
    #[error("tls handshake failed: {0}")]
    Handshake(String),
    /// The URL's host is not a valid DNS name or IP address.
    #[error("invalid tls server name")]
    InvalidServerName,
    /// The extra CA PEM holds no usable certificate.
    #[error("no usable CA certificate in the PEM")]
    InvalidCa,
    /// No trusted root at all: the system store is empty and no CA was added.
    #[error("no trusted root certificates")]
    NoRoots,
}

impl TlsError {
    /// Classifies a rustls error.
    pub fn from_rustls(e: &rustls::Error) -> TlsError {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsError::WrongHostname,
                // A bad signature: an issuer with a trusted name that did not sign it.
                C::UnknownIssuer | C::BadSignature => TlsError::UntrustedCertificate,
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. } => TlsError::CertificateExpired,
                other => TlsError::BadCertificate(format!("{other:?}")),
            },
            other => TlsError::Handshake(other.to_string()),
        }
    }

    /// The TLS error inside an I/O error from a handshake, if that is what it is.
    pub fn from_io(e: &io::Error) -> Option<TlsError> {
        let inner = e.get_ref()?;
        if let Some(t) = inner.downcast_ref::<TlsError>() {
            return Some(t.clone());
        }
        inner
            .downcast_ref::<rustls::Error>()
            .map(TlsError::from_rustls)
    }
}

/// Client TLS settings: which roots to trust. Cheap to clone.
#[derive(Clone)]
pub struct TlsClient {
    roots: rustls::RootCertStore,
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl TlsClient {
    /// Trusts the system's root certificates. Certificates the store holds that rustls
    /// cannot parse are skipped; an empty store is not an error yet (a CA may be added),
    /// but connecting with no root at all is [`TlsError::NoRoots`].
    pub fn system_roots() -> Result<TlsClient, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        Ok(TlsClient::from_roots(roots))
    }

    /// Trusts only the CA certificates in `pem` (a private PKI, tests).
    pub fn with_only_ca_pem(pem: &[u8]) -> Result<TlsClient, TlsError> {
        TlsClient::from_roots(rustls::RootCertStore::empty()).with_ca_pem(pem)
    }

    /// Also trusts the CA certificates in `pem`.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<TlsClient, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|_| TlsError::InvalidCa)?;
        let (added, _) = self.roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::InvalidCa);
        }
        Ok(TlsClient::from_roots(self.roots))
    }

    fn from_roots(roots: rustls::RootCertStore) -> TlsClient {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions();
        let mut config = match builder {
            Ok(b) => b
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
            // ring supports the default versions; keep this total anyway.
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsClient {
            roots,
            config: Arc::new(config),
        }
    }

    /// The TLS handshake on an established TCP stream, checking the certificate against
    /// `host` (a DNS name or an IP address, brackets allowed).
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsError> {
        if self.roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name =
            ServerName::try_from(host.to_string()).map_err(|_| TlsError::InvalidServerName)?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                TlsError::from_io(&e).unwrap_or_else(|| TlsError::Handshake(e.kind().to_string()))
            })
    }
}

/// A TCP stream, or a TLS stream over one: what [`connect`] returns for `ws://` and `wss://`.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTlsStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Connects to a `ws://` or `wss://` URL (port 443 by default for `wss://`), verifying a
/// `wss://` server with `tls`, and performs the WebSocket handshake.
pub async fn connect(
    url: &str,
    tls: &TlsClient,
    cfg: Config,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    cfg.validate()?;
    let (secure, parsed) = parse_url(url)?;
    let tcp = TcpStream::connect(&parsed.addr)
        .await
        .map_err(Error::from)?;
    tcp.set_nodelay(true).map_err(Error::from)?;
    let io = if secure {
        let host = host_only(&parsed.host);
        MaybeTlsStream::Tls(Box::new(tls.handshake(tcp, host).await?))
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    let (ws, _) = WebSocket::client(io, &parsed.host, &parsed.target, &[], cfg).await?;
    Ok(ws)
}

/// `wss://` URLs parse like `ws://` ones, with 443 as the default port.
fn parse_url(url: &str) -> Result<(bool, crate::handshake::WsUrl), Error> {
    let secure = url
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("wss://"));
    if !secure {
        return Ok((false, crate::handshake::parse_ws_url(url)?));
    }
    let rest = url.get(6..).unwrap_or("");
    let mut parsed = crate::handshake::parse_ws_url(&format!("ws://{rest}"))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or("");
    let has_port = authority
        .rfind(':')
        .is_some_and(|i| !authority.get(i..).unwrap_or("").contains(']'));
    if !has_port {
        parsed.addr = format!("{authority}:443");
    }
    Ok((true, parsed))
}

/// The host of an authority, without the port.
fn host_only(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(i) if !authority.get(i..).unwrap_or("").contains(']') => {
            authority.get(..i).unwrap_or(authority)
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wss_urls() {
        let (s, u) = parse_url("wss://example.com/ws?topic=a").unwrap();
        assert!(s);
        assert_eq!(u.addr, "example.com:443");
        assert_eq!(u.host, "example.com");
        assert_eq!(u.target, "/ws?topic=a");
        let (s, u) = parse_url("WSS://[::1]:8443").unwrap();
        assert!(s);
        assert_eq!(u.addr, "[::1]:8443");
        assert_eq!(host_only(&u.host), "[::1]");
        let (s, u) = parse_url("ws://h/x").unwrap();
        assert!(!s);
        assert_eq!(u.addr, "h:80");
        assert!(parse_url("https://h/").is_err());
    }

    #[test]
    fn ca_pem_must_hold_a_certificate() {
        assert_eq!(
            TlsClient::with_only_ca_pem(b"nothing").unwrap_err(),
            TlsError::InvalidCa
        );
    }
}
