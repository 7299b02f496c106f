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

use witness::source::decode::Event;
use witness::source::device::DeviceError;

pub(crate) mod configure;
pub(crate) mod drive;
pub(crate) mod events;
pub(crate) mod identity;
pub(crate) mod policy;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod status;

/// What judges events (shared by run and replay).
#[derive(clap::Args, Clone)]
pub(crate) struct JudgeArgs {
    /// The identity inventory (TOML).
    #[arg(long)]
    pub(crate) inventory: Option<PathBuf>,
    /// Cedar policy files or directories (repeatable). Without any, every
    /// event is allowed by policy and only divergence raises outcomes.
    #[arg(long)]
    pub(crate) policy: Vec<PathBuf>,
    /// Append evidence (non-allow events; all with --evidence-all) to this
    /// JSONL file.
    #[arg(long)]
    pub(crate) evidence: Option<PathBuf>,
    /// Write allow events to the evidence log too.
    #[arg(long)]
    pub(crate) evidence_all: bool,
    /// Rotate the evidence log at this size.
    #[arg(long, default_value_t = 64 << 20)]
    pub(crate) evidence_max_bytes: u64,
    /// Rotated evidence files to keep.
    #[arg(long, default_value_t = 4)]
    pub(crate) evidence_keep: u32,
    /// fsync the evidence log every N lines (0: no count; `run` syncs lines
    /// a second old, and every command syncs on rotation and exit).
    #[arg(long, default_value_t = 0)]
    pub(crate) evidence_sync_every: u32,
    /// Most (identity, kind, outcome) metric series before new ones go to
    /// identity="_overflow".
    #[arg(long, default_value_t = 10_000)]
    pub(crate) series_budget: usize,
    /// Policy decisions cached.
    #[arg(long, default_value_t = witness::policy::DEFAULT_CACHE_ENTRIES)]
    pub(crate) cache_entries: usize,
}

impl JudgeArgs {
    /// The evidence log's rotation and sync settings.
    pub(crate) fn evidence_policy(&self) -> witness::sinks::evidence::Policy {
        witness::sinks::evidence::Policy {
            max_bytes: self.evidence_max_bytes,
            keep: self.evidence_keep,
            sync_every: self.evidence_sync_every,
            ..Default::default()
        }
    }

    /// The pipeline's options these arguments set.
    pub(crate) fn options(&self) -> witness::pipeline::Options {
        witness::pipeline::Options {
            series_budget: self.series_budget,
            evidence_all: self.evidence_all,
            ..Default::default()
        }
    }
}

/// Whether `event` is of a kind in `kinds` (None: all). Kinds newer than
/// this collector are always wanted.
pub(crate) fn wanted(kinds: Option<u64>, event: &Event) -> bool {
    match (kinds, event.kind()) {
        (Some(mask), Some(kind)) => mask & kind.mask_bit() != 0,
        _ => true,
    }
}

/// A number of seconds (fractions allowed) as a command-line value.
pub(crate) fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

/// The process exit code for an error: 3 when the module is not loaded or
/// went away, 4 when it speaks another ABI version, else 1.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<DeviceError>() {
        Some(DeviceError::NotLoaded { .. } | DeviceError::ShuttingDown { .. } | DeviceError::Gone { .. }) => 3,
        Some(DeviceError::AbiMismatch { .. }) => 4,
        _ => 1,
    }
}

/// Logs to stderr, filtered by `WITNESS_LOG` (default `info`).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WITNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}

/// What became of writing to stdout: a closed pipe (a reader such as
/// `head` went away) ends the command quietly, another error fails it.
#[derive(Debug, Default)]
pub(crate) struct Stdout {
    /// The reader went away.
    pub(crate) closed: bool,
    /// A write failed otherwise.
    pub(crate) error: Option<anyhow::Error>,
}

impl Stdout {
    /// Whether the command may go on after a write that gave `result`.
    pub(crate) fn wrote(&mut self, result: io::Result<()>) -> std::ops::ControlFlow<()> {
        match result {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(e) => {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    self.closed = true;
                } else {
                    self.error = Some(anyhow::Error::from(e).context("writing to stdout"));
                }
                std::ops::ControlFlow::Break(())
            }
        }
    }
}
