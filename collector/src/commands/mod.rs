//! The subcommands of `witness`, one module each, with their command-line
//! arguments; `main.rs` parses the command line and calls one of them.
//!
//! Exit codes: 0 success; 1 any other error (including a control request
//! refused for lack of CAP_SYS_ADMIN, and an invalid policy or inventory);
//! 2 bad command line; 3 the witness module is not loaded or went away;
//! 4 the module speaks another ABI version; 5 the evidence does not prove
//! what was asked (a log fails verification, a window is incomplete)
//! ([`exit_code`]).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use witness::source::decode::Event;
use witness::source::device::DeviceError;

pub(crate) mod configure;
pub(crate) mod drive;
pub(crate) mod events;
pub(crate) mod evidence;
pub(crate) mod identity;
pub(crate) mod policy;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod service;
pub(crate) mod status;

/// What judges events (shared by run and replay).
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct JudgeArgs {
    /// The identity inventory (TOML).
    #[arg(long)]
    pub(crate) inventory: Option<PathBuf>,
    /// Cedar policy files or directories (repeatable). Without any, every
    /// event is allowed by policy and only divergence raises outcomes.
    #[arg(long)]
    pub(crate) policy: Vec<PathBuf>,
    /// A candidate policy set (files or directories, repeatable) judged
    /// beside the active one and never acted on: evidence carries its
    /// outcome where it differs, witness_shadow_events_total counts it, and
    /// `witness shadow report` lists what it would change. SIGHUP reloads
    /// it; a bad one keeps the running shadow set.
    #[arg(long, value_name = "PATH")]
    pub(crate) shadow_policy: Vec<PathBuf>,
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
    /// Sign evidence checkpoints with this Ed25519 key (PKCS#8 PEM; created,
    /// mode 0600, if absent). Without it checkpoints are unsigned.
    #[arg(long, value_name = "FILE")]
    pub(crate) evidence_key: Option<PathBuf>,
    /// A checkpoint after at most this many evidence lines.
    #[arg(long, value_name = "LINES", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) evidence_checkpoint_lines: u64,
    /// A checkpoint at most this long after the last one, while lines are
    /// written.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub(crate) evidence_checkpoint_seconds: Duration,
    /// Most (identity, kind, outcome) metric series before new ones go to
    /// identity="_overflow".
    #[arg(long, default_value_t = 10_000)]
    pub(crate) series_budget: usize,
    /// Policy decisions cached at most (16 bytes each; the table starts at
    /// 4,096 and grows to this as the workloads ask new questions).
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

    /// The sinks for these arguments: the evidence log (opened, the chain
    /// picked up where it ended) and its checkpoints (the key loaded, or
    /// created and announced).
    pub(crate) fn sinks(&self) -> anyhow::Result<witness::sinks::Sinks> {
        use witness::evidence::chain::Signer;
        let evidence = self
            .evidence
            .as_ref()
            .map(|p| witness::sinks::evidence::EvidenceLog::open(p, self.evidence_policy()))
            .transpose()?;
        let signer = self.evidence_key.as_deref().map(Signer::load_or_create).transpose()?;
        if let Some(s) = signer.as_ref().filter(|s| s.created) {
            tracing::info!(
                "created the evidence key {} ({}); keep its public key: {}",
                s.path.display(),
                "mode 0600",
                s.name
            );
        }
        let mut sinks = witness::sinks::Sinks::new(evidence, None);
        sinks.checkpoints = witness::sinks::Checkpoints {
            signer,
            every_lines: self.evidence_checkpoint_lines,
            every: self.evidence_checkpoint_seconds,
        };
        Ok(sinks)
    }

    /// The active configuration and the shadow set, as at start: a bad
    /// shadow set is an error here (at reload it is refused and the
    /// running one kept).
    pub(crate) fn config(&self) -> anyhow::Result<witness::pipeline::Config> {
        let mut config = witness::pipeline::load_config(self.inventory.as_deref(), &self.policy, self.cache_entries)?;
        if !self.shadow_policy.is_empty() {
            let shadow = witness::policy::Policies::load(&self.shadow_policy)
                .map_err(|e| anyhow::anyhow!("--shadow-policy: {e}"))?;
            config.set_shadow(Some(shadow), self.cache_entries);
        }
        Ok(config)
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
/// went away, 4 when it speaks another ABI version, 5 when evidence does
/// not prove what was asked, else 1.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<evidence::Unproven>().is_some() {
        return 5;
    }
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
        // A daemon whose stderr is gone (a closed pipe, a full disk) goes
        // on: by default the subscriber reports its own write errors with
        // eprintln!, which panics when stderr fails.
        .log_internal_errors(false)
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
