//! Where judged events and the collector's own figures go: the JSONL
//! evidence log, OTLP (logs and metrics), Prometheus `/metrics`, the
//! JSON lines and table of `witness events`.

pub mod evidence;
pub mod metrics;
pub mod otlp;
pub mod otlp_tls;
pub mod output;
