//! OTLP/HTTP (protobuf) over mutual TLS: an axum receiver behind rustls
//! that presents a certificate from a test CA and requires a client
//! certificate from the same CA. The exporter, configured only by the
//! standard TLS variables, must deliver; a client trusting another CA, or
//! presenting no certificate, must not.

mod otlp_common;

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use otlp_common::{export_and_check, http_receiver, Pki, Received};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use witness::sinks::otlp_tls::{Signal, Tls};

fn server_config(pki: &Pki) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let chain = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes()).map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// One POST through a client built from `files` (variable, path).
fn post_with(url: &str, files: &[(&str, &std::path::Path)]) -> Result<(), String> {
    let lookup = |name: &str| {
        if name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
            return Some(url.to_string());
        }
        files.iter().find(|(k, _)| *k == name).map(|(_, p)| p.display().to_string())
    };
    let tls = Tls::resolve(Signal::Logs, false, &lookup).map_err(|e| format!("{e:#}"))?.expect("an https endpoint");
    let client = tls.http_client(std::time::Duration::from_secs(5)).map_err(|e| format!("{e:#}"))?;
    let response = client
        .post(format!("{url}/v1/logs"))
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .map_err(|e| format!("{e:?}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("status {}", response.status()))
    }
}

#[test]
fn evidence_and_metrics_reach_an_otlp_http_receiver_over_mutual_tls() {
    let pki = Pki::new("http");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let received = Received::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(&pki)));
    let app = http_receiver(&received);
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A refused handshake is one of the outcomes under test.
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    });
    let url = format!("https://localhost:{port}");

    let (ca, other, cert, key) = (&*pki.ca, &*pki.other_ca, &*pki.client_cert, &*pki.client_key);
    let client = [("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert), ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key)];
    // Blocking clients, from the test thread (outside the runtime).
    let err = post_with(&url, &[&[("OTEL_EXPORTER_OTLP_CERTIFICATE", other)], &client[..]].concat())
        .expect_err("a server whose CA is not trusted is refused");
    assert!(err.contains("UnknownIssuer") || err.contains("certificate"), "{err}");
    post_with(&url, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)])
        .expect_err("the receiver refuses a client without a certificate");
    // An empty body is a valid (empty) ExportLogsServiceRequest.
    post_with(&url, &[&[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)], &client[..]].concat())
        .expect("the right CA and client certificate are accepted");
    received.logs.lock().unwrap().clear();
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.client_cert.to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.client_key.to_str().unwrap()),
    ];
    export_and_check(&runtime, &url, "http/protobuf", &env, &received);
}
