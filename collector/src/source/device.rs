//! The `/dev/witness` source: open, ABI check, batched reads.
//!
//! `read(2)` on the device returns whole records from all CPU rings, so a
//! batch is always framed. The device is opened non-blocking and waited on
//! with `poll(2)`, which lets a caller bound the wait. Once the module is
//! being unloaded, `poll` reports `POLLHUP` and `read` fails with `ENODEV`;
//! both become [`DeviceError::Gone`].

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::ioctl::{ioctl, Getter, NoArg, Setter, Updater};
use thiserror::Error;
use witness_abi::ioctl::{
    Config, CpuStats, DeviceInfo, FilterOp, Hook, HookStats, StatsRequest, ABI_VERSION, FILTER_MAX_ENTRIES,
    WITNESS_IOC_FILTER, WITNESS_IOC_GET_CONFIG, WITNESS_IOC_INFO, WITNESS_IOC_RESET_COUNTERS, WITNESS_IOC_SET_CONFIG,
    WITNESS_IOC_STATS,
};
use witness_abi::record::RECORD_MAX_LEN;

use crate::config::control::{describe_config, describe_filter_op};

/// The default device path.
pub const DEFAULT_DEVICE: &str = "/dev/witness";

/// Most entries of either kind one stats call asks for. Bounds what a
/// confused module's counts can make the collector allocate; Linux's
/// `NR_CPUS` is at most 8192.
const STATS_MAX_ENTRIES: usize = 1 << 14;

/// Why the device cannot be used.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// The device node does not exist.
    #[error("{path} does not exist: the witness kernel module is not loaded (load it with `insmod witness.ko`)")]
    NotLoaded {
        /// Device path.
        path: PathBuf,
    },
    /// The node exists but the module refuses opens: it is shut down for
    /// unloading (its `shutdown` parameter is 1) or is being unloaded.
    #[error("{path}: the witness module is shutting down (its shutdown parameter is set, for rmmod); set /sys/module/witness/parameters/shutdown to 0 to use it again")]
    ShuttingDown {
        /// Device path.
        path: PathBuf,
    },
    /// The caller may not open the device.
    #[error("{path}: permission denied: the device is mode 0600, owned by root; run the collector as root")]
    PermissionDenied {
        /// Device path.
        path: PathBuf,
    },
    /// Another open error.
    #[error("cannot open {path}: {source}")]
    Open {
        /// Device path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The device does not answer the info ioctl (not a witness device).
    #[error("{path} did not answer the witness info ioctl ({source}); is it really the witness device?")]
    Info {
        /// Device path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The module speaks another ABI version.
    #[error("{path}: the loaded module speaks ABI version {module}, this collector speaks {collector}; load the module built from the same source as the collector")]
    AbiMismatch {
        /// Device path.
        path: PathBuf,
        /// The module's version.
        module: u32,
        /// This collector's version.
        collector: u32,
    },
    /// The module went away (shut down for unloading) while we were reading.
    #[error("{path} went away: the witness module was unloaded (or shut down for unloading)")]
    Gone {
        /// Device path.
        path: PathBuf,
    },
    /// A control request was refused for lack of privilege.
    #[error("{path}: {request} needs CAP_SYS_ADMIN (run as root)")]
    NotPermitted {
        /// Device path.
        path: PathBuf,
        /// What was asked.
        request: &'static str,
    },
    /// The module does not know the request (`ENOTTY`).
    #[error("{path}: the loaded module does not support this request ({request}); older module?")]
    Unsupported {
        /// Device path.
        path: PathBuf,
        /// What was asked.
        request: &'static str,
    },
    /// The module found the request's argument invalid (`EINVAL`).
    #[error("{path}: the module rejected {request}: invalid argument ({argument})")]
    InvalidArgument {
        /// Device path.
        path: PathBuf,
        /// What was asked.
        request: &'static str,
        /// The argument, as people read it.
        argument: String,
    },
    /// A filter already holds as many values as the module allows (`ENOSPC`).
    #[error("{path}: cannot {argument}: the filter is full (at most {FILTER_MAX_ENTRIES} values); clear it or remove values first")]
    FilterFull {
        /// Device path.
        path: PathBuf,
        /// The filter operation.
        argument: String,
    },
    /// The module refused a request for another reason.
    #[error("{path}: the module refused {request} ({argument}): {source}")]
    Rejected {
        /// Device path.
        path: PathBuf,
        /// What was asked.
        request: &'static str,
        /// The argument, as people read it.
        argument: String,
        /// The OS error.
        source: io::Error,
    },
    /// A read failed.
    #[error("reading {path}: {source}")]
    Read {
        /// Device path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl DeviceError {
    /// Whether waiting for the module to be loaded again could help.
    pub fn is_absent(&self) -> bool {
        matches!(self, DeviceError::NotLoaded { .. } | DeviceError::ShuttingDown { .. } | DeviceError::Gone { .. })
    }
}

/// What one stats call returned: the entries that fit, and how many exist.
struct StatsReply {
    cpus: Vec<CpuStats>,
    hooks: Vec<HookStats>,
    cpus_len: usize,
    hooks_len: usize,
}

/// The longest a reader waits in `poll(2)` before reading again.
pub const POLL_STEP: Duration = Duration::from_millis(200);

/// An open, version-checked `/dev/witness`.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
    path: PathBuf,
    info: DeviceInfo,
}

impl Device {
    /// Opens the device and checks that it speaks this collector's ABI.
    pub fn open(path: &Path) -> Result<Self, DeviceError> {
        Self::open_with(path, OFlags::RDONLY)
    }

    /// Opens the device read-write, as mapping the rings needs (the
    /// consumer page is mapped shared and writable).
    pub fn open_for_mapping(path: &Path) -> Result<Self, DeviceError> {
        Self::open_with(path, OFlags::RDWR)
    }

    fn open_with(path: &Path, access: OFlags) -> Result<Self, DeviceError> {
        let flags = access | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
            // ENODEV/ENXIO: the node exists but the module behind it is gone.
            Errno::NOENT | Errno::NXIO => DeviceError::NotLoaded { path: path.into() },
            Errno::NODEV => DeviceError::ShuttingDown { path: path.into() },
            Errno::ACCESS | Errno::PERM => DeviceError::PermissionDenied { path: path.into() },
            e => DeviceError::Open { path: path.into(), source: e.into() },
        })?;
        // SAFETY: WITNESS_IOC_INFO is an _IOR whose argument is a DeviceInfo,
        // which the kernel writes completely.
        let info = unsafe { ioctl(&fd, Getter::<WITNESS_IOC_INFO, DeviceInfo>::new()) }.map_err(|e| {
            if e == Errno::NODEV {
                DeviceError::Gone { path: path.into() }
            } else {
                DeviceError::Info { path: path.into(), source: e.into() }
            }
        })?;
        if info.abi_version != ABI_VERSION {
            return Err(DeviceError::AbiMismatch {
                path: path.into(),
                module: info.abi_version,
                collector: ABI_VERSION,
            });
        }
        Ok(Self { fd, path: path.into(), info })
    }

    /// What the module reported about itself.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// A buffer size that always holds at least one record.
    pub fn batch_size() -> usize {
        (256 * 1024).max(RECORD_MAX_LEN)
    }

    /// Waits until records are available, or until `deadline` passes, and
    /// reads whole records into `buf`. Returns the number of bytes read, 0
    /// when the deadline passed first.
    pub fn read_batch(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, DeviceError> {
        loop {
            match rustix::io::read(&self.fd, &mut *buf) {
                Ok(n) => return Ok(n),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => {
                    if !self.wait_readable(deadline)? {
                        return Ok(0);
                    }
                }
                Err(Errno::NODEV) => return Err(self.gone()),
                Err(e) => return Err(DeviceError::Read { path: self.path.clone(), source: e.into() }),
            }
        }
    }

    /// The open file.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }

    /// The device path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Polls for input (a ring above the watermark, or [`POLL_STEP`]
    /// passed); false when the
    /// deadline passed first. [`DeviceError::Gone`] once the module is
    /// being unloaded.
    pub fn wait_readable(&self, deadline: Option<Instant>) -> Result<bool, DeviceError> {
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(false),
            },
            None => None,
        };
        // Wake at least every POLL_STEP: records below the module's
        // watermark (a sixteenth of a ring by default) wake nobody, so this
        // bounds how long they wait to be read; and a deadline is never
        // overslept by much even if the clock and poll disagree.
        let step = timeout.map_or(POLL_STEP, |t| t.min(POLL_STEP));
        let ts = rustix::time::Timespec::try_from(step)
            .unwrap_or(rustix::time::Timespec { tv_sec: 0, tv_nsec: 200_000_000 });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(DeviceError::Read { path: self.path.clone(), source: e.into() }),
        }
        if fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR) {
            return Err(self.gone());
        }
        Ok(true)
    }

    /// Ring and hook counters. Capacities come from the ring count the
    /// module reported and the hooks this collector knows; if the module
    /// has more of either, one more call sized by its counts gets them all.
    pub fn stats(&self) -> Result<(Vec<CpuStats>, Vec<HookStats>), DeviceError> {
        // CAST: u32 to usize is lossless on the 32- and 64-bit targets Linux runs on.
        let mut reply = self.stats_with(self.info.nr_rings as usize, Hook::ALL.len())?;
        if reply.cpus_len > reply.cpus.len() || reply.hooks_len > reply.hooks.len() {
            reply = self.stats_with(reply.cpus_len, reply.hooks_len)?;
        }
        Ok((reply.cpus, reply.hooks))
    }

    /// One stats call with room for `cpus_cap` rings and `hooks_cap` hooks
    /// (each bounded by [`STATS_MAX_ENTRIES`]).
    fn stats_with(&self, cpus_cap: usize, hooks_cap: usize) -> Result<StatsReply, DeviceError> {
        let cpus_cap = cpus_cap.min(STATS_MAX_ENTRIES);
        let hooks_cap = hooks_cap.min(STATS_MAX_ENTRIES);
        let mut cpus = vec![CpuStats::default(); cpus_cap];
        let mut hooks = vec![HookStats::default(); hooks_cap];
        let mut req = StatsRequest {
            // CAST: a user address fits in u64, the ABI's pointer width.
            cpus: cpus.as_mut_ptr() as u64,
            // CAST: as above.
            hooks: hooks.as_mut_ptr() as u64,
            // CAST: both capacities are at most STATS_MAX_ENTRIES.
            cpus_cap: cpus_cap as u32,
            // CAST: as above.
            hooks_cap: hooks_cap as u32,
            cpus_len: 0,
            hooks_len: 0,
        };
        // SAFETY: WITNESS_IOC_STATS is an _IOWR whose argument is a
        // StatsRequest, which `req` is. The module writes at most `cpus_cap`
        // CpuStats to `req.cpus` and `hooks_cap` HookStats to `req.hooks`;
        // those point to vectors of exactly that many elements, which live
        // until after the call and are not otherwise touched during it. Both
        // element types are plain integers (FromBytes), so whatever bytes the
        // kernel writes are valid values.
        unsafe { ioctl(&self.fd, Updater::<WITNESS_IOC_STATS, StatsRequest>::new(&mut req)) }.map_err(|e| {
            self.request_error("reading counters", e, || format!("room for {cpus_cap} rings and {hooks_cap} hooks"))
        })?;
        let cpus_len = usize::try_from(req.cpus_len).unwrap_or(usize::MAX);
        let hooks_len = usize::try_from(req.hooks_len).unwrap_or(usize::MAX);
        cpus.truncate(cpus_len);
        hooks.truncate(hooks_len);
        Ok(StatsReply { cpus, hooks, cpus_len, hooks_len })
    }

    /// The module's recording configuration.
    pub fn config(&self) -> Result<Config, DeviceError> {
        // SAFETY: WITNESS_IOC_GET_CONFIG is an _IOR whose argument is a
        // Config, which the module writes completely.
        unsafe { ioctl(&self.fd, Getter::<WITNESS_IOC_GET_CONFIG, Config>::new()) }
            .map_err(|e| self.request_error("reading the configuration", e, String::new))
    }

    /// Replaces the module's recording configuration.
    pub fn set_config(&self, config: &Config) -> Result<(), DeviceError> {
        // SAFETY: WITNESS_IOC_SET_CONFIG is an _IOW whose argument is a
        // Config; the module only reads it.
        unsafe { ioctl(&self.fd, Setter::<WITNESS_IOC_SET_CONFIG, Config>::new(*config)) }
            .map_err(|e| self.request_error("setting the configuration", e, || describe_config(config)))
    }

    /// Changes one filter.
    pub fn filter(&self, op: &FilterOp) -> Result<(), DeviceError> {
        // SAFETY: WITNESS_IOC_FILTER is an _IOW whose argument is a
        // FilterOp; the module only reads it.
        unsafe { ioctl(&self.fd, Setter::<WITNESS_IOC_FILTER, FilterOp>::new(*op)) }.map_err(|e| match e {
            Errno::NOSPC => DeviceError::FilterFull { path: self.path.clone(), argument: describe_filter_op(op) },
            e => self.request_error("changing a filter", e, || describe_filter_op(op)),
        })
    }

    /// Zeroes the module's counters (not the sequence numbers).
    pub fn reset_counters(&self) -> Result<(), DeviceError> {
        // SAFETY: WITNESS_IOC_RESET_COUNTERS is an _IO request: no argument.
        unsafe { ioctl(&self.fd, NoArg::<WITNESS_IOC_RESET_COUNTERS>::new()) }
            .map_err(|e| self.request_error("resetting counters", e, String::new))
    }

    /// The error for a refused control request; `argument` describes what
    /// was sent (called only when the message needs it).
    fn request_error(&self, request: &'static str, e: Errno, argument: impl FnOnce() -> String) -> DeviceError {
        let path = self.path.clone();
        match e {
            Errno::PERM | Errno::ACCESS => DeviceError::NotPermitted { path, request },
            Errno::NODEV => self.gone(),
            Errno::NOTTY => DeviceError::Unsupported { path, request },
            Errno::INVAL => DeviceError::InvalidArgument { path, request, argument: argument() },
            e => DeviceError::Rejected { path, request, argument: argument(), source: e.into() },
        }
    }

    fn gone(&self) -> DeviceError {
        DeviceError::Gone { path: self.path.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::control::Filter;
    use witness_abi::record::RecordKind;

    /// A "device" that answers every ioctl with ENOTTY, as a module without
    /// the request would.
    fn dev_null() -> Device {
        let fd = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let info = DeviceInfo { abi_version: ABI_VERSION, nr_rings: 2, ring_data_size: 65536, record_max_len: 4096 };
        Device { fd, path: "/dev/null".into(), info }
    }

    #[test]
    fn opening_names_the_problem() {
        let err = Device::open(Path::new("/nonexistent/witness")).unwrap_err();
        assert!(matches!(err, DeviceError::NotLoaded { .. }) && err.is_absent(), "{err}");
        let err = Device::open(Path::new("/dev/null")).unwrap_err();
        assert!(matches!(err, DeviceError::Info { .. }), "{err}");
        assert!(err.to_string().contains("is it really the witness device?"), "{err}");
    }

    #[test]
    fn requests_an_older_module_lacks_say_so() {
        let dev = dev_null();
        let errors = [
            dev.stats().unwrap_err(),
            dev.config().unwrap_err(),
            dev.set_config(&Config::default()).unwrap_err(),
            dev.reset_counters().unwrap_err(),
            dev.filter(&Filter::UidExclude.add_value(7)).unwrap_err(),
        ];
        for err in errors {
            assert!(matches!(err, DeviceError::Unsupported { .. }), "{err}");
            let text = err.to_string();
            assert!(text.contains("the loaded module does not support this request"), "{text}");
            assert!(text.ends_with("older module?"), "{text}");
        }
    }

    #[test]
    fn refusals_name_privilege_argument_or_cause() {
        let dev = dev_null();
        let config = Config { kind_mask: RecordKind::Exec.mask_bit(), watermark: 1 << 20, reserved: 0 };
        let describe = || describe_config(&config);
        let err = dev.request_error("setting the configuration", Errno::PERM, describe);
        assert_eq!(err.to_string(), "/dev/null: setting the configuration needs CAP_SYS_ADMIN (run as root)");
        assert!(matches!(dev.request_error("x", Errno::ACCESS, String::new), DeviceError::NotPermitted { .. }));
        let err = dev.request_error("setting the configuration", Errno::INVAL, describe);
        assert_eq!(
            err.to_string(),
            "/dev/null: the module rejected setting the configuration: invalid argument (kinds exec, watermark 1048576 bytes)"
        );
        assert!(matches!(dev.request_error("x", Errno::NODEV, String::new), DeviceError::Gone { .. }));
        let op = Filter::UidExclude.add_value(7);
        let err = dev.request_error("changing a filter", Errno::NOENT, || describe_filter_op(&op));
        assert!(
            err.to_string().starts_with("/dev/null: the module refused changing a filter (add uid-exclude 7): "),
            "{err}"
        );
    }
}
