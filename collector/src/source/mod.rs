//! Where records come from: the device (`read` of whole records, or the
//! rings through `mmap`), capture files, and the decoding and sequence
//! checks every record passes before anything else sees it.
//!
//! - [`device`]: opens `/dev/witness`, checks the ABI version, reads
//!   batches of whole records,
//! - [`mapped`]: the rings read through `mmap` (the daemon's fast path),
//! - [`capture`]: capture files (`witness record` / `witness replay`),
//! - [`decode`]: record bytes to typed [`decode::Event`]s, rejecting
//!   malformed input with an error that names the offset,
//! - [`sequence`]: per-CPU sequence tracking (gaps are lost records),
//! - [`status`]: the kernel's counters and configuration.

pub mod capture;
pub mod decode;
pub mod device;
pub mod mapped;
pub mod sequence;
pub mod status;

/// How `witness run` reads the rings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceMode {
    /// mmap, or read(2) when mapping is not possible (and say why).
    #[default]
    Auto,
    /// mmap only: zero-copy.
    Mmap,
    /// read(2) only.
    Read,
}
