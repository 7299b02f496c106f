//! `witness`: the collector's command line.
//!
//! Exit codes: 0 success; 1 any other error; 2 bad command line; 3 the
//! witness module is not loaded or went away; 4 the module speaks another ABI
//! version.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use witness::decode::{self, Event};
use witness::device::{Device, DeviceError, DEFAULT_DEVICE};
use witness::output::{Clock, Format, Printer};
use witness::sequence::{Observation, SequenceTracker};

#[derive(Parser)]
#[command(name = "witness", version, about = "Kernel telemetry for workload identity: the collector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the records the kernel module captures, as they arrive.
    Events(EventsArgs),
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
    /// Keep going across module reloads: wait for the device to appear, and
    /// when it goes away say so and wait for it to return.
    #[arg(long)]
    follow: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Events(args) => events(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("witness: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<DeviceError>() {
        Some(DeviceError::NotLoaded { .. } | DeviceError::Gone { .. }) => 3,
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
            let batch = decode_batch(&buf[..n], &args.device);
            for event in &batch {
                note_loss(&mut tracker, event);
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

/// Decodes one `read` batch and orders it by time (each ring is in order on
/// its own; a batch holds several rings one after the other).
fn decode_batch(bytes: &[u8], device: &Path) -> Vec<Event> {
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

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a usable number of seconds"))
}
