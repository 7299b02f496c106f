//! TLS for OTLP export, configured by the standard variables.
//!
//! For each signal (logs, metrics) the endpoint is the signal's
//! `OTEL_EXPORTER_OTLP_{LOGS,METRICS}_ENDPOINT` or else
//! `OTEL_EXPORTER_OTLP_ENDPOINT`. It uses TLS when its scheme is `https://`,
//! or, for gRPC, when it has no scheme and `..._INSECURE` is not `true`.
//! Then:
//!
//! - `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE`: PEM file of the CA
//!   certificates that verify the server; when set, only these are trusted.
//!   Otherwise the system's roots are (as `rustls-native-certs` finds them).
//! - `OTEL_EXPORTER_OTLP[_SIGNAL]_CLIENT_CERTIFICATE` and `..._CLIENT_KEY`:
//!   PEM certificate chain and private key for mutual TLS; both or neither.
//!
//! Every problem is reported at start-up naming the variable and the file:
//! a file that cannot be read, one with no PEM item of the expected type,
//! half of a client pair, TLS files given for a plain-text endpoint, or no
//! trusted roots at all. The crypto provider is `ring` for both transports.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why OTLP export cannot be set up: the variable or file, and what is
/// wrong with it.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct OtlpError(pub String);

/// `Err(OtlpError)` with a formatted message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(OtlpError(format!($($arg)*)))
    };
}

/// Result of setting up OTLP export.
pub type Result<T> = std::result::Result<T, OtlpError>;

/// The two signals witness exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Evidence as log records.
    Logs,
    /// Counters as metrics.
    Metrics,
}

impl Signal {
    fn infix(self) -> &'static str {
        match self {
            Self::Logs => "LOGS",
            Self::Metrics => "METRICS",
        }
    }
}

/// One PEM file named by a variable.
#[derive(Clone, Debug)]
struct PemFile {
    var: String,
    path: String,
    bytes: Vec<u8>,
}

impl PemFile {
    fn what(&self) -> String {
        format!("{}={}", self.var, self.path)
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| OtlpError(format!("{}: bad PEM: {e}", self.what())))?;
        if certs.is_empty() {
            fail!("{}: no PEM CERTIFICATE block", self.what());
        }
        Ok(certs)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_slice(&self.bytes)
            .map_err(|e| OtlpError(format!("{}: no usable PEM private key: {e}", self.what())))
    }
}

/// TLS settings for one signal's endpoint, files read and checked.
#[derive(Clone, Debug)]
pub struct Tls {
    endpoint: String,
    ca: Option<PemFile>,
    client: Option<(PemFile, PemFile)>,
}

/// Whether an endpoint uses TLS, as the exporter decides it.
fn uses_tls(endpoint: &str, grpc: bool, insecure: bool) -> bool {
    let lower = endpoint.to_ascii_lowercase();
    if lower.starts_with("https://") {
        true
    } else if lower.contains("://") {
        false
    } else {
        grpc && !insecure
    }
}

impl Tls {
    /// Reads the variables for `signal` through `var` (the environment in
    /// production). `Ok(None)` means a plain-text endpoint.
    pub fn resolve(signal: Signal, grpc: bool, var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let pick = |suffix: &str| -> Option<(String, String)> {
            let specific = format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.infix());
            let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
            var(&specific)
                .filter(|v| !v.is_empty())
                .map(|v| (specific, v))
                .or_else(|| var(&general).filter(|v| !v.is_empty()).map(|v| (general, v)))
        };
        let default = if grpc { "http://localhost:4317" } else { "http://localhost:4318" };
        let endpoint = pick("ENDPOINT").map_or_else(|| default.to_string(), |(_, v)| v);
        let insecure = pick("INSECURE").is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
        let files = [pick("CERTIFICATE"), pick("CLIENT_CERTIFICATE"), pick("CLIENT_KEY")];
        if !uses_tls(&endpoint, grpc, insecure) {
            if let Some((name, _)) = files.iter().flatten().next() {
                fail!(
                    "{name} is set but the {} endpoint {endpoint} is plain text: use an https:// endpoint",
                    signal.infix().to_ascii_lowercase()
                );
            }
            return Ok(None);
        }
        let [ca, cert, key] = files.map(|f| f.map(read_pem).transpose());
        let (ca, cert, key) = (ca?, cert?, key?);
        let client = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(c), None) => fail!("{}: a client certificate needs a key in ..._CLIENT_KEY", c.what()),
            (None, Some(k)) => fail!("{}: a client key needs a certificate in ..._CLIENT_CERTIFICATE", k.what()),
        };
        // The CA file is checked by `roots` below.
        if let Some((c, k)) = &client {
            c.certificates()?;
            k.private_key()?;
        }
        let tls = Self { endpoint, ca, client };
        tls.roots()?;
        Ok(Some(tls))
    }

    /// The trusted roots: the CA file's, or the system's.
    fn roots(&self) -> Result<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &self.ca {
            let (added, _) = roots.add_parsable_certificates(ca.certificates()?);
            if added == 0 {
                fail!("{}: no certificate usable as a trust anchor", ca.what());
            }
        } else {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                fail!(
                    "{}: TLS endpoint but the system has no CA certificates; set OTEL_EXPORTER_OTLP_CERTIFICATE",
                    self.endpoint
                );
            }
        }
        Ok(roots)
    }

    /// The gRPC (tonic) form.
    pub fn grpc(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => config.ca_certificate(Certificate::from_pem(&ca.bytes)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.client {
            config = config.identity(Identity::from_pem(&cert.bytes, &key.bytes));
        }
        config
    }

    /// The HTTP/protobuf form: a blocking reqwest client over rustls.
    /// Built on its own thread, since a blocking client may neither be
    /// built nor dropped on a Tokio worker.
    pub fn http_client(&self, timeout: Duration) -> Result<reqwest::blocking::Client> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| OtlpError(format!("TLS protocol versions: {e}")))?
            .with_root_certificates(self.roots()?);
        let mut config = match &self.client {
            Some((cert, key)) => builder
                .with_client_auth_cert(cert.certificates()?, key.private_key()?)
                .map_err(|e| OtlpError(format!("{} with {}: {e}", cert.what(), key.what())))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        std::thread::spawn(move || {
            reqwest::blocking::Client::builder().timeout(timeout).tls_backend_preconfigured(config).build()
        })
        .join()
        .map_err(|_| OtlpError("the thread building the HTTPS client panicked".into()))?
        .map_err(|e| OtlpError(format!("building the HTTPS client: {e}")))
    }
}

fn read_pem((var, path): (String, String)) -> Result<PemFile> {
    let bytes = std::fs::read(Path::new(&path)).map_err(|e| OtlpError(format!("{var}={path}: cannot read: {e}")))?;
    Ok(PemFile { var, path, bytes })
}

/// The export timeout for `signal`, as the exporter reads it.
pub fn timeout(signal: Signal, var: &dyn Fn(&str) -> Option<String>) -> Duration {
    let ms = |name: String| var(&name).and_then(|v| v.trim().parse::<u64>().ok());
    ms(format!("OTEL_EXPORTER_OTLP_{}_TIMEOUT", signal.infix()))
        .or_else(|| ms("OTEL_EXPORTER_OTLP_TIMEOUT".to_string()))
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn resolve(signal: Signal, grpc: bool, pairs: &[(&str, &str)]) -> Result<Option<Tls>> {
        Tls::resolve(signal, grpc, &env(pairs))
    }

    #[test]
    fn plain_endpoints_need_no_tls_and_refuse_tls_files() {
        assert!(resolve(Signal::Logs, true, &[]).unwrap().is_none());
        assert!(resolve(Signal::Logs, true, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")]).unwrap().is_none());
        assert!(resolve(Signal::Logs, false, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")]).unwrap().is_none());
        let err = resolve(
            Signal::Metrics,
            true,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/x.pem")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && err.contains("http://c:4317"), "{err}");
    }

    #[test]
    fn grpc_without_scheme_is_tls_unless_insecure() {
        assert!(uses_tls("collector:4317", true, false));
        assert!(!uses_tls("collector:4317", true, true));
        assert!(uses_tls("HTTPS://collector", false, false));
        let plain = resolve(
            Signal::Logs,
            true,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "true")],
        );
        assert!(plain.unwrap().is_none());
    }

    #[test]
    fn file_errors_name_the_variable_and_the_path() {
        let dir = std::env::temp_dir().join(format!("witness-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not pem at all\n").unwrap();
        let junk = junk.to_str().unwrap();
        let https = ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317");

        let err = resolve(Signal::Logs, true, &[https, ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")])
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem: cannot read"), "{text}");

        // The signal's own variable wins over the general one.
        let err = resolve(
            Signal::Metrics,
            true,
            &[
                https,
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent"),
                ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", junk),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&format!("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE={junk}: no PEM CERTIFICATE")), "{err}");

        let err = resolve(Signal::Logs, true, &[https, ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", junk)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timeouts_follow_the_exporter() {
        assert_eq!(timeout(Signal::Logs, &env(&[])), Duration::from_secs(10));
        let e = env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"), ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700")]);
        assert_eq!(timeout(Signal::Logs, &e), Duration::from_millis(2500));
        assert_eq!(timeout(Signal::Metrics, &e), Duration::from_millis(700));
    }
}
