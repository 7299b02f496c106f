//! `witness run --listen 0.0.0.0:PORT` with `--listen-tls-cert`,
//! `--listen-tls-key` and `--listen-client-ca`: `/metrics` and `/drift`
//! over TLS to clients whose certificate the client CA signed; a client
//! without one, or with one from another CA, is refused in the handshake;
//! half the flags are an error that says what goes together. No module is
//! needed: without a device the daemon waits for one, serving meanwhile.

mod otlp_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use otlp_common::Pki;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `path` over TLS, presenting the client certificate of `pki` if
/// `client` (signed by `ca_of_client`'s CA); the response, or the error.
async fn get(port: u16, pki: &Pki, client: Option<(&str, &str)>, path: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let mut tls =
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.map_err(|e| e.to_string())?;
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    // TLS 1.3 sends the server's verdict on the client certificate after
    // the handshake: a refused client sees the error here.
    tls.read_to_string(&mut out).await.map_err(|e| e.to_string())?;
    if out.is_empty() {
        return Err("the connection closed without an answer".into());
    }
    Ok(out)
}

#[test]
fn metrics_and_drift_over_tls_need_a_client_certificate() {
    let pki = Pki::new("listen");
    let other = Pki::new("listen-other");
    let (cert, key) = (pki.dir.join("server.pem"), pki.dir.join("server.key"));
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    let port = free_port();
    let witness = env!("CARGO_BIN_EXE_witness");

    // Half the flags: an error naming what goes together.
    let o = Command::new(witness)
        .args(["run", "--device", "/nonexistent/witness", "--listen-tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("go together"), "{}", String::from_utf8_lossy(&o.stderr));

    let mut child = Command::new(witness)
        .args(["run", "--device", "/nonexistent/witness", "--listen"])
        .arg(format!("0.0.0.0:{port}"))
        .arg("--listen-tls-cert")
        .arg(&cert)
        .arg("--listen-tls-key")
        .arg(&key)
        .arg("--listen-client-ca")
        .arg(&pki.ca)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let _child = Reap(child);
    // Read stderr to its end in the background, so the daemon never
    // blocks on it; wait here until it serves.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let done = line.contains("client certificates required");
        said.push(line);
        if done {
            break;
        }
    }
    assert!(said.iter().any(|l| l.contains("client certificates required")), "{said:#?}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client_cert = std::fs::read_to_string(&pki.client_cert).unwrap();
    let client_key = std::fs::read_to_string(&pki.client_key).unwrap();
    let other_cert = std::fs::read_to_string(&other.client_cert).unwrap();
    let other_key = std::fs::read_to_string(&other.client_key).unwrap();
    runtime.block_on(async {
        // The daemon may still be binding: retry the first request briefly.
        let mut metrics = Err(String::new());
        for _ in 0..50 {
            metrics = get(port, &pki, Some((&client_cert, &client_key)), "/metrics").await;
            if metrics.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let metrics = metrics.expect("/metrics over TLS with a client certificate");
        assert!(metrics.starts_with("HTTP/1.0 200") && metrics.contains("witness_build_info"), "{metrics}");
        let drift = get(port, &pki, Some((&client_cert, &client_key)), "/drift").await.unwrap();
        assert!(drift.starts_with("HTTP/1.0 200") && drift.contains("\"identities\""), "{drift}");
        let refused = get(port, &pki, None, "/drift").await;
        assert!(refused.is_err(), "a client without a certificate was served: {refused:?}");
        let refused = get(port, &pki, Some((&other_cert, &other_key)), "/drift").await;
        assert!(refused.is_err(), "a client certificate of another CA was accepted: {refused:?}");
    });
}
