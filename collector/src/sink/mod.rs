//! Sinks: where judged events go. So far the JSONL evidence log.

pub mod evidence;
pub mod otlp;
