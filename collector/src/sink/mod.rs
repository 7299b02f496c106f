//! Sinks: where judged events go. The JSONL evidence log and OTLP export
//! (logs and metrics, over gRPC or HTTP/protobuf, optionally TLS).

pub mod evidence;
pub mod otlp;
pub mod otlp_tls;
