//! OTLP export: evidence events as log records and the collector's
//! counters as metrics, over gRPC (default) or HTTP/protobuf.
//!
//! Configuration is the standard `OTEL_EXPORTER_OTLP_*` environment
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `..._LOGS_ENDPOINT`,
//! `..._METRICS_ENDPOINT`, `..._HEADERS`, `..._TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` = `grpc` | `http/protobuf`,
//! `OTEL_METRIC_EXPORT_INTERVAL`). Endpoints with `https://` (and gRPC
//! endpoints without a scheme) use TLS over rustls: the system's roots, or
//! the CA in `OTEL_EXPORTER_OTLP_CERTIFICATE`, and mutual TLS with
//! `..._CLIENT_CERTIFICATE` and `..._CLIENT_KEY` (see [`super::otlp_tls`]).
//!
//! Log records carry OpenTelemetry semantic-convention attributes
//! (`process.pid`, `process.parent_pid`, `process.executable.path`,
//! `process.user.id`, `container.id`, `k8s.pod.uid`,
//! `network.peer.address`, `network.peer.port`, `file.path`) plus
//! `spiffe.id`, `witness.owner`, `witness.outcome`, `witness.kind`,
//! `witness.kernel.verdict` and `witness.divergence`. Metrics are the same
//! counters `/metrics` serves (names dotted: `witness.events`, ...), read
//! from the published snapshot when the periodic reader collects; the
//! handshake and evaluation-time histograms are Prometheus-only.
//!
//! The exporters must be built inside a Tokio runtime, which must outlive
//! them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    LogExporter, MetricExporter, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use serde_json::{Map, Value};

use super::otlp_tls::{self, Signal, Tls};
use crate::policy::Outcome;
use crate::sinks::metrics::{kind_name, Shared};

/// The wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318).
    HttpProtobuf,
}

impl Protocol {
    /// From `OTEL_EXPORTER_OTLP_PROTOCOL` (default gRPC).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok().as_deref() {
            None | Some("grpc") => Ok(Self::Grpc),
            Some("http/protobuf") => Ok(Self::HttpProtobuf),
            Some(other) => {
                anyhow::bail!("OTEL_EXPORTER_OTLP_PROTOCOL={other}: supported values are grpc and http/protobuf")
            }
        }
    }
}

/// Whether the environment asks for OTLP export.
pub fn configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// The OTLP sink.
pub struct Otlp {
    logs: SdkLoggerProvider,
    logger: SdkLogger,
    meters: SdkMeterProvider,
}

impl std::fmt::Debug for Otlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Otlp")
    }
}

fn resource() -> Resource {
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    Resource::builder()
        .with_service_name("witness")
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("host.name", host),
        ])
        .build()
}

/// Reads one counter family out of a snapshot: calls the sink once per
/// series with its value and attributes.
type Reader = fn(&crate::sinks::metrics::Snapshot, &mut dyn FnMut(u64, Vec<KeyValue>));

fn u64_counter(
    meter: &opentelemetry::metrics::Meter,
    name: &'static str,
    help: &'static str,
    shared: &Shared,
    read: Reader,
) {
    let shared = shared.clone();
    meter
        .u64_observable_counter(name)
        .with_description(help)
        .with_callback(move |obs| {
            let snap = match shared.lock() {
                Ok(s) => s.clone(),
                Err(p) => p.into_inner().clone(),
            };
            read(&snap, &mut |v, attrs| obs.observe(v, &attrs));
        })
        .build();
}

impl Otlp {
    /// Builds exporters from the environment (`protocol` chooses the
    /// transport); metrics read `shared`. Must run inside a Tokio runtime.
    pub fn new(protocol: Protocol, shared: &Shared) -> anyhow::Result<Self> {
        // reqwest's rustls needs a process-wide provider even for plain
        // http:// (it builds its TLS connector up front); tonic takes the
        // same one. Another caller may have installed one already: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = |name: &str| std::env::var(name).ok();
        let grpc = protocol == Protocol::Grpc;
        let logs_tls = Tls::resolve(Signal::Logs, grpc, &env)?;
        let metrics_tls = Tls::resolve(Signal::Metrics, grpc, &env)?;
        let (log_exporter, metric_exporter) = match protocol {
            Protocol::Grpc => {
                let mut logs = LogExporter::builder().with_tonic();
                if let Some(tls) = &logs_tls {
                    logs = logs.with_tls_config(tls.grpc());
                }
                let mut metrics = MetricExporter::builder().with_tonic();
                if let Some(tls) = &metrics_tls {
                    metrics = metrics.with_tls_config(tls.grpc());
                }
                (logs.build()?, metrics.build()?)
            }
            Protocol::HttpProtobuf => {
                let mut logs =
                    LogExporter::builder().with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
                if let Some(tls) = &logs_tls {
                    logs = logs.with_http_client(tls.http_client(otlp_tls::timeout(Signal::Logs, &env))?);
                }
                let mut metrics =
                    MetricExporter::builder().with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
                if let Some(tls) = &metrics_tls {
                    metrics = metrics.with_http_client(tls.http_client(otlp_tls::timeout(Signal::Metrics, &env))?);
                }
                (logs.build()?, metrics.build()?)
            }
        };
        let logs = SdkLoggerProvider::builder().with_resource(resource()).with_batch_exporter(log_exporter).build();
        let logger = logs.logger("witness");
        let meters =
            SdkMeterProvider::builder().with_resource(resource()).with_periodic_exporter(metric_exporter).build();
        let meter = meters.meter("witness");
        u64_counter(&meter, "witness.events", "Judged events by identity, kind and outcome.", shared, |s, f| {
            for ((id, kind, outcome), v) in &s.counters.events {
                f(
                    *v,
                    vec![
                        KeyValue::new("identity", s.identity(*id).to_string()),
                        KeyValue::new("kind", kind_name(*kind)),
                        KeyValue::new("outcome", outcome.name()),
                    ],
                );
            }
        });
        u64_counter(&meter, "witness.kernel_denials", "Operations the kernel refused.", shared, |s, f| {
            for ((id, kind), v) in &s.counters.kernel_denials {
                f(
                    *v,
                    vec![
                        KeyValue::new("identity", s.identity(*id).to_string()),
                        KeyValue::new("kind", kind_name(*kind)),
                    ],
                );
            }
        });
        u64_counter(&meter, "witness.divergences", "Departures from declared intent.", shared, |s, f| {
            for ((id, d), v) in &s.counters.divergences {
                f(
                    *v,
                    vec![
                        KeyValue::new("identity", s.identity(*id).to_string()),
                        KeyValue::new("divergence", d.label()),
                    ],
                );
            }
        });
        u64_counter(&meter, "witness.sequence_gaps", "Records lost between kernel and collector.", shared, |s, f| {
            for (cpu, v) in &s.counters.sequence_gaps {
                f(*v, vec![KeyValue::new("cpu", i64::from(*cpu))]);
            }
        });
        u64_counter(&meter, "witness.ring_dropped", "Records the kernel dropped.", shared, |s, f| {
            for (cpu, r) in &s.counters.rings {
                f(r.dropped_full, vec![KeyValue::new("cpu", i64::from(*cpu)), KeyValue::new("cause", "full")]);
                f(r.dropped_nested, vec![KeyValue::new("cpu", i64::from(*cpu)), KeyValue::new("cause", "nested")]);
            }
        });
        u64_counter(&meter, "witness.packet_drops", "Packets the kernel dropped by reason.", shared, |s, f| {
            for (reason, v) in &s.counters.packet_drops {
                f(*v, vec![KeyValue::new("reason", reason.to_string())]);
            }
        });
        u64_counter(&meter, "witness.series_overflow", "Events counted in the overflow bucket.", shared, |s, f| {
            f(s.counters.series_overflow, vec![]);
        });
        u64_counter(&meter, "witness.policy_cache_hits", "Policy decisions from the cache.", shared, |s, f| {
            f(s.counters.cache_hits, vec![]);
        });
        u64_counter(&meter, "witness.policy_cache_misses", "Policy decisions evaluated.", shared, |s, f| {
            f(s.counters.cache_misses, vec![]);
        });
        u64_counter(&meter, "witness.evidence_lines", "Lines written to the evidence log.", shared, |s, f| {
            f(s.counters.evidence_lines, vec![]);
        });
        Ok(Self { logs, logger, meters })
    }

    /// Emits one evidence record as a log record.
    pub fn emit(&self, evidence: &Map<String, Value>, outcome: Outcome, kind: &'static str, time_unix_ns: i128) {
        let mut rec = self.logger.create_log_record();
        let (severity, text) = match outcome {
            Outcome::Allow => (Severity::Info, "INFO"),
            Outcome::Review => (Severity::Info2, "INFO"),
            Outcome::Investigate => (Severity::Warn, "WARN"),
            Outcome::Deny => (Severity::Error, "ERROR"),
        };
        rec.set_severity_number(severity);
        rec.set_severity_text(text);
        rec.set_event_name("witness.evidence");
        if let Ok(ns) = u64::try_from(time_unix_ns) {
            rec.set_timestamp(UNIX_EPOCH + Duration::from_nanos(ns));
        }
        rec.set_observed_timestamp(SystemTime::now());
        let get = |k: &str| evidence.get(k);
        let identity = get("identity");
        let spiffe = identity.and_then(|i| i.get("spiffe_id")).and_then(Value::as_str).unwrap_or("unattested");
        rec.set_body(AnyValue::from(format!("{kind} by {spiffe}: {}", outcome.name())));
        rec.add_attribute("spiffe.id", spiffe.to_string());
        if let Some(owner) = identity.and_then(|i| i.get("owner")).and_then(Value::as_str) {
            rec.add_attribute("witness.owner", owner.to_string());
        }
        rec.add_attribute("witness.outcome", outcome.name());
        rec.add_attribute("witness.kind", kind);
        if let Some(v) = get("kernel").and_then(|k| k.get("verdict")).and_then(Value::as_i64) {
            rec.add_attribute("witness.kernel.verdict", v);
        }
        if let Some(d) = get("divergence").and_then(Value::as_str) {
            rec.add_attribute("witness.divergence", d.to_string());
        }
        let int = |k: &str| get(k).and_then(Value::as_i64);
        let text = |k: &str| get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(v) = int("tgid") {
            rec.add_attribute("process.pid", v);
        }
        if let Some(v) = int("ppid") {
            rec.add_attribute("process.parent_pid", v);
        }
        if let Some(v) = int("uid") {
            rec.add_attribute("process.user.id", v);
        }
        if let Some(v) = text("comm") {
            rec.add_attribute("process.executable.name", v);
        }
        if let Some(v) = get("process").and_then(|p| p.get("exe")).and_then(Value::as_str) {
            rec.add_attribute("process.executable.path", v.to_string());
        }
        if let Some(v) = text("container_id") {
            rec.add_attribute("container.id", v);
        }
        if let Some(v) = text("pod_uid") {
            rec.add_attribute("k8s.pod.uid", v);
        }
        if let Some(v) = text("path") {
            rec.add_attribute("file.path", v);
        }
        if let Some(remote) = text("remote") {
            if let Ok(sa) = remote.parse::<std::net::SocketAddr>() {
                rec.add_attribute("network.peer.address", sa.ip().to_string());
                rec.add_attribute("network.peer.port", i64::from(sa.port()));
            }
        }
        self.logger.emit(rec);
    }

    /// Flushes and stops both exporters.
    pub fn shutdown(&self) {
        let _ = self.logs.force_flush();
        let _ = self.meters.force_flush();
        let _ = self.logs.shutdown();
        let _ = self.meters.shutdown();
    }
}
