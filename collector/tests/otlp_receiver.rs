//! The OTLP exporter against a real OTLP/gRPC receiver: a tonic server
//! implementing the collector's LogsService and MetricsService, which
//! decodes the protobuf requests the exporter sends.

mod otlp_common;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
use otlp_common::{export_and_check, GrpcReceiver};

#[test]
fn evidence_and_metrics_reach_an_otlp_grpc_receiver() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let receiver = GrpcReceiver::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = receiver.clone();
    runtime.spawn(async move {
        let incoming = futures_util::stream::unfold(listener, |l| async move {
            let r = l.accept().await.map(|(s, _)| s);
            Some((r, l))
        });
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(server.clone()))
            .add_service(MetricsServiceServer::new(server))
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    export_and_check(&runtime, &format!("http://{addr}"), "grpc", &[], &receiver.0);
}
