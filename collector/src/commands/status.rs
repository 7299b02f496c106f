//! `witness status`: the kernel's ring and hook counters and what it
//! records.

use std::io::{self, Write};
use std::path::PathBuf;

use witness::sinks::output::Format;
use witness::source::device::{Device, DEFAULT_DEVICE};
use witness::source::status::Status;

/// Arguments of `witness status`.
#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    pub(crate) device: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

/// Runs `witness status`.
pub(crate) fn run(args: &StatusArgs) -> anyhow::Result<()> {
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
