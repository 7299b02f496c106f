//! OTLP/gRPC over mutual TLS: a tonic receiver that presents a certificate
//! from a test CA and requires a client certificate from the same CA. The
//! exporter, configured only by `OTEL_EXPORTER_OTLP_CERTIFICATE`,
//! `..._CLIENT_CERTIFICATE` and `..._CLIENT_KEY`, must deliver; a client
//! trusting another CA, or presenting no certificate, must not.

mod otlp_common;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
use otlp_common::{export_and_check, GrpcReceiver, Pki};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use witness::sinks::otlp_tls::{Signal, Tls};

/// One export call through a channel built from `files` (variable, path).
async fn export_with(endpoint: &str, files: &[(&str, &std::path::Path)]) -> Result<(), String> {
    let lookup = |name: &str| {
        if name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
            return Some(endpoint.to_string());
        }
        files.iter().find(|(k, _)| *k == name).map(|(_, p)| p.display().to_string())
    };
    let tls = Tls::resolve(Signal::Logs, true, &lookup).map_err(|e| format!("{e:#}"))?.expect("an https endpoint");
    let channel = tonic::transport::Channel::from_shared(endpoint.to_string())
        .unwrap()
        .tls_config(tls.grpc())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    LogsServiceClient::new(channel)
        .export(ExportLogsServiceRequest { resource_logs: vec![] })
        .await
        .map(drop)
        .map_err(|e| format!("export: {e:?}"))
}

#[test]
fn evidence_and_metrics_reach_an_otlp_grpc_receiver_over_mutual_tls() {
    let pki = Pki::new("grpc");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let receiver = GrpcReceiver::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = receiver.clone();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&pki.server_cert_pem, &pki.server_key_pem))
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    runtime.spawn(async move {
        let incoming = futures_util::stream::unfold(listener, |l| async move {
            let r = l.accept().await.map(|(s, _)| s);
            Some((r, l))
        });
        tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(LogsServiceServer::new(server.clone()))
            .add_service(MetricsServiceServer::new(server))
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    let endpoint = format!("https://localhost:{port}");

    // The checks that must fail, and one that must pass, through the same
    // configuration code the exporter uses.
    let (ca, other, cert, key) = (&*pki.ca, &*pki.other_ca, &*pki.client_cert, &*pki.client_key);
    let client = [("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert), ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key)];
    runtime.block_on(async {
        let wrong_ca = [&[("OTEL_EXPORTER_OTLP_CERTIFICATE", other)], &client[..]].concat();
        let err = export_with(&endpoint, &wrong_ca).await.expect_err("a server whose CA is not trusted is refused");
        assert!(err.contains("UnknownIssuer") || err.contains("certificate"), "{err}");
        let no_client = export_with(&endpoint, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)]).await;
        no_client.expect_err("the receiver refuses a client without a certificate");
        export_with(&endpoint, &[&[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)], &client[..]].concat())
            .await
            .expect("the right CA and client certificate are accepted");
    });
    let env = [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", pki.client_cert.to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.client_key.to_str().unwrap()),
    ];
    receiver.0.logs.lock().unwrap().clear();
    export_and_check(&runtime, &endpoint, "grpc", &env, &receiver.0);
}
