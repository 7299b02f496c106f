//! `witness config`: change what the kernel records (kinds, filters, the
//! poll watermark); needs CAP_SYS_ADMIN.

use std::path::PathBuf;

use witness_abi::ioctl::FilterOp;

use witness::config::control::{self, Filter, FilterPath};
use witness::source::device::{Device, DEFAULT_DEVICE};

/// Arguments of `witness config`.
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
pub(crate) struct ConfigArgs {
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    pub(crate) device: PathBuf,
    /// Record only these kinds (comma-separated names, "all", or "none": every
    /// hook stays attached and records nothing); replaces the current set.
    #[arg(long, value_name = "KINDS", value_parser = control::parse_kinds)]
    pub(crate) kinds: Option<u64>,
    /// Wake pollers once a ring holds this many unread bytes (1 to half a ring).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) watermark: Option<u32>,
    /// Record only tasks in this cgroup (v2 id: the inode number of its directory); repeatable.
    #[arg(long, value_name = "ID")]
    pub(crate) cgroup_include: Vec<u64>,
    /// Never record tasks in this cgroup; repeatable.
    #[arg(long, value_name = "ID")]
    pub(crate) cgroup_exclude: Vec<u64>,
    /// Record only this (real) uid; repeatable.
    #[arg(long, value_name = "UID")]
    pub(crate) uid_include: Vec<u32>,
    /// Never record this uid; repeatable.
    #[arg(long, value_name = "UID")]
    pub(crate) uid_exclude: Vec<u32>,
    /// Record file events only at or under this absolute path (whole components); repeatable.
    #[arg(long, value_name = "PATH")]
    pub(crate) path_prefix: Vec<FilterPath>,
    /// Flag opens of this absolute path (or under it) as credential material, always recorded; repeatable.
    #[arg(long, value_name = "PATH")]
    pub(crate) secret_path: Vec<FilterPath>,
    /// Empty a filter (before any additions); repeatable.
    #[arg(long, value_name = "FILTER", value_enum)]
    pub(crate) clear: Vec<Filter>,
    /// Zero the kernel's counters (sequence numbers stay).
    #[arg(long)]
    pub(crate) reset_counters: bool,
}

/// Runs `witness config`.
pub(crate) fn run(args: &ConfigArgs) -> anyhow::Result<()> {
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
pub(crate) fn filter_additions(args: &ConfigArgs) -> Vec<FilterOp> {
    let mut ops = Vec::new();
    ops.extend(args.cgroup_include.iter().map(|id| Filter::CgroupInclude.add_value(*id)));
    ops.extend(args.cgroup_exclude.iter().map(|id| Filter::CgroupExclude.add_value(*id)));
    ops.extend(args.uid_include.iter().map(|uid| Filter::UidInclude.add_value(u64::from(*uid))));
    ops.extend(args.uid_exclude.iter().map(|uid| Filter::UidExclude.add_value(u64::from(*uid))));
    ops.extend(args.path_prefix.iter().map(|path| Filter::PathPrefix.add_path(path)));
    ops.extend(args.secret_path.iter().map(|path| Filter::SecretPath.add_path(path)));
    ops
}
