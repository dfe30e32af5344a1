//! `https://` for the EventSource client (feature `tls`): a [`Connector`] on rustls through
//! tokio-rustls (`ring` provider), verifying servers against the system's root certificates
//! (`rustls-native-certs`) plus any extra CA the caller adds. A wrong hostname or an untrusted
//! certificate fails the connection for good with a [`TlsError`] inside
//! [`Error::Refused`](crate::Error::Refused), never reconnecting
//! (read it back with [`TlsError::from_error`]); it is never accepted.
//!
//! ```no_run
//! use pushwire_sse::client::{EventSource, tls::TlsConnector};
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConnector::system_roots(); // .with_ca_pem(pem)? for a private CA
//! let mut es = EventSource::builder("https://push.example/events?topic=a")
//!     .connector(tls)
//!     .connect()?;
//! # Ok(()) }
//! ```

use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls;

use super::{ConnectFuture, Connector, Io, Url};

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
    /// Any other certificate problem.
    #[error("server certificate refused: {0}")]
    BadCertificate(String),
    /// The handshake failed for another reason.
    #[error("tls handshake failed: {0}")]
    Handshake(String),
    /// The URL's host is not a valid DNS name or IP address.
    #[error("invalid tls server name")]
    InvalidServerName,
    /// The extra CA PEM holds no usable certificate.
    #[error("no usable CA certificate in the PEM")]
    InvalidCa,
    /// No trusted root at all.
    #[error("no trusted root certificates")]
    NoRoots,
}

impl TlsError {
    fn from_rustls(e: &rustls::Error) -> TlsError {
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

    /// The TLS error behind a client [`Error`](crate::Error), if that is what it is.
    pub fn from_error(e: &crate::Error) -> Option<TlsError> {
        match e {
            crate::Error::Io(io) | crate::Error::Refused(io) => {
                io.get_ref()?.downcast_ref::<TlsError>().cloned()
            }
            _ => None,
        }
    }
}

/// Opens `http://` over TCP and `https://` over TLS. Cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    roots: rustls::RootCertStore,
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl TlsConnector {
    /// Trusts the system's root certificates (unparsable ones are skipped).
    pub fn system_roots() -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        TlsConnector::from_roots(roots)
    }

    /// Trusts only the CA certificates in `pem` (a private PKI, tests).
    pub fn with_only_ca_pem(pem: &[u8]) -> Result<TlsConnector, TlsError> {
        TlsConnector::from_roots(rustls::RootCertStore::empty()).with_ca_pem(pem)
    }

    /// Also trusts the CA certificates in `pem`.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<TlsConnector, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|_| TlsError::InvalidCa)?;
        let (added, _) = self.roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::InvalidCa);
        }
        Ok(TlsConnector::from_roots(self.roots))
    }

    fn from_roots(roots: rustls::RootCertStore) -> TlsConnector {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
            Err(_) => rustls::ClientConfig::builder()
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector {
            roots,
            config: Arc::new(config),
        }
    }
}

fn tls_io_error(e: TlsError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Connector for TlsConnector {
    fn supports(&self, scheme: &str) -> bool {
        scheme == "http" || scheme == "https"
    }

    /// Certificate and name errors are the server's identity, not the network: a retry
    /// would be refused the same way, so they fail the connection.
    fn is_futile(&self, error: &io::Error) -> bool {
        let tls = error.get_ref().and_then(|e| e.downcast_ref::<TlsError>());
        matches!(
            tls,
            Some(
                TlsError::WrongHostname
                    | TlsError::UntrustedCertificate
                    | TlsError::CertificateExpired
                    | TlsError::BadCertificate(_)
                    | TlsError::InvalidServerName
                    | TlsError::NoRoots
            )
        )
    }

    fn connect<'a>(&'a self, url: &'a Url) -> ConnectFuture<'a> {
        Box::pin(async move {
            let host = url.host().trim_start_matches('[').trim_end_matches(']');
            let tcp = tokio::net::TcpStream::connect((host, url.port())).await?;
            tcp.set_nodelay(true)?;
            if url.scheme() != "https" {
                return Ok(Box::new(tcp) as Box<dyn Io>);
            }
            if self.roots.is_empty() {
                return Err(tls_io_error(TlsError::NoRoots));
            }
            let name = ServerName::try_from(host.to_string())
                .map_err(|_| tls_io_error(TlsError::InvalidServerName))?;
            let tls = tokio_rustls::TlsConnector::from(self.config.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    let t = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<rustls::Error>())
                        .map(TlsError::from_rustls)
                        .unwrap_or_else(|| TlsError::Handshake(e.kind().to_string()));
                    tls_io_error(t)
                })?;
            Ok(Box::new(tls) as Box<dyn Io>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_ca() {
        let c = TlsConnector::system_roots();
        assert!(c.supports("https") && c.supports("http"));
        assert_eq!(
            TlsConnector::with_only_ca_pem(b"x").unwrap_err(),
            TlsError::InvalidCa
        );
        let e = crate::Error::from(tls_io_error(TlsError::WrongHostname));
        assert_eq!(TlsError::from_error(&e), Some(TlsError::WrongHostname));
    }
}
