//! `witness replay`: capture files through the whole pipeline (identity,
//! policy, evidence, metrics), printing their events.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::{wanted, JudgeArgs};
use crate::config::control;
use crate::sinks::output::{Clock, Format, Printer};
use crate::source::capture::CaptureReader;
use crate::source::decode;

/// Arguments of `witness replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Capture files, replayed in order through one pipeline (the process
    /// table, caches and counters carry over; sequence numbers restart per
    /// file). Each file's record count and CPU time go to stderr.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Print only judged events whose outcome is not allow (JSON: the
    /// evidence records).
    #[arg(long)]
    pub evidence_only: bool,
    /// Print the verdict table per identity at the end (to stdout).
    #[arg(long)]
    pub summary: bool,
    /// Write the final metrics (OpenMetrics text) to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print only these kinds (comma-separated names, or "all"); records of
    /// kinds newer than this collector are always printed.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    pub kinds: Option<u64>,
    /// Print no events (the sinks, --summary and --metrics still work).
    #[arg(long, conflicts_with_all = ["evidence_only", "kinds"])]
    pub quiet: bool,
    /// The capture was made on this host and its processes' executables are
    /// still here: read /proc, executables (for digests) and the cgroup
    /// hierarchy (for cgroup paths, containers and pods). Off by default,
    /// since this host's files say nothing about another host's processes.
    #[arg(long)]
    pub read_host_files: bool,
}

/// Runs `witness replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    use crate::internal;
    use crate::pipeline::{load_config, Pipeline};
    use crate::sinks::Sinks;
    let config = load_config(args.judge.inventory.as_deref(), &args.judge.policy, args.judge.cache_entries)?;
    // Open every file first: a bad header is reported before any work.
    let mut readers =
        args.files.iter().map(|f| CaptureReader::open(f).map(|r| (f, r))).collect::<Result<Vec<_>, _>>()?;
    let clock = Clock::with_offset(readers[0].1.info().boot_to_unix_ns);
    let evidence = args
        .judge
        .evidence
        .as_ref()
        .map(|p| crate::sinks::evidence::EvidenceLog::open(p, args.judge.evidence_policy()))
        .transpose()?;
    let mut sinks = Sinks::new(evidence, None);
    let options = crate::pipeline::Options {
        read_host_files: args.read_host_files,
        // A capture's cgroup ids are its host's.
        cgroup_root: args.read_host_files.then(|| "/sys/fs/cgroup".into()),
        // Printed events show their deciding policies.
        keep_policies: !args.quiet,
        ..args.judge.options()
    };
    let mut pipeline = Pipeline::new(config, options, clock);
    sinks.emit(&mut pipeline, internal::Started { command: "replay" });
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
            sinks.emit(
                &mut pipeline,
                internal::CaptureDamaged { file: file.display().to_string(), error: e.to_string() },
            );
        }
    }
    let lost = pipeline.lost();
    sinks.emit(&mut pipeline, internal::Stopped { lost });
    sinks.sync(&mut pipeline);
    sinks.publish(&mut pipeline, true);
    if args.summary {
        out.write_all(sinks.verdict_table().as_bytes())?;
    }
    out.flush()?;
    if let Some(path) = &args.metrics {
        crate::commands::run::write_metrics(&sinks.shared, path)?;
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
    pipeline: &mut crate::pipeline::Pipeline,
    sinks: &mut crate::sinks::Sinks,
    printer: &mut Printer<Vec<u8>>,
    out: &mut impl Write,
) -> anyhow::Result<Option<(u64, Option<crate::source::capture::CaptureError>)>> {
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
            if args.evidence_only && judged.as_ref().is_none_or(|j| !pipeline.is_evidence(j)) {
                continue;
            }
            if !wanted(args.kinds, event) {
                continue;
            }
            let written = match (args.format, judged) {
                (Format::Json, Some(j)) => serde_json::to_writer(&mut *out, &pipeline.evidence(event, &j))
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n")),
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
