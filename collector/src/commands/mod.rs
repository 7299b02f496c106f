//! The subcommands of `witness`, one module each, with their command-line
//! arguments; `main.rs` parses the command line and calls one of them.
//!
//! Exit codes: 0 success; 1 any other error (including a control request
//! refused for lack of CAP_SYS_ADMIN, and an invalid policy or inventory);
//! 2 bad command line; 3 the witness module is not loaded or went away;
//! 4 the module speaks another ABI version ([`exit_code`]).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::source::decode::Event;
use crate::source::device::DeviceError;

pub mod configure;
pub mod drive;
pub mod events;
pub mod identity;
pub mod policy;
pub mod record;
pub mod replay;
pub mod run;
pub mod status;

/// What judges events (shared by run and replay).
#[derive(clap::Args, Clone)]
pub struct JudgeArgs {
    /// The identity inventory (TOML).
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// Cedar policy files or directories (repeatable). Without any, every
    /// event is allowed by policy and only divergence raises outcomes.
    #[arg(long)]
    pub policy: Vec<PathBuf>,
    /// Append evidence (non-allow events; all with --evidence-all) to this
    /// JSONL file.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
    /// Write allow events to the evidence log too.
    #[arg(long)]
    pub evidence_all: bool,
    /// Rotate the evidence log at this size.
    #[arg(long, default_value_t = 64 << 20)]
    pub evidence_max_bytes: u64,
    /// Rotated evidence files to keep.
    #[arg(long, default_value_t = 4)]
    pub evidence_keep: u32,
    /// fsync the evidence log every N lines (0: no count; `run` syncs lines
    /// a second old, and every command syncs on rotation and exit).
    #[arg(long, default_value_t = 0)]
    pub evidence_sync_every: u32,
    /// Most (identity, kind, outcome) metric series before new ones go to
    /// identity="_overflow".
    #[arg(long, default_value_t = 10_000)]
    pub series_budget: usize,
    /// Policy decisions cached.
    #[arg(long, default_value_t = crate::policy::DEFAULT_CACHE_ENTRIES)]
    pub cache_entries: usize,
}

impl JudgeArgs {
    /// The evidence log's rotation and sync settings.
    pub fn evidence_policy(&self) -> crate::sinks::evidence::Policy {
        crate::sinks::evidence::Policy {
            max_bytes: self.evidence_max_bytes,
            keep: self.evidence_keep,
            sync_every: self.evidence_sync_every,
            ..Default::default()
        }
    }

    /// The pipeline's options these arguments set.
    pub fn options(&self) -> crate::pipeline::Options {
        crate::pipeline::Options {
            series_budget: self.series_budget,
            evidence_all: self.evidence_all,
            ..Default::default()
        }
    }
}

/// Whether `event` is of a kind in `kinds` (None: all). Kinds newer than
/// this collector are always wanted.
pub fn wanted(kinds: Option<u64>, event: &Event) -> bool {
    match (kinds, event.kind()) {
        (Some(mask), Some(kind)) => mask & kind.mask_bit() != 0,
        _ => true,
    }
}

/// A number of seconds (fractions allowed) as a command-line value.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

/// The process exit code for an error: 3 when the module is not loaded or
/// went away, 4 when it speaks another ABI version, else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<DeviceError>() {
        Some(DeviceError::NotLoaded { .. } | DeviceError::ShuttingDown { .. } | DeviceError::Gone { .. }) => 3,
        Some(DeviceError::AbiMismatch { .. }) => 4,
        _ => 1,
    }
}

/// Logs to stderr, filtered by `WITNESS_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WITNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}
