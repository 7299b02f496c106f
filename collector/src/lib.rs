//! The witness collector.
//!
//! The kernel module records; the collector decides. This crate drains the
//! per-CPU rings behind `/dev/witness`, decodes records with the shared ABI
//! crate, checks each CPU's sequence numbers so that any loss is stated
//! exactly, and prints or exports what it found.
//!
//! The folders follow a record's path:
//!
//! - [`source`]: the device, its mmap'ed rings and capture files; decoding
//!   and per-CPU sequence checks,
//! - [`enrich`]: process table, cgroup, executable digests, peers,
//!   sock_diag, drop reason names,
//! - [`identity`]: SPIFFE IDs, selectors and the workload inventory,
//! - [`policy`]: the Cedar schema, policy sets, outcomes and the decision
//!   cache,
//! - [`pipeline`]: one event through enrichment, attribution, divergence
//!   and judgement,
//! - [`evidence`]: the evidence record, one type for every sink, and the
//!   records of what happened to the stream,
//! - [`internal`]: the collector's own events, each logged, counted and
//!   recorded in one place,
//! - [`sinks`]: the JSONL evidence log, OTLP, Prometheus, `witness events`
//!   output,
//! - [`config`]: the daemon's settings file, the module's filters,
//! - the subcommands are the binary's (`src/commands/`, `src/main.rs`),
//! - [`text`]: file-and-line errors, line numbers and hex, shared by the
//!   parsers,
//! - [`hostile`]: properties of the parsers of untrusted input, for the
//!   fuzz targets and their regression tests.

pub mod config;
pub mod enrich;
pub mod evidence;
pub mod hostile;
pub mod identity;
pub mod internal;
pub mod pipeline;
pub mod policy;
pub mod sinks;
pub mod source;
pub mod text;
