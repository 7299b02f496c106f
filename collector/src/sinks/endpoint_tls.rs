//! TLS for the `/metrics` listener of `witness run`, with client
//! certificates required: `--listen-tls-cert`, `--listen-tls-key` and
//! `--listen-client-ca` (all three, or none). A scraper must present a
//! certificate signed by the client CA; the handshake refuses anyone else,
//! before any request is read. With it, `/drift` (evidence details) is
//! served beyond loopback too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why the listener's TLS files cannot be used (each names its flag and
/// file).
#[derive(Debug, Error)]
#[error("{flag} {}: {what}", path.display())]
pub struct ListenTlsError {
    /// The flag that named the file.
    pub flag: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

/// The three files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenTls {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA client certificates must be signed by (PEM).
    pub client_ca: PathBuf,
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ListenTlsError> {
    std::fs::read(path).map_err(|e| ListenTlsError { flag, path: path.into(), what: format!("cannot read: {e}") })
}

fn certificates(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ListenTlsError> {
    let bytes = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| ListenTlsError {
        flag,
        path: path.into(),
        what: format!("not PEM certificates ({e})"),
    })?;
    if certs.is_empty() {
        return Err(ListenTlsError { flag, path: path.into(), what: "holds no certificate".into() });
    }
    Ok(certs)
}

impl ListenTls {
    /// The files from the three flags: all or none.
    pub fn from_flags(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        client_ca: Option<PathBuf>,
    ) -> Result<Option<Self>, String> {
        match (cert, key, client_ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(client_ca)) => Ok(Some(Self { cert, key, client_ca })),
            _ => Err("--listen-tls-cert, --listen-tls-key and --listen-client-ca go together: give all three (client certificates are required) or none".into()),
        }
    }

    /// The server configuration: this certificate and key, client
    /// certificates required and checked against the client CA.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, ListenTlsError> {
        let chain = certificates("--listen-tls-cert", &self.cert)?;
        let key_bytes = read("--listen-tls-key", &self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| ListenTlsError {
            flag: "--listen-tls-key",
            path: self.key.clone(),
            what: format!("not a PEM private key ({e})"),
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certificates("--listen-client-ca", &self.client_ca)? {
            roots.add(ca).map_err(|e| ListenTlsError {
                flag: "--listen-client-ca",
                path: self.client_ca.clone(),
                what: format!("not a usable CA certificate ({e})"),
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ListenTlsError {
                flag: "--listen-client-ca",
                path: self.client_ca.clone(),
                what: e.to_string(),
            })?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ListenTlsError { flag: "--listen-tls-cert", path: self.cert.clone(), what: e.to_string() })?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| ListenTlsError {
                flag: "--listen-tls-key",
                path: self.key.clone(),
                what: format!("does not match the certificate, or is unusable ({e})"),
            })?;
        Ok(Arc::new(config))
    }
}

/// Serves `app` over TLS on `listener` until the process ends: each
/// connection's handshake (client certificate required), then HTTP/1 or
/// HTTP/2. A failed handshake is logged at debug level and the connection
/// dropped; it never stops the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: axum::Router,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!("/metrics: TLS handshake with {peer} refused: {e}");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let served = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("/metrics: connection from {peer}: {e}");
            }
        });
    }
}
