//! `witness events`: print the records the module captures, as they
//! arrive, without judging them.

use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::drive::{drive, Batches, Ended, Handler, Next};
use super::{parse_seconds, wanted, Stdout};
use witness::config::control;
use witness::sinks::output::{Clock, Format, Printer};
use witness::source::decode::{self, Event};
use witness::source::device::{Device, DeviceError, DEFAULT_DEVICE};
use witness::source::sequence::{Observation, SequenceTracker};

/// Arguments of `witness events`.
#[derive(clap::Args)]
pub(crate) struct EventsArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    pub(crate) device: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Exit after printing this many events.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Exit after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) duration: Option<Duration>,
    /// Print only these kinds (comma-separated names, or "all"); the module
    /// still records everything it is configured to, and records of kinds
    /// newer than this collector are always printed.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    pub(crate) kinds: Option<u64>,
    /// Keep going across module reloads: wait for the device to appear, and
    /// when it goes away say so and wait for it to return.
    #[arg(long)]
    pub(crate) follow: bool,
}

/// Runs `witness events`.
pub(crate) fn run(args: &EventsArgs) -> anyhow::Result<()> {
    let stdout = io::stdout().lock();
    let mut print = Print {
        printer: Printer::new(BufWriter::new(stdout), args.format, Clock::now()),
        tracker: SequenceTracker::default(),
        kinds: args.kinds,
        count: args.count,
        printed: 0,
        stdout: Stdout::default(),
    };
    let deadline = args.duration.map(|d| Instant::now() + d);
    loop {
        let device = match Device::open(&args.device) {
            Ok(d) => d,
            Err(e) if args.follow && e.is_absent() => {
                if !wait_for_device(&args.device, deadline) {
                    return print.finish();
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
        print.tracker.reset();
        let mut source = Reads { device, buf: vec![0u8; Device::batch_size()], deadline };
        match drive(&mut source, &mut print, &|| false)? {
            Ended::Gone(e) if args.follow => eprintln!("witness: {e}; waiting for it to be loaded again"),
            Ended::Gone(e) => return Err(e.into()),
            Ended::Damaged(e) => return Err(e),
            Ended::End => return print.finish(),
            Ended::Stopped => {
                return match print.stdout.error.take() {
                    Some(e) => Err(e),
                    None if print.stdout.closed => Ok(()),
                    None => print.finish(),
                };
            }
        }
    }
}

/// `read(2)` batches of the device until a deadline.
struct Reads {
    device: Device,
    buf: Vec<u8>,
    deadline: Option<Instant>,
}

impl Batches for Reads {
    fn next(&mut self, out: &mut Vec<Event>) -> anyhow::Result<Next> {
        let n = match self.device.read_batch(&mut self.buf, self.deadline) {
            Ok(0) => return Ok(Next::End),
            Ok(n) => n,
            Err(e @ DeviceError::Gone { .. }) => return Ok(Next::Gone(e)),
            Err(e) => return Err(e.into()),
        };
        for record in decode::records(&self.buf[..n]) {
            match record {
                Ok(event) => out.push(event),
                Err(e) => {
                    let device = self.device.path().display();
                    eprintln!("witness: malformed batch from {device}: {e}; skipping the rest of it");
                    break;
                }
            }
        }
        Ok(Next::More)
    }
}

/// Prints events, says where records were lost, stops after a count.
struct Print<W: Write> {
    printer: Printer<W>,
    tracker: SequenceTracker,
    kinds: Option<u64>,
    count: Option<u64>,
    printed: u64,
    stdout: Stdout,
}

impl<W: Write> Print<W> {
    fn finish(&mut self) -> anyhow::Result<()> {
        if let Err(e) = self.printer.flush() {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return Err(e).context("writing events to stdout");
            }
        }
        if self.tracker.lost() > 0 {
            eprintln!("witness: {} records were lost in the kernel (ring full or nested hooks)", self.tracker.lost());
        }
        Ok(())
    }
}

impl<W: Write> Handler<Reads> for Print<W> {
    fn before(&mut self) {
        // A batch takes at most a poll period: the offset is measured again
        // per batch, so a clock step moves Unix times with it.
        self.printer.set_clock(Clock::now());
    }

    fn arrived(&mut self, events: &[Event]) {
        for event in events {
            let m = event.meta();
            if let Observation::Gap { missing, .. } = self.tracker.observe(m.cpu, m.seq, m.ts_ns) {
                eprintln!("witness: {missing} records lost on CPU {} before sequence {}", m.cpu, m.seq);
            }
        }
    }

    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        if !wanted(self.kinds, event) {
            return ControlFlow::Continue(());
        }
        let printed = self.printer.print(event);
        self.stdout.wrote(printed)?;
        self.printed += 1;
        if self.count.is_some_and(|c| self.printed >= c) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn finished(&mut self, _: &Reads) -> ControlFlow<()> {
        let flushed = self.printer.flush();
        self.stdout.wrote(flushed)
    }
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
