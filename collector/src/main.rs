//! `witness`: the collector's command line.
//!
//! Commands: `run` (the daemon: judge every event, export metrics, OTLP
//! and evidence), `events` (print records as they arrive), `status` (the
//! kernel's counters), `config` (what the kernel records), `record` and
//! `replay` (capture files; replay runs the whole pipeline),
//! `policy validate` (policies and inventory against the schema),
//! `identity explain` (which workload a process is).
//!
//! Exit codes: 0 success; 1 any other error (including a control request
//! refused for lack of CAP_SYS_ADMIN, and an invalid policy or inventory);
//! 2 bad command line; 3 the witness module is not loaded or went away;
//! 4 the module speaks another ABI version.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use witness::capture::{CaptureInfo, CaptureReader, CaptureWriter};
use witness::control::{self, Filter, FilterPath};
use witness::decode::{self, Event};
use witness::device::{Device, DeviceError, DEFAULT_DEVICE};
use witness::identity::{explain, Inventory, ProcessFacts};
use witness::output::{Clock, Format, Printer};
use witness::sequence::{Observation, SequenceTracker};
use witness::status::Status;
use witness_abi::ioctl::FilterOp;

#[derive(Parser)]
#[command(name = "witness", version, about = "Kernel telemetry for workload identity: the collector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon: judge every event against the inventory and policies;
    /// serve /metrics, export OTLP, write the evidence log.
    Run(RunArgs),
    /// Print the records the kernel module captures, as they arrive.
    Events(EventsArgs),
    /// Show the kernel's ring and hook counters and what it records.
    Status(StatusArgs),
    /// Change what the kernel records: kinds, filters, poll watermark
    /// (needs CAP_SYS_ADMIN).
    Config(ConfigArgs),
    /// Save the device's records to a capture file.
    Record(RecordArgs),
    /// Run a capture file through the whole pipeline (identity, policy,
    /// evidence, metrics) and print its events.
    Replay(ReplayArgs),
    /// Policy tools.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Workload identity tools.
    #[command(subcommand)]
    Identity(IdentityCommand),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check Cedar policies (and an inventory) against the witness schema;
    /// errors name file and line. Prints the schema with --schema.
    Validate {
        /// Policy files or directories of *.cedar files.
        policy: Vec<PathBuf>,
        /// Also check this inventory.
        #[arg(long)]
        inventory: Option<PathBuf>,
        /// Print the schema policies are checked against, and exit.
        #[arg(long)]
        schema: bool,
    },
}

/// What judges events (shared by run and replay).
#[derive(clap::Args, Clone)]
struct JudgeArgs {
    /// The identity inventory (TOML).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Cedar policy files or directories (repeatable). Without any, every
    /// event is allowed by policy and only divergence raises outcomes.
    #[arg(long)]
    policy: Vec<PathBuf>,
    /// Append evidence (non-allow events; all with --evidence-all) to this
    /// JSONL file.
    #[arg(long)]
    evidence: Option<PathBuf>,
    /// Write allow events to the evidence log too.
    #[arg(long)]
    evidence_all: bool,
    /// Rotate the evidence log at this size.
    #[arg(long, default_value_t = 64 << 20)]
    evidence_max_bytes: u64,
    /// Rotated evidence files to keep.
    #[arg(long, default_value_t = 4)]
    evidence_keep: u32,
    /// fsync the evidence log every N lines (0: no count; `run` syncs lines
    /// a second old, and every command syncs on rotation and exit).
    #[arg(long, default_value_t = 0)]
    evidence_sync_every: u32,
    /// Most (identity, kind, outcome) metric series before new ones go to
    /// identity="_overflow".
    #[arg(long, default_value_t = 10_000)]
    series_budget: usize,
    /// Policy decisions cached.
    #[arg(long, default_value_t = witness::policy::DEFAULT_CACHE_ENTRIES)]
    cache_entries: usize,
}

impl JudgeArgs {
    fn evidence_policy(&self) -> witness::sink::evidence::Policy {
        witness::sink::evidence::Policy {
            max_bytes: self.evidence_max_bytes,
            keep: self.evidence_keep,
            sync_every: self.evidence_sync_every,
        }
    }

    fn options(&self) -> witness::pipeline::Options {
        witness::pipeline::Options {
            series_budget: self.series_budget,
            evidence_all: self.evidence_all,
            ..Default::default()
        }
    }
}

#[derive(clap::Args)]
struct RunArgs {
    /// Read settings from this TOML file (keys are the long flags with `_`
    /// for `-`; flags given here win; see examples/witness.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    device: PathBuf,
    #[command(flatten)]
    judge: JudgeArgs,
    /// Serve /metrics here (loopback by default; another address must be
    /// given explicitly).
    #[arg(long, default_value = "127.0.0.1:9750", value_parser = witness::settings::parse_listen)]
    listen: std::net::SocketAddr,
    /// Do not serve /metrics.
    #[arg(long)]
    no_metrics: bool,
    /// Export logs and metrics over OTLP (also on when an
    /// OTEL_EXPORTER_OTLP_*ENDPOINT variable is set).
    #[arg(long)]
    otlp: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// How to read the rings: mmap (zero-copy), read (read(2)), or auto
    /// (mmap, falling back to read when mapping fails).
    #[arg(long, value_enum, default_value_t = witness::run::SourceMode::Auto)]
    source: witness::run::SourceMode,
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Show which inventory entry a running process is, and why.
    Explain {
        /// The process id.
        pid: u32,
        /// The identity inventory (TOML).
        #[arg(long)]
        inventory: PathBuf,
    },
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("stop").required(true).multiple(true).args(["count", "duration"])))]
struct RecordArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    device: PathBuf,
    /// The capture file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Stop after at least this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    duration: Option<Duration>,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Capture files, replayed in order through one pipeline (the process
    /// table, caches and counters carry over; sequence numbers restart per
    /// file). Each file's record count and CPU time go to stderr.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    judge: JudgeArgs,
    /// Print only judged events whose outcome is not allow (JSON: the
    /// evidence records).
    #[arg(long)]
    evidence_only: bool,
    /// Print the verdict table per identity at the end (to stdout).
    #[arg(long)]
    summary: bool,
    /// Write the final metrics (OpenMetrics text) to this file.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Print only these kinds (comma-separated names, or "all"); records of
    /// kinds newer than this collector are always printed.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    kinds: Option<u64>,
    /// Print no events (the sinks, --summary and --metrics still work).
    #[arg(long, conflicts_with_all = ["evidence_only", "kinds"])]
    quiet: bool,
    /// The capture was made on this host and its processes' executables are
    /// still here: read /proc and executables for digests. Off by default,
    /// since this host's files say nothing about another host's processes.
    #[arg(long)]
    read_host_files: bool,
}

#[derive(clap::Args)]
struct StatusArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    device: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(clap::Args)]
#[command(
    group(clap::ArgGroup::new("change").required(true).multiple(true).args([
        "kinds", "watermark", "cgroup_include", "cgroup_exclude", "uid_include", "uid_exclude",
        "path_prefix", "secret_path", "clear", "reset_counters",
    ])),
    after_help = "Changes apply in this order: kinds and watermark, --clear, additions, --reset-counters.\n\
                  Examples:\n  \
                  witness config --kinds exec,fork,file_open --watermark 4096\n  \
                  witness config --clear path-prefix --path-prefix /srv --secret-path /etc/shadow\n\
                  `witness status` shows the result."
)]
struct ConfigArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    device: PathBuf,
    /// Record only these kinds (comma-separated names, or "all"); replaces the current set.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    kinds: Option<u64>,
    /// Wake pollers once a ring holds this many unread bytes (1 to half a ring).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..))]
    watermark: Option<u32>,
    /// Record only tasks in this cgroup (v2 id: the inode number of its directory); repeatable.
    #[arg(long, value_name = "ID")]
    cgroup_include: Vec<u64>,
    /// Never record tasks in this cgroup; repeatable.
    #[arg(long, value_name = "ID")]
    cgroup_exclude: Vec<u64>,
    /// Record only this (real) uid; repeatable.
    #[arg(long, value_name = "UID")]
    uid_include: Vec<u32>,
    /// Never record this uid; repeatable.
    #[arg(long, value_name = "UID")]
    uid_exclude: Vec<u32>,
    /// Record file events only at or under this absolute path (whole components); repeatable.
    #[arg(long, value_name = "PATH")]
    path_prefix: Vec<FilterPath>,
    /// Flag opens of this absolute path (or under it) as credential material, always recorded; repeatable.
    #[arg(long, value_name = "PATH")]
    secret_path: Vec<FilterPath>,
    /// Empty a filter (before any additions); repeatable.
    #[arg(long, value_name = "FILTER", value_enum)]
    clear: Vec<Filter>,
    /// Zero the kernel's counters (sequence numbers stay).
    #[arg(long)]
    reset_counters: bool,
}

#[derive(clap::Args)]
struct EventsArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    device: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit after printing this many events.
    #[arg(long)]
    count: Option<u64>,
    /// Exit after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// Print only these kinds (comma-separated names, or "all"); the module
    /// still records everything it is configured to, and records of kinds
    /// newer than this collector are always printed.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    kinds: Option<u64>,
    /// Keep going across module reloads: wait for the device to appear, and
    /// when it goes away say so and wait for it to return.
    #[arg(long)]
    follow: bool,
}

/// mimalloc: the pipeline frees each batch's events together, more than
/// glibc's per-thread cache holds, and its slow path showed in the profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let explicit = explicit_run_flags(&matches);
    let result = match cli.command {
        Command::Events(args) => events(&args),
        Command::Status(args) => show_status(&args),
        Command::Config(args) => configure(&args),
        Command::Record(args) => record(&args),
        Command::Replay(args) => replay(&args),
        Command::Run(args) => run(args, &explicit),
        Command::Policy(PolicyCommand::Validate { policy, inventory, schema }) => {
            validate_policy(&policy, inventory.as_deref(), schema)
        }
        Command::Identity(IdentityCommand::Explain { pid, inventory }) => explain_identity(pid, &inventory),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("witness: error: {}", describe(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The error and its causes, each said once (library errors already name
/// their cause in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if !out.contains(&msg) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&msg);
        }
    }
    out
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<DeviceError>() {
        Some(DeviceError::NotLoaded { .. } | DeviceError::ShuttingDown { .. } | DeviceError::Gone { .. }) => 3,
        Some(DeviceError::AbiMismatch { .. }) => 4,
        _ => 1,
    }
}

fn events(args: &EventsArgs) -> anyhow::Result<()> {
    let stdout = io::stdout().lock();
    let mut printer = Printer::new(BufWriter::new(stdout), args.format, Clock::now());
    let mut tracker = SequenceTracker::default();
    let mut buf = vec![0u8; Device::batch_size()];
    let mut printed = 0u64;
    let deadline = args.duration.map(|d| Instant::now() + d);
    loop {
        let device = match Device::open(&args.device) {
            Ok(d) => d,
            Err(e) if args.follow && e.is_absent() => {
                if !wait_for_device(&args.device, deadline) {
                    return finish(&mut printer, &tracker);
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let info = device.info();
        eprintln!(
            "witness: reading {} (ABI {}, {} rings of {} KiB)",
            args.device.display(),
            info.abi_version,
            info.nr_rings,
            info.ring_data_size / 1024
        );
        tracker.reset();
        loop {
            let n = match device.read_batch(&mut buf, deadline) {
                Ok(0) => return finish(&mut printer, &tracker),
                Ok(n) => n,
                Err(e @ DeviceError::Gone { .. }) if args.follow => {
                    eprintln!("witness: {e}; waiting for it to be loaded again");
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            let batch = decode_batch(&buf[..n], &args.device, &mut tracker);
            // A batch takes at most a poll period: the offset is measured
            // again per batch, so a clock step moves Unix times with it.
            printer.set_clock(Clock::now());
            for event in &batch {
                if !wanted(args.kinds, event) {
                    continue;
                }
                if !print(&mut printer, event)? {
                    return Ok(());
                }
                printed += 1;
                if args.count.is_some_and(|c| printed >= c) {
                    return finish(&mut printer, &tracker);
                }
            }
            if !flush(&mut printer)? {
                return Ok(());
            }
        }
    }
}

/// Decodes one `read` batch, checks its sequence numbers in arrival order,
/// and orders it by time (a batch holds several rings one after the other).
fn decode_batch(bytes: &[u8], device: &Path, tracker: &mut SequenceTracker) -> Vec<Event> {
    let mut events = Vec::new();
    for record in decode::records(bytes) {
        match record {
            Ok(event) => events.push(event),
            Err(e) => {
                eprintln!("witness: malformed batch from {}: {e}; skipping the rest of it", device.display());
                break;
            }
        }
    }
    for event in &events {
        note_loss(tracker, event);
    }
    events.sort_by_key(|e| e.meta().ts_ns);
    events
}

fn record(args: &RecordArgs) -> anyhow::Result<()> {
    let device = Device::open(&args.device)?;
    let uname = rustix::system::uname();
    let info = CaptureInfo {
        abi_version: device.info().abi_version,
        boot_to_unix_ns: i64::try_from(Clock::now().unix_ns(0)).unwrap_or(0),
        kernel: uname.release().to_string_lossy().into_owned(),
        host: uname.nodename().to_string_lossy().into_owned(),
    };
    let mut writer = CaptureWriter::create(&args.output, &info)?;
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut buf = vec![0u8; Device::batch_size()];
    let mut records = 0u64;
    while args.count.is_none_or(|c| records < c) {
        let n = device.read_batch(&mut buf, deadline)?;
        if n == 0 {
            break;
        }
        writer.write_batch(&buf[..n])?;
        records += decode::records(&buf[..n]).count() as u64;
    }
    writer.finish()?;
    eprintln!("witness: recorded {records} records to {}", args.output.display());
    Ok(())
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    use witness::pipeline::{load_config, Pipeline};
    use witness::run::Sinks;
    let config = load_config(args.judge.inventory.as_deref(), &args.judge.policy, args.judge.cache_entries)?;
    // Open every file first: a bad header is reported before any work.
    let mut readers =
        args.files.iter().map(|f| CaptureReader::open(f).map(|r| (f, r))).collect::<Result<Vec<_>, _>>()?;
    let clock = Clock::with_offset(readers[0].1.info().boot_to_unix_ns);
    let evidence = args
        .judge
        .evidence
        .as_ref()
        .map(|p| witness::sink::evidence::EvidenceLog::open(p, args.judge.evidence_policy()))
        .transpose()?;
    let mut sinks = Sinks::new(evidence, None);
    let options = witness::pipeline::Options {
        read_host_files: args.read_host_files,
        // Printed events show their deciding policies.
        keep_policies: !args.quiet,
        ..args.judge.options()
    };
    let mut pipeline = Pipeline::new(config, options, clock);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let mut damaged = Vec::new();
    for (n, (file, reader)) in readers.iter_mut().enumerate() {
        let info = reader.info().clone();
        eprintln!("witness: replaying {} (kernel {}, host {})", file.display(), info.kernel, info.host);
        let clock = Clock::with_offset(info.boot_to_unix_ns);
        if n > 0 {
            pipeline.next_source(clock);
        }
        let mut printer = Printer::new(Vec::new(), args.format, clock);
        let cpu = thread_cpu_time();
        let (records, damage) = match replay_file(args, reader, &mut pipeline, &mut sinks, &mut printer, &mut out)? {
            Some(replayed) => replayed,
            None => return Ok(()), // stdout closed
        };
        let cpu = thread_cpu_time().saturating_sub(cpu).as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = if cpu > 0.0 { records as f64 / cpu } else { 0.0 };
        eprintln!("witness: replayed {}: {records} records in {cpu:.3} s of CPU ({rate:.0} records/s)", file.display());
        if let Some(e) = damage {
            // What came before the damage is judged; the rest of this file
            // is not read. The other files and the summary still follow.
            eprintln!("witness: {e}; the rest of {} was not replayed", file.display());
            damaged.push(file.display().to_string());
        }
    }
    sinks.sync(&mut pipeline);
    sinks.publish(&mut pipeline, true);
    if args.summary {
        out.write_all(sinks.verdict_table().as_bytes())?;
    }
    out.flush()?;
    if let Some(path) = &args.metrics {
        witness::run::write_metrics(&sinks.shared, path)?;
    }
    if pipeline.lost() > 0 {
        eprintln!("witness: {} records lost in all (sequence gaps)", pipeline.lost());
    }
    if !damaged.is_empty() {
        anyhow::bail!("damaged capture: {} (replayed up to the damage)", damaged.join(", "));
    }
    Ok(())
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    // CAST: the clock's fields are non-negative.
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Replays one capture; the records read, or None when stdout was closed.
fn replay_file(
    args: &ReplayArgs,
    reader: &mut CaptureReader,
    pipeline: &mut witness::pipeline::Pipeline,
    sinks: &mut witness::run::Sinks,
    printer: &mut Printer<Vec<u8>>,
    out: &mut impl Write,
) -> anyhow::Result<Option<(u64, Option<witness::capture::CaptureError>)>> {
    let mut records = 0u64;
    let mut batch = Vec::new();
    let mut damage = None;
    while damage.is_none() {
        batch.clear();
        // On damage, the batch holds the records before it: judge those,
        // then stop.
        damage = reader.next_batch_into(&mut batch).err();
        if batch.is_empty() && (damage.is_some() || reader.is_done()) {
            break;
        }
        records += batch.len() as u64;
        pipeline.track(&batch);
        for event in decode::by_time(&batch) {
            let judged = sinks.handle(pipeline, event);
            if args.quiet {
                continue;
            }
            if args.evidence_only && judged.as_ref().is_none_or(|(j, _)| !pipeline.is_evidence(j)) {
                continue;
            }
            if !wanted(args.kinds, event) {
                continue;
            }
            let written = match (args.format, judged) {
                (Format::Json, Some((j, record))) => {
                    let record = record.unwrap_or_else(|| pipeline.evidence(event, &j));
                    serde_json::to_writer(&mut *out, &record)
                        .map_err(io::Error::from)
                        .and_then(|()| out.write_all(b"\n"))
                }
                _ => printer.print(event).and_then(|()| {
                    let bytes = std::mem::take(printer.get_mut());
                    out.write_all(&bytes)
                }),
            };
            if let Err(e) = written {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    return Ok(None);
                }
                return Err(e.into());
            }
        }
    }
    Ok(Some((records, damage)))
}

fn run(mut args: RunArgs, explicit: &[String]) -> anyhow::Result<()> {
    init_logging();
    let mut settings_file = None;
    if let Some(path) = &args.config {
        let settings = witness::settings::Settings::load(path)?;
        settings_file = Some(witness::settings::SettingsFile {
            path: path.clone(),
            explicit: explicit.to_vec(),
            base: witness::settings::JudgeSources {
                inventory: args.judge.inventory.clone(),
                policy: args.judge.policy.clone(),
                cache_entries: args.judge.cache_entries,
            },
            at_start: settings.clone(),
        });
        merge_settings(&mut args, settings, explicit);
    }
    witness::run::run(witness::run::RunOptions {
        device: args.device,
        inventory: args.judge.inventory.clone(),
        policies: args.judge.policy.clone(),
        evidence: args.judge.evidence.clone(),
        evidence_policy: args.judge.evidence_policy(),
        listen: (!args.no_metrics).then_some(args.listen),
        otlp: args.otlp || witness::sink::otlp::configured(),
        options: args.judge.options(),
        cache_entries: args.judge.cache_entries,
        duration: args.duration,
        source: args.source,
        settings_file,
    })
}

/// Which `run` flags were given on the command line (they win over the
/// settings file).
fn explicit_run_flags(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .subcommand_matches("run")
        .map(|m| {
            m.ids()
                .filter(|id| m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
                .map(|id| id.as_str().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Fills `args` from the settings file where the command line said nothing
/// (`explicit` holds the ids of flags given on the command line).
fn merge_settings(args: &mut RunArgs, s: witness::settings::Settings, explicit: &[String]) {
    fn take<T>(explicit: &[String], id: &str, from_file: Option<T>, into: &mut T) {
        if let Some(v) = from_file {
            if !explicit.iter().any(|e| e == id) {
                *into = v;
            }
        }
    }
    let j = &mut args.judge;
    take(explicit, "device", s.device, &mut args.device);
    take(explicit, "inventory", s.inventory.map(Some), &mut j.inventory);
    take(explicit, "policy", s.policy, &mut j.policy);
    take(explicit, "evidence", s.evidence.map(Some), &mut j.evidence);
    take(explicit, "evidence_all", s.evidence_all, &mut j.evidence_all);
    take(explicit, "evidence_max_bytes", s.evidence_max_bytes, &mut j.evidence_max_bytes);
    take(explicit, "evidence_keep", s.evidence_keep, &mut j.evidence_keep);
    take(explicit, "evidence_sync_every", s.evidence_sync_every, &mut j.evidence_sync_every);
    take(explicit, "series_budget", s.series_budget, &mut j.series_budget);
    take(explicit, "cache_entries", s.cache_entries, &mut j.cache_entries);
    take(explicit, "listen", s.listen, &mut args.listen);
    take(explicit, "no_metrics", s.metrics.map(|m| !m), &mut args.no_metrics);
    take(explicit, "otlp", s.otlp, &mut args.otlp);
    take(explicit, "source", s.source, &mut args.source);
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WITNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}

fn validate_policy(policy: &[PathBuf], inventory: Option<&Path>, schema: bool) -> anyhow::Result<()> {
    if schema {
        print!("{}", witness::policy::SCHEMA);
        return Ok(());
    }
    if policy.is_empty() && inventory.is_none() {
        anyhow::bail!("nothing to validate: give policy files or directories, and/or --inventory");
    }
    let inv = inventory.map(Inventory::load).transpose()?;
    if let (Some(path), Some(inv)) = (inventory, &inv) {
        println!("{}: {} workloads", path.display(), inv.workloads().len());
    }
    if !policy.is_empty() {
        let policies = witness::policy::Policies::load(policy)?;
        println!("{} policies valid against the witness schema", policies.len());
        if let Some(inv) = &inv {
            for warning in witness::pipeline::unknown_workloads(inv, &policies) {
                println!("warning: {warning}");
            }
        }
    }
    Ok(())
}

fn explain_identity(pid: u32, inventory: &Path) -> anyhow::Result<()> {
    let inventory = Inventory::load(inventory)?;
    let facts = ProcessFacts::read(Path::new("/proc"), pid)?;
    print!("{}", explain::explain(&inventory, &facts));
    Ok(())
}

fn wanted(kinds: Option<u64>, event: &Event) -> bool {
    match (kinds, event.kind()) {
        (Some(mask), Some(kind)) => mask & kind.mask_bit() != 0,
        _ => true,
    }
}

fn show_status(args: &StatusArgs) -> anyhow::Result<()> {
    let device = Device::open(&args.device)?;
    let (cpus, hooks) = device.stats()?;
    let status = Status { cpus, hooks, config: device.config()? };
    let mut out = io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", status.to_json())?,
        Format::Table => status.write_table(&mut out)?,
    }
    Ok(())
}

fn configure(args: &ConfigArgs) -> anyhow::Result<()> {
    let device = Device::open(&args.device)?;
    if args.kinds.is_some() || args.watermark.is_some() {
        let mut config = device.config()?;
        if let Some(watermark) = args.watermark {
            control::check_watermark(watermark, device.info().ring_data_size)?;
            config.watermark = watermark;
        }
        config.kind_mask = args.kinds.unwrap_or(config.kind_mask);
        device.set_config(&config)?;
        eprintln!("witness: now recording {}", control::describe_config(&config));
    }
    for filter in &args.clear {
        device.filter(&filter.clear())?;
    }
    for op in filter_additions(args) {
        device.filter(&op)?;
    }
    if args.reset_counters {
        device.reset_counters()?;
    }
    Ok(())
}

/// The filter values `witness config` adds.
fn filter_additions(args: &ConfigArgs) -> Vec<FilterOp> {
    let mut ops = Vec::new();
    ops.extend(args.cgroup_include.iter().map(|id| Filter::CgroupInclude.add_value(*id)));
    ops.extend(args.cgroup_exclude.iter().map(|id| Filter::CgroupExclude.add_value(*id)));
    ops.extend(args.uid_include.iter().map(|uid| Filter::UidInclude.add_value(u64::from(*uid))));
    ops.extend(args.uid_exclude.iter().map(|uid| Filter::UidExclude.add_value(u64::from(*uid))));
    ops.extend(args.path_prefix.iter().map(|path| Filter::PathPrefix.add_path(path)));
    ops.extend(args.secret_path.iter().map(|path| Filter::SecretPath.add_path(path)));
    ops
}

fn note_loss(tracker: &mut SequenceTracker, event: &Event) {
    let m = event.meta();
    if let Observation::Gap { missing } = tracker.observe(m.cpu, m.seq) {
        eprintln!("witness: {missing} records lost on CPU {} before sequence {}", m.cpu, m.seq);
    }
}

/// Prints one event; false when stdout is closed (a pipe reader went away).
fn print<W: Write>(printer: &mut Printer<W>, event: &Event) -> anyhow::Result<bool> {
    match printer.print(event) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing events to stdout"),
    }
}

fn flush<W: Write>(printer: &mut Printer<W>) -> anyhow::Result<bool> {
    match printer.flush() {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing events to stdout"),
    }
}

fn finish<W: Write>(printer: &mut Printer<W>, tracker: &SequenceTracker) -> anyhow::Result<()> {
    flush(printer)?;
    if tracker.lost() > 0 {
        eprintln!("witness: {} records were lost in the kernel (ring full or nested hooks)", tracker.lost());
    }
    Ok(())
}

/// Waits for the device node to appear; false if the deadline passed first.
fn wait_for_device(path: &Path, deadline: Option<Instant>) -> bool {
    eprintln!("witness: waiting for {} (load the witness module)", path.display());
    while !path.exists() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a usable number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    #[test]
    fn command_line_flags_win_over_the_settings_file() {
        let matches = Cli::command()
            .try_get_matches_from([
                "witness",
                "run",
                "--config",
                "/etc/w.toml",
                "--evidence-keep",
                "9",
                "--policy",
                "/p",
            ])
            .unwrap();
        let explicit = explicit_run_flags(&matches);
        let Command::Run(mut args) = Cli::from_arg_matches(&matches).unwrap().command else { panic!("not run") };
        let settings = witness::settings::Settings::parse(
            "evidence_keep = 2\nevidence_max_bytes = 1000\npolicy = [\"pol\"]\nmetrics = false\ninventory = \"inv.toml\"\n",
            Path::new("/etc/w.toml"),
        )
        .unwrap();
        merge_settings(&mut args, settings, &explicit);
        assert_eq!(args.judge.evidence_keep, 9, "flag wins");
        assert_eq!(args.judge.policy, vec![PathBuf::from("/p")], "flag wins");
        assert_eq!(args.judge.evidence_max_bytes, 1000, "file wins over the default");
        assert_eq!(args.judge.inventory.as_deref(), Some(Path::new("/etc/inv.toml")));
        assert!(args.no_metrics);
        assert_eq!(args.listen.to_string(), "127.0.0.1:9750", "default stays");
    }

    #[test]
    fn a_host_name_as_listen_address_gets_a_hint() {
        let err = parse(&["run", "--listen", "localhost:9750"]).err().expect("refused").to_string();
        assert!(err.contains("not resolved") && err.contains("127.0.0.1:9750"), "{err}");
    }
    use witness::decode::{Body, Meta};
    use witness_abi::ioctl::{FILTER_ADD, FILTER_PATH_PREFIX, FILTER_SECRET_PATH, FILTER_UID_EXCLUDE};
    use witness_abi::record::{ForkRecord, RecordKind};
    use zerocopy::FromZeros;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("witness").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_needs_a_change_and_valid_values() {
        assert!(parse(&["config"]).is_err());
        assert!(parse(&["config", "--device", "/dev/witness"]).is_err());
        for bad in [
            &["config", "--kinds", "exec,nope"][..],
            &["config", "--watermark", "0"],
            &["config", "--path-prefix", "relative"],
            &["config", "--clear", "everything"],
            &["config", "--uid-exclude", "-1"],
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn config_turns_flags_into_filter_ops() {
        let cli = parse(&[
            "config",
            "--uid-exclude",
            "1234",
            "--path-prefix",
            "/opt/watched",
            "--secret-path",
            "/etc/shadow",
            "--clear",
            "path-prefix",
            "--kinds",
            "all",
        ])
        .unwrap();
        let Command::Config(args) = cli.command else { panic!() };
        assert_eq!(args.kinds, Some(control::all_kinds()));
        assert_eq!(args.clear, [Filter::PathPrefix]);
        let ops: Vec<(u32, u32, u64, u32)> =
            filter_additions(&args).iter().map(|op| (op.op, op.filter, op.value, op.path_len)).collect();
        assert_eq!(
            ops,
            [
                (FILTER_ADD, FILTER_UID_EXCLUDE, 1234, 0),
                (FILTER_ADD, FILTER_PATH_PREFIX, 0, 12),
                (FILTER_ADD, FILTER_SECRET_PATH, 0, 11)
            ]
        );
    }

    #[test]
    fn events_filter_kinds_on_the_client() {
        let cli = parse(&["events", "--kinds", "exec,file_open"]).unwrap();
        let Command::Events(args) = cli.command else { panic!() };
        let event = |wire_kind: u16, body: Body| Event { meta: Meta { cpu: 0, seq: 0, ts_ns: 0 }, wire_kind, body };
        let fork = ForkRecord::new_zeroed();
        assert!(!wanted(args.kinds, &event(RecordKind::Fork as u16, Body::Fork(fork))));
        assert!(wanted(None, &event(RecordKind::Fork as u16, Body::Fork(fork))));
        // Kinds newer than this collector are never hidden.
        assert!(wanted(args.kinds, &event(0xee, Body::Unknown)));
    }
}
