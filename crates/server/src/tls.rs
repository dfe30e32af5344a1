//! HTTPS and WSS on the same port (feature `tls`): a rustls [`Acceptor`] with reloadable
//! certificates.
//!
//! rustls through tokio-rustls, on the `ring` crypto provider: it builds with a C compiler
//! alone, where `aws-lc-rs` needs cmake (absent on our machines and many CI images). ALPN
//! offers `http/1.1` only (this server speaks nothing else). [`TlsAcceptor::reload`] swaps
//! the certificate and key for new connections; existing connections keep theirs, and a
//! pair that fails to load leaves the old pair in place.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use pushwire_server::{Config, Server, shutdown_signal, tls::TlsAcceptor};
//! let tls = TlsAcceptor::from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
//! tls.reload_on_sighup();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! Server::new(Config::default()).run_with(listener, tls, shutdown_signal()).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::listener::Acceptor;

/// Why a certificate/key pair could not be loaded. The Display names the file and the rule,
/// never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block (or a broken one).
    #[error("no PEM certificate found in the certificate file")]
    NoCertificate,
    /// The key file holds no PKCS#8, RSA or EC private key.
    #[error("no PEM private key (PKCS#8, RSA or EC) found in the key file")]
    NoKey,
    /// rustls refused the pair (key does not match the certificate, unsupported key type).
    #[error("certificate and key refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Serves TLS on accepted connections; clones share the current certificate.
#[derive(Clone)]
pub struct TlsAcceptor {
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
    files: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Loads a full-chain PEM certificate file and a PEM key file (PKCS#8, RSA or EC).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
        let cfg = load_files(cert, key)?;
        Ok(TlsAcceptor {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
            files: Some((cert.to_path_buf(), key.to_path_buf())),
        })
    }

    /// From PEM bytes held in memory (no reload).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, TlsError> {
        let cfg = server_config(cert_pem, key_pem)?;
        Ok(TlsAcceptor {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
            files: None,
        })
    }

    /// Re-reads the two files; on success new connections use the new pair. On error the
    /// old pair stays, untouched, and the error is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some((cert, key)) = &self.files else {
            return Ok(());
        };
        let cfg = Arc::new(load_files(cert, key)?);
        match self.current.write() {
            Ok(mut g) => *g = cfg,
            Err(poisoned) => *poisoned.into_inner() = cfg,
        }
        Ok(())
    }

    /// Spawns a task (on the current tokio runtime) that calls [`TlsAcceptor::reload`] on
    /// every SIGHUP and reports the outcome on stderr. Does nothing off Unix.
    pub fn reload_on_sighup(&self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let this = self.clone();
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                eprintln!("pushwire: cannot listen for SIGHUP; certificates will not reload");
                return;
            };
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    match this.reload() {
                        Ok(()) => eprintln!("pushwire: TLS certificate and key reloaded"),
                        Err(e) => {
                            eprintln!("pushwire: TLS reload failed, keeping the old pair: {e}")
                        }
                    }
                }
            });
        }
    }

    fn config(&self) -> Arc<rustls::ServerConfig> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Acceptor for TlsAcceptor {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;

    fn scheme(&self) -> &'static str {
        "https"
    }

    fn accept(
        &self,
        tcp: TcpStream,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Io>> + Send + '_>> {
        // The pair is picked when the connection arrives: a reload never touches a
        // connection already being served.
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config());
        Box::pin(async move { acceptor.accept(tcp).await })
    }
}

fn load_files(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    server_config(&read(cert)?, &read(key)?)
}

/// A rustls server configuration from PEM bytes: the whole chain, ALPN `http/1.1`.
fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::NoKey)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (c.cert.pem(), c.key_pair.serialize_pem())
    }

    #[test]
    fn loads_and_refuses() {
        let (c, k) = pair("localhost");
        assert!(TlsAcceptor::from_pem(c.as_bytes(), k.as_bytes()).is_ok());
        assert!(matches!(
            TlsAcceptor::from_pem(b"", k.as_bytes()),
            Err(TlsError::NoCertificate)
        ));
        assert!(matches!(
            TlsAcceptor::from_pem(c.as_bytes(), b"nothing"),
            Err(TlsError::NoKey)
        ));
        // a key that does not match the certificate
        let (_, k2) = pair("other");
        assert!(matches!(
            TlsAcceptor::from_pem(c.as_bytes(), k2.as_bytes()),
            Err(TlsError::Rustls(_))
        ));
    }

    #[test]
    fn bad_reload_keeps_the_old_pair() {
        let dir = std::env::temp_dir().join(format!("pw-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = pair("localhost");
        let (cp, kp) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cp, &c).unwrap();
        std::fs::write(&kp, &k).unwrap();
        let t = TlsAcceptor::from_pem_files(&cp, &kp).unwrap();
        let before = t.config();
        std::fs::write(&kp, "garbage").unwrap();
        assert!(t.reload().is_err());
        assert!(Arc::ptr_eq(&before, &t.config()));
        let (c2, k2) = pair("localhost");
        std::fs::write(&cp, &c2).unwrap();
        std::fs::write(&kp, &k2).unwrap();
        t.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &t.config()));
        assert_eq!(t.config().alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
