//! `witness record`: save the device's records to a capture file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::parse_seconds;
use witness::sinks::output::Clock;
use witness::source::capture::{CaptureInfo, CaptureWriter};
use witness::source::decode;
use witness::source::device::{Device, DEFAULT_DEVICE};

/// Arguments of `witness record`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("stop").required(true).multiple(true).args(["count", "duration"])))]
pub(crate) struct RecordArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    pub(crate) device: PathBuf,
    /// The capture file to write.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
    /// Stop after at least this many records.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) duration: Option<Duration>,
}

/// Runs `witness record`.
pub(crate) fn run(args: &RecordArgs) -> anyhow::Result<()> {
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
