//! Shared by the OTLP receiver tests (gRPC and HTTP/protobuf): what is
//! exported, and what the receiver must have decoded.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use witness::evidence::Line;
use witness::identity::inventory::Inventory;
use witness::pipeline::{Config, Options, Pipeline};
use witness::policy::Outcome;
use witness::sinks::metrics::{Counters, Snapshot};
use witness::sinks::otlp::{Otlp, Protocol};
use witness::sinks::output::Clock;
use witness::source::decode::{Body, Event, Meta};
use witness_abi::record::{RecordKind, SockRecord, TaskContext};
use zerocopy::FromZeros;

/// The pod and container of the sample's cgroup.
pub(crate) const POD_UID: &str = "6f1e2a3b-0000-4000-8000-00000000abcd";
pub(crate) const CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Calls `f` with the evidence line of a real judgement: a batch job in a
/// containerd container of a Kubernetes pod (its cgroup a directory of a
/// scratch hierarchy) connects to 10.1.2.3:5432, a peer it does not
/// declare: investigate, undeclared_peer.
pub(crate) fn with_sample_line<R>(f: impl FnOnce(&Line<'_>) -> R) -> R {
    use std::os::unix::fs::MetadataExt;
    let root = std::env::temp_dir().join(format!("witness-cgroups-{}", std::process::id()));
    let pod =
        format!("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice", POD_UID.replace('-', "_"));
    let leaf = root.join(pod).join(format!("cri-containerd-{CONTAINER_ID}.scope"));
    std::fs::create_dir_all(&leaf).unwrap();
    let inventory = Inventory::parse(
        "[[workload]]\nspiffe_id = \"spiffe://demo.witness.test/data/batch\"\nowner = \"team-data\"\n\
         selectors = [\"unix:uid:2000\"]\npeers = [\"198.51.100.0/24:443\"]\n",
        std::path::Path::new("inventory.toml"),
    )
    .unwrap();
    let options = Options { read_host_files: false, cgroup_root: Some(root.clone()), ..Options::default() };
    let mut p = Pipeline::new(Config::new(inventory, None, 16), options, Clock::with_offset(1_700_000_000_000_000_000));
    let mut r = SockRecord::new_zeroed();
    r.task = TaskContext::new_zeroed();
    (r.task.pid, r.task.tgid, r.task.ppid, r.task.uid, r.task.euid, r.task.gid) = (4243, 4242, 1, 2000, 2000, 2000);
    r.task.cgroup_id = std::fs::metadata(&leaf).unwrap().ino();
    r.task.comm[..5].copy_from_slice(b"batch");
    (r.family, r.sock_type, r.protocol) = (2, 1, 6);
    r.remote.addr[..4].copy_from_slice(&[10, 1, 2, 3]);
    r.remote.port = 5432;
    let event = Event {
        meta: Meta { cpu: 1, seq: 7, ts_ns: 0 },
        wire_kind: RecordKind::SockConnect as u16,
        body: Body::Sock(r),
    };
    let judged = p.process(&event).expect("judged");
    let result = f(&p.evidence(&event, &judged));
    let _ = std::fs::remove_dir_all(&root);
    result
}

/// What a receiver got.
#[derive(Clone, Default)]
pub(crate) struct Received {
    pub(crate) logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    pub(crate) metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
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

/// Points the exporter at `endpoint` over `protocol`, exports one evidence
/// record and one counter, shuts down (which flushes), and checks what
/// `received` decoded.
/// `env` adds variables (TLS files).
pub(crate) fn export_and_check(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
    protocol: &str,
    env: &[(&str, &str)],
    received: &Received,
) {
    // SAFETY: each test binary holds one test, and no thread it started
    // reads the environment yet, so nothing reads it while it changes.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", protocol);
        for (k, v) in env {
            std::env::set_var(k, v);
        }
    }
    let mut counters = Counters::new(100);
    counters.event(0, witness_abi::record::RecordKind::SockConnect as u16, Outcome::Investigate);
    let shared = Arc::new(Mutex::new(Snapshot::new(
        counters,
        Arc::new(vec!["spiffe://demo.witness.test/data/batch".to_string()]),
    )));
    let otlp = runtime.block_on(async { Otlp::new(Protocol::from_env().unwrap(), &shared) }).unwrap();
    with_sample_line(|line| otlp.emit(line));
    // A checkpoint line as the log sealed it: exported with its chain
    // position, the hash it covers and its signature.
    let dir = std::env::temp_dir().join(format!("witness-otlp-checkpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let signer = witness::evidence::chain::Signer::load_or_create(&dir.join("key")).unwrap();
    let mut log = witness::sinks::evidence::EvidenceLog::open(&dir.join("log"), Default::default()).unwrap();
    log.append(&serde_json::json!({"record": "stream", "stream": "started"}), 0).unwrap();
    let sealed = log
        .checkpoint(
            &serde_json::json!({"record": "checkpoint", "time_unix_ns": "1700000000000000001"}),
            0,
            Some(&signer),
        )
        .unwrap()
        .expect("the checkpoint was written");
    otlp.emit_checkpoint(&sealed);
    let otlp = Arc::new(otlp);
    let o = otlp.clone();
    runtime.block_on(async move { tokio::task::spawn_blocking(move || o.shutdown()).await.unwrap() });

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (received.logs.lock().unwrap().is_empty() || received.metrics.lock().unwrap().is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = received.logs.lock().unwrap();
    let records: Vec<_> =
        logs.iter().flat_map(|r| &r.resource_logs).flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records).collect();
    let checkpoint = records
        .iter()
        .map(|r| attrs(&r.attributes))
        .find(|a| a.contains_key("witness.signature"))
        .expect("the checkpoint arrived");
    assert_eq!(checkpoint["witness.chain.n"], "2");
    assert!(checkpoint["witness.chain.prev"].starts_with("sha256:"), "{checkpoint:?}");
    assert_eq!(checkpoint["witness.key"], signer.name);
    let record = records.first().expect("a log record arrived");
    let a = attrs(&record.attributes);
    assert_eq!(a["witness.identity.spiffe_id"], "spiffe://demo.witness.test/data/batch");
    assert_eq!(a["witness.outcome"], "investigate");
    assert_eq!(a["witness.divergence"], "undeclared_peer");
    assert_eq!(a["process.pid"], "4242");
    assert_eq!(a["container.id"], CONTAINER_ID);
    assert_eq!(a["k8s.pod.uid"], POD_UID);
    assert_eq!(a["server.address"], "10.1.2.3");
    assert_eq!(a["server.port"], "5432");
    assert_eq!(a["network.transport"], "tcp");
    assert_eq!(record.severity_text, "WARN");
    assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_000);
    let resource = attrs(&logs[0].resource_logs[0].resource.as_ref().unwrap().attributes);
    assert_eq!(resource["service.name"], "witness");

    let metrics = received.metrics.lock().unwrap();
    let events = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == "witness.events")
        .expect("witness.events arrived");
    let Some(Data::Sum(sum)) = &events.data else { panic!("witness.events is not a sum: {events:?}") };
    // The family's definition is the Prometheus one, with a unit.
    assert_eq!(events.unit, "{event}");
    let names: Vec<&str> = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.as_str())
        .collect();
    for family in witness::sinks::metrics::FAMILIES {
        assert!(!family.unit.is_empty(), "{} has no unit", family.name);
        if family.name == "witness_records_read" || family.name == "witness_processes" {
            // Always observed, so always exported.
            assert!(names.contains(&family.otlp_name().as_str()), "{} was not exported: {names:?}", family.otlp_name());
        }
    }
    assert!(sum.is_monotonic);
    let point = &sum.data_points[0];
    assert_eq!(point.value, Some(Number::AsInt(1)));
    let a = attrs(&point.attributes);
    assert_eq!(a["identity"], "spiffe://demo.witness.test/data/batch");
    assert_eq!(a["outcome"], "investigate");
    assert_eq!(a["kind"], "sock_connect");
}

/// A test PKI in a fresh directory: a CA, a server certificate for
/// `localhost` and a client certificate, each signed by the CA, plus a
/// second CA that signed nothing here.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca: PathBuf,
    pub(crate) other_ca: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    pub(crate) ca_pem: String,
    pub(crate) server_cert_pem: String,
    pub(crate) server_key_pem: String,
}

impl Pki {
    pub(crate) fn new(tag: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let dir = std::env::temp_dir().join(format!("witness-pki-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        };
        let root = ca("witness test CA");
        let other = ca("unrelated CA");
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names).unwrap().signed_by(&key, &root).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) = leaf(vec!["localhost".to_string()]);
        let (client_cert_pem, client_key_pem) = leaf(vec!["witness-collector".to_string()]);
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Self {
            ca: write("ca.pem", &root.pem()),
            other_ca: write("other-ca.pem", &other.pem()),
            client_cert: write("client.pem", &client_cert_pem),
            client_key: write("client.key", &client_key_pem),
            ca_pem: root.pem(),
            server_cert_pem,
            server_key_pem,
            dir,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn protobuf(headers: &axum::http::HeaderMap) -> Result<(), (axum::http::StatusCode, String)> {
    use axum::http::{header, StatusCode};
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some("application/x-protobuf") => Ok(()),
        other => Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("content type {other:?}"))),
    }
}

/// An OTLP/HTTP receiver: `/v1/logs` and `/v1/metrics` as the OTLP/HTTP
/// specification says, decoding the protobuf bodies into `received`.
pub(crate) fn http_receiver(received: &Received) -> axum::Router {
    use axum::body::Bytes;
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::routing::post;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
    use prost::Message;
    let (logs, metrics) = (received.logs.clone(), received.metrics.clone());
    axum::Router::new()
        .route(
            "/v1/logs",
            post(move |headers: HeaderMap, body: Bytes| async move {
                protobuf(&headers)?;
                let request =
                    ExportLogsServiceRequest::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
                logs.lock().unwrap().push(request);
                Ok::<_, (StatusCode, String)>((
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportLogsServiceResponse { partial_success: None }.encode_to_vec(),
                ))
            }),
        )
        .route(
            "/v1/metrics",
            post(move |headers: HeaderMap, body: Bytes| async move {
                protobuf(&headers)?;
                let request =
                    ExportMetricsServiceRequest::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
                metrics.lock().unwrap().push(request);
                Ok::<_, (StatusCode, String)>((
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportMetricsServiceResponse { partial_success: None }.encode_to_vec(),
                ))
            }),
        )
}

/// An OTLP/gRPC receiver: the collector's LogsService and MetricsService,
/// keeping what they decode.
#[derive(Clone, Default)]
pub(crate) struct GrpcReceiver(pub(crate) Received);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<
        tonic::Response<opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse>,
        tonic::Status,
    > {
        self.0.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<
        tonic::Response<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse>,
        tonic::Status,
    > {
        self.0.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}
