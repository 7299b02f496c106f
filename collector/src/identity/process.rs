//! What `/proc` says about a live process, as a selector [`Subject`]: real
//! uid and gid, executable path and SHA-256, cgroup v2 path and what the
//! path identifies (container, pod).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::selector::Subject;
use crate::enrich::cgroup;
use crate::enrich::process_table::{cgroup_v2_path, status_field};

/// Why a process cannot be examined.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// /proc/PID is missing or unreadable.
    #[error("process {pid}: {path}: {source}")]
    Read {
        /// The process.
        pid: u32,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A /proc file did not have the expected content.
    #[error("process {pid}: {path}: {what}")]
    Format {
        /// The process.
        pid: u32,
        /// The file.
        path: PathBuf,
        /// What was missing.
        what: &'static str,
    },
}

/// Owned facts about a process.
#[derive(Clone, Debug, Default)]
pub struct ProcessFacts {
    /// The process id.
    pub pid: u32,
    /// `comm`.
    pub comm: String,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Executable path (None for kernel threads or when unreadable).
    pub exe: Option<String>,
    /// SHA-256 of the executable, when it could be read.
    pub sha256: Option<[u8; 32]>,
    /// cgroup v2 path.
    pub cgroup: Option<String>,
    /// What the cgroup path identifies.
    pub cgroup_info: cgroup::CgroupInfo,
    /// The pod, as the container runtime describes it (when asked).
    pub pod: Option<crate::enrich::pods::Pod>,
}

/// SHA-256 of a file.
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hasher.finalize().into()),
            n => hasher.update(&buf[..n]),
        }
    }
}

impl ProcessFacts {
    /// Reads `/proc/<pid>` (under `proc_root`, normally `/proc`).
    pub fn read(proc_root: &Path, pid: u32) -> Result<Self, ProcessError> {
        let dir = proc_root.join(pid.to_string());
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| ProcessError::Read { pid, path, source })
        };
        let status = read("status")?;
        let format = |what| ProcessError::Format { pid, path: dir.join("status"), what };
        let uid = status_field(&status, "Uid:").ok_or_else(|| format("no Uid line"))?;
        let gid = status_field(&status, "Gid:").ok_or_else(|| format("no Gid line"))?;
        let comm = read("comm")?.trim_end().to_string();
        let exe_link = dir.join("exe");
        let exe = std::fs::read_link(&exe_link).ok().map(|p| p.to_string_lossy().into_owned());
        // Hash through /proc/PID/exe: the file the process runs, even if
        // its path was replaced since.
        let sha256 = exe.as_ref().and_then(|_| sha256_file(&exe_link).ok());
        let cgroup = read("cgroup").ok().and_then(|c| cgroup_v2_path(&c).map(str::to_string));
        let cgroup_info = cgroup.as_deref().map(cgroup::parse).unwrap_or_default();
        Ok(Self { pid, comm, uid, gid, exe, sha256, cgroup, cgroup_info, pod: None })
    }

    /// The facts as a selector subject.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            uid: Some(self.uid),
            gid: Some(self.gid),
            exe: self.exe.as_deref(),
            sha256: self.sha256,
            cgroup: self.cgroup.as_deref(),
            container_id: self.cgroup_info.container_id.as_deref(),
            k8s_pod_uid: self.cgroup_info.pod_uid.as_deref().or(self.pod.as_ref().map(|p| p.uid.as_str())),
            pod: self.pod.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let facts = ProcessFacts::read(Path::new("/proc"), me).unwrap();
        assert_eq!(facts.uid, rustix::process::getuid().as_raw());
        assert!(facts.exe.is_some());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(facts.sha256, Some(sha256_file(&exe).unwrap()));
        assert_eq!(facts.subject().uid, Some(facts.uid));
    }

    #[test]
    fn missing_processes_are_named() {
        let err = ProcessFacts::read(Path::new("/proc"), u32::MAX).unwrap_err().to_string();
        assert!(err.starts_with(&format!("process {}: /proc/{}/status", u32::MAX, u32::MAX)), "{err}");
    }

    #[test]
    fn status_fields_parse() {
        let status = "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n";
        assert_eq!(status_field(status, "Uid:"), Some(1000));
        assert_eq!(status_field(status, "Gid:"), Some(100));
        assert_eq!(status_field(status, "Pid:"), None);
    }
}
