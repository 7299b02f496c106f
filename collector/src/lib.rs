//! The witness collector.
//!
//! The kernel module records; the collector decides. This crate drains the
//! per-CPU rings behind `/dev/witness`, decodes records with the shared ABI
//! crate, checks each CPU's sequence numbers so that any loss is stated
//! exactly, and prints or exports what it found.
//!
//! Pipeline stages, one module each:
//!
//! - [`capture`]: capture files (`witness record` / `witness replay`),
//! - [`cgroup`]: container id, runtime, pod UID and unit from a cgroup path,
//! - [`device`]: opens `/dev/witness`, checks the ABI version, reads batches
//!   of whole records,
//! - [`mapped`]: the rings read through `mmap` (the daemon's fast path),
//! - [`identity`]: SPIFFE IDs, selectors and the workload inventory,
//! - [`decode`]: turns record bytes into typed [`decode::Event`]s, rejecting
//!   malformed input with an error that names the offset,
//! - [`process_table`]: live processes from /proc and from the records,
//! - [`sequence`]: per-CPU sequence tracking (gaps are lost records),
//! - [`output`]: JSON lines and a readable table,
//! - [`status`]: the kernel's counters and configuration,
//! - [`control`]: kind masks, filters and the watermark, checked before they
//!   are sent to the module,
//! - [`sockdiag`]: listening sockets that predate the daemon (sock_diag),
//! - [`policy`]: the Cedar schema, policy sets, outcomes and the decision
//!   cache,
//! - [`pipeline`]: enrichment, attribution, divergence from the inventory
//!   and judgement, event by event,
//! - [`metrics`]: bounded counters and their Prometheus exposition,
//! - [`sink`]: outputs for judged events (the JSONL evidence log, OTLP),
//! - [`run`]: the daemon (`witness run`): device, pipeline, sinks, /metrics,
//!   signals,
//! - [`settings`]: the daemon's TOML settings file,
//! - [`hostile`]: properties of the parsers of untrusted input, for the
//!   fuzz targets and their regression tests.

pub mod capture;
pub mod cgroup;
pub mod control;
pub mod decode;
pub mod device;
pub mod drop_reasons;
pub mod hostile;
pub mod identity;
pub mod mapped;
pub mod metrics;
pub mod output;
pub mod peers;
pub mod pipeline;
pub mod policy;
pub mod process_table;
pub mod run;
pub mod sequence;
pub mod settings;
pub mod sink;
pub mod sockdiag;
pub mod status;
