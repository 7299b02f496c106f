//! The OTLP exporter against a real OTLP/gRPC receiver: a tonic server
//! implementing the collector's LogsService and MetricsService, which
//! decodes the protobuf requests the exporter sends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use serde_json::json;
use witness::metrics::{Counters, Snapshot};
use witness::policy::Outcome;
use witness::sink::otlp::{Otlp, Protocol};

#[derive(Clone, Default)]
struct Receiver {
    logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

#[test]
fn evidence_and_metrics_reach_an_otlp_grpc_receiver() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let receiver = Receiver::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = receiver.clone();
    runtime.spawn(async move {
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(server.clone()))
            .add_service(MetricsServiceServer::new(server))
            .serve_with_incoming(tokio_stream_from(listener))
            .await
            .unwrap();
    });
    // SAFETY: this test binary holds one test, and no thread it started reads
    // the environment yet, so nothing reads it while it changes.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    }

    let mut counters = Counters::new(100);
    counters.event(0, witness_abi::record::RecordKind::SockConnect as u16, Outcome::Investigate);
    let shared = Arc::new(Mutex::new(Snapshot {
        counters,
        identities: Arc::new(vec!["spiffe://demo.witness.test/data/batch".to_string()]),
    }));
    let otlp = runtime.block_on(async { Otlp::new(Protocol::from_env().unwrap(), &shared) }).unwrap();
    let evidence = json!({
        "kind": "sock_connect", "tgid": 4242, "ppid": 1, "uid": 2000, "comm": "batch",
        "remote": "10.1.2.3:5432",
        "identity": {"spiffe_id": "spiffe://demo.witness.test/data/batch", "owner": "team-data", "attested": true},
        "outcome": "investigate", "kernel": {"verdict": 0, "denied": false}, "divergence": "undeclared_peer",
        "process": {"exe": "/usr/bin/batch", "ancestors": []}
    });
    let serde_json::Value::Object(map) = evidence else { unreachable!() };
    otlp.emit(&map, Outcome::Investigate, "sock_connect", 1_700_000_000_000_000_000);
    let otlp = Arc::new(otlp);
    let o = otlp.clone();
    runtime.block_on(async move { tokio::task::spawn_blocking(move || o.shutdown()).await.unwrap() });

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (receiver.logs.lock().unwrap().is_empty() || receiver.metrics.lock().unwrap().is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = receiver.logs.lock().unwrap();
    let record = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .next()
        .expect("a log record arrived");
    let a = attrs(&record.attributes);
    assert_eq!(a["spiffe.id"], "spiffe://demo.witness.test/data/batch");
    assert_eq!(a["witness.outcome"], "investigate");
    assert_eq!(a["witness.divergence"], "undeclared_peer");
    assert_eq!(a["process.pid"], "4242");
    assert_eq!(a["process.executable.path"], "/usr/bin/batch");
    assert_eq!(a["network.peer.address"], "10.1.2.3");
    assert_eq!(a["network.peer.port"], "5432");
    assert_eq!(record.severity_text, "WARN");
    assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_000);
    let resource = attrs(&logs[0].resource_logs[0].resource.as_ref().unwrap().attributes);
    assert_eq!(resource["service.name"], "witness");

    let metrics = receiver.metrics.lock().unwrap();
    let events = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == "witness.events")
        .expect("witness.events arrived");
    let Some(Data::Sum(sum)) = &events.data else { panic!("witness.events is not a sum: {events:?}") };
    assert!(sum.is_monotonic);
    let point = &sum.data_points[0];
    assert_eq!(point.value, Some(Number::AsInt(1)));
    let a = attrs(&point.attributes);
    assert_eq!(a["identity"], "spiffe://demo.witness.test/data/batch");
    assert_eq!(a["outcome"], "investigate");
    assert_eq!(a["kind"], "sock_connect");
}

/// The listener as a stream of connections for tonic.
fn tokio_stream_from(
    listener: tokio::net::TcpListener,
) -> impl futures_core::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    async_stream_accept(listener)
}

fn async_stream_accept(
    listener: tokio::net::TcpListener,
) -> impl futures_core::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures_util::stream::unfold(listener, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}
