//! `witness events`: print the records the module captures, as they
//! arrive, without judging them.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{parse_seconds, wanted};
use crate::config::control;
use crate::sinks::output::{Clock, Format, Printer};
use crate::source::decode::{self, Event};
use crate::source::device::{Device, DeviceError, DEFAULT_DEVICE};
use crate::source::sequence::{Observation, SequenceTracker};

/// Arguments of `witness events`.
#[derive(clap::Args)]
pub struct EventsArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    pub device: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit after printing this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Print only these kinds (comma-separated names, or "all"); the module
    /// still records everything it is configured to, and records of kinds
    /// newer than this collector are always printed.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    pub kinds: Option<u64>,
    /// Keep going across module reloads: wait for the device to appear, and
    /// when it goes away say so and wait for it to return.
    #[arg(long)]
    pub follow: bool,
}

/// Runs `witness events`.
pub fn run(args: &EventsArgs) -> anyhow::Result<()> {
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
