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
    Config, CpuStats, DeviceInfo, FilterOp, Hook, HookStats, StatsRequest, ABI_VERSION, WITNESS_IOC_FILTER,
    WITNESS_IOC_GET_CONFIG, WITNESS_IOC_INFO, WITNESS_IOC_RESET_COUNTERS, WITNESS_IOC_SET_CONFIG, WITNESS_IOC_STATS,
};
use witness_abi::record::RECORD_MAX_LEN;

/// The default device path.
pub const DEFAULT_DEVICE: &str = "/dev/witness";

/// Why the device cannot be used.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// The device node does not exist.
    #[error("{path} does not exist: the witness kernel module is not loaded (load it with `insmod witness.ko`)")]
    NotLoaded {
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
    /// The module went away (unloaded) while we were reading.
    #[error("{path} went away: the witness module was unloaded")]
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
    /// The module rejected a request's argument.
    #[error("{path}: the module rejected {request}: {source}")]
    Rejected {
        /// Device path.
        path: PathBuf,
        /// What was asked, with its argument.
        request: String,
        /// The OS error (EINVAL: bad value; ENOSPC: filter full; ENOENT: no such value).
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
        matches!(self, DeviceError::NotLoaded { .. } | DeviceError::Gone { .. })
    }
}

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
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
            // ENODEV/ENXIO: the node exists but the module behind it is gone.
            Errno::NOENT | Errno::NODEV | Errno::NXIO => DeviceError::NotLoaded { path: path.into() },
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

    /// Polls for input; false when the deadline passed.
    fn wait_readable(&self, deadline: Option<Instant>) -> Result<bool, DeviceError> {
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(false),
            },
            None => None,
        };
        // Wake at least once a second so a deadline is never overslept by
        // much even if the clock and poll disagree.
        let step = timeout.map_or(Duration::from_secs(1), |t| t.min(Duration::from_secs(1)));
        let ts = rustix::time::Timespec::try_from(step).unwrap_or(rustix::time::Timespec { tv_sec: 1, tv_nsec: 0 });
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

    /// Ring and hook counters.
    pub fn stats(&self) -> Result<(Vec<CpuStats>, Vec<HookStats>), DeviceError> {
        let mut cpus = vec![CpuStats::default(); self.info.nr_rings as usize];
        let mut hooks = vec![HookStats::default(); Hook::ALL.len()];
        let mut req = StatsRequest {
            cpus: cpus.as_mut_ptr() as u64,
            hooks: hooks.as_mut_ptr() as u64,
            // CAST: both lengths are small (nr_rings is a u32; 22 hooks).
            cpus_cap: cpus.len() as u32,
            hooks_cap: hooks.len() as u32,
            cpus_len: 0,
            hooks_len: 0,
        };
        // SAFETY: WITNESS_IOC_STATS reads and writes a StatsRequest; the
        // kernel writes at most cpus_cap CpuStats and hooks_cap HookStats to
        // the two buffers, which are that large and outlive the call.
        unsafe { ioctl(&self.fd, Updater::<WITNESS_IOC_STATS, StatsRequest>::new(&mut req)) }
            .map_err(|e| self.request_error("reading stats", e))?;
        cpus.truncate(req.cpus_len as usize);
        hooks.truncate(req.hooks_len as usize);
        Ok((cpus, hooks))
    }

    /// The module's recording configuration.
    pub fn config(&self) -> Result<Config, DeviceError> {
        // SAFETY: WITNESS_IOC_GET_CONFIG writes a whole Config.
        unsafe { ioctl(&self.fd, Getter::<WITNESS_IOC_GET_CONFIG, Config>::new()) }
            .map_err(|e| self.request_error("reading the configuration", e))
    }

    /// Replaces the module's recording configuration.
    pub fn set_config(&self, config: &Config) -> Result<(), DeviceError> {
        // SAFETY: WITNESS_IOC_SET_CONFIG reads a Config.
        unsafe { ioctl(&self.fd, Setter::<WITNESS_IOC_SET_CONFIG, Config>::new(*config)) }
            .map_err(|e| self.request_error("setting the configuration", e))
    }

    /// Changes one filter.
    pub fn filter(&self, op: &FilterOp) -> Result<(), DeviceError> {
        // SAFETY: WITNESS_IOC_FILTER reads a FilterOp.
        unsafe { ioctl(&self.fd, Setter::<WITNESS_IOC_FILTER, FilterOp>::new(*op)) }
            .map_err(|e| self.request_error("changing a filter", e))
    }

    /// Zeroes the module's counters (not the sequence numbers).
    pub fn reset_counters(&self) -> Result<(), DeviceError> {
        // SAFETY: WITNESS_IOC_RESET_COUNTERS takes no argument.
        unsafe { ioctl(&self.fd, NoArg::<WITNESS_IOC_RESET_COUNTERS>::new()) }
            .map_err(|e| self.request_error("resetting counters", e))
    }

    fn request_error(&self, request: &'static str, e: Errno) -> DeviceError {
        match e {
            Errno::PERM | Errno::ACCESS => DeviceError::NotPermitted { path: self.path.clone(), request },
            Errno::NODEV => self.gone(),
            Errno::NOTTY => DeviceError::Rejected {
                path: self.path.clone(),
                request: format!("{request} (the loaded module does not know this request: older module?)"),
                source: e.into(),
            },
            e => DeviceError::Rejected { path: self.path.clone(), request: request.to_string(), source: e.into() },
        }
    }

    fn gone(&self) -> DeviceError {
        DeviceError::Gone { path: self.path.clone() }
    }
}
