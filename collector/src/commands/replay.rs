//! `witness replay`: capture files through the whole pipeline (identity,
//! policy, evidence, metrics), printing their events.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use std::ops::ControlFlow;

use super::drive::{drive, Batches, Ended, Handler, Next};
use super::{wanted, JudgeArgs, Stdout};
use witness::config::control;
use witness::pipeline::Pipeline;
use witness::sinks::output::{Clock, Format, Printer};
use witness::sinks::Sinks;
use witness::source::capture::CaptureReader;
use witness::source::decode::Event;

/// Arguments of `witness replay`.
#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    /// Capture files, replayed in order through one pipeline (the process
    /// table, caches and counters carry over; sequence numbers restart per
    /// file). Each file's record count and CPU time go to stderr.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) judge: JudgeArgs,
    /// Print only judged events whose outcome is not allow (JSON: the
    /// evidence records).
    #[arg(long)]
    pub(crate) evidence_only: bool,
    /// Print the verdict table per identity at the end (to stdout).
    #[arg(long)]
    pub(crate) summary: bool,
    /// Write the final metrics (OpenMetrics text) to this file.
    #[arg(long)]
    pub(crate) metrics: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Print only these kinds (comma-separated names, or "all"); records of
    /// kinds newer than this collector are always printed.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    pub(crate) kinds: Option<u64>,
    /// Print no events (the sinks, --summary and --metrics still work).
    #[arg(long, conflicts_with_all = ["evidence_only", "kinds"])]
    pub(crate) quiet: bool,
    /// The capture was made on this host and its processes' executables are
    /// still here: read /proc, executables (for digests) and the cgroup
    /// hierarchy (for cgroup paths, containers and pods). Off by default,
    /// since this host's files say nothing about another host's processes.
    #[arg(long)]
    pub(crate) read_host_files: bool,
}

/// Runs `witness replay`.
pub(crate) fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    use witness::internal;
    let config = args.judge.config()?;
    // Open every file first: a bad header is reported before any work.
    let mut readers =
        args.files.iter().map(|f| CaptureReader::open(f).map(|r| (f, r))).collect::<Result<Vec<_>, _>>()?;
    let clock = Clock::with_offset(readers[0].1.info().boot_to_unix_ns);
    let mut sinks = args.judge.sinks()?;
    let options = witness::pipeline::Options {
        read_host_files: args.read_host_files,
        // A capture's cgroup ids are its host's.
        cgroup_root: args.read_host_files.then(|| "/sys/fs/cgroup".into()),
        // Printed events show their deciding policies.
        keep_policies: !args.quiet,
        ..args.judge.options()
    };
    let mut pipeline = Pipeline::new(config, options, clock);
    sinks.started(&mut pipeline, "replay");
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
        pipeline.set_host(info.host.clone());
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
        witness::sinks::endpoint::write_metrics(&sinks.shared, path)?;
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

/// Replays one capture; the records read and the damage that stopped it,
/// or None when stdout was closed.
fn replay_file(
    args: &ReplayArgs,
    reader: &mut CaptureReader,
    pipeline: &mut Pipeline,
    sinks: &mut Sinks,
    printer: &mut Printer<Vec<u8>>,
    out: &mut dyn Write,
) -> anyhow::Result<Option<(u64, Option<anyhow::Error>)>> {
    let mut judge = Judge { args, pipeline, sinks, printer, out, records: 0, stdout: Stdout::default() };
    let ended = drive(&mut Capture(reader), &mut judge, &|| false)?;
    if let Some(e) = judge.stdout.error {
        return Err(e);
    }
    if judge.stdout.closed {
        return Ok(None);
    }
    let damage = match ended {
        Ended::Damaged(e) => Some(e),
        _ => None,
    };
    Ok(Some((judge.records, damage)))
}

/// A capture's batches.
struct Capture<'a>(&'a mut CaptureReader);

impl Batches for Capture<'_> {
    fn next(&mut self, out: &mut Vec<Event>) -> anyhow::Result<Next> {
        // On damage, the batch holds the records before it: those are
        // judged, then the file ends.
        // The file ends with an empty batch: a reader whose buffer is
        // empty after a batch may still have the rest of the file to read.
        Ok(match self.0.next_batch_into(out) {
            Err(e) => Next::Damaged(e.into()),
            Ok(()) if out.is_empty() && self.0.is_done() => Next::End,
            Ok(()) => Next::More,
        })
    }
}

/// Judges every event and prints the wanted ones.
struct Judge<'a> {
    args: &'a ReplayArgs,
    pipeline: &'a mut Pipeline,
    sinks: &'a mut Sinks,
    printer: &'a mut Printer<Vec<u8>>,
    out: &'a mut dyn Write,
    records: u64,
    stdout: Stdout,
}

impl Handler<Capture<'_>> for Judge<'_> {
    fn arrived(&mut self, events: &[Event]) {
        self.records += events.len() as u64;
        self.pipeline.track(events);
    }

    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        let args = self.args;
        let judged = self.sinks.handle(self.pipeline, event);
        if args.quiet
            || (args.evidence_only && judged.as_ref().is_none_or(|j| !self.pipeline.is_evidence(j)))
            || !wanted(args.kinds, event)
        {
            return ControlFlow::Continue(());
        }
        let out = &mut *self.out;
        let written = match (args.format, judged) {
            (Format::Json, Some(j)) => serde_json::to_writer(&mut *out, &self.pipeline.evidence(event, &j))
                .map_err(io::Error::from)
                .and_then(|()| out.write_all(b"\n")),
            _ => self.printer.print(event).and_then(|()| out.write_all(&std::mem::take(self.printer.get_mut()))),
        };
        self.stdout.wrote(written)
    }
}
