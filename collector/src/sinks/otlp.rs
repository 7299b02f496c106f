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
//! Log records are evidence lines ([`crate::evidence::Line`]): every
//! field of the line is an attribute ([`attributes`]), under its
//! OpenTelemetry semantic-convention name where there is one
//! (`process.pid`, `process.user.id` the effective uid,
//! `process.real_user.id`, `process.executable.path` and `.name`,
//! `process.command_args`, `container.id`, `k8s.pod.uid`, `file.path`,
//! `server.address`/`server.port`, `network.transport`, `network.type`,
//! `host.name`) and under `witness.` otherwise (`witness.identity.spiffe_id`,
//! `witness.identity.attested`, `witness.outcome`, `witness.divergence`,
//! ...). Event lines are named `witness.evidence`, stream lines
//! `witness.stream`. Metrics are the
//! families `/metrics` serves, from the same definitions
//! ([`crate::sinks::metrics::FAMILIES`]; names dotted: `witness.events`,
//! with units), read from the published snapshot when the periodic reader
//! collects; the handshake and evaluation-time histograms are
//! Prometheus-only.
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

use super::otlp_tls::{self, OtlpError, Signal, Tls};
use crate::evidence::Line;
use crate::sinks::metrics::{Family, FamilyKind, Num, Shared, FAMILIES};

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
    pub fn from_env() -> Result<Self, OtlpError> {
        match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok().as_deref() {
            None | Some("grpc") => Ok(Self::Grpc),
            Some("http/protobuf") => Ok(Self::HttpProtobuf),
            Some(other) => Err(OtlpError(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other}: supported values are grpc and http/protobuf"
            ))),
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

/// Registers `family` with `meter`: an observable counter or gauge that
/// reads the published snapshot when the periodic reader collects.
fn register(meter: &opentelemetry::metrics::Meter, family: &'static Family, shared: &Shared) {
    let shared = shared.clone();
    let observe = move |sink: &mut dyn FnMut(Num, &[KeyValue])| {
        let snap = match shared.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        };
        (family.read)(&snap, &mut |labels, v| {
            let attrs: Vec<KeyValue> =
                labels.iter().map(|(k, v)| KeyValue::new(k.to_string(), v.to_string())).collect();
            sink(v, &attrs);
        });
    };
    match family.kind {
        FamilyKind::Counter => {
            meter
                .u64_observable_counter(family.otlp_name())
                .with_description(family.help)
                .with_unit(family.unit)
                .with_callback(move |obs| {
                    observe(&mut |v, attrs| match v {
                        Num::Int(v) => obs.observe(v, attrs),
                        // CAST: counters are counts; a float one is whole.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        Num::Float(v) => obs.observe(v as u64, attrs),
                    })
                })
                .build();
        }
        FamilyKind::Gauge => {
            meter
                .f64_observable_gauge(family.otlp_name())
                .with_description(family.help)
                .with_unit(family.unit)
                .with_callback(move |obs| {
                    observe(&mut |v, attrs| match v {
                        #[allow(clippy::cast_precision_loss)]
                        Num::Int(v) => obs.observe(v as f64, attrs),
                        Num::Float(v) => obs.observe(v, attrs),
                    })
                })
                .build();
        }
    }
}

impl Otlp {
    /// Builds exporters from the environment (`protocol` chooses the
    /// transport); metrics read `shared`. Must run inside a Tokio runtime.
    pub fn new(protocol: Protocol, shared: &Shared) -> Result<Self, OtlpError> {
        let built = |e: opentelemetry_otlp::ExporterBuildError| OtlpError(format!("building the OTLP exporter: {e}"));
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
                (logs.build().map_err(built)?, metrics.build().map_err(built)?)
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
                (logs.build().map_err(built)?, metrics.build().map_err(built)?)
            }
        };
        let logs = SdkLoggerProvider::builder().with_resource(resource()).with_batch_exporter(log_exporter).build();
        let logger = logs.logger("witness");
        let meters =
            SdkMeterProvider::builder().with_resource(resource()).with_periodic_exporter(metric_exporter).build();
        let meter = meters.meter("witness");
        for family in FAMILIES {
            register(&meter, family, shared);
        }
        Ok(Self { logs, logger, meters })
    }

    /// Emits one evidence line as a log record: its [`attributes`], its
    /// event time, a severity by outcome, and a one-line body.
    pub fn emit(&self, line: &Line<'_>) {
        // Evidence is rare next to the events judged: the line's JSON
        // serialization (the one the log writes) is the source of truth.
        let Ok(value) = serde_json::to_value(line) else { return };
        self.emit_value(&value, line.time_unix_ns());
    }

    /// Exports a checkpoint line as the log wrote it (chain position, the
    /// hash it covers, key and signature included): a copy off the host
    /// that a truncation of the log cannot take back.
    pub fn emit_checkpoint(&self, line: &[u8]) {
        let Ok(value) = serde_json::from_slice::<Value>(line) else { return };
        let time = value["time_unix_ns"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        self.emit_value(&value, time);
    }

    fn emit_value(&self, value: &Value, time_unix_ns: i128) {
        let mut rec = self.logger.create_log_record();
        let outcome = value.get("outcome").and_then(Value::as_str);
        let (severity, text) = match outcome {
            Some("deny") => (Severity::Error, "ERROR"),
            Some("investigate") => (Severity::Warn, "WARN"),
            Some("review") => (Severity::Info2, "INFO"),
            _ => (Severity::Info, "INFO"),
        };
        rec.set_severity_number(severity);
        rec.set_severity_text(text);
        if let Ok(ns) = u64::try_from(time_unix_ns) {
            rec.set_timestamp(UNIX_EPOCH + Duration::from_nanos(ns));
        }
        rec.set_observed_timestamp(SystemTime::now());
        rec.set_event_name(match value["record"].as_str() {
            Some("event") => "witness.evidence",
            Some("checkpoint") => "witness.checkpoint",
            _ => "witness.stream",
        });
        rec.set_body(AnyValue::from(summary(value)));
        for a in attributes(value) {
            rec.add_attribute(a.name, a.value);
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

/// A log record's body: what happened, by whom, judged how.
fn summary(v: &Value) -> String {
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    match text("record") {
        Some("event") => {
            let who = v.pointer("/identity/spiffe_id").and_then(Value::as_str).unwrap_or("an unattested process");
            format!("{} by {who}: {}", text("kind").unwrap_or("?"), text("outcome").unwrap_or("?"))
        }
        _ => format!("stream: {}", text("stream").unwrap_or("?")),
    }
}

/// One attribute of a log record, and the JSON field it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The OpenTelemetry attribute name.
    pub name: String,
    /// Its value.
    pub value: AnyValue,
    /// The evidence line's field it comes from (dotted path).
    pub from: String,
}

/// The fields of an evidence line that are not attributes: the record's
/// time is its timestamp.
const AS_TIMESTAMP: [&str; 2] = ["time", "time_unix_ns"];

/// The attributes of an evidence line, from its JSON serialization (see
/// [`crate::evidence`]): every field with a value, nested objects by dotted
/// path, under its OpenTelemetry semantic-convention name where there is
/// one and under `witness.` where not; plus those derived from them
/// (`process.executable.name`, `network.type`, `network.transport`). On an
/// exec record `process.executable.path` and `process.command_args` are
/// the new image's, and the executable before it is `witness.process.exe`;
/// elsewhere `process.executable.path` is the process's executable.
pub fn attributes(line: &Value) -> Vec<Attribute> {
    let Value::Object(fields) = line else { return Vec::new() };
    let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut out = Vec::new();
    for (key, value) in fields {
        if !AS_TIMESTAMP.contains(&key.as_str()) {
            flatten(kind, key, value, &mut out);
        }
    }
    derive(kind, fields, &mut out);
    out
}

fn flatten(kind: &str, path: &str, value: &Value, out: &mut Vec<Attribute>) {
    match value {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                flatten(kind, &format!("{path}.{k}"), v, out);
            }
        }
        _ => {
            if let Some((names, values)) = split_address(kind, path, value) {
                for (name, value) in names.into_iter().zip(values) {
                    out.push(Attribute { name: name.to_string(), value, from: path.to_string() });
                }
                return;
            }
            let name = semconv(kind, path).map_or_else(|| format!("witness.{path}"), str::to_string);
            out.push(Attribute { name, value: any(value), from: path.to_string() });
        }
    }
}

/// The semantic-convention name of a field, if it has one.
fn semconv(kind: &str, path: &str) -> Option<&'static str> {
    let exec = kind == "exec";
    Some(match path {
        "host" => "host.name",
        "tgid" => "process.pid",
        "ppid" => "process.parent_pid",
        "pid" => "thread.id",
        "euid" => "process.user.id",
        "uid" => "process.real_user.id",
        "egid" => "process.group.id",
        "gid" => "process.real_group.id",
        "path" if exec => "process.executable.path",
        "argv" if exec => "process.command_args",
        "process.exe" if !exec => "process.executable.path",
        "path" if kind.starts_with("file_") || kind == "bprm_check" => "file.path",
        "container.id" => "container.id",
        "container.runtime" => "container.runtime.name",
        "k8s.pod.uid" => "k8s.pod.uid",
        "k8s.pod.name" => "k8s.pod.name",
        "k8s.namespace.name" => "k8s.namespace.name",
        "k8s.container.name" => "k8s.container.name",
        _ => return None,
    })
}

/// Socket addresses (`ip:port`) as address and port attributes: the
/// remote end of a connect is the server, of an accept the client, and
/// either is the peer.
fn split_address(kind: &str, path: &str, value: &Value) -> Option<(Vec<&'static str>, Vec<AnyValue>)> {
    let addr: std::net::SocketAddr = value.as_str()?.parse().ok()?;
    let (ip, port) = (AnyValue::from(addr.ip().to_string()), AnyValue::from(i64::from(addr.port())));
    let names = match (path, kind) {
        ("remote", "sock_connect") => {
            vec!["server.address", "server.port", "network.peer.address", "network.peer.port"]
        }
        ("remote", "sock_accept") => {
            vec!["client.address", "client.port", "network.peer.address", "network.peer.port"]
        }
        ("remote", _) => vec!["network.peer.address", "network.peer.port"],
        ("local", _) => vec!["network.local.address", "network.local.port"],
        _ => return None,
    };
    let values = names.iter().enumerate().map(|(i, _)| if i % 2 == 0 { ip.clone() } else { port.clone() }).collect();
    Some((names, values))
}

/// Attributes computed from fields: the executable's base name, and the
/// network type and transport of socket records.
fn derive(kind: &str, fields: &Map<String, Value>, out: &mut Vec<Attribute>) {
    let exe = if kind == "exec" { fields.get("path") } else { fields.get("process").and_then(|p| p.get("exe")) };
    if let Some(name) = exe.and_then(Value::as_str).and_then(|p| p.rsplit('/').next()).filter(|n| !n.is_empty()) {
        let from = if kind == "exec" { "path" } else { "process.exe" };
        out.push(Attribute {
            name: "process.executable.name".into(),
            value: name.to_string().into(),
            from: from.into(),
        });
    }
    let family = fields.get("family").and_then(Value::as_u64);
    let network_type = match family {
        Some(2) => Some("ipv4"),
        Some(10) => Some("ipv6"),
        _ => None,
    };
    if let Some(t) = network_type {
        out.push(Attribute { name: "network.type".into(), value: t.into(), from: "family".into() });
    }
    let transport = match (family, fields.get("protocol").and_then(Value::as_u64)) {
        (Some(1), _) => Some("unix"),
        (Some(2 | 10), Some(6)) => Some("tcp"),
        (Some(2 | 10), Some(17)) => Some("udp"),
        _ => None,
    };
    if let Some(t) = transport {
        out.push(Attribute { name: "network.transport".into(), value: t.into(), from: "protocol".into() });
    }
}

/// A JSON value as an attribute value.
fn any(v: &Value) -> AnyValue {
    match v {
        Value::Bool(b) => AnyValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AnyValue::Int(i),
            None => n.as_f64().filter(|_| n.is_f64()).map_or_else(|| AnyValue::from(n.to_string()), AnyValue::Double),
        },
        Value::String(s) => AnyValue::from(s.clone()),
        Value::Array(items) => AnyValue::ListAny(Box::new(items.iter().map(any).collect())),
        Value::Object(m) => AnyValue::Map(Box::new(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (opentelemetry::Key::from(k.clone()), any(v)))
                .collect(),
        )),
        Value::Null => AnyValue::from(String::new()),
    }
}
